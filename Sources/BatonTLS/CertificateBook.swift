import BatonProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL

/// The certificate of every host a route serves over HTTPS, picked per handshake by the
/// name the client asks for (SNI). Files are read when a route names them and again when
/// they change on disk, so a renewed certificate serves the next handshake while open
/// connections go on with the one they began with. A certificate that cannot be read is a
/// log line, a metric and refused handshakes for its host, never a crash.
public final class CertificateBook: Sendable {
    private struct Entry {
        var source: RouteTLS
        /// What the files looked like when last read; a change means reading them again.
        var stamp: [FileStamp]
        var serving: ServingCertificate?
        var problem: CertificateProblem?
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let logger: Logger
    public let metrics: TLSMetrics

    public init(logger: Logger, metrics: TLSMetrics) {
        self.logger = logger
        self.metrics = metrics
    }

    /// Serves the hosts of `routes` that name a certificate, reading the files of hosts new
    /// or changed.
    public func serve(_ routes: some Collection<RouteSpec>) {
        replace(
            with: Dictionary(routes.compactMap { route in route.tls.map { (route.host, $0) } }) { first, _ in first }
        )
    }

    private func replace(with hosts: [String: RouteTLS]) {
        let (gone, changed) = entries.withLockedValue { entries in
            let gone = entries.keys.filter { hosts[$0] == nil }
            for host in gone { entries.removeValue(forKey: host) }
            let changed = hosts.filter { entries[$0.key]?.source != $0.value }
            // The new source is the one a read may store, whichever read finishes last.
            for (host, source) in changed {
                entries[host] = Entry(
                    source: source,
                    stamp: [],
                    serving: nil,
                    problem: CertificateProblem("not read yet")
                )
            }
            return (gone, changed)
        }
        for host in gone { metrics.forget(host: host) }
        for (host, source) in changed.sorted(by: { $0.key < $1.key }) { load(host, from: source) }
    }

    /// Reads again every certificate whose files changed, and says which expired by `now`
    /// (seconds since 1970).
    public func refresh(now: Int64) {
        let due = entries.withLockedValue { entries in
            entries.filter { $0.value.stamp != files(of: $0.value.source).map(FileStamp.init(path:)) }
        }
        for (host, entry) in due.sorted(by: { $0.key < $1.key }) { load(host, from: entry.source) }
        let expired = entries.withLockedValue { entries in
            entries.compactMap { host, entry -> (String, Int64)? in
                guard let notAfter = entry.serving?.notAfter, notAfter <= now, entry.problem == nil else { return nil }
                entries[host]?.problem = CertificateProblem("expired at \(Self.time(notAfter))")
                return (host, notAfter)
            }
        }
        for (host, notAfter) in expired.sorted(by: { $0.0 < $1.0 }) {
            logger.error(
                "certificate expired",
                metadata: ["host": "\(host)", "notAfter": "\(Self.time(notAfter))"]
            )
            metrics.serving(host: host, valid: false, notAfter: notAfter)
        }
    }

    /// Refreshes every `interval` until cancelled: files replaced on disk serve within it.
    public func watch(every interval: Duration) async {
        while !Task.isCancelled {
            refresh(now: Int64(Date().timeIntervalSince1970))
            try? await Task.sleep(for: interval)
        }
    }

    /// What `host` serves: when its certificate expires (seconds since 1970), and what is
    /// wrong, if anything; nil for a host no route serves over HTTPS.
    public func status(of host: String) -> (notAfter: Int64?, problem: String?)? {
        entries.withLockedValue { entries in
            entries[host].map { ($0.serving?.notAfter, $0.problem?.description) }
        }
    }

    /// Serves a certificate ACME brought for `host`, if a route still wants one from ACME.
    public func install(_ serving: ServingCertificate, for host: String) {
        let stored = entries.withLockedValue { entries -> Bool in
            guard entries[host]?.source == .acme else { return false }
            entries[host] = Entry(source: .acme, stamp: [], serving: serving, problem: nil)
            return true
        }
        if stored { loaded(serving, for: host, from: "acme") }
    }

