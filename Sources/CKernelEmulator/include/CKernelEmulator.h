#ifndef CKERNELEMULATOR_H
#define CKERNELEMULATOR_H
#ifdef __cplusplus
extern "C" {
#endif

/// Runs kernel `name` of kernels.cu on the CPU, as cuLaunchKernel would on a GPU: `blocks` x
/// `threads` threads (1-D), `arguments` pointing to each argument's value. Each warp's 32 lanes run
/// in lockstep at every __shfl_xor_sync. Returns 0, or -1 with `error` filled for an unknown kernel
/// or a geometry the emulator does not cover (threads not a multiple of 32).
int emu_launch(const char *name, unsigned blocks, unsigned threads, void **arguments, char *error, int errorLength);

#ifdef __cplusplus
}
#endif
#endif
