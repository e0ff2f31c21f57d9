import ArgumentParser
import Foundation
import GRDB
import Logging
import PeerTubeUpdater

/// What a refresh costs after its crawl, against rebuilding the artifacts from scratch: on the
/// similarity benchmark's prod, 1% of the videos re-read with new counts (a tenth of those with a new
/// text and embedding) and 0.1% gone upstream.
struct RefreshBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh",
        abstract: "Merge, popularity, ANN build and incremental similarity after a refresh (1% changed, 0.1% deleted) vs a full rebuild."
    )

    @Option var videos = 100_000
    @Option var nlist = 1024
    @OptionGroup var data: BenchData

    func run() throws {
        let logger = try data.prepare()
        let base = try data.syntheticProd(videos: videos, logger: logger)
        let (prod, staging) = ("\(data.dataDir)/refresh-prod.db", "\(data.dataDir)/refresh-staging.db")
        let (index, cache) = ("\(data.dataDir)/refresh.faiss", "\(data.dataDir)/refresh-cache.db")
        let changed = videos / 100, reEmbedded = videos / 1_000, gone = videos / 1_000
        var full: [Double] = [], incremental: [Double] = []
        for run in 1...data.runs {
            for path in [prod, cache, cache + ".prev"] { try DatabaseFile.remove(path) }
            try FileManager.default.copyItem(atPath: base, toPath: prod)
            full.append(try Measure.seconds {
                _ = try ANNBuild.run(dbPath: prod, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: logger)
                _ = try SimilarityPrecompute.run(dbPath: prod, indexPath: index, outPath: cache, options: .init(selection: .reset), logger: logger)
            })
            try Self.writeStaging(staging, from: prod, changed: changed, reEmbedded: reEmbedded, gone: gone)
            var stages: [(String, Double)] = []
            var readAt: Int64 = 0
            func timed(_ name: String, _ body: () throws -> Void) throws { stages.append((name, try Measure.seconds(body))) }
            readAt = Int64(Date().timeIntervalSince1970 * 1000) - 1
            var similarity: SimilarityPrecompute.Result?
            try timed("merge") { _ = try StagingMerge.run(prodPath: prod, stagingPath: staging, rules: .refresh, logger: logger) }
            try timed("popularity") { _ = try PopularityRecompute.run(dbPath: prod, selection: .incremental, readSince: readAt, logger: logger) }
            try timed("ann") { _ = try ANNBuild.run(dbPath: prod, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: logger) }
            try timed("similarity") { similarity = try SimilarityPrecompute.run(dbPath: prod, indexPath: index, outPath: cache, logger: logger) }
            incremental.append(stages.reduce(0) { $0 + $1.1 })
            let parts = stages.map { String(format: "%@ %.2f s", $0.0, $0.1) }.joined(separator: ", ")
            print(String(format: "run %d: full rebuild %.1f s; after the refresh %.1f s (%@; %d lists new, %d refreshed, %d removed)",
                         run, full.last!, incremental.last!, parts, similarity?.newSources ?? 0, similarity?.refreshedSources ?? 0,
                         similarity?.removedSources ?? 0))
        }
        for path in [prod, staging, cache, cache + ".prev"] { try DatabaseFile.remove(path) }
        Measure.report("full rebuild (ANN build + full similarity), \(videos) videos", full)
        Measure.report("after a refresh of \(changed) changed (\(reEmbedded) re-embedded) and \(gone) deleted videos (merge + popularity + ANN build + incremental similarity)", incremental)
    }

    /// A staging as the refresh crawl and the embedding stage leave it: `changed` prod videos re-read
    /// with more views, the first `reEmbedded` of them retitled with the vector of a video far down
    /// the table (another topic), stamped now; `gone` other videos in `gone_videos`.
    static func writeStaging(_ path: String, from prod: String, changed: Int, reEmbedded: Int, gone: Int) throws {
        try DatabaseFile.remove(path)
        let queue = try DatabaseFile.open(path, role: "staging DB", access: .create)
        try queue.write { db in
            try db.execute(sql: Schema.crawlerTables + Schema.videoEmbeddingsTable + Schema.goneVideosTable)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try queue.withAttached(prod, as: "prod") { db in
            let columns = try db.columnNames(of: "videos", in: "main").filter { $0 != "popularity" }
            let list = columns.joined(separator: ", ")
            let picked = "SELECT rowid FROM prod.videos ORDER BY rowid LIMIT \(changed)"
            try db.execute(sql: "INSERT INTO main.videos(\(list)) SELECT \(list) FROM prod.videos WHERE rowid IN (\(picked))")
            try db.execute(sql: "UPDATE main.videos SET views = coalesce(views, 0) + 100, last_checked_at = ?", arguments: [now])
            try db.execute(sql: "UPDATE main.videos SET title = 'retitled ' || video_id WHERE rowid IN (SELECT rowid FROM main.videos ORDER BY rowid LIMIT \(reEmbedded))")
            try db.execute(sql: """
                INSERT INTO main.video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
                SELECT v.video_id, v.instance_domain, far.embedding, far.embedding_dim, far.model_name, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
                FROM (SELECT video_id, instance_domain, row_number() OVER (ORDER BY rowid) AS n FROM main.videos ORDER BY rowid LIMIT \(reEmbedded)) v
                JOIN (SELECT embedding, embedding_dim, model_name, row_number() OVER (ORDER BY rowid DESC) AS n FROM prod.video_embeddings) far USING (n)
                """)
            try db.execute(sql: """
                INSERT INTO main.gone_videos(video_id, instance_domain, reason, detected_at)
                SELECT video_id, instance_domain, 'not_found', ? FROM prod.videos
                WHERE rowid NOT IN (\(picked)) ORDER BY rowid DESC LIMIT \(gone)
                """, arguments: [now])
        }
    }
}
