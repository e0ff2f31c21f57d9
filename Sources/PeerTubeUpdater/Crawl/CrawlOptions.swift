/// What the four crawl stages share: caps, modes and paging. Defaults are the worker's.
public struct CrawlOptions: Sendable {
    /// Instances crawled (first N by host; the whitelist stage keeps the first N in whitelist order). 0 = all.
    public var maxInstances = 0
    /// Channels stage: channels accepted across the run. Videos stage: channels processed. 0 = no cap.
    public var maxChannels = 0
    /// Pages fetched per channel in one run. 0 = no cap.
    public var maxVideosPages = 0
    /// Stop a channel after this many consecutive pages holding only known videos. 0 = never.
    public var stopAfterFullPages = 2
    /// Keep only channels/videos absent from staging (and from `existingDB` for videos).
    public var newOnly = true
    /// Continue from the progress rows of an interrupted run instead of starting over.
    public var resume = false
    /// Prod DB (read-only): videos found there count as known.
    public var existingDB: String?
    /// Fetch `GET /api/v1/videos/{uuid}` for new videos: full description, tags, comment count.
    public var fetchDetails = true
    /// A refresh run: a channel whose video list answers PeerTube's own 404 and which its host's
    /// complete channel listing (read to the end in refresh runs) leaves out is gone upstream, and
    /// every video `existingDB` holds of it is recorded in staging's `gone_videos` (the merge removes them); a
    /// video of `existingDB` that a complete listing of its channel leaves out is recorded in
    /// staging's `listing_missing` (the refresh re-reads it first: only a 404 removes it).
    public var refreshRun = false
    /// Channels stage with `--all`: recount every channel, not just those with no count.
    public var recountAll = false
    /// Items per list request (PeerTube allows up to 100; the reference crawler uses 50).
    public var pageSize = 50
    /// Seconds between progress lines in the log.
    public var progressInterval = 5.0

    public init() {}
}

/// A stage's tally, for the log and the worker report.
public struct CrawlSummary: Sendable, Equatable {
    public var hosts = 0
    public var hostsFailed = 0
    public var channels = 0
    public var channelsFailed = 0
    public var videos = 0
    public var pages = 0
    /// Refresh runs: known videos that complete channel listings left out (`listing_missing`).
    public var missingFromListings = 0
    public var requests = 0
    public var elapsedMs = 0

    public init() {}
}
