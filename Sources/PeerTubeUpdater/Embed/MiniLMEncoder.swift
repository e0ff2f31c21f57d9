import COpenBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The BERT encoder of all-MiniLM-L6-v2 on the CPU, over OpenBLAS `sgemm`, followed by mean pooling
/// and L2 normalisation: what sentence-transformers computes, in float32.
///
/// A batch's sequences are packed row after row with no padding: embeddings, projections,
/// LayerNorm and the feed-forward work row by row, and attention runs per sequence over its real
/// length, so no mask is needed and no FLOP is spent on padding.
public final class MiniLMEncoder: @unchecked Sendable {
    public let files: ModelFiles
    let hidden: Int, heads: Int, headSize: Int, intermediate: Int, eps: Float
    let wordEmbeddings: [Float], positionEmbeddings: [Float], tokenTypeEmbeddings: [Float]
    let embeddingNormWeight: [Float], embeddingNormBias: [Float]
    let layers: [MiniLMWeights.Layer]
    /// Forward passes run side by side, one per core.
    let workers: Int

    // MARK: - Loading

    /// - Throws: `ModelError` when a weight tensor is missing or of the wrong shape.
    public convenience init(files: ModelFiles, workers: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        try self.init(weights: MiniLMWeights(files: files), workers: workers)
    }

    public init(weights: MiniLMWeights, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        files = weights.files
        self.workers = max(1, workers)
        openblas_set_num_threads(1)
        (hidden, heads, headSize, intermediate, eps) = (weights.hidden, weights.heads, weights.headSize, weights.intermediate, weights.eps)
        (wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings) = (weights.wordEmbeddings, weights.positionEmbeddings, weights.tokenTypeEmbeddings)
        (embeddingNormWeight, embeddingNormBias) = (weights.embeddingNormWeight, weights.embeddingNormBias)
        layers = weights.layers
    }

    // MARK: - Batches and workers

    /// One L2-normalised vector per token sequence (ids with [CLS]/[SEP], as the tokenizer gives them).
    ///
    /// The sequences are split into one token-balanced group per worker, and each group runs the
    /// whole forward pass on its own thread with single-threaded BLAS. Threaded BLAS inside one pass
    /// left its workers spinning in sched_yield through every non-GEMM step (17% of the time, measured).
    public func embed(_ sequences: [[Int32]]) -> [[Float]] {
        let groups = Self.balancedGroups(sequences.map(\.count), count: workers)
        return Self.perGroup(groups) { forward(Array(sequences[$0])) }.flatMap { $0 }
    }

