import COpenBLAS
import Foundation

/// Lloyd's k-means over row-major float vectors, the training step of the IVF-PQ codebooks.
///
/// Distances come from single-threaded `sgemm` blocks of 256 rows, and the blocks are split over the
/// cores (one worker per core, each with its own scratch), so a 2-core machine runs both cores at
/// BLAS speed without OpenMP (whose spinning barriers collapse when the other core is busy).
struct KMeans {
    enum Metric: Sendable, CaseIterable {
        /// Nearest = largest inner product; centroids are re-normalised each step (spherical k-means),
        /// as FAISS trains an inner-product IVF quantizer.
        case innerProduct
        /// Nearest = smallest squared L2 distance (the PQ sub-quantizers).
        case l2
    }

    var k: Int
    var dimension: Int
    var metric: Metric
    var iterations: Int
    var seed: UInt64 = 1234
    var workers = ProcessInfo.processInfo.activeProcessorCount

    static let rowsPerBlock = 256

    /// `k` centroids, back to back, trained on the `points.count / dimension` rows of `points`
    /// (which must hold at least `k` rows). An emptied centroid takes a point of the largest cluster.
    func train(_ points: [Float]) -> [Float] {
        let n = points.count / dimension
        precondition(n >= k && k > 0, "k-means needs at least k points")
        var generator = SplitMix64(state: seed)
        var centroids = Self.initialCentroids(points, k: k, dimension: dimension, generator: &generator)
        var assignment = [Int32](repeating: 0, count: n)
        let operand = pointsOperand(points)
        for _ in 0..<iterations {
            assignment = nearest(operand, count: n, centroids: centroidsOperand(centroids), k: k)
            var sums = [Double](repeating: 0, count: k * dimension)
            var sizes = [Int](repeating: 0, count: k)
            points.withUnsafeBufferPointer { p in
                for row in 0..<n {
                    let c = Int(assignment[row])
                    sizes[c] += 1
                    let base = c * dimension, from = row * dimension
                    for j in 0..<dimension { sums[base + j] += Double(p[from + j]) }
                }
            }
            for c in 0..<k where sizes[c] > 0 {
                for j in 0..<dimension { centroids[c * dimension + j] = Float(sums[c * dimension + j] / Double(sizes[c])) }
            }
            for restart in Self.restarts(sizes: &sizes, assignment: assignment, points: points, dimension: dimension, generator: &generator) {
                centroids.replaceSubrange((restart.cluster * dimension)..<((restart.cluster + 1) * dimension), with: restart.values)
            }
            if metric == .innerProduct { Self.normalizeRows(&centroids, dimension: dimension) }
        }
        return centroids
    }

    /// Row indices grouped by cluster, ascending within each (a counting sort), and where each
    /// cluster's run starts (`clusters + 1` offsets): what the device's `cluster_means` averages over.
    static func clusterOrder(_ assignment: [Int32], clusters: Int) -> (order: [Int32], offsets: [Int32]) {
        var offsets = [Int32](repeating: 0, count: clusters + 1)
        for c in assignment { offsets[Int(c) + 1] += 1 }
        for c in 0..<clusters { offsets[c + 1] += offsets[c] }
        var next = offsets, order = [Int32](repeating: 0, count: assignment.count)
        for (row, c) in assignment.enumerated() {
            order[Int(next[Int(c)])] = Int32(row)
            next[Int(c)] += 1
        }
        return (order, offsets)
    }

    /// The starting centroids: k distinct points chosen at random (a partial Fisher-Yates shuffle).
    /// `DeviceKMeans` starts from the same ones.
    static func initialCentroids(_ points: [Float], k: Int, dimension: Int, generator: inout SplitMix64) -> [Float] {
        let n = points.count / dimension
        var order = Array(0..<n)
        for i in 0..<k { order.swapAt(i, i + Int(generator.next() % UInt64(n - i))) }
        var centroids = [Float](repeating: 0, count: k * dimension)
        for c in 0..<k {
            let row = order[c] * dimension
            centroids.replaceSubrange((c * dimension)..<((c + 1) * dimension), with: points[row..<(row + dimension)])
        }
        return centroids
    }

    /// New rows for the empty clusters of an iteration (`sizes` counts members): each restarts at a
    /// random member of the largest cluster, nudged apart from it; `sizes` is updated as it goes.
    /// `DeviceKMeans` restarts the same clusters at the same rows.
    static func restarts(sizes: inout [Int], assignment: [Int32], points: [Float], dimension: Int,
                         generator: inout SplitMix64) -> [(cluster: Int, values: [Float])] {
        var restarted: [(cluster: Int, values: [Float])] = []
        for c in sizes.indices where sizes[c] == 0 {
            let largest = sizes.indices.max { sizes[$0] < sizes[$1] }!
            let members = assignment.indices.filter { assignment[$0] == Int32(largest) }
            let row = members[Int(generator.next() % UInt64(members.count))] * dimension
            var values = [Float](repeating: 0, count: dimension)
            for j in 0..<dimension {
                let nudge = Float(1 + 1e-3 * (Double(generator.next() % 2000) / 1000 - 1))
                values[j] = points[row + j] * nudge
            }
            restarted.append((c, values))
            sizes[largest] -= 1
            sizes[c] = 1
        }
        return restarted
    }

