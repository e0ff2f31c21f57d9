import Foundation
@testable import PeerTubeUpdater
import SmokeHarness
import Testing

extension Integration {
/// Day two on the simulated federation (`DayTwoScenario`, which the Smoke suite also reports): counts
/// changed, a title edited, a video deleted upstream, another host down.
@Suite("Refresh day two", .serialized)
struct RefreshDayTwoTests {
    @Test("run --refresh: new counts and title in prod, only the edited text re-embedded, the deleted video gone everywhere")
    func dayTwo() async throws {
        try await WorkerFixture.with { w in
            let result = try await DayTwoScenario.run(on: w.fixture)
            #expect(result.checks.count == 10)
            for check in result.checks { #expect(check.passed, "\(check.name): \(check.value) \(check.detail)") }
        }
    }
}
}
