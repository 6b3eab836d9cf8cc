<#-- Element-wise map (and scatter): one thread per work item, a grid-stride loop over items. With lanes > 1 an item
     is a vector of that many consecutive elements along the last dim (16 bytes of bf16, or float4s), moved whole
     where the dim is a multiple of lanes and every vector tensor 16-byte aligned (vec), else element by element. With
     perThread > 1 (vector maps, CudaRenderer.mapItems) a thread takes that many items blockDim.x apart and loads the first
     statement's vectors of all of them first (pre), then runs the statements item by item. -->
<#include "prologue.ftl">
<#if lanes gt 1>
<#include "lanes.ftl">
</#if>

<#if (perThread!1) gt 1>
#ifndef KILN_PRELOAD
#define KILN_PRELOAD
// a preloaded 16-byte word as 8 bf16 widened to floats (element 2i in the low half of word i, as kiln_load8), or as 4 floats
__device__ __forceinline__ void kiln_widen8(float* d, const uint4 u) {
  const unsigned w[4] = {u.x, u.y, u.z, u.w};
  #pragma unroll
  for (int i = 0; i < 4; i++) {
    d[2 * i] = __uint_as_float(w[i] << 16);
    d[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
__device__ __forceinline__ void kiln_floats4(float* d, const uint4 u) {
  d[0] = __uint_as_float(u.x); d[1] = __uint_as_float(u.y); d[2] = __uint_as_float(u.z); d[3] = __uint_as_float(u.w);
}
#endif

</#if>
extern "C" __global__ void __launch_bounds__(${block}) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  const long long items = ${items};
<#if lanes gt 1>
  const bool vec = ${aligned};
</#if>
<#if (perThread!1) gt 1>
  // ${perThread} items a thread, blockDim.x apart: the first statement's vectors of all of them are loaded before any math
  // or store (items are independent, as they are across threads), so ${perThread} times the 16-byte loads are in flight
  for (long long p0 = (long long) blockIdx.x * blockDim.x * ${perThread} + threadIdx.x; p0 < items; p0 += (long long) gridDim.x * blockDim.x * ${perThread}) {
<#list preDecls as d>
    ${d}
</#list>
#pragma unroll
    for (int u = 0; u < ${perThread}; u++) {
      const long long p = p0 + (long long) u * blockDim.x;
      if (vec && p < items) {
${decode}
${preload}
      }
    }
#pragma unroll
    for (int u = 0; u < ${perThread}; u++) {
      const long long p = p0 + (long long) u * blockDim.x;
      if (p >= items) break;
${decode}
${statements}
    }
  }
<#else>
  for (long long p = (long long) blockIdx.x * blockDim.x + threadIdx.x; p < items; p += (long long) gridDim.x * blockDim.x) {
${decode}
${statements}
  }
</#if>
}
