import Foundation

/// `peertube-updater device --self-test`: every kernel and GEMM shape of the GPU pipeline on a
/// device against the same operation on `HostDevice` (OpenBLAS, the plain-loop references), on fresh
/// random inputs of odd sizes. Output buffers are filled with NaN first, so a kernel that leaves
/// part of its output unwritten fails. The GPU counterpart of the tests, whose results `make test`
/// cannot see.
public enum DeviceSelfTest {
    public struct Line: Sendable {
        public var op: String
        public var passed: Bool
        public var maxRelativeError: Double
        public var milliseconds: Double
        public var detail: String

        public init(op: String, passed: Bool, maxRelativeError: Double, milliseconds: Double, detail: String = "") {
            (self.op, self.passed, self.maxRelativeError, self.milliseconds, self.detail) = (op, passed, maxRelativeError, milliseconds, detail)
        }

        /// `SELFTEST <op>: PASS max_rel_err=… ms=…`.
        public var text: String {
            "SELFTEST \(op): \(passed ? "PASS" : "FAIL") max_rel_err=\(String(format: "%.2e", maxRelativeError)) ms=\(String(format: "%.3f", milliseconds))"
                + (detail.isEmpty ? "" : " \(detail)")
        }
    }

    /// A host array a case starts from: values, or an output that starts as NaN.
    enum Input {
        case floats([Float]), ints([Int32]), output(Int), outputInts(Int)

        var isInteger: Bool {
            switch self {
            case .ints, .outputInts: true
            case .floats, .output: false
            }
        }
    }

    enum Operation {
        case kernel(KernelLaunch), gemm(GEMM)
    }

    struct Case {
        var op: String
        var inputs: [Input]
        /// The inputs compared after the operation (its outputs, in place or not).
        var compared: [Int]
        var tolerance: Double
        /// Puts outputs in a canonical order before they are compared (results a GPU appends in any order).
        var canonical: (([[Float]]) -> [[Float]])? = nil
        var operation: ([DeviceBuffer]) throws -> Operation
    }

    /// Every case, on `device` and on `reference`.
    ///
    /// - Throws: `DeviceError` when a device call fails outright (a case whose results differ is a FAIL line, not an error).
    public static func kernels(on device: TensorDevice, reference: TensorDevice = HostDevice(), seed: UInt64 = 1234) throws -> [Line] {
        var random = SplitMix64(state: seed)
        let gemmTolerance = device.precision == .tf32 ? 1e-2 : 1e-4
        return try cases(&random, gemmTolerance: gemmTolerance).map { testCase in
            let (got, milliseconds) = try run(testCase, on: device)
            let (expected, _) = try run(testCase, on: reference)
            var worst = 0.0, problem = ""
            for (index, (a, b)) in zip(got, expected).enumerated() {
                let scale = Double(b.lazy.filter { !$0.isNaN }.map(abs).max() ?? 0)
                for (position, (x, y)) in zip(a, b).enumerated() {
                    if x.isNaN && y.isNaN { continue }
                    if x.isNaN || y.isNaN {
                        problem = "output \(index)[\(position)] is \(x), reference \(y)"
                        worst = .infinity
                        break
                    }
                    worst = max(worst, Double(abs(x - y)) / max(scale, 1e-30))
                }
                if !problem.isEmpty { break }
            }
            return Line(op: testCase.op, passed: problem.isEmpty && worst <= testCase.tolerance, maxRelativeError: worst,
                        milliseconds: milliseconds, detail: problem)
        }
    }

    /// Uploads a case's inputs, runs it, and downloads what it compares; the operation's time
    /// (synchronised) in milliseconds.
    private static func run(_ testCase: Case, on device: TensorDevice) throws -> ([[Float]], Double) {
        var buffers: [DeviceBuffer] = []
        defer { buffers.forEach(device.free) }
        for input in testCase.inputs {
            switch input {
            case .floats(let values): buffers.append(try device.upload(values))
            case .ints(let values): buffers.append(try device.upload(values))
            case .output(let count): buffers.append(try device.upload([Float](repeating: .nan, count: count)))
            case .outputInts(let count): buffers.append(try device.upload([Int32](repeating: Int32.min, count: count)))
            }
        }
        let operation = try testCase.operation(buffers)
        try device.synchronize()
        let clock = ContinuousClock.now
        switch operation {
        case .kernel(let launch): try device.launch(launch)
        case .gemm(let product): try device.gemm(product)
        }
        try device.synchronize()
        let milliseconds = clock.elapsedSeconds * 1000
        let outputs = try testCase.compared.map { index -> [Float] in
            // Integers are compared as numbers (Int32.min marks a slot never written).
            guard testCase.inputs[index].isInteger else { return try device.download(buffers[index], count: buffers[index].bytes / 4) }
            let values: [Int32] = try device.download(buffers[index], count: buffers[index].bytes / 4)
            return values.map { $0 == Int32.min ? .nan : Float($0) }
        }
        return (testCase.canonical?(outputs) ?? outputs, milliseconds)
    }

