import BatonCore
import BatonJSON
import Foundation
import GRDB

/// The launcher's store: SQLite through GRDB at `DIR/baton.sqlite`, in WAL mode with
/// `synchronous = FULL`, so a committed change survives a crash of the process or the machine.
/// Changes are queued in order and written by one writer, several to a transaction when they
/// pile up; `flush()` returns once what was queued before it is committed.
public final class SQLiteStore: LauncherStore {
    public let path: String
    private let database: DatabaseQueue
    private let queue = StoreWriteQueue()

    /// Opens or creates the store. A file that is not an SQLite database, fails its integrity
    /// check, or carries migrations this build does not know (written by a newer Baton) is
    /// refused, never reset.
    public init(directory: String) throws {
        path = directory + "/baton.sqlite"
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)  // a host handing over may still be closing it
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            try database.read { db in
                let check = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer"
                guard check == "ok" else {
                    throw StoreProblem("the state database \(path) is damaged (quick_check: \(check))")
                }
            }
            let migrator = StoreSchema.migrator
            let unknown = try database.read { db in try migrator.appliedIdentifiers(db).subtracting(migrator.migrations)
            }
            guard unknown.isEmpty else {
                throw StoreProblem(
                    "the state database \(path) was written by a newer Baton (schema \(unknown.sorted().joined(separator: ", "))); "
                        + "this one knows up to \(migrator.migrations.last ?? "-"). Run the newer Baton, or move the file away"
                )
            }
            try migrator.migrate(database)
        } catch let problem as StoreProblem {
            throw problem
        } catch {
            throw StoreProblem(
                "the state database \(path) cannot be used: \(error). It is left as it is; move it away to start empty"
            )
        }
    }

    /// Closes the database once what was queued is written: for a host handing over to the
    /// next, which opens it next.
    public func close() async {
        try? await flush()
        try? database.close()
    }

    // MARK: Reading

    public func load() throws -> StoredState {
        do {
            return try database.read { db in
                var state = StoredState()
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT name, phase, activeVersion, activePools FROM app ORDER BY name"
                ) {
                    guard let phase = AppPhase(rawValue: row["phase"]) else {
                        throw StoreProblem("app \(row["name"] as String) has an unreadable phase")
                    }
                    state.apps.append(
                        StoredApp(
                            name: row["name"],
                            phase: phase,
                            activeVersion: row["activeVersion"],
                            activePools: try stringMap(row["activePools"]).mapValues(PoolID.init(rawValue:))
                        )
                    )
                }
                var services: [VersionID: [ServiceSpec]] = [:]
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT app, version, spec FROM service ORDER BY app, version, position"
                ) {
                    services[VersionID(app: row["app"], version: row["version"]), default: []].append(
                        try spec(row["spec"])
                    )
                }
                for row in try Row.fetchAll(db, sql: "SELECT app, version FROM version ORDER BY app, version") {
                    let id = VersionID(app: row["app"], version: row["version"])
                    state.versions.append(StoredVersion(app: id.app, version: id.version, services: services[id] ?? []))
                }
                let poolRows = "SELECT id, app, version, spec, desired, stopDrainMs FROM pool ORDER BY id"
                for row in try Row.fetchAll(db, sql: poolRows) {
                    state.pools.append(
                        StoredPool(
                            id: row["id"],
                            app: row["app"],
                            version: row["version"],
                            spec: try spec(row["spec"]),
                            desired: row["desired"],
                            stopDrain: (row["stopDrainMs"] as Int64?).map { Duration.milliseconds($0) }
                        )
                    )
                }
                for row in try Row.fetchAll(db, sql: "SELECT * FROM deployment ORDER BY rowid") {
                    guard let state_ = DeploymentState(rawValue: row["state"]),
                        let request = DeployRequest(stored: try JSON.parse(row["request"] as String))
                    else { throw StoreProblem("deployment \(row["id"] as String) has an unreadable state or request") }
                    state.deployments.append(
                        StoredDeployment(
                            id: row["id"],
                            request: request,
                            state: state_,
                            reason: row["reason"],
                            servicePools: try stringMap(row["servicePools"]).mapValues(PoolID.init(rawValue:)),
                            waitPools: try stringMap(row["waitPools"]).mapValues(PoolID.init(rawValue:)),
                            startedPools: try strings(row["startedPools"]).map(PoolID.init(rawValue:)),
                            failures: try strings(row["failures"])
                        )
                    )
                }
                for row in try Row.fetchAll(db, sql: "SELECT key, spec FROM route") {
                    state.routes[row["key"]] = try route(row["spec"])
                }
                return state
            }
        } catch {
            throw StoreProblem("the state database \(path) holds records this Baton cannot read: \(error)")
        }
    }

    private struct VersionID: Hashable {
        var app: AppName
        var version: String
    }

    // MARK: Writing

    public func enqueue(_ changes: [StoredChange]) {
        // The one writer while changes are queued; `flush` and `close` wait for what it writes.
        if queue.enqueue(changes) { Task { await writeAll() } }
    }

    public func flush() async throws {
        try await queue.flush()
    }

    /// The one writer: takes everything queued, writes it in one transaction, repeats.
    private func writeAll() async {
        while let batch = queue.nextBatch() {
            var failure: StoreProblem?
            do {
                try await database.write { db in
                    for change in batch { try Self.write(change, db) }
                }
            } catch {
                failure = StoreProblem("a change could not be written to \(path): \(error)")
            }
            queue.written(batch.count, failure: failure)
        }
    }

    private static func write(_ change: StoredChange, _ db: Database) throws {
        switch change {
        case .app(let app):
            try db.execute(
                sql: """
                    INSERT INTO app (name, phase, activeVersion, activePools) VALUES (?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET phase = excluded.phase, activeVersion = excluded.activeVersion,
                      activePools = excluded.activePools
                    """,
                arguments: [
                    app.name, app.phase.rawValue, app.activeVersion,
                    try text(stringMap: app.activePools.mapValues(\.rawValue)),
                ]
            )
        case .version(let version):
            try db.execute(
                sql: "INSERT OR IGNORE INTO version (app, version) VALUES (?, ?)",
                arguments: [version.app, version.version]
            )
            try db.execute(
                sql: "DELETE FROM service WHERE app = ? AND version = ?",
                arguments: [version.app, version.version]
            )
            for (position, service) in version.services.enumerated() {
                try db.execute(
                    sql: "INSERT INTO service (app, version, position, name, spec) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        version.app, version.version, position, service.name, try service.json.serializedString(),
                    ]
                )
            }
        case .pool(let pool):
            try db.execute(
                sql: """
                    INSERT INTO pool (id, app, version, service, spec, desired, stopDrainMs) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET
                      spec = excluded.spec, desired = excluded.desired, stopDrainMs = excluded.stopDrainMs
                    """,
                arguments: [
                    pool.id, pool.app, pool.version, pool.spec.name, try pool.spec.json.serializedString(),
                    pool.desired, pool.stopDrain?.milliseconds,
                ]
            )
        case .deployment(let deployment):
            try db.execute(
                sql: """
                    INSERT INTO deployment (id, app, version, state, reason, request, servicePools, waitPools, startedPools, failures)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, servicePools = excluded.servicePools,
                      waitPools = excluded.waitPools, startedPools = excluded.startedPools, failures = excluded.failures
                    """,
                arguments: [
                    deployment.id, deployment.request.app, deployment.request.version, deployment.state.rawValue,
                    deployment.reason,
                    try deployment.request.json.serializedString(),
                    try text(stringMap: deployment.servicePools.mapValues(\.rawValue)),
                    try text(stringMap: deployment.waitPools.mapValues(\.rawValue)),
                    try text(strings: deployment.startedPools.map(\.rawValue)),
                    try text(strings: deployment.failures),
                ]
            )
        case .route(let key, let route?):
            try db.execute(
                sql: "INSERT INTO route (key, spec) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET spec = excluded.spec",
                arguments: [key, try route.json.serializedString()]
            )
        case .route(let key, nil):
            try db.execute(sql: "DELETE FROM route WHERE key = ?", arguments: [key])
        case .removed(.version(let app, let version)):
            try db.execute(sql: "DELETE FROM version WHERE app = ? AND version = ?", arguments: [app, version])
        case .removed(.pool(let id)):
            try db.execute(sql: "DELETE FROM pool WHERE id = ?", arguments: [id])
        case .removed(.deployment(let id)):
            try db.execute(sql: "DELETE FROM deployment WHERE id = ?", arguments: [id])
        case .removed(.app(let name)):
            try db.execute(sql: "DELETE FROM app WHERE name = ?", arguments: [name])  // the rest cascades
        }
    }
}

