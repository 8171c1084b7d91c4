import BatonCore
import BatonJSON
import BatonRPC

/// The `router` role: leases on sandboxes, and the revocations that end them.
enum RouterMethods {
    static func all(broker: LeaseBroker) -> [RPCMethod] {
        [
            // The request takes its place in the broker's queue in order; the wait for a slot
            // does not hold back the session's later calls.
            .waiting(.leaseAcquire) { call in
                let params = try call.namedParams()
                let app: AppName = try params.id("app")
                let service = try params.optionalString("service") ?? "web"
                let slots = Int(try params.optionalInt("slots", in: WireLimits.slots) ?? 1)
                let waitMs = try params.optionalInt("waitMs", in: WireLimits.leaseWaitMs) ?? 0
                let exclude = try params.optionalStringArray("exclude") ?? []
                let outcome = try await CoreJSON.call { () async throws(CoreError) in
                    try await broker.requestLease(
                        app: app,
                        service: service,
                        slots: slots,
                        wait: .milliseconds(waitMs),
                        excluding: Set(exclude.map(SandboxID.init(rawValue:)))
                    )
                }
                switch outcome {
                case .granted(let lease): return .answer(CoreJSON.lease(lease))
                case .queued(let wait):
                    return RPCRemainder {
                        CoreJSON.lease(try await CoreJSON.call { () async throws(CoreError) in try await wait.lease() })
                    }
                }
            },
            .ordered(.leaseRenew) { call in
                let id: LeaseID = try call.namedParams().id("lease")
                return CoreJSON.lease(
                    try await CoreJSON.call { () async throws(CoreError) in try await broker.renew(id) }
                )
            },
            .ordered(.leaseRelease) { call in
                await broker.release(try call.namedParams().id("lease"))
                return [:]
            },
            .ordered(.leaseInvalidate) { call in
                let params = try call.namedParams()
                await broker.invalidate(
                    try params.id("lease"),
                    reason: try params.optionalString("reason") ?? "unspecified"
                )
                return [:]
            },
            .sync(.leaseWatch) { call in
                let apps = try AdminMethods.appFilter(try call.namedParams())
                let id = Subscriptions.newID(prefix: "leases")
                let stream = broker.revocations.subscribe { apps?.contains($0.app) ?? true }
                Subscriptions.forward(stream, as: id, answering: call, notification: .leaseRevoked) { revocation in
                    revocation.json(subscription: id)
                }
                return ["subscription": .string(id)]
            },
        ]
    }
}
