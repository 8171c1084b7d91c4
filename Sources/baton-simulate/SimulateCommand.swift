import ArgumentParser
import BatonSimulation

/// Runs the core simulation over many seeds; the first broken invariant stops it with the
/// seed and the steps that led there.
@main
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-simulate",
        abstract: "Seeded simulation of the launcher and the lease broker under faults."
    )

    @Option(help: "How many seeds to run, from --first-seed on.") var seeds = 100
    @Option(help: "Steps per seed.") var steps = 1_000
    @Option(help: "Run only this seed (replays a failure).") var seed: UInt64?
    @Option(help: "The first seed of the run.") var firstSeed: UInt64 = 1
    @Option(help: "Stop starting new seeds after this many seconds (0: no limit).") var seconds = 0
    @Flag(help: "Simulate a cluster of three nodes on a simulated etcd instead of one host.") var cluster = false

    func run() async throws {
        let chosen = seed.map { [$0] } ?? Array(firstSeed..<firstSeed + UInt64(seeds))
        let started = ContinuousClock.now
        var totals = Simulation.Report()
        var ran = 0
        for seed in chosen {
            if seconds > 0, ContinuousClock.now - started > .seconds(seconds) { break }
            ran += 1
            do {
                let options = Simulation.Options(seed: seed, steps: steps)
                totals.add(
                    cluster
                        ? try await ClusterSimulation(options: options).run()
                        : try await Simulation(options: options).run()
                )
            } catch {
                print(error)
                throw ExitCode.failure
            }
        }
        let elapsed = (ContinuousClock.now - started).components.seconds
        let limited = ran < chosen.count ? " (time limit: \(chosen.count - ran) seeds not run)" : ""
        print(
            "simulate\(cluster ? " --cluster" : ""): \(ran) seeds × \(steps) steps clean in \(Int(elapsed)) s\(limited): \(totals.summary)"
        )
    }
}
