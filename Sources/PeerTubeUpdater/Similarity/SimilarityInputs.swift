import GRDB

/// What a similarity cache was last computed from: a fingerprint of prod's `video_embeddings` and the
/// search parameters, stored in the cache (`similarity_inputs`) in the transaction that writes its lists.
///
/// An incremental run whose inputs equal the stored ones has nothing to do, and says so after two
/// small queries and opening the index (to check its dimension) instead of loading every vector and
/// planning from the whole cache (4 s at 100,000 videos). `serve` compares the stored fingerprint
/// with prod's to know the cache's lists belong to the prod it reads.
public struct SimilarityInputs: Equatable, Sendable {
    /// `EmbeddingsFingerprint` of prod when the lists were computed.
    public var embeddings: String
    /// The first row's dimension (the one the stage uses); nil when the table is empty.
    public var dimension: Int?
    public var topK: Int
    public var nprobe: Int

    /// The inputs a run would use now; `prod` is the schema name prod is attached as (nil for main).
    ///
    /// - Throws: `DatabaseError` when prod's `video_embeddings` cannot be read.
    static func current(_ db: Database, prod schema: String?, topK: Int, nprobe: Int) throws -> SimilarityInputs {
        let dimension = try Int.fetchOne(db, sql: "SELECT embedding_dim FROM \(db.qualified("video_embeddings", in: schema)) ORDER BY rowid LIMIT 1")
        return SimilarityInputs(embeddings: try EmbeddingsFingerprint.current(db, schema: schema), dimension: dimension, topK: topK, nprobe: nprobe)
    }

    /// The inputs the cache's lists were computed from; nil for a cache that never recorded them.
    ///
    /// - Throws: `DatabaseError` when the cache cannot be read.
    public static func stored(in db: Database) throws -> SimilarityInputs? {
        guard try db.hasTable("similarity_inputs", in: "main") else { return nil }
        return try Row.fetchOne(db, sql: "SELECT embeddings, dimension, top_k, nprobe FROM main.similarity_inputs WHERE id = 1").map {
            SimilarityInputs(embeddings: $0[0], dimension: $0[1], topK: $0[2], nprobe: $0[3])
        }
    }

    /// Records these inputs in the cache (schema main), inside the caller's transaction.
    ///
    /// - Throws: `DatabaseError` when the cache cannot be written.
    func store(in db: Database, computedAt: Int64) throws {
        try db.execute(sql: """
            INSERT INTO main.similarity_inputs(id, embeddings, dimension, top_k, nprobe, computed_at) VALUES (1, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET embeddings = excluded.embeddings, dimension = excluded.dimension,
                top_k = excluded.top_k, nprobe = excluded.nprobe, computed_at = excluded.computed_at
            """, arguments: [embeddings, dimension, topK, nprobe, computedAt])
    }
}
