import Foundation

/// Plain-loop host references of the kernels in `kernels.cu`: each computes what its kernel computes
/// (the same float32 operations; sums in plain order where the kernel sums across a warp), so a
/// kernel and its reference agree to rounding. `HostDevice` runs them; `device --self-test` compares
/// each kernel with its reference on a GPU.
///
/// Indices read from buffers (token ids, positions, sequence numbers) are checked against the
/// buffers they index, so a layout bug fails a test with its name instead of reading past memory.
enum KernelReference {
    /// The memory behind a launch's buffer arguments.
    struct Arguments {
        let launch: KernelLaunch
        let resolve: (DeviceBuffer) throws -> UnsafeMutableRawBufferPointer

        func floats(_ index: Int) throws -> UnsafeMutableBufferPointer<Float> { try resolve(launch.buffer(index)).bindMemory(to: Float.self) }
        func ints(_ index: Int) throws -> UnsafeMutableBufferPointer<Int32> { try resolve(launch.buffer(index)).bindMemory(to: Int32.self) }
        func int(_ index: Int) -> Int { launch.int(index) }
        func float(_ index: Int) -> Float { launch.float(index) }
    }

    /// - Throws: `DeviceError.invalidArgument` for an index or size that leaves its buffer.
    static func run(_ launch: KernelLaunch, resolve: @escaping (DeviceBuffer) throws -> UnsafeMutableRawBufferPointer) throws {
        let a = Arguments(launch: launch, resolve: resolve)
        func need(_ condition: Bool, _ what: @autoclosure () -> String) throws {
            if !condition { throw DeviceError.invalidArgument("\(launch.kernel.rawValue): \(what())") }
        }
        switch launch.kernel {
        case .embedLayerNorm:
            let (ids, positions, word, position, type0) = (try a.ints(0), try a.ints(1), try a.floats(2), try a.floats(3), try a.floats(4))
            let (gamma, beta, x) = (try a.floats(5), try a.floats(6), try a.floats(7))
            let (rows, cols, eps) = (a.int(8), a.int(9), a.float(10))
            try need(ids.count >= rows && positions.count >= rows && x.count >= rows * cols && gamma.count >= cols, "sizes")
            var v = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                let id = Int(ids[r]), p = Int(positions[r])
                try need(id >= 0 && (id + 1) * cols <= word.count, "token id \(id) past the vocabulary")
                try need(p >= 0 && (p + 1) * cols <= position.count, "position \(p) past the position table")
                for c in 0..<cols { v[c] = word[id * cols + c] + position[p * cols + c] + type0[c] }
                layerNorm(v, gamma: gamma, beta: beta, eps: eps, into: x.baseAddress! + r * cols)
            }

        case .biasResidualLayerNorm:
            let (x, delta, bias, gamma, beta) = (try a.floats(0), try a.floats(1), try a.floats(2), try a.floats(3), try a.floats(4))
            let (rows, cols, eps) = (a.int(5), a.int(6), a.float(7))
            try need(x.count >= rows * cols && delta.count >= rows * cols && bias.count >= cols, "sizes")
            var v = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                for c in 0..<cols { v[c] = x[r * cols + c] + delta[r * cols + c] + bias[c] }
                layerNorm(v, gamma: gamma, beta: beta, eps: eps, into: x.baseAddress! + r * cols)
            }

