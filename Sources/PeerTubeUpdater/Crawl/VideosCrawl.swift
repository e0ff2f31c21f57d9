import Foundation
import GRDB
import Logging

/// Stage 4: videos. For each channel of the crawled instances with a slug and a video count that is
/// unknown (found in this run) or at least 1, pages its videos newest first with `nsfw=both` (PeerTube
/// hides NSFW videos from anonymous lists otherwise). New videos (absent from staging and from the
/// `existingDB`) get their details fetched, for the full description, tags and comment count that
/// lists leave out. A channel stops after `stopAfterFullPages` consecutive pages of known videos or
/// `maxVideosPages` pages; each page is stored with the channel's progress row.
public enum VideosCrawl {
    /// - Throws: `StorageError` or `DatabaseError` for staging or the existing DB; a failing channel is
    ///   recorded on its row, not thrown.
    public static func run(stagingPath: String, client: PoliteHTTPClient, options: CrawlOptions,
                           logger: Logger) async throws -> CrawlSummary {
        let run = try StageRun(stagingPath: stagingPath, client: client, options: options)
        let (store, hosts) = (run.store, run.hosts)
        let existing = try options.existingDB.map { path -> DatabaseQueue in
            let queue = try DatabaseFile.open(path, role: "existing DB", access: .readOnly)
            try queue.read { db in try DatabaseFile.requireTables(["videos"], in: db, role: "existing DB", path: path) }
            return queue
        }
        let channels = try store.channelsToCrawl(hosts: hosts, limit: options.maxChannels)
        let todo = try store.prepareProgress(
            .videos, keys: channels.map { [$0.instanceDomain, $0.channelID] },
            extra: ("channel_name", channels.map(\.channelName)), resume: options.resume)
        let byKey = Dictionary(uniqueKeysWithValues: channels.map { ([$0.instanceDomain, $0.channelID], $0) })
        let work = interleavedByHost(todo.compactMap { item in byKey[item.key].map { ($0, item.start) } })
        logger.info("videos: \(work.count) of \(channels.count) channels on \(hosts.count) instances to crawl (new-only \(options.newOnly), existing-db \(options.existingDB ?? "none"), stop-after-full-pages \(options.stopAfterFullPages), max-videos-pages \(options.maxVideosPages))")
        let tally = StageTally(label: "videos", total: work.count, unit: "channels", interval: options.progressInterval)
        let problems = HostProblems()
        let crawler = ChannelVideos(store: store, existing: existing, client: client, options: options, tally: tally,
                                    problems: problems)
        let width = client.options.concurrency * client.options.perHostConcurrency
        await forEachConcurrently(work, width: width) { channel, start in
            do {
                try await crawler.crawl(channel, from: start)
                try store.setProgress(.videos, key: [channel.instanceDomain, channel.channelID], status: "done", nextStart: 0)
                tally.update { $0.channels += 1 }
            } catch {
                let fetchError = error as? FetchError ?? FetchError(.network, "\(error)")
                tally.update { $0.channelsFailed += 1 }
                problems.note(.failedChannels, on: channel.instanceDomain, fetchError.description)
                logger.warning("videos: \(channel.channelName ?? channel.channelID)@\(channel.instanceDomain) failed: \(fetchError)")
                try? store.markChannel(channel, error: fetchError, source: "videos")
                if options.refreshRun, case .http(404) = fetchError.kind, let existing {
                    let name = "\(channel.channelName ?? channel.channelID)@\(channel.instanceDomain)"
                    if let reason = await doubtOnGone(channel, fetchError, store: store, client: client) {
                        logger.warning("videos: \(name) answers 404 but is not taken as gone (\(reason)): nothing deleted")
                    } else if let gone = try? store.storeGoneChannel(channel, videosIn: existing, at: CrawlStore.nowMs()) {
                        logger.warning("videos: \(name) answers PeerTube's 404 and its host's complete listing leaves it out: gone upstream, its \(gone) known video(s) recorded as gone")
                    }
                }
                let key = [channel.instanceDomain, channel.channelID]
                let offset = (try? store.resumeOffset(.videos, key: key)) ?? 0
                try? store.setProgress(.videos, key: key, status: "error", nextStart: offset, error: fetchError)
            }
            tally.finishedOne(client: client, logger: logger)
        }
        problems.record(in: store, source: "videos", logger: logger)
        var summary = run.summary(tally)
        summary.hosts = hosts.count
        let rate = Double(summary.requests) / max(Double(summary.elapsedMs) / 1000, 1e-3)
        logger.info("videos: \(summary.videos) new videos from \(summary.channels)/\(work.count) channels (\(summary.channelsFailed) failed), \(summary.pages) pages, \(summary.requests) requests (\(String(format: "%.1f", rate)) req/s) in \(summary.elapsedMs)ms")
        if summary.missingFromListings > 0 {
            logger.info("videos: \(summary.missingFromListings) known video(s) missing from their channel's complete listing: re-read first by the refresh")
        }
        return summary
    }

