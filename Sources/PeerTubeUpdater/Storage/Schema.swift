/// Table layouts of PeerTube-browser databases, kept so an operator's existing prod DB works as it is.
///
/// Column names, order and keys follow the original crawler's `schema.sql` and the prod DB that
/// `sync-whitelist` builds, so an operator's existing databases open as they are. Every statement is
/// `IF NOT EXISTS`: applying a layout to a DB that already has it changes nothing.
public enum Schema {
    // MARK: - Crawler and prod tables

    /// The crawler tables: what a staging DB holds (plus `crawl_state`).
    public static let crawlerTables = """
        CREATE TABLE IF NOT EXISTS instances (
            host TEXT PRIMARY KEY,
            health_status TEXT,
            health_checked_at INTEGER,
            health_error TEXT,
            last_error TEXT,
            last_error_at INTEGER,
            last_error_source TEXT
        );
        CREATE TABLE IF NOT EXISTS channels (
            channel_id TEXT NOT NULL,
            channel_name TEXT,
            channel_url TEXT,
            display_name TEXT,
            instance_domain TEXT NOT NULL,
            videos_count INTEGER,
            followers_count INTEGER,
            avatar_url TEXT,
            health_status TEXT,
            health_checked_at INTEGER,
            health_error TEXT,
            last_error TEXT,
            last_error_at INTEGER,
            last_error_source TEXT,
            PRIMARY KEY (channel_id, instance_domain)
        );
        CREATE TABLE IF NOT EXISTS videos (
            video_id TEXT NOT NULL,
            video_uuid TEXT,
            video_numeric_id INTEGER,
            instance_domain TEXT NOT NULL,
            channel_id TEXT,
            channel_name TEXT,
            channel_url TEXT,
            account_name TEXT,
            account_url TEXT,
            title TEXT,
            description TEXT,
            tags_json TEXT,
            category TEXT,
            published_at INTEGER,
            video_url TEXT,
            duration INTEGER,
            thumbnail_url TEXT,
            embed_path TEXT,
            views INTEGER,
            likes INTEGER,
            dislikes INTEGER,
            comments_count INTEGER,
            nsfw INTEGER,
            preview_path TEXT,
            last_checked_at INTEGER NOT NULL,
            last_error TEXT,
            last_error_at INTEGER,
            error_count INTEGER NOT NULL DEFAULT 0,
            invalid_reason TEXT,
            invalid_at INTEGER,
            PRIMARY KEY (video_id, instance_domain)
        );
        CREATE TABLE IF NOT EXISTS instance_crawl_progress (
            host TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            error_count INTEGER NOT NULL DEFAULT 0,
            last_start INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS channel_crawl_progress (
            instance_domain TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            last_start INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS video_crawl_progress (
            instance_domain TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            channel_name TEXT,
            status TEXT NOT NULL,
            last_start INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_error_at INTEGER,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (instance_domain, channel_id)
        );
        CREATE TABLE IF NOT EXISTS crawl_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS idx_channels_followers ON channels(followers_count);
        CREATE INDEX IF NOT EXISTS idx_channels_videos_count ON channels(videos_count);
        CREATE INDEX IF NOT EXISTS idx_channels_instance ON channels(instance_domain);
        CREATE INDEX IF NOT EXISTS idx_videos_instance ON videos(instance_domain);
        CREATE INDEX IF NOT EXISTS idx_videos_channel ON videos(channel_id);
        CREATE INDEX IF NOT EXISTS idx_videos_published ON videos(published_at);
        CREATE INDEX IF NOT EXISTS idx_videos_views ON videos(views);
        CREATE INDEX IF NOT EXISTS idx_video_crawl_progress_instance ON video_crawl_progress(instance_domain);
        """

    // MARK: - Embeddings and popularity

    /// Staging only: videos a refresh found gone upstream (their details answered 404, their channel
    /// did, or their instance was unreachable past the grace period). The merge
    /// removes them, with their embeddings, from prod in its transaction.
    public static let goneVideosTable = """
        CREATE TABLE IF NOT EXISTS gone_videos (
            video_id TEXT NOT NULL,
            instance_domain TEXT NOT NULL,
            reason TEXT NOT NULL,
            detected_at INTEGER NOT NULL,
            PRIMARY KEY (video_id, instance_domain)
        );
        """

