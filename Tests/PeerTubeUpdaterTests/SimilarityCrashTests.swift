import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

extension Integration {
    /// An incremental similarity run killed (SIGKILL) inside its transaction on the live cache: the
    /// cache is whole and as before, and the next run completes the update.
    @Suite struct SimilarityCrashTests {
        @Test func aKillInsideTheLiveUpdateLeavesTheOldCache() async throws {
            let corpus = try TopicCorpus()
            try corpus.add(0..<300)
            try corpus.buildIndex()
            _ = try corpus.precompute(.reset)
            let before = try corpus.lists()
            try corpus.add(300..<340)
            try corpus.buildIndex()

            let arguments = ["similarity", "--db", corpus.prod, "--index", corpus.index, "--out", corpus.cache, "--incremental"]
            let killed = try await runUpdaterAsync(arguments, environment: [FaultPlan.killEnvironmentVariable: "\(FaultPoint.similarityBatch.name):1"])
            #expect(killed.status != 0)
            #expect(try corpus.lists() == before)  // the uncommitted batch is not there
            let integrity = try await DatabaseFile.open(corpus.cache, role: "test", access: .readOnly).read { db in try db.integrityCheck() }
            #expect(integrity == ["ok"])

            let resumed = try await runUpdaterAsync(arguments)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let after = try corpus.lists()
            #expect(after.count == 340 && after.values.allSatisfy { $0.count == 20 })
        }
    }
}
