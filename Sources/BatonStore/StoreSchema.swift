import BatonCore
import BatonJSON
import GRDB

/// The store's tables, built by migrations from the first schema on. A migration once
/// released is never edited; a change is a new migration appended here.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-apps-versions-pools-deployments-routes") { db in
            try db.execute(
                sql: """
                    CREATE TABLE app (
                      name TEXT PRIMARY KEY,
                      activeVersion TEXT,
                      activePools TEXT NOT NULL              -- JSON object: service → pool
                    );
                    CREATE TABLE version (
                      app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE,
                      version TEXT NOT NULL,
                      PRIMARY KEY (app, version)
                    );
                    CREATE TABLE service (
                      app TEXT NOT NULL,
                      version TEXT NOT NULL,
                      position INTEGER NOT NULL,
                      name TEXT NOT NULL,
                      spec TEXT NOT NULL,                    -- JSON, as app.deploy takes a service
                      PRIMARY KEY (app, version, name),
                      FOREIGN KEY (app, version) REFERENCES version(app, version) ON DELETE CASCADE
                    );
                    CREATE TABLE pool (
                      id TEXT PRIMARY KEY,
                      app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE,
                      version TEXT NOT NULL,
                      service TEXT NOT NULL,
                      spec TEXT NOT NULL,                    -- JSON, as app.deploy takes a service
                      desired INTEGER NOT NULL
                    );
                    CREATE TABLE deployment (
                      id TEXT PRIMARY KEY,
                      app TEXT NOT NULL REFERENCES app(name) ON DELETE CASCADE,
                      version TEXT NOT NULL,
                      state TEXT NOT NULL,
                      reason TEXT,
                      request TEXT NOT NULL,                 -- JSON, the whole app.deploy request
                      servicePools TEXT NOT NULL,            -- JSON object: service → pool
                      waitPools TEXT NOT NULL,               -- JSON object: service → pool
                      startedPools TEXT NOT NULL,            -- JSON array of pools
                      failures TEXT NOT NULL                 -- JSON array of sentences
                    );
                    CREATE TABLE route (
                      host TEXT PRIMARY KEY,
                      app TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("2-app-phase") { db in
            try db.execute(sql: "ALTER TABLE app ADD COLUMN phase TEXT NOT NULL DEFAULT 'serving'")
        }
        migrator.registerMigration("3-pool-stop-drain") { db in
            try db.execute(sql: "ALTER TABLE pool ADD COLUMN stopDrainMs INTEGER")  // set while a stop drains
        }
        migrator.registerMigration("4-route-spec") { db in
            // A route gains a path prefix and options: kept whole, as route.set takes it.
            try db.execute(
                sql: """
                    ALTER TABLE route RENAME TO routeByHost;
                    CREATE TABLE route (
                      key TEXT PRIMARY KEY,                  -- host and path prefix
                      spec TEXT NOT NULL                     -- JSON, as route.set takes it
                    );
                    """
            )
            for row in try Row.fetchAll(db, sql: "SELECT host, app FROM routeByHost") {
                let route = RouteSpec(host: row["host"], app: AppName(rawValue: row["app"]))
                try db.execute(
                    sql: "INSERT INTO route (key, spec) VALUES (?, ?)",
                    arguments: [route.key, try route.json.serializedString()]
                )
            }
            try db.execute(sql: "DROP TABLE routeByHost")
        }
        return migrator
    }
}
