import Foundation
import GRDB
@testable import PeerTubeUpdater
import SmokeHarness
import Testing

extension Integration {
/// The worker binary's guarantees beyond the smoke checks: refusals before any work, the service
/// started again on every exit path, the lock, --resume-staging and --skip-local-dead.
@Suite("Worker", .serialized)
struct WorkerTests {
    @Test("the default --gpu without a usable CUDA device fails clearly before any work", .enabled(if: !GPUStages.usable))
    func gpuWithoutCUDA() throws {
        let temp = try TempDir()
        try makeDatabase(at: temp.path("prod.db"), prod: true)
        let before = try fingerprints(temp.path("prod.db"))
        let result = try runUpdater(["run", "--prod-db", temp.path("prod.db"), "--staging-db", temp.path("staging.db"),
                                     "--logs", temp.path("worker.log"), "--model-dir", InstalledModel.directory])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--gpu needs a usable CUDA device, and there is no CPU fallback"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: temp.path("staging.db")))
        #expect(try fingerprints(temp.path("prod.db")) == before)
        #expect(RunLock.state(at: temp.path("prod.db.updater.lock")) == .free)
    }

    @Test("--use-systemctl without systemd fails clearly before any work",
          .enabled(if: !FileManager.default.fileExists(atPath: "/run/systemd/system")))
    func systemctlWithoutSystemd() throws {
        let temp = try TempDir()
        try makeDatabase(at: temp.path("prod.db"), prod: true)
        let result = try runUpdater(["run", "--cpu", "--use-systemctl", "--prod-db", temp.path("prod.db"),
                                     "--staging-db", temp.path("staging.db"), "--logs", temp.path("worker.log"),
                                     "--model-dir", InstalledModel.directory])
        #expect(result.status != 0)
        #expect(result.stderr.contains("systemd is not running"))
        #expect(!FileManager.default.fileExists(atPath: temp.path("staging.db")))
    }

    @Test("the service is stopped before the merge and started again, on success and on failure")
    func serviceStartedAgain() async throws {
        try await WorkerFixture.with { w in
            let fake = try recordingSystemctl(in: w)
            let service = ["--use-systemctl", "--systemctl-bin", fake.binary, "--service-name", "discovery-api"]
            let failing = try w.layout("service-failing")
            let failed = try await w.run(failing, ["--fail-during-ann-build"] + service)
            #expect(failed.exitCode != 0)
            #expect(lines(fake.calls) == ["stop discovery-api", "start discovery-api"])
            #expect(w.log(failing).contains("injected failure (test only): during ANN build"))

            let succeeding = try w.layout("service-ok")
            let ok = try await w.run(succeeding, service)
            #expect(ok.exitCode == 0)
            #expect(lines(fake.calls) == ["stop discovery-api", "start discovery-api", "stop discovery-api", "start discovery-api"])
            let parsed = WorkerLog.parse(w.log(succeeding))
            #expect(parsed.durations[.serviceStop] != nil && parsed.durations[.serviceStart] != nil)
        }
    }

    @Test("the outage gate stops a run whose crawl reached too few instances before the merge")
    func outageGate() async throws {
        try await WorkerFixture.with { w in
            // Every instance routed to a closed port: the network is "down", the whitelist still served.
            let down = ["--route", "*=127.0.0.1:9", "--max-retries", "0"]
            let gated = try w.layout("outage")
            let before = try DBMetrics.fingerprints(gated.prodDB)
            let outcome = try await w.run(gated, down)
            #expect(outcome.exitCode != 0)
            #expect(outcome.errorLine?.contains("outage gate: the crawl reached 0 of 3 instance(s) (0%), under the required 50%") == true, "\(outcome.errorLine ?? "none")")
            #expect(!w.log(gated).contains("run: merge_db"))
            #expect(try DBMetrics.fingerprints(gated.prodDB) == before)
            #expect(RunLock.state(at: gated.lockFile) == .free)

            // Lowered to 0, the same run goes through (and merges nothing new from the crawl).
            let open = try w.layout("outage-gate-off")
            let passed = try await w.run(open, down + ["--min-reached-share", "0"])
            #expect(passed.exitCode == 0, "\(passed.errorLine ?? "")")
            #expect(w.log(open).contains("outage gate: the crawl reached 0 of 3 instance(s) (0%); required 0%"))
        }
    }

    @Test("SIGTERM mid-run starts the stopped service, releases the lock and leaves prod untouched")
    func sigterm() async throws {
        try await WorkerFixture.with { w in
            let fake = try recordingSystemctl(in: w, stopDelay: 20)
            let layout = try w.layout("sigterm")
            let before = try DBMetrics.fingerprints(layout.prodDB)
            let worker = Task {
                try await w.run(layout, ["--use-systemctl", "--systemctl-bin", fake.binary, "--service-name", "discovery-api"])
            }
            // Wait until the worker is inside the service stop, i.e. just before the merge.
            let deadline = Date().addingTimeInterval(60)
            while !lines(fake.calls).contains("stop discovery-api"), Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            guard case .held(let pid?) = RunLock.state(at: layout.lockFile) else {
                Issue.record("the worker does not hold the lock")
                return
            }
            kill(pid, SIGTERM)
            let outcome = try await worker.value
            #expect(outcome.exitCode == 128 + SIGTERM)
            #expect(lines(fake.calls) == ["stop discovery-api", "start discovery-api"])
            #expect(RunLock.state(at: layout.lockFile) == .free)
            #expect(try DBMetrics.fingerprints(layout.prodDB) == before)
        }
    }

