import BatonEtcd
import BatonPlugins
import BatonTestSupport
import Testing

extension EtcdSuites {
    /// The client against a real etcd: every call the cluster design uses, its errors, and the
    /// endpoints it falls back on.
    @Suite("etcd client", .timeLimit(.minutes(2)))
    struct EtcdClientTests {
        @Test func keysAndValuesComeBackAsWrittenWhateverTheirBytes() async throws {
            try await withEtcd { etcd, _ in
                let every = (0...255).map { UInt8($0) }
                let first = try await etcd.put("/t/näme/1", every)
                try await etcd.put("/t/näme/2", Array("two".utf8))
                try await etcd.put("/t/other", [])
                let one = try await etcd.get(.key("/t/näme/1"))
                #expect(one.kvs.map(\.value) == [every])
                #expect(one.kvs.first?.createRevision == first)
                let prefixed = try await etcd.get(.prefix("/t/näme/"))
                #expect(prefixed.kvs.map(\.key) == ["/t/näme/1", "/t/näme/2"])
                #expect(prefixed.revision >= first + 2)
                #expect(try await etcd.delete(.prefix("/t/näme/")) == 2)
                #expect(try await etcd.get(.prefix("/t/")).kvs.map(\.key) == ["/t/other"])
            }
        }

        @Test func aTransactionCreatesAKeyOnlyOnceAndReadsWhatIsThereOtherwise() async throws {
            try await withEtcd { etcd, _ in
                let create = { (value: String) async throws -> EtcdTxnResult in
                    try await etcd.txn(
                        when: [.createRevision("/t/leader", equals: 0)],
                        then: [.put("/t/leader", Array(value.utf8))],
                        else: [.get(.key("/t/leader"))]
                    )
                }
                let won = try await create("a")
                #expect(won.succeeded)
                let lost = try await create("b")
                #expect(!lost.succeeded)
                #expect(lost.reads.first?.kvs.first?.value == Array("a".utf8))
                #expect(lost.reads.first?.kvs.first?.createRevision == won.revision)
                let fenced = try await etcd.txn(
                    when: [.createRevision("/t/leader", equals: won.revision + 1)],
                    then: [.put("/t/desired", [1])]
                )
                #expect(!fenced.succeeded, "a fence with the wrong revision writes nothing")
                #expect(try await etcd.get(.key("/t/desired")).kvs.isEmpty)
            }
        }

        @Test func keysOnALeaseGoWithItAndAGoneLeaseRenewsToZero() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(30))
                try await etcd.put("/t/node/a", [1], lease: lease)
                #expect(try await etcd.get(.key("/t/node/a")).kvs.first?.lease == lease)
                #expect(try await etcd.keepAlive(lease) > 0)
                try await etcd.revoke(lease)
                try await etcd.revoke(lease)  // twice is fine
                #expect(try await etcd.get(.key("/t/node/a")).kvs.isEmpty)
                #expect(try await etcd.keepAlive(lease) == 0)
                await #expect(throws: EtcdError.self) { try await etcd.put("/t/node/b", [1], lease: lease) }
            }
        }

        @Test func aWatchDeliversEveryChangeAfterItsRevisionInOrderEvenThoseBeforeItStarted() async throws {
            try await withEtcd { etcd, _ in
                let start = try await etcd.put("/w/a", Array("1".utf8))
                try await etcd.put("/w/a", Array("2".utf8))  // before the watch starts: still delivered
                try await etcd.put("/elsewhere", [0])  // outside the prefix: not delivered
                var seen: [EtcdEvent] = []
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let (changes, delivered) = AsyncStream<EtcdWatchBatch>.makeStream()
                    group.addTask {
                        try await etcd.watch(.prefix("/w/"), after: start) { delivered.yield($0) }
                    }
                    var iterator = changes.makeAsyncIterator()
                    try await etcd.put("/w/b", Array("3".utf8))
                    try await etcd.delete(.key("/w/a"))
                    while seen.count < 3, let batch = await iterator.next() { seen += batch.events }
                    group.cancelAll()
                }
                #expect(seen.map(\.kind) == [.put, .put, .delete])
                #expect(seen.map(\.kv.key) == ["/w/a", "/w/b", "/w/a"])
                #expect(seen.prefix(2).map(\.kv.value) == [Array("2".utf8), Array("3".utf8)])
                #expect(seen.map(\.kv.modRevision) == seen.map(\.kv.modRevision).sorted())
            }
        }

        @Test func aWatchFromCompactedHistoryEndsSoTheCallerReadsEverythingAgain() async throws {
            try await withEtcd { etcd, _ in
                let old = try await etcd.put("/w/a", [1])
                let now = try await etcd.put("/w/a", [2])
                try await etcd.compact(to: now)
                await #expect(throws: EtcdError.compacted(revision: now)) {
                    try await etcd.watch(.prefix("/w/"), after: old - 1) { _ in }
                }
                await #expect(throws: EtcdError.self) {
                    try await etcd.get(.key("/w/a"), options: .init(revision: old))
                }
            }
        }

        @Test func aDeadEndpointIsPassedOverAndAllDeadIsAnErrorNamingThem() async throws {
            let deadPort = try FreePort.pick()
            let held = try #require(HeldPort(deadPort))  // bound, not listening: connections are refused
            let dead = "http://127.0.0.1:\(deadPort)"
            try await withEtcd { etcd, cluster in
                try await etcd.put("/t/a", [1])
                let mixed = EtcdClient(endpoints: [dead] + cluster.endpoints, timeout: .seconds(3))
                let read = await outcome { try await mixed.get(.key("/t/a")) }
                try await mixed.shutdown()
                #expect(try read.get().kvs.count == 1)
                let none = EtcdClient(endpoints: [dead], timeout: .milliseconds(500))
                let refused = await outcome { try await none.get(.key("/t/a")) }
                try await none.shutdown()
                #expect(throws: EtcdError.self) { try refused.get() }
                if case .failure(let error) = refused { #expect("\(error)".contains("etcd unreachable at \(dead)")) }
            }
            withExtendedLifetime(held) {}
        }
    }
}
