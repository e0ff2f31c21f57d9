import Foundation

/// Exact top-k over every prod vector on a `TensorDevice`: blocks of sources against blocks of all
/// vectors by GEMM (fp32, so lists are exact), each score block folded into running top-k lists on
/// the device (`topk_partial`: several partial lists per source, so enough threads keep the memory
/// busy; `topk_merge` joins them), ties ranked as the cache ranks them (`EmbeddingSet.ranksBefore`:
/// a lower position is a lower rowid). With floors (an incremental run), the same score blocks give
/// each new video's offers: every cached list whose k-th score it beats (`offers_scan`), exactly
/// scored, so every old list a new video enters is found, at the cost of the new videos' GEMM.
///
/// All vectors stay on the device; score blocks are sized from the free memory the driver reports.
final class DeviceExactSearch: OfferingFinder, @unchecked Sendable {
    /// Sources and vectors per score block.
    struct Blocks: Sendable, Equatable {
        var queries: Int
        var columns: Int

        /// The largest blocks (up to 16,384 × 65,536, 4 GiB of scores) in a quarter of `bytes`.
        static func fitting(_ bytes: Int, vectors: Int) -> Blocks {
            var blocks = Blocks(queries: 16_384, columns: min(65_536, max(1, vectors)))
            while blocks.queries > 64, blocks.queries * blocks.columns * 4 > bytes / 4 {
                if blocks.columns > 4_096 { blocks.columns /= 2 } else { blocks.queries /= 2 }
            }
            return blocks
        }
    }

    let device: TensorDevice
    let embeddings: EmbeddingSet
    /// min(top-k, N − 1): every list this long.
    let k: Int
    let blocks: Blocks
    /// Partial lists per source (the scan's parallelism across a block's columns).
    let parts: Int
    private var buffers: DeviceBuffers
    private let vectors, queries, scores, exclude, partScores, partIndex, topScores, topIndex, counter: DeviceBuffer
    // Offers: the floors (scores less `offerMargin`, and positions) on the device and as given, and buffers
    // that grow when a block has more offers than they hold.
    private var floors: (scores: DeviceBuffer, positions: DeviceBuffer)?
    private var listFloors: [Int: SimilarityPrecompute.ListFloor] = [:]
    private var floorTopK = 0
    private var offerCapacity = 1 << 16
    private var offerQuery, offerColumn, offerScore: DeviceBuffer

    /// - Throws: `DeviceError` (out of memory: the size asked), `SimilarityError` for a top-k past the kernels' limit.
    init(device: TensorDevice, embeddings: EmbeddingSet, topK: Int, blocks: Blocks? = nil, parts: Int = 16) throws {
        guard topK <= Kernel.maxTopK, parts <= Kernel.maxTopK else {
            throw SimilarityError.badParameters("--top-k \(topK) on a GPU: at most \(Kernel.maxTopK)")
        }
        self.device = device
        self.embeddings = embeddings
        k = min(topK, embeddings.count - 1)
        self.parts = parts
        var buffers = DeviceBuffers(device)
        do {
            let d = embeddings.dimension
            vectors = try buffers.upload(embeddings.vectors)
            let blocks = try blocks ?? Blocks.fitting(try device.freeMemory(), vectors: embeddings.count)
            self.blocks = blocks
            queries = try buffers.allocate(floats: blocks.queries * d)
            scores = try buffers.allocate(floats: blocks.queries * blocks.columns)
            exclude = try buffers.allocate(floats: blocks.queries)
            partScores = try buffers.allocate(floats: blocks.queries * parts * max(k, 1))
            partIndex = try buffers.allocate(floats: blocks.queries * parts * max(k, 1))
            topScores = try buffers.allocate(floats: blocks.queries * max(k, 1))
            topIndex = try buffers.allocate(floats: blocks.queries * max(k, 1))
            counter = try buffers.allocate(floats: 1)
        } catch {
            buffers.freeAll()
            throw error
        }
        do {
            (offerQuery, offerColumn, offerScore) = try Self.offerBuffers(device, capacity: offerCapacity)
        } catch {
            buffers.freeAll()
            throw error
        }
        self.buffers = buffers
    }

    deinit {
        buffers.freeAll()
        for buffer in [offerQuery, offerColumn, offerScore, floors?.scores, floors?.positions].compactMap({ $0 }) { device.free(buffer) }
    }

    private static func offerBuffers(_ device: TensorDevice, capacity: Int) throws -> (DeviceBuffer, DeviceBuffer, DeviceBuffer) {
        let query = try device.allocate(bytes: capacity * 4)
        do {
            let column = try device.allocate(bytes: capacity * 4)
            do { return (query, column, try device.allocate(bytes: capacity * 4)) } catch {
                device.free(column)
                throw error
            }
        } catch {
            device.free(query)
            throw error
        }
    }

    /// From now on each search also returns offers to the cached lists of `floor` (their last entries by position).
    func offering(to floor: [Int: SimilarityPrecompute.ListFloor], topK: Int) throws {
        let thresholds = (0..<embeddings.count).map { floor[$0]?.threshold(topK: topK) ?? (.infinity, Int32.max) }
        stopOffering()
        (listFloors, floorTopK) = (floor, topK)
        let scores = try device.upload(thresholds.map { $0.score - NeighbourSearch.offerMargin })
        do { floors = (scores, try device.upload(thresholds.map(\.position))) } catch {
            device.free(scores)
            throw error
        }
    }

