import BatonJSON
import BatonRPC
import BatonTestSupport
import Testing

/// Routes by host and path prefix, through the ingress to real sandboxes: the longest prefix
/// wins, a prefix ends at a segment, a stripping route moves the prefix to
/// `X-Forwarded-Prefix`, and nothing a client sends can claim a prefix or a scheme.
extension IngressTests {
    /// A backend that answers with what it got: the app's name, the target, and the
    /// forwarding fields the proxy set.
    static func pathEcho(_ name: String) async throws -> TestBackend {
        try await TestBackend.start { head, _ in
            let fields = ["x-forwarded-prefix", "x-forwarded-proto"].map { name in
                head.headers[name].isEmpty ? "-" : head.headers[name].joined(separator: ",")
            }
            return TestBackend.Reply(body: "\(name) \(head.uri) prefix=\(fields[0]) proto=\(fields[1])")
        }
    }

    @Test func theLongestPrefixWinsAtASegmentAndAStrippingRouteForwardsThePrefix() async throws {
        let (shop, api, admin) = (
            try await Self.pathEcho("shop"), try await Self.pathEcho("api"), try await Self.pathEcho("admin")
        )
        defer { Task { for backend in [shop, api, admin] { await backend.stop() } } }
        try await withStage { stage in
            try await stage.live("v1", [shop])
            try await stage.live("api-v1", [api], app: "api", host: nil)
            try await stage.live("admin-v1", [admin], app: "admin", host: nil)
            _ = try await stage.admin.call(
                "route.set",
                ["host": "Shop.Test", "pathPrefix": "/api/", "app": "api", "stripPrefix": true]
            )
            _ = try await stage.admin.call(
                "route.set",
                ["host": "shop.test", "pathPrefix": "/api/admin", "app": "admin"]
            )
            let cases: [(path: String, answer: String)] = [
                ("/", "shop / prefix=- proto=http"),
                ("/api/orders?page=2", "api /orders?page=2 prefix=/api proto=http"),
                ("/api", "api / prefix=/api proto=http"),
                ("/api?q=1", "api /?q=1 prefix=/api proto=http"),
                ("/api/", "api / prefix=/api proto=http"),
                ("/apis", "shop /apis prefix=- proto=http"),
                ("/API/orders", "shop /API/orders prefix=- proto=http"),
                ("/api%2Forders", "shop /api%2Forders prefix=- proto=http"),
                ("/api/admin/users", "admin /api/admin/users prefix=- proto=http"),
                ("/api/administrators", "api /administrators prefix=/api proto=http"),
            ]
            for (path, answer) in cases {
                let response = try await stage.get(
                    path,
                    headers: [("X-Forwarded-Prefix", "/evil"), ("X-Forwarded-Proto", "https")]
                )
                #expect(response.status == 200 && response.body == answer, "\(path)")
            }
        }
    }

    @Test func aPathNoRouteTakesIs404NamingTheHostAndPath() async throws {
        let api = try await Self.pathEcho("api")
        defer { Task { await api.stop() } }
        try await withStage { stage in
            try await stage.live("api-v1", [api], app: "api", host: nil)
            _ = try await stage.admin.call("route.set", ["host": "shop.test", "pathPrefix": "/v2", "app": "api"])
            let unrouted = try await stage.get("/v1/orders?page=2")
            #expect(unrouted.status == 404)
            #expect(unrouted.body == "No route for host shop.test and path /v1/orders.\n")
            #expect(try await stage.get("/v2/orders").body == "api /v2/orders prefix=- proto=http")
        }
    }

    @Test func routesAreListedRemovedByHostAndPrefixAndRefusedWhenAPrefixCouldBeSpelledTwoWays() async throws {
        let (shop, api) = (try await Self.pathEcho("shop"), try await Self.pathEcho("api"))
        defer { Task { for backend in [shop, api] { await backend.stop() } } }
        try await withStage { stage in
            try await stage.live("v1", [shop])
            try await stage.live("api-v1", [api], app: "api", host: nil)
            _ = try await stage.admin.call(
                "route.set",
                ["host": "shop.test", "pathPrefix": "/api", "app": "api", "stripPrefix": true]
            )
            let listed = try await stage.admin.call("route.list")
            #expect(
                listed["routes"]
                    == [
                        ["host": "shop.test", "app": "shop"],
                        ["host": "shop.test", "app": "api", "pathPrefix": "/api", "stripPrefix": true],
                    ]
            )
            let status = try await stage.admin.call("app.status", ["app": "api"])
            #expect(status["routes"] == ["shop.test/api"])

            for prefix in ["api", "/a/../b", "/a/./b", "/a//b", "/a%2Fb", "/a b", "/a?b", "/\u{e9}"] {
                let refused = await #expect(throws: RPCError.self) {
                    try await stage.admin.call(
                        "route.set",
                        ["host": "shop.test", "pathPrefix": .string(prefix), "app": "api"]
                    )
                }
                #expect(refused?.code == -32602, "\(prefix)")
                #expect(refused?.message.contains("pathPrefix") == true, "\(prefix)")
            }
            #expect(try await stage.get("/api/x").body == "api /x prefix=/api proto=http")
            _ = try await stage.admin.call("route.remove", ["host": "shop.test", "pathPrefix": "/api/"])
            #expect(try await stage.get("/api/x").body == "shop /api/x prefix=- proto=http")
            let gone = await #expect(throws: RPCError.self) {
                try await stage.admin.call("route.remove", ["host": "shop.test", "pathPrefix": "/api"])
            }
            #expect(gone?.code == 3003)
            _ = try await stage.admin.call("route.remove", ["host": "shop.test"])
            #expect(try await stage.get("/").status == 404)
        }
    }
}
