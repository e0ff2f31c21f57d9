import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

/// An operator's existing PeerTube-browser prod DB: exactly the PeerTube-browser column lists (`Schema`), no extra column
/// (no popularity yet), channels in the prod column order (channel_url after health_error), only the
/// primary keys. It must seed, merge and get popularity as it is.
@Suite struct CompatibilityTests {
    static let existingProdDDL = """
        CREATE TABLE instances(host TEXT PRIMARY KEY, health_status TEXT, health_checked_at INTEGER, health_error TEXT,
            last_error TEXT, last_error_at INTEGER, last_error_source TEXT);
        CREATE TABLE channels(channel_id TEXT NOT NULL, channel_name TEXT, display_name TEXT, instance_domain TEXT NOT NULL,
            videos_count INTEGER, followers_count INTEGER, avatar_url TEXT, health_status TEXT, health_checked_at INTEGER,
            health_error TEXT, channel_url TEXT, last_error TEXT, last_error_at INTEGER, last_error_source TEXT,
            PRIMARY KEY (channel_id, instance_domain));
        CREATE TABLE videos(video_id TEXT NOT NULL, video_uuid TEXT, video_numeric_id INTEGER, instance_domain TEXT NOT NULL,
            channel_id TEXT, channel_name TEXT, channel_url TEXT, account_name TEXT, account_url TEXT, title TEXT,
            description TEXT, tags_json TEXT, category TEXT, published_at INTEGER, video_url TEXT, duration INTEGER,
            thumbnail_url TEXT, embed_path TEXT, views INTEGER, likes INTEGER, dislikes INTEGER, comments_count INTEGER,
            nsfw INTEGER, preview_path TEXT, last_checked_at INTEGER NOT NULL, last_error TEXT, last_error_at INTEGER,
            error_count INTEGER NOT NULL DEFAULT 0, invalid_reason TEXT, invalid_at INTEGER,
            PRIMARY KEY (video_id, instance_domain));
        CREATE TABLE video_embeddings(video_id TEXT NOT NULL, instance_domain TEXT NOT NULL, embedding BLOB NOT NULL,
            embedding_dim INTEGER NOT NULL, model_name TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (video_id, instance_domain));
        INSERT INTO instances(host, health_status) VALUES ('old.example', 'ok');
        INSERT INTO channels(channel_id, instance_domain, channel_name, channel_url)
            VALUES ('7', 'old.example', 'cooking', 'https://old.example/video-channels/cooking');
        INSERT INTO videos(video_id, instance_domain, title, views, likes, published_at, last_checked_at)
            VALUES ('1', 'old.example', 'Soup', 40, 5, 1700000000000, 1700000000000);
        """

    @Test func anExistingProdSeedsMergesAndGetsPopularity() throws {
        let dir = try TempDir()
        let prod = dir.path("whitelist.db")
        try DatabaseFile.open(prod, role: "test", access: .create).write { try $0.execute(sql: Self.existingProdDDL) }

        let staging = try StagingDatabase.recreate(at: dir.path("staging.db"))
        let seeded = try StagingDatabase.seed(staging, fromProdAt: prod)
        #expect(seeded.instances == 1 && seeded.channels == 1)
        // The channel's columns arrived by name although the two layouts order them differently.
        let (channelURL, seededFrom) = try staging.read { db in
            (try String.fetchOne(db, sql: "SELECT channel_url FROM channels"),
             try String.fetchOne(db, sql: "SELECT value FROM crawl_state WHERE key = 'stage_seeded_from'"))
        }
        #expect(channelURL == "https://old.example/video-channels/cooking")
        #expect(seededFrom == prod)
        try staging.write { db in
            try insertInstance("new.example", db)
            try VideoRow(id: "2", host: "new.example", views: 10, likes: 0, publishedAt: nil).insert(db)
            try db.execute(sql: Schema.videoEmbeddingsTable)
            try insertEmbedding("2", "new.example", firstValue: 0.5, db)
        }

        let results = try StagingMerge.run(prodPath: prod, stagingPath: dir.path("staging.db"), rules: .builtIn, logger: quietLogger)
        #expect(results.map(\.inserted) == [1, 0, 1, 1])

        let scored = try PopularityRecompute.run(dbPath: prod, selection: .incremental,
                                                 now: Date(timeIntervalSince1970: 1_700_000_000), logger: quietLogger)
        #expect(scored.scored == 2)
        let popularity = try DatabaseFile.open(prod, role: "test", access: .readOnly).read { db in
            try Double.fetchOne(db, sql: "SELECT popularity FROM videos WHERE video_id = '1'")
        }
        #expect(popularity == 50)
        let integrity = try DatabaseFile.open(prod, role: "test", access: .readOnly).read { try $0.integrityCheck() }
        #expect(integrity == ["ok"])
    }
}
