import Foundation

/// `KMeans` on a `TensorDevice`, step for step: the same starting centroids, the distance GEMM (the
/// same operands, L2 by the trailing-1 trick), the per-row argmax on the device, members grouped by
/// cluster (a counting sort of the downloaded assignment) and averaged on the device in double in row
/// order, the same restarts of empty clusters, and spherical normalisation. On `HostDevice` it gives
/// the CPU trainer's centroids bit for bit; on a GPU the GEMMs and scans run there.
struct DeviceKMeans {
    let device: TensorDevice
    var k: Int
    var dimension: Int
    var metric: KMeans.Metric
    var iterations: Int
    var seed: UInt64 = 1234

    /// Operand width: L2 points gain a trailing 1 (centroids become (2c, -|c|²)).
    private var width: Int { metric == .l2 ? dimension + 1 : dimension }

    /// `k` centroids trained on the rows of `points` (at least `k` of them).
    ///
    /// - Throws: `DeviceError` when the device fails or cannot hold the data.
    func train(_ points: [Float]) throws -> [Float] {
        let n = points.count / dimension
        precondition(n >= k && k > 0, "k-means needs at least k points")
        var generator = SplitMix64(state: seed)
        let start = KMeans.initialCentroids(points, k: k, dimension: dimension, generator: &generator)
        var buffers = DeviceBuffers(device)
        defer { buffers.freeAll() }
        let pointsBuffer = try buffers.upload(points)
        let operand = try pointsOperand(pointsBuffer, rows: n, buffers: &buffers)
        let centroids = try buffers.upload(start)
        let centroidOperand = metric == .l2 ? try buffers.allocate(floats: k * width) : centroids
        let assignmentBuffer = try buffers.allocate(floats: n)
        let order = try buffers.allocate(floats: n), offsets = try buffers.allocate(floats: k + 1)
        let scan = try AssignmentScan(device: device, buffers: &buffers, k: k, width: width, rows: n)
        for _ in 0..<iterations {
            if metric == .l2 { try device.launch(.l2Operand(centroids: centroids, out: centroidOperand, k: k, d: dimension)) }
            try scan.assign(operand, rows: n, centroids: centroidOperand, into: assignmentBuffer)
            let assignment: [Int32] = try device.download(assignmentBuffer, count: n)
            let (members, starts) = KMeans.clusterOrder(assignment, clusters: k)
            try members.withUnsafeBytes { try device.upload($0, to: order) }
            try starts.withUnsafeBytes { try device.upload($0, to: offsets) }
            try device.launch(.clusterMeans(points: pointsBuffer, order: order, offsets: offsets, centroids: centroids, k: k, d: dimension))
            var sizes = (0..<k).map { Int(starts[$0 + 1] - starts[$0]) }
            for restart in KMeans.restarts(sizes: &sizes, assignment: assignment, points: points, dimension: dimension, generator: &generator) {
                try restart.values.withUnsafeBytes { try device.upload($0, to: centroids.view(from: restart.cluster * dimension, count: dimension)) }
            }
            if metric == .innerProduct { try device.launch(.normalizeRows(x: centroids, rows: k, cols: dimension)) }
        }
        return try device.download(centroids, count: k * dimension)
    }

    /// The points' GEMM operand: themselves, or for L2 with a trailing 1.
    private func pointsOperand(_ points: DeviceBuffer, rows: Int, buffers: inout DeviceBuffers) throws -> DeviceBuffer {
        guard metric == .l2 else { return points }
        let operand = try buffers.allocate(floats: rows * width)
        try device.launch(.subColumns(x: points, out: operand, rows: rows, d: dimension, first: 0, width: dimension, augment: true))
        return operand
    }
}

/// The nearest-centroid step shared by training and encoding: score blocks of rows against every
/// centroid with one GEMM each (blocks sized to the device's free memory), then the first largest
/// score of each row on the device.
struct AssignmentScan {
    let device: TensorDevice
    let k: Int
    let width: Int
    let blockRows: Int
    private let scores: DeviceBuffer

