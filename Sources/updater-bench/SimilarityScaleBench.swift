import ArgumentParser
import Foundation
import Logging
import PeerTubeUpdater

/// How the CPU similarity stage grows with the catalogue: at each size, a synthetic clustered prod
/// with lists of a fixed size (nlist = videos / 100, at most what the training sample trains), the
/// full precompute and a +1% incremental run, medians, with the time per video. The list search is
/// linear in the videos; the assignment of every video to its lists (one GEMM against the centroids)
/// grows with videos × nlist. Peak RSS is the full run's (the process's high-water mark reset before it).
struct SimilarityScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity-scale",
        abstract: "Full and +1% incremental similarity precompute at 100k, 300k and 1M videos: time per video, peak memory."
    )

    @Option(help: "Catalogue sizes, comma-separated.") var sizes = "100000,300000,1000000"
    @Option(name: .customLong("runs-large"), help: "Runs at 1,000,000 videos and more (each takes minutes).") var runsLarge = 1
    @OptionGroup var data: BenchData

    func run() throws {
        let logger = try data.prepare()
        for size in sizes.split(separator: ",").compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            let added = max(1, size / 100)
            let (base, grown) = try data.grownAndBase(videos: size, newVideos: added, name: "sim-scale", logger: logger)
            let nlist = min(size / 100, ANNBuild.Options().trainSample / ANNBuild.pointsPerListWanted)
            let index = "\(data.dataDir)/sim-scale-\(size).faiss", cache = "\(data.dataDir)/sim-scale-\(size)-cache.db"
            if !FileManager.default.fileExists(atPath: index) {
                _ = try ANNBuild.run(dbPath: base, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: logger)
            }
            var full: [Double] = [], incremental: [Double] = [], searching: [Double] = []
            var refreshed = 0
            var peak = 0
            for _ in 1...(size >= 1_000_000 ? runsLarge : data.runs) {
                for path in [cache, cache + ".prev"] { try DatabaseFile.remove(path) }
                Measure.resetPeakResident()
                let first = try SimilarityPrecompute.run(dbPath: base, indexPath: index, outPath: cache, options: .init(selection: .reset), logger: logger)
                peak = max(peak, Measure.peakResidentBytes() ?? 0)
                full.append(Double(first.durationMs) / 1000)
                searching.append(Double(first.searchMs) / 1000)
                let next = try SimilarityPrecompute.run(dbPath: grown, indexPath: index, outPath: cache, logger: logger)
                incremental.append(Double(next.durationMs) / 1000)
                refreshed = next.refreshedSources
                print(String(format: "%d videos: full %.2f s (searching %.2f s), +%d incremental %.2f s (%d old lists refreshed)",
                             size, full.last!, searching.last!, added, incremental.last!, refreshed))
            }
            let median = Measure.median(full)
            print(String(format: "similarity-scale %d videos (nlist %d, nprobe 16): full %.2f s = %.1f µs/video (searching %.2f s), peak RSS %.2f GB, +%d incremental %.2f s = %.0f%% of full, %d lists refreshed; runs: %@",
                         size, nlist, median, median / Double(size) * 1e6, Measure.median(searching), Double(peak) / 1e9, added,
                         Measure.median(incremental), Measure.median(incremental) / median * 100, refreshed,
                         full.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
        }
    }
}
