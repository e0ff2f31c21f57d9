import PeerTubeUpdater
import SmokeHarness
import Testing

/// The report's documented shape (`SmokeReportSchema`): a conforming report has no problems, and each
/// kind of drift is named by its key.
@Suite struct SmokeReportSchemaTests {
    static let conforming: JSONValue = .object([
        "run_id": .string("20260101-000000-abcd"), "status": .string("pass"), "mode": .string("cpu"),
        "started_at": .string("2026-01-01T00:00:00Z"), "host_count": .int(1), "hosts": .array([.string("tilvids.com")]),
        "artifacts": .object(["report": .string("/x/report.json"), "run_dir_removed": .bool(true)]),
        "timings_ms": .object(["worker_total": .int(3000), "worker_process": .int(3100), "stages": .object(["merge_db": .int(12)])]),
        "checks": .object(["exit_code_zero": .object(["pass": .bool(true), "value": .int(0)])]),
        "failure_scenarios": .object(["before_merge": .object([
            "rc": .int(1), "duration_ms": .int(900), "db_unchanged": .bool(true), "lock_released": .bool(true),
            "integrity_ok": .bool(true), "pass": .bool(true), "no_temporary_files": .bool(true)])]),
        "day_two": .object(["rc": .int(0), "duration_ms": .int(9000), "pass": .bool(true),
                            "checks": .object(["day_two_new_title": .object(["pass": .bool(true), "value": .string("t")])])]),
        "serving_during_update": .object([
            "pass": .bool(true), "requests": .int(140), "during_update": .int(40), "failed": .int(0), "inconsistent": .int(0),
            "rate_per_s": .int(25), "generations_seen": .array([.int(1), .int(2)]),
            "latency_ms": .object(["during_update": .object(["p50": .double(12.5), "p99": .double(70)]),
                                   "outside_update": .object(["p50": .double(9.1), "p99": .int(40)])]),
            "stop": .object(["rc": .int(0), "ms": .int(520), "killed": .bool(false), "clean": .bool(true)]),
            "checks": .object(["serving_zero_failed": .object(["pass": .bool(true), "value": .int(0)])])]),
        "metrics": .object(["before": .object([:]), "after": .null, "staging": .null]),
        "options": .object([:]),
    ])

    private func changed(_ key: String, _ value: JSONValue?) -> JSONValue {
        var top = Self.conforming.members!
        top[key] = value
        return .object(top)
    }

    @Test func aConformingReportHasNoProblems() {
        #expect(SmokeReportSchema.problems(in: Self.conforming) == [])
        #expect(SmokeReportSchema.problems(in: changed("failure_scenarios", .object(["skipped": .bool(true)]))) == [])
        #expect(SmokeReportSchema.problems(in: changed("day_two", .object(["skipped": .bool(true)]))) == [])
        #expect(SmokeReportSchema.problems(in: changed("day_two", .object(["ran": .bool(false)]))) == [])
        #expect(SmokeReportSchema.problems(in: changed("serving_during_update", .object(["skipped": .bool(true)]))) == [])
    }

    @Test func driftIsNamedByKey() {
        var artifacts = Self.conforming["artifacts"]!.members!
        artifacts["run_dir_removed"] = .string("true")
        #expect(SmokeReportSchema.problems(in: changed("artifacts", .object(artifacts))) == ["artifacts.run_dir_removed: string, expected boolean"])
        #expect(SmokeReportSchema.problems(in: changed("status", nil)).contains("status: missing"))
        #expect(SmokeReportSchema.problems(in: changed("status", .string("fail"))) == ["error: missing"])
        #expect(SmokeReportSchema.problems(in: changed("host_count", .string("1"))) == ["host_count: string, expected integer"])
        #expect(SmokeReportSchema.problems(in: changed("day_two", .object(["rc": .int(0), "duration_ms": .int(1), "pass": .string("yes"),
                                                                           "checks": .object([:])]))) == ["day_two.pass: string, expected boolean"])
        #expect(SmokeReportSchema.problems(in: changed("day_two", nil)) == ["day_two: missing"])
        var serving = Self.conforming["serving_during_update"]!.members!
        serving["failed"] = .string("0")
        serving["latency_ms"] = .object(["during_update": .object(["p50": .double(1)])])
        #expect(SmokeReportSchema.problems(in: changed("serving_during_update", .object(serving))) == [
            "serving_during_update.failed: string, expected integer",
            "serving_during_update.latency_ms.during_update.p99: missing",
            "serving_during_update.latency_ms.outside_update.p50: missing",
            "serving_during_update.latency_ms.outside_update.p99: missing",
        ])
        var stopped = Self.conforming["serving_during_update"]!.members!
        stopped["stop"] = .object(["rc": .int(143), "ms": .int(10_000), "killed": .string("yes")])
        #expect(SmokeReportSchema.problems(in: changed("serving_during_update", .object(stopped))) == [
            "serving_during_update.stop.clean: missing", "serving_during_update.stop.killed: string, expected boolean",
        ])
    }
}
