import Foundation

/// all-MiniLM-L6-v2's forward pass on a `TensorDevice` (CUDA, or `HostDevice` in tests): the same
/// computation as `MiniLMEncoder`, laid out for a GPU.
///
/// Sequences are sorted by length and cut into device batches. Token rows stay packed (no padding)
/// through the embeddings, projections, LayerNorms and the feed-forward GEMMs; for attention each
/// batch's q, k and v are scattered into padded per-head tensors of the batch's longest length
/// (length sorting keeps the padding small), scored and weighted by strided-batched GEMMs with a
/// softmax masked to each sequence's length, and gathered back. Weights stay on the device; the
/// workspace is allocated once, for the largest batch.
public final class MiniLMDeviceEncoder: @unchecked Sendable {
    /// How large a device batch may be; the workspace is sized for it.
    public struct BatchLimits: Sendable, Equatable {
        /// Token rows of a batch (the packed GEMMs' m).
        public var rows: Int
        /// Sequences × their padded length (the attention tensors' slots).
        public var paddedRows: Int

        public init(rows: Int, paddedRows: Int) {
            self.rows = rows
            self.paddedRows = paddedRows
        }

        /// Bytes of workspace a batch of these limits needs for a model of `hidden`, `intermediate` and `heads`.
        func workspaceBytes(hidden: Int, intermediate: Int, heads: Int, maxLength: Int) -> Int {
            let packed = rows * (hidden * 6 + intermediate)           // x, qkv (3), context, projected, inter
            let padded = paddedRows * hidden * 3                      // q, k, v (context reuses q)
            let scores = paddedRows * heads * maxLength                // [sequences][heads][L][L]
            let ints = rows * 3 + paddedRows * 2 + 2
            return (packed + padded + scores + paddedRows * hidden + ints) * 4
        }

        /// The largest limits whose workspace fits in `bytes` (a quarter of it left free), at most
        /// 32,768 token rows (~30 ms of fp32 GEMMs a batch on an H200).
        static func fitting(_ bytes: Int, hidden: Int, intermediate: Int, heads: Int, maxLength: Int) -> BatchLimits {
            var rows = 32_768
            while rows > 256 {
                let limits = BatchLimits(rows: rows, paddedRows: rows + rows / 4)
                if limits.workspaceBytes(hidden: hidden, intermediate: intermediate, heads: heads, maxLength: maxLength) * 4 <= bytes * 3 {
                    return limits
                }
                rows /= 2
            }
            return BatchLimits(rows: 256, paddedRows: 320)
        }
    }

    private struct LayerBuffers {
        var qkvWeight, qkvBias, outWeight, outBias, attentionNormWeight, attentionNormBias: DeviceBuffer
        var interWeight, interBias, ffnOutWeight, ffnOutBias, outputNormWeight, outputNormBias: DeviceBuffer
    }

    public let device: TensorDevice
    public let limits: BatchLimits
    let hidden: Int, heads: Int, headSize: Int, intermediate: Int, eps: Float
    /// The longest sequence the tokenizer gives (the position table's rows at most).
    let maxLength: Int
    private let word, position, type0, embeddingNormWeight, embeddingNormBias: DeviceBuffer
    private let layers: [LayerBuffers]
    // The workspace.
    private let x, qkv, context, projected, inter, q, k, v, scores, pooled, ints: DeviceBuffer
    private var owned: [DeviceBuffer] = []
    /// One batch at a time: the workspace is shared by every call.
    private let lock = NSLock()