    /// Score blocks use at most a quarter of the device's free memory (and 256 rows at least).
    init(device: TensorDevice, buffers: inout DeviceBuffers, k: Int, width: Int, rows: Int) throws {
        self.device = device
        (self.k, self.width) = (k, width)
        let fitting = try device.freeMemory() / 4 / max(1, k * 4)
        blockRows = max(1, min(rows, max(256, min(fitting, 1 << 16))))
        scores = try buffers.allocate(floats: blockRows * k)
    }

    /// assignment[r] = the nearest centroid (largest score) of row r of `operand` (rows × width).
    func assign(_ operand: DeviceBuffer, rows: Int, centroids: DeviceBuffer, into assignment: DeviceBuffer) throws {
        for first in stride(from: 0, to: rows, by: blockRows) {
            let count = min(blockRows, rows - first)
            let block = scores.view(from: 0, count: count * k)
            // Column-major: scores[c, r] = Σ_t centroid[c, t] · row[r, t] (row-major scores[r][c]).
            try device.gemm(GEMM(transposeA: true, transposeB: false, m: k, n: count, k: width,
                                 a: centroids, lda: width, b: operand.view(from: first * width, count: count * width), ldb: width,
                                 c: block, ldc: k))
            try device.launch(.rowArgmax(scores: block, rows: count, cols: k, out: assignment.view(from: first, count: count)))
        }
    }
}

/// Buffers allocated for one job and freed together.
struct DeviceBuffers {
    let device: TensorDevice
    private(set) var all: [DeviceBuffer] = []

    init(_ device: TensorDevice) { self.device = device }

    mutating func allocate(floats: Int) throws -> DeviceBuffer {
        let buffer = try device.allocate(bytes: max(1, floats) * 4)
        all.append(buffer)
        return buffer
    }

    mutating func upload<T>(_ values: [T]) throws -> DeviceBuffer {
        let buffer = try device.upload(values)
        all.append(buffer)
        return buffer
    }

    mutating func freeAll() {
        all.forEach(device.free)
        all = []
    }
}

extension IVFPQCodebooks {
    /// `train(sample:…)` with the heavy loops on `device`: the coarse k-means, the residuals of the PQ
    /// sample, and each sub-quantizer's k-means. The same samples, seeds and steps as the CPU trainer.
    ///
    /// - Throws: `DeviceError`.
    static func train(sample: [Float], dimension: Int, nlist: Int, m: Int, nbits: Int, on device: TensorDevice) throws -> IVFPQCodebooks {
        let coarseSample = evenlySpaced(sample, dimension: dimension, count: coarsePointsPerCentroid * nlist)
        let coarse = try DeviceKMeans(device: device, k: nlist, dimension: dimension, metric: .innerProduct, iterations: coarseIterations)
            .train(coarseSample)
        let ksub = 1 << nbits, dsub = dimension / m
        let pqSample = evenlySpaced(sample, dimension: dimension, count: pqPointsPerCentroid * ksub)
        let rows = pqSample.count / dimension
        var buffers = DeviceBuffers(device)
        defer { buffers.freeAll() }
        let vectors = try buffers.upload(pqSample), coarseBuffer = try buffers.upload(coarse)
        let lists = try buffers.allocate(floats: rows), residuals = try buffers.allocate(floats: rows * dimension)
        try AssignmentScan(device: device, buffers: &buffers, k: nlist, width: dimension, rows: rows)
            .assign(vectors, rows: rows, centroids: coarseBuffer, into: lists)
        try device.launch(.subtractAssigned(x: vectors, centroids: coarseBuffer, assignment: lists, out: residuals, rows: rows, d: dimension))
        let columns = try buffers.allocate(floats: rows * dsub)
        var subCentroids: [Float] = []
        subCentroids.reserveCapacity(m * ksub * dsub)
        for sub in 0..<m {
            try device.launch(.subColumns(x: residuals, out: columns, rows: rows, d: dimension, first: sub * dsub, width: dsub, augment: false))
            let points: [Float] = try device.download(columns, count: rows * dsub)
            subCentroids += try DeviceKMeans(device: device, k: ksub, dimension: dsub, metric: .l2, iterations: pqIterations,
                                             seed: 1234 &+ UInt64(sub)).train(points)
        }
        return IVFPQCodebooks(dimension: dimension, nlist: nlist, m: m, nbits: nbits, coarse: coarse, subCentroids: subCentroids)
    }
}

