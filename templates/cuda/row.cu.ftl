<#-- Row kernel (RowFusion): a block (or, for rows of at most 512 floats, a warp or part of one) per row of ${extent}
     elements runs every stage of the group on it: sums and maxima along the row (every thread of the row
     ends with the result), per-row values (every thread computes them, thread 0 of the row stores them),
     element maps along the row, and a write at a computed place in the row between two barriers. A thread
     touches the same elements in every stage, so what one stage writes the next reads back from its own
     stores. Where the row length is a multiple of 4 and every row base is 16-byte aligned, each thread
     moves float4s (the lanes are the same statements, one per element); where a bf16 tensor moves along
     the row, vectors of 8 (a multiple of 8, every base 16-byte aligned): 8 bf16 in one uint4, 8 floats in two
     float4s, widened on load and rounded to nearest even on store as the scalar loop's stores round. A max along the row
     followed by a sum of terms that each scale as exp(-max) (softmax's normaliser) runs as one pass ("online"): each
     thread keeps its running max and its sum relative to it, rescaling the sum when the max grows, and the row's
     threads combine theirs the same way. Launch: blockDim.x threads a row
     (4 to 1024); with blockDim.x <= 32, blockDim.y rows a block, 32 / blockDim.x a warp, each row's lanes
     reducing among themselves (shuffle distances below blockDim.x), synchronised by warp. Resident path (CudaRows: where the
     extent known when rendering gives each thread R = ${resident} vectors of the row, and at run time the row has that
     many): the row tensors that two or more stages touch stay in registers (c<N>[R][lanes]) from their first read on, a
     map into one writes its registers (rounded as stored) and the row is stored once after the last such map; the
     other rows are read and written as on the streaming path. Column sums (COLSUM stages: a norm's weight and bias
     gradients, the residual's bias gradient): only on the resident path, where a thread runs the same R vectors of every row
     it takes; it adds its columns' terms into registers (cs<N>[R][lanes]) over all its rows (the blocks stride over the rows,
     Work.Rows.blocks), the block then adds its rows' partials in order (threadIdx.y) into W[blockIdx.x][sum][column], and
     ${name}_sum adds the blocks' partials in a fixed order and stores: the same sums on every run. -->
<#include "prologue.ftl">

// the lanes of this thread's row: the whole warp, or the blockDim.x of it that serve the row where a row takes part
// of a warp (the rows of a warp may leave the row loop at different times, so no row waits for another's lanes)
__device__ __forceinline__ unsigned row_lanes_${name}() {
  return blockDim.x >= 32 ? 0xffffffffu : ((1u << blockDim.x) - 1u) << ((threadIdx.y * blockDim.x) & 31);
}

__device__ __forceinline__ void row_sync_${name}() {
  if (blockDim.x <= 32) __syncwarp(row_lanes_${name}()); else __syncthreads();
}

__device__ __forceinline__ float row_sum_${name}(float v, float* red) {
  for (int o = blockDim.x < 32 ? blockDim.x >> 1 : 16; o > 0; o >>= 1) v += __shfl_xor_sync(row_lanes_${name}(), v, o);
  if (blockDim.x <= 32) return v;
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  v = (threadIdx.x & 31) < (blockDim.x >> 5) ? red[threadIdx.x & 31] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(row_lanes_${name}(), v, o);
  __syncthreads();
  return v;
}

__device__ __forceinline__ float row_max_${name}(float v, float* red) {
  for (int o = blockDim.x < 32 ? blockDim.x >> 1 : 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(row_lanes_${name}(), v, o));
  if (blockDim.x <= 32) return v;
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  v = (threadIdx.x & 31) < (blockDim.x >> 5) ? red[threadIdx.x & 31] : (-INFINITY);
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(row_lanes_${name}(), v, o));
  __syncthreads();
  return v;
}

<#macro rowStage s>
<#list s.lets as l>
    ${l}
</#list>
    const float ${s.local} = ${s.value};
<#if s.syncBefore>
    row_sync_${name}();
</#if>
    if (threadIdx.x == 0) ${s.store};
