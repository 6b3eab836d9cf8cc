<#-- Reduction: one block per output element; threads stride the reduced extent, then a warp-shuffle
     tree and one shared-memory round combine the partials. -->
<#include "prologue.ftl">

__device__ __forceinline__ ${type} combine_${name}(${type} x, ${type} y) { return ${combine}; }

extern "C" __global__ void __launch_bounds__(${block}) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  __shared__ ${type} partial[32];
  const long long items = ${items};
  const long long extent = ${extent};
  for (long long p = blockIdx.x; p < items; p += gridDim.x) {
${decode}
    ${type} acc = ${init};
    for (long long q = threadIdx.x; q < extent; q += blockDim.x) {
${reduceDecode}
${lets}
      acc = combine_${name}(acc, ${value});
    }
    for (int o = 16; o > 0; o >>= 1) acc = combine_${name}(acc, __shfl_down_sync(0xffffffffu, acc, o));
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
      acc = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : ${init};
      for (int o = 16; o > 0; o >>= 1) acc = combine_${name}(acc, __shfl_down_sync(0xffffffffu, acc, o));
      if (threadIdx.x == 0) ${store};
    }
    __syncthreads();
  }
}
