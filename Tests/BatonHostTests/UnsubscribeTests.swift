import BatonJSON
import BatonRPC
import Testing

/// `host.unsubscribe` over the socket: once it is answered, nothing of that subscription comes.
@Suite("Unsubscribe", .timeLimit(.minutes(1)))
struct UnsubscribeTests {
    @Test func nothingOfASubscriptionFollowsTheAnswerToItsUnsubscribe() async throws {
        try await withHost { harness in
            let quiet = try await harness.client(.admin)
            let watching = try await harness.client(.admin)
            var heard = NotificationReader(watching)
            let subscription = try await quiet.call("events.watch", ["apps": ["shop"]])["subscription"]
            _ = try await watching.call("events.watch", ["apps": ["shop"]])
            #expect(try await quiet.call("host.unsubscribe", ["subscription": subscription ?? .null]) == [:])
            #expect(try await quiet.call("host.unsubscribe", ["subscription": "never-was"]) == [:], "idempotent")
            _ = try await watching.call(
                "app.deploy",
                ["app": "shop", "version": "v1", "services": [["name": "web", "spec": ["image": "one"]]]]
            )
            // The other session heard the deploy's events, so the unsubscribed one would have too.
            _ = await heard.next("event") { $0["type"] == "pool.created" }
            // What came before the ping's answer is in the stream; closing ends it after that.
            _ = try await quiet.call("host.ping")
            await quiet.close()
            var notifications = quiet.notifications.makeAsyncIterator()
            let after = await notifications.next()
            #expect(after == nil, "an unsubscribed session got \(String(describing: after))")
        }
    }
}
