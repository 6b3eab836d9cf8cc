// Stand-alone entry points for scripts/attnbf16/check.py: the bf16 kernels (flash_attention_bf16.cuh) and,
// for timing beside them, the fp32 kernels (flash_attention.ftl, FA_TF32 0 or 1), each with plain pointer
// arguments. Built by build.sh with nvcc -cubin -arch=sm_90a; the launch shapes are read back from the fab_cfg
// / fa_cfg globals. Not part of the product: the product's entry points are rendered by FlashBf16 / CudaRenderer.
#ifdef FAB
typedef unsigned short kiln_bf16;
#include "flash_attention_bf16.cuh"
extern "C" __device__ const int fab_cfg[5] = {FAB_NT, FAB_ROWS, FAB_FWD_SMEM_BYTES, FAB_DQ_SMEM_BYTES, FAB_DKV_SMEM_BYTES};
extern "C" __global__ void __launch_bounds__(FAB_NT, FAB_MIN_BLOCKS) fab_fwd(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand y, float* lse,
                                                              int B, int T, int NH, int G) {
  fab_forward(H, q, k, v, y, lse, B, T, NH, G);
}
extern "C" __global__ void __launch_bounds__(FAB_NT, FAB_MIN_BLOCKS) fab_dq(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                             float* D, FabOperand dq, int B, int T, int NH, int G) {
  fab_backward_dq<false>(H, q, k, v, dy, lse, D, dq, B, T, NH, G);
}
extern "C" __global__ void __launch_bounds__(FAB_NT, FAB_MIN_BLOCKS) fab_dkdv(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                               float* D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G) {
  fab_backward_dkdv<false>(H, q, k, v, dy, lse, D, dk, dv, B, T, NH, G);
}
// the '+=' forms (an extern whose gradient adds to what earlier layers wrote)
extern "C" __global__ void __launch_bounds__(FAB_NT, FAB_MIN_BLOCKS) fab_dq_acc(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                                 float* D, FabOperand dq, int B, int T, int NH, int G) {
  fab_backward_dq<true>(H, q, k, v, dy, lse, D, dq, B, T, NH, G);
}
extern "C" __global__ void __launch_bounds__(FAB_NT, FAB_MIN_BLOCKS) fab_dkdv_acc(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, float* lse,
                                                                   float* D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G) {
  fab_backward_dkdv<true>(H, q, k, v, dy, lse, D, dk, dv, B, T, NH, G);
}
#else
#include "flash_attention.cuh"
extern "C" __device__ const int fa_cfg[9] = {FA_FWD_NT, FA_FWD_BQ, FA_FWD_SMEM_BYTES, FA_DQ_NT, FA_DQ_BQ, FA_DQ_SMEM_BYTES, FA_DKV_NT, FA_DKV_BK, FA_DKV_SMEM_BYTES};
extern "C" __global__ void fa_fwd(const float* qkv, float* y, float* lse, int B, int T, int NH) { flash_attn_fwd(qkv, y, lse, B, T, NH); }
extern "C" __global__ void fa_dq(const float* qkv, const float* dy, const float* lse, const float* D, float* dqkv, int B, int T, int NH) {
  flash_attn_bwd_dq(qkv, dy, lse, D, dqkv, B, T, NH);
}
extern "C" __global__ void fa_dkdv(const float* qkv, const float* dy, const float* lse, const float* D, float* dqkv, int B, int T, int NH) {
  flash_attn_bwd_dkdv(qkv, dy, lse, D, dqkv, B, T, NH);
}
#endif
