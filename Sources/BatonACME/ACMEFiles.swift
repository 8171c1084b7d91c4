import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where ACME's secrets live in the state directory, readable by the host's user alone:
/// `acme/account-key.pem`, and per host `acme/certificates/HOST/{chain,key}.pem`.
struct ACMEFiles: Sendable {
    let directory: String

    init(stateDirectory: String) {
        directory = stateDirectory + "/acme"
    }

    var accountKeyPath: String { directory + "/account-key.pem" }

    func chainPath(_ host: String) -> String { directory + "/certificates/\(host)/chain.pem" }
    func keyPath(_ host: String) -> String { directory + "/certificates/\(host)/key.pem" }

    /// The account's key, made and kept the first time.
    func accountKey() throws -> AccountKey {
        if let pem = try? String(contentsOfFile: accountKeyPath, encoding: .utf8) {
            return try AccountKey(pem: pem)
        }
        let key = AccountKey()
        try write(key.pem, to: accountKeyPath)
        return key
    }

    /// The chain and key stored for `host`, if both are there.
    func certificate(_ host: String) -> (chainPEM: String, keyPEM: String)? {
        guard let chain = try? String(contentsOfFile: chainPath(host), encoding: .utf8),
            let key = try? String(contentsOfFile: keyPath(host), encoding: .utf8)
        else { return nil }
        return (chain, key)
    }

    func store(chainPEM: String, keyPEM: String, for host: String) throws {
        try write(keyPEM, to: keyPath(host))
        try write(chainPEM, to: chainPath(host))
    }

    /// Writes beside the file and renames over it, so a reader sees the old file or the new
    /// one, never half of one; the file is 0600 and its directories 0700 from the start. No
    /// fsync: it held a thread of the shared pool for seconds while a busy disk caught up, and a
    /// certificate lost to a crash is only ordered again.
    private func write(_ text: String, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let temporary = path + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ACMEProblem("cannot write \(temporary): errno \(errno)") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ACMEProblem("cannot write \(path): errno \(errno)")
        }
    }
}
