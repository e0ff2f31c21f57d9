import Foundation
import PeerTubeUpdater
import Synchronization

/// One smoke run: the fixture shared by the suite's tests, what each test found, and the report
/// written at the end: `report.json` in the run directory and always
/// `<workdir>/last-report.json`.
public final class SmokeSession: Sendable {
    /// The session of the running suite (set by the suite's scope for its tests).
    @TaskLocal public static var current: SmokeSession?

    private struct State {
        var fixture: SmokeFixture?
        var main: MainRun?
        var scenarios: [FailureScenario: FailureScenario.Result] = [:]
        var dayTwo: DayTwoScenario.Result?
        var errors: [String] = []
    }

    public let options: SmokeOptions
    public let reportBase: String
    public let run: RunDirectory?
    private let state = Mutex(State())
    private let startedAt = Date()
    /// Every worker and `serve` the session started and has not seen end.
    private let children = ChildProcesses()

    private init(options: SmokeOptions, reportBase: String, run: RunDirectory?) {
        self.options = options
        self.reportBase = reportBase
        self.run = run
    }

    public var fixture: SmokeFixture? { state.withLock { $0.fixture } }

    /// Builds the fixture, runs `body` (the suite's tests) with this session as `current`, then writes
    /// the report. Throws when the report says FAIL, so the suite fails whenever the report does.
    public static func withSession(repositoryRoot: String, options given: SmokeOptions? = nil,
                                   _ body: @Sendable () async throws -> Void) async throws {
        /// Bad SMOKE_ARGS or an unusable workdir: a FAIL report with the reason, and no run.
        func failEarly(_ options: SmokeOptions, base: String, _ error: Error) throws {
            let session = SmokeSession(options: options, reportBase: base, run: nil)
            session.record(error: Remedy.describe(error))
            try session.finish()
        }
        let options: SmokeOptions
        do { options = try given ?? SmokeOptions.fromEnvironment() } catch {
            return try failEarly(try SmokeOptions.parse([]), base: repositoryRoot + "/tmp/orchestrator-smoke", error)
        }
        let base = options.workdir.hasPrefix("/") ? options.workdir : repositoryRoot + "/" + options.workdir
        let run: RunDirectory
        do { run = try RunDirectory(base: base) } catch { return try failEarly(options, base: base, error) }
        let session = SmokeSession(options: options, reportBase: base, run: run)
        do {
            let corpus = try SmokeCorpus(path: repositoryRoot + "/" + SmokeCorpus.defaultPath)
            let limits = SmokeTimeLimits(factor: options.timeLimitFactor, corpusVideos: corpus.videoCount, miniProdVectors: 0)
            let fixture = try await limits.bounded(.fixture, children: session.children) {
                try await SmokeFixture.start(options: options, run: run, repositoryRoot: repositoryRoot, corpus: corpus,
                                             children: session.children)
            }
            session.state.withLock { $0.fixture = fixture }
            do {
                try await $current.withValue(session) { try await body() }
            } catch is PhaseTimeout {
                // `phase` recorded it.
            } catch {
                session.record(error: Remedy.describe(error))
            }
            await fixture.stop()
        } catch {
            session.record(error: Remedy.describe(error))
        }
        try session.finish()
    }

    /// The whole smoke run outside a test runner (`peertube-updater smoke`): the main run, then each
    /// failure scenario (unless skipped), then the report — what the Smoke suite's tests do.
    ///
    /// - Throws: `SmokeError` when the report says FAIL (its `error` says why).
    public static func runAll(options: SmokeOptions, repositoryRoot: String) async throws {
        try await withSession(repositoryRoot: repositoryRoot, options: options) {
            guard let session = current else { return }
            session.record(main: try await session.phase(.mainRun) { try await MainRun.run(on: $0) })
            guard !options.skipFailureChecks else { return }
            for scenario in FailureScenario.allCases {
                session.record(try await session.phase(.failureScenario(scenario)) { try await scenario.run(on: $0) })
            }
            session.record(dayTwo: try await session.phase(.dayTwo) { try await DayTwoScenario.run(on: $0) })
        }
    }