</#macro>
<#macro reduceTail s>
<#if s.rounded??>
    const float ${s.local}w = ${s.prior}row_${s.op}_${name}(${s.acc}, red);
    const float ${s.local} = ${s.rounded};
<#else>
    const float ${s.local} = ${s.prior}row_${s.op}_${name}(${s.acc}, red);
</#if>
<#if s.syncBefore>
    row_sync_${name}();
</#if>
    if (threadIdx.x == 0) ${s.store};
</#macro>
<#macro laneBody s lane j>
        {
<#if s.usesVar>
          const int ${s.var} = ${lanes} * q + ${j};
</#if>
<#list lane.lets as l>
          ${l}
</#list>
<#if s.kind == "reduce">
          ${s.acc} = ${s.combine?replace("%s", lane.value)};
<#elseif s.kind == "colsum">
          ${s.acc}[k][${j}] += ${lane.value};
<#else>
          w${lane.field} = ${lane.value};
</#if>
        }
</#macro>
<#if lanes == 8>
<#include "lanes.ftl">

</#if>
<#if cache??>
#ifndef KILN_ROW_CACHE
#define KILN_ROW_CACHE
// the row cache (CudaRows, KILN_ROW_CACHE): the block's dynamic shared memory where the launch gave at least `bytes`
// (Work.Rows.sharedBytes), else null (the row is then read again from global memory)
__device__ __forceinline__ uint4* kiln_row_cache(unsigned bytes) {
  extern __shared__ uint4 kiln_row_cache_bytes[];
  unsigned given;
  asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(given));
  return bytes <= given ? kiln_row_cache_bytes : nullptr;
}
// 16 bytes of global memory into the cache, asynchronously (cp.async, through L2 only); kiln_cache_wait: this thread's copies landed
__device__ __forceinline__ void kiln_cache_fill(uint4* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"((unsigned) __cvta_generic_to_shared(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void kiln_cache_wait() { asm volatile("cp.async.wait_all;" ::: "memory"); }
// 8 bf16 of a cached uint4, widened as kiln_load8 widens them
__device__ __forceinline__ void kiln_unpack8(float* d, const uint4 u) {
  const unsigned w[4] = {u.x, u.y, u.z, u.w};
  #pragma unroll
  for (int i = 0; i < 4; i++) {
    d[2 * i] = __uint_as_float(w[i] << 16);
    d[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
#endif

</#if>
extern "C" __global__ void __launch_bounds__(<#if resident gt 0>256<#else>1024</#if>) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a<#if colsums?has_content>,
    float* __restrict__ W</#if>) {
${unpack}
<#if reduces>
  __shared__ float red[32];
</#if>
<#list colsums as c>
  float ${c.acc}[${resident}][${lanes}] = {};
</#list>
  const long long rows = ${rows};
  const int n4 = ${extent} >> ${shift};
<#if cache??>
  uint4* const kiln_cache = kiln_row_cache((unsigned) n4 * 16u);
</#if>
  for (long long p = (long long) blockIdx.x * blockDim.y + threadIdx.y; p < rows; p += (long long) gridDim.x * blockDim.y) {
${decode}
<#list bases as b>
    ${b.type}* const ${b.name} = ${b.address};
</#list>
    const bool vec = (${extent} & ${lanes - 1}) == 0 && (${aligned}) == 0;
<#if resident gt 0>
    if (vec && n4 > ${resident - 1} * (int) blockDim.x && n4 <= ${resident} * (int) blockDim.x) {
      // resident: ${resident} vectors of the row a thread, the rows two stages touch in registers
<#list caches as c>
      float ${c}[${resident}][${lanes}];
</#list>
<#list stages as s>
    // ${s.comment}
<#list s.hoists as h>
    ${h}
</#list>
<#if s.kind == "row">
<@rowStage s=s/>
<#else>
<#list s.res.fills as f>
#pragma unroll
      for (int k = 0; k < ${resident}; k++) {
        const int q = threadIdx.x + k * blockDim.x;
        if (q < n4) ${f}
      }
</#list>
<#if s.kind == "reduce">
    float ${s.acc} = ${s.init};
</#if>
#pragma unroll
      for (int k = 0; k < ${resident}; k++) {
        const int q = threadIdx.x + k * blockDim.x;
        if (q >= n4) continue;
<#list s.res.loads as v>
        ${v}
</#list>
<#if s.kind == "map">
<#if lanes == 8>
        float w[8];
<#else>
        float4 w;
</#if>
</#if>
<#list s.res.lanes as lane>
<@laneBody s=s lane=lane j=lane?index/>
</#list>
<#list s.res.stores as st>
        ${st}
</#list>
<#if s.kind == "map" && s.res.direct>
        ${s.vecStore};
</#if>
      }
<#list s.res.flushes as f>
#pragma unroll
      for (int k = 0; k < ${resident}; k++) {
        const int q = threadIdx.x + k * blockDim.x;
        if (q < n4) ${f}
      }
</#list>
<#if s.kind == "reduce">
<@reduceTail s=s/>
</#if>
</#if>
</#list>
      continue;
    }
</#if>
<#if colsums?has_content>
    __trap();   // unreachable: column sums are fused only where every row runs resident (CudaLowering checks size and alignment)
<#else>
<#if cache??>
    const bool cached = vec && kiln_cache != nullptr;   // the row kept in shared memory between its two passes
</#if>
<#list stages as s>
<#if s.kind == "online">
<#assign mx = s.max, sm = s.sum>
    // ${mx.comment}, ${sm.comment}: one pass (online: the sum rescaled each time the running max grows)
<#if s.cacheRow??>
    if (cached) {
      // this thread's vectors of the row into the row cache, all in flight at once; both passes read them from there
      for (int q = threadIdx.x; q < n4; q += blockDim.x) kiln_cache_fill(kiln_cache + q, ${s.cacheRow} + 8 * q);
      kiln_cache_wait();
    }
</#if>
<#list mx.hoists + sm.hoists as h>
    ${h}
</#list>
    float ${mx.local} = (-INFINITY);
    float ${sm.acc} = 0.0f;
    if (vec) {
      // unrolled by ${onlineUnroll} (CudaRows.onlineUnroll): nothing is stored in this loop, so an unrolled vector's loads issue
      // before the math of the one before
#pragma unroll ${onlineUnroll}
      for (int q = threadIdx.x; q < n4; q += blockDim.x) {
<#list mx.vecLoads + sm.vecLoads as v>
        ${v}
</#list>
        float top = (-INFINITY);
<#list mx.lanes as lane>
        {
<#if mx.usesVar>
          const int ${mx.var} = ${lanes} * q + ${lane?index};
</#if>
<#list lane.lets as l>
          ${l}
</#list>
          top = fmaxf(top, ${lane.value});
        }
</#list>
        if (top > ${mx.local}) { ${sm.acc} *= expf(${mx.local} - top); ${mx.local} = top; }
<#list sm.lanes as lane>
        {
<#if sm.usesVar>
          const int ${sm.var} = ${lanes} * q + ${lane?index};
</#if>
<#list lane.lets as l>
          ${l}
</#list>
          ${sm.acc} = ${sm.acc} + (${lane.value});
        }
</#list>
      }
    } else {
      for (int ${mx.var} = threadIdx.x; ${mx.var} < ${extent}; ${mx.var} += blockDim.x) {
        {
<#list mx.lets as l>
          ${l}
</#list>
          const float e = ${mx.value};
          if (e > ${mx.local}) { ${sm.acc} *= expf(${mx.local} - e); ${mx.local} = e; }
        }
        {
<#list sm.lets as l>
          ${l}
</#list>
          ${sm.acc} = ${sm.acc} + (${sm.value});
        }
      }
    }
    {
      const float top = row_max_${name}(${mx.local}, red);
      ${sm.acc} = ${mx.local} == (-INFINITY) ? 0.0f : ${sm.acc} * expf(${mx.local} - top);
      ${mx.local} = top;
    }
    const float ${sm.local} = row_sum_${name}(${sm.acc}, red);
<#if mx.syncBefore || sm.syncBefore>
    row_sync_${name}();
</#if>
    if (threadIdx.x == 0) ${mx.store};
    if (threadIdx.x == 0) ${sm.store};
<#else>
    // ${s.comment}
<#list s.hoists as h>
    ${h}
</#list>
<#if s.kind == "row">
<@rowStage s=s/>
<#elseif s.kind == "scatter">
    row_sync_${name}();
    if (threadIdx.x == 0) {
<#list s.lets as l>
      ${l}
</#list>
      ${s.store};
    }
    row_sync_${name}();
<#else>
<#if s.kind == "reduce">
    float ${s.acc} = ${s.init};
</#if>
    if (vec) {
      for (int q = threadIdx.x; q < n4; q += blockDim.x) {
<#list s.vecLoads as v>
        ${v}
</#list>
<#if s.kind == "map">
<#if lanes == 8>
        float w[8];
<#else>
        float4 w;
</#if>
</#if>
<#list s.lanes as lane>
<@laneBody s=s lane=lane j=lane?index/>
</#list>
<#if s.kind == "map">
        ${s.vecStore};
</#if>
      }
    } else {
      for (int ${s.var} = threadIdx.x; ${s.var} < ${extent}; ${s.var} += blockDim.x) {
<#list s.lets as l>
        ${l}
</#list>
<#if s.kind == "reduce">
        ${s.acc} = ${s.combine?replace("%s", s.value)};
<#else>
        ${s.store};
</#if>
      }
    }
<#if s.kind == "reduce">
<@reduceTail s=s/>
</#if>
</#if>
</#if>
</#list>
</#if>
  }
<#if colsums?has_content>
  // the column sums: each thread's partials over its rows, added over the block's rows in order into W[blockIdx.x][sum][column]
  {
    __shared__ float part[256 * ${lanes}];
    const int slot = threadIdx.y * blockDim.x + threadIdx.x;
<#list colsums as c>
#pragma unroll
    for (int k = 0; k < ${resident}; k++) {
      const int q = threadIdx.x + k * blockDim.x;
#pragma unroll
      for (int j = 0; j < ${lanes}; j++) part[slot * ${lanes} + j] = ${c.acc}[k][j];
      __syncthreads();
      if (threadIdx.y == 0 && q < n4) {
        for (int j = 0; j < ${lanes}; j++) {
          float s = part[threadIdx.x * ${lanes} + j];
          for (int y = 1; y < (int) blockDim.y; y++) s += part[(y * blockDim.x + threadIdx.x) * ${lanes} + j];
          W[((long long) blockIdx.x * ${colsums?size} + ${c?index}) * ${extent} + ${lanes} * q + j] = s;
        }
      }
      __syncthreads();
    }
</#list>
  }
</#if>
}
<#if colsums?has_content>

// the column sums' blocks' partials in W added in a fixed order and stored: block (32, 32) of grid (columns / 32, sums), thread
// (x, y) adds blocks y, y + 32, ... for column blockIdx.x * 32 + x of sum blockIdx.y (8 loads in flight), thread (x, 0) the 32
// runs in order
extern "C" __global__ void __launch_bounds__(1024) ${name}_sum(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    const float* __restrict__ W, int blocks) {
${unpack}
  __shared__ float runs[32][33];
  const int p = blockIdx.x * 32 + threadIdx.x, n = ${extent}, sum = blockIdx.y;
  float t = 0.0f;
  if (p < n) {
#pragma unroll 8
    for (int s = threadIdx.y; s < blocks; s += 32) t += W[((long long) s * ${colsums?size} + sum) * n + p];
  }
  runs[threadIdx.y][threadIdx.x] = t;
  __syncthreads();
  if (threadIdx.y == 0 && p < n) {
    float acc = runs[0][threadIdx.x];
    for (int y = 1; y < 32; y++) acc += runs[y][threadIdx.x];
    const int ${var} = p;
<#list colsums as c>
    if (sum == ${c?index}) ${c.store};
</#list>
  }
}
</#if>
