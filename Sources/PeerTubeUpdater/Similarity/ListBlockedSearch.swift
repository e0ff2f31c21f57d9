import COpenBLAS
import Foundation

/// The CPU similarity search: IVF-Flat with the batching turned inside out. Every vector is a member
/// of its nearest coarse list (the ANN index's own quantizer, one GEMM); each list's exact vectors are
/// gathered once, contiguous; a source probes its `nprobe` nearest lists, and for each list one
/// `sgemm` of the sources probing it against its members, each source keeping a running top-k.
/// Scores are exact inner products, so a list misses a neighbour only when none of its probed lists
/// holds it.
///
/// Offers (an incremental run): a new video is offered to every cached list of a video it met in its
/// own search (the members of the lists it probes) whose k-th score it beats, with its exact score:
/// the scores come from the search's own GEMMs, so offering costs one comparison per score. (A full
/// run's search of that old video would have met the new one when it probes the new one's list:
/// nearly the same pairs, since near vectors probe each other's lists.)
///
/// Memory: the vectors once more, in list order (N × d floats), and N list numbers; when every vector
/// is searched (a full run), N × nprobe probed lists, assigned in the same GEMM.
final class ListBlockedSearch: OfferingFinder, @unchecked Sendable {
    let embeddings: EmbeddingSet
    /// min(top-k, N − 1): every list this long.
    let k: Int
    let nprobe: Int
    let nlist: Int
    private let workers: Int
    private let centroids: [Float]
    /// Every vector's probed lists, nearest first (N × nprobe), when every vector is searched; nil
    /// otherwise (each search assigns its own sources).
    private let allProbes: [Int32]?
    /// Each list's members (vectors whose nearest list it is), by position: CSR over `memberOrder`.
    private let memberStart: [Int], memberOrder: [Int32]
    /// The members' vectors, list after list.
    private let gathered: [Float]
    /// Per member slot (as `memberOrder`): the score a new video's GEMM score must reach to be offered
    /// to the member's cached list (its last entry's, less `offerMargin`; -inf for a short list, +inf
    /// without a list); and the lists' floors.
    private var memberFloors: [Float]?
    private var listFloors: [Int: SimilarityPrecompute.ListFloor] = [:]
    private var floorTopK = 0

    /// Sources of one GEMM at most (their scores against a list's members live in one block).
    static let rowsPerBlock = 256

    /// Assigns every vector to its list and gathers the lists; with `searchingEvery` (a full run),
    /// every vector's probed lists too, from the same GEMM. `filed`: each vector's list as the index
    /// filed it (by position, -1 for one it lacks), so only the others are assigned.
    ///
    /// - Throws: `SimilarityError.dimensionMismatch` for centroids of another dimension.
    init(centroids: [Float], embeddings: EmbeddingSet, topK: Int, nprobe: Int, searchingEvery: Bool, filed: [Int32]? = nil,
         workers: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        let d = embeddings.dimension, n = embeddings.count
        guard !centroids.isEmpty, centroids.count % d == 0 else {
            throw SimilarityError.dimensionMismatch(index: centroids.count / max(1, embeddings.count), database: d)
        }
        let nlist = centroids.count / d, probed = max(1, min(nprobe, centroids.count / d))
        self.embeddings = embeddings
        self.centroids = centroids
        self.nlist = nlist
        self.nprobe = probed
        k = min(topK, n - 1)
        self.workers = max(1, workers)
        var homes: [Int32]
        if searchingEvery {
            let probes = Self.assign(embeddings.vectors, count: n, dimension: d, centroids: centroids, nlist: nlist, nprobe: probed,
                                     workers: self.workers)
            allProbes = probes
            homes = (0..<n).map { probes[$0 * probed] }
        } else {
            allProbes = nil
            homes = filed?.count == n ? filed! : [Int32](repeating: -1, count: n)
            let unfiled = (0..<n).filter { !(0..<Int32(nlist)).contains(homes[$0]) }
            let assigned = Self.assign(embeddings.gathered(unfiled), count: unfiled.count, dimension: d, centroids: centroids, nlist: nlist,
                                       nprobe: 1, workers: self.workers)
            for (row, position) in unfiled.enumerated() { homes[position] = assigned[row] }
        }
        let (memberStart, memberOrder) = Self.grouped(n, lists: nlist) { CollectionOfOne(homes[$0]) }
        (self.memberStart, self.memberOrder) = (memberStart, memberOrder)
        gathered = embeddings.gathered(memberOrder.lazy.map(Int.init))
    }

    /// From now on each search also returns offers to the cached lists of `floor` (their last entries by position).
    func offering(to floor: [Int: SimilarityPrecompute.ListFloor], topK: Int) {
        memberFloors = memberOrder.map { floor[Int($0)].map { $0.threshold(topK: topK).score - NeighbourSearch.offerMargin } ?? .infinity }
        (listFloors, floorTopK) = (floor, topK)
    }

    func stopOffering() {
        memberFloors = nil
        listFloors = [:]
    }

