import BatonEtcd
import BatonProtocol
import Synchronization

/// One key a node keeps under its lease, with the newest value it was given: written in the
/// background one write at a time, only the newest when several come, and again under each new
/// lease; while etcd cannot be reached the value waits and the node goes on.
final class LeasedKey: Sendable {
    private struct Slot {
        var value: [UInt8]?
        var written: [UInt8]?
        var lease: EtcdLeaseID?
    }

    private let client: EtcdClient
    let key: String
    private let slot = Mutex(Slot())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(client: EtcdClient, key: String) {
        self.client = client
        self.key = key
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func set(_ value: [UInt8]) {
        slot.withLock { $0.value = value }
        wake.yield()
    }

    /// A new lease: the value is written again under it.
    func joined(_ lease: EtcdLeaseID) {
        slot.withLock { slot in
            slot.lease = lease
            slot.written = nil
        }
        wake.yield()
    }

    /// The lease is gone: nothing is written until the next.
    func lost() {
        slot.withLock { $0.lease = nil }
    }

    /// Writes until cancelled.
    func run() async {
        var backoff = Backoff.reconnect
        for await _ in wakes {
            while let (lease, value) = slot.withLock({ slot -> (EtcdLeaseID, [UInt8])? in
                guard let lease = slot.lease, let value = slot.value, value != slot.written else { return nil }
                return (lease, value)
            }) {
                do {
                    _ = try await client.put(key, value, lease: lease)
                    backoff.succeeded()
                    slot.withLock { slot in
                        if slot.lease == lease { slot.written = value }
                    }
                } catch {
                    guard (try? await Task.sleep(for: backoff.failed())) != nil else { return }
                }
            }
        }
    }
}
