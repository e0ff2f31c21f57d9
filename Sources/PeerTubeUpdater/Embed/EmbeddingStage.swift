import Foundation
import GRDB
import Logging

/// The embeddings stage: an embedding for every video of a DB (staging, in the worker) that has none.
///
/// Videos are read in pages by rowid, never the whole table, and each page's vectors are committed
/// in one transaction: an interrupted run keeps what it wrote and the next run resumes after it.
/// Existing rows are updated in place (their rowid, the ANN id, stays).
public enum EmbeddingStage {
    public struct Options: Sendable {
        /// Videos per page: read, embedded and committed together. nil: the embedder's
        /// `preferredBatchSize` (grows with its workers, so each keeps large GEMMs).
        public var batchSize: Int?
        /// Re-embed every video, not only those without an embedding.
        public var force = false
        /// Seconds between progress lines.
        public var progressInterval: Double = 10
        /// A prod DB: a video whose prod row already has an embedding of the same text (as
        /// `EmbeddingText` builds it) is not embedded again (a refresh re-reads known videos; only
        /// those whose text changed need a new vector).
        public var unchangedIn: String?
        public init(batchSize: Int? = nil, force: Bool = false, unchangedIn: String? = nil) {
            self.batchSize = batchSize
            self.force = force
            self.unchangedIn = unchangedIn
        }
    }

    public struct Result: Sendable, Equatable {
        /// Videos selected at the start.
        public var candidates: Int
        public var embedded: Int
        /// Videos with no text at all (no title, description, tags, …): nothing to embed.
        public var withoutText: Int
        /// Videos whose prod embedding was built from the same text (`Options.unchangedIn`).
        public var unchanged = 0
        public var durationMs: Int
    }

    /// - Throws: `StorageError` for an unusable DB, `DatabaseError` when a batch cannot be committed, and
    ///   `DeviceError` when the GPU fails mid-stage (no CPU fallback); the batches committed before stay.
    public static func run(dbPath: String, embedder: SentenceEmbedder, options: Options = .init(),
                           logger: Logger) throws -> Result {
        let batchSize = options.batchSize ?? embedder.preferredBatchSize
        guard batchSize > 0 else { throw ModelError.invalid(path: dbPath, reason: "batch size must be > 0") }
        let queue = try DatabaseFile.open(dbPath, role: "DB to embed", access: .readWrite)
        let clock = ContinuousClock.now
        let pending = options.force ? "1" : """
            NOT EXISTS (SELECT 1 FROM video_embeddings e
                        WHERE e.video_id = v.video_id AND e.instance_domain = v.instance_domain)
            """
        let candidates = try queue.write { db -> Int in
            try DatabaseFile.requireTables(["videos"], in: db, role: "DB to embed", path: dbPath)
            try db.execute(sql: Schema.videoEmbeddingsTable)
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM videos v WHERE \(pending)") ?? 0
        }
        logger.info("embeddings: device=\(embedder.marker) model=\(ModelFiles.modelName) videos_to_embed=\(candidates) batch_size=\(batchSize) threads=\(embedder.workers) on \(embedder.deviceDescription)")

        var result = Result(candidates: candidates, embedded: 0, withoutText: 0, durationMs: 0)
        let prod = try options.unchangedIn.map { try DatabaseFile.open($0, role: "prod DB", access: .readOnly) }
        var progress = ProgressLine(label: "embeddings", total: candidates, unit: "texts", interval: options.progressInterval)
        var lastRowID: Int64 = 0
        while true {
            let page = try queue.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT v.rowid, v.video_id, v.instance_domain, v.title, v.description, v.tags_json, v.category,
                           v.channel_name, v.comments_count
                    FROM videos v WHERE v.rowid > ? AND \(pending) ORDER BY v.rowid LIMIT ?
                    """, arguments: [lastRowID, batchSize])
            }
            guard let last = page.last else { break }
            lastRowID = last["rowid"]
            var keys: [(String, String)] = [], texts: [String] = []
            for row in page {
                let source = EmbeddingText(title: row["title"], description: row["description"], tagsJSON: row["tags_json"],
                                           category: row["category"], channelName: row["channel_name"],
                                           commentsCount: row["comments_count"])
                guard let text = source.text else {
                    result.withoutText += 1
                    continue
                }
                if let prod, try Self.prodText(of: row["video_id"], row["instance_domain"], in: prod) == text {
                    result.unchanged += 1
                    continue
                }
                keys.append((row["video_id"], row["instance_domain"]))
                texts.append(text)
            }
            let vectors = try embedder.embed(texts)
            let createdAt = Self.timestamp()
            try queue.write { db in
                let insert = try db.makeStatement(sql: """
                    INSERT INTO video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(video_id, instance_domain) DO UPDATE SET embedding = excluded.embedding,
                        embedding_dim = excluded.embedding_dim, model_name = excluded.model_name, created_at = excluded.created_at
                    """)
                for ((videoID, host), vector) in zip(keys, vectors) {
                    try insert.execute(arguments: [videoID, host, EmbeddingBlob.encode(vector), vector.count, ModelFiles.modelName, createdAt])
                }
            }
            result.embedded += vectors.count
            try FaultPlan.reach(.embeddingsBatch)
            progress.advance(by: page.count, logger: logger)
        }
        result.durationMs = clock.elapsedMilliseconds
        let rate = Double(result.embedded) / max(Double(result.durationMs) / 1000, 0.001)
        logger.info("embeddings: embedded \(result.embedded) videos, \(result.withoutText) without text, \(result.unchanged) unchanged in prod, in \(result.durationMs)ms (\(String(format: "%.1f", rate)) texts/s)")
        return result
    }

    /// ISO-8601 UTC with an explicit offset, as Python's `datetime.now(timezone.utc).isoformat()`.
    static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)).replacingOccurrences(of: "Z", with: "+00:00")
    }

    /// The text prod's embedding of this video was built from: nil when prod has no embedding of it.
    private static func prodText(of videoID: String, _ host: String, in prod: DatabaseQueue) throws -> String? {
        try prod.read { db in
            try Row.fetchOne(db, sql: """
                SELECT v.title, v.description, v.tags_json, v.category, v.channel_name, v.comments_count
                FROM videos v JOIN video_embeddings e ON e.video_id = v.video_id AND e.instance_domain = v.instance_domain
                WHERE v.video_id = ? AND v.instance_domain = ?
                """, arguments: [videoID, host]).flatMap { row in
                EmbeddingText(title: row["title"], description: row["description"], tagsJSON: row["tags_json"],
                              category: row["category"], channelName: row["channel_name"], commentsCount: row["comments_count"]).text
            }
        }
    }

}