    /// Why a channel whose video list answered 404 is not known to be gone (nil: it is). Gone takes
    /// PeerTube's own answer (its 404 shape, from a host that answered as PeerTube this run) and the
    /// host's complete channel listing of this run without the channel: one bad answer (a proxy, a
    /// domain now pointing elsewhere, a listing cut short) must never delete a channel's videos.
    static func doubtOnGone(_ channel: ChannelRecord, _ error: FetchError, store: CrawlStore, client: PoliteHTTPClient) async -> String? {
        guard error.peerTubeShaped else { return "the 404 is not in PeerTube's error shape" }
        guard await client.confirmsNotFound(error, on: channel.instanceDomain) else {
            return "\(channel.instanceDomain) does not answer /api/v1/config as PeerTube"
        }
        guard let listing = try? store.listing(of: channel), listing.complete else {
            return "the host's channel listing was not read to its end this run"
        }
        return listing.listed ? "the host's channel listing still names it" : nil
    }

    /// Round-robin over hosts, so every host has work in flight and none is hammered alone.
    static func interleavedByHost<T>(_ items: [(ChannelRecord, T)]) -> [(ChannelRecord, T)] {
        var queues: [String: [(ChannelRecord, T)]] = [:]
        var order: [String] = []
        for item in items {
            if queues[item.0.instanceDomain] == nil { order.append(item.0.instanceDomain) }
            queues[item.0.instanceDomain, default: []].append(item)
        }
        var result: [(ChannelRecord, T)] = []
        var index = 0
        while result.count < items.count {
            for host in order where index < queues[host]!.count { result.append(queues[host]![index]) }
            index += 1
        }
        return result
    }
}

// MARK: - ChannelVideos

/// The paging loop of one channel.
private struct ChannelVideos: Sendable {
    let store: CrawlStore
    let existing: DatabaseQueue?
    let client: PoliteHTTPClient
    let options: CrawlOptions
    let tally: StageTally
    let problems: HostProblems