    /// Uploads the weights and allocates the workspace (`limits`, else the largest that fits in the
    /// device's free memory).
    ///
    /// - Throws: `DeviceError` (out of memory with the size asked, a failed copy), or
    ///   `DeviceError.invalidArgument` for a model whose rows the kernels cannot hold.
    public init(weights: MiniLMWeights, device: TensorDevice, limits: BatchLimits? = nil) throws {
        guard weights.hidden <= Kernel.maxRowWidth else {
            throw DeviceError.invalidArgument("hidden size \(weights.hidden) is wider than the kernels' \(Kernel.maxRowWidth)")
        }
        self.device = device
        (hidden, heads, headSize, intermediate, eps) = (weights.hidden, weights.heads, weights.headSize, weights.intermediate, weights.eps)
        maxLength = weights.files.maxSequenceLength
        var owned: [DeviceBuffer] = []
        func upload(_ values: [Float]) throws -> DeviceBuffer {
            let buffer = try device.upload(values)
            owned.append(buffer)
            return buffer
        }
        func allocate(_ floats: Int) throws -> DeviceBuffer {
            let buffer = try device.allocate(bytes: max(1, floats) * 4)
            owned.append(buffer)
            return buffer
        }
        do {
            word = try upload(weights.wordEmbeddings)
            position = try upload(weights.positionEmbeddings)
            type0 = try upload(Array(weights.tokenTypeEmbeddings.prefix(weights.hidden)))
            embeddingNormWeight = try upload(weights.embeddingNormWeight)
            embeddingNormBias = try upload(weights.embeddingNormBias)
            layers = try weights.layers.map { layer in
                LayerBuffers(qkvWeight: try upload(layer.qkvWeight), qkvBias: try upload(layer.qkvBias),
                             outWeight: try upload(layer.outWeight), outBias: try upload(layer.outBias),
                             attentionNormWeight: try upload(layer.attentionNormWeight), attentionNormBias: try upload(layer.attentionNormBias),
                             interWeight: try upload(layer.interWeight), interBias: try upload(layer.interBias),
                             ffnOutWeight: try upload(layer.ffnOutWeight), ffnOutBias: try upload(layer.ffnOutBias),
                             outputNormWeight: try upload(layer.outputNormWeight), outputNormBias: try upload(layer.outputNormBias))
            }
            let limits = try limits ?? BatchLimits.fitting(try device.freeMemory(), hidden: hidden, intermediate: intermediate,
                                                            heads: heads, maxLength: maxLength)
            guard limits.rows >= maxLength, limits.paddedRows >= maxLength else {
                throw DeviceError.invalidArgument("batch limits \(limits) cannot hold one sequence of \(maxLength) tokens")
            }
            self.limits = limits
            x = try allocate(limits.rows * hidden)
            qkv = try allocate(limits.rows * 3 * hidden)
            context = try allocate(limits.rows * hidden)
            projected = try allocate(limits.rows * hidden)
            inter = try allocate(limits.rows * intermediate)
            q = try allocate(limits.paddedRows * hidden)
            k = try allocate(limits.paddedRows * hidden)
            v = try allocate(limits.paddedRows * hidden)
            scores = try allocate(limits.paddedRows * heads * maxLength)
            pooled = try allocate(limits.paddedRows * hidden)
            ints = try allocate(limits.rows * 3 + limits.paddedRows * 2 + 2)
        } catch {
            owned.forEach(device.free)
            throw error
        }
        self.owned = owned
    }

    deinit { owned.forEach(device.free) }

    /// One L2-normalised vector per token sequence, in the order given. Concurrent callers take turns.
    ///
    /// - Throws: `DeviceError` when the device fails (nothing is returned for the call then).
    public func embed(_ sequences: [[Int32]]) throws -> [[Float]] {
        var vectors = [[Float]](repeating: [], count: sequences.count)
        for batch in Self.batches(sequences.map(\.count), limits: limits) {
            let out = try lock.withLock { try forward(batch.map { sequences[$0] }) }
            for (index, vector) in zip(batch, out) { vectors[index] = vector }
        }
        return vectors
    }

