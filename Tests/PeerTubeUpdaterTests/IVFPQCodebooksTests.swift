import Foundation
import Testing
@testable import PeerTubeUpdater

/// The IVF-PQ training done outside FAISS: the k-means steps, and codes FAISS reads back as it wrote them.
@Suite struct IVFPQCodebooksTests {
    /// Unit vectors around `clusters` random centres.
    static func clustered(_ count: Int, clusters: Int, dimension: Int, noise: Float, seed: UInt64) -> (vectors: [Float], cluster: [Int]) {
        var rng = SplitMix64(state: seed)
        let centres = (0..<clusters).map { _ in (0..<dimension).map { _ in Float.random(in: -1...1, using: &rng) } }
        var vectors: [Float] = [], cluster: [Int] = []
        for i in 0..<count {
            let c = i % clusters
            vectors += TopicCorpus.unit(centres[c].map { $0 + noise * Float.random(in: -1...1, using: &rng) })
            cluster.append(c)
        }
        return (vectors, cluster)
    }

    @Test func argmaxAgreesWithAScalarScan() {
        var rng = SplitMix64(state: 3)
        for count in [1, 7, 8, 16, 24, 256, 1024] {
            for _ in 0..<50 {
                // Few distinct values, so ties are common: the first position must win.
                let row = (0..<count).map { _ in Float(Int.random(in: 0..<5, using: &rng)) - 2 }
                var expected = 0
                for c in 1..<max(1, count) where row[c] > row[expected] { expected = c }
                #expect(row.withUnsafeBufferPointer { KMeans.argmax($0.baseAddress!, count: count) } == expected, "count \(count)")
            }
        }
    }

    /// On clustered data both metrics cut the quantization error to a few percent of one centroid's, and the
    /// inner-product centroids stay unit length (spherical k-means).
    @Test(arguments: KMeans.Metric.allCases)
    func kMeansFindsTheClusters(metric: KMeans.Metric) {
        let d = 24
        let data = Self.clustered(2_000, clusters: 10, dimension: d, noise: 0.1, seed: 11)
        // More centroids than clusters: from a random start every cluster then gets one of its own.
        let kmeans = KMeans(k: 30, dimension: d, metric: metric, iterations: 15)
        let centroids = kmeans.train(data.vectors)
        let assigned = kmeans.nearest(data.vectors, centroids: centroids)
        func error(_ centre: (Int) -> [Float]) -> Float {
            (0..<2_000).reduce(Float(0)) { sum, p in
                let c = centre(p)
                return sum + (0..<d).reduce(Float(0)) { $0 + (data.vectors[p * d + $1] - c[$1]) * (data.vectors[p * d + $1] - c[$1]) }
            }
        }
        let mean = (0..<d).map { j in (0..<2_000).reduce(Float(0)) { $0 + data.vectors[$1 * d + j] } / 2_000 }
        let clustered = error { Array(centroids[(Int(assigned[$0]) * d)..<((Int(assigned[$0]) + 1) * d)]) }
        let single = error { _ in mean }
        #expect(clustered < 0.05 * single, "quantization error \(clustered) vs \(single) for one centroid")
        // The nearest centroid really is the nearest (by this metric) for every point.
        for p in stride(from: 0, to: 2_000, by: 97) {
            let x = data.vectors[(p * d)..<((p + 1) * d)]
            let score: (Int) -> Float = { c in
                let y = centroids[(c * d)..<((c + 1) * d)]
                return metric == .innerProduct ? zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
                    : -zip(x, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            }
            #expect((0..<30).allSatisfy { score($0) <= score(Int(assigned[p])) + 1e-5 })
        }
        if metric == .innerProduct {
            for c in 0..<30 {
                let norm = (0..<d).reduce(Float(0)) { $0 + centroids[c * d + $1] * centroids[c * d + $1] }
                #expect(abs(norm - 1) < 1e-4, "spherical centroids stay unit length")
            }
        }
    }

    /// Codes FAISS decodes as they were meant: with 6-bit codes (not byte aligned) and 8-bit ones, a
    /// stored vector finds itself first, and PQ reconstruction beats the coarse centroid alone.
    @Test(arguments: [6, 8])
    func faissSearchesTheCodesItWasHanded(nbits: Int) throws {
        let data = Self.clustered(3_000, clusters: 40, dimension: 64, noise: 0.5, seed: 5)
        let codebooks = IVFPQCodebooks.train(sample: data.vectors, dimension: 64, nlist: 16, m: 8, nbits: nbits)
        let index = try FaissIndex.ivfpq(dimension: 64, nlist: 16, m: 8, nbits: nbits)
        try index.setCodebooks(codebooks)
        let encoded = codebooks.encode(data.vectors)
        #expect(encoded.codes.count == 3_000 * codebooks.codeSize && codebooks.codeSize == (8 * nbits + 7) / 8)
        try index.addEncoded(lists: encoded.lists, codes: encoded.codes, ids: (0..<3_000).map { Int64($0) + 1_000 })
        #expect(index.count == 3_000 && index.isTrained)
        // As good as FAISS's own training on the same data (self-recall@1 of 300 stored vectors).
        let reference = try FaissIndex.ivfpq(dimension: 64, nlist: 16, m: 8, nbits: nbits)
        try reference.train(data.vectors)
        try reference.add(data.vectors, ids: (0..<3_000).map { Int64($0) + 1_000 })
        let queries = Array(data.vectors[0..<(300 * 64)])
        func selfHits(_ index: FaissIndex) throws -> Int {
            try index.search(queries, k: 1, nprobe: 16).ids.enumerated().filter { $0.element == Int64($0.offset) + 1_000 }.count
        }
        let ours = try selfHits(index), faiss = try selfHits(reference)
        #expect(ours >= faiss - 15 && ours > 2 * 300 / 16, "self-recall@1 \(ours)/300 with \(nbits)-bit codes; FAISS's training \(faiss)/300")
        // Trained already: FAISS refuses a second set of codebooks, and out-of-range lists.
        #expect(throws: FaissError.self) { try index.setCodebooks(codebooks) }
        #expect(throws: FaissError.self) { try index.addEncoded(lists: [16], codes: Array(encoded.codes[0..<codebooks.codeSize]), ids: [1]) }
    }
}
