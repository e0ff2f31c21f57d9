import Foundation
import GRDB
import SmokeHarness
import Testing
@testable import PeerTubeUpdater

extension Integration {
/// Bad input through the real binary: one line on stderr naming the file and the problem, a non-zero
/// exit, and prod unchanged.
@Suite struct CLITests {
    private func expectCleanFailure(_ result: ProcessResult, mentioning text: String) {
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(text), "stderr: \(result.stderr)")
    }

    @Test func mergeRefusesMissingCorruptAndTablelessDatabases() throws {
        let fixture = try MergeFixture()
        let corrupt = fixture.dir.path("corrupt.db")
        try Data("this is not sqlite, just text long enough to look like a header".utf8).write(to: URL(fileURLWithPath: corrupt))
        let tableless = fixture.dir.path("tableless.db")
        _ = try DatabaseFile.open(tableless, role: "test", access: .create).write { try $0.execute(sql: "CREATE TABLE t(x)") }
        let before = try fingerprints(fixture.prod)

        expectCleanFailure(try runUpdater(["merge", "--prod-db", fixture.dir.path("none.db"), "--staging-db", fixture.staging]),
                           mentioning: "prod DB not found: \(fixture.dir.path("none.db"))")
        expectCleanFailure(try runUpdater(["merge", "--prod-db", corrupt, "--staging-db", fixture.staging]),
                           mentioning: "prod DB \(corrupt) is not a usable SQLite database")
        expectCleanFailure(try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", corrupt]),
                           mentioning: "staging DB \(corrupt) is not a usable SQLite database")
        expectCleanFailure(try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", tableless]),
                           mentioning: "table instances: missing in staging DB")
        #expect(try fingerprints(fixture.prod) == before)
    }

    @Test func serveRefusesAMissingProdACorruptOneAndBadFlags() throws {
        let dir = try TempDir()
        let corrupt = dir.path("corrupt.db")
        try Data("this is not sqlite, just text long enough to look like a header".utf8).write(to: URL(fileURLWithPath: corrupt))
        expectCleanFailure(try runUpdater(["serve", "--prod-db", dir.path("none.db"), "--no-text-search", "--port", "0"]),
                           mentioning: "prod DB not found: \(dir.path("none.db"))")
        expectCleanFailure(try runUpdater(["serve", "--prod-db", corrupt, "--no-text-search", "--port", "0"]),
                           mentioning: "prod DB \(corrupt) is not a usable SQLite database")
        let threads = try runUpdater(["serve", "--threads", "0"])
        #expect(threads.status != 0 && threads.stderr.contains("--threads 0: must be at least 1"), "\(threads.stderr)")
        let count = try runUpdater(["serve", "--max-count", "0"])
        #expect(count.status != 0 && count.stderr.contains("--max-count"), "\(count.stderr)")
    }