    /// `body` of each group on its own thread (the caller's alone for one group), results in order.
    static func perGroup<T>(_ groups: [Range<Int>], _ body: @Sendable (Range<Int>) -> T) -> [T] {
        guard groups.count > 1 else { return groups.map(body) }
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: groups.count)
        results.initialize(repeating: nil)
        defer { _ = results.deinitialize(); results.deallocate() }
        nonisolated(unsafe) let output = results
        DispatchQueue.concurrentPerform(iterations: groups.count) { output[$0] = body(groups[$0]) }
        return results.map { $0! }
    }

    /// Contiguous ranges of roughly equal token totals, in order.
    static func balancedGroups(_ lengths: [Int], count: Int) -> [Range<Int>] {
        let total = lengths.reduce(0, +)
        guard count > 1, lengths.count > 1, total > 0 else { return [0..<lengths.count] }
        var groups: [Range<Int>] = [], start = 0, running = 0
        for (index, length) in lengths.enumerated() {
            running += length
            if groups.count < count - 1, running * count >= total * (groups.count + 1), index + 1 < lengths.count {
                groups.append(start..<(index + 1))
                start = index + 1
            }
        }
        groups.append(start..<lengths.count)
        return groups
    }

    // MARK: - The forward pass

    private func forward(_ sequences: [[Int32]]) -> [[Float]] {
        let h = hidden, i = intermediate
        let rows = sequences.reduce(0) { $0 + $1.count }
        guard rows > 0 else { return sequences.map { _ in [Float](repeating: 0, count: h) } }
        var x = [Float](repeating: 0, count: rows * h)
        var qkv = [Float](repeating: 0, count: rows * 3 * h)
        var context = [Float](repeating: 0, count: rows * h)
        var projected = [Float](repeating: 0, count: rows * h)
        var inter = [Float](repeating: 0, count: rows * i)
        let offsets = sequences.reduce(into: [0]) { $0.append($0.last! + $1.count) }

        embedTokens(sequences, into: &x)
        for layer in layers {
            linear(x, rows: rows, inputs: h, weight: layer.qkvWeight, bias: layer.qkvBias, outputs: 3 * h, into: &qkv)
            attention(qkv, offsets: offsets, into: &context)
            linear(context, rows: rows, inputs: h, weight: layer.outWeight, bias: layer.outBias, outputs: h, into: &projected)
            addAndNormalize(&x, projected, weight: layer.attentionNormWeight, bias: layer.attentionNormBias, rows: rows)
            linear(x, rows: rows, inputs: h, weight: layer.interWeight, bias: layer.interBias, outputs: i, into: &inter)
            gelu(&inter)
            linear(inter, rows: rows, inputs: i, weight: layer.ffnOutWeight, bias: layer.ffnOutBias, outputs: h, into: &projected)
            addAndNormalize(&x, projected, weight: layer.outputNormWeight, bias: layer.outputNormBias, rows: rows)
        }
        return (0..<sequences.count).map { meanPoolNormalized(x, rows: offsets[$0]..<offsets[$0 + 1]) }
    }

    private func embedTokens(_ sequences: [[Int32]], into x: inout [Float]) {
        let h = hidden
        var row = 0
        for ids in sequences {
            for (position, id) in ids.enumerated() {
                let word = Int(id) * h, pos = position * h
                for c in 0..<h {
                    x[row * h + c] = wordEmbeddings[word + c] + positionEmbeddings[pos + c] + tokenTypeEmbeddings[c]
                }
                row += 1
            }
        }
        x.withUnsafeMutableBufferPointer { buffer in
            for r in 0..<row { layerNorm(buffer.baseAddress! + r * h, weight: embeddingNormWeight, bias: embeddingNormBias) }
        }
    }

    /// out[rows × outputs] = input[rows × inputs] · weightᵀ + bias (torch's [out × in] weight layout).
    private func linear(_ input: [Float], rows: Int, inputs: Int, weight: [Float], bias: [Float], outputs: Int,
                        into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { o in
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (o.baseAddress! + r * outputs).update(from: b.baseAddress!, count: outputs) }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                        1, input, Int32(inputs), weight, Int32(inputs), 1, o.baseAddress, Int32(outputs))
        }
    }

    /// Scaled dot-product attention per sequence and head; writes each head's context into its columns.
    private func attention(_ qkv: [Float], offsets: [Int], into context: inout [Float]) {
        let h = hidden, d = headSize, stride = 3 * h
        let scale = 1 / Float(d).squareRoot()
        let longest = zip(offsets.dropFirst(), offsets).map { $0 - $1 }.max() ?? 0
        var scores = [Float](repeating: 0, count: longest * longest)
        qkv.withUnsafeBufferPointer { qkv in
            context.withUnsafeMutableBufferPointer { ctx in
                scores.withUnsafeMutableBufferPointer { s in
                    for (start, end) in zip(offsets, offsets.dropFirst()) where end > start {
                        let n = end - start
                        for head in 0..<heads {
                            let q = qkv.baseAddress! + start * stride + head * d
                            let k = q + h, v = q + 2 * h
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d),
                                        scale, q, Int32(stride), k, Int32(stride), 0, s.baseAddress, Int32(n))
                            for r in 0..<n { softmax(s.baseAddress! + r * n, count: n) }
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n),
                                        1, s.baseAddress, Int32(n), v, Int32(stride), 0,
                                        ctx.baseAddress! + start * h + head * d, Int32(h))
                        }
                    }
                }
            }
        }
    }

    // MARK: - Kernels

    /// Eight lanes at a time: glibc's scalar expf and the loops around it took ~17% of the encoder's
    /// time (perf); `exp8` is Cephes' expf polynomial, relative error ~1e-7.
    private func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        let raw = UnsafeMutableRawPointer(row)
        let lanes = count / 8 * 8
        var maximum = -Float.infinity
        if lanes > 0 {
            var top = SIMD8<Float>(repeating: -.infinity)
            for j in stride(from: 0, to: lanes, by: 8) {
                let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                top.replace(with: v, where: v .> top)
            }
            maximum = top.max()
        }
        for j in lanes..<count { maximum = max(maximum, row[j]) }
        var sums = SIMD8<Float>.zero
        let shift = SIMD8<Float>(repeating: maximum)
        for j in stride(from: 0, to: lanes, by: 8) {
            let e = Self.exp8(raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self) - shift)
            raw.storeBytes(of: e, toByteOffset: j * 4, as: SIMD8<Float>.self)
            sums += e
        }
        var sum = sums.sum()
        for j in lanes..<count {
            let e = expf(row[j] - maximum)
            row[j] = e
            sum += e
        }
        let inverse = 1 / sum
        let scale = SIMD8<Float>(repeating: inverse)
        for j in stride(from: 0, to: lanes, by: 8) {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self) * scale, toByteOffset: j * 4, as: SIMD8<Float>.self)
        }
        for j in lanes..<count { row[j] *= inverse }
    }

    /// e^x in eight lanes (Cephes expf: x = n·ln2 + r, a degree-5 polynomial for e^r, 2^n from the
    /// exponent bits); inputs clamped to where float32 e^x is normal.
    @inline(__always)
    static func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        var x = input.replacing(with: -87.33654, where: input .< -87.33654)
        x.replace(with: 88.37626, where: x .> 88.37626)
        // n = round(x·log2 e) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits
        // (Swift's generic SIMD rounding and Float→Int conversions run lane by lane, 10× slower).
        let magic: Float = 12_582_912
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000  // = n
        return p * unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
    }

    /// x = LayerNorm(x + delta), row by row.
    private func addAndNormalize(_ x: inout [Float], _ delta: [Float], weight: [Float], bias: [Float], rows: Int) {
        let h = hidden
        x.withUnsafeMutableBufferPointer { xs in
            delta.withUnsafeBufferPointer { ds in
                for i in 0..<(rows * h) { xs[i] += ds[i] }
            }
            for r in 0..<rows { layerNorm(xs.baseAddress! + r * h, weight: weight, bias: bias) }
        }
    }

    private func layerNorm(_ row: UnsafeMutablePointer<Float>, weight: [Float], bias: [Float]) {
        let h = hidden
        var mean: Float = 0
        for c in 0..<h { mean += row[c] }
        mean /= Float(h)
        var variance: Float = 0
        for c in 0..<h {
            let centered = row[c] - mean
            variance += centered * centered
        }
        let inverse = 1 / (variance / Float(h) + eps).squareRoot()
        for c in 0..<h { row[c] = (row[c] - mean) * inverse * weight[c] + bias[c] }
    }

    /// BERT's GELU, 0.5·x·(1 + erf(x/√2)). glibc's erff took 11% of the encoder's time; this rational
    /// approximation of erf (odd polynomial over even polynomial, inputs clamped to ±4 where erf is ±1
    /// in float32) has no branch and no exp, so it vectorises; max |error| 4.3e-7 against math.erf.
    private func gelu(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { buffer in
            for j in buffer.indices {
                let v = buffer[j]
                buffer[j] = 0.5 * v * (1 + Self.erf(v * 0.70710678118654752))
            }
        }
    }

    @inline(__always)
    static func erf(_ input: Float) -> Float {
        let x = min(max(input, -4), 4)
        let x2 = x * x
        var p: Float = -2.72614225801306e-10
        p = p * x2 + 2.77068142495902e-08
        p = p * x2 - 2.10102402082508e-06
        p = p * x2 - 5.69250639462346e-05
        p = p * x2 - 7.34990630326855e-04
        p = p * x2 - 2.95459980854025e-03
        p = p * x2 - 1.60960333262415e-02
        var q: Float = -1.45660718464996e-05
        q = q * x2 - 2.13374055278905e-04
        q = q * x2 - 1.68282697438203e-03
        q = q * x2 - 7.37332916720468e-03
        q = q * x2 - 1.42647390514189e-02
        return x * p / q
    }

    private func meanPoolNormalized(_ x: [Float], rows: Range<Int>) -> [Float] {
        let h = hidden
        var pooled = [Float](repeating: 0, count: h)
        for r in rows {
            for c in 0..<h { pooled[c] += x[r * h + c] }
        }
        var norm: Float = 0
        for c in 0..<h {
            pooled[c] /= Float(max(rows.count, 1))
            norm += pooled[c] * pooled[c]
        }
        let inverse = 1 / max(norm.squareRoot(), 1e-12)
        return pooled.map { $0 * inverse }
    }
}