/// `IVFPQCodebooks.encode` on a device: for blocks of vectors, the nearest list (GEMM + argmax), the
/// residuals, and each sub-quantizer's nearest centroid; the codes packed on the host as FAISS lays
/// them out. The codebooks stay on the device across blocks.
final class DeviceEncoder {
    let device: TensorDevice
    let codebooks: IVFPQCodebooks
    private var buffers: DeviceBuffers
    private let coarse: DeviceBuffer
    /// Each sub-quantizer's L2 operand, (2c, -|c|²) rows.
    private let subOperands: [DeviceBuffer]
    private let blockRows: Int
    private let vectors, lists, residuals, columns, indexes: DeviceBuffer
    private let coarseScan: AssignmentScan, subScan: AssignmentScan

    /// - Throws: `DeviceError`.
    init(codebooks: IVFPQCodebooks, device: TensorDevice, blockRows: Int = 1 << 16) throws {
        self.device = device
        self.codebooks = codebooks
        var buffers = DeviceBuffers(device)
        do {
            let (d, ksub, dsub) = (codebooks.dimension, codebooks.subCentroidCount, codebooks.subDimension)
            coarse = try buffers.upload(codebooks.coarse)
            subOperands = try (0..<codebooks.m).map { sub in
                let centroids = try buffers.upload(Array(codebooks.subCentroids[(sub * ksub * dsub)..<((sub + 1) * ksub * dsub)]))
                let operand = try buffers.allocate(floats: ksub * (dsub + 1))
                try device.launch(.l2Operand(centroids: centroids, out: operand, k: ksub, d: dsub))
                return operand
            }
            self.blockRows = blockRows
            vectors = try buffers.allocate(floats: blockRows * d)
            lists = try buffers.allocate(floats: blockRows)
            residuals = try buffers.allocate(floats: blockRows * d)
            columns = try buffers.allocate(floats: blockRows * (dsub + 1))
            indexes = try buffers.allocate(floats: blockRows)
            coarseScan = try AssignmentScan(device: device, buffers: &buffers, k: codebooks.nlist, width: d, rows: blockRows)
            subScan = try AssignmentScan(device: device, buffers: &buffers, k: ksub, width: dsub + 1, rows: blockRows)
        } catch {
            buffers.freeAll()
            throw error
        }
        self.buffers = buffers
    }

    deinit { buffers.freeAll() }

    /// The inverted list and the PQ code of each row of `vectors`, as `IVFPQCodebooks.encode` gives them.
    ///
    /// - Throws: `DeviceError`.
    func encode(_ input: [Float]) throws -> (lists: [Int64], codes: [UInt8]) {
        let d = codebooks.dimension, dsub = codebooks.subDimension, n = input.count / d
        var allLists: [Int64] = [], codes: [UInt8] = []
        allLists.reserveCapacity(n)
        codes.reserveCapacity(n * codebooks.codeSize)
        for first in stride(from: 0, to: n, by: blockRows) {
            let rows = min(blockRows, n - first)
            try input[(first * d)..<((first + rows) * d)].withUnsafeBytes { try device.upload($0, to: vectors.view(from: 0, count: rows * d)) }
            try coarseScan.assign(vectors, rows: rows, centroids: coarse, into: lists)
            try device.launch(.subtractAssigned(x: vectors, centroids: coarse, assignment: lists, out: residuals, rows: rows, d: d))
            var subIndexes: [[Int32]] = []
            for sub in 0..<codebooks.m {
                try device.launch(.subColumns(x: residuals, out: columns, rows: rows, d: d, first: sub * dsub, width: dsub, augment: true))
                try subScan.assign(columns, rows: rows, centroids: subOperands[sub], into: indexes)
                subIndexes.append(try device.download(indexes, count: rows))
            }
            let blockLists: [Int32] = try device.download(lists, count: rows)
            allLists += blockLists.map(Int64.init)
            codes += codebooks.packCodes(subIndexes, rows: rows)
        }
        return (allLists, codes)
    }
}
