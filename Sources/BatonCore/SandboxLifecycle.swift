/// One sandbox's life as the broker sees it, from its scheduler's reports, the host's own
/// check of its URL, the callers that find it broken and the rollovers of its pool. The
/// transitions are pure: each returns what the broker must do, and the broker does it.
///
/// | from \ event | starting | ready | stopped, failed | check passed | invalidated | cut away | retired | returned |
/// |---|---|---|---|---|---|---|---|---|
/// | starting | – | checking | ended | – | – | draining | retiring | – |
/// | checking | starting | checking (new URL: again) | ended | serving | suspect | draining | retiring | – |
/// | serving | starting, revoke | – (new URL: checking, revoke) | ended | – | suspect, revoke | draining, revoke | retiring, revoke | – |
/// | suspect | starting | checking | ended | serving | – | draining | retiring | – |
/// | draining | – (a word from before the drain) | – (new URL: no longer served) | ended | – | draining, revoke | – | retiring | serving, or checking |
/// | retiring | retiring | retiring | ended | – | – | – | – | – |
/// | ended | starting | checking | ended (the other end) | – | – | – | – | – |
///
/// While its pool is retired (scaled to 0), every report but an end leaves it retiring; once
/// the pool rises again, a `starting` or `ready` report brings it back. Only `serving` takes
/// leases, and only `serving` counts toward a deploy's quorum.
struct SandboxLifecycle: Equatable {
    enum Phase: Equatable {
        case starting
        /// Reported ready; the host checks its URL before it takes traffic.
        case checking
        case serving
        /// A caller found it broken: no leases until the host's check passes again.
        case suspect
        /// Its pool left the routing: no new leases. `wasServing`: it served when that
        /// happened, so it may serve again at once if its pool comes back.
        case draining(wasServing: Bool, drainAnnounced: Bool)
        /// Its pool was scaled to 0: its scheduler may be stopping it.
        case retiring
        case ended(SandboxState)
    }

    enum Action: Equatable {
        /// Check the URL; the answer counts only while `generation` is current.
        case probe(generation: Int)
        case stopProbe
        case revokeLeases(RevocationReason)
        case announceAdmitted
        case announceEnd
    }

    private(set) var phase = Phase.starting
    private(set) var url: String?
    /// Bumped on every change, so the answer of a check started before it is ignored.
    private(set) var generation = 0

    /// What `app.status` shows.
    var state: SandboxState {
        switch phase {
        case .starting: .starting
        case .checking, .serving, .suspect: .ready
        case .draining, .retiring: .draining
        case .ended(let end): end
        }
    }

    var isServing: Bool { phase == .serving }
    var isDraining: Bool { if case .draining = phase { true } else { false } }
    var isSuspect: Bool { phase == .suspect }
    var hasEnded: Bool { if case .ended = phase { true } else { false } }
    var admitted: Bool {
        phase == .serving || phase == .draining(wasServing: true, drainAnnounced: false)
            || phase == .draining(wasServing: true, drainAnnounced: true)
    }

    private mutating func enter(_ next: Phase) {
        phase = next
        generation += 1
    }

    /// A report from its scheduler; `poolRetired` when its pool is at 0.
    mutating func reported(_ reported: ReportedState, url newURL: String?, poolRetired: Bool) -> [Action] {
        let wasServing = phase == .serving
        switch reported {
        case .stopped, .failed:
            let end: SandboxState = reported == .stopped ? .stopped : .failed
            if phase == .ended(end) { return [] }
            enter(.ended(end))
            return [.stopProbe, .revokeLeases(.stopped), .announceEnd]
        case _ where poolRetired:
            if phase == .retiring { return [] }
            enter(.retiring)
            if let newURL { url = newURL }
            return [.stopProbe] + (wasServing ? [.revokeLeases(.draining)] : [])
        case .starting:
            if phase == .starting { return [] }
            if case .draining = phase { return [] }  // a stale word from before the drain
            enter(.starting)
            return [.stopProbe] + (wasServing ? [.revokeLeases(.stopped)] : [])
        case .ready:
            guard let newURL else { return [] }
            let sameURL = newURL == url
            url = newURL
            switch phase {
            case .serving where sameURL, .checking where sameURL: return []
            case .draining where sameURL: return []
            case .draining:
                enter(.draining(wasServing: false, drainAnnounced: false))
                return [.stopProbe]
            default:
                enter(.checking)
                return (wasServing ? [.revokeLeases(.stopped)] : []) + [.probe(generation: generation)]
            }
        }
    }

    /// The host's check of generation `checked` passed.
    mutating func checkPassed(generation checked: Int) -> [Action] {
        guard checked == generation, phase == .checking || phase == .suspect else { return [] }
        enter(.serving)
        return [.announceAdmitted]
    }

    /// A caller found it broken.
    mutating func invalidated() -> [Action] {
        switch phase {
        case .serving, .checking:
            let wasServing = phase == .serving
            enter(.suspect)
            return (wasServing ? [.revokeLeases(.suspect)] : []) + [.probe(generation: generation)]
        case .draining(true, let announced):
            enter(.draining(wasServing: false, drainAnnounced: announced))
            return [.revokeLeases(.suspect)]
        default:
            return []
        }
    }

    /// Its pool left the routing (`cutover`), or an operator stops it (`draining`): it drains.
    mutating func cutAway(reason: RevocationReason = .cutover) -> [Action] {
        switch phase {
        case .starting, .checking, .serving, .suspect:
            let wasServing = phase == .serving
            enter(.draining(wasServing: wasServing, drainAnnounced: false))
            return [.stopProbe, .revokeLeases(reason)]
        default:
            return []
        }
    }

    /// The broker told its launcher it has drained.
    mutating func drainAnnounced() {
        if case .draining(let wasServing, false) = phase {
            phase = .draining(wasServing: wasServing, drainAnnounced: true)
        }
    }

    /// Whether it drains and has not yet said so.
    var owesDrainAnnouncement: Bool { if case .draining(_, false) = phase { true } else { false } }

    /// Its pool went to 0.
    mutating func retired() -> [Action] {
        guard !hasEnded, phase != .retiring else { return [] }
        enter(.retiring)
        return [.stopProbe, .revokeLeases(.draining)]
    }

    /// Its pool came back while it drained (a rollback).
    mutating func returned() -> [Action] {
        guard case .draining(let wasServing, _) = phase else { return [] }
        if wasServing {
            enter(.serving)
            return [.announceAdmitted]
        }
        enter(.checking)
        return [.probe(generation: generation)]
    }

    /// Its pool was given up again before it served: it drains on.
    mutating func drainsAgain() -> [Action] {
        switch phase {
        case .checking, .serving, .suspect:
            enter(.draining(wasServing: phase == .serving, drainAnnounced: false))
            return [.stopProbe]
        default:
            return []
        }
    }
}
