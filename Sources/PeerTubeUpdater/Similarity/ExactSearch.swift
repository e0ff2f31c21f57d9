import COpenBLAS

/// Brute-force top-k by inner product over vectors held in memory: the ground truth the ANN lists are
/// measured against (recall), blocks of queries at a time through sgemm.
public enum ExactSearch {
    public struct Hit: Equatable, Sendable {
        public var index: Int
        public var score: Float
    }

    /// For each query (rows of `queries`), the `k` best rows of `vectors`, best first, leaving out
    /// the rows `exclude(queryIndex)` names.
    public static func topK(queries: [Float], vectors: [Float], dimension: Int, k: Int,
                            exclude: (Int) -> Int? = { _ in nil }) -> [[Hit]] {
        let count = vectors.count / dimension, queryCount = queries.count / dimension
        let block = 64
        var scores = [Float](repeating: 0, count: block * count)
        var result: [[Hit]] = []
        result.reserveCapacity(queryCount)
        for start in stride(from: 0, to: queryCount, by: block) {
            let rows = min(block, queryCount - start)
            queries.withUnsafeBufferPointer { q in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(count), Int32(dimension), 1,
                            q.baseAddress! + start * dimension, Int32(dimension), vectors, Int32(dimension), 0,
                            &scores, Int32(count))
            }
            for row in 0..<rows {
                let skip = exclude(start + row)
                var best: [Hit] = []
                for j in 0..<count where j != skip {
                    let score = scores[row * count + j]
                    if best.count < k {
                        best.append(Hit(index: j, score: score))
                        if best.count == k { best.sort { $0.score > $1.score } }
                    } else if score > best[k - 1].score {
                        var position = k - 1
                        while position > 0 && best[position - 1].score < score { position -= 1 }
                        best.insert(Hit(index: j, score: score), at: position)
                        best.removeLast()
                    }
                }
                if best.count < k { best.sort { $0.score > $1.score } }
                result.append(best)
            }
        }
        return result
    }
}
