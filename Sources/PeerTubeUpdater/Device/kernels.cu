// The CUDA kernels of the GPU pipeline, compiled at run time by NVRTC to a cubin for the device's own
// compute capability (Device/KernelCache.swift) and, in `make test`, for sm_80 and sm_90 without a GPU.
// Each kernel has a plain-loop host reference that computes exactly what it computes
// (Device/KernelReference.swift); `peertube-updater device --self-test` checks one against the other.
//
// Layouts: matrices are row-major float32 unless said; "rows" are packed tokens (sequences one after
// another, no padding). Reductions over a row run in one warp (`__shfl_xor_sync`): one thread per row
// was 12x slower on an H200 (LayerNorm of 65,536 x 384: 0.971 ms against 0.077 ms).
// No CUDA headers: NVRTC's built-ins suffice.

#define WARP 32
// Per-lane registers of a warp-per-row LayerNorm: rows of up to 16 x 32 = 512 values.
#define LN_PER_LANE 16

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

__device__ __forceinline__ int warp_row() { return (int)(blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP); }
__device__ __forceinline__ int lane_id() { return (int)(threadIdx.x & (WARP - 1)); }
__device__ __forceinline__ long long thread_index() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long thread_count() { return (long long)gridDim.x * blockDim.x; }

// LayerNorm of one row held in registers (v, summing to `sum`; lanes past `cols` hold 0): two-pass
// mean and variance, then (v - mean) / sqrt(var + eps) * gamma + beta into out.
__device__ __forceinline__ void layer_norm_row(float (&v)[LN_PER_LANE], float sum, const float* gamma, const float* beta,
                                               float* out, int cols, float eps, int lane) {
    const float mean = warp_sum(sum) / cols;
    float squares = 0.f;
#pragma unroll
    for (int i = 0; i < LN_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        if (c < cols) { const float d = v[i] - mean; squares += d * d; }
    }
    const float inverse = 1.f / sqrtf(warp_sum(squares) / cols + eps);
#pragma unroll
    for (int i = 0; i < LN_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        if (c < cols) out[c] = (v[i] - mean) * inverse * gamma[c] + beta[c];
    }
}

// x[r] = LayerNorm(word[ids[r]] + position[positions[r]] + type0); one warp per row.
extern "C" __global__ void embed_layernorm(const int* ids, const int* positions, const float* word, const float* position,
                                           const float* type0, const float* gamma, const float* beta, float* x,
                                           int rows, int cols, float eps) {
    const int row = warp_row(), lane = lane_id();
    if (row >= rows) return;
    const float* w = word + (long long)ids[row] * cols;
    const float* p = position + (long long)positions[row] * cols;
    float v[LN_PER_LANE];
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < LN_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        v[i] = c < cols ? w[c] + p[c] + type0[c] : 0.f;
        sum += v[i];
    }
    layer_norm_row(v, sum, gamma, beta, x + (long long)row * cols, cols, eps, lane);
}

// x[r] = LayerNorm(x[r] + delta[r] + bias); one warp per row.
extern "C" __global__ void bias_residual_layernorm(float* x, const float* delta, const float* bias, const float* gamma,
                                                   const float* beta, int rows, int cols, float eps) {
    const int row = warp_row(), lane = lane_id();
    if (row >= rows) return;
    float* xr = x + (long long)row * cols;
    const float* dr = delta + (long long)row * cols;
    float v[LN_PER_LANE];
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < LN_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        v[i] = c < cols ? xr[c] + dr[c] + bias[c] : 0.f;
        sum += v[i];
    }
    layer_norm_row(v, sum, gamma, beta, xr, cols, eps, lane);
}

// x[r][c] = GELU(x[r][c] + bias[c]) with BERT's exact GELU, 0.5 v (1 + erf(v / sqrt 2)).
extern "C" __global__ void bias_gelu(float* x, const float* bias, int rows, int cols) {
    const long long total = (long long)rows * cols;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const float v = x[i] + bias[i % cols];
        x[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    }
}

