<#-- Element-wise map (and scatter): one thread per work item, a grid-stride loop over items. With lanes > 1 an item
     is a vector of that many consecutive elements along the last dim (16 bytes of bf16, or float4s), moved whole
     where the dim is a multiple of lanes and every vector tensor 16-byte aligned (vec), else element by element.
     fastTanh (bf16 maps, CudaRenderer.mapTanh): tanh is kiln_tanh. -->
<#include "prologue.ftl">
<#if lanes gt 1>
<#include "lanes.ftl">
</#if>

<#if fastTanh!false>
#ifndef KILN_TANH
#define KILN_TANH
// tanh(u) = sign(u) (1 - 2 / (e^2|u| + 1)) from one ex2.approx and one rcp.approx, as the bf16 matmul epilogue's kiln_tanh
// (matmul_wgmma_bf16.cu.ftl): within 4e-7 absolute, 1 + tanh (GELU) and 1 - tanh^2 (its derivative) as accurate relatively
// as with tanhf where they are small, ~7 instructions for tanhf's ~17. A host compile (the emulation tests) uses exp2f and /.
__device__ __forceinline__ float kiln_tanh(const float u) {
#ifdef __CUDA_ARCH__
  float e, r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(fabsf(u) * 2.885390081777927f));
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(e + 1.0f));
#else
  const float e = exp2f(fabsf(u) * 2.885390081777927f), r = 1.0f / (e + 1.0f);
#endif
  return copysignf(fmaf(-2.0f, r, 1.0f), u);
}
#endif

</#if>
extern "C" __global__ void __launch_bounds__(${block}) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  const long long items = ${items};
<#if lanes gt 1>
  const bool vec = ${aligned};
</#if>
  for (long long p = (long long) blockIdx.x * blockDim.x + threadIdx.x; p < items; p += (long long) gridDim.x * blockDim.x) {
${decode}
${statements}
  }
}