    /// The certificate for a handshake that asked for `serverName`.
    func serving(serverName: String?) -> Result<ServingCertificate, HandshakeRefusal> {
        guard let serverName else { return .failure(.noServerName) }
        let host = serverName.lowercased()
        guard let serving = entries.withLockedValue({ $0[host]?.serving }) else {
            return .failure(.noCertificate)
        }
        return .success(serving)
    }

    private func files(of source: RouteTLS) -> [String] {
        switch source {
        case .files(let certificate, let key): [certificate, key]
        case .acme: []
        }
    }

    private func load(_ host: String, from source: RouteTLS) {
        let paths = files(of: source)
        let stamp = paths.map(FileStamp.init(path:))
        let outcome: Result<ServingCertificate, CertificateProblem>
        if paths.isEmpty {
            outcome = .failure(CertificateProblem("not issued yet"))
        } else {
            outcome = Self.read(certificate: paths[0], key: paths[1]).flatMap { serving in
                serving.covers(host)
                    ? .success(serving)
                    : .failure(
                        CertificateProblem("it is for \(serving.names.joined(separator: ", ")), not \(host)")
                    )
            }
        }
        let stored = entries.withLockedValue { entries -> Bool in
            // A route changed or removed meanwhile: this read is of files no longer wanted.
            guard entries[host]?.source == source else { return false }
            switch outcome {
            case .success(let serving):
                entries[host] = Entry(source: source, stamp: stamp, serving: serving, problem: nil)
            case .failure(let problem):
                // A certificate that served goes on serving until a good one replaces it.
                entries[host] = Entry(source: source, stamp: stamp, serving: entries[host]?.serving, problem: problem)
            }
            return true
        }
        guard stored else { return }
        switch outcome {
        case .success(let serving):
            loaded(serving, for: host, from: paths[0])
        case .failure(let problem):
            if paths.isEmpty {
                logger.info("certificate to come from ACME", metadata: ["host": "\(host)"])
            } else {
                logger.error(
                    "certificate not loaded",
                    metadata: ["host": "\(host)", "reason": "\(problem)", "file": "\(paths[0])"]
                )
            }
            metrics.serving(host: host, valid: false, notAfter: nil)
        }
    }

    private func loaded(_ serving: ServingCertificate, for host: String, from source: String) {
        logger.info(
            "certificate loaded",
            metadata: ["host": "\(host)", "notAfter": "\(Self.time(serving.notAfter))", "from": "\(source)"]
        )
        metrics.serving(host: host, valid: true, notAfter: serving.notAfter)
    }

    private static func read(certificate: String, key: String) -> Result<ServingCertificate, CertificateProblem> {
        guard let chain = try? String(contentsOfFile: certificate, encoding: .utf8) else {
            return .failure(CertificateProblem("cannot read \(certificate)"))
        }
        guard let keyText = try? String(contentsOfFile: key, encoding: .utf8) else {
            return .failure(CertificateProblem("cannot read \(key)"))
        }
        return Result { () throws(CertificateProblem) in try ServingCertificate(chainPEM: chain, keyPEM: keyText) }
    }

    /// A time as the log, `route.list` and `baton status` show it: ISO 8601, UTC.
    public static func time(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }
}

/// Why a handshake got no certificate.
enum HandshakeRefusal: String, Error {
    /// The client named no host (no SNI), so there is no telling which certificate it wants.
    case noServerName = "no_server_name"
    /// No route serves the host it named over HTTPS, or its certificate is not there.
    case noCertificate = "no_certificate"
}

/// A file as `stat` sees it: any change of device, inode, size or modification time means
/// it was replaced or rewritten.
struct FileStamp: Hashable {
    var identity: [Int64]

    init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            identity = []
            return
        }
        identity = [
            Int64(info.st_dev), Int64(info.st_ino), Int64(info.st_size), Int64(info.st_mtim.tv_sec),
            Int64(info.st_mtim.tv_nsec),
        ]
    }
}
