<#-- Column reduction: out[p] = R_q value(p, q) where neighbouring p are neighbouring addresses and q
     runs over the slow dims (a bias or layernorm-weight gradient: a sum over every row of a matrix).
     A block of 32 x ROWS threads owns 32 outputs: threadIdx.x walks p (coalesced loads), threadIdx.y
     strides q with 4 independent partials, then shared memory adds the ROWS partials of each output
     in a fixed order (deterministic). -->
<#include "prologue.ftl">

#define ROWS ${rows}

__device__ __forceinline__ ${type} combine_${name}(${type} x, ${type} y) { return ${combine}; }

extern "C" __global__ void __launch_bounds__(32 * ROWS) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  __shared__ ${type} partial[ROWS][33];
  const long long items = ${items};
  const long long extent = ${extent};
  const long long p = blockIdx.x * 32LL + threadIdx.x;
${decode}
  ${type} part[4] = {${init}, ${init}, ${init}, ${init}};
  if (p < items) {
    for (long long q0 = threadIdx.y; q0 < extent; q0 += 4 * ROWS) {
#pragma unroll
      for (int u = 0; u < 4; u++) {
        const long long q = q0 + u * ROWS;
        if (q < extent) {
${reduceDecode}
${lets}
          part[u] = combine_${name}(part[u], ${value});
        }
      }
    }
  }
  partial[threadIdx.y][threadIdx.x] = combine_${name}(combine_${name}(part[0], part[1]), combine_${name}(part[2], part[3]));
  __syncthreads();
  if (threadIdx.y == 0 && p < items) {
    ${type} acc = partial[0][threadIdx.x];
    for (int row = 1; row < ROWS; row++) acc = combine_${name}(acc, partial[row][threadIdx.x]);
    ${store};
  }
}
#undef ROWS
