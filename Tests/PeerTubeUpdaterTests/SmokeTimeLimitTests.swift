import Foundation
import Logging
import PeerTubeUpdater
import SmokeHarness
import Synchronization
import Testing

/// `SmokeTimeLimits.bounded`: a phase past its limit is reported at once, and what it started dies.
@Suite struct SmokeTimeLimitTests {
    @Test("a phase that never ends is reported at its limit, naming the phase; its child process is killed on time")
    func aHungPhaseIsReportedNotWaitedOut() async throws {
        let limits = SmokeTimeLimits(factor: 0.01, corpusVideos: 0, miniProdVectors: 0)  // workerRun: 0.6 s
        let children = ChildProcesses()
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["300"]
        // When it died, seen from a Dispatch thread: under a loaded test run this task may resume
        // late, but the watchdog (a Dispatch timer) must not.
        let died = Mutex<ContinuousClock.Instant?>(nil)
        sleeper.terminationHandler = { _ in died.withLock { $0 = .now } }
        let clock = ContinuousClock.now
        try sleeper.run()
        defer { if sleeper.isRunning { kill(sleeper.processIdentifier, SIGKILL) } }
        children.started(sleeper.processIdentifier, "worker")  // what the phase started
        let error = await #expect(throws: PhaseTimeout.self) {
            try await limits.bounded(.mainRun, children: children) {
                // A wait that ignores cancellation: what a hung phase looks like.
                while true { try? await Task.sleep(for: .seconds(60)) }
            }
        }
        #expect(error?.phase == .mainRun)
        #expect(error?.description.contains("phase main_run exceeded its time limit of 1 s") == true, "\(String(describing: error))")
        #expect(error?.killed == ["worker pid \(sleeper.processIdentifier)"])
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
        let deathAfter = died.withLock { $0 }.map { clock.duration(to: $0) }
        #expect(deathAfter.map { $0 < .seconds(5) } == true, "killed at its limit (0.6 s), not waited out: \(String(describing: deathAfter))")
    }

    @Test("a phase that ends in time returns its value and kills nothing")
    func aPhaseInTimeReturnsItsValue() async throws {
        // Limits far above the work: the body runs on the test runner's two cooperative threads,
        // which heavy synchronous suites beside it held past the 60 s of factor 1 once.
        let limits = SmokeTimeLimits(factor: 30, corpusVideos: 100, miniProdVectors: 50)
        let value = try await limits.bounded(.serveStart, children: ChildProcesses()) { 42 }
        #expect(value == 42)
        await #expect(throws: SmokeError.self) {
            try await limits.bounded(.serveStart, children: ChildProcesses()) { throw SmokeError("its own failure") }
        }
    }

    @Test("limits grow with the work and with --time-limit-factor")
    func limitsFollowTheWork() {
        let small = SmokeTimeLimits(factor: 1, corpusVideos: 1_000, miniProdVectors: 900)
        let large = SmokeTimeLimits(factor: 1, corpusVideos: 10_000, miniProdVectors: 900)
        #expect(small.limit(of: .mainRun) < large.limit(of: .mainRun))
        #expect(SmokeTimeLimits(factor: 3, corpusVideos: 1_000, miniProdVectors: 900).limit(of: .mainRun) == small.limit(of: .mainRun) * 3)
        #expect(small.limit(of: .dayTwo) > small.limit(of: .mainRun) * 3, "day two holds three worker runs and serve")
    }
}

extension Integration {
/// The release-smoke hang, turned into a report: `peertube-updater smoke` with a worker that stalls
/// (the fault plan's `PEERTUBE_UPDATER_STALL_AT`) ends at the main run's limit with a FAIL report
/// naming the phase, exits non-zero, and leaves no worker behind.
@Suite struct SmokeStallTests {
    @Test("a stalled worker ends the smoke session at its phase's limit, with the phase named in last-report.json")
    func aStalledWorkerFailsTheSessionInTime() async throws {
        let root = repositoryRoot.path
        // The embedded default is shared with the other suites (built once, under a file lock).
        let corpus = try SmokeCorpus(path: root + "/" + SmokeCorpus.defaultPath)
        _ = try await EmbeddedDefaultSource.path(for: corpus, cacheDirectory: root + "/" + EmbeddedDefaultSource.cacheDirectory,
                                                 modelDirectory: InstalledModel.directory, logger: quietLogger)
        let dir = try TempDir()
        let factor = 0.05
        let limit = SmokeTimeLimits(factor: factor, corpusVideos: corpus.videoCount, miniProdVectors: 2_000).limit(of: .mainRun)
        let clock = ContinuousClock.now
        let result = try await runUpdaterAsync(
            ["smoke", "--cpu", "--workdir", dir.path("smoke"), "--repository-root", root, "--time-limit-factor", String(factor)],
            environment: [FaultPlan.stallEnvironmentVariable: FaultPoint.beforeMerge.name])
        let elapsed = clock.duration(to: .now)
        #expect(result.status != 0)
        #expect(elapsed < limit + .seconds(60), "ended near the main run's limit (\(limit)), not after the hang: \(elapsed)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path("smoke/last-report.json")))) as? [String: Any]
        #expect(report?["status"] as? String == "fail")
        let error = report?["error"] as? String ?? ""
        #expect(error.contains("phase main_run exceeded its time limit"), "\(error)")
        #expect(error.contains("killed worker pid"), "\(error)")
        // The stalled worker is gone: its pid is in the message, and no such process is left.
        if let pid = error.split(separator: " ").drop(while: { $0 != "pid" }).dropFirst().first.flatMap({ Int32($0.prefix { $0.isNumber }) }) {
            #expect(await processEnds(pid, within: .seconds(10)), "worker \(pid) still running")
        } else {
            Issue.record("no pid in \(error)")
        }
    }
}
}

/// True once `pid` is gone or a zombie (killed, waiting to be reaped by whoever inherited it).
private func processEnds(_ pid: Int32, within limit: Duration) async -> Bool {
    let deadline = ContinuousClock.now + limit
    repeat {
        guard kill(pid, 0) == 0 else { return true }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") { return true }
        try? await Task.sleep(for: .milliseconds(100))
    } while ContinuousClock.now < deadline
    return false
}
