import BatonJSON
import BatonRPC
import Logging
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The next host's end of a restart without a gap (`baton serve --take-over`).
enum HandoffClient {
    /// Takes the listening sockets of the host running on `path` and has it step down; returns
    /// them by name once it has let go of the state directory, or none when no host answers.
    static func takeOver(path: String, logger: Logger) async throws -> [HandedListener] {
        try await NIOThreadPool.singleton.runIfActive {
            guard let descriptor = UnixSocketFile.connect(path) else {
                logger.info("no running host to take over", metadata: ["handover": "\(path)"])
                return []
            }
            defer { close(descriptor) }
            // The running host's drain does not delay it: it answers once it let go.
            var channel = HandoffChannel(descriptor: descriptor, timeoutSeconds: 120)
            try channel.send(["take": "listeners"])
            let (offer, descriptors) = try channel.receive()
            let entries = offer["listeners"]?.arrayValue ?? []
            guard entries.count == descriptors.count else {
                for descriptor in descriptors { close(descriptor) }
                throw HandoffChannel.Failure(
                    description:
                        "the running host offered \(entries.count) listeners with \(descriptors.count) descriptors"
                )
            }
            let listeners = zip(entries, descriptors).map { entry, descriptor in
                HandedListener(
                    name: entry["name"]?.stringValue ?? "",
                    address: entry["address"]?.stringValue ?? "",
                    descriptor: descriptor
                )
            }
            try channel.send(["stepDown": true])
            guard try channel.receive().message["released"] == true else {
                throw HandoffChannel.Failure(description: "the running host did not step down")
            }
            logger.info("took over from the running host", metadata: ["listeners": "\(listeners.map(\.name))"])
            return listeners
        }
    }
}
