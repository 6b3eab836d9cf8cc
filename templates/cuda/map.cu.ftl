<#-- Element-wise map (and scatter): one thread per work item, a grid-stride loop over items. -->
<#include "prologue.ftl">

extern "C" __global__ void __launch_bounds__(${block}) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  const long long items = ${items};
  for (long long p = (long long) blockIdx.x * blockDim.x + threadIdx.x; p < items; p += (long long) gridDim.x * blockDim.x) {
${decode}
${statements}
  }
}
