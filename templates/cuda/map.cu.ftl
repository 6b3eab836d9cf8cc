<#-- Element-wise map (and scatter): one thread per work item, a grid-stride loop over items. With lanes > 1 an item
     is a vector of that many consecutive elements along the last dim (16 bytes of bf16, or float4s), moved whole
     where the dim is a multiple of lanes and every vector tensor 16-byte aligned (vec), else element by element. Where the
     items and the grid's stride fit in 32 bits the loop and its index decode run in 32-bit unsigned arithmetic. -->
<#include "prologue.ftl">
<#if lanes gt 1>
<#include "lanes.ftl">
</#if>
<#if fastTanh!false>
<#include "tanh.ftl">
</#if>

extern "C" __global__ void __launch_bounds__(${block}) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  const long long items = ${items};
<#if lanes gt 1>
  const bool vec = ${aligned};
</#if>
  if (items + (long long) gridDim.x * blockDim.x <= 0xffffffffLL) {
    // the item index and its decode in 32 bits (no 64-bit division: a library call each)
    for (unsigned p = blockIdx.x * blockDim.x + threadIdx.x; p < (unsigned) items; p += gridDim.x * blockDim.x) {
${decode32}
${statements}
    }
    return;
  }
  for (long long p = (long long) blockIdx.x * blockDim.x + threadIdx.x; p < items; p += (long long) gridDim.x * blockDim.x) {
${decode}
${statements}
  }
}
