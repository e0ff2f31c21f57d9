import Foundation
import PeerTubeUpdater

/// The spec's failure scenarios: the worker fails on purpose at one point, on a fresh copy of the
/// before-snapshot. Every one must exit non-zero, release the lock and leave sound DBs.
public enum FailureScenario: String, CaseIterable, Sendable, CustomStringConvertible {
    case beforeMerge = "before_merge"
    case duringANNBuild = "during_ann_build"
    case afterMergeBeforeSimilarity = "after_merge_before_similarity"

    public var description: String { rawValue }

    public var flag: String {
        switch self {
        case .beforeMerge: "--fail-before-merge"
        case .duringANNBuild: "--fail-during-ann-build"
        case .afterMergeBeforeSimilarity: "--fail-after-merge-before-similarity"
        }
    }

    /// Before the merge prod must be untouched; after it prod may (and, here, must fully) have changed.
    public var mergeHappened: Bool { self != .beforeMerge }

    public struct Result: Sendable {
        public var scenario: FailureScenario
        public var exitCode: Int32
        public var durationMs: Int
        public var dbUnchanged: Bool
        public var lockReleased: Bool
        public var integrityOK: Bool
        /// After-merge scenarios: prod holds the whole merge (every rule's invariants hold).
        public var mergeComplete: Bool?
        public var noTemporaryFiles: Bool
        public var errorLine: String?

        public var problems: [String] {
            var list: [String] = []
            if exitCode == 0 { list.append("worker exited 0") }
            if !lockReleased { list.append("lock not released") }
            if !integrityOK { list.append("integrity_check not ok") }
            if scenario == .beforeMerge && !dbUnchanged { list.append("prod changed before the merge") }
            if mergeComplete == false { list.append("prod holds a partial merge") }
            if !noTemporaryFiles { list.append("temporary files left behind") }
            return list
        }

        public var passed: Bool { problems.isEmpty }

        public var json: JSONValue {
            var object: [String: JSONValue] = [
                "rc": .int(Int64(exitCode)), "duration_ms": .int(Int64(durationMs)), "db_unchanged": .bool(dbUnchanged),
                "lock_released": .bool(lockReleased), "integrity_ok": .bool(integrityOK), "pass": .bool(passed),
                "no_temporary_files": .bool(noTemporaryFiles),
            ]
            if let mergeComplete { object["merge_complete"] = .bool(mergeComplete) }
            if let errorLine { object["worker_error"] = .string(errorLine) }
            if !problems.isEmpty { object["problems"] = .array(problems.map(JSONValue.string)) }
            return .object(object)
        }
    }

    /// Runs the scenario on `fixture` in its own folder.
    public func run(on fixture: SmokeFixture) async throws -> Result {
        let layout = try fixture.freshLayout("failure-\(rawValue)")
        let before = try DBMetrics.fingerprints(layout.prodDB)
        let outcome = try await fixture.worker.run(fixture.workerArguments(layout, extra: [flag]), layout: layout, logger: fixture.logger)
        let after = try DBMetrics.fingerprints(layout.prodDB)
        var mergeComplete: Bool?
        if mergeHappened {
            mergeComplete = try SmokeChecks.mergeRules(prodPath: layout.prodDB, beforePath: fixture.beforeSnapshot,
                                                       stagingPath: layout.stagingDB, rules: fixture.rules, requireOverlap: false)
                .allSatisfy(\.passed)
        }
        let integrity = try SmokeChecks.integrity(["prod": layout.prodDB, "staging": layout.stagingDB, "similarity": layout.similarityDB])
        let result = Result(scenario: self, exitCode: outcome.exitCode, durationMs: outcome.durationMs, dbUnchanged: before == after,
                            lockReleased: SmokeChecks.lockReleased(layout.lockFile).passed, integrityOK: integrity.passed,
                            mergeComplete: mergeComplete, noTemporaryFiles: SmokeChecks.noTemporaryFiles(in: layout.folder).passed,
                            errorLine: outcome.errorLine)
        fixture.logger.info("smoke: scenario \(rawValue): rc=\(result.exitCode) db_unchanged=\(result.dbUnchanged) lock_released=\(result.lockReleased) \(result.passed ? "PASS" : "FAIL: " + result.problems.joined(separator: "; "))")
        return result
    }
}