    /// Runs one phase on the fixture within its time limit. A phase past its limit is recorded as the
    /// session's error (naming the phase and the limit) and thrown; what it started is killed.
    ///
    /// - Throws: `PhaseTimeout`, `SmokeError` without a fixture, or what `body` throws.
    public func phase<T: Sendable>(_ phase: SmokePhase, _ body: @escaping @Sendable (SmokeFixture) async throws -> T) async throws -> T {
        guard let fixture else { throw SmokeError("\(phase): the fixture was not built") }
        do {
            return try await fixture.bounded(phase) { try await body(fixture) }
        } catch let timeout as PhaseTimeout {
            record(error: Remedy.describe(timeout))
            throw timeout
        }
    }

    public func record(main: MainRun) { state.withLock { $0.main = main } }
    public func record(_ result: FailureScenario.Result) { state.withLock { $0.scenarios[result.scenario] = result } }
    public func record(dayTwo: DayTwoScenario.Result) { state.withLock { $0.dayTwo = dayTwo } }
    public func record(error: String) { state.withLock { $0.errors.append(error) } }

    // MARK: - Report

    /// The report as JSON; `status` is `pass` only when the main run ran and passed every check, every
    /// scenario ran and passed (or they were skipped), and nothing failed on the way.
    public func report() -> (json: JSONValue, passed: Bool) {
        let snapshot = state.withLock { $0 }
        var errors = snapshot.errors
        if snapshot.fixture != nil && snapshot.main == nil && errors.isEmpty { errors.append("the main run did not run") }
        if let main = snapshot.main {
            let failed = main.checks.filter { !$0.passed }
            if !failed.isEmpty { errors.append("checks failed: " + failed.map { "\($0.name) (\($0.detail))" }.joined(separator: "; ")) }
        }
        var scenarios: JSONValue = .object(["skipped": .bool(true)])
        if !options.skipFailureChecks {
            var object: [String: JSONValue] = [:]
            for scenario in FailureScenario.allCases {
                guard let result = snapshot.scenarios[scenario] else {
                    object[scenario.rawValue] = .object(["ran": .bool(false)])
                    if snapshot.fixture != nil, errors.isEmpty { errors.append("failure scenario \(scenario) did not run") }
                    continue
                }
                object[scenario.rawValue] = result.json
                if !result.passed { errors.append("failure scenario \(scenario): " + result.problems.joined(separator: "; ")) }
            }
            scenarios = .object(object)
        }
        var dayTwo: JSONValue = .object(["skipped": .bool(true)])
        if !options.skipFailureChecks {
            if let result = snapshot.dayTwo {
                dayTwo = result.json
                if !result.passed {
                    errors.append("day two: " + result.checks.filter { !$0.passed }.map { "\($0.name) (\($0.detail))" }.joined(separator: "; "))
                }
            } else {
                dayTwo = .object(["ran": .bool(false)])
                if snapshot.fixture != nil, errors.isEmpty { errors.append("the day-two scenario did not run") }
            }
        }
        var serving: JSONValue = .object(["skipped": .bool(true)])
        if !options.skipFailureChecks {
            if let result = snapshot.dayTwo?.serving {
                serving = result.json
                if !result.passed {
                    errors.append("serving during update: " + result.checks.filter { !$0.passed }.map { "\($0.name) (\($0.detail))" }.joined(separator: "; "))
                }
            } else {
                serving = .object(["ran": .bool(false)])
            }
        }
        let passed = errors.isEmpty
        var report: [String: JSONValue] = [
            "run_id": run.map { .string($0.runID) } ?? .null,
            "status": .string(passed ? "pass" : "fail"),
            "mode": .string((snapshot.fixture?.device ?? options.resolvedDevice).rawValue),
            "started_at": .string(startedAt.formatted(Date.ISO8601FormatStyle())),
            "host_count": .int(Int64(snapshot.fixture?.mini.hosts.count ?? 0)),
            "hosts": .array((snapshot.fixture?.mini.hosts ?? []).map(JSONValue.string)),
            "artifacts": artifacts(snapshot.fixture, passed: passed),
            "timings_ms": timings(snapshot.main),
            "checks": .object(Dictionary(uniqueKeysWithValues: (snapshot.main?.checks ?? []).map { ($0.name, $0.json) })),
            "failure_scenarios": scenarios,
            "day_two": dayTwo,
            "serving_during_update": serving,
            "metrics": .object([
                "before": (try? snapshot.fixture.map { try DBMetrics.of($0.beforeSnapshot) } ?? .null) ?? .null,
                "after": snapshot.main?.metricsAfter ?? .null,
                "staging": snapshot.main?.metricsStaging ?? .null,
            ]),
            "options": options.json,
        ]
        if !passed { report["error"] = .string(errors.joined(separator: " | ")) }
        // A report that drifts from its documented shape fails the run too.
        let schemaProblems = SmokeReportSchema.problems(in: .object(report))
        guard schemaProblems.isEmpty else {
            errors.append("report schema: " + schemaProblems.joined(separator: "; "))
            report["status"] = .string("fail")
            report["error"] = .string(errors.joined(separator: " | "))
            report["artifacts"] = artifacts(snapshot.fixture, passed: false)
            return (.object(report), false)
        }
        return (.object(report), passed)
    }

