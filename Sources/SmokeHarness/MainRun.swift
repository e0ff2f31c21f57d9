import Foundation
import PeerTubeUpdater

/// The main run: the worker with `--inject-replace-embedding-for-test` on the mini-prod, then every
/// PASS check of the smoke suite (README, "The Smoke suite").
public struct MainRun: Sendable {
    public var exitCode: Int32
    public var durationMs: Int
    public var log: WorkerLog.Parsed
    public var checks: [SmokeCheck]
    public var metricsAfter: JSONValue
    public var metricsStaging: JSONValue

    public var passed: Bool { checks.allSatisfy(\.passed) }

    public static func run(on fixture: SmokeFixture) async throws -> MainRun {
        let layout = fixture.main
        let outcome = try await fixture.worker.run(fixture.workerArguments(layout, extra: ["--inject-replace-embedding-for-test"]), layout: layout, logger: fixture.logger)
        let log = WorkerLog.parse((try? String(contentsOfFile: layout.workerLog, encoding: .utf8)) ?? "")
        let checks = try evaluate(layout, log: log, exitCode: outcome.exitCode, errorLine: outcome.errorLine,
                                  beforePath: fixture.beforeSnapshot, rules: fixture.rules, device: fixture.device, injected: true)
        for check in checks where !check.passed { fixture.logger.error("smoke: check \(check.name) FAILED: \(check.detail)") }
        fixture.logger.info("smoke: main run rc=\(outcome.exitCode) in \(outcome.durationMs)ms; \(checks.filter(\.passed).count)/\(checks.count) checks pass")
        return MainRun(exitCode: outcome.exitCode, durationMs: outcome.durationMs, log: log, checks: checks,
                       metricsAfter: try DBMetrics.of(layout.prodDB), metricsStaging: try DBMetrics.of(layout.stagingDB))
    }

    /// Every check of a finished worker run. Checks that need an artifact the run did not produce
    /// fail with the reason instead of throwing, so one report lists every problem.
    public static func evaluate(_ layout: WorkerLayout, log: WorkerLog.Parsed, exitCode: Int32, errorLine: String?,
                                beforePath: String, rules: MergeRuleSet, device: ComputeDevice, injected: Bool) throws -> [SmokeCheck] {
        func guarded(_ name: String, _ body: () throws -> SmokeCheck) -> SmokeCheck {
            do { return try body() } catch { return SmokeCheck(name, passed: false, detail: "\(error)") }
        }
        var checks = [
            SmokeChecks.exitStatus(exitCode, errorLine: errorLine),
            SmokeChecks.logMarkers(log),
            SmokeChecks.deviceMarkers(log, device: device),
            SmokeChecks.artifactsExist(layout),
            guarded("ann_meta_total") { try SmokeChecks.annTotal(metaPath: layout.indexMetaPath, indexPath: layout.indexPath, prodPath: layout.prodDB) },
            guarded("ann_ids_resolve") { try SmokeChecks.annIDsResolve(indexPath: layout.indexPath, prodPath: layout.prodDB) },
            guarded("similarity_coverage") { try SmokeChecks.similarityCoverage(similarityPath: layout.similarityDB, prodPath: layout.prodDB) },
        ]
        do {
            let invariants = try MergeInvariants.check(prodPath: layout.prodDB, beforePath: beforePath,
                                                       stagingPath: layout.stagingDB, rules: rules)
            checks += SmokeChecks.mergeRules(invariants, requireOverlap: injected)
            checks.append(SmokeChecks.crawlFoundNewRows(invariants))
        } catch {
            checks.append(SmokeCheck("merge_rules", passed: false, detail: "\(error)"))
            checks.append(SmokeCheck("crawl_found_new_rows", passed: false, detail: "\(error)"))
        }
        checks.append(SmokeChecks.lockReleased(layout.lockFile))
        checks.append(guarded("integrity_ok") {
            try SmokeChecks.integrity(["prod": layout.prodDB, "staging": layout.stagingDB, "similarity": layout.similarityDB])
        })
        checks.append(SmokeChecks.noTemporaryFiles(in: layout.folder))
        return checks
    }
}
