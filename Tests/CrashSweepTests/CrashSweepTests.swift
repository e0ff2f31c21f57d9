import Foundation
import Logging
import PeerTubeUpdater
import SmokeHarness
import Testing

/// The real worker killed with SIGKILL at points spread over every stage, then run again.
/// `make test` runs the short list; `make test-crash` (CRASH_SWEEP=long) the long one.
@Suite("Crash sweep (SIGKILL)", .serialized)
struct CrashSweepTests {
    /// `point:n` for `PEERTUBE_UPDATER_KILL_AT` (see `FaultPlan`), or `time:<ms>` for a wall-clock kill.
    static let short = [
        "stage:instances_crawl:1", "crawl-page:3", "stage:embeddings_build:1", "embeddings-batch:1",
        "merge-table:2", "merge-table:4", "stage:popularity_recompute:1", "ann-trained:1",
        "publish:index.faiss:1", "similarity-batch:1",
    ]
    static let long = short + WorkerStage.required.map { "stage:\($0.rawValue):1" } + [
        "crawl-page:1", "crawl-page:2", "crawl-page:6", "crawl-page:10", "crawl-page:15", "crawl-page:20", "crawl-page:25",
        "merge-table:1", "merge-table:3", "ann-indexWritten:1", "publish:index.faiss.json:1", "publish:similarity.db:1",
    ] + randomKillTimes(20)

