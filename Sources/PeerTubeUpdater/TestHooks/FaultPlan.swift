import Foundation
import Synchronization

/// A named point of a run where a test can make it fail or die. Every point is in the list below;
/// the worker reaches the stage points in one place (`WorkerLog.stage`) and the stages reach the
/// few in-stage points where a crash or failure must be proven harmless.
public struct FaultPoint: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    /// What the point means, for the failure's message.
    public let meaning: String

    private init(_ name: String, _ meaning: String) {
        self.name = name
        self.meaning = meaning
    }

    public var description: String { name }

    // MARK: - The points

    /// A worker stage starts (`stage:<name>`).
    public static func stageStart(_ stage: WorkerStage) -> FaultPoint {
        FaultPoint("stage:\(stage.rawValue)", "at the start of \(stage.rawValue)")
    }
    /// Staging is complete and prod untouched: the last moment before the service stop and the merge.
    public static let beforeMerge = FaultPoint("before-merge", "before merge")
    /// A page of videos committed to staging.
    public static let crawlPage = FaultPoint("crawl-page", "after a crawled page")
    /// A batch of embeddings committed to staging.
    public static let embeddingsBatch = FaultPoint("embeddings-batch", "after an embedding batch")
    /// A table merged, the merge transaction still open.
    public static let mergeTable = FaultPoint("merge-table", "inside the merge transaction")
    public static let annTrained = FaultPoint("ann-trained", "during ANN build, trained")
    /// The new index is complete in its temporary file, not yet published.
    public static let annIndexWritten = FaultPoint("ann-indexWritten", "during ANN build, index written but not published")
    /// A batch of similarity lists written to the side file.
    public static let similarityBatch = FaultPoint("similarity-batch", "after a similarity batch")
    /// An artifact complete in its temporary file, not yet renamed (`publish:<file name>`).
    public static func published(_ fileName: String) -> FaultPoint {
        FaultPoint("publish:\(fileName)", "before publishing \(fileName)")
    }

    /// The points a test flag of `run` fails at: `--fail-before-merge`, `--fail-during-ann-build`,
    /// `--fail-after-merge-before-similarity`.
    public static let failBeforeMerge = beforeMerge
    public static let failDuringANNBuild = annIndexWritten
    public static let failAfterMergeBeforeSimilarity = stageStart(.similarityPrecompute)
}

/// A failure the fault plan raised on purpose.
public struct InjectedFailure: Error, CustomStringConvertible {
    public var point: FaultPoint
    public var description: String { "injected failure (test only): \(point.meaning) (\(point.name))" }
}

/// What happens at the points of this process: nothing, unless a test asked.
///
/// - `fail(at:)` (the worker's test-only `--fail-*` flags): reaching the point throws `InjectedFailure`.
/// - `PEERTUBE_UPDATER_KILL_AT=<point>:<n>` in the environment (the SIGKILL sweep): the n-th time the
///   process reaches `<point>` it kills itself with SIGKILL — no cleanup, no flush, exactly what a
///   power cut or the OOM killer does.
/// - `PEERTUBE_UPDATER_STALL_AT=<point>` in the environment (the smoke's time limits): the process
///   stops at `<point>` and never goes on, as a hung process does.
///
/// Without any, `reach` is one lookup in an empty table.
public enum FaultPlan {
    public static let killEnvironmentVariable = "PEERTUBE_UPDATER_KILL_AT"
    public static let stallEnvironmentVariable = "PEERTUBE_UPDATER_STALL_AT"

    private struct State {
        var failing = Set<String>()
        var kill: (point: String, hit: Int)?
        var stall: String?
        var hits = 0
    }

    private static let state = Mutex(State(kill: {
        guard let spec = ProcessInfo.processInfo.environment[killEnvironmentVariable],
              let colon = spec.lastIndex(of: ":"), let hit = Int(spec[spec.index(after: colon)...]), hit > 0 else { return nil }
        return (String(spec[..<colon]), hit)
    }(), stall: ProcessInfo.processInfo.environment[stallEnvironmentVariable].flatMap { $0.isEmpty ? nil : $0 }))

    /// From now on, reaching `point` throws `InjectedFailure` in this process.
    public static func fail(at point: FaultPoint) {
        state.withLock { _ = $0.failing.insert(point.name) }
    }

    /// Reaches `point`: kills the process, stalls it or throws when the plan says so.
    ///
    /// - Throws: `InjectedFailure` at a point set with `fail(at:)`.
    public static func reach(_ point: FaultPoint) throws {
        let (kill, stall, fail) = state.withLock { state -> (Bool, Bool, Bool) in
            var kill = false
            if let target = state.kill, target.point == point.name {
                state.hits += 1
                kill = state.hits == target.hit
            }
            return (kill, state.stall == point.name, state.failing.contains(point.name))
        }
        if kill { Glibc.kill(getpid(), SIGKILL) }
        if stall {
            FileHandle.standardError.write(Data("peertube-updater: stalling \(point.meaning) (\(stallEnvironmentVariable), test only)\n".utf8))
            while true { sleep(3_600) }
        }
        if fail { throw InjectedFailure(point: point) }
    }
}
