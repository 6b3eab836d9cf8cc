<#-- Split-row column reduction: out[p] = R_q value(p, q) where neighbouring outputs p read neighbouring
     addresses and q (the reduced vars, flattened, last fastest) walks the rows: a bias or norm-weight
     gradient, a sum over every row of a (rows, C) matrix (CudaRenderer.columnar picks it).
     The grid is (tiles of 32 x LANES outputs) x (splits along the rows). Thread (x, y) of block (tile, split)
     sums the `chunk` consecutive rows of chunk split * ROWS + y, in order, for the LANES outputs
     (tile * 32 + x) * LANES + j. Where the output's last dim is a multiple of 8 and every row load's rows
     are 16-byte aligned, it reads 8 neighbouring elements of each row load with one 16-byte load (8 bf16, or
     two float4s of fp32): a warp moves 256 or 512 bytes of a row per load, UNROLL rows per step with their
     loads issued together. Otherwise it sums its LANES outputs one after another, an element a row.
     Either way each output adds the same values in the same order (rows in order, then the ROWS partials in
     order into W[split * items + p]); ${name}_sum then adds the splits in a fixed order (SUM_GROUPS
     consecutive runs of splits, each in order, then the runs in order) and stores (or adds) the result:
     the same sums in the same order on every run. The reduced vars step along the rows as an odometer. -->
<#include "prologue.ftl">
<#if lanes == 8>
<#include "lanes.ftl">
</#if>

#define ROWS ${rows}
#define UNROLL ${unroll}
#define LANES ${lanes}
#define SUM_GROUPS 8

__device__ __forceinline__ ${type} combine_${name}(${type} x, ${type} y) { return ${combine}; }

extern "C" __global__ void __launch_bounds__(32 * ROWS) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    float* __restrict__ W, long long chunk) {
${unpack}
  __shared__ ${type} partial[ROWS][32 * LANES + 1];
  const long long items = ${items};
  const long long extent = ${extent};
  const long long p0 = (blockIdx.x * 32LL + threadIdx.x) * LANES;
  const long long q0 = ((long long) blockIdx.y * ROWS + threadIdx.y) * chunk;
  const long long q1 = q0 + chunk < extent ? q0 + chunk : extent;
  ${type} acc[LANES];
#pragma unroll
  for (int j = 0; j < LANES; j++) acc[j] = ${init};
  if (p0 < items && q0 < q1) {
<#if lanes == 8>
    // the 8 outputs share every output var but the last, and each row load's 8 elements are one aligned vector
    bool vec = ${vectorDims};
    if (vec) {
      const long long p = p0;
${decode}
${reduceDecode}
      vec = (${aligned}) == 0;
      if (vec) {
        long long q = q0;
        for (; q + UNROLL <= q1; q += UNROLL) {
          ${type} v[UNROLL][LANES];
<#list 0..<unroll as u>
          {
<#list vecLoads as l>
            ${l}
</#list>
<#list laneValues as lane>
            {
<#list lane.lets as l>
              ${l}
</#list>
              v[${u}][${lane?index}] = ${lane.value};
            }
</#list>
          }
  ${step}
</#list>
#pragma unroll
          for (int u = 0; u < UNROLL; u++) {
#pragma unroll
            for (int j = 0; j < LANES; j++) acc[j] = combine_${name}(acc[j], v[u][j]);
          }
        }
        for (; q < q1; q++) {
<#list vecLoads as l>
          ${l}
</#list>
<#list laneValues as lane>
          {
<#list lane.lets as l>
            ${l}
</#list>
            acc[${lane?index}] = combine_${name}(acc[${lane?index}], ${lane.value});
          }
</#list>
  ${step}
        }
      }
    }
    if (!vec) {
</#if>
#pragma unroll
    for (int j = 0; j < LANES; j++) {
      const long long p = p0 + j;
      if (p < items) {
${decode}
${reduceDecode}
        ${type} s = ${init};
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
          for (int u = 0; u < UNROLL; u++) s = combine_${name}(s, v[u]);
        }
        for (; q < q1; q++) {
          {
<#if lets?has_content>
${lets}
</#if>
            s = combine_${name}(s, ${value});
          }
  ${step}
        }
        acc[j] = s;
      }
    }
<#if lanes == 8>
    }
</#if>
  }
#pragma unroll
  for (int j = 0; j < LANES; j++) partial[threadIdx.y][threadIdx.x * LANES + j] = acc[j];
  __syncthreads();
  const long long base = blockIdx.x * 32LL * LANES;
  for (int k = threadIdx.y * 32 + threadIdx.x; k < 32 * LANES; k += 32 * ROWS) {
    if (base + k >= items) break;
    ${type} t = partial[0][k];
    for (int y = 1; y < ROWS; y++) t = combine_${name}(t, partial[y][k]);
    W[blockIdx.y * items + base + k] = t;
  }
}

// out (=|+=) the splits' partial sums in W: block (32, SUM_GROUPS), thread (x, y) adds, in order, the y-th run of
// consecutive splits for output blockIdx.x * 32 + x; thread (x, 0) then adds the runs in order and stores.
extern "C" __global__ void __launch_bounds__(32 * SUM_GROUPS) ${name}_sum(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    const float* __restrict__ W, int splits) {
${unpack}
  __shared__ ${type} runs[SUM_GROUPS][33];
  const long long items = ${items};
  const long long p = blockIdx.x * 32LL + threadIdx.x;
  const int run = (splits + SUM_GROUPS - 1) / SUM_GROUPS;
  const int s0 = threadIdx.y * run, s1 = s0 + run < splits ? s0 + run : splits;
  ${type} t = ${init};
  if (p < items && s0 < s1) {
    t = W[s0 * items + p];
#pragma unroll 8
    for (int s = s0 + 1; s < s1; s++) t = combine_${name}(t, W[s * items + p]);
  }
  runs[threadIdx.y][threadIdx.x] = t;
  __syncthreads();
  if (threadIdx.y == 0 && p < items) {
${sumDecode}
    ${type} acc = runs[0][threadIdx.x];
    for (int y = 1; y < SUM_GROUPS && y * run < splits; y++) acc = combine_${name}(acc, runs[y][threadIdx.x]);
    ${store};
  }
}
#undef ROWS
#undef UNROLL
#undef LANES
#undef SUM_GROUPS
