import Foundation
import PeerTubeUpdater
import SmokeHarness
import Testing

/// The smoke suite: the whole worker, as a child process, against a mini-prod and the simulated federation.
/// Flags come from SMOKE_ARGS (`make smoke-help`); the report is tmp/orchestrator-smoke/last-report.json.
/// Each test is one phase of the session, bounded by its time limit (`SmokeTimeLimits`).
@Suite("Smoke", .serialized, SmokeScope())
struct Smoke {
    @Test("main run: every PASS check of the spec holds")
    func mainRun() async throws {
        let session = try #require(SmokeSession.current)
        let run = try await session.phase(.mainRun) { try await MainRun.run(on: $0) }
        session.record(main: run)
        for check in run.checks {
            #expect(check.passed, "\(check.name): \(check.detail)")
        }
    }

    @Test("failure scenario: non-zero exit, lock released, integrity ok, prod whole",
          .enabled(if: (try? SmokeOptions.fromEnvironment().skipFailureChecks) != true),
          arguments: FailureScenario.allCases)
    func failureScenario(_ scenario: FailureScenario) async throws {
        let session = try #require(SmokeSession.current)
        let result = try await session.phase(.failureScenario(scenario)) { try await scenario.run(on: $0) }
        session.record(result)
        #expect(result.passed, "\(scenario): \(result.problems.joined(separator: "; "))")
    }

    @Test("day two: run --refresh brings upstream changes and deletions into prod, the index and every list",
          .enabled(if: (try? SmokeOptions.fromEnvironment().skipFailureChecks) != true))
    func dayTwo() async throws {
        let session = try #require(SmokeSession.current)
        let result = try await session.phase(.dayTwo) { try await DayTwoScenario.run(on: $0) }
        session.record(dayTwo: result)
        for check in result.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
    }
}

/// Builds the shared fixture once for the suite, and writes the report after its last test.
struct SmokeScope: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        try await SmokeSession.withSession(repositoryRoot: root, function)
    }
}