// MARK: JSON columns

private func text(stringMap: [String: String]) throws -> String {
    try JSON.object(JSONObject(stringMap.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }))
        .serializedString()
}

private func text(strings: [String]) throws -> String {
    try JSON.array(strings.map(JSON.string)).serializedString()
}

private func stringMap(_ text: String) throws -> [String: String] {
    guard let object = try JSON.parse(text).objectValue else {
        throw StoreProblem("expected a JSON object, found \(text)")
    }
    var map: [String: String] = [:]
    for member in object.members {
        guard let string = member.value.stringValue else { throw StoreProblem("expected strings in \(text)") }
        map[member.key] = string
    }
    return map
}

private func strings(_ text: String) throws -> [String] {
    guard let array = try JSON.parse(text).arrayValue else {
        throw StoreProblem("expected a JSON array, found \(text)")
    }
    return try array.map { value in
        guard let string = value.stringValue else { throw StoreProblem("expected strings in \(text)") }
        return string
    }
}

private func route(_ text: String) throws -> RouteSpec {
    guard let route = RouteSpec(stored: try JSON.parse(text)) else { throw StoreProblem("unreadable route \(text)") }
    return route
}

private func spec(_ text: String) throws -> ServiceSpec {
    guard let spec = ServiceSpec(stored: try JSON.parse(text)) else { throw StoreProblem("unreadable service \(text)") }
    return spec
}
