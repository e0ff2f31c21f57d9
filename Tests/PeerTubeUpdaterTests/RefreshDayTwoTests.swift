import Foundation
@testable import PeerTubeUpdater
import SmokeHarness
import Testing

extension Integration {
/// Day two on the simulated federation (`DayTwoScenario`, which the Smoke suite also reports): counts
/// changed, a title edited, three videos and a channel deleted upstream, another host down (and back
/// on day three); and `serve` loaded at a
/// fixed rate while that update runs (`ServingLoad`: 0 failed requests, every answer the old or the
/// new generation's).
@Suite("Refresh day two", .serialized)
struct RefreshDayTwoTests {
    @Test("run --refresh: new counts and title in prod, only the edited text re-embedded, the deleted video gone everywhere; serve answers throughout")
    func dayTwo() async throws {
        try await WorkerFixture.with { w in
            let result = try await DayTwoScenario.run(on: w.fixture)
            #expect(result.checks.count == 12)
            for check in result.checks { #expect(check.passed, "\(check.name): \(check.value) \(check.detail)") }
            #expect(result.serving.checks.count == 5)
            #expect(result.serving.stop.clean, "serve exits 0 on SIGTERM within its grace period, no concurrency misuse in its log")
            for check in result.serving.checks { #expect(check.passed, "\(check.name): \(check.value) \(check.detail)") }
            #expect(result.serving.generationsSeen.count >= 2, "the old and the new generation answered")
        }
    }
}
}