    var label: String { "list-blocked exact, nprobe \(nprobe) of \(nlist) lists" }

    // MARK: - Searching

    func neighbours(of sources: [Int]) throws -> [NeighbourSearch.List] {
        guard k > 0 else { return sources.map { NeighbourSearch.List(source: $0, hits: [], candidates: []) } }
        let probes = probes(of: sources)
        let workers = max(1, min(self.workers, sources.count / 64))
        let output = UnsafeMutableBufferPointer<[NeighbourSearch.List]>.allocate(capacity: workers)
        output.initialize(repeating: [])
        defer { _ = output.deinitialize(); output.deallocate() }
        nonisolated(unsafe) let results = output
        let floors = memberFloors
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let part = (w * sources.count / workers)..<((w + 1) * sources.count / workers)
            results[w] = search(Array(sources[part]), probes: probes[(part.lowerBound * nprobe)..<(part.upperBound * nprobe)], floors: floors)
        }
        var lists = output.flatMap { $0 }
        NeighbourSearch.fillShortLists(&lists, embeddings: embeddings, topK: k)
        let (listFloors, topK) = (self.listFloors, floorTopK)
        return NeighbourSearch.scoredExactly(lists, embeddings: embeddings, floors: listFloors, topK: topK)
    }

    /// The sources' probed lists (sources.count × nprobe): stored ones in a full run, else one GEMM.
    private func probes(of sources: [Int]) -> [Int32] {
        if let allProbes { return sources.flatMap { allProbes[($0 * nprobe)..<(($0 + 1) * nprobe)] } }
        return Self.assign(embeddings.gathered(sources), count: sources.count, dimension: embeddings.dimension, centroids: centroids,
                           nlist: nlist, nprobe: nprobe, workers: workers)
    }

    /// One worker's sources (`probes`: their probed lists, nprobe each): their top-k over every list
    /// they probe, and with `floors` their offers to the cached lists of the members they meet.
    private func search(_ sources: [Int], probes: ArraySlice<Int32>, floors: [Float]?) -> [NeighbourSearch.List] {
        let d = embeddings.dimension
        var best = TopKTable(rows: sources.count, k: k)
        var offers = [[ExactSearch.Hit]](repeating: [], count: floors == nil ? 0 : sources.count)
        // The sources probing each list, as local indexes.
        let first = probes.startIndex
        let (byListStart, byList) = Self.grouped(sources.count, lists: nlist) { [nprobe] local in
            probes[(first + local * nprobe)..<(first + (local + 1) * nprobe)]
        }
        var queries = [Float](repeating: 0, count: Self.rowsPerBlock * d)
        var scores: [Float] = []
        for list in 0..<nlist {
            let members = memberStart[list]..<memberStart[list + 1]
            let probing = byListStart[list]..<byListStart[list + 1]
            guard !members.isEmpty, !probing.isEmpty else { continue }
            if scores.count < Self.rowsPerBlock * members.count { scores = [Float](repeating: 0, count: Self.rowsPerBlock * members.count) }
            for first in stride(from: probing.lowerBound, to: probing.upperBound, by: Self.rowsPerBlock) {
                let block = byList[first..<min(first + Self.rowsPerBlock, probing.upperBound)]
                multiply(block.map { sources[Int($0)] }, against: members.lowerBound, count: members.count, queries: &queries, scores: &scores)
                scores.withUnsafeBufferPointer { s in
                    memberOrder.withUnsafeBufferPointer { order in
                        let ids = order.baseAddress! + members.lowerBound
                        for (row, local) in block.enumerated() {
                            let local = Int(local), source = Int32(sources[local])
                            let line = s.baseAddress! + row * members.count
                            var floor = best.floor(local)
                            for j in 0..<members.count where line[j] >= floor && ids[j] != source {
                                best.offer(local, line[j], ids[j])
                                floor = best.floor(local)
                            }
                            if let floors {
                                for j in 0..<members.count where line[j] >= floors[members.lowerBound + j] && ids[j] != source {
                                    offers[local].append(ExactSearch.Hit(index: Int(ids[j]), score: line[j]))
                                }
                            }
                        }
                    }
                }
            }
        }
        return sources.enumerated().map { local, source in
            let hits = best.hits(local)
            return NeighbourSearch.List(source: source, hits: hits, candidates: floors == nil ? hits : hits + offers[local])
        }
    }

    /// scores[r][j] = ⟨vector of sources[r], gathered member j of the run from `firstMember`⟩.
    private func multiply(_ rows: [Int], against firstMember: Int, count: Int, queries: inout [Float], scores: inout [Float]) {
        let d = embeddings.dimension
        embeddings.vectors.withUnsafeBufferPointer { v in
            queries.withUnsafeMutableBufferPointer { q in
                for (r, position) in rows.enumerated() { (q.baseAddress! + r * d).update(from: v.baseAddress! + position * d, count: d) }
            }
        }
        gathered.withUnsafeBufferPointer { g in
            scores.withUnsafeMutableBufferPointer { s in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows.count), Int32(count), Int32(d), 1,
                            queries, Int32(d), g.baseAddress! + firstMember * d, Int32(d), 0, s.baseAddress, Int32(count))
            }
        }
    }

    // MARK: - Assignment

    /// Each row's `nprobe` highest-scoring centroids (inner product), best first (ties: the lower list),
    /// by blocks of GEMMs split over the workers.
    static func assign(_ vectors: [Float], count n: Int, dimension d: Int, centroids: [Float], nlist: Int, nprobe: Int,
                       workers: Int) -> [Int32] {
        var probes = [Int32](repeating: 0, count: n * nprobe)
        let blocks = (n + rowsPerBlock - 1) / rowsPerBlock
        probes.withUnsafeMutableBufferPointer { output in
            nonisolated(unsafe) let output = output
            vectors.withUnsafeBufferPointer { v in
                centroids.withUnsafeBufferPointer { c in
                    nonisolated(unsafe) let v = v, c = c
                    DispatchQueue.concurrentPerform(iterations: max(1, min(workers, blocks))) { worker in
                        var scores = [Float](repeating: 0, count: rowsPerBlock * nlist)
                        var block = worker
                        while block < blocks {
                            let first = block * rowsPerBlock, rows = min(rowsPerBlock, n - first)
                            scores.withUnsafeMutableBufferPointer { s in
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(nlist), Int32(d), 1,
                                            v.baseAddress! + first * d, Int32(d), c.baseAddress!, Int32(d), 0, s.baseAddress!, Int32(nlist))
                                var top = TopKTable(rows: rows, k: nprobe)
                                for r in 0..<rows {
                                    let line = s.baseAddress! + r * nlist
                                    var floor = top.floor(r)
                                    for list in 0..<nlist where line[list] >= floor {
                                        top.offer(r, line[list], Int32(list))
                                        floor = top.floor(r)
                                    }
                                    for (slot, list) in top.indexes(r).enumerated() { output[(first + r) * nprobe + slot] = list }
                                }
                            }
                            block += workers
                        }
                    }
                }
            }
        }
        return probes
    }

    /// Items 0..<count grouped by the lists `lists(item)` names: CSR offsets (nlist + 1) and the items,
    /// ascending within each list.
    static func grouped<S: Sequence<Int32>>(_ count: Int, lists nlist: Int, _ lists: (Int) -> S) -> (start: [Int], items: [Int32]) {
        var start = [Int](repeating: 0, count: nlist + 1)
        for item in 0..<count { for list in lists(item) { start[Int(list) + 1] += 1 } }
        for list in 0..<nlist { start[list + 1] += start[list] }
        var next = start, items = [Int32](repeating: 0, count: start[nlist])
        for item in 0..<count {
            for list in lists(item) {
                items[next[Int(list)]] = Int32(item)
                next[Int(list)] += 1
            }
        }
        return (start, items)
    }
}

