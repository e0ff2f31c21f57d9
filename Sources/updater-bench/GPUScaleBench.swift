import ArgumentParser
import Foundation
import Logging
import PeerTubeUpdater
import SmokeHarness

/// The GPU part of the proof at scale (scripts/gpu-proof.sh): one synthetic clustered prod of
/// `--videos` (+ `--new-videos` for the incremental run), the ANN build on the CPU and the GPU with
/// recall@20 of both indexes against exact search, then exact similarity on the GPU (full, then
/// incremental) with its recall against CPU exact search. One `GPU-SCALE <name>: …` line per figure.
struct GPUScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-scale",
        abstract: "ANN build (CPU vs GPU) and exact GPU similarity on a synthetic prod of a million videos; recall against exact search.",
        discussion: """
            The prod is generated once into --data-dir: the grown catalogue (videos + new videos), then the base as its \
            copy without the new rows. Recall samples --recall-sample sources spread over the table.
            """
    )

    @Option var videos = 1_000_000
    @Option(name: .customLong("new-videos")) var newVideos = 10_000
    @Option var nlist = 4096
    @Option(name: .customLong("recall-sample"), help: "Sources whose lists are checked against exact search.")
    var recallSample = 200
    @Flag(name: .customLong("skip-cpu-build"), help: "Build the index on the GPU only.")
    var skipCPUBuild = false
    @Flag(name: .customLong("host-device"), help: "Run the GPU paths on the host reference device (OpenBLAS, reference kernels): checks this bench without a GPU, slowly.")
    var hostDevice = false
    @OptionGroup var data: BenchData
    @OptionGroup var device: DeviceOptions

    func run() throws {
        let logger = try data.prepare()
        _ = device.resolved(default: .gpu)
        let (base, grown) = try data.grownAndBase(videos: videos, newVideos: newVideos, name: "gpu-scale", logger: logger)
        let gpu: TensorDevice? = hostDevice ? HostDevice(capacity: 16 << 30) : nil
        let sampleEvery = max(1, videos / recallSample)
        var indexes: [ComputeDevice: String] = [:]
        for mode in skipCPUBuild ? [ComputeDevice.gpu] : [.cpu, .gpu] {
            let index = "\(data.dataDir)/gpu-scale-\(mode).faiss"
            var options = ANNBuild.Options(nlist: nlist, device: mode)
            options.precision = device.gpuPrecision
            let seconds = try Measure.seconds {
                _ = try ANNBuild.run(dbPath: base, indexPath: index, metaPath: index + ".json", options: options, logger: logger,
                                     on: mode == .gpu ? gpu : nil)
            }
            let recall = try SimilarityQuality.indexRecall(indexPath: index, prodPath: base, sampleEvery: sampleEvery)
            print(String(format: "GPU-SCALE ann-build-%@: %.2f s, recall@20 %.4f (nprobe 16, %d sources), %d vectors, nlist %d",
                         mode.rawValue, seconds, recall, videos / sampleEvery, videos, nlist))
            indexes[mode] = index
        }
        let index = indexes[.gpu]!, cache = "\(data.dataDir)/gpu-scale-cache.db"
        for path in [cache, cache + ".prev"] { try DatabaseFile.remove(path) }
        var options = SimilarityPrecompute.Options(selection: .reset, device: .gpu)
        let full = try SimilarityPrecompute.run(dbPath: base, indexPath: index, outPath: cache, options: options, logger: logger, on: gpu)
        print(String(format: "GPU-SCALE similarity-full: %.2f s in all, %.2f s searching, %d lists, recall@20 %.4f against CPU exact search",
                     Double(full.durationMs) / 1000, Double(full.searchMs) / 1000, full.newSources,
                     try recall(cache, prod: base, sampleEvery: sampleEvery)))
        options.selection = .incremental
        let incremental = try SimilarityPrecompute.run(dbPath: grown, indexPath: index, outPath: cache, options: options, logger: logger, on: gpu)
        print(String(format: "GPU-SCALE similarity-incremental: %.2f s in all, %.2f s searching, +%d new, %d old lists refreshed, recall@20 %.4f",
                     Double(incremental.durationMs) / 1000, Double(incremental.searchMs) / 1000, incremental.newSources,
                     incremental.refreshedSources, try recall(cache, prod: grown, sampleEvery: max(1, (videos + newVideos) / recallSample))))
    }

    /// recall@20 of the cached lists of the sampled sources against exact search.
    private func recall(_ cache: String, prod: String, sampleEvery: Int) throws -> Double {
        SimilarityQuality.recall(try SimilarityQuality.cachedLists(cachePath: cache),
                                 against: try SimilarityQuality.exactLists(prodPath: prod, sampleEvery: sampleEvery))
    }
}