    func crawl(_ channel: ChannelRecord, from start: Int) async throws {
        guard let slug = channel.channelName else { throw FetchError(.invalidURL, "channel \(channel.channelID) has no slug") }
        let host = channel.instanceDomain
        let handle = slug.urlPathSegment
        let wholeListing = start == 0 && options.refreshRun && existing != nil
        var listed = Set<String>()  // every id the channel's listing named, refused items too
        var start = start
        var fullPages = 0
        var pagesFetched = 0
        while true {
            let page = try await client.getJSON(
                host: host, "/api/v1/video-channels/\(handle)/videos?start=\(start)&count=\(options.pageSize)&sort=-publishedAt&nsfw=both")
            guard let items = page.json["data"]?.array else {
                throw FetchError(.invalidJSON, "no data array in the videos of \(slug)@\(host) at start=\(start)")
            }
            let total = page.json["total"]?.int
            if start == 0, let total, total >= 0 { try store.setVideosCount(channel, count: total) }
            if wholeListing { listed.formUnion(items.compactMap(PeerTubeMapping.videoID)) }
            let (valid, refusals) = PayloadCheck.partition(items) { PayloadCheck.problem(inVideo: $0) }
            problems.note(.refusedItems, on: host, count: refusals.count, "videos of \(slug) at start=\(start): \(refusals[0])")
            var seen = Set<String>()
            let unique = valid.filter { PeerTubeMapping.videoID($0).map { seen.insert($0).inserted } ?? false }
            let ids = unique.compactMap(PeerTubeMapping.videoID)
            var known = Set<String>()
            if options.newOnly {
                known = try store.existingVideoIDs(host: host, among: ids)
                if let existing { known.formUnion(try CrawlStore.videoIDs(in: existing, host: host, among: ids)) }
            }
            let fresh = unique.filter { !known.contains(PeerTubeMapping.videoID($0)!) }
            let rows = await records(fresh, channel: channel, host: host, scheme: page.scheme)
            let next = start + items.count
            try store.storeVideos(rows, channel: channel, nextStart: next)
            pagesFetched += 1
            tally.update {
                $0.videos += rows.count
                $0.pages += 1
            }
            if items.count < options.pageSize || (total.map { Int64(next) >= $0 } ?? false) {
                // The listing was read to its end in this run: a known video it left out may be gone.
                if wholeListing, let existing {
                    let missing = try store.storeMissingFromListing(channel, listed: listed, videosIn: existing, at: CrawlStore.nowMs())
                    if missing > 0 { tally.update { $0.missingFromListings += missing } }
                }
                return
            }
            let allKnown = options.newOnly && !ids.isEmpty && known.count >= ids.count
            fullPages = allKnown ? fullPages + 1 : 0
            if options.stopAfterFullPages > 0 && fullPages >= options.stopAfterFullPages { return }
            if options.maxVideosPages > 0 && pagesFetched >= options.maxVideosPages { return }
            start = next
        }
    }

    /// Rows for new videos, with details fetched concurrently (the client bounds the requests).
    private func records(_ items: [JSONValue], channel: ChannelRecord, host: String, scheme: String) async -> [VideoRecord] {
        let now = CrawlStore.nowMs()
        return await withTaskGroup(of: (Int, VideoRecord?).self) { group in
            for (index, item) in items.enumerated() {
                group.addTask {
                    var details: JSONValue?
                    var failure: FetchError?
                    if options.fetchDetails, let id = PeerTubeMapping.videoID(item) {
                        do {
                            let fetched = try await client.getJSON(host: host, "/api/v1/videos/\(id.urlPathSegment)").json
                            if let problem = PayloadCheck.problem(inVideo: fetched, isDetails: true) {
                                throw FetchError(.invalidItem, "details of \(id) on \(host) refused: \(problem)")
                            }
                            details = fetched
                        } catch {
                            // Whatever failed, the list's data is kept and the failure recorded on the
                            // row: one video's details never cost the channel's other videos.
                            let error = error as? FetchError ?? FetchError(.network, "\(error)")
                            failure = error
                            problems.note(.unusableDetails, on: host, error.description)
                        }
                    }
                    var record = PeerTubeMapping.video(list: item, details: details, channel: channel, host: host,
                                                       scheme: scheme, now: now)
                    if let failure {
                        record?.lastError = "details: \(failure)"
                        record?.lastErrorAt = now
                        if case .http(404) = failure.kind { record?.invalidReason = "not_found" }
                    }
                    return (index, record)
                }
            }
            var rows = [VideoRecord?](repeating: nil, count: items.count)
            for await (index, record) in group { rows[index] = record }
            return rows.compactMap { $0 }
        }
    }
}