    /// The nearest centroid of every row of `points`, by this metric.
    func nearest(_ points: [Float], centroids: [Float]) -> [Int32] {
        nearest(pointsOperand(points), count: points.count / dimension, centroids: centroidsOperand(centroids),
                k: centroids.count / dimension)
    }

    /// Rows laid out for the distance GEMM. For L2 each point gains a trailing 1 and each centroid c
    /// becomes (2c, -|c|²): one GEMM then gives 2x·c - |c|², largest for the nearest centroid, with no
    /// second pass to add the norms. For inner product the rows are used as they are.
    private struct Operand {
        var values: [Float]
        var width: Int
    }

    private func pointsOperand(_ points: [Float]) -> Operand {
        guard metric == .l2 else { return Operand(values: points, width: dimension) }
        var values = [Float](repeating: 1, count: points.count / dimension * (dimension + 1))
        for row in 0..<(points.count / dimension) {
            for j in 0..<dimension { values[row * (dimension + 1) + j] = points[row * dimension + j] }
        }
        return Operand(values: values, width: dimension + 1)
    }

    private func centroidsOperand(_ centroids: [Float]) -> Operand {
        guard metric == .l2 else { return Operand(values: centroids, width: dimension) }
        var values = [Float](repeating: 0, count: centroids.count / dimension * (dimension + 1))
        for c in 0..<(centroids.count / dimension) {
            var norm: Float = 0
            for j in 0..<dimension {
                let value = centroids[c * dimension + j]
                values[c * (dimension + 1) + j] = 2 * value
                norm += value * value
            }
            values[c * (dimension + 1) + dimension] = -norm
        }
        return Operand(values: values, width: dimension + 1)
    }

    private func nearest(_ points: Operand, count n: Int, centroids: Operand, k: Int) -> [Int32] {
        var assignment = [Int32](repeating: 0, count: n)
        let blocks = (n + Self.rowsPerBlock - 1) / Self.rowsPerBlock
        let workers = max(1, min(self.workers, blocks))
        let width = points.width
        assignment.withUnsafeMutableBufferPointer { output in
            nonisolated(unsafe) let output = output
            points.values.withUnsafeBufferPointer { p in
                centroids.values.withUnsafeBufferPointer { cs in
                    nonisolated(unsafe) let p = p, cs = cs
                    DispatchQueue.concurrentPerform(iterations: workers) { worker in
                        var scores = [Float](repeating: 0, count: Self.rowsPerBlock * k)
                        var block = worker
                        while block < blocks {
                            let first = block * Self.rowsPerBlock, rows = min(Self.rowsPerBlock, n - first)
                            scores.withUnsafeMutableBufferPointer { s in
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(k), Int32(width), 1,
                                            p.baseAddress! + first * width, Int32(width), cs.baseAddress!, Int32(width),
                                            0, s.baseAddress!, Int32(k))
                                for r in 0..<rows { output[first + r] = Int32(Self.argmax(s.baseAddress! + r * k, count: k)) }
                            }
                            block += workers
                        }
                    }
                }
            }
        }
        return assignment
    }

    /// The first position of the largest of `count` floats. Scanning the scores costs
    /// as much as the 13-wide PQ distance GEMM itself, so rows are scanned 8 lanes at a time, keeping
    /// each lane's best value and position (2x a scalar scan, measured).
    @inline(__always)
    static func argmax(_ row: UnsafePointer<Float>, count: Int) -> Int {
        guard count >= 8, count % 8 == 0 else {
            var best = 0
            for c in 1..<count where row[c] > row[best] { best = c }
            return best
        }
        let raw = UnsafeRawPointer(row)
        func load(_ offset: Int) -> SIMD4<Float> { raw.loadUnaligned(fromByteOffset: offset * 4, as: SIMD4<Float>.self) }
        var bestA = load(0), bestB = load(4)
        var whereA = SIMD4<Int32>(0, 1, 2, 3), whereB = SIMD4<Int32>(4, 5, 6, 7)
        var atA = whereA &+ 8, atB = whereB &+ 8
        let step = SIMD4<Int32>(repeating: 8)
        var offset = 8
        while offset < count {
            let a = load(offset), b = load(offset + 4)
            let takeA = a .> bestA, takeB = b .> bestB
            bestA.replace(with: a, where: takeA)
            whereA.replace(with: atA, where: takeA)
            bestB.replace(with: b, where: takeB)
            whereB.replace(with: atB, where: takeB)
            atA &+= step
            atB &+= step
            offset += 8
        }
        var best = Int(whereA[0]), bestValue = bestA[0]
        func consider(_ value: Float, _ position: Int32) {
            if value > bestValue || (value == bestValue && Int(position) < best) {
                bestValue = value
                best = Int(position)
            }
        }
        for lane in 0..<4 {
            consider(bestA[lane], whereA[lane])
            consider(bestB[lane], whereB[lane])
        }
        return best
    }

    static func normalizeRows(_ vectors: inout [Float], dimension: Int) {
        for row in 0..<(vectors.count / dimension) {
            let range = (row * dimension)..<((row + 1) * dimension)
            let norm = vectors[range].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { for j in range { vectors[j] /= norm } }
        }
    }
}
