import Foundation
import GRDB
import Logging
import Synchronization

/// The refresh stage: re-reads the details of known prod videos that are due (`RefreshPlan`) on the
/// hosts this run's whitelist allows, and writes what it read into staging: the video's current row
/// (counts, title, description, tags, NSFW flag, channel and account names) into `videos`, and a
/// video whose details answer 404 into `gone_videos`. Prod changes later, in the merge transaction
/// (UPSERT of the refreshed columns, removal of gone videos), like everything else.
///
/// A 404 counts only as PeerTube's own (`PoliteHTTPClient.confirmsNotFound`): a plain-text or HTML
/// 404, or JSON from a server that does not answer `/api/v1/config` as PeerTube, is a failure.
/// A request that fails otherwise (timeout, 5xx, a refused payload) changes nothing: the video keeps
/// its prod row and its old `last_checked_at`, so the next run tries it again. One failed reading
/// never deletes anything.
public enum RefreshCrawl {
    public struct Summary: Sendable, Equatable {
        /// Videos due, on the hosts crawled, before the per-host budget.
        public var due = 0
        /// Videos re-read this run (the plan after the budget).
        public var selected = 0
        public var refreshed = 0
        public var gone = 0
        public var failed = 0
        public var requests = 0
        public var elapsedMs = 0
        /// The `last_checked_at` (Unix ms) every re-read row carries.
        public var readAt: Int64 = 0
        public init() {}
    }

    /// Writes are batched: this many readings per staging transaction.
    static let batchSize = 200

    /// - Throws: `StorageError` for an unusable staging or prod file, `DatabaseError` when staging cannot be
    ///   written; failed requests are counted, not thrown.
    public static func run(stagingPath: String, prodPath: String, client: PoliteHTTPClient, crawl: CrawlOptions,
                           plan options: RefreshPlan.Options, logger: Logger) async throws -> Summary {
        let run = try StageRun(stagingPath: stagingPath, client: client, options: crawl)
        let prod = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly)
        let now = CrawlStore.nowMs()
        let missing = try run.store.missingFromListings()
        let plan = try await prod.read { (db: Database) throws -> RefreshPlan in
            try DatabaseFile.requireTables(["videos"], in: db, role: "prod DB", path: prodPath)
            return try RefreshPlan.make(db, hosts: run.hosts, now: now, options: options, first: missing)
        }
        var summary = Summary()
        summary.readAt = now
        summary.due = plan.dueByHost.values.reduce(0, +)
        summary.selected = plan.targets.count
        logger.info("refresh: \(plan.targets.count) of \(summary.due) due videos on \(plan.dueByHost.count) of \(run.hosts.count) instances (budget \(options.perHostBudget) per instance)\(missing.isEmpty ? "" : "; \(missing.count) missing from their channel's listing go first")")

        let readings = Mutex<(videos: [VideoRecord], gone: [CrawlStore.GoneVideo], failed: Int)>(([], [], 0))
        let problems = HostProblems()
        let tally = StageTally(label: "refresh", total: plan.targets.count, unit: "videos", interval: crawl.progressInterval)
        let store = run.store
        let width = client.options.concurrency * client.options.perHostConcurrency
        for chunk in stride(from: 0, to: plan.targets.count, by: batchSize).map({ plan.targets[$0..<min($0 + batchSize, plan.targets.count)] }) {
            await forEachConcurrently(Array(chunk), width: width) { target in
                do {
                    let fetched = try await client.getJSON(host: target.host, "/api/v1/videos/\(target.videoID.urlPathSegment)")
                    if let problem = PayloadCheck.problem(inVideo: fetched.json, isDetails: true) {
                        throw FetchError(.invalidItem, "details of \(target.videoID) on \(target.host) refused: \(problem)")
                    }
                    guard PeerTubeMapping.videoID(fetched.json) == target.videoID,
                          let record = PeerTubeMapping.video(list: fetched.json, details: fetched.json, channel: target.channel,
                                                             host: target.host, scheme: fetched.scheme, now: now) else {
                        throw FetchError(.invalidItem, "details of \(target.videoID) on \(target.host) name another video")
                    }
                    readings.withLock { $0.videos.append(record) }
                } catch {
                    let error = error as? FetchError ?? FetchError(.network, "\(error)")
                    // Gone only on PeerTube's own 404 (its shape, a host that answers as PeerTube).
                    if await client.confirmsNotFound(error, on: target.host) {
                        readings.withLock { $0.gone.append((target.videoID, target.host, "not_found")) }
                    } else {
                        readings.withLock { $0.failed += 1 }
                        problems.note(.unusableDetails, on: target.host, error.description)
                    }
                }
                tally.finishedOne(client: client, logger: logger)
            }
            // Each chunk's readings are committed before the next chunk is read.
            let batch = readings.withLock { state in
                defer { (state.videos, state.gone) = ([], []) }
                return (videos: state.videos, gone: state.gone)
            }
            try store.storeRefreshed(batch.videos, gone: batch.gone, at: now)
            summary.refreshed += batch.videos.count
            summary.gone += batch.gone.count
        }
        summary.failed = readings.withLock { $0.failed }
        problems.record(in: store, source: "refresh", logger: logger)
        let stage = run.summary(tally)
        summary.requests = stage.requests
        summary.elapsedMs = stage.elapsedMs
        logger.info("refresh: \(summary.refreshed) re-read, \(summary.gone) gone (404), \(summary.failed) failed (kept as they were), \(summary.requests) requests in \(summary.elapsedMs)ms")
        return summary
    }
}
