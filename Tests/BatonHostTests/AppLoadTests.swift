import Testing

@testable import BatonIngress

/// The retry budget and hold queue bounds, as the ingress applies them per app.
@Suite("Per-app load limits")
struct AppLoadTests {
    @Test func concurrentRetriesStayWithinMaxOfThreeAndAFifthOfActiveRequests() {
        let load = AppLoad()
        for _ in 0..<10 { load.started("shop") }
        let granted = (0..<10).filter { _ in load.startRetrying("shop") }.count
        #expect(granted == 3, "max(3, 10 / 5)")
        for _ in 0..<20 { load.started("shop") }
        #expect((0..<10).filter { _ in load.startRetrying("shop") }.count == 3, "max(3, 30 / 5) = 6, 3 already out")
        #expect(!load.startRetrying("shop"), "6 of 6")
        load.finished("shop", wasRetrying: true)
        load.finished("shop", wasRetrying: true)
        #expect(load.startRetrying("shop"), "finished retries free their places: 4 of max(3, 28 / 5)")
        #expect(load.startRetrying("other"), "budgets are per app")
    }

    @Test func theHoldQueueHasADepth() {
        let load = AppLoad()
        #expect(load.startHolding("shop", depth: 2))
        #expect(load.startHolding("shop", depth: 2))
        #expect(!load.startHolding("shop", depth: 2))
        load.stopHolding("shop")
        #expect(load.startHolding("shop", depth: 2))
    }
}