    private func timings(_ main: MainRun?) -> JSONValue {
        guard let main else { return .object(["worker_total": .null, "stages": .object([:])]) }
        var stages: [String: JSONValue] = [:]
        for (stage, ms) in main.log.durations { stages[stage.rawValue] = .int(Int64(ms)) }
        return .object([
            "worker_total": main.log.totalMs.map { .int(Int64($0)) } ?? .null,
            "worker_process": .int(Int64(main.durationMs)),
            "stages": .object(stages),
        ])
    }

    private func artifacts(_ fixture: SmokeFixture?, passed: Bool) -> JSONValue {
        guard let fixture, let run else { return .object([:]) }
        let main = fixture.main
        let object: [String: String] = [
            "run_dir": run.url.path, "report": run.url.path + "/report.json", "last_report": reportBase + "/last-report.json",
            "smoke_log": run.url.path + "/smoke.log", "worker_log": main.workerLog, "whitelist_http_log": fixture.whitelistLog,
            "whitelist_json": fixture.whitelistJSON, "source_db": fixture.sourceDB, "mini_prod_db": main.prodDB,
            "before_snapshot_db": fixture.beforeSnapshot, "staging_db": main.stagingDB, "index": main.indexPath,
            "index_meta": main.indexMetaPath, "similarity_db": main.similarityDB, "merge_rules": fixture.mergeRulesPath,
            "lock_file": main.lockFile,
        ]
        var artifacts = object.mapValues(JSONValue.string)
        if passed && !options.keepWorkdir { artifacts["run_dir_removed"] = .bool(true) }
        return .object(artifacts)
    }

    /// Writes the report (run directory first, then last-report.json), removes the run directory on a
    /// PASS without --keep-workdir, and throws on FAIL.
    func finish() throws {
        let (report, passed) = self.report()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(report) + Data("\n".utf8)
        if let run { try data.write(to: run.url.appendingPathComponent("report.json"), options: .atomic) }
        try FileManager.default.createDirectory(atPath: reportBase, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: reportBase + "/last-report.json"), options: .atomic)
        let where_ = passed && !options.keepWorkdir ? reportBase + "/last-report.json" : (run?.url.path ?? reportBase) + "/report.json"
        FileHandle.standardError.write(Data("smoke: \(passed ? "PASS" : "FAIL") — report: \(where_)\n".utf8))
        if passed && !options.keepWorkdir { run?.remove() }
        if !passed, case .string(let error)? = report["error"] { throw SmokeError("smoke FAIL: \(error)") }
    }
}