    // MARK: - The cases

    /// What topk_partial leaves, from empty lists (on the host: the merge's input).
    private static func partialTopK(_ scores: [Float], queries: Int, columns: Int, firstColumn: Int, exclude: [Int32], k: Int,
                                    parts: Int) -> (scores: [Float], index: [Int32]) {
        var partScores = [Float](repeating: -.infinity, count: queries * parts * k), partIndex = [Int32](repeating: -1, count: queries * parts * k)
        for q in 0..<queries {
            for p in 0..<parts {
                let hits = stride(from: p, to: columns, by: parts).compactMap { c -> (Float, Int)? in
                    firstColumn + c == Int(exclude[q]) ? nil : (scores[c * queries + q], firstColumn + c)
                }.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }.prefix(k)
                for (r, hit) in hits.enumerated() {
                    partScores[(q * parts + p) * k + r] = hit.0
                    partIndex[(q * parts + p) * k + r] = Int32(hit.1)
                }
            }
        }
        return (partScores, partIndex)
    }

    /// Offers sorted by (column, query), the counter first; slots past the count dropped.
    private static func canonicalOffers(_ outputs: [[Float]]) -> [[Float]] {
        let count = Int(outputs[0][0])
        let offers = (0..<min(count, outputs[1].count)).map { (outputs[2][$0], outputs[1][$0], outputs[3][$0]) }
            .sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        return [[Float(count)], offers.map(\.1), offers.map(\.0), offers.map(\.2)]
    }

    private static func cases(_ random: inout SplitMix64, gemmTolerance: Double) throws -> [Case] {
        func floats(_ count: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] { (0..<count).map { _ in Float.random(in: range, using: &random) } }
        func ints(_ count: Int, below bound: Int) -> [Int32] { (0..<count).map { _ in Int32.random(in: 0..<Int32(bound), using: &random) } }
        let cols = 384, eps: Float = 1e-12
        // Packed sequences of random lengths, as the pipeline lays them out.
        let lengths = (0..<7).map { _ in Int.random(in: 1...61, using: &random) }
        let length = lengths.max()!, rows = lengths.reduce(0, +), heads = 12, d = 32, hidden = heads * d
        let sequence = lengths.enumerated().flatMap { b, n in [Int32](repeating: Int32(b), count: n) }
        let positions = lengths.flatMap { (0..<Int32($0)).map { $0 } }
        let offsets = lengths.reduce(into: [Int32(0)]) { $0.append($0.last! + Int32($1)) }
        let padded = lengths.count * length
        let (vocabulary, table, layerRows) = (997, 300, 1_003)
        // k-means: points, an assignment with empty clusters, and its members sorted by cluster.
        let (points, pointDimension, clusters) = (5_003, 13, 257)
        let assignment = (0..<points).map { _ in Int32.random(in: 0..<Int32(clusters - 9), using: &random) }
        let (order, memberOffsets) = KMeans.clusterOrder(assignment, clusters: clusters)
        // Top-k: scores with ties, queries excluding a column each, partial lists started empty.
        let (queries, columns, firstColumn, topK, parts) = (37, 1_001, 5, 21, 4)
        var topScores = floats(queries * columns)
        for i in stride(from: 0, to: topScores.count - 7, by: 97) { topScores[i + 7] = topScores[i] }
        let exclude = (0..<queries).map { q in q % 3 == 0 ? Int32(-1) : Int32(firstColumn + q * 7) }
        let emptyScores = [Float](repeating: -.infinity, count: queries * parts * topK), emptyIndex = [Int32](repeating: -1, count: queries * parts * topK)
        let partials = partialTopK(topScores, queries: queries, columns: columns, firstColumn: firstColumn, exclude: exclude, k: topK, parts: parts)
        let floorsCount = firstColumn + columns
        var floors = (0..<floorsCount).map { i -> Float in i % 5 == 0 ? .infinity : i % 7 == 0 ? -.infinity : Float.random(in: 0.2...0.9, using: &random) }
        // Some floors equal to a score, so the tie rule (the lower position enters) is exercised.
        for c in stride(from: 3, to: columns, by: 11) { floors[firstColumn + c] = topScores[c * queries + c % queries] }
        let floorIndex = (0..<floorsCount).map { Int32(($0 * 7) % (queries * 3)) }
        return [
            Case(op: Kernel.embedLayerNorm.rawValue,
                 inputs: [.ints(ints(layerRows, below: vocabulary)), .ints(ints(layerRows, below: table)), .floats(floats(vocabulary * cols)),
                          .floats(floats(table * cols)), .floats(floats(cols)), .floats(floats(cols, 0.5...1.5)), .floats(floats(cols)),
                          .output(layerRows * cols)],
                 compared: [7], tolerance: 1e-4) { b in
                .kernel(try .embedLayerNorm(ids: b[0], positions: b[1], word: b[2], position: b[3], type0: b[4], gamma: b[5], beta: b[6],
                                            x: b[7], rows: layerRows, cols: cols, eps: eps))
            },
            Case(op: Kernel.biasResidualLayerNorm.rawValue,
                 inputs: [.floats(floats(layerRows * cols)), .floats(floats(layerRows * cols)), .floats(floats(cols)),
                          .floats(floats(cols, 0.5...1.5)), .floats(floats(cols))],
                 compared: [0], tolerance: 1e-4) { b in
                .kernel(try .biasResidualLayerNorm(x: b[0], delta: b[1], bias: b[2], gamma: b[3], beta: b[4], rows: layerRows, cols: cols, eps: eps))
            },
            Case(op: Kernel.biasGELU.rawValue, inputs: [.floats(floats(517 * 1_536, -4...4)), .floats(floats(1_536))],
                 compared: [0], tolerance: 1e-5) { b in
                .kernel(try .biasGELU(x: b[0], bias: b[1], rows: 517, cols: 1_536))
            },
            Case(op: Kernel.scatterQKV.rawValue,
                 inputs: [.floats(floats(rows * 3 * hidden)), .floats(floats(3 * hidden)), .ints(sequence), .ints(positions),
                          .output(padded * hidden), .output(padded * hidden), .output(padded * hidden)],
                 compared: [4, 5, 6], tolerance: 1e-6) { b in
                .kernel(try .scatterQKV(qkv: b[0], bias: b[1], sequence: b[2], positions: b[3], q: b[4], k: b[5], v: b[6],
                                        rows: rows, heads: heads, d: d, length: length))
            },
            Case(op: Kernel.maskedSoftmax.rawValue,
                 inputs: [.floats(floats(padded * heads * length, -8...8)), .ints(lengths.map(Int32.init))],
                 compared: [0], tolerance: 1e-5) { b in
                .kernel(try .maskedSoftmax(s: b[0], lengths: b[1], sequences: lengths.count, heads: heads, length: length))
            },
            Case(op: Kernel.gatherContext.rawValue,
                 inputs: [.floats(floats(padded * hidden)), .ints(sequence), .ints(positions), .output(rows * hidden)],
                 compared: [3], tolerance: 1e-6) { b in
                .kernel(try .gatherContext(context: b[0], sequence: b[1], positions: b[2], out: b[3], rows: rows, heads: heads, d: d, length: length))
            },
            Case(op: Kernel.meanPoolNormalize.rawValue,
                 inputs: [.floats(floats(rows * cols)), .ints(offsets), .output(lengths.count * cols)],
                 compared: [2], tolerance: 1e-5) { b in
                .kernel(try .meanPoolNormalize(x: b[0], offsets: b[1], out: b[2], sequences: lengths.count, cols: cols))
            },
            Case(op: Kernel.rowArgmax.rawValue,
                 inputs: [.floats((0..<(layerRows * 4_099)).map { i in i % 13 == 0 ? 0.5 : Float.random(in: -1...0.5, using: &random) }),
                          .outputInts(layerRows)],
                 compared: [1], tolerance: 0) { b in
                .kernel(try .rowArgmax(scores: b[0], rows: layerRows, cols: 4_099, out: b[1]))
            },
            Case(op: Kernel.clusterMeans.rawValue,
                 inputs: [.floats(floats(points * pointDimension)), .ints(order), .ints(memberOffsets), .floats(floats(clusters * pointDimension))],
                 compared: [3], tolerance: 1e-6) { b in
                .kernel(try .clusterMeans(points: b[0], order: b[1], offsets: b[2], centroids: b[3], k: clusters, d: pointDimension))
            },
            Case(op: Kernel.normalizeRows.rawValue, inputs: [.floats(floats(layerRows * cols))], compared: [0], tolerance: 1e-6) { b in
                .kernel(try .normalizeRows(x: b[0], rows: layerRows, cols: cols))
            },
            Case(op: Kernel.l2Operand.rawValue, inputs: [.floats(floats(clusters * 12)), .output(clusters * 13)], compared: [1], tolerance: 1e-6) { b in
                .kernel(try .l2Operand(centroids: b[0], out: b[1], k: clusters, d: 12))
            },
            Case(op: Kernel.subtractAssigned.rawValue,
                 inputs: [.floats(floats(layerRows * cols)), .floats(floats(97 * cols)), .ints(ints(layerRows, below: 97)), .output(layerRows * cols)],
                 compared: [3], tolerance: 1e-6) { b in
                .kernel(try .subtractAssigned(x: b[0], centroids: b[1], assignment: b[2], out: b[3], rows: layerRows, d: cols))
            },
            Case(op: Kernel.subColumns.rawValue, inputs: [.floats(floats(layerRows * cols)), .output(layerRows * 13)], compared: [1], tolerance: 0) { b in
                .kernel(try .subColumns(x: b[0], out: b[1], rows: layerRows, d: cols, first: 36, width: 12, augment: true))
            },
            Case(op: Kernel.topkPartial.rawValue,
                 inputs: [.floats(topScores), .ints(exclude), .floats(emptyScores), .ints(emptyIndex)],
                 compared: [2, 3], tolerance: 0) { b in
                .kernel(try .topkPartial(scores: b[0], queries: queries, columns: columns, firstColumn: firstColumn, exclude: b[1],
                                         partScores: b[2], partIndex: b[3], k: topK, parts: parts))
            },
            Case(op: Kernel.topkMerge.rawValue,
                 inputs: [.floats(partials.scores), .ints(partials.index), .output(queries * topK), .outputInts(queries * topK)],
                 compared: [2, 3], tolerance: 0) { b in
                .kernel(try .topkMerge(partScores: b[0], partIndex: b[1], queries: queries, parts: parts, k: topK, outScores: b[2], outIndex: b[3]))
            },
            Case(op: Kernel.offersScan.rawValue,
                 inputs: [.floats(topScores), .floats(floors), .ints(floorIndex), .ints(exclude.map { $0 < 0 ? Int32(firstColumn) : $0 }), .ints([0]),
                          .outputInts(queries * columns), .outputInts(queries * columns), .output(queries * columns)],
                 compared: [4, 5, 6, 7], tolerance: 0, canonical: canonicalOffers) { b in
                .kernel(try .offersScan(scores: b[0], queries: queries, columns: columns, firstColumn: firstColumn, floors: b[1], floorIndex: b[2],
                                        exclude: b[3], counter: b[4], offerQuery: b[5], offerColumn: b[6], offerScore: b[7],
                                        capacity: queries * columns))
            },
            // The pipeline's GEMM shapes: a linear layer (weightᵀ · input), and attention's two strided batches.
            Case(op: "gemm_linear", inputs: [.floats(floats(1_536 * 384)), .floats(floats(384 * 1_003)), .output(1_536 * 1_003)],
                 compared: [2], tolerance: gemmTolerance) { b in
                .gemm(GEMM(transposeA: true, transposeB: false, m: 1_536, n: 1_003, k: 384, a: b[0], lda: 384, b: b[1], ldb: 384, c: b[2], ldc: 1_536))
            },
            Case(op: "gemm_attention_scores",
                 inputs: [.floats(floats(padded * hidden)), .floats(floats(padded * hidden)), .output(padded * heads * length)],
                 compared: [2], tolerance: gemmTolerance) { b in
                .gemm(GEMM(transposeA: true, transposeB: false, m: length, n: length, k: d, alpha: 1 / Float(d).squareRoot(),
                           a: b[0], lda: d, strideA: length * d, b: b[1], ldb: d, strideB: length * d,
                           c: b[2], ldc: length, strideC: length * length, batch: lengths.count * heads))
            },
            Case(op: "gemm_attention_context",
                 inputs: [.floats(floats(padded * hidden)), .floats(floats(padded * heads * length, 0...1)), .floats(floats(padded * hidden))],
                 compared: [2], tolerance: gemmTolerance) { b in
                .gemm(GEMM(transposeA: false, transposeB: false, m: d, n: length, k: length, beta: 1,
                           a: b[0], lda: d, strideA: length * d, b: b[1], ldb: length, strideB: length * length,
                           c: b[2], ldc: d, strideC: length * d, batch: lengths.count * heads))
            },
        ]
    }
}
