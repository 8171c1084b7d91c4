import BatonProtocol
import NIOCore

/// A sandbox reported an address that is not `http://host[:port]`.
struct UnusableSandboxAddress: Error, CustomStringConvertible {
    var url: String
    var description: String { "unusable sandbox address \(url)" }
}

/// Idle keep-alive connections to sandboxes, for one event loop.
final class UpstreamPool {
    private let eventLoop: any EventLoop
    private var idle: [String: [UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// An idle connection to `url`, or a new one; `done` runs on this pool's event loop.
    /// The address is only parsed when a connection has to be made.
    /// With `idleAtMost`, only a connection idle for less than that is reused: the most
    /// recently used one is tried, and if it is older a new connection is made.
    func connection(
        to url: String,
        timeout: TimeAmount,
        idleAtMost: TimeAmount? = nil,
        _ done: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        while var list = idle[url], let reused = list.last {
            if let idleAtMost, NIODeadline.now() - reused.idleSince >= idleAtMost { break }
            list.removeLast()
            idle[url] = list
            if reused.channel.isActive {
                reused.reused = true
                return done(.success(reused))
            }
        }
        guard let endpoint = SandboxEndpoint(url) else { return done(.failure(UnusableSandboxAddress(url: url))) }
        UpstreamConnection.connect(to: endpoint, url: url, on: eventLoop, timeout: timeout) { result in
            if case .success(let connection) = result {
                // When the sandbox closes it, it leaves the idle list, if it waits there.
                connection.channel.closeFuture.assumeIsolated().whenComplete { [weak self] _ in
                    self?.idle[url]?.removeAll { $0 === connection }
                }
            }
            done(result)
        }
    }

    /// Keeps a connection whose exchange ended cleanly for the next request to `url`.
    func recycle(_ connection: UpstreamConnection) {
        connection.delegate = nil
        guard connection.reusable else { return connection.close() }
        connection.setReading(true)
        connection.idleSince = .now()
        idle[connection.url, default: []].append(connection)
    }
}
