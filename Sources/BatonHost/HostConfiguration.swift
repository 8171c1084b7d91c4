import BatonACME
import BatonCluster
import BatonCore
import BatonIngress
import BatonPlugins
import BatonProtocol
import BatonRPC

/// Everything `baton serve` is configured with.
public struct HostConfiguration: Sendable {
    public var rpc: RPCServerConfiguration
    /// The scheduler that runs services which name none; when nil, the only connected one.
    public var defaultScheduler: String?
    /// The HTTP ingress, when the host serves HTTP.
    public var ingress: IngressConfiguration?
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere.
    public var metricsAddress: (host: String, port: Int)?
    /// Programs started beside the host and restarted when they exit.
    public var plugins: [PluginSpec] = []
    /// Where the host and its plugins keep their files (plugins get it as `BATON_STATE_DIR`).
    public var stateDirectory = StateLocation.defaultDirectory()
    /// Whether apps, versions, pools, deployments and routes are kept in
    /// `stateDirectory/baton.sqlite` across restarts (`baton serve` always keeps them; tests of
    /// the host alone need not).
    public var keepsState = false
    /// Whether the host stops every sandbox before it exits. `baton serve` does not: its
    /// sandboxes outlive it, and the next host takes them back (`--stop-sandboxes-at-exit`).
    public var stopsSandboxesAtExit = true
    /// Whether to take over from a host running on the same state directory, if one is: its
    /// listening sockets pass to this one, so no connection is refused across the restart.
    public var takesOver = false
    /// How long a host that handed over lets its requests in flight finish before it exits
    /// (setting `host.handoverDrainMs`).
    public var handoverDrain: Duration = .seconds(30)
    /// How long a lease lives without renewal (setting `leases.ttlMs`).
    public var leaseTTLMs = LeaseBroker.defaultLeaseTTL.milliseconds
    /// Off only to show a rollover without Baton's protection (setting `launcher.readinessGate`,
    /// 0 or 1): cutover at once, no host check, no drain.
    public var readinessGate = true
    /// The cluster this host is a node of (`--cluster`, docs/cluster.md); alone on SQLite when nil.
    public var cluster: ClusterConfiguration?
    /// A cluster node's etcd lease (setting `cluster.leaseTTLMs`).
    public var clusterLeaseTTLMs = ClusterConfiguration.defaultLeaseTTL.milliseconds
    /// One call to etcd (setting `cluster.requestTimeoutMs`).
    public var clusterRequestTimeoutMs = ClusterConfiguration.defaultRequestTimeout.milliseconds
    /// How often the certificate files routes name are looked at for a change (setting
    /// `tls.certificateCheckMs`).
    public var certificateCheckMs: Int64 = 5_000
    /// Where certificates for routes with `tls: "acme"` come from (`--acme-*`, settings `acme.*`).
    public var acme = ACMEConfiguration()
    /// Routes set at start, before any admin call.
    public var routes: [RouteSpec] = []

    public init(socketPath: String = SocketLocation.defaultPath()) {
        rpc = RPCServerConfiguration(
            socketPath: socketPath,
            host: RPCProgramInfo(name: "baton", version: BatonVersion.string)
        )
    }

    /// Requires `role` to present the token held in `path`; the file is read once, at start.
    public mutating func requireToken(for role: RPCRole, fromFile path: String) throws(TokenFile.Problem) {
        rpc.roleTokens[role] = try TokenFile.read(path)
    }
}