// Packed q|k|v rows (rows x 3*heads*d, bias not yet added) into padded per-head tensors
// q, k, v of [sequences][heads][length][d]: row r is position positions[r] of sequence sequence[r].
// Padding slots are left as they are (the caller zeroes the tensors first).
extern "C" __global__ void scatter_qkv(const float* qkv, const float* bias, const int* sequence, const int* positions,
                                       float* q, float* k, float* v, int rows, int heads, int d, int length) {
    const int hidden = heads * d;
    const long long total = (long long)rows * 3 * hidden;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const int r = (int)(i / (3 * hidden)), col = (int)(i % (3 * hidden));
        const int which = col / hidden, h = (col % hidden) / d, t = col % d;
        const long long at = (((long long)sequence[r] * heads + h) * length + positions[r]) * d + t;
        const float value = qkv[i] + bias[col];
        (which == 0 ? q : which == 1 ? k : v)[at] = value;
    }
}

// Softmax of each row of s ([sequences][heads][length][length], scores already scaled) over the
// sequence's real length; columns past it become 0. One warp per row; rows past the length too
// (their values are never read back).
extern "C" __global__ void masked_softmax(float* s, const int* lengths, int sequences, int heads, int length) {
    const int row = warp_row(), lane = lane_id();
    if (row >= sequences * heads * length) return;
    const int n = lengths[row / (heads * length)];
    float* sr = s + (long long)row * length;
    float top = -3.402823466e38f;
    for (int j = lane; j < n; j += WARP) top = fmaxf(top, sr[j]);
    top = warp_max(top);
    float sum = 0.f;
    for (int j = lane; j < n; j += WARP) {
        const float e = expf(sr[j] - top);
        sr[j] = e;
        sum += e;
    }
    const float inverse = 1.f / warp_sum(sum);
    for (int j = lane; j < length; j += WARP) sr[j] = j < n ? sr[j] * inverse : 0.f;
}

// The inverse of scatter_qkv for one tensor: out[r][h*d + t] = context[sequence[r]][h][positions[r]][t].
extern "C" __global__ void gather_context(const float* context, const int* sequence, const int* positions, float* out,
                                          int rows, int heads, int d, int length) {
    const int hidden = heads * d;
    const long long total = (long long)rows * hidden;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const int r = (int)(i / hidden), c = (int)(i % hidden);
        const int h = c / d, t = c % d;
        out[i] = context[(((long long)sequence[r] * heads + h) * length + positions[r]) * d + t];
    }
}

// out[b] = L2-normalised mean of rows offsets[b] ..< offsets[b+1] of x; one warp per sequence.
extern "C" __global__ void mean_pool_normalize(const float* x, const int* offsets, float* out, int sequences, int cols) {
    const int b = warp_row(), lane = lane_id();
    if (b >= sequences) return;
    const int first = offsets[b], end = offsets[b + 1];
    const float count = (float)(end > first ? end - first : 1);
    float v[LN_PER_LANE];
    float squares = 0.f;
#pragma unroll
    for (int i = 0; i < LN_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        float total = 0.f;
        if (c < cols)
            for (int r = first; r < end; ++r) total += x[(long long)r * cols + c];
        v[i] = total / count;
        squares += c < cols ? v[i] * v[i] : 0.f;
    }
    const float inverse = 1.f / fmaxf(sqrtf(warp_sum(squares)), 1e-12f);
#pragma unroll
    for (int i = 0; i < LN_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        if (c < cols) out[(long long)b * cols + c] = v[i] * inverse;
    }
}

// ---------------------------------------------------------------------------------------------
// ANN build: k-means (coarse lists, PQ sub-quantizers) and encoding. Each mirrors a step of the CPU
// trainer (ANN/KMeans.swift) so the host device reproduces its codebooks exactly.

