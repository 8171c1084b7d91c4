import BatonCore
import BatonPlugins
import BatonProtocol
import BatonTestSupport
import Foundation
import GRDB
import Testing

@testable import BatonStore

/// The SQLite store on its own: what goes in comes back, and what it cannot trust it refuses.
@Suite("Store", .timeLimit(.minutes(1)))
struct StoreTests {
    let request = DeployRequest(
        app: "shop",
        version: "v2",
        services: [
            ServiceSpec(
                name: "web",
                instances: 2,
                spec: ["image": "a", "env": ["K": "V"]],
                health: HealthCheck(path: "/healthz"),
                minReady: 1
            ),
            ServiceSpec(name: "worker", instances: 1, spec: ["image": "w"], scheduler: "k8s", slotsPerSandbox: 4),
        ],
        readyTimeout: .milliseconds(5_000),
        drainTimeout: .milliseconds(1_000),
        onTimeout: .proceed
    )

    @Test func whatIsWrittenComesBackAfterReopening() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteStore(directory: directory.path)
        #expect(try store.load() == StoredState(), "a new store starts empty, its schema made by the migrations")
        let app = StoredApp(
            name: "shop",
            phase: .paused,
            activeVersion: "v1",
            activePools: ["web": "p-1", "worker": "p-2"]
        )
        let version = StoredVersion(app: "shop", version: "v2", services: request.services)
        let pool = StoredPool(
            id: "p-3",
            app: "shop",
            version: "v2",
            spec: request.services[0],
            desired: 2,
            stopDrain: .milliseconds(1500)
        )
        var deployment = StoredDeployment(
            id: "d-2",
            request: request,
            state: .waiting,
            reason: nil,
            servicePools: ["web": "p-3", "worker": "p-2"],
            waitPools: ["web": "p-3"],
            startedPools: ["p-3"],
            failures: []
        )
        var stopping = pool
        stopping.id = "p-4"
        store.enqueue([
            .app(app), .version(version), .pool(pool), .pool(stopping), .deployment(deployment),
            .route(key: "shop.example", route: RouteSpec(host: "shop.example", app: "shop")),
            .route(key: "old.example", route: RouteSpec(host: "old.example", app: "shop")),
            .route(key: "shop.example/v2", route: Self.apiRoute),
        ])
        deployment.state = .failed
        deployment.reason = "not ready after 5000 ms"
        deployment.failures = ["sandbox s1 of web failed: exited with status 1"]
        var scaledDown = pool
        scaledDown.desired = 0
        scaledDown.stopDrain = nil
        store.enqueue([.deployment(deployment), .pool(scaledDown), .route(key: "old.example", route: nil)])
        try await store.flush()

