import Foundation
import Testing
@testable import PeerTubeUpdater

/// The GPU ANN build's steps on `HostDevice` against the CPU trainer: the same samples and seeds give
/// the same centroids, codebooks, lists and codes, bit for bit.
@Suite struct DeviceANNTests {
    /// As `ANNBuild` trains: one BLAS thread. With two, OpenBLAS splits the CPU trainer's and the
    /// device's differently shaped GEMMs differently, the last bits of some scores differ, and a point
    /// on a boundary changes cluster (this suite alone, before any build in the process set it, failed so).
    init() { FaissIndex.setThreads(openMP: 1, blas: 1) }

    @Test("device k-means gives the CPU's centroids exactly, both metrics, with empty clusters restarted",
          arguments: KMeans.Metric.allCases)
    func kMeansMatchesTheCPU(metric: KMeans.Metric) throws {
        let d = 24
        let data = IVFPQCodebooksTests.clustered(3_001, clusters: 12, dimension: d, noise: 0.1, seed: 5)
        // Many more centroids than clusters: some empty out and restart.
        let cpu = KMeans(k: 97, dimension: d, metric: metric, iterations: 12).train(data.vectors)
        let device = try DeviceKMeans(device: HostDevice(), k: 97, dimension: d, metric: metric, iterations: 12).train(data.vectors)
        #expect(cpu == device, "max diff \(zip(cpu, device).map { abs($0 - $1) }.max() ?? 0)")
    }

    @Test("the device trainer and encoder give the CPU's codebooks, lists and codes")
    func codebooksAndCodesMatchTheCPU() throws {
        let d = 32
        let data = IVFPQCodebooksTests.clustered(6_000, clusters: 40, dimension: d, noise: 0.15, seed: 9)
        let cpu = IVFPQCodebooks.train(sample: data.vectors, dimension: d, nlist: 32, m: 8, nbits: 5)
        let host = HostDevice()
        let device = try IVFPQCodebooks.train(sample: data.vectors, dimension: d, nlist: 32, m: 8, nbits: 5, on: host)
        #expect(cpu.coarse == device.coarse)
        #expect(cpu.subCentroids == device.subCentroids)
        let encoded = cpu.encode(data.vectors)
        // Blocks smaller than the data, so the encoder's blocking is exercised.
        let onDevice = try DeviceEncoder(codebooks: device, device: host, blockRows: 1_777).encode(data.vectors)
        #expect(encoded.lists == onDevice.lists)
        #expect(encoded.codes == onDevice.codes)
    }
}

extension DeviceANNTests {
    @Test("ann build mode=gpu (on the host device) writes the very index mode=cpu writes; only the meta's acceleration differs")
    func theGPUBuildWritesTheCPUsIndex() throws {
        let dir = try TempDir()
        let prod = dir.path("prod.db")
        try SyntheticCatalog(seed: 3, instanceCount: 2, topicCount: 60).write(
            .init(videos: 0..<2_500, channels: 0..<10, withEmbeddings: true, isProd: true), to: prod, logger: quietLogger)
        var metas: [ComputeDevice: ANNMeta] = [:]
        for device in ComputeDevice.allCases {
            var options = ANNBuild.Options(nlist: 24, m: 16, nbits: 6, device: device)
            options.deviceBatchSize = 1_000  // several device blocks
            metas[device] = try ANNBuild.run(dbPath: prod, indexPath: dir.path("\(device).faiss"), metaPath: dir.path("\(device).faiss.json"),
                                             options: options, logger: quietLogger, on: device == .gpu ? HostDevice() : nil).meta
        }
        let cpu = try Data(contentsOf: URL(fileURLWithPath: dir.path("cpu.faiss"))), gpu = try Data(contentsOf: URL(fileURLWithPath: dir.path("gpu.faiss")))
        #expect(cpu == gpu, "\(cpu.count) vs \(gpu.count) bytes")
        #expect(metas[.gpu]?.acceleration == "gpu" && metas[.cpu]?.acceleration == "cpu")
        #expect(metas[.gpu]?.total == 2_500 && metas[.gpu]?.embeddingsFingerprint == metas[.cpu]?.embeddingsFingerprint)
    }
}
