import PeerTubeUpdater

/// The shape of `report.json` / `last-report.json`, checked before the report is written (a report
/// that drifts from it fails the smoke run), and documented in the README:
///
/// | key | type |
/// |---|---|
/// | `run_id` | string (null when no run directory was made) |
/// | `status` | `"pass"` or `"fail"` |
/// | `error` | string, only when `status` is `"fail"` |
/// | `mode` | `"cpu"` or `"gpu"` |
/// | `started_at` | string (ISO 8601) |
/// | `host_count` | integer; `hosts`: array of strings |
/// | `artifacts` | object of strings (paths), and `run_dir_removed`: boolean `true` when the run folder was removed |
/// | `timings_ms` | `worker_total`: integer or null, `worker_process`: integer, `stages`: object of integers |
/// | `checks` | object: each `{pass: boolean, value: any, detail?: string}` |
/// | `failure_scenarios` | `{skipped: true}`, or per scenario `{rc, duration_ms: integers, db_unchanged, lock_released, integrity_ok, pass, no_temporary_files: booleans, merge_complete?: boolean}` or `{ran: false}` |
/// | `day_two` | `{skipped: true}` (with the failure scenarios), `{ran: false}`, or `{rc, duration_ms: integers, pass: boolean, checks: object}` (checks shaped as above) |
/// | `serving_during_update` | `{skipped: true}` (with the failure scenarios), `{ran: false}`, or `{pass: boolean, requests, during_update, failed, inconsistent, rate_per_s: integers, generations_seen: array of integers, latency_ms: {during_update, outside_update: {p50, p99: numbers}}, stop: {rc, ms: integers, killed, clean: booleans}, checks: object}` |
/// | `metrics` | `before`, `after`, `staging`: object or null |
/// | `options` | object |
public enum SmokeReportSchema {
    /// Every way `report` departs from the schema, as `key: problem` lines (empty: it conforms).
    public static func problems(in report: JSONValue) -> [String] {
        var problems: [String] = []
        func expect(_ path: String, _ value: JSONValue?, _ allowed: [Kind], optional: Bool = false) {
            guard let value else {
                if !optional { problems.append("\(path): missing") }
                return
            }
            if !allowed.contains(Kind(value)) {
                problems.append("\(path): \(Kind(value)), expected \(allowed.map(\.rawValue).joined(separator: " or "))")
            }
        }
        guard case .object(let top) = report else { return ["report: not an object"] }
        expect("run_id", top["run_id"], [.string, .null])
        expect("status", top["status"], [.string])
        if let status = top["status"]?.string, status != "pass", status != "fail" { problems.append("status: \(status), expected pass or fail") }
        expect("error", top["error"], [.string], optional: top["status"]?.string != "fail")
        expect("mode", top["mode"], [.string])
        expect("started_at", top["started_at"], [.string])
        expect("host_count", top["host_count"], [.integer])
        expect("hosts", top["hosts"], [.array])
        top["hosts"]?.array?.enumerated().forEach { expect("hosts[\($0)]", $1, [.string]) }
        expect("artifacts", top["artifacts"], [.object])
        for (key, value) in top["artifacts"]?.members ?? [:] {
            expect("artifacts.\(key)", value, key == "run_dir_removed" ? [.boolean] : [.string])
        }
        expect("timings_ms", top["timings_ms"], [.object])
        expect("timings_ms.worker_total", top["timings_ms"]?["worker_total"], [.integer, .null])
        expect("timings_ms.worker_process", top["timings_ms"]?["worker_process"], [.integer], optional: true)
        expect("timings_ms.stages", top["timings_ms"]?["stages"], [.object])
        for (key, value) in top["timings_ms"]?["stages"]?.members ?? [:] { expect("timings_ms.stages.\(key)", value, [.integer]) }
        expect("checks", top["checks"], [.object])
        for (name, check) in top["checks"]?.members ?? [:] {
            expect("checks.\(name)", check, [.object])
            expect("checks.\(name).pass", check["pass"], [.boolean])
            expect("checks.\(name).value", check["value"], Kind.allCases)
            expect("checks.\(name).detail", check["detail"], [.string], optional: true)
        }
        expect("failure_scenarios", top["failure_scenarios"], [.object])
        if let scenarios = top["failure_scenarios"]?.members, scenarios["skipped"] == nil {
            for (name, result) in scenarios {
                expect("failure_scenarios.\(name)", result, [.object])
                if result["ran"] != nil { expect("failure_scenarios.\(name).ran", result["ran"], [.boolean]); continue }
                for key in ["rc", "duration_ms"] { expect("failure_scenarios.\(name).\(key)", result[key], [.integer]) }
                for key in ["db_unchanged", "lock_released", "integrity_ok", "pass", "no_temporary_files"] {
                    expect("failure_scenarios.\(name).\(key)", result[key], [.boolean])
                }
                expect("failure_scenarios.\(name).merge_complete", result["merge_complete"], [.boolean], optional: true)
            }
        } else {
            expect("failure_scenarios.skipped", top["failure_scenarios"]?["skipped"], [.boolean])
        }
        expect("day_two", top["day_two"], [.object])
        if let dayTwo = top["day_two"]?.members, dayTwo["skipped"] == nil, dayTwo["ran"] == nil {
            for key in ["rc", "duration_ms"] { expect("day_two.\(key)", dayTwo[key], [.integer]) }
            expect("day_two.pass", dayTwo["pass"], [.boolean])
            expect("day_two.checks", dayTwo["checks"], [.object])
            for (name, check) in dayTwo["checks"]?.members ?? [:] {
                expect("day_two.checks.\(name).pass", check["pass"], [.boolean])
                expect("day_two.checks.\(name).value", check["value"], Kind.allCases)
            }
        } else if let dayTwo = top["day_two"]?.members {
            expect("day_two.skipped|ran", dayTwo["skipped"] ?? dayTwo["ran"], [.boolean])
        }
        expect("serving_during_update", top["serving_during_update"], [.object])
        if let serving = top["serving_during_update"]?.members, serving["skipped"] == nil, serving["ran"] == nil {
            expect("serving_during_update.pass", serving["pass"], [.boolean])
            for key in ["requests", "during_update", "failed", "inconsistent", "rate_per_s"] {
                expect("serving_during_update.\(key)", serving[key], [.integer])
            }
            expect("serving_during_update.generations_seen", serving["generations_seen"], [.array])
            for phase in ["during_update", "outside_update"] {
                for key in ["p50", "p99"] {
                    expect("serving_during_update.latency_ms.\(phase).\(key)", serving["latency_ms"]?[phase]?[key], [.number, .integer])
                }
            }
            for (name, check) in serving["checks"]?.members ?? [:] {
                expect("serving_during_update.checks.\(name).pass", check["pass"], [.boolean])
            }
            expect("serving_during_update.stop", serving["stop"], [.object])
            for key in ["rc", "ms"] { expect("serving_during_update.stop.\(key)", serving["stop"]?[key], [.integer]) }
            for key in ["killed", "clean"] { expect("serving_during_update.stop.\(key)", serving["stop"]?[key], [.boolean]) }
        } else if let serving = top["serving_during_update"]?.members {
            expect("serving_during_update.skipped|ran", serving["skipped"] ?? serving["ran"], [.boolean])
        }
        expect("metrics", top["metrics"], [.object])
        for key in ["before", "after", "staging"] { expect("metrics.\(key)", top["metrics"]?[key], [.object, .null]) }
        expect("options", top["options"], [.object])
        return problems.sorted()
    }

    enum Kind: String, CaseIterable {
        case null, boolean, integer, number, string, array, object

        init(_ value: JSONValue) {
            self = switch value {
            case .null: .null
            case .bool: .boolean
            case .int: .integer
            case .double: .number
            case .string: .string
            case .array: .array
            case .object: .object
            }
        }
    }
}