// out[r] = the first column of the largest value of row r of scores (rows x cols, row-major); one
// warp per row, ties to the smaller column, as KMeans.argmax.
extern "C" __global__ void row_argmax(const float* scores, int rows, int cols, int* out) {
    const int row = warp_row(), lane = lane_id();
    if (row >= rows) return;
    const float* s = scores + (long long)row * cols;
    float best = -3.402823466e38f;
    int at = 0x7fffffff;
    for (int c = lane; c < cols; c += WARP) {
        const float v = s[c];
        if (v > best || (v == best && c < at)) { best = v; at = c; }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float other = __shfl_xor_sync(0xffffffffu, best, offset);
        const int otherAt = __shfl_xor_sync(0xffffffffu, at, offset);
        if (other > best || (other == best && otherAt < at)) { best = other; at = otherAt; }
    }
    if (lane == 0) out[row] = at == 0x7fffffff ? 0 : at;
}

// centroids[c][j] = mean of points[order[i]][j] over i in offsets[c] ..< offsets[c+1], summed in
// double in that order (the rows of cluster c, ascending); clusters with no member keep their row.
// One thread per (c, j).
extern "C" __global__ void cluster_means(const float* points, const int* order, const int* offsets, float* centroids,
                                         int k, int d) {
    const long long total = (long long)k * d;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const int c = (int)(i / d), j = (int)(i % d);
        const int first = offsets[c], end = offsets[c + 1];
        if (end <= first) continue;
        double sum = 0.0;
        for (int m = first; m < end; ++m) sum += (double)points[(long long)order[m] * d + j];
        centroids[i] = (float)(sum / (double)(end - first));
    }
}

// Each row of x divided by its L2 norm (rows of norm 0 left as they are); one thread per row, the
// squares summed in order, as KMeans.normalizeRows.
extern "C" __global__ void normalize_rows(float* x, int rows, int cols) {
    for (long long r = thread_index(); r < rows; r += thread_count()) {
        float* row = x + r * cols;
        float squares = 0.f;
        for (int j = 0; j < cols; ++j) squares = __fadd_rn(squares, __fmul_rn(row[j], row[j]));
        const float norm = sqrtf(squares);
        if (norm > 0.f) for (int j = 0; j < cols; ++j) row[j] = __fdiv_rn(row[j], norm);
    }
}

// The L2 centroid operand: out[c] = (2 centroids[c], -|centroids[c]|^2), d + 1 wide, so one GEMM of
// points with a trailing 1 gives 2x.c - |c|^2 (largest for the nearest centroid); one thread per row.
extern "C" __global__ void l2_operand(const float* centroids, float* out, int k, int d) {
    for (long long c = thread_index(); c < k; c += thread_count()) {
        const float* row = centroids + c * d;
        float* o = out + c * (d + 1);
        float norm = 0.f;
        for (int j = 0; j < d; ++j) {
            o[j] = 2.f * row[j];
            norm = __fadd_rn(norm, __fmul_rn(row[j], row[j]));
        }
        o[d] = -norm;
    }
}

// out[r] = x[r] - centroids[assignment[r]] (rows x d): residuals to each row's list.
extern "C" __global__ void subtract_assigned(const float* x, const float* centroids, const int* assignment, float* out,
                                             int rows, int d) {
    const long long total = (long long)rows * d;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const int r = (int)(i / d), j = (int)(i % d);
        out[i] = x[i] - centroids[(long long)assignment[r] * d + j];
    }
}

// Columns first ..< first + width of every row of x (rows x d), as rows of width, plus a trailing 1
// when augment is 1 (the L2 points operand).
extern "C" __global__ void sub_columns(const float* x, float* out, int rows, int d, int first, int width, int augment) {
    const int wide = width + augment;
    const long long total = (long long)rows * wide;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const int r = (int)(i / wide), j = (int)(i % wide);
        out[i] = j < width ? x[(long long)r * d + first + j] : 1.f;
    }
}

// ---------------------------------------------------------------------------------------------
// Exact similarity: a running top-k per query over blocks of GEMM scores. A hit ranks before
// another by higher score, then lower index (positions are in rowid order: EmbeddingSet.ranksBefore).

#define TOPK_MAX 64

__device__ __forceinline__ bool ranks_before(float s, int i, float t, int j) { return s > t || (s == t && i < j); }

