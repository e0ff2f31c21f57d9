import ArgumentParser
import Foundation
import Logging
import PeerTubeUpdater

struct SimilarityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity",
        abstract: "ANN build, then full and incremental similarity precompute on a synthetic prod; recall@20 vs exact."
    )

    @Option var videos = 100_000
    @Option(name: .customLong("new-videos")) var newVideos = 5_000
    @Option var nlist = 1024
    @OptionGroup var data: BenchData

    func run() throws {
        let logger = try data.prepare()
        let catalog = SyntheticCatalog(seed: 4321, instanceCount: 50)
        let base = "\(data.dataDir)/sim-prod-\(videos).db", grown = "\(data.dataDir)/sim-prod-\(videos)+\(newVideos).db"
        if !FileManager.default.fileExists(atPath: grown) {
            try catalog.write(.init(videos: 0..<videos, channels: 0..<max(1, videos / 50), withEmbeddings: true, isProd: true),
                              to: base, logger: logger)
            try catalog.write(.init(videos: 0..<(videos + newVideos), channels: 0..<max(1, videos / 50), withEmbeddings: true, isProd: true),
                              to: grown, logger: logger)
        }
        let index = "\(data.dataDir)/sim.faiss", cache = "\(data.dataDir)/sim-cache.db"
        var build: [Double] = [], full: [Double] = [], incremental: [Double] = [], noop: [Double] = []
        var refreshed = 0
        for run in 1...data.runs {
            for path in [cache, cache + ".prev"] { try DatabaseFile.remove(path) }
            build.append(try Measure.seconds {
                _ = try ANNBuild.run(dbPath: base, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: logger)
            })
            full.append(try Measure.seconds {
                _ = try SimilarityPrecompute.run(dbPath: base, indexPath: index, outPath: cache, options: .init(selection: .reset), logger: logger)
            })
            _ = try ANNBuild.run(dbPath: grown, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: logger)
            incremental.append(try Measure.seconds {
                refreshed = try SimilarityPrecompute.run(dbPath: grown, indexPath: index, outPath: cache, logger: logger).refreshedSources
            })
            noop.append(try Measure.seconds {
                _ = try SimilarityPrecompute.run(dbPath: grown, indexPath: index, outPath: cache, logger: logger)
            })
            let size = (try? FileManager.default.attributesOfItem(atPath: cache)[.size] as? Int) ?? 0
            print(String(format: "run %d: ann build %.1f s, full %.1f s, incremental %.1f s (+%d new, %d refreshed), no-op incremental %.2f s; cache %d MB",
                         run, build.last!, full.last!, incremental.last!, newVideos, refreshed, noop.last!, size >> 20))
        }
        Measure.report("ann build \(videos) vectors, nlist \(nlist)", build)
        Measure.report("full similarity precompute", full, per: videos)
        Measure.report("incremental precompute (+\(newVideos) videos, \(refreshed) lists refreshed)", incremental, per: newVideos + refreshed)
        Measure.report("no-op incremental precompute", noop)
        try reportRecall(prod: grown, cache: cache)
    }

    /// recall@20 of 1,000 cached lists against exact search over every embedding.
    private func reportRecall(prod: String, cache: String) throws {
        let exact = try SimilarityQuality.exactLists(prodPath: prod, sampleEvery: (videos + newVideos) / 1000)
        let recall = SimilarityQuality.recall(try SimilarityQuality.cachedLists(cachePath: cache), against: exact)
        print(String(format: "recall@20 vs exact search (%d sources, after the incremental run): %.3f", exact.count, recall))
    }
}