    /// Whitelist entries are quoted in log lines and errors: a newline cannot forge a line, an escape
    /// sequence cannot reach the terminal, on stdout and in the log file alike.
    @Test func textFromInputFilesIsEscapedInLogsAndErrors() throws {
        let dir = try TempDir()
        let forged = "evil.example\n2026-01-01T00:00:00.000Z INFO  instances: FORGED LINE"
        let whitelist = dir.path("whitelist.json")
        let entries = [forged, "\u{1b}[31mred.example\u{1b}[0m", "bidi\u{202e}txt.example", "\r\rcarriage", "peertube.tv"]
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: whitelist))
        let log = dir.path("crawl.log")
        let result = try runUpdater(["crawl", "instances", "--db", dir.path("staging.db"), "--whitelist-url", whitelist, "--log-file", log])
        #expect(result.status == 0, "\(result.stderr)")
        let logText = try String(contentsOfFile: log, encoding: .utf8)
        for output in [result.stdout, logText] {
            let lines = output.split(separator: "\n", omittingEmptySubsequences: true)
            #expect(!lines.isEmpty)
            for line in lines {
                #expect(line.wholeMatch(of: /\d{4}-\d\d-\d\dT[0-9:.]+Z (INFO |WARNI|ERROR|NOTIC|DEBUG|TRACE|CRITI).*/) != nil, "forged or broken line: \(line)")
                #expect(!line.contains("\u{1b}") && !line.contains("\r") && !line.contains("\u{202e}"), "\(line)")
            }
            #expect(!lines.contains { $0.hasPrefix("2026-01-01T00:00:00.000Z") })
            #expect(output.contains(#"evil.example\n2026-01-01T00:00:00.000Z INFO  instances: FORGED LINE"#) || output.contains("rejected"))
        }
        #expect(logText.contains(#"\u{1b}[31mred.example"#), "\(logText)")

        // An error that quotes the input: one line on stderr, escaped.
        let bad = dir.path("bad\u{1b}[2J\nname.json")
        try Data("nope\u{1b}[2J".utf8).write(to: URL(fileURLWithPath: bad))
        let failed = try runUpdater(["crawl", "instances", "--db", dir.path("staging2.db"), "--whitelist-url", bad])
        expectCleanFailure(failed, mentioning: #"bad\u{1b}[2J\nname.json"#)
        #expect(!failed.stderr.contains("\u{1b}"))
    }

    /// `peertube-updater smoke`: the Smoke suite's session without a test runner, as a GPU machine
    /// without Swift runs it; its report is the suite's, in the workdir it is given.
    @Test func theSmokeSubcommandRunsTheSessionAndWritesTheReport() async throws {
        let dir = try TempDir()
        let result = try await runUpdaterAsync(["smoke", "--cpu", "--skip-failure-checks", "--workdir", dir.path("smoke"),
                                     "--repository-root", repositoryRoot.path])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: dir.path("smoke/last-report.json"))))
        #expect(report["status"]?.string == "pass")
        #expect(SmokeReportSchema.problems(in: report) == [])
        #expect(report["artifacts"]?["run_dir_removed"] == .bool(true))
        #expect(report["failure_scenarios"]?["skipped"] == .bool(true))
        #expect(report["checks"]?["device_markers"]?["pass"] == .bool(true))
    }

    @Test func mergeRefusesBadRulesFilesByName() throws {
        let fixture = try MergeFixture()
        let malformed = fixture.dir.path("malformed.json")
        try "{\"tables\": [".write(toFile: malformed, atomically: true, encoding: .utf8)
        let unknownTable = fixture.dir.path("unknown-table.json")
        try #"{"tables": [{"name": "videos", "strategy": "INSERT_ONLY", "keys": ["video_id", "instance_domain"]}, {"name": "nope", "strategy": "INSERT_ONLY", "keys": ["id"]}]}"#
            .write(toFile: unknownTable, atomically: true, encoding: .utf8)
        let before = try fingerprints(fixture.prod)

        expectCleanFailure(try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.staging, "--rules", malformed]),
                           mentioning: "merge rules \(malformed): malformed JSON")
        expectCleanFailure(try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.staging, "--rules", unknownTable]),
                           mentioning: "merge rules \(unknownTable): table nope: missing in prod DB")
        expectCleanFailure(try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.staging, "--rules", fixture.dir.path("absent.json")]),
                           mentioning: "file not found")
        #expect(try fingerprints(fixture.prod) == before)
    }

    @Test func popularityNamesADatabaseWithoutVideos() throws {
        let dir = try TempDir()
        let empty = dir.path("empty.db")
        try DatabaseFile.open(empty, role: "test", access: .create).write { try $0.execute(sql: "CREATE TABLE unrelated(x)") }
        expectCleanFailure(try runUpdater(["popularity", "--db", empty]), mentioning: "prod DB \(empty) has no table 'videos'")
        // A 0-byte file is named as what it is.
        let zero = dir.path("zero.db")
        FileManager.default.createFile(atPath: zero, contents: nil)
        expectCleanFailure(try runUpdater(["popularity", "--db", zero]), mentioning: "prod DB \(zero) is an empty file (0 bytes), not a database")
        expectCleanFailure(try runUpdater(["merge", "--prod-db", zero, "--staging-db", zero]), mentioning: "is an empty file (0 bytes)")
    }

    @Test func mergeDryRunPrintsNewRowsAndWritesNothing() throws {
        let fixture = try MergeFixture()
        let before = try fingerprints(fixture.prod)
        let result = try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.staging, "--dry-run"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("videos\tINSERT_ONLY\tnew_rows=2"), "\(result.stdout)")
        #expect(try fingerprints(fixture.prod) == before)
    }

    @Test func stagingInitThenMergeThenPopularityEndToEnd() throws {
        let dir = try TempDir()
        let prod = dir.path("prod.db"), staging = dir.path("staging.db"), log = dir.path("worker.log")
        let generated = try runUpdater(["fixture", "generate", "--prod-db", prod, "--staging-db", staging,
                                        "--videos", "300", "--new-videos", "40", "--channels", "20", "--new-channels", "3"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let merged = try runUpdater(["merge", "--prod-db", prod, "--staging-db", staging, "--log-file", log])
        #expect(merged.status == 0, "\(merged.stderr)")
        let scored = try runUpdater(["popularity", "--db", prod, "--log-file", log])
        #expect(scored.status == 0, "\(scored.stderr)")
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("merged table=videos strategy=INSERT_ONLY rows_before=300 rows_after=340"), "\(lines)")
        #expect(lines.contains("merged table=channels strategy=INSERT_ONLY rows_before=20 rows_after=23"))
        #expect(lines.contains("popularity: scored"))
        let counts = try DatabaseFile.open(prod, role: "test", access: .readOnly).read { db in
            (try db.rowCount(of: "video_embeddings"), try Int.fetchOne(db, sql: "SELECT count(*) FROM videos WHERE popularity = 0"))
        }
        #expect(counts.0 == 340)
        #expect(counts.1 ?? -1 < 10)  // only rows with no views and likes can score 0
    }
}
}
