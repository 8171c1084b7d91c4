// The floor under Baton's proxy cost: SwiftNIO's own HTTP/1.1 server on one event loop,
// answering a fixed body and doing nothing else (the contract kit's fixture server). A proxy
// built on NIOHTTP1 pays this once on the client side and about as much again on the sandbox
// side, so `scripts/bench-proxy` puts its CPU per request beside Baton's.
// Usage: baton-bench-nio-floor PORT
import BatonContract
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count == 2, let port = Int(arguments[1]) else {
    print("usage: baton-bench-nio-floor PORT")
    exit(2)
}
// One event loop, as Baton runs in the benchmark.
let server = try await FixtureServer.start(
    name: "hello from the backend\n",
    port: port,
    group: MultiThreadedEventLoopGroup(numberOfThreads: 1)
)
try await server.wait()
