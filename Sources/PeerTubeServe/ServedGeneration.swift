import Foundation
import GRDB
import PeerTubeUpdater

public enum ServeError: Error, CustomStringConvertible, Equatable {
    /// A file a reader would pin is not in WAL mode: holding it would block the worker's writes.
    case notWAL(role: String, path: String, mode: String)
    case indexWithoutMeta(index: String, meta: String)

    public var description: String {
        switch self {
        case let .notWAL(role, path, mode):
            return "serve: \(role) \(path) is in journal mode '\(mode)', not 'wal': a reader would block the worker's writes; start `peertube-updater serve` once while no worker runs (it switches the file to WAL)"
        case let .indexWithoutMeta(index, meta):
            return "serve: the ANN index \(index) has no meta \(meta); rebuild it with `peertube-updater ann build`"
        }
    }
}

/// One generation of what `serve` answers from: a pinned snapshot of prod, a pinned snapshot of the
/// similarity cache, and the ANN index with its meta from one published index generation.
///
/// Every answer is computed from one `ServedGeneration` from start to end, so it never mixes
/// generations; a request in flight keeps its generation (and its snapshots) alive after a newer one
/// is served, and the last reference closes them. The snapshots are WAL read transactions: the
/// worker keeps writing beside them, and they cost only the WAL frames they hold back from a checkpoint.
///
/// `consistent` says that prod, cache and index were computed from the same embeddings (the cache's
/// and the meta's `EmbeddingsFingerprint` equal prod's): every neighbour a list names is then in
/// this prod snapshot, with the metadata of this snapshot.
public final class ServedGeneration: @unchecked Sendable {
    public let sequence: Int
    public let openedAt: Date
    public let consistent: Bool
    public let summary: Summary

    let prod: DatabaseSnapshot
    let cache: DatabaseSnapshot?
    let index: FaissIndex?
    /// The `videos` columns read for an answer (`popularity` where prod has it).
    private let videoColumns: String

    /// What `/healthz` says of a generation.
    public struct Summary: Codable, Equatable, Sendable {
        public var videos: Int
        public var embeddings: Int
        public var embeddingsFingerprint: String
        public var cacheSources: Int?
        public var cacheComputedAt: Int64?
        public var cacheFingerprint: String?
        public var indexGeneration: String?
        public var indexBuiltAt: String?
        public var indexVectors: Int?
        public var indexFingerprint: String?
    }

    /// Opens the artifacts as they are published now. A missing cache or index is served as absent
    /// (their endpoints answer 503); a missing or unreadable prod is an error.
    ///
    /// - Throws: `StorageError` for a missing or foreign file, `ServeError.notWAL` for a file a reader
    ///   must not pin, `FaissError`, or a decoding error for an unreadable meta.
    public static func open(_ options: ServeOptions, sequence: Int) throws -> ServedGeneration {
        let prod = try snapshot(options.prodPath, role: "prod DB")
        let (fingerprint, videos, embeddings, columns) = try prod.read { db -> (String, Int, Int, String) in
            try DatabaseFile.requireTables(["videos", "video_embeddings"], in: db, role: "prod DB", path: options.prodPath)
            let hasPopularity = try db.columns(in: "videos").contains { $0.name == "popularity" }
            return (try EmbeddingsFingerprint.current(db), try db.rowCount(of: "videos"), try db.rowCount(of: "video_embeddings"),
                    VideoObject.columns + (hasPopularity ? ", popularity" : ""))
        }
        var cache: DatabaseSnapshot?
        var cacheState: (sources: Int, inputs: SimilarityInputs?, computedAt: Int64?)?
        if FileManager.default.fileExists(atPath: options.cachePath) {
            let opened = try snapshot(options.cachePath, role: "similarity cache")
            cacheState = try opened.read { db in
                try DatabaseFile.requireTables(["similarity_items", "similarity_sources"], in: db, role: "similarity cache", path: options.cachePath)
                let computedAt = try db.hasTable("similarity_inputs")
                    ? try Int64.fetchOne(db, sql: "SELECT computed_at FROM similarity_inputs WHERE id = 1") : nil
                return (try db.rowCount(of: "similarity_sources"), try SimilarityInputs.stored(in: db), computedAt)
            }
            cache = opened
        }
        // Index and meta through one reading of the generation link: they belong together.
        let (indexGeneration, files) = ArtifactGenerations(paths: [options.indexPath, options.metaPath]).currentFiles()
        var index: FaissIndex?, meta: ANNMeta?
        if FileManager.default.fileExists(atPath: files[0]) {
            guard FileManager.default.fileExists(atPath: files[1]) else {
                throw ServeError.indexWithoutMeta(index: options.indexPath, meta: options.metaPath)
            }
            index = try FaissIndex.read(files[0])
            meta = try ANNMeta.read(files[1])
        }
        let cacheFingerprint = cacheState?.inputs?.embeddings
        let consistent = cacheFingerprint == fingerprint && (meta.map { ($0.embeddingsFingerprint ?? fingerprint) == fingerprint } ?? false)
        let summary = Summary(videos: videos, embeddings: embeddings, embeddingsFingerprint: fingerprint,
                              cacheSources: cacheState?.sources, cacheComputedAt: cacheState?.computedAt, cacheFingerprint: cacheFingerprint,
                              indexGeneration: indexGeneration, indexBuiltAt: meta?.builtAt, indexVectors: meta?.total,
                              indexFingerprint: meta?.embeddingsFingerprint)
        return ServedGeneration(sequence: sequence, consistent: consistent, summary: summary,
                                prod: prod, cache: cache, index: index, videoColumns: columns)
    }