        let state = try SQLiteStore(directory: directory.path).load()
        #expect(state.apps == [app])
        #expect(state.versions == [version])
        #expect(state.pools == [scaledDown, stopping])
        #expect(state.deployments == [deployment])
        #expect(
            state.routes == [
                "shop.example": RouteSpec(host: "shop.example", app: "shop"), "shop.example/v2": Self.apiRoute,
            ]
        )
    }

    static let apiRoute = RouteSpec(host: "shop.example", pathPrefix: "/v2", app: "api", stripPrefix: true)

    @Test func routesKeptByHostAloneComeBackAsRoutesWithoutAPrefix() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let old = try DatabaseQueue(path: directory.path + "/baton.sqlite")
        try StoreSchema.migrator.migrate(old, upTo: "3-pool-stop-drain")
        try await old.write { db in
            try db.execute(
                sql: "INSERT INTO route (host, app) VALUES ('shop.example', 'shop'), ('blog.example', 'blog')"
            )
        }
        try old.close()
        let store = try SQLiteStore(directory: directory.path)
        store.enqueue([.route(key: "shop.example/v2", route: Self.apiRoute)])
        try await store.flush()
        await store.close()
        #expect(
            try SQLiteStore(directory: directory.path).load().routes == [
                "shop.example": RouteSpec(host: "shop.example", app: "shop"),
                "blog.example": RouteSpec(host: "blog.example", app: "blog"), "shop.example/v2": Self.apiRoute,
            ]
        )
    }

    @Test func forgottenRecordsAreGoneAfterReopening() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteStore(directory: directory.path)
        let deployment = StoredDeployment(
            id: "d-1",
            request: request,
            state: .done,
            reason: nil,
            servicePools: ["web": "p-1"],
            waitPools: [:],
            startedPools: ["p-1"],
            failures: []
        )
        store.enqueue([
            .app(StoredApp(name: "shop", phase: .serving, activeVersion: nil, activePools: [:])),
            .version(StoredVersion(app: "shop", version: "v2", services: request.services)),
            .pool(StoredPool(id: "p-1", app: "shop", version: "v2", spec: request.services[0], desired: 0)),
            .deployment(deployment),
        ])
        store.enqueue([
            .removed(.deployment("d-1")), .removed(.pool("p-1")), .removed(.version(app: "shop", version: "v2")),
        ])
        try await store.flush()
        await store.close()
        let reopened = try SQLiteStore(directory: directory.path)
        let state = try reopened.load()
        await reopened.close()
        #expect(state.deployments.isEmpty && state.pools.isEmpty && state.versions.isEmpty)
        #expect(state.apps.map(\.name) == ["shop"])
    }

    @Test func aRemovedAppTakesItsVersionsPoolsAndDeploymentsWithIt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteStore(directory: directory.path)
        store.enqueue([
            .app(StoredApp(name: "shop", phase: .removing, activeVersion: "v2", activePools: ["web": "p-1"])),
            .app(StoredApp(name: "blog", phase: .serving, activeVersion: "v2", activePools: ["web": "p-2"])),
            .version(StoredVersion(app: "shop", version: "v2", services: request.services)),
            .version(StoredVersion(app: "blog", version: "v2", services: request.services)),
            .pool(StoredPool(id: "p-1", app: "shop", version: "v2", spec: request.services[0], desired: 0)),
            .pool(StoredPool(id: "p-2", app: "blog", version: "v2", spec: request.services[0], desired: 1)),
            .route(key: "blog.test", route: RouteSpec(host: "blog.test", app: "blog")),
        ])
        store.enqueue([.removed(.app("shop"))])
        try await store.flush()
        await store.close()
        let reopened = try SQLiteStore(directory: directory.path)
        let state = try reopened.load()
        await reopened.close()
        #expect(state.apps.map(\.name) == ["blog"])
        #expect(state.versions.map(\.app) == ["blog"] && state.pools.map(\.id) == ["p-2"])
        #expect(state.routes == ["blog.test": RouteSpec(host: "blog.test", app: "blog")])
    }

    @Test func deploymentsComeBackInTheOrderTheyWereMade() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteStore(directory: directory.path)
        let ids = (1...12).map { DeploymentID("d-\($0)") }
        store.enqueue([.app(StoredApp(name: "shop", phase: .serving, activeVersion: nil, activePools: [:]))])
        for id in ids {
            store.enqueue([
                .deployment(
                    StoredDeployment(
                        id: id,
                        request: request,
                        state: .done,
                        reason: nil,
                        servicePools: [:],
                        waitPools: [:],
                        startedPools: [],
                        failures: []
                    )
                )
            ])
        }
        try await store.flush()
        #expect(try SQLiteStore(directory: directory.path).load().deployments.map(\.id) == ids)
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftAsItIs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("baton.sqlite")
        let garbage = Data(String(repeating: "not a database, ", count: 512).utf8)
        try garbage.write(to: URL(fileURLWithPath: path))
        let problem = #expect(throws: StoreProblem.self) { try SQLiteStore(directory: directory.path) }
        #expect(
            problem?.description.contains(path) == true,
            "the message names the file: \(problem?.description ?? "")"
        )
        #expect(FileManager.default.contents(atPath: path) == garbage, "never silently reset")
    }

    @Test func aDatabaseFromANewerBatonIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("baton.sqlite")
        _ = try SQLiteStore(directory: directory.path)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9-from-a-newer-baton')")
        }
        let problem = #expect(throws: StoreProblem.self) { try SQLiteStore(directory: directory.path) }
        #expect(problem?.description.contains("newer Baton") == true)
        #expect(problem?.description.contains(path) == true)
        #expect(problem?.description.contains("9-from-a-newer-baton") == true)
    }

    @Test func aSecondHostOnTheSameDirectoryIsRefusedUntilTheFirstLetsGo() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        func lock(wait: Duration = .zero) async throws -> DirectoryLock {
            try await DirectoryLock.acquire(directory: directory.path, file: "baton.lock", holder: "host", wait: wait)
        }
        let first = try await lock()
        let problem = await #expect(throws: DirectoryLock.Held.self) { try await lock() }
        #expect(
            problem?.description.contains("pid \(getpid())") == true,
            "names who holds it: \(problem?.description ?? "")"
        )
        #expect(problem?.description.contains(directory.file("baton.lock")) == true)

        // One stepping down lets a waiting one in.
        let waiting = Task { try await lock(wait: .seconds(30)) }
        first.release()
        let second = try await waiting.value
        #expect(second.path == first.path)
    }
}
