<#-- kiln_tanh, the bf16 kernels' tanh (the matmul epilogues over element pairs; the bf16 vector maps: GELU, dGELU). -->
#ifndef KILN_TANH
#define KILN_TANH
// tanh(u) = sign(u) (1 - 2 / (e^2|u| + 1)) from one ex2.approx and one rcp.approx (relative errors ~2^-22): within
// 4e-7 absolute everywhere, and 1 + tanh, 1 - tanh^2 (GELU, its derivative) as accurate relatively as with libm's tanhf
// where they are small (~3e-5 relative at 1e-3; docs/design.md), in 7 instructions where tanhf takes ~17 (the same two MUFU)
__device__ __forceinline__ float kiln_tanh(const float u) {
  float e, r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(fabsf(u) * 2.885390081777927f));
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(e + 1.0f));
  return copysignf(fmaf(-2.0f, r, 1.0f), u);
}
#endif
