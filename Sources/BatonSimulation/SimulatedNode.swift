import BatonCluster
import BatonCore
import BatonEtcd
import Logging

/// One node of the simulated cluster: its core (rebuilt by a crash), its scheduler, and
/// what it knows of etcd. It plays `ClusterNode`'s part through the same records.
final class SimulatedNode {
    /// The actors of one run of the node's process, and what the simulation hears from them.
    struct Core {
        let broker: LeaseBroker
        let launcher: Launcher
        let desired: Inbox<DesiredUpdate>
        let events: Inbox<CoreEvent>
        let drainsBegun: Inbox<ClusterDrain>
        let followers: [Task<Void, Never>]

        static func boot(clock: ManualClock, world: SimulatedWorld) async -> Core {
            let (broker, launcher, _) = Simulation.core(
                clock: clock,
                world: world,
                role: .following(why: "no lease in the cluster yet")
            )
            let desired = Inbox<DesiredUpdate>()
            let events = Inbox<CoreEvent>()
            let drainsBegun = Inbox<ClusterDrain>()
            let eventStream = launcher.events.subscribe()
            let (_, _, updates) = await launcher.subscribeScheduler(name: "sim")
            // Held in `followers` and cancelled by `stop()`, as the single host's are.
            let followers = [
                Task { await launcher.followSignals() },
                Task { for await update in updates { desired.put(update) } },
                Task { for await event in eventStream { events.put(event) } },
                Task { for await drain in launcher.drainsBegun { drainsBegun.put(drain) } },
            ]
            return Core(
                broker: broker,
                launcher: launcher,
                desired: desired,
                events: events,
                drainsBegun: drainsBegun,
                followers: followers
            )
        }

        func stop() async {
            for follower in followers { follower.cancel() }
            for follower in followers { await follower.value }
            await launcher.stop()
        }
    }

    /// The node's standing in the cluster.
    enum Standing {
        /// No lease: it serves what it copied and writes nothing.
        case out
        /// A lease, renewed last at `renewed`, and its election key.
        case member(lease: EtcdLeaseID, renewed: CoreInstant, candidacy: EtcdElection.Leadership)
        /// As a member, and it leads, writing through `store`.
        case leading(
            lease: EtcdLeaseID,
            renewed: CoreInstant,
            leadership: EtcdElection.Leadership,
            store: EtcdStore,
            writer: Task<Void, Never>
        )

        var lease: EtcdLeaseID? {
            switch self {
            case .out: nil
            case .member(let lease, _, _), .leading(let lease, _, _, _, _): lease
            }
        }

        var renewed: CoreInstant? {
            switch self {
            case .out: nil
            case .member(_, let renewed, _), .leading(_, let renewed, _, _, _): renewed
            }
        }
    }

    let name: String
    let index: Int
    let link: SimulatedEtcd.Link
    var core: Core
    var scheduler = SimulatedScheduler()
    var standing = Standing.out
    /// When the node's current lease began: a stream opened before it was not counted throughout.
    var joinedAt: CoreInstant?
    /// The revision its watch has delivered up to, and the keys as it knows them.
    var seen: Int64 = 0
    var known: [String: EtcdKeyValue] = [:]
    var gate = DrainGate()
    /// Its scheduler's newest report of each sandbox, and those etcd does not have yet.
    var reports: [SandboxID: SandboxReport] = [:]
    var unwritten: Set<SandboxID> = []
    /// Reports of other nodes for pools not copied yet, tried again after each copy.
    var early: [SandboxID: (report: SandboxReport, node: String)] = [:]
    var lastDrainRecord: NodeDrain?
    var leases: [Lease] = []
    var streams: [(lease: Lease, opened: CoreInstant)] = []

    init(name: String, index: Int, link: SimulatedEtcd.Link, core: Core) {
        self.name = name
        self.index = index
        self.link = link
        self.core = core
        scheduler.nextSandbox = firstSandbox
    }

    /// Each run of the node numbers its sandboxes apart from every other node's and run's.
    var incarnation = 0
    var firstSandbox: Int { index * 1_000_000 + incarnation * 10_000 }

    var leads: Bool {
        if case .leading = standing { true } else { false }
    }
}