    @Test("a second worker on the same prod is refused and touches nothing")
    func secondWorkerRefused() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("busy")
            let lock = try RunLock.acquire(at: layout.lockFile, logger: quietLogger)
            defer { lock.release() }
            let before = try DBMetrics.fingerprints(layout.prodDB)
            let outcome = try await w.run(layout)
            #expect(outcome.exitCode != 0)
            #expect(outcome.errorLine?.contains("another updater run is active") == true)
            #expect(!FileManager.default.fileExists(atPath: layout.stagingDB))
            #expect(try DBMetrics.fingerprints(layout.prodDB) == before)
        }
    }

    @Test("--resume-staging keeps staging, and re-running a merged staging changes no prod row")
    func resumeStaging() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("resume")
            #expect(try await w.run(layout).exitCode == 0)
            let merged = try DBMetrics.fingerprints(layout.prodDB)
            let again = try await w.run(layout, ["--resume-staging"])
            #expect(again.exitCode == 0)
            #expect(w.log(layout).contains("(--resume-staging)"))
            #expect(w.log(layout).contains("staging deltas (new keys vs prod): instances=+0 channels=+0 videos=+0 video_embeddings=+0"))
            #expect(try DBMetrics.fingerprints(layout.prodDB) == merged)
        }
    }

    @Test("--skip-local-dead leaves out hosts whose prod health is not ok")
    func skipLocalDead() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("dead")
            let dead = w.fixture.mini.hosts[0]
            try await DatabaseFile.open(layout.prodDB, role: "test", access: .readWrite).write { db in
                try db.execute(sql: "UPDATE instances SET health_status = ' Unreachable ' WHERE host = ?", arguments: [dead])
                try db.execute(sql: "UPDATE instances SET health_status = 'OK' WHERE host <> ?", arguments: [dead])
            }
            #expect(try await w.run(layout, ["--skip-local-dead"]).exitCode == 0)
            #expect(w.log(layout).contains("skip-local-dead: removed 1 host(s) whose prod health is not ok: \(dead)"))
            #expect(try count(layout.stagingDB, "SELECT count(*) FROM videos WHERE instance_domain = ?", [dead]) == 0)
            #expect(try count(layout.stagingDB, "SELECT count(*) FROM videos WHERE instance_domain <> ?", [dead]) > 0)
        }
    }
}

/// Workers and readers at the same time.
@Suite("Worker concurrency", .serialized)
struct WorkerConcurrencyTests {
    @Test("two workers started at once on one prod: exactly one runs, the other is refused")
    func twoWorkersAtOnce() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("twins")
            var twin = layout
            twin.stderrName = "twin.stderr.log"
            async let first = w.run(layout)
            async let second = w.run(twin)
            let outcomes = try await [first, second]
            #expect(outcomes.filter { $0.exitCode == 0 }.count == 1)
            let refused = try #require(outcomes.first { $0.exitCode != 0 })
            #expect(refused.errorLine?.contains("another updater run is active") == true, "\(refused.errorLine ?? "")")
            // Prod holds exactly one merge of the run that worked.
            let checks = try w.checks(layout, try #require(outcomes.first { $0.exitCode == 0 }), injected: false)
            for name in ["merge_instances", "merge_channels", "merge_videos", "merge_video_embeddings"] {
                #expect(checks[name]?.passed == true, "\(name): \(checks[name]?.detail ?? "missing")")
            }
            #expect(RunLock.state(at: layout.lockFile) == .free)
        }
    }

    @Test("a reader holding prod open in WAL mode: the worker still merges, the reader always sees a consistent prod")
    func readerInWALMode() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("reader")
            let reader = try DatabaseQueue(path: layout.prodDB)
            try await reader.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
            let (videos0, embeddings0) = try await reader.read { db in
                (try db.rowCount(of: "videos"), try db.rowCount(of: "video_embeddings"))
            }
            #expect(videos0 == embeddings0)
            let worker = Task { try await w.run(layout) }
            var reads = 0, inconsistent = 0
            var seen = Set<Int>()
            let deadline = Date().addingTimeInterval(120)  // a worker that dies unlogged must not hang the test
            while Date() < deadline {
                // A long read transaction each time: the merge must not wait for it, nor break it.
                let (videos, embeddings) = try await reader.read { db in
                    let videos = try db.rowCount(of: "videos")
                    Thread.sleep(forTimeInterval: 0.05)
                    return (videos, try db.rowCount(of: "video_embeddings"))
                }
                reads += 1
                seen.insert(videos)
                if videos != embeddings { inconsistent += 1 }
                if lines(layout.workerLog).contains(where: { $0.contains(WorkerLog.completedPrefix) || $0.contains("worker failed") }) { break }
            }
            let outcome = try await worker.value
            #expect(outcome.exitCode == 0, "\(outcome.errorLine ?? "")")
            #expect(reads > 10)
            #expect(inconsistent == 0)
            #expect(seen.isSubset(of: [videos0, try count(layout.prodDB, "SELECT count(*) FROM videos")]))
            #expect(try count(layout.prodDB, "SELECT count(*) FROM videos") > videos0)
        }
    }
}
}
