import BatonCluster
import BatonEtcd
import BatonTestSupport
import Testing

extension EtcdSuites {
    /// A follower's copy of a prefix: every change once and in order, and after a lost watch
    /// over compacted history, only the difference.
    @Suite("Prefix mirror", .timeLimit(.minutes(2)))
    struct PrefixMirrorTests {
        /// The copy as the changes handed over make it, with every handing-over recorded.
        private final class Copy: @unchecked Sendable {
            // Proof: written only by the one task that runs the mirror, read by the test after
            // that task has ended (the task group's end orders the two).
            var values: [String: [UInt8]] = [:]
            var handed: [[PrefixMirror.Change]] = []

            func apply(_ changes: [PrefixMirror.Change]) {
                handed.append(changes)
                for change in changes {
                    switch change {
                    case .put(let kv): values[kv.key] = kv.value
                    case .delete(let key): values[key] = nil
                    }
                }
            }
        }

        /// Runs `mirror` until it has handed over changes up to `revision` at least.
        private func follow(_ mirror: PrefixMirror, into copy: Copy, until revision: Int64) async {
            let (reached, signal) = AsyncStream<Int64>.makeStream()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await mirror.run { changes, at in
                        copy.apply(changes)
                        signal.yield(at)
                    } trouble: { _ in
                    }
                }
                for await at in reached where at >= revision { break }
                group.cancelAll()
            }
        }

        @Test func everyChangeArrivesOnceAndInOrder() async throws {
            try await withEtcd { etcd, _ in
                try await etcd.put("/m/a", [1])
                let mirror = PrefixMirror(client: etcd, prefix: "/m/")
                let copy = Copy()
                let (reached, signal) = AsyncStream<Int64>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await mirror.run { changes, at in
                            copy.apply(changes)
                            signal.yield(at)
                        } trouble: { _ in
                        }
                    }
                    var revisions = reached.makeAsyncIterator()
                    _ = await revisions.next()  // the first read
                    try await etcd.put("/m/b", [2])
                    try await etcd.put("/m/a", [3])
                    try await etcd.put("/elsewhere", [9])
                    let last = try await etcd.delete(.key("/m/b"))
                    #expect(last == 1)
                    let end = try await etcd.get(.key("/m/a")).revision
                    while let at = await revisions.next(), at < end {}
                    group.cancelAll()
                }
                #expect(copy.values == ["/m/a": [3]])
                #expect(copy.handed.flatMap { $0 }.count == 4, "the read, then three changes, each once")
            }
        }

        @Test func afterALostWatchOverCompactedHistoryOnlyTheDifferenceIsHandedOver() async throws {
            try await withEtcd { etcd, _ in
                try await etcd.put("/m/kept", [1])
                try await etcd.put("/m/changed", [1])
                let gone = try await etcd.put("/m/gone", [1])
                let mirror = PrefixMirror(client: etcd, prefix: "/m/")
                let copy = Copy()
                await follow(mirror, into: copy, until: gone)
                // While nobody follows: changes, then a compaction past them.
                try await etcd.put("/m/changed", [2])
                try await etcd.delete(.key("/m/gone"))
                let last = try await etcd.put("/m/new", [3])
                try await etcd.compact(to: last)
                copy.handed = []
                await follow(mirror, into: copy, until: last)
                #expect(copy.values == ["/m/kept": [1], "/m/changed": [2], "/m/new": [3]])
                let handed = copy.handed.flatMap { $0 }
                #expect(handed.count == 3, "changed, new and gone; kept is not handed over again")
                #expect(handed.contains(.delete(key: "/m/gone")))
            }
        }
    }
}
