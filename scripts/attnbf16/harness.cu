// Stand-alone entry points for scripts/attnbf16/check.py: the bf16 kernels (flash_attention_bf16.cuh) with
// plain pointer arguments. Built by build.sh with nvcc -cubin -arch=sm_90a; the launch shapes are read back from the fab_cfg
// global. Not part of the product: the product's entry points are rendered by FlashBf16 / CudaRenderer.
typedef unsigned short kiln_bf16;
#include "flash_attention_bf16.cuh"
// per kernel (forward, dq, dkdv): threads, rows a block, dynamic shared memory
extern "C" __device__ const int fab_cfg[9] = {FAB_FWD_NT, FAB_FWD_ROWS, FAB_FWD_SMEM_BYTES, FAB_DQ_NT, FAB_DQ_ROWS, FAB_DQ_SMEM_BYTES,
                                              FAB_DKV_NT, FAB_DKV_ROWS, FAB_DKV_SMEM_BYTES};
extern "C" __global__ void __launch_bounds__(FAB_FWD_NT, FAB_FWD_MIN_BLOCKS) fab_fwd(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand y, float* lse,
                                                              int B, int T, int NH, int G) {
  fab_forward(H, q, k, v, y, lse, B, T, NH, G);
}
extern "C" __global__ void __launch_bounds__(FAB_DQ_NT, FAB_DQ_MIN_BLOCKS) fab_dq(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                             float* D, FabOperand dq, int B, int T, int NH, int G) {
  fab_backward_dq<false>(H, q, k, v, dy, lse, D, dq, B, T, NH, G);
}
extern "C" __global__ void __launch_bounds__(FAB_DKV_NT, FAB_DKV_MIN_BLOCKS) fab_dkdv(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                               float* D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G, int GS) {
  fab_backward_dkdv<false>(H, q, k, v, dy, lse, D, dk, dv, B, T, NH, G, GS);
}
// the '+=' forms (an extern whose gradient adds to what earlier layers wrote)
extern "C" __global__ void __launch_bounds__(FAB_DQ_NT, FAB_DQ_MIN_BLOCKS) fab_dq_acc(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                                 float* D, FabOperand dq, int B, int T, int NH, int G) {
  fab_backward_dq<true>(H, q, k, v, dy, lse, D, dq, B, T, NH, G);
}
extern "C" __global__ void __launch_bounds__(FAB_DKV_NT, FAB_DKV_MIN_BLOCKS) fab_dkdv_acc(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                                   float* D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G, int GS) {
  fab_backward_dkdv<true>(H, q, k, v, dy, lse, D, dk, dv, B, T, NH, G, GS);
}
