import BatonCluster
import BatonCore
import BatonEtcd
import BatonProtocol
import BatonTestSupport
import Testing

extension EtcdSuites {
    /// One node's sandbox reports reach the others through etcd, newest state last, and a node
    /// that goes takes its sandboxes with it.
    @Suite("Reports across nodes", .timeLimit(.minutes(2)))
    struct ClusterReportsTests {
        private let keys = ClusterKeys(prefix: "/r/")

        private func report(_ sandbox: SandboxID, _ state: ReportedState) -> SandboxReport {
            SandboxReport(
                sandbox: sandbox,
                pool: "p1",
                state: state,
                url: state == .ready ? "http://127.0.0.1:9/\(sandbox)" : nil
            )
        }

        @Test func aNodesReportsReachTheOthersAndLeaveWithItsLease() async throws {
            try await withEtcd { etcd, _ in
                let fromA = NodeReports(client: etcd, keys: keys, node: "a")
                let fromB = NodeReports(client: etcd, keys: keys, node: "b")
                let atB = RemoteReports(client: etcd, keys: keys, node: "b")
                let (heard, hear) = AsyncStream<(SandboxReport, String)>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await fromA.run() }
                    group.addTask { await fromB.run() }
                    group.addTask {
                        await atB.run {
                            hear.yield(($0, $1))
                        } trouble: { _ in
                        }
                    }
                    var reports = heard.makeAsyncIterator()
                    /// The next report b hears about `sandbox`, skipping earlier states a coalesced away.
                    func next(_ sandbox: SandboxID, _ state: ReportedState) async -> (SandboxReport, String)? {
                        while let (report, sender) = await reports.next() {
                            #expect(report.sandbox == sandbox, "b hears only a's sandbox, never its own")
                            if report.state == state { return (report, sender) }
                        }
                        return nil
                    }
                    let leaseA = try await etcd.grant(ttl: .seconds(60))
                    fromA.joined(leaseA)
                    fromB.joined(try await etcd.grant(ttl: .seconds(60)))
                    fromB.record(report("b-own", .ready))
                    fromA.record(report("a-1", .starting))
                    fromA.record(report("a-1", .ready))
                    let ready = await next("a-1", .ready)
                    #expect(ready?.0.url == "http://127.0.0.1:9/a-1")
                    #expect(ready?.1 == "a")
                    try await etcd.revoke(leaseA)  // as if a had died
                    let gone = await next("a-1", .stopped)
                    #expect(gone?.0.reason?.contains("node a") == true)
                    // a comes back with a new lease: its sandbox is written again.
                    fromA.joined(try await etcd.grant(ttl: .seconds(60)))
                    _ = await next("a-1", .ready)
                    fromA.record(report("a-1", .stopped))
                    _ = await next("a-1", .stopped)
                    group.cancelAll()
                }
            }
        }
    }
}
