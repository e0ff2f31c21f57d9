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
