import Foundation
import Logging

/// Stage 2: the whitelist. Fetches it (or reads a local file), normalises and deduplicates hosts,
/// keeps the first `--max-instances`, and adds them to staging's instances with pending progress.
public enum InstancesCrawl {
    /// - Throws: `FetchError` when the whitelist cannot be fetched or read, `FetchError` (`invalid_json`) for
    ///   an unusable one, `StorageError` for staging.
    public static func run(stagingPath: String, whitelistURL: String, client: PoliteHTTPClient,
                           options: CrawlOptions, logger: Logger) async throws -> CrawlSummary {
        let clock = ContinuousClock.now
        let json: JSONValue
        if whitelistURL.hasPrefix("/") || whitelistURL.hasPrefix("file:") || !whitelistURL.contains("://") {
            let path = whitelistURL.hasPrefix("file://") ? String(whitelistURL.dropFirst(7)) : whitelistURL
            let data = try Whitelist.readFile(path, maxBytes: client.options.maxBodyBytes)
            do { json = try JSONValue.parse(data) } catch {
                throw FetchError(.invalidJSON, "whitelist file \(path) is not JSON: \(JSONValue.parseFailure(data))")
            }
        } else {
            json = try await client.getJSON(url: whitelistURL).json
        }
        let whitelist = try Whitelist(parsing: json)
        log(whitelist, logger: logger)
        guard !whitelist.hosts.isEmpty else {
            throw FetchError(.invalidJSON, "whitelist \(whitelistURL) contained no usable hosts")
        }
        let kept = whitelist.capped(options.maxInstances)
        // Staging is created only now: a whitelist that cannot be read leaves no new file behind.
        let store = CrawlStore(db: try StagingDatabase.openOrCreate(at: stagingPath))
        let inserted = try store.insertInstances(kept.hosts)
        try store.setState(["whitelist_url": whitelistURL, "whitelist_count": String(kept.hosts.count),
                            "instances_crawled_at": String(CrawlStore.nowMs())])
        var summary = CrawlSummary()
        summary.hosts = kept.hosts.count
        summary.requests = client.requestCounters.requests
        summary.elapsedMs = clock.elapsedMilliseconds
        logger.info("instances: \(kept.hosts.count) hosts kept (\(inserted) new) of \(whitelist.hosts.count) valid; max-instances \(options.maxInstances)")
        return summary
    }

    /// One line for the whole whitelist, then one per rejection reason with a few examples: a
    /// whitelist of 10,000 junk entries must not flood the log.
    static func log(_ whitelist: Whitelist, logger: Logger) {
        logger.info("instances: whitelist has \(whitelist.entries) entries: \(whitelist.hosts.count) valid hosts, \(whitelist.duplicates) duplicates, \(whitelist.rejected.count) rejected")
        let byReason = Dictionary(grouping: whitelist.rejected, by: \.reason)
        for (reason, rejections) in byReason.sorted(by: { $0.value.count > $1.value.count }) {
            let examples = rejections.prefix(3).map { "'\($0.input.prefix(80))'" }.joined(separator: ", ")
            logger.warning("instances: rejected \(rejections.count) entr\(rejections.count == 1 ? "y" : "ies") (\(reason)), e.g. \(examples)")
        }
    }
}
