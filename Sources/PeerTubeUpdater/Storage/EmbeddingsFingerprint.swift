import GRDB

/// Which state of prod's `video_embeddings` an artifact was computed from, in one short string.
///
/// The ANN meta and the similarity cache record it when they are built; a reader (`serve`) compares
/// them with prod's own to know that index, cache and prod belong to one generation. It reads the
/// key index and each row's `created_at` and blob length: rows added, removed or renumbered change
/// it, and so does a re-embedded row, which the merge writes with a new `created_at`. About 0.1 s at
/// 100,000 rows, far cheaper than a `TableFingerprint` of the blobs.
public enum EmbeddingsFingerprint {
    /// The fingerprint of `video_embeddings` in `schema` (nil for main) as `db` sees it now.
    ///
    /// - Throws: `DatabaseError` when the table cannot be read.
    public static func current(_ db: Database, schema: String? = nil) throws -> String {
        let row = try Row.fetchOne(db, sql: """
            SELECT count(*), total(rowid), max(rowid), max(created_at), total(length(embedding)), total(embedding_dim)
            FROM \(db.qualified("video_embeddings", in: schema))
            """)!
        return (0..<6).map { (row[$0] as DatabaseValue).description }.joined(separator: "/")
    }
}