    private init(sequence: Int, consistent: Bool, summary: Summary, prod: DatabaseSnapshot,
                 cache: DatabaseSnapshot?, index: FaissIndex?, videoColumns: String) {
        self.sequence = sequence
        self.openedAt = Date()
        self.consistent = consistent
        self.summary = summary
        self.prod = prod
        self.cache = cache
        self.index = index
        self.videoColumns = videoColumns
    }

    /// Switches `path` to WAL mode if it is not (the one write `serve` makes, at start): in WAL a
    /// reader's snapshot never blocks the worker, and the worker's commits never block a reader.
    ///
    /// - Throws: `StorageError` for a missing or foreign file, `DatabaseError` when another connection
    ///   holds the file (a worker mid-write): start again when it is done.
    public static func prepareForReaders(_ path: String, role: String) throws -> Bool {
        let queue = try DatabaseFile.open(path, role: role, access: .readWrite)
        defer { try? queue.close() }
        let mode = try queue.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA journal_mode") } ?? ""
        guard mode.lowercased() != "wal" else { return false }
        _ = try queue.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA journal_mode = WAL") }
        return true
    }

    /// A read-only WAL snapshot of `path`, after the checks every stage makes (exists, is SQLite).
    private static func snapshot(_ path: String, role: String) throws -> DatabaseSnapshot {
        let mode = try DatabaseFile.open(path, role: role, access: .readOnly).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } ?? ""
        guard mode.lowercased() == "wal" else { throw ServeError.notWAL(role: role, path: path, mode: mode) }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(DatabaseFile.busyTimeout)
        config.label = role
        return try DatabasePool(path: path, configuration: config).makeSnapshot()
    }

    // MARK: - Answers

    /// The prod video `id` of `host`, nil when this generation's prod has none.
    ///
    /// - Throws: `DatabaseError` when prod cannot be read.
    public func video(host: String, id: String) throws -> VideoObject? {
        try prod.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(videoColumns) FROM videos WHERE instance_domain = ? AND video_id = ?"),
                             arguments: [host, id]).map(VideoObject.init(row:))
        }
    }

    /// The cached list of `id` of `host`, best first, at most `count`, each neighbour with its prod
    /// metadata; nil when this generation has no cache. A neighbour prod lacks (only possible in a
    /// generation that is not `consistent`) is left out.
    ///
    /// - Throws: `DatabaseError` when the cache or prod cannot be read.
    public func similar(host: String, id: String, count: Int) throws -> [SimilarVideo]? {
        guard let cache else { return nil }
        let items = try cache.read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT rank, similar_video_id, similar_instance_domain, score FROM similarity_items
                WHERE source_video_id = ? AND source_instance_domain = ? ORDER BY rank LIMIT ?
                """), arguments: [id, host, count])
                .map { (rank: $0[0] as Int, id: $0[1] as String, host: $0[2] as String, score: ($0[3] as Double?) ?? 0) }
        }
        let videos = try videos(items.map { ($0.host, $0.id) })
        return items.compactMap { item in
            videos[VideoKey(host: item.host, id: item.id)].map { SimilarVideo(rank: item.rank, score: item.score, video: $0) }
        }
    }

    /// The `count` prod videos closest to `query` (a normalised embedding): index candidates,
    /// re-ranked by the exact cosine with this snapshot's stored vectors. Nil when there is no index.
    ///
    /// - Throws: `FaissError`, `DatabaseError`.
    public func search(_ query: [Float], count: Int, nprobe: Int) throws -> [SimilarVideo]? {
        guard let index, index.dimension == query.count else { return nil }
        let pool = count * 3 + 16  // PQ scores are approximate: re-rank a wider pool exactly
        let ids = try index.search(query, k: pool, nprobe: nprobe).ids.filter { $0 >= 0 }
        guard !ids.isEmpty else { return [] }
        let scored = try prod.read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT video_id, instance_domain, embedding FROM video_embeddings
                WHERE rowid IN (SELECT value FROM json_each(?))
                """), arguments: [String(describing: ids)])
                .compactMap { row -> (key: VideoKey, score: Double)? in
                    let vector = EmbeddingBlob.decode(row["embedding"] as Data)
                    guard vector.count == query.count else { return nil }
                    return (VideoKey(host: row["instance_domain"], id: row["video_id"]), Double(zip(vector, query).reduce(0) { $0 + $1.0 * $1.1 }))
                }
        }
        let best = scored.sorted { $0.score != $1.score ? $0.score > $1.score : ($0.key.host, $0.key.id) < ($1.key.host, $1.key.id) }.prefix(count)
        let videos = try videos(best.map { ($0.key.host, $0.key.id) })
        return best.enumerated().compactMap { rank, hit in
            videos[hit.key].map { SimilarVideo(rank: rank + 1, score: hit.score, video: $0) }
        }
    }

    private struct VideoKey: Hashable {
        var host: String
        var id: String
    }

    /// Prod's rows for `keys`, in one query.
    private func videos(_ keys: [(host: String, id: String)]) throws -> [VideoKey: VideoObject] {
        guard !keys.isEmpty else { return [:] }
        let pairs = try JSONSerialization.data(withJSONObject: keys.map { [$0.host, $0.id] })
        return try prod.read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT \(videoColumns) FROM videos
                WHERE (video_id, instance_domain) IN (SELECT value ->> 1, value ->> 0 FROM json_each(?))
                """), arguments: [String(decoding: pairs, as: UTF8.self)])
            return Dictionary(rows.map { row in (VideoKey(host: row["instance_domain"], id: row["video_id"]), VideoObject(row: row)) },
                              uniquingKeysWith: { first, _ in first })
        }
    }
}
