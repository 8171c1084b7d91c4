import BatonLoad

/// One target under steady load: a baseline, the rollovers, then a never-ready deploy under
/// a fresh load of its own.
struct Scenario {
    var name: String
    var order: String
    var target: any RolloverTarget
    var rollovers: Int
    var pauseBetween: Duration
    var load: LoadShape

    struct LoadShape {
        var getWorkers: Int
        var postWorkers: Int
        var putWorkers: Int
        var pause: Duration

        /// Starts this load on `port`; it runs until the task is cancelled.
        func start(port: Int, recorder: LoadRecorder) -> Task<Void, Never> {
            var generator = LoadGenerator(
                host: "127.0.0.1",
                port: port,
                hostHeader: "hello.localhost",
                recorder: recorder
            )
            generator.getWorkers = getWorkers
            generator.postWorkers = postWorkers
            generator.putWorkers = putWorkers
            generator.pause = pause
            return Task { await generator.run() }
        }
    }

    struct Result {
        var name: String
        var order: String
        var samples: [LoadRecorder.Sample]
        var rolloverLatency: (inside: [Duration], outside: [Duration])
        var loadDuration: Duration
        var steps: [RolloverStep]
        var neverReady: (samples: [LoadRecorder.Sample], duration: Duration, outcome: String)
        /// Why the run stopped early, if it did.
        var abort: String?
    }

    func run(say: (String) -> Void) async -> Result {
        var result = Result(
            name: name,
            order: order,
            samples: [],
            rolloverLatency: ([], []),
            loadDuration: .zero,
            steps: [],
            neverReady: ([], .zero, "not run")
        )
        do {
            try await target.start()
            let recorder = LoadRecorder()
            let started = ContinuousClock.now
            let loading = startLoad(recorder)
            try await Task.sleep(for: .seconds(2))  // the baseline, outside any rollover
            defer { loading.cancel() }
            for index in 0..<rollovers {
                let windowStart = ContinuousClock.now
                let step = try await target.rollOver(to: "v\(index + 2)")
                recorder.rollover(from: windowStart, to: .now)
                result.steps.append(step)
                if (index + 1) % 10 == 0 {
                    say("  \(name) \(order): \(index + 1) rollovers, \(recorder.all.count) requests")
                }
                try await Task.sleep(for: pauseBetween)
            }
            try await Task.sleep(for: .seconds(1))
            loading.cancel()
            await loading.value
            result.loadDuration = .now - started
            result.samples = recorder.all
            result.rolloverLatency = (
                recorder.latencies(insideRollovers: true), recorder.latencies(insideRollovers: false)
            )

            let neverReadyRecorder = LoadRecorder()
            let neverReadyLoad = startLoad(neverReadyRecorder)
            defer { neverReadyLoad.cancel() }
            try await Task.sleep(for: .milliseconds(500))
            let neverReadyStart = ContinuousClock.now
            let outcome = try await target.deployNeverReady(version: "never-ready")
            let neverReadyDuration = ContinuousClock.now - neverReadyStart
            try await Task.sleep(for: .milliseconds(500))
            neverReadyLoad.cancel()
            await neverReadyLoad.value
            result.neverReady = (neverReadyRecorder.all, neverReadyDuration, outcome)
        } catch {
            result.abort = "\(error)"
            say("  \(name) \(order) stopped: \(error)")
        }
        await target.stop()
        return result
    }

    private func startLoad(_ recorder: LoadRecorder) -> Task<Void, Never> {
        load.start(port: target.port, recorder: recorder)
    }
}
