import Foundation
import Logging

/// Stage 3: channels. For each instance (first `--max-instances` by host), pages
/// `/api/v1/video-channels` oldest first (so channels created during the crawl land on later pages
/// instead of shifting earlier ones), keeps only channels hosted on that instance (the list mixes in
/// every followed server's channels), with `newOnly` only those absent from staging, and stops at
/// the run-wide `--max-channels`. Each page is stored with the host's progress row, so `--resume`
/// continues from the next page. A failing host gets its error recorded and the others go on.
///
/// In a refresh run every host's listing is read to its end, past the cap too (channels past it are
/// not stored), and the channels it names are recorded (`Schema.channelListingTables`): a channel
/// whose videos answer 404 is gone only if its host's complete listing leaves it out as well.
public enum ChannelsCrawl {
    /// - Throws: `StorageError` or `DatabaseError` for staging; a failing host is recorded on its row, not
    ///   thrown.
    public static func run(stagingPath: String, client: PoliteHTTPClient, options: CrawlOptions,
                           logger: Logger) async throws -> CrawlSummary {
        let run = try StageRun(stagingPath: stagingPath, client: client, options: options)
        let (store, hosts) = (run.store, run.hosts)
        let todo = try store.prepareProgress(.channels, keys: hosts.map { [$0] }, resume: options.resume)
        logger.info("channels: \(todo.count) of \(hosts.count) instances to crawl (new-only \(options.newOnly), max-channels \(options.maxChannels))")
        let budget = Budget(limit: options.maxChannels)
        let tally = StageTally(label: "channels", total: todo.count, unit: "hosts", interval: options.progressInterval)
        tally.update { $0.hosts = todo.count }
        let problems = HostProblems()
        await forEachConcurrently(todo, width: client.options.concurrency) { item in
            let host = item.key[0]
            do {
                // Stopped by the cap, the host stays in_progress at its offset: a later --resume goes on.
                if try await crawlHost(host, from: item.start, store: store, client: client, budget: budget,
                                       options: options, tally: tally, problems: problems) {
                    try store.setProgress(.channels, key: [host], status: "done", nextStart: 0)
                }
                try store.markInstance(host, error: nil, source: "channels")
            } catch let error as FetchError {
                tally.update { $0.hostsFailed += 1 }
                logger.warning("channels: \(host) failed: \(error)")
                try? store.markInstance(host, error: error, source: "channels")
                try? store.setProgress(.channels, key: [host], status: "error",
                                       nextStart: (try? store.resumeOffset(.channels, key: [host])) ?? 0, error: error)
            } catch {
                tally.update { $0.hostsFailed += 1 }
                logger.error("channels: \(host) failed: \(error)")
            }
            tally.finishedOne(client: client, logger: logger)
        }
        problems.record(in: store, source: "channels", logger: logger)
        let summary = run.summary(tally)
        logger.info("channels: \(summary.channels) channels stored from \(summary.hosts - summary.hostsFailed)/\(summary.hosts) instances, \(summary.pages) pages, \(summary.requests) requests in \(summary.elapsedMs)ms")
        return summary
    }

    /// Pages `host`'s channel list from `start`; true when the host is done (listed to its end within the cap).
    private static func crawlHost(_ host: String, from first: Int, store: CrawlStore, client: PoliteHTTPClient,
                                  budget: Budget, options: CrawlOptions, tally: StageTally,
                                  problems: HostProblems) async throws -> Bool {
        var start = first
        // Once the cap cuts a page, nothing more is stored; a refresh run goes on listing to the end.
        var capped = false
        while options.refreshRun || !budget.isExhausted {
            let page = try await client.getJSON(host: host, "/api/v1/video-channels?start=\(start)&count=\(options.pageSize)&sort=createdAt")
            guard let items = page.json["data"]?.array else {
                throw FetchError(.invalidJSON, "no data array in the channel list of \(host) at start=\(start)")
            }
            let next = start + items.count
            let total = page.json["total"]?.int
            let last = items.count < options.pageSize || (total.map { Int64(next) >= $0 } ?? false)
            if options.refreshRun {
                // Every channel the listing names on this host, refused items too: they exist.
                let named = items.filter { PeerTubeMapping.channelHost($0) == host }.compactMap { $0["id"]?.string }
                try store.recordListedChannels(named, host: host, complete: last && first == 0)
            }
            if capped {
                if last { return false }
                start = next
                continue
            }
            let (valid, refusals) = PayloadCheck.partition(items, PayloadCheck.problem(inChannel:))
            problems.note(.refusedItems, on: host, count: refusals.count, "channel list at start=\(start): \(refusals[0])")
            var local = valid.filter { PeerTubeMapping.channelHost($0) == host }
                .compactMap { PeerTubeMapping.channel($0, host: host, scheme: page.scheme) }
            if options.newOnly {
                let known = try store.existingChannelIDs(host: host, among: local.map(\.channelID))
                local.removeAll { known.contains($0.channelID) }
            }
            let granted = budget.take(local.count)
            let truncated = granted < local.count
            local = Array(local.prefix(granted))
            // A page cut by the cap is fetched again on resume (new-only skips what was stored).
            try store.storeChannels(local, host: host, nextStart: truncated ? start : next)
            tally.update {
                $0.channels += local.count
                $0.pages += 1
            }
            if truncated {
                capped = true
                if !options.refreshRun || last { return false }
            } else if last {
                return true
            }
            start = next
        }
        return false
    }
}
