import Foundation
import Logging

/// Stage 5: channel video counts from the `total` of `/video-channels/{name}/videos?count=0&nsfw=both`,
/// for channels of the crawled instances whose count is unknown (every channel with `recountAll`).
/// The videos stage already counts the channels it crawls, so in the worker this fills in the rest.
public enum ChannelsVideosCountCrawl {
    /// - Throws: `StorageError` or `DatabaseError` for staging; a failing host is recorded, not thrown.
    public static func run(stagingPath: String, client: PoliteHTTPClient, options: CrawlOptions,
                           logger: Logger) async throws -> CrawlSummary {
        let run = try StageRun(stagingPath: stagingPath, client: client, options: options)
        let (store, hosts) = (run.store, run.hosts)
        let channels = VideosCrawl.interleavedByHost(
            try store.channelsToCount(hosts: hosts, all: options.recountAll).map { ($0, ()) }).map(\.0)
        logger.info("channels-videos-count: \(channels.count) channels to count on \(hosts.count) instances")
        let tally = StageTally(label: "channels-videos-count", total: channels.count, unit: "channels",
                               interval: options.progressInterval)
        await forEachConcurrently(channels, width: client.options.concurrency * client.options.perHostConcurrency) { channel in
            do {
                let slug = channel.channelName ?? ""
                let page = try await client.getJSON(host: channel.instanceDomain,
                                                    "/api/v1/video-channels/\(slug.urlPathSegment)/videos?start=0&count=0&nsfw=both")
                guard let total = page.json["total"]?.int, total >= 0 else {
                    throw FetchError(.invalidJSON, "no valid total for \(slug)@\(channel.instanceDomain)")
                }
                try store.setVideosCount(channel, count: total)
                tally.update { $0.channels += 1 }
            } catch {
                let fetchError = error as? FetchError ?? FetchError(.network, "\(error)")
                tally.update { $0.channelsFailed += 1 }
                try? store.markChannel(channel, error: fetchError, source: "videos_count")
            }
            tally.finishedOne(client: client, logger: logger)
        }
        var summary = run.summary(tally)
        summary.hosts = hosts.count
        logger.info("channels-videos-count: \(summary.channels) counted, \(summary.channelsFailed) failed, \(summary.requests) requests in \(summary.elapsedMs)ms")
        return summary
    }
}
