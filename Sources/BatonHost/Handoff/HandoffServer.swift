import BatonJSON
import BatonRPC
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// The running host's end of a restart without a gap. On `STATE/handoff.sock` the next host
/// (`baton serve --take-over`) asks for the listening sockets and gets them, then asks this
/// one to step down: it stops accepting, stops its plugins, commits its state and lets go of
/// the state directory, answers, and then lets its requests in flight finish. The listening
/// sockets never close, so no connection is refused; connections that arrive meanwhile wait
/// in their queue for the next host.
///
/// It runs on a thread of its own with blocking calls: one short conversation per restart.
final class HandoffServer: Sendable {
    let path: String
    private let listener: Int32
    private let logger: Logger

    /// Binds `path` (mode 0600, in the 0700 state directory) and starts answering.
    init(
        path: String,
        logger: Logger,
        listeners: @escaping @Sendable () -> [HandedListener],
        stepDown: @escaping @Sendable () async -> Void,
        answered: @escaping @Sendable () -> Void
    ) throws {
        self.path = path
        self.logger = logger
        unlink(path)  // one left by a host that was killed: nobody answers on it
        let descriptor: Int32
        do {
            descriptor = try UnixSocketFile.listen(path, backlog: 4)
        } catch {
            throw HandoffChannel.Failure(description: "cannot listen on the handover socket: \(error)")
        }
        listener = descriptor
        let thread = Thread { [logger] in
            Self.serve(listener: descriptor, logger: logger, listeners: listeners, stepDown: stepDown)
            answered()
        }
        thread.name = "baton-handoff"
        thread.start()
    }

    /// Stops answering and removes the socket file.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        unlink(path)
    }

    /// Returns once it answered a host it stepped down for, or stopped listening.
    private static func serve(
        listener: Int32,
        logger: Logger,
        listeners: @Sendable () -> [HandedListener],
        stepDown: @escaping @Sendable () async -> Void
    ) {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                close(listener)
                return
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            do {
                let steppedDown = try converse(
                    HandoffChannel(descriptor: connection, timeoutSeconds: 60),
                    listeners: listeners,
                    stepDown: stepDown
                )
                close(connection)
                if steppedDown {
                    close(listener)
                    return
                }
            } catch {
                logger.warning("handover failed; this host keeps serving", metadata: ["error": "\(error)"])
                close(connection)
            }
        }
    }

    /// One next host: listeners, then step down. Returns whether this host stepped down.
    private static func converse(
        _ channel: HandoffChannel,
        listeners: @Sendable () -> [HandedListener],
        stepDown: @escaping @Sendable () async -> Void
    ) throws -> Bool {
        var channel = channel
        guard try channel.receive().message["take"] == "listeners" else {
            throw HandoffChannel.Failure(description: "unexpected request")
        }
        let handed = listeners()
        let names: [JSON] = handed.map { ["name": .string($0.name), "address": .string($0.address)] }
        try channel.send(["listeners": .array(names)], descriptors: handed.map(\.descriptor))
        guard try channel.receive().message["stepDown"] == true else { return false }
        // This thread blocks on the handoff socket; the step-down is async work it waits for.
        let done = DispatchSemaphore(value: 0)
        Task {
            await stepDown()
            done.signal()
        }
        done.wait()
        try channel.send(["released": true])
        return true
    }
}
