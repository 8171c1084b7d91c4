/// Every MUST and SHOULD of protocol/PROTOCOL.md, in order, with the kit's cases that fail a
/// peer breaking it, or why no peer can see it. `baton contract list --rules` prints it, and
/// PROTOCOL.md holds it as a table (checked by a test, as is that every case checks a rule).
public enum ProtocolRules {
    public struct Rule: Sendable {
        public var text: String
        public var section: String
        /// The cases (and transcripts) that fail a peer breaking it.
        public var cases: [String]
        /// What else checks it, or why the kit does not.
        public var note: String?

        init(_ text: String, section: String, cases: [String], note: String?) {
            self.text = text
            self.section = section
            self.cases = cases
            self.note = note
        }
    }

    public static let all: [Rule] = [
        Rule(
            "A receiver accepts `\\r\\n`; a sender puts no raw newline in a message and no byte-order mark",
            section: "§1",
            cases: ["transcript-06-framing-and-notifications"],
            note: "every case reads each line as strict JSON"
        ),
        Rule(
            "An `id` is a string, a number or null, echoed exactly",
            section: "§2",
            cases: ["transcript-01-handshake", "transcript-02-malformed-input"],
            note: nil
        ),
        Rule(
            "Clients use strings or integers as ids, and reuse none in flight (SHOULD)",
            section: "§2",
            cases: [],
            note: "not by the kit: only the client knows what is in flight"
        ),
        Rule(
            "The host answers no notification, alone or in a batch",
            section: "§2",
            cases: ["transcript-06-framing-and-notifications"],
            note: nil
        ),
        Rule(
            "Clients match responses by `id`",
            section: "§2",
            cases: [],
            note: "not by the kit (Baton's `RPCClient` tests)"
        ),
        Rule(
            "`host.hello` is the first request",
            section: "§3",
            cases: ["transcript-03-session-rules", "hello-comes-first"],
            note: nil
        ),
        Rule(
            "A host closes a connection without hello within `helloTimeoutMs`",
            section: "§3",
            cases: [],
            note: "not by the kit, whose runs would wait for it (Baton's session tests)"
        ),
        Rule(
            "A session's calls take effect in the order received",
            section: "§3 Ordering",
            cases: ["pipelined-reports-take-effect-in-order"],
            note: nil
        ),
        Rule(
            "A client reads what the host sends",
            section: "§3 Flow control",
            cases: [],
            note: "not by the kit (Baton's robustness tests close a client that does not)"
        ),
        Rule(
            "A client relies on nothing a newer minor version adds",
            section: "§4 host.hello",
            cases: ["transcript-03-session-rules"],
            note: "the host agrees to the older version"
        ),
        Rule(
            "A refused hello is final: the plugin exits non-zero (SHOULD); after `-32008` it connects again with backoff (SHOULD)",
            section: "§4 host.hello",
            cases: ["a-refused-hello-ends-the-plugin"],
            note: "the backoff: not by the kit"
        ),
        Rule(
            "A scheduler that sees a `seq` gap subscribes again",
            section: "§4 Scheduler role, §5 Subscriptions",
            cases: ["seq-gap-leads-to-resubscribe"],
            note: nil
        ),
        Rule(
            "A pool at `desired: 0` runs nothing",
            section: "§4 Scheduler role",
            cases: ["scale-down-leads-to-stopped"],
            note: nil
        ),
        Rule(
            "A scheduler runs `desired` sandboxes, reports them `starting`, `ready` with a URL, `stopped` or `failed` with a reason",
            section: "§4 Scheduler role",
            cases: [
                "desired-leads-to-starting-then-ready", "scale-down-leads-to-stopped",
                "a-sandbox-that-dies-is-reported-failed-with-a-reason",
            ],
            note: nil
        ),
        Rule(
            "Admin errors: an unknown app is `2002`, an unknown route `3003`, a deploy without its app `-32602`",
            section: "§4 Admin role, §6",
            cases: ["transcript-04-admin-errors"],
            note: nil
        ),
        Rule(
            "Sandbox ids are unique to the run (SHOULD)",
            section: "§4 Sandbox ids",
            cases: [],
            note: "not by the kit: a repeated id looks like a restart"
        ),
        Rule(
            "`scheduler.sync` is all or nothing and lists each sandbox once",
            section: "§4 scheduler.sync",
            cases: ["transcript-05-scheduler-sync"],
            note: nil
        ),
        Rule(
            "`scheduler.sync` follows `scheduler.subscribe` on every connection, before any report",
            section: "§4 scheduler.sync",
            cases: [
                "sync-follows-subscribe", "dropped-connection-leads-to-reconnect-and-sync",
                "a-restarted-host-is-reconnected-to",
            ],
            note: nil
        ),
        Rule(
            "Scale-down stops the sandboxes not ready first, then the newest (SHOULD)",
            section: "§4 Answering, scale-down and crashes",
            cases: ["scale-down-stops-the-newest-first"],
            note: nil
        ),
        Rule(
            "A crashed sandbox is replaced after a backoff, and a crash loop says so (SHOULD)",
            section: "§4 Answering, scale-down and crashes",
            cases: ["a-dead-sandbox-is-replaced"],
            note: nil
        ),
        Rule(
            "Each sandbox runs in a process group of its own (SHOULD)",
            section: "§4 Surviving SIGTERM",
            cases: ["sandboxes-outlive-sigterm-and-are-adopted"],
            note: nil
        ),
        Rule(
            "An adopted process is proven to be the recorded one",
            section: "§4 Surviving SIGTERM",
            cases: ["sandboxes-outlive-sigterm-and-are-adopted"],
            note: nil
        ),
        Rule(
            "A plugin keeps its files in a directory of its own",
            section: "§4 Surviving SIGTERM",
            cases: ["files-stay-in-a-directory-of-the-plugins-own"],
            note: nil
        ),
        Rule(
            "A router sends each request to the URL of a lease it holds",
            section: "§4 Router role",
            cases: ["requests-reach-the-leased-backend"],
            note: nil
        ),
        Rule(
            "A router stops using a revoked lease, lets its requests finish, then releases it",
            section: "§4 Router role, §5",
            cases: ["revocation-moves-traffic", "revoked-leases-are-released"],
            note: nil
        ),
        Rule(
            "A router releases leases it no longer uses, all of them when it stops (SHOULD)",
            section: "§4 Router role, §5",
            cases: ["revoked-leases-are-released", "leases-are-released-on-stop"],
            note: nil
        ),
        Rule(
            "Clients ignore notifications they do not know",
            section: "§5",
            cases: ["unknown-notifications-are-ignored"],
            note: "the router kit sends one before each revocation"
        ),
        Rule(
            "A scheduler says hello first, subscribes, syncs and runs what it is given",
            section: "§5 What a scheduler MUST do, 1–2",
            cases: ["hello-comes-first", "sync-follows-subscribe", "desired-leads-to-starting-then-ready"],
            note: nil
        ),
        Rule(
            "A repeated `desired` starts and stops nothing; each report names its pool",
            section: "§5, 3",
            cases: ["repeated-desired-changes-nothing", "each-report-names-its-pool"],
            note: nil
        ),
        Rule(
            "`stopped` only once the process is gone; a sandbox kept past `desired: 0` is reported again",
            section: "§5, 4",
            cases: ["scale-down-leads-to-stopped"],
            note: "checks the process is gone; reporting a kept sandbox again: not by the kit"
        ),
        Rule(
            "A scheduler reconnects with backoff and syncs",
            section: "§5, 6",
            cases: ["dropped-connection-leads-to-reconnect-and-sync", "a-restarted-host-is-reconnected-to"],
            note: nil
        ),
        Rule(
            "A router says hello first, and watches leases (SHOULD)",
            section: "§5 What a router MUST do, 1",
            cases: ["requests-reach-the-leased-backend", "revocation-moves-traffic"],
            note: "the kit's host answers nothing before hello; the revocation cases fail without `lease.watch`"
        ),
        Rule(
            "A router sends no more concurrent requests on a lease than its `slots`",
            section: "§5, 2",
            cases: ["a-lease-carries-no-more-requests-than-its-slots"],
            note: nil
        ),
        Rule(
            "A router renews a lease it keeps before `ttlMs`",
            section: "§5, 5",
            cases: ["leases-are-renewed-before-they-expire"],
            note: nil
        ),
        Rule(
            "A router invalidates a lease whose sandbox it cannot reach and retries elsewhere (SHOULD)",
            section: "§5, 6",
            cases: ["a-dead-backend-is-invalidated-and-retried-elsewhere"],
            note: nil
        ),
        Rule(
            "A request lost after it was sent is retried only if it may run twice",
            section: "§5, 6",
            cases: ["a-request-lost-after-it-was-sent-is-not-retried"],
            note: nil
        ),
        Rule(
            "A plugin logs to standard error; an orphaned plugin winds down (SHOULD)",
            section: "§5 Plugins",
            cases: [],
            note: "not by the kit (Baton's orphaned-scheduler tests)"
        ),
        Rule(
            "A plugin exits 0 on SIGTERM (SHOULD) and a scheduler leaves its sandboxes running (SHOULD)",
            section: "§5 Plugins",
            cases: ["sigterm-ends-the-plugin-with-status-0", "sandboxes-outlive-sigterm-and-are-adopted"],
            note: nil
        ),
        Rule(
            "The host's promises 3 to 9: its own readiness check, the gate, cutover, drain, rollback on timeout, supersede, `app.rollback`",
            section: "§4 Admin role",
            cases: [
                "the-host-checks-a-sandbox-before-it-serves", "readiness-gate-holds-cutover",
                "cutover-moves-new-leases", "cutover-revokes-old-leases", "drain-ends-when-leases-are-released",
                "a-version-that-never-gets-ready-rolls-back", "a-newer-deploy-supersedes-a-waiting-one",
                "a-rollback-goes-through-the-gate",
            ],
            note: nil
        ),
        Rule(
            "The operator's verbs: a service scaled to 0 drains first, a paused app holds lease requests until it resumes, a removed app is forgotten",
            section: "§4 Admin role, promises 11 to 13",
            cases: [
                "a-service-scaled-to-0-drains-first", "a-paused-app-holds-lease-requests-until-it-resumes",
                "a-removed-app-is-forgotten",
            ],
            note: nil
        ),
        Rule(
            "The host's `seq`, slot cap, lease expiry and params checks",
            section: "§4, §5",
            cases: [
                "desired-seq-rises-by-one", "a-sandbox-never-has-more-slots-out-than-it-offers",
                "an-unrenewed-lease-expires", "bad-params-on-every-method",
            ],
            note: nil
        ),
    ]

    public static var markdownTable: String {
        var lines = ["| rule | section | checked by |", "|---|---|---|"]
        for rule in all {
            let checked = (rule.cases.map { "`\($0)`" }.joined(separator: ", ") + (rule.note.map { "; \($0)" } ?? ""))
                .trimmingPrefix("; ")
            lines.append("| \(rule.text) | \(rule.section) | \(checked) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
