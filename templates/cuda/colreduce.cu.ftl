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
     the same sums in the same order on every run. The reduced vars step along the rows as an odometer.
     With OUTS > 1 sibling reductions (CudaRenderer.siblings: a layernorm's weight and bias gradients) share the launch and
     its row loads: output k's partials go to W[(split * OUTS + k) * items + p], and ${name}_sum's blockIdx.y is k; each
     output adds its values in the order it would alone. -->
<#include "prologue.ftl">
<#if lanes == 8>
<#include "lanes.ftl">
</#if>

#define ROWS ${rows}
#define UNROLL ${unroll}
#define LANES ${lanes}
#define OUTS ${outs?size}
#define SUM_GROUPS 8

__device__ __forceinline__ ${type} combine_${name}(${type} x, ${type} y) { return ${combine}; }

extern "C" __global__ void __launch_bounds__(32 * ROWS) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    float* __restrict__ W, long long chunk) {
${unpack}
  __shared__ ${type} partial[ROWS][OUTS * 32 * LANES + 1];
  const long long items = ${items};
  const long long extent = ${extent};
  const long long p0 = (blockIdx.x * 32LL + threadIdx.x) * LANES;
  const long long q0 = ((long long) blockIdx.y * ROWS + threadIdx.y) * chunk;
  const long long q1 = q0 + chunk < extent ? q0 + chunk : extent;
  ${type} acc[OUTS][LANES];
#pragma unroll
  for (int k = 0; k < OUTS; k++)
#pragma unroll
    for (int j = 0; j < LANES; j++) acc[k][j] = ${init};
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
          ${type} v[UNROLL][OUTS][LANES];
<#list 0..<unroll as u>
          {
<#list vecLoads as l>
            ${l}
</#list>
<#list laneValues as out>
<#list out as lane>
            {
<#list lane.lets as l>
              ${l}
</#list>
              v[${u}][${out?index}][${lane?index}] = ${lane.value};
            }
</#list>
</#list>
          }
  ${step}
</#list>
#pragma unroll
          for (int u = 0; u < UNROLL; u++) {
#pragma unroll
            for (int k = 0; k < OUTS; k++)
#pragma unroll
              for (int j = 0; j < LANES; j++) acc[k][j] = combine_${name}(acc[k][j], v[u][k][j]);
          }
        }
        for (; q < q1; q++) {
<#list vecLoads as l>
          ${l}
</#list>
<#list laneValues as out>
<#list out as lane>
          {
<#list lane.lets as l>
            ${l}
</#list>
            acc[${out?index}][${lane?index}] = combine_${name}(acc[${out?index}][${lane?index}], ${lane.value});
          }
</#list>
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
        ${type} s[OUTS];
#pragma unroll
        for (int k = 0; k < OUTS; k++) s[k] = ${init};
        long long q = q0;
        for (; q + UNROLL <= q1; q += UNROLL) {
          ${type} v[UNROLL][OUTS];
<#list 0..<unroll as u>
          {
<#list outs as o>
<#if o.lets?has_content>
${o.lets}
</#if>
            v[${u}][${o?index}] = ${o.value};
</#list>
          }
  ${step}
</#list>
#pragma unroll
          for (int u = 0; u < UNROLL; u++)
#pragma unroll
            for (int k = 0; k < OUTS; k++) s[k] = combine_${name}(s[k], v[u][k]);
        }
        for (; q < q1; q++) {
<#list outs as o>
          {
<#if o.lets?has_content>
${o.lets}
</#if>
            s[${o?index}] = combine_${name}(s[${o?index}], ${o.value});
          }
</#list>
  ${step}
        }
#pragma unroll
        for (int k = 0; k < OUTS; k++) acc[k][j] = s[k];
      }
    }
<#if lanes == 8>
    }
</#if>
  }
#pragma unroll
  for (int k = 0; k < OUTS; k++)
#pragma unroll
    for (int j = 0; j < LANES; j++) partial[threadIdx.y][k * 32 * LANES + threadIdx.x * LANES + j] = acc[k][j];
  __syncthreads();
  const long long base = blockIdx.x * 32LL * LANES;
  for (int i = threadIdx.y * 32 + threadIdx.x; i < OUTS * 32 * LANES; i += 32 * ROWS) {
    const int k = i / (32 * LANES), c = i - k * (32 * LANES);
    if (base + c >= items) continue;
    ${type} t = partial[0][i];
    for (int y = 1; y < ROWS; y++) t = combine_${name}(t, partial[y][i]);
    W[((long long) blockIdx.y * OUTS + k) * items + base + c] = t;
  }
}

// out (=|+=) the splits' partial sums in W: block (32, SUM_GROUPS) of grid (outputs / 32, OUTS), thread (x, y) adds, in order,
// the y-th run of consecutive splits for output blockIdx.x * 32 + x of sibling blockIdx.y; thread (x, 0) then adds the runs
// in order and stores.
extern "C" __global__ void __launch_bounds__(32 * SUM_GROUPS) ${name}_sum(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    const float* __restrict__ W, int splits) {
${unpack}
  __shared__ ${type} runs[SUM_GROUPS][33];
  const long long items = ${items};
  const long long p = blockIdx.x * 32LL + threadIdx.x;
  const int k = blockIdx.y;
  const int run = (splits + SUM_GROUPS - 1) / SUM_GROUPS;
  const int s0 = threadIdx.y * run, s1 = s0 + run < splits ? s0 + run : splits;
  ${type} t = ${init};
  if (p < items && s0 < s1) {
    t = W[((long long) s0 * OUTS + k) * items + p];
#pragma unroll 8
    for (int s = s0 + 1; s < s1; s++) t = combine_${name}(t, W[((long long) s * OUTS + k) * items + p]);
  }
  runs[threadIdx.y][threadIdx.x] = t;
  __syncthreads();
  if (threadIdx.y == 0 && p < items) {
${sumDecode}
    ${type} acc = runs[0][threadIdx.x];
    for (int y = 1; y < SUM_GROUPS && y * run < splits; y++) acc = combine_${name}(acc, runs[y][threadIdx.x]);
<#list outs as o>
<#if outs?size == 1>
    ${o.store};
<#else>
    if (k == ${o?index}) ${o.store};
</#if>
</#list>
  }
}
#undef ROWS
#undef UNROLL
#undef LANES
#undef OUTS
#undef SUM_GROUPS
