import GRDB

/// Removal of the videos a refresh found gone upstream (staging's `gone_videos`), run inside the
/// merge transaction: their embeddings, then their rows, leave prod together with the rest of the
/// merge or not at all. The ANN build drops their ids (it rebuilds from prod), and the similarity
/// stage drops their lists and refreshes every list that named them.
enum GoneVideos {
    /// Embeddings first: they reference the video rows.
    static let tables = ["video_embeddings", "videos"]

    /// Deletes and adds the counts to those tables' entries of `results`.
    ///
    /// - Throws: `DatabaseError`; the caller's transaction then rolls back.
    static func remove(db: Database, stagingSchema: String, results: inout [TableMergeResult]) throws {
        let gone = db.qualified("gone_videos", in: stagingSchema)
        for table in tables {
            let clock = ContinuousClock.now
            try db.run("""
                DELETE FROM \(db.qualified(table, in: "main"))
                WHERE (video_id, instance_domain) IN (SELECT video_id, instance_domain FROM \(gone))
                """)
            let deleted = db.changesCount
            guard let entry = results.firstIndex(where: { $0.table == table }) else { continue }
            results[entry].deleted += deleted
            results[entry].rowsAfter -= deleted
            results[entry].durationMs += clock.elapsedMilliseconds
        }
    }
}
