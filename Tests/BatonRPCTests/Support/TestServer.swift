import BatonJSON
import BatonTestSupport
import Logging

@testable import BatonRPC

/// Runs `body` against a real RPC server on a unix socket in a fresh private
/// directory, and stops the server and removes the directory however `body` ends.
func withServer<T>(
    methods: [RPCMethod] = TestMethods.all,
    configure: (inout RPCServerConfiguration) -> Void = { _ in },
    _ body: (RPCServer, String) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    var configuration = RPCServerConfiguration(
        socketPath: directory.file("rpc/host.sock"),
        host: RPCProgramInfo(name: "baton-test", version: "0")
    )
    // The suites run side by side on two cores: a session must not lose its hello to a busy
    // neighbour (once, three exchanges before hello took over 10 s). The hello timeout's own
    // tests set it.
    configuration.helloTimeout = .seconds(60)
    configure(&configuration)
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let server = RPCServer(configuration: configuration, methods: RPCMethodTable(methods), logger: logger)
    try await server.start()
    do {
        let result = try await body(server, configuration.socketPath)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// The hello line a test client sends to open a session.
func helloLine(role: String = "admin", id: Int = 0, token: String? = nil) -> String {
    let tokenMember = token.map { #","token":"\#($0)""# } ?? ""
    return
        #"{"jsonrpc":"2.0","id":\#(id),"method":"host.hello","params":{"protocol":"baton/1","role":"\#(role)","client":{"name":"test","version":"1"}\#(tokenMember)}}"#
}
