import Foundation
import Logging

/// The worker's stages, named as the smoke report's `timings_ms.stages` keys. `worker.log` carries
/// `run: <stage> …` when one starts and `done: <stage> (<N>ms)` when it ends.
public enum WorkerStage: String, Sendable, CaseIterable, Codable {
    case stagingInit = "staging_init"
    case instancesCrawl = "instances_crawl"
    case skipLocalDead = "skip_local_dead"
    case channelsCrawl = "channels_crawl"
    case videosCrawl = "videos_crawl"
    case channelsVideosCount = "channels_videos_count"
    case refreshCrawl = "refresh_crawl"
    case embeddingsBuild = "embeddings_build"
    case serviceStop = "service_stop"
    case mergeDB = "merge_db"
    case popularityRecompute = "popularity_recompute"
    case annBuild = "ann_build"
    case similarityPrecompute = "similarity_precompute"
    case serviceStart = "service_start"

    /// The stages every successful run logs (the optional ones depend on flags).
    public static let required: [WorkerStage] = [
        .stagingInit, .instancesCrawl, .channelsCrawl, .videosCrawl, .channelsVideosCount, .embeddingsBuild,
        .mergeDB, .popularityRecompute, .annBuild, .similarityPrecompute,
    ]
}

/// Writes and reads the markers of `worker.log`: one format, one place.
public enum WorkerLog {
    public static let completedPrefix = "worker completed in "

    /// Runs one stage between its `run:` and `done:` markers. A failing stage logs `failed:` instead.
    /// The stage's start is a fault point (`FaultPoint.stageStart`).
    ///
    /// - Throws: what `body` throws, and `InjectedFailure` at a planned fault.
    public static func stage<T>(_ stage: WorkerStage, _ detail: String = "", logger: Logger,
                                _ body: () async throws -> T) async throws -> T {
        let clock = started(stage, detail, logger: logger)
        do {
            try FaultPlan.reach(.stageStart(stage))
            let value = try await body()
            finished(stage, since: clock, logger: logger)
            return value
        } catch {
            finished(stage, since: clock, error: error, logger: logger)
            throw error
        }
    }

    /// The same for a synchronous stage (the service start on an exit path).
    ///
    /// - Throws: what `body` throws, and `InjectedFailure` at a planned fault.
    public static func stage<T>(_ stage: WorkerStage, _ detail: String = "", logger: Logger,
                                _ body: () throws -> T) throws -> T {
        let clock = started(stage, detail, logger: logger)
        do {
            try FaultPlan.reach(.stageStart(stage))
            let value = try body()
            finished(stage, since: clock, logger: logger)
            return value
        } catch {
            finished(stage, since: clock, error: error, logger: logger)
            throw error
        }
    }

    private static func started(_ stage: WorkerStage, _ detail: String, logger: Logger) -> ContinuousClock.Instant {
        logger.info("run: \(stage.rawValue)\(detail.isEmpty ? "" : " \(detail)")")
        return .now
    }

    private static func finished(_ stage: WorkerStage, since clock: ContinuousClock.Instant, error: Error? = nil, logger: Logger) {
        if let error {
            logger.error("failed: \(stage.rawValue) (\(clock.elapsedMilliseconds)ms): \(error)")
        } else {
            logger.info("done: \(stage.rawValue) (\(clock.elapsedMilliseconds)ms)")
        }
    }

    public static func completed(_ milliseconds: Int, logger: Logger) {
        logger.info("\(completedPrefix)\(milliseconds)ms")
    }

    /// What a worker log says about one run (the last run in the file, when it holds several).
    public struct Parsed: Sendable, Equatable {
        /// Stages with a `run:` marker.
        public var started: [WorkerStage] = []
        /// Stage → duration of its `done:` marker.
        public var durations: [WorkerStage: Int] = [:]
        /// From `worker completed in <N>ms`; nil when the run did not complete.
        public var totalMs: Int?
        /// The `device=` value of the embeddings stage and the `mode=` value of the ANN stage.
        public var device: String?
        public var annMode: String?

        /// Required stages without a `done:` marker.
        public var missingStages: [WorkerStage] { WorkerStage.required.filter { durations[$0] == nil } }
    }

    public static func parse(_ text: String) -> Parsed {
        var parsed = Parsed()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if let stage = value(after: "run: ", in: line).flatMap(WorkerStage.init(rawValue:)) {
                if stage == .stagingInit { parsed = Parsed() }  // a new run starts: keep only the last
                parsed.started.append(stage)
            } else if let name = value(after: "done: ", in: line), let stage = WorkerStage(rawValue: name),
                      let ms = milliseconds(in: line, after: "(") {
                parsed.durations[stage] = ms
            } else if line.contains(completedPrefix), let ms = milliseconds(in: line, after: completedPrefix) {
                parsed.totalMs = ms
            }
            if line.contains("embeddings: "), let device = value(after: "device=", in: line) { parsed.device = device }
            if line.contains("ann: "), let mode = value(after: "mode=", in: line) { parsed.annMode = mode }
        }
        return parsed
    }

    /// The word that follows `marker` in `line`.
    private static func value(after marker: String, in line: String) -> String? {
        guard let range = line.range(of: marker) else { return nil }
        let word = line[range.upperBound...].prefix { !$0.isWhitespace }
        return word.isEmpty ? nil : String(word)
    }

    /// N from the first `<N>ms` after `marker`.
    private static func milliseconds(in line: String, after marker: String) -> Int? {
        guard let range = line.range(of: marker, options: .backwards) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
}
