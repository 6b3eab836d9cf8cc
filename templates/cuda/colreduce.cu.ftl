<#-- Split-row column reduction: out[p] = R_q value(p, q) where neighbouring outputs p read neighbouring
     addresses and q (the reduced vars, flattened, last fastest) walks the rows: a bias or norm-weight
     gradient, a sum over every row of a (rows, C) matrix (CudaRenderer.columnar picks it).
     The grid is (tiles of 32 outputs) x (splits along the rows). Thread (x, y) of block (tile, split)
     sums the `chunk` consecutive rows of chunk split * ROWS + y, in order, for output tile * 32 + x:
     a warp reads 32 neighbouring floats of one row per load (coalesced), UNROLL rows per step with their
     loads issued together; the reduced vars step along the rows as an odometer (no division in the loop).
     The block adds its ROWS partials in order into W[split * items + p]; ${name}_sum then adds the splits
     in split order and stores (or adds) the result: the same sums in the same order on every run. -->
<#include "prologue.ftl">

#define ROWS ${rows}
#define UNROLL ${unroll}

__device__ __forceinline__ ${type} combine_${name}(${type} x, ${type} y) { return ${combine}; }

extern "C" __global__ void __launch_bounds__(32 * ROWS) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    float* __restrict__ W, long long chunk) {
${unpack}
  __shared__ ${type} partial[ROWS][33];
  const long long items = ${items};
  const long long extent = ${extent};
  const long long p = blockIdx.x * 32LL + threadIdx.x;
  const long long q0 = ((long long) blockIdx.y * ROWS + threadIdx.y) * chunk;
  const long long q1 = q0 + chunk < extent ? q0 + chunk : extent;
  ${type} acc = ${init};
  if (p < items && q0 < q1) {
${decode}
${reduceDecode}
    long long q = q0;
    for (; q + UNROLL <= q1; q += UNROLL) {
      ${type} v[UNROLL];
<#list 0..<unroll as u>
      {
<#if lets?has_content>
${lets}
</#if>
        v[${u}] = ${value};
      }
${step}
</#list>
#pragma unroll
      for (int u = 0; u < UNROLL; u++) acc = combine_${name}(acc, v[u]);
    }
    for (; q < q1; q++) {
      {
<#if lets?has_content>
${lets}
</#if>
        acc = combine_${name}(acc, ${value});
      }
${step}
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && p < items) {
    acc = partial[0][threadIdx.x];
    for (int y = 1; y < ROWS; y++) acc = combine_${name}(acc, partial[y][threadIdx.x]);
    W[blockIdx.y * items + p] = acc;
  }
}

// out (=|+=) the splits' partial sums in W, in split order: one thread per output.
extern "C" __global__ void __launch_bounds__(256) ${name}_sum(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    const float* __restrict__ W, int splits) {
${unpack}
  const long long items = ${items};
  for (long long p = blockIdx.x * 256LL + threadIdx.x; p < items; p += (long long) gridDim.x * 256) {
${sumDecode}
    ${type} acc = W[p];
    for (int s = 1; s < splits; s++) acc = combine_${name}(acc, W[s * items + p]);
    ${store};
  }
}
#undef ROWS
#undef UNROLL
