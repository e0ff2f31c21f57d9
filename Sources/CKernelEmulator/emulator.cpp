// A CPU emulator for the kernels of kernels.cu (test only): the CUDA source is compiled unchanged as
// C++ with the few built-ins it uses defined here, and each warp's 32 lanes run as fibers
// (ucontext) that meet at every __shfl_xor_sync, so warp reductions compute exactly what they
// compute on a GPU. Warps run one after another: the kernels share nothing between warps (no shared
// memory, no __syncthreads, no atomics), so the order cannot change a result.
#include "CKernelEmulator.h"

#include <math.h>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <ucontext.h>

namespace emu {
struct Dim3 { unsigned x = 0, y = 0, z = 0; };

enum class LaneState { running, waiting, done };

struct Lane {
    ucontext_t context;
    Dim3 thread;
    LaneState state = LaneState::running;
    int xorMask = 0;
    double result = 0.0;
};

constexpr int warpSize = 32;
constexpr size_t stackBytes = 256 * 1024;

struct Warp {
    Lane lanes[warpSize];
    double slots[warpSize];
    int current = 0;
    ucontext_t scheduler;
    void (*job)(void **) = nullptr;
    void **arguments = nullptr;
    char *stacks = nullptr;
    Warp() { stacks = static_cast<char *>(std::malloc(stackBytes * warpSize)); }
    ~Warp() { std::free(stacks); }
};

thread_local Warp *warp = nullptr;
thread_local Dim3 block, blockDimension, grid;

// Values travel as double: exact for every float and every int.
double shuffleXor(double value, int mask) {
    Lane &lane = warp->lanes[warp->current];
    warp->slots[warp->current] = value;
    lane.xorMask = mask;
    lane.state = LaneState::waiting;
    swapcontext(&lane.context, &warp->scheduler);
    return lane.result;
}

void trampoline() {
    warp->job(warp->arguments);
    warp->lanes[warp->current].state = LaneState::done;
    // uc_link returns to the scheduler.
}

/// Runs one warp's lanes (thread indices first ..< first + 32) to completion in lockstep.
void runWarp(Warp &w, unsigned first) {
    for (int i = 0; i < warpSize; ++i) {
        Lane &lane = w.lanes[i];
        lane.thread = Dim3{first + (unsigned)i, 0, 0};
        lane.state = LaneState::running;
        getcontext(&lane.context);
        lane.context.uc_stack.ss_sp = w.stacks + stackBytes * i;
        lane.context.uc_stack.ss_size = stackBytes;
        lane.context.uc_link = &w.scheduler;
        makecontext(&lane.context, trampoline, 0);
    }
    for (;;) {
        bool waiting = false;
        for (int i = 0; i < warpSize; ++i) {
            if (w.lanes[i].state != LaneState::running) continue;
            w.current = i;
            swapcontext(&w.scheduler, &w.lanes[i].context);
            if (w.lanes[i].state == LaneState::waiting) waiting = true;
        }
        if (!waiting) return;
        // Every live lane is at the same shuffle: exchange, then go on.
        for (int i = 0; i < warpSize; ++i) {
            Lane &lane = w.lanes[i];
            if (lane.state != LaneState::waiting) continue;
            lane.result = w.slots[i ^ lane.xorMask];
            lane.state = LaneState::running;
        }
    }
}
} // namespace emu

// The CUDA built-ins kernels.cu uses.
#define __global__
#define __device__
#define __forceinline__ inline
#define blockIdx (emu::block)
#define blockDim (emu::blockDimension)
#define gridDim (emu::grid)
#define threadIdx (emu::warp->lanes[emu::warp->current].thread)
static inline float __shfl_xor_sync(unsigned, float value, int mask) { return (float)emu::shuffleXor(value, mask); }
static inline int __shfl_xor_sync(unsigned, int value, int mask) { return (int)emu::shuffleXor(value, mask); }
// Round-to-nearest float operations, never contracted into an FMA (as on the GPU).
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
// Warps run one at a time: a plain add is atomic here.
static inline int atomicAdd(int *address, int value) { const int old = *address; *address = old + value; return old; }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#include "../PeerTubeUpdater/Device/kernels.cu"
#pragma GCC diagnostic pop

namespace {
template <typename... A, size_t... I>
void call(void (*kernel)(A...), void **arguments, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A> *>(arguments[I])...);
}

template <typename... A> struct Thunk {
    static void (*kernel)(A...);
    static void run(void **arguments) { call(kernel, arguments, std::index_sequence_for<A...>{}); }
};
template <typename... A> void (*Thunk<A...>::kernel)(A...) = nullptr;

template <typename... A> void (*thunk(void (*kernel)(A...)))(void **) {
    Thunk<A...>::kernel = kernel;
    return &Thunk<A...>::run;
}

struct Entry { const char *name; void (*run)(void **); };
}

extern "C" int emu_launch(const char *name, unsigned blocks, unsigned threads, void **arguments, char *error, int errorLength) {
    static const Entry entries[] = {
        {"embed_layernorm", thunk(embed_layernorm)},
        {"bias_residual_layernorm", thunk(bias_residual_layernorm)},
        {"bias_gelu", thunk(bias_gelu)},
        {"scatter_qkv", thunk(scatter_qkv)},
        {"masked_softmax", thunk(masked_softmax)},
        {"gather_context", thunk(gather_context)},
        {"mean_pool_normalize", thunk(mean_pool_normalize)},
        {"row_argmax", thunk(row_argmax)},
        {"cluster_means", thunk(cluster_means)},
        {"normalize_rows", thunk(normalize_rows)},
        {"l2_operand", thunk(l2_operand)},
        {"subtract_assigned", thunk(subtract_assigned)},
        {"sub_columns", thunk(sub_columns)},
        {"topk_partial", thunk(topk_partial)},
        {"topk_merge", thunk(topk_merge)},
        {"offers_scan", thunk(offers_scan)},
    };
    void (*job)(void **) = nullptr;
    for (const Entry &entry : entries) if (std::strcmp(entry.name, name) == 0) job = entry.run;
    if (!job) { std::snprintf(error, errorLength, "the emulator has no kernel %s", name); return -1; }
    if (threads == 0 || threads % emu::warpSize != 0) {
        std::snprintf(error, errorLength, "%s: %u threads a block, not a multiple of 32", name, threads);
        return -1;
    }
    emu::Warp warp;
    warp.job = job;
    warp.arguments = arguments;
    emu::warp = &warp;
    emu::grid = emu::Dim3{blocks, 1, 1};
    emu::blockDimension = emu::Dim3{threads, 1, 1};
    for (unsigned b = 0; b < blocks; ++b) {
        emu::block = emu::Dim3{b, 0, 0};
        for (unsigned first = 0; first < threads; first += emu::warpSize) emu::runWarp(warp, first);
    }
    emu::warp = nullptr;
    return 0;
}
