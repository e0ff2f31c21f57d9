import Foundation
import GRDB

/// The one reader of `video_embeddings` for the ANN and similarity stages and the quality checks:
/// which dimension and model it holds, and its vectors in rowid order, batch by batch,
/// L2-normalised, with their natural keys when asked. Rows of another dimension, or whose blob
/// length disagrees with it, are skipped and counted.
struct EmbeddingScan {
    let dimension: Int
    let modelName: String
    let total: Int
    let valid: Int
    var skipped: Int { total - valid }

    /// Profiles the table; nil when it holds no row.
    init?(_ db: Database) throws {
        guard let first = try Row.fetchOne(db, sql: "SELECT embedding_dim, model_name FROM video_embeddings ORDER BY rowid LIMIT 1") else {
            return nil
        }
        dimension = first["embedding_dim"]
        modelName = first["model_name"]
        total = try db.rowCount(of: "video_embeddings")
        valid = try Int.fetchOne(db, sql: "SELECT count(*) FROM video_embeddings WHERE \(Self.validFilter)",
                                 arguments: [dimension, dimension * 4]) ?? 0
    }

    static let validFilter = "embedding_dim = ? AND length(embedding) = ?"

    /// A video's natural key.
    struct Key: Hashable, Sendable {
        var videoID: String
        var host: String
        init(_ videoID: String, _ host: String) {
            self.videoID = videoID
            self.host = host
        }
    }

    /// Calls `body` with (rowids, vectors back to back, keys) for every valid row, `batchSize` rows at
    /// a time; `keys` is empty unless `withKeys`.
    func forEachBatch(_ reader: DatabaseReader, batchSize: Int, withKeys: Bool = false,
                      _ body: (_ rowids: [Int64], _ vectors: [Float], _ keys: [Key]) throws -> Void) throws {
        var after: Int64 = Int64.min
        let columns = withKeys ? "rowid, embedding, video_id, instance_domain" : "rowid, embedding"
        while true {
            var rowids: [Int64] = [], vectors: [Float] = [], keys: [Key] = []
            rowids.reserveCapacity(batchSize)
            vectors.reserveCapacity(batchSize * dimension)
            try reader.read { db in
                // A cursor over the statement: each blob is read in place, not copied into a row first.
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT \(columns) FROM video_embeddings
                    WHERE rowid > ? AND \(Self.validFilter) ORDER BY rowid LIMIT ?
                    """, arguments: [after, dimension, dimension * 4, batchSize])
                while let row = try rows.next() {
                    rowids.append(row[0])
                    try row.withUnsafeData(atIndex: 1) { blob in
                        blob.map { vectors.append(contentsOf: Self.normalized(EmbeddingBlob.decode($0))) }
                    }
                    if withKeys { keys.append(Key(row[2], row[3])) }
                }
            }
            guard let last = rowids.last else { return }
            after = last
            try body(rowids, vectors, keys)
        }
    }

    static func normalized(_ vector: [Float]) -> [Float] {
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }
}