    /// Indices of `lengths` grouped into device batches: longest first, each batch as many as fit the
    /// limits at its first (longest) member's length. Empty sequences form no batch of their own.
    static func batches(_ lengths: [Int], limits: BatchLimits) -> [[Int]] {
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var batches: [[Int]] = [], current: [Int] = [], rows = 0, longest = 0
        for index in order {
            let length = max(1, lengths[index])
            if !current.isEmpty, rows + length > limits.rows || (current.count + 1) * longest > limits.paddedRows {
                batches.append(current)
                (current, rows) = ([], 0)
            }
            if current.isEmpty { longest = length }
            current.append(index)
            rows += length
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    // MARK: - One batch

    private func forward(_ sequences: [[Int32]]) throws -> [[Float]] {
        let h = hidden, count = sequences.count
        // An empty sequence (never from the tokenizer, which adds [CLS] and [SEP]) pools to zero.
        let lengths = sequences.map { Int32($0.count) }
        let rows = Int(lengths.reduce(0, +))
        guard rows > 0 else { return sequences.map { _ in [Float](repeating: 0, count: h) } }
        let length = Int(lengths.max()!)
        var offsets: [Int32] = [0]
        var ids: [Int32] = [], positions: [Int32] = [], sequence: [Int32] = []
        ids.reserveCapacity(rows)
        for (b, tokens) in sequences.enumerated() {
            ids += tokens
            positions += (0..<Int32(tokens.count))
            sequence += repeatElement(Int32(b), count: tokens.count)
            offsets.append(offsets.last! + Int32(tokens.count))
        }
        // One upload of every index array: ids | positions | sequence | offsets | lengths.
        let packed = ids + positions + sequence + offsets + lengths.map { max($0, 1) }
        try packed.withUnsafeBytes { try device.upload($0, to: ints.view(from: 0, count: packed.count)) }
        let idsBuffer = ints.view(from: 0, count: rows), positionsBuffer = ints.view(from: rows, count: rows)
        let sequenceBuffer = ints.view(from: 2 * rows, count: rows)
        let offsetsBuffer = ints.view(from: 3 * rows, count: count + 1), lengthsBuffer = ints.view(from: 3 * rows + count + 1, count: count)
        let xs = x.view(from: 0, count: rows * h)

        try device.launch(.embedLayerNorm(ids: idsBuffer, positions: positionsBuffer, word: word, position: position, type0: type0,
                                          gamma: embeddingNormWeight, beta: embeddingNormBias, x: xs, rows: rows, cols: h, eps: eps))
        let padded = count * length
        let (qs, ks, vs) = (q.view(from: 0, count: padded * h), k.view(from: 0, count: padded * h), v.view(from: 0, count: padded * h))
        let scoreSlots = scores.view(from: 0, count: padded * heads * length)
        for layer in layers {
            try linear(xs, rows: rows, inputs: h, weight: layer.qkvWeight, outputs: 3 * h, into: qkv)
            for tensor in [qs, ks, vs] { try device.zero(tensor) }
            try device.launch(.scatterQKV(qkv: qkv, bias: layer.qkvBias, sequence: sequenceBuffer, positions: positionsBuffer,
                                          q: qs, k: ks, v: vs, rows: rows, heads: heads, d: headSize, length: length))
            try attention(q: qs, k: ks, v: vs, scores: scoreSlots, sequences: count, length: length, lengths: lengthsBuffer)
            // The context was written over q.
            try device.launch(.gatherContext(context: qs, sequence: sequenceBuffer, positions: positionsBuffer, out: context,
                                             rows: rows, heads: heads, d: headSize, length: length))
            try linear(context, rows: rows, inputs: h, weight: layer.outWeight, outputs: h, into: projected)
            try device.launch(.biasResidualLayerNorm(x: xs, delta: projected, bias: layer.outBias, gamma: layer.attentionNormWeight,
                                                     beta: layer.attentionNormBias, rows: rows, cols: h, eps: eps))
            try linear(xs, rows: rows, inputs: h, weight: layer.interWeight, outputs: intermediate, into: inter)
            try device.launch(.biasGELU(x: inter, bias: layer.interBias, rows: rows, cols: intermediate))
            try linear(inter, rows: rows, inputs: intermediate, weight: layer.ffnOutWeight, outputs: h, into: projected)
            try device.launch(.biasResidualLayerNorm(x: xs, delta: projected, bias: layer.ffnOutBias, gamma: layer.outputNormWeight,
                                                     beta: layer.outputNormBias, rows: rows, cols: h, eps: eps))
        }
        let out = pooled.view(from: 0, count: count * h)
        try device.launch(.meanPoolNormalize(x: xs, offsets: offsetsBuffer, out: out, sequences: count, cols: h))
        let flat: [Float] = try device.download(out, count: count * h)
        return (0..<count).map { Array(flat[($0 * h)..<(($0 + 1) * h)]) }
    }

    /// out[rows × outputs] = input[rows × inputs] · weightᵀ (bias added by the next kernel). Row-major
    /// data read column-major: outᵀ = weight · inputᵀ, with weight [outputs × inputs] transposed.
    private func linear(_ input: DeviceBuffer, rows: Int, inputs: Int, weight: DeviceBuffer, outputs: Int, into out: DeviceBuffer) throws {
        try device.gemm(GEMM(transposeA: true, transposeB: false, m: outputs, n: rows, k: inputs,
                             a: weight, lda: inputs, b: input, ldb: inputs, c: out, ldc: outputs))
    }

    /// Per sequence and head, over [sequences][heads][length][d] tensors: scores = q·kᵀ/√d into
    /// [sequences][heads][length][length], softmax masked to each length, then q ← scores·v.
    private func attention(q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, scores: DeviceBuffer, sequences: Int, length: Int,
                           lengths: DeviceBuffer) throws {
        let d = headSize, batch = sequences * heads
        // Column-major: scores[j, i] = Σ_t k[j, t] q[i, t] (row-major scores[i][j]).
        try device.gemm(GEMM(transposeA: true, transposeB: false, m: length, n: length, k: d, alpha: 1 / Float(d).squareRoot(),
                             a: k, lda: d, strideA: length * d, b: q, ldb: d, strideB: length * d,
                             c: scores, ldc: length, strideC: length * length, batch: batch))
        try device.launch(.maskedSoftmax(s: scores, lengths: lengths, sequences: sequences, heads: heads, length: length))
        // Column-major: out[t, i] = Σ_j v[j, t] p[i, j], written over q.
        try device.gemm(GEMM(transposeA: false, transposeB: false, m: d, n: length, k: length,
                             a: v, lda: d, strideA: length * d, b: scores, ldb: length, strideB: length * length,
                             c: q, ldc: d, strideC: length * d, batch: batch))
    }
}