    var label: String { "exact on \(device.name)" }

    /// Searches without offers again.
    func stopOffering() {
        if let floors {
            device.free(floors.scores)
            device.free(floors.positions)
        }
        floors = nil
        listFloors = [:]
    }

    /// The exact top-k of every source (the source itself left out), best first; with floors, each
    /// list's `candidates` are its hits and the cached lists it is offered to, with exact scores.
    ///
    /// - Throws: `DeviceError` when the device fails.
    func neighbours(of sources: [Int]) throws -> [NeighbourSearch.List] {
        var lists: [NeighbourSearch.List] = []
        lists.reserveCapacity(sources.count)
        for first in stride(from: 0, to: sources.count, by: blocks.queries) {
            lists += try search(Array(sources[first..<min(first + blocks.queries, sources.count)]))
        }
        let (listFloors, topK) = (self.listFloors, floorTopK)
        return NeighbourSearch.scoredExactly(lists, embeddings: embeddings, floors: listFloors, topK: topK)
    }

    private func search(_ sources: [Int]) throws -> [NeighbourSearch.List] {
        let d = embeddings.dimension, q = sources.count, n = embeddings.count
        guard k > 0 else { return sources.map { NeighbourSearch.List(source: $0, hits: [], candidates: []) } }
        let gathered = embeddings.gathered(sources)
        try gathered.withUnsafeBytes { try device.upload($0, to: queries.view(from: 0, count: q * d)) }
        let self32 = sources.map(Int32.init)
        try self32.withUnsafeBytes { try device.upload($0, to: exclude.view(from: 0, count: q)) }
        let empty = [Float](repeating: -.infinity, count: q * parts * k), none = [Int32](repeating: -1, count: q * parts * k)
        try empty.withUnsafeBytes { try device.upload($0, to: partScores.view(from: 0, count: q * parts * k)) }
        try none.withUnsafeBytes { try device.upload($0, to: partIndex.view(from: 0, count: q * parts * k)) }
        var offers: [(query: Int32, column: Int32, score: Float)] = []
        for firstColumn in stride(from: 0, to: n, by: blocks.columns) {
            let columns = min(blocks.columns, n - firstColumn)
            let block = scores.view(from: 0, count: q * columns)
            // Column-major scores[s, c] = Σ_t query[s, t] · vector[firstColumn + c, t]: neighbouring
            // sources side by side, as the scan reads them.
            try device.gemm(GEMM(transposeA: true, transposeB: false, m: q, n: columns, k: d,
                                 a: queries, lda: d, b: vectors.view(from: firstColumn * d, count: columns * d), ldb: d, c: block, ldc: q))
            try device.launch(.topkPartial(scores: block, queries: q, columns: columns, firstColumn: firstColumn, exclude: exclude,
                                           partScores: partScores, partIndex: partIndex, k: k, parts: parts))
            if let floors { offers += try collectOffers(block, queries: q, columns: columns, firstColumn: firstColumn, floors: floors) }
        }
        try device.launch(.topkMerge(partScores: partScores, partIndex: partIndex, queries: q, parts: parts, k: k,
                                     outScores: topScores, outIndex: topIndex))
        let bestScores: [Float] = try device.download(topScores, count: q * k)
        let bestIndex: [Int32] = try device.download(topIndex, count: q * k)
        var offered = [[ExactSearch.Hit]](repeating: [], count: q)
        for offer in offers { offered[Int(offer.query)].append(ExactSearch.Hit(index: Int(offer.column), score: offer.score)) }
        return sources.enumerated().map { s, source in
            let hits = (0..<k).compactMap { r -> ExactSearch.Hit? in
                let index = Int(bestIndex[s * k + r])
                return index < 0 ? nil : ExactSearch.Hit(index: index, score: bestScores[s * k + r])
            }
            let known = Set(hits.map(\.index))
            return NeighbourSearch.List(source: source, hits: hits, candidates: hits + offered[s].filter { !known.contains($0.index) })
        }
    }

    /// Every (source, cached list) pair of a score block whose score beats the list's floor; the
    /// block is scanned again with room for all of them should the buffers overflow.
    private func collectOffers(_ block: DeviceBuffer, queries q: Int, columns: Int, firstColumn: Int,
                               floors: (scores: DeviceBuffer, positions: DeviceBuffer)) throws -> [(query: Int32, column: Int32, score: Float)] {
        while true {
            try [Int32(0)].withUnsafeBytes { try device.upload($0, to: counter) }
            try device.launch(.offersScan(scores: block, queries: q, columns: columns, firstColumn: firstColumn, floors: floors.scores,
                                          floorIndex: floors.positions, exclude: exclude, counter: counter, offerQuery: offerQuery, offerColumn: offerColumn,
                                          offerScore: offerScore, capacity: offerCapacity))
            let count = Int((try device.download(counter, count: 1) as [Int32])[0])
            guard count > offerCapacity else {
                let queries: [Int32] = try device.download(offerQuery, count: count)
                let columns: [Int32] = try device.download(offerColumn, count: count)
                let scores: [Float] = try device.download(offerScore, count: count)
                return (0..<count).map { (queries[$0], columns[$0], scores[$0]) }
            }
            let grown = try Self.offerBuffers(device, capacity: count)
            for buffer in [offerQuery, offerColumn, offerScore] { device.free(buffer) }
            (offerQuery, offerColumn, offerScore) = grown
            offerCapacity = count
        }
    }
}
