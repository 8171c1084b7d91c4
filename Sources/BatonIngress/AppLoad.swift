import BatonCore
import NIOConcurrencyHelpers

/// Requests per app across all event loops: how many are active, waiting for a sandbox,
/// and being retried. It bounds the hold queue and the retry budget.
final class AppLoad: Sendable {
    private struct Counts {
        var active = 0
        var holding = 0
        var retrying = 0
    }

    private let counts = NIOLockedValueBox<[AppName: Counts]>([:])

    /// The requests in flight, by app; an app with none is left out.
    func active() -> [AppName: Int] {
        counts.withLockedValue { all in all.compactMapValues { $0.active > 0 ? $0.active : nil } }
    }

    func started(_ app: AppName) {
        counts.withLockedValue { $0[app, default: Counts()].active += 1 }
    }

    func finished(_ app: AppName, wasRetrying: Bool) {
        counts.withLockedValue { all in
            all[app]?.active -= 1
            if wasRetrying { all[app]?.retrying -= 1 }
        }
    }

    /// Takes a place in the app's hold queue, unless `depth` are already waiting.
    func startHolding(_ app: AppName, depth: Int) -> Bool {
        counts.withLockedValue { all in
            guard all[app, default: Counts()].holding < depth else { return false }
            all[app, default: Counts()].holding += 1
            return true
        }
    }

    func stopHolding(_ app: AppName) {
        counts.withLockedValue { $0[app]?.holding -= 1 }
    }

    /// Lets a request start retrying if the app's concurrent retries stay within
    /// max(3, 20% of its active requests), as Envoy's retry budget does.
    func startRetrying(_ app: AppName) -> Bool {
        counts.withLockedValue { all in
            let current = all[app, default: Counts()]
            guard current.retrying < max(3, current.active / 5) else { return false }
            all[app, default: Counts()].retrying += 1
            return true
        }
    }
}