        case .biasGELU:
            let (x, bias, rows, cols) = (try a.floats(0), try a.floats(1), a.int(2), a.int(3))
            try need(x.count >= rows * cols && bias.count >= cols, "sizes")
            for i in 0..<(rows * cols) {
                let v = x[i] + bias[i % cols]
                x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752))
            }

        case .scatterQKV:
            let (qkv, bias, sequence, positions) = (try a.floats(0), try a.floats(1), try a.ints(2), try a.ints(3))
            let (q, k, v) = (try a.floats(4), try a.floats(5), try a.floats(6))
            let (rows, heads, d, length) = (a.int(7), a.int(8), a.int(9), a.int(10))
            let hidden = heads * d
            try need(qkv.count >= rows * 3 * hidden && bias.count >= 3 * hidden, "sizes")
            for r in 0..<rows {
                let s = Int(sequence[r]), p = Int(positions[r])
                try need(p >= 0 && p < length && s >= 0 && ((s * heads + heads) * length) * d <= q.count, "row \(r) at sequence \(s) position \(p)")
                for col in 0..<(3 * hidden) {
                    let which = col / hidden, h = (col % hidden) / d, t = col % d
                    let at = ((s * heads + h) * length + p) * d + t
                    let value = qkv[r * 3 * hidden + col] + bias[col]
                    switch which {
                    case 0: q[at] = value
                    case 1: k[at] = value
                    default: v[at] = value
                    }
                }
            }

        case .maskedSoftmax:
            let (s, lengths, sequences, heads, length) = (try a.floats(0), try a.ints(1), a.int(2), a.int(3), a.int(4))
            try need(s.count >= sequences * heads * length * length && lengths.count >= sequences, "sizes")
            for row in 0..<(sequences * heads * length) {
                let n = Int(lengths[row / (heads * length)])
                try need(n >= 1 && n <= length, "length \(n) of a row of \(length)")
                let base = row * length
                var top = -Float.greatestFiniteMagnitude
                for j in 0..<n { top = max(top, s[base + j]) }
                var sum: Float = 0
                for j in 0..<n {
                    let e = expf(s[base + j] - top)
                    s[base + j] = e
                    sum += e
                }
                let inverse = 1 / sum
                for j in 0..<length { s[base + j] = j < n ? s[base + j] * inverse : 0 }
            }

        case .gatherContext:
            let (context, sequence, positions, out) = (try a.floats(0), try a.ints(1), try a.ints(2), try a.floats(3))
            let (rows, heads, d, length) = (a.int(4), a.int(5), a.int(6), a.int(7))
            let hidden = heads * d
            try need(out.count >= rows * hidden, "sizes")
            for r in 0..<rows {
                let s = Int(sequence[r]), p = Int(positions[r])
                try need(p >= 0 && p < length && s >= 0 && ((s * heads + heads) * length) * d <= context.count, "row \(r) at sequence \(s) position \(p)")
                for c in 0..<hidden {
                    let h = c / d, t = c % d
                    out[r * hidden + c] = context[((s * heads + h) * length + p) * d + t]
                }
            }

        case .meanPoolNormalize:
            let (x, offsets, out, sequences, cols) = (try a.floats(0), try a.ints(1), try a.floats(2), a.int(3), a.int(4))
            try need(offsets.count > sequences && out.count >= sequences * cols, "sizes")
            var v = [Float](repeating: 0, count: cols)
            for b in 0..<sequences {
                let first = Int(offsets[b]), end = Int(offsets[b + 1])
                try need(first >= 0 && end >= first && end * cols <= x.count, "sequence \(b) rows \(first)..<\(end)")
                let count = Float(max(end - first, 1))
                var squares: Float = 0
                for c in 0..<cols {
                    var total: Float = 0
                    for r in first..<end { total += x[r * cols + c] }
                    v[c] = total / count
                    squares += v[c] * v[c]
                }
                let inverse = 1 / max(squares.squareRoot(), 1e-12)
                for c in 0..<cols { out[b * cols + c] = v[c] * inverse }
            }

        case .rowArgmax:
            let (scores, rows, cols, out) = (try a.floats(0), a.int(1), a.int(2), try a.ints(3))
            try need(scores.count >= rows * cols && out.count >= rows, "sizes")
            for r in 0..<rows {
                var best = 0
                for c in 1..<max(cols, 1) where scores[r * cols + c] > scores[r * cols + best] { best = c }
                out[r] = Int32(best)
            }

        case .clusterMeans:
            let (points, order, offsets, centroids, k, d) = (try a.floats(0), try a.ints(1), try a.ints(2), try a.floats(3), a.int(4), a.int(5))
            try need(offsets.count > k && centroids.count >= k * d, "sizes")
            for c in 0..<k {
                let first = Int(offsets[c]), end = Int(offsets[c + 1])
                guard end > first else { continue }
                try need(end <= order.count, "cluster \(c) members \(first)..<\(end) past the order")
                for j in 0..<d {
                    var sum = 0.0
                    for m in first..<end {
                        let row = Int(order[m])
                        try need(row >= 0 && (row + 1) * d <= points.count, "member row \(row)")
                        sum += Double(points[row * d + j])
                    }
                    centroids[c * d + j] = Float(sum / Double(end - first))
                }
            }

        case .normalizeRows:
            let (x, rows, cols) = (try a.floats(0), a.int(1), a.int(2))
            try need(x.count >= rows * cols, "sizes")
            for r in 0..<rows {
                var squares: Float = 0
                for j in 0..<cols { squares += x[r * cols + j] * x[r * cols + j] }
                let norm = squares.squareRoot()
                if norm > 0 { for j in 0..<cols { x[r * cols + j] /= norm } }
            }

        case .l2Operand:
            let (centroids, out, k, d) = (try a.floats(0), try a.floats(1), a.int(2), a.int(3))
            try need(centroids.count >= k * d && out.count >= k * (d + 1), "sizes")
            for c in 0..<k {
                var norm: Float = 0
                for j in 0..<d {
                    let value = centroids[c * d + j]
                    out[c * (d + 1) + j] = 2 * value
                    norm += value * value
                }
                out[c * (d + 1) + d] = -norm
            }

        case .subtractAssigned:
            let (x, centroids, assignment, out, rows, d) = (try a.floats(0), try a.floats(1), try a.ints(2), try a.floats(3), a.int(4), a.int(5))
            try need(x.count >= rows * d && out.count >= rows * d && assignment.count >= rows, "sizes")
            for r in 0..<rows {
                let c = Int(assignment[r])
                try need(c >= 0 && (c + 1) * d <= centroids.count, "assignment \(c) of row \(r)")
                for j in 0..<d { out[r * d + j] = x[r * d + j] - centroids[c * d + j] }
            }

        case .subColumns:
            let (x, out, rows, d, first, width, augment) = (try a.floats(0), try a.floats(1), a.int(2), a.int(3), a.int(4), a.int(5), a.int(6))
            let wide = width + augment
            try need(x.count >= rows * d && first + width <= d && out.count >= rows * wide, "sizes")
            for r in 0..<rows {
                for j in 0..<wide { out[r * wide + j] = j < width ? x[r * d + first + j] : 1 }
            }

        case .topkPartial:
            let (scores, queries, columns, firstColumn, exclude) = (try a.floats(0), a.int(1), a.int(2), a.int(3), try a.ints(4))
            let (partScores, partIndex, k, parts) = (try a.floats(5), try a.ints(6), a.int(7), a.int(8))
            try need(scores.count >= queries * columns && exclude.count >= queries && partScores.count >= queries * parts * k
                     && partIndex.count >= queries * parts * k, "sizes")
            for q in 0..<queries {
                for p in 0..<parts {
                    let base = (q * parts + p) * k
                    var c = p
                    while c < columns {
                        let index = firstColumn + c, score = scores[c * queries + q]
                        c += parts
                        if index == Int(exclude[q]) || !ranksBefore(score, index, partScores[base + k - 1], Int(partIndex[base + k - 1])) { continue }
                        var r = k - 1
                        while r > 0 && ranksBefore(score, index, partScores[base + r - 1], Int(partIndex[base + r - 1])) {
                            partScores[base + r] = partScores[base + r - 1]
                            partIndex[base + r] = partIndex[base + r - 1]
                            r -= 1
                        }
                        partScores[base + r] = score
                        partIndex[base + r] = Int32(index)
                    }
                }
            }

        case .topkMerge:
            let (partScores, partIndex, queries, parts, k) = (try a.floats(0), try a.ints(1), a.int(2), a.int(3), a.int(4))
            let (outScores, outIndex) = (try a.floats(5), try a.ints(6))
            try need(outScores.count >= queries * k && outIndex.count >= queries * k, "sizes")
            for q in 0..<queries {
                var cursor = [Int](repeating: 0, count: parts)
                for r in 0..<k {
                    var pick = -1, score = -Float.greatestFiniteMagnitude, at = Int(Int32.max)
                    for p in 0..<parts where cursor[p] < k {
                        let slot = (q * parts + p) * k + cursor[p], index = Int(partIndex[slot])
                        if index < 0 { continue }
                        if pick < 0 || ranksBefore(partScores[slot], index, score, at) { (pick, score, at) = (p, partScores[slot], index) }
                    }
                    if pick < 0 {
                        (outScores[q * k + r], outIndex[q * k + r]) = (-Float.greatestFiniteMagnitude, -1)
                        continue
                    }
                    cursor[pick] += 1
                    (outScores[q * k + r], outIndex[q * k + r]) = (score, Int32(at))
                }
            }

        case .offersScan:
            let (scores, queries, columns, firstColumn, floors, floorIndex) = (try a.floats(0), a.int(1), a.int(2), a.int(3), try a.floats(4), try a.ints(5))
            let exclude = try a.ints(6)
            let (counter, offerQuery, offerColumn, offerScore, capacity) = (try a.ints(7), try a.ints(8), try a.ints(9), try a.floats(10), a.int(11))
            try need(scores.count >= queries * columns && floors.count >= firstColumn + columns && floorIndex.count >= firstColumn + columns, "sizes")
            for i in 0..<(queries * columns) {
                let q = i % queries, index = firstColumn + i / queries, score = scores[i]
                guard index != Int(exclude[q]), ranksBefore(score, Int(exclude[q]), floors[index], Int(floorIndex[index])) else { continue }
                let slot = Int(counter[0])
                counter[0] += 1
                if slot < capacity { (offerQuery[slot], offerColumn[slot], offerScore[slot]) = (Int32(q), Int32(index), score) }
            }
        }
    }

    /// The top-k kernels' order: higher score first, then the lower index; an empty slot (index -1) last.
    private static func ranksBefore(_ s: Float, _ i: Int, _ t: Float, _ j: Int) -> Bool {
        let j = j < 0 ? Int(Int32.max) : j
        return s > t || (s == t && i < j)
    }

    /// (v - mean) / sqrt(var + eps) · gamma + beta, two-pass as the kernel does.
    private static func layerNorm(_ v: [Float], gamma: UnsafeMutableBufferPointer<Float>, beta: UnsafeMutableBufferPointer<Float>,
                                  eps: Float, into out: UnsafeMutablePointer<Float>) {
        let cols = v.count
        var sum: Float = 0
        for value in v { sum += value }
        let mean = sum / Float(cols)
        var squares: Float = 0
        for value in v { squares += (value - mean) * (value - mean) }
        let inverse = 1 / (squares / Float(cols) + eps).squareRoot()
        for c in 0..<cols { out[c] = (v[c] - mean) * inverse * gamma[c] + beta[c] }
    }
}