/// Running top-k lists of many rows, flat: each row's best `k` (score, index) pairs, best first,
/// ranked as the cache ranks them (higher score, then lower index: positions are in rowid order).
/// `floor(row)` is the score an offer must reach (its row's last, once full), so the scan of a score
/// line is one comparison per score.
struct TopKTable {
    let k: Int
    private var scores: [Float]
    private var indexes: [Int32]
    private var counts: [Int32]
    private var floors: [Float]

    init(rows: Int, k: Int) {
        self.k = k
        scores = [Float](repeating: 0, count: rows * k)
        indexes = [Int32](repeating: 0, count: rows * k)
        counts = [Int32](repeating: 0, count: rows)
        floors = [Float](repeating: k > 0 ? -.infinity : .infinity, count: rows)
    }

    /// Offers below this score cannot enter `row`'s list.
    @inline(__always) func floor(_ row: Int) -> Float { floors[row] }

    /// Offers `score` for `index` to `row` (no effect unless it ranks before the row's last entry).
    @inline(__always)
    mutating func offer(_ row: Int, _ score: Float, _ index: Int32) {
        let base = row * k, count = Int(counts[row])
        if count == k {
            let last = base + k - 1
            guard score > scores[last] || (score == scores[last] && index < indexes[last]) else { return }
        }
        var at = base + min(count, k - 1)
        while at > base && (score > scores[at - 1] || (score == scores[at - 1] && index < indexes[at - 1])) {
            scores[at] = scores[at - 1]
            indexes[at] = indexes[at - 1]
            at -= 1
        }
        scores[at] = score
        indexes[at] = index
        if count < k { counts[row] = Int32(count + 1) }
        if count + 1 >= k { floors[row] = scores[base + k - 1] }
    }

    /// `row`'s list, best first.
    func hits(_ row: Int) -> [ExactSearch.Hit] {
        (0..<Int(counts[row])).map { ExactSearch.Hit(index: Int(indexes[row * k + $0]), score: scores[row * k + $0]) }
    }

    /// `row`'s indexes, best first.
    func indexes(_ row: Int) -> ArraySlice<Int32> { indexes[(row * k)..<(row * k + Int(counts[row]))] }
}
