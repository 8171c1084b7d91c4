/// A peer proxy in front of the hello backends, told by the benchmark where to send traffic.
protocol TrafficSwitch: Sendable {
    var name: String { get }
    /// Where clients connect.
    var port: Int { get }
    func start(backendPort: Int) async throws
    /// Sends new requests to `backendPort` from now on, the way an operator would.
    func route(to backendPort: Int) async throws
    func stop() async
}

struct SwitchFailure: Error, CustomStringConvertible {
    var description: String
}
