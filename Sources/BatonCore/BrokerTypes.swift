import BatonProtocol

/// Where a sandbox is in its life. Schedulers report `starting`, `ready`, `stopped` and
/// `failed`; the host itself moves a sandbox to `draining` at cutover.
public enum SandboxState: String, Sendable, Hashable, CaseIterable {
    case starting, ready, draining, stopped, failed

    public var isTerminal: Bool { self == .stopped || self == .failed }
}

/// What the broker needs to know of a pool to serve its sandboxes.
public struct PoolInfo: Sendable, Hashable {
    public var id: PoolID
    public var app: AppName
    public var version: String
    public var service: String
    public var slotsPerSandbox: Int
    public var health: HealthCheck?
}

/// Slots on one ready sandbox, held until released or `ttl` passes without renewal.
public struct Lease: Sendable, Hashable {
    public var id: LeaseID
    public var url: String
    public var sandbox: SandboxID
    public var app: AppName
    public var version: String
    public var service: String
    public var slots: Int
    public var ttl: Duration
}

/// Whether a lease takes new requests.
public enum LeaseStanding: Sendable, Hashable {
    case active
    case revoked
}

/// What a lease carries: requests, or a long-lived stream that keeps its draining sandbox up
/// to the stream drain deadline.
enum LeaseLoad: Sendable, Hashable {
    case requests
    case stream
}

/// A sandbox as `app.status` shows it.
public struct SandboxStatus: Sendable, Hashable {
    public var id: SandboxID
    public var pool: PoolID
    public var state: SandboxState
    public var url: String?
    public var admitted: Bool
    public var suspect: Bool
    public var leases: Int
    public var slotsOut: Int
    public var reason: String?
    /// Who reported it: one of this host's schedulers, or another node (`SandboxReporter`).
    public var reporter: String?
}

/// Who reports a sandbox to a broker: one of the host's schedulers, by the name it gave at
/// hello, or another node of its cluster. A name has no spaces (`WireLimits.isName`), so a
/// node's name here cannot be mistaken for a scheduler's.
public enum SandboxReporter {
    public static func node(_ name: String) -> String { "node " + name }

    public static func isAnotherNode(_ reporter: String?) -> Bool { reporter?.hasPrefix("node ") == true }

    /// The node a report came from: `own` for this host's schedulers, the other node's name otherwise.
    public static func node(of reporter: String?, own: String) -> String {
        guard let reporter, isAnotherNode(reporter) else { return own }
        return String(reporter.dropFirst("node ".count))
    }
}

/// Which admitted sandbox a lease goes to.
public enum SandboxPreference: Sendable, Hashable {
    /// The least loaded, wherever it runs.
    case leastLoaded
    /// This node's own (those its schedulers report) before other nodes', the least loaded
    /// first: a node cut off from its cluster cannot know when the others stop theirs.
    case ownFirst
}

/// What the broker tells the launcher about sandboxes, in the order it happened.
enum BrokerSignal: Sendable {
    /// The sandbox passed the host's own check; `admittedInPool` counts the pool's now.
    case admitted(pool: PoolID, sandbox: SandboxID, admittedInPool: Int)
    case failed(pool: PoolID, sandbox: SandboxID, reason: String, admittedInPool: Int)
    case stopped(pool: PoolID, sandbox: SandboxID, admittedInPool: Int)
    /// A draining sandbox has no leases and no requests in flight any more.
    case drained(pool: PoolID, sandbox: SandboxID)
}

/// Checks that a sandbox answers before any traffic goes to it: a TCP connect to `url`,
/// or a GET of the health path that must answer 2xx. Injected, so the core does no I/O.
public protocol ReadinessProbe: Sendable {
    func isReady(url: String, health: HealthCheck?) async -> Bool
}

/// What a lease request got at once: a lease, or its place in the queue.
public enum LeaseRequestOutcome: Sendable {
    case granted(Lease)
    case queued(LeaseWait)
}

/// A queued lease request. Waiting for it returns the lease or the broker's refusal once
/// the request's wait is over; a waiter that is cancelled gives its place up.
public struct LeaseWait: Sendable {
    let outcome: AsyncStream<Result<Lease, CoreError>>
    let abandon: @Sendable () async -> Void

    public func lease() async throws(CoreError) -> Lease {
        let result = await withTaskCancellationHandler {
            var answers = outcome.makeAsyncIterator()
            return await answers.next()
        } onCancel: {
            Task { await abandon() }  // the broker is an actor: a cancel handler cannot await it
        }
        guard let result else {
            throw CoreError(code: .noSandbox, message: "No sandbox available: the wait was cancelled")
        }
        return try result.get()
    }
}