    /// Staging only: known videos that a complete listing of their channel left out this run
    /// (`VideosCrawl` in a refresh run). The refresh re-reads them before any other; a 404 then
    /// makes them gone.
    public static let listingMissingTable = """
        CREATE TABLE IF NOT EXISTS listing_missing (
            video_id TEXT NOT NULL,
            instance_domain TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            detected_at INTEGER NOT NULL,
            PRIMARY KEY (video_id, instance_domain)
        );
        """

    /// Staging only, refresh runs: the channels each host's listing (`/api/v1/video-channels`) named
    /// this run, and the hosts whose listing was read from its first page to its end. A channel
    /// whose videos answer 404 is gone only when its host's complete listing leaves it out too.
    public static let channelListingTables = """
        CREATE TABLE IF NOT EXISTS listed_channels (
            instance_domain TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            PRIMARY KEY (instance_domain, channel_id)
        );
        CREATE TABLE IF NOT EXISTS complete_channel_listings (
            instance_domain TEXT PRIMARY KEY,
            listed_at INTEGER NOT NULL
        );
        """

    /// Each instance's health across runs (`InstanceHealth`): in staging, this run's rows; in prod, the
    /// history, updated by the merge.
    public static let instanceHealthTable = """
        CREATE TABLE IF NOT EXISTS instance_health (
            host TEXT PRIMARY KEY,
            last_ok_at INTEGER,
            failing_since INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            checked_at INTEGER NOT NULL,
            last_error TEXT
        );
        """

    /// One sentence embedding per video. A rowid table on purpose: ANN ids are its rowids.
    public static let videoEmbeddingsTable = """
        CREATE TABLE IF NOT EXISTS video_embeddings (
            video_id TEXT NOT NULL,
            instance_domain TEXT NOT NULL,
            embedding BLOB NOT NULL,
            embedding_dim INTEGER NOT NULL,
            model_name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (video_id, instance_domain),
            FOREIGN KEY (video_id, instance_domain) REFERENCES videos(video_id, instance_domain)
        );
        """

    /// The popularity column prod adds to `videos`, and the index the feed sorts by.
    public static let popularityColumn = "ALTER TABLE videos ADD COLUMN popularity REAL NOT NULL DEFAULT 0"
    public static let popularityIndex =
        "CREATE INDEX IF NOT EXISTS idx_videos_popularity ON videos(popularity DESC)"

    // MARK: - Similarity cache

    /// The similarity cache, a DB file of its own: per source video, its top-k neighbours as ids,
    /// score and rank only; readers join the neighbours' metadata from prod (see the README for the
    /// query). Keyed by the videos' natural keys, which `VACUUM` cannot renumber. `similarity_items`
    /// is a WITHOUT ROWID table on (source keys, rank): a list is one contiguous, ordered range, and
    /// no second index copies its keys.
    public static let similarityCache = """
        CREATE TABLE IF NOT EXISTS similarity_sources (
            video_id TEXT NOT NULL,
            instance_domain TEXT NOT NULL,
            computed_at INTEGER NOT NULL,
            PRIMARY KEY (video_id, instance_domain)
        );
        CREATE TABLE IF NOT EXISTS similarity_items (
            source_video_id TEXT NOT NULL,
            source_instance_domain TEXT NOT NULL,
            rank INTEGER NOT NULL,
            similar_video_id TEXT NOT NULL,
            similar_instance_domain TEXT NOT NULL,
            score REAL,
            PRIMARY KEY (source_video_id, source_instance_domain, rank)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS similarity_inputs (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            embeddings TEXT NOT NULL,
            dimension INTEGER,
            top_k INTEGER NOT NULL,
            nprobe INTEGER NOT NULL,
            computed_at INTEGER NOT NULL
        );
        """

    /// The columns of a slim `similarity_items`; a cache with others (`similar_title`, … of the earlier
    /// wide format), or with a rowid, is migrated by `SimilarityPrecompute`.
    public static let similarityItemColumns = ["source_video_id", "source_instance_domain", "rank", "similar_video_id",
                                               "similar_instance_domain", "score"]

    /// The content tables whose row counts the worker and the smoke report track.
    public static let contentTables = ["instances", "channels", "videos", "video_embeddings"]
}
