import Foundation
import GRDB

/// The smoke's proof that INSERT_OR_REPLACE replaces: a staging embedding whose key prod already has.
enum ReplacementEmbedding {
    /// `--inject-replace-embedding-for-test`: copies prod's first embedding row into staging with the
    /// first byte of its vector flipped (XOR 0xFF), so the INSERT_OR_REPLACE rule has an existing key
    /// whose payload changes. Its video row comes along unchanged (staging's embeddings reference
    /// staging's videos; INSERT_ONLY leaves prod's copy alone). Returns the key, or nil when prod has
    /// no embedding.
    static func inject(stagingPath: String, prodPath: String) throws -> (videoID: String, host: String)? {
        let staging = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readWrite)
        return try staging.withAttached(prodPath, as: "prod") { db in
            try db.execute(sql: Schema.videoEmbeddingsTable)
            guard try db.hasTable("video_embeddings", in: "prod"),
                  let row = try Row.fetchOne(db, sql: """
                    SELECT video_id, instance_domain, embedding, embedding_dim, model_name, created_at
                    FROM prod.video_embeddings ORDER BY rowid LIMIT 1
                    """) else { return nil }
            try db.copyRows(of: "videos", from: "prod", into: "main", where: "video_id = ? AND instance_domain = ?",
                            arguments: [row["video_id"], row["instance_domain"]])
            var blob: Data = row["embedding"] ?? Data()
            if !blob.isEmpty { blob[blob.startIndex] ^= 0xFF }
            try db.execute(sql: """
                INSERT OR REPLACE INTO main.video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [row["video_id"], row["instance_domain"], blob, row["embedding_dim"], row["model_name"], row["created_at"]])
            return (row["video_id"], row["instance_domain"])
        }
    }
}
