import ArgumentParser
import BatonProtocol
@preconcurrency import Glibc
import Logging

/// `--socket`, shared by every subcommand that talks to a host.
struct SocketOptions: ParsableArguments {
    @Option(
        name: .customLong("socket"),
        help:
            "The host's unix socket (default: $BATON_SOCKET, else $XDG_RUNTIME_DIR/baton/baton.sock, else /tmp/baton-UID/baton.sock)."
    )
    var given: String?

    var socket: String { given ?? SocketLocation.defaultPath() }
}

/// `--log-level`, for subcommands that log.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Least severe log level shown: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    /// Logs go to standard error, one line per event.
    func bootstrap() -> Logger {
        Self.bootstrap(level: logLevel)
    }

    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "baton")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Prints `message` on standard error, prefixed with the command's name.
func printError(_ message: String, command: String) {
    fputs("baton \(command): \(message)\n", stderr)
}