// scores: column-major queries x columns (scores[q + c * queries], what one cuBLAS GEMM of the
// queries against a block of vectors gives); column c is vector firstColumn + c. Each query's top-k
// is kept in `parts` partial lists (list p sees the columns c with c % parts == p), in partScores /
// partIndex[(q * parts + p) * k ...], best first, empty slots at score -inf, index -1. exclude[q] is
// the vector a query must not return (itself), or -1. Thread t serves query t % queries, part
// t / queries: neighbouring threads read neighbouring addresses.
extern "C" __global__ void topk_partial(const float* scores, int queries, int columns, int firstColumn, const int* exclude,
                                        float* partScores, int* partIndex, int k, int parts) {
    const long long t = thread_index();
    if (t >= (long long)queries * parts) return;
    const int q = (int)(t % queries), p = (int)(t / queries);
    float* ts = partScores + ((long long)q * parts + p) * k;
    int* ti = partIndex + ((long long)q * parts + p) * k;
    float best[TOPK_MAX];
    int where[TOPK_MAX];
    for (int r = 0; r < k; ++r) { best[r] = ts[r]; where[r] = ti[r]; }
    const int skip = exclude[q];
    for (int c = p; c < columns; c += parts) {
        const float s = scores[(long long)c * queries + q];
        const int index = firstColumn + c;
        if (index == skip || !ranks_before(s, index, best[k - 1], where[k - 1] < 0 ? 0x7fffffff : where[k - 1])) continue;
        int r = k - 1;
        while (r > 0 && ranks_before(s, index, best[r - 1], where[r - 1] < 0 ? 0x7fffffff : where[r - 1])) {
            best[r] = best[r - 1];
            where[r] = where[r - 1];
            --r;
        }
        best[r] = s;
        where[r] = index;
    }
    for (int r = 0; r < k; ++r) { ts[r] = best[r]; ti[r] = where[r]; }
}

// outScores / outIndex[q * k ...] = the best k of query q's partial lists; one thread per query.
extern "C" __global__ void topk_merge(const float* partScores, const int* partIndex, int queries, int parts, int k,
                                      float* outScores, int* outIndex) {
    for (long long q = thread_index(); q < queries; q += thread_count()) {
        int cursor[TOPK_MAX];
        for (int p = 0; p < parts; ++p) cursor[p] = 0;
        for (int r = 0; r < k; ++r) {
            int pick = -1;
            float s = -3.402823466e38f;
            int at = 0x7fffffff;
            for (int p = 0; p < parts; ++p) {
                if (cursor[p] >= k) continue;
                const long long slot = (q * parts + p) * k + cursor[p];
                const int index = partIndex[slot];
                if (index < 0) continue;
                if (pick < 0 || ranks_before(partScores[slot], index, s, at)) { pick = p; s = partScores[slot]; at = index; }
            }
            if (pick < 0) { outScores[q * k + r] = -3.402823466e38f; outIndex[q * k + r] = -1; continue; }
            cursor[pick] += 1;
            outScores[q * k + r] = s;
            outIndex[q * k + r] = at;
        }
    }
}

// Offers for an incremental run: every (query, column) whose query ranks before the column's floor
// (the last, k-th entry of the column's cached list: its score in floors, -inf for a short list,
// +inf for a vector without one; on equal scores the lower position wins, floorIndex holding the
// entry's), appended to offerQuery / offerColumn / offerScore through counter[0] (capacity entries
// at most; counter[0] still counts past it, so the caller can ask again larger). exclude[q] is the
// query's own position.
extern "C" __global__ void offers_scan(const float* scores, int queries, int columns, int firstColumn, const float* floors,
                                       const int* floorIndex, const int* exclude, int* counter, int* offerQuery, int* offerColumn,
                                       float* offerScore, int capacity) {
    const long long total = (long long)queries * columns;
    for (long long i = thread_index(); i < total; i += thread_count()) {
        const int q = (int)(i % queries), c = (int)(i / queries);
        const int index = firstColumn + c;
        const float s = scores[i];
        if (index == exclude[q] || !ranks_before(s, exclude[q], floors[index], floorIndex[index])) continue;
        const int slot = atomicAdd(counter, 1);
        if (slot < capacity) { offerQuery[slot] = q; offerColumn[slot] = index; offerScore[slot] = s; }
    }
}