    /// The seed of the wall-clock kills: `CRASH_SWEEP_SEED` to replay a run, else a new one (printed).
    static let seed = ProcessInfo.processInfo.environment["CRASH_SWEEP_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...999_999)

    /// `count` random wall-clock kills spread over a worker run (2.5–4 s here): one drawn in each of
    /// `count` equal slices of 80…2,000 ms. The same seed gives the same times.
    static func randomKillTimes(_ count: Int) -> [String] {
        var generator = SplitMix64(state: seed)
        let slice = (2_000 - 80) / count
        return (0..<count).map { "time:\(80 + $0 * slice + Int(generator.next() % UInt64(slice)))" }
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let quietLogger = Logger(label: "crash-sweep") { _ in SwiftLogNoOpLogHandler() }

    static var points: [String] { ProcessInfo.processInfo.environment["CRASH_SWEEP"] == "long" ? long : short }

    @Test("SIGKILL anywhere: sound DBs, prod before or fully merged, artifacts whole, stale lock; the next run recovers")
    func sweep() async throws {
        try await WorkerFixture.with(repositoryRoot: Self.repositoryRoot) { w in
            // Yesterday's published artifacts, built for the before-snapshot: a kill must leave them, or
            // complete new ones, in place.
            let baseline = try w.layout("baseline")
            _ = try ANNBuild.run(dbPath: baseline.prodDB, indexPath: baseline.indexPath, metaPath: baseline.indexMetaPath,
                                 options: .init(nlist: w.fixture.options.nlist, lowerNlistToFit: true), logger: Self.quietLogger)
            _ = try SimilarityPrecompute.run(dbPath: baseline.prodDB, indexPath: baseline.indexPath, outPath: baseline.similarityDB,
                                             logger: Self.quietLogger)
            let reference = try w.layout("reference")
            #expect(try await w.run(reference).exitCode == 0)
            let expectedCounts = try DBMetrics.of(reference.prodDB)
            let expectedTotal = try ANNMeta.read(reference.indexMetaPath).total
            let expectedRecall = try Self.recall(reference)
            let before = try DBMetrics.fingerprints(w.fixture.beforeSnapshot)

            var tried = 0, killed = 0, corruptions = 0, recoveries = 0
            for (number, point) in Self.points.enumerated() {
                let layout = try w.layout("kill-\(number)")
                for (from, to) in [(baseline.indexPath, layout.indexPath), (baseline.indexMetaPath, layout.indexMetaPath),
                                   (baseline.similarityDB, layout.similarityDB)] {
                    try FileCopy.copy(from, to: to)
                }
                let outcome: WorkerProcess.Outcome
                if point.hasPrefix("time:"), let ms = Double(point.dropFirst(5)) {
                    outcome = try await w.run(layout, timeLimit: ms / 1000)
                } else {
                    outcome = try await w.run(layout, environment: [FaultPlan.killEnvironmentVariable: point])
                }
                tried += 1
                guard outcome.exitCode == SIGKILL else {
                    // A wall-clock kill after the end, or a point this data never reaches.
                    #expect(point.hasPrefix("time:"), "\(point): not reached (exit \(outcome.exitCode))")
                    print("crash sweep: \(point) came after the run ended (exit \(outcome.exitCode))")
                    continue
                }
                killed += 1
                let problems = try Self.afterKill(layout, before: before, w: w)
                if !problems.isEmpty { corruptions += 1 }
                #expect(problems.isEmpty, "\(point): \(problems.joined(separator: "; "))")

                let again = try await w.run(layout)
                let failed = try Self.afterRecovery(layout, again, w: w)
                let same = try DBMetrics.of(layout.prodDB) == expectedCounts && ANNMeta.read(layout.indexMetaPath).total == expectedTotal
                // Lists of the same quality: recall@20 against exact search within 2 points of the unkilled run's.
                let recall = again.exitCode == 0 ? try Self.recall(layout) : 0
                let asGood = recall >= expectedRecall - 0.02
                if again.exitCode == 0 && failed.isEmpty && same && asGood { recoveries += 1 }
                #expect(again.exitCode == 0 && failed.isEmpty, "\(point): the next run did not recover: \(failed)")
                #expect(same, "\(point): recovered prod or index differs from a run never killed")
                #expect(asGood, "\(point): similarity recall \(recall) after recovery, \(expectedRecall) without a kill")
                try? FileManager.default.removeItem(atPath: layout.folder)
            }
            print("crash sweep: wall-clock kills from seed \(Self.seed) (CRASH_SWEEP_SEED to replay)")
            print("crash sweep: similarity recall@20 of the unkilled run \(String(format: "%.3f", expectedRecall))")
            print("crash sweep: \(tried) kill points tried, \(killed) killed the worker, \(corruptions) corruptions, \(recoveries)/\(killed) recoveries")
            #expect(killed >= Self.points.count * 8 / 10)
        }
    }

    /// Recall@20 of a layout's similarity cache against exact search over its prod.
    static func recall(_ layout: WorkerLayout) throws -> Double {
        SimilarityQuality.recall(try SimilarityQuality.cachedLists(cachePath: layout.similarityDB),
                                 against: try SimilarityQuality.exactLists(prodPath: layout.prodDB))
    }

    /// What must hold after the next, unkilled run. Its staging knows nothing of a merge the killed run
    /// committed, so the delta checks are left to the comparison with a never-killed run; the rest must pass.
    static func afterRecovery(_ layout: WorkerLayout, _ outcome: WorkerProcess.Outcome, w: WorkerFixture) throws -> [String] {
        try w.checks(layout, outcome, injected: false).values.compactMap { check in
            if check.name == "crawl_found_new_rows" { return nil }
            if check.name.hasPrefix("merge_") {
                let sound = check.value["duplicate_key_groups"] == .int(0) && check.value["changed_existing_rows"] == .int(0)
                return sound ? nil : "\(check.name): \(check.detail)"
            }
            return check.passed ? nil : "\(check.name): \(check.detail)"
        }
    }

    /// What must hold right after a SIGKILL.
    static func afterKill(_ layout: WorkerLayout, before: [TableFingerprint], w: WorkerFixture) throws -> [String] {
        var problems: [String] = []
        let integrity = try SmokeChecks.integrity(["prod": layout.prodDB, "staging": layout.stagingDB, "similarity": layout.similarityDB])
        if !integrity.passed { problems.append(integrity.detail) }
        // Prod: untouched, or exactly what merging this staging produces; never half a merge.
        if try DBMetrics.fingerprints(layout.prodDB) != before {
            let merge = try SmokeChecks.mergeRules(prodPath: layout.prodDB, beforePath: w.fixture.beforeSnapshot,
                                                   stagingPath: layout.stagingDB, rules: w.fixture.rules, requireOverlap: false)
            for check in merge where !check.passed { problems.append("prod changed but \(check.name): \(check.detail)") }
        }
        // Index and meta: complete, readable, agreeing; the cache names no video prod lacks.
        do {
            let index = try FaissIndex.read(layout.indexPath)
            let meta = try ANNMeta.read(layout.indexMetaPath)
            if index.count != meta.total { problems.append("index holds \(index.count) vectors, meta says \(meta.total)") }
        } catch {
            problems.append("index or meta unreadable: \(error)")
        }
        let coverage = try SmokeChecks.similarityCoverage(similarityPath: layout.similarityDB, prodPath: layout.prodDB)
        if coverage.value["dangling_neighbours"] != .int(0) { problems.append("similarity cache: \(coverage.detail)") }
        if case .held = RunLock.state(at: layout.lockFile) { problems.append("the lock still looks held") }
        return problems
    }
}
