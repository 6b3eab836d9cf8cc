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
     ${name}_sum adds the blocks' partials in a fixed order and stores: the same sums on every run. Split rows (split > 1,
     CudaRows.split: long rows on sm_90, the streaming path): a row's `split` blocks form a thread-block cluster, block seg of
     it takes the row's seg-th part (vectors [qlo, qhi), elements [elo, ehi)); a sum or max along the row adds the cluster's
     block results in rank order through distributed shared memory (the same value in every block), the barriers between
     stages are cluster barriers (release / acquire: they order global memory too), a map waits for the cluster where a
     float was read since the last barrier (no block overwrites an element another may still read), and block 0 of the
     cluster stores the per-row values; a part kept in registers (resident) asks for 4 blocks an SM (at most 64 registers a
     thread), so 64 KB of parts are in flight an SM. -->
<#include "prologue.ftl">
<#assign split = split!1>
<#-- the thread that stores a row's per-row values; where a thread's loops over the row start and end -->
<#assign lead = (split gt 1)?then("threadIdx.x == 0 && seg == 0", "threadIdx.x == 0")>
<#assign qFrom = (split gt 1)?then("qlo + threadIdx.x", "threadIdx.x"), qTo = (split gt 1)?then("qhi", "n4")>
<#assign eFrom = (split gt 1)?then("elo + threadIdx.x", "threadIdx.x"), eTo = (split gt 1)?then("ehi", extent)>

// the lanes of this thread's row: the whole warp, or the blockDim.x of it that serve the row where a row takes part
// of a warp (the rows of a warp may leave the row loop at different times, so no row waits for another's lanes)
__device__ __forceinline__ unsigned row_lanes_${name}() {
  return blockDim.x >= 32 ? 0xffffffffu : ((1u << blockDim.x) - 1u) << ((threadIdx.y * blockDim.x) & 31);
}

<#if split gt 1>
// split rows: every thread of the row's cluster (a barrier with release and acquire: shared and global memory ordered)
__device__ __forceinline__ void row_sync_${name}() {
  asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// the pair in slot of the cluster's block `rank` (distributed shared memory)
__device__ __forceinline__ float2 row_peer_${name}(const float2* slot, unsigned rank) {
  float2 v;
  asm volatile("{ .reg .b32 ra; mapa.shared::cluster.u32 ra, %2, %3; ld.shared::cluster.v2.f32 {%0, %1}, [ra]; }"
               : "=f"(v.x), "=f"(v.y) : "r"((unsigned) __cvta_generic_to_shared(slot)), "r"(rank) : "memory");
  return v;
}

// a block's sum or max of the row (every thread holds it) combined over the cluster's ${split} blocks in rank order, through
// xch[phase] (two slots taken in turn: a block writes a slot again only after the next exchange's barrier, which every
// block reaches after reading it)
__device__ __forceinline__ float row_cluster_${name}(float v, const bool max, float2* xch, int& phase) {
  if (threadIdx.x == 0) xch[phase] = make_float2(v, 0.0f);
  row_sync_${name}();
  float r = row_peer_${name}(&xch[phase], 0).x;
#pragma unroll
  for (unsigned k = 1; k < ${split}; k++) {
    const float o = row_peer_${name}(&xch[phase], k).x;
    r = max ? fmaxf(r, o) : r + o;
  }
  phase ^= 1;
  return r;
}

// an online pass's (max, sum relative to it) of each block combined over the cluster in rank order, as row_max then row_sum
// combine a block's threads
__device__ __forceinline__ void row_cluster_online_${name}(float& m, float& sum, float2* xch, int& phase) {
  if (threadIdx.x == 0) xch[phase] = make_float2(m, sum);
  row_sync_${name}();
  float2 v[${split}];
#pragma unroll
  for (unsigned k = 0; k < ${split}; k++) v[k] = row_peer_${name}(&xch[phase], k);
  float top = v[0].x;
#pragma unroll
  for (int k = 1; k < ${split}; k++) top = fmaxf(top, v[k].x);
  float total = 0.0f;
#pragma unroll
  for (int k = 0; k < ${split}; k++) total += v[k].x == (-INFINITY) ? 0.0f : v[k].y * expf(v[k].x - top);
  m = top;
  sum = total;
  phase ^= 1;
}
<#else>
__device__ __forceinline__ void row_sync_${name}() {
  if (blockDim.x <= 32) __syncwarp(row_lanes_${name}()); else __syncthreads();
}
</#if>

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

<#-- split rows: per-row stores wait (deferred) for the cluster barrier before the scatter or at the row's end, after every
     block's reads of the row (a per-row output may take the place of an input) -->
<#assign deferred = []>
<#macro flushDeferred>
<#if deferred?has_content>
    row_sync_${name}();   // every block of the row past its reads before block 0 stores the per-row values
<#list deferred as d>
    if (${lead}) ${d};
</#list>
<#assign deferred = []>
</#if>
</#macro>
<#macro rowStage s>
<#list s.lets as l>
    ${l}
</#list>
    const float ${s.local} = ${s.value};
<#if split gt 1>
<#assign deferred = deferred + [s.store]>
<#else>
<#if s.syncBefore>
    row_sync_${name}();
</#if>
    if (${lead}) ${s.store};
</#if>
</#macro>
<#macro reduceTail s>
<#if split gt 1 && (s.blockOnly!false)>
    // the max of an online pair over this block's part (the sum after it combines both over the cluster)
    float ${s.local} = row_${s.op}_${name}(${s.acc}, red);
<#elseif split gt 1 && s.onlineMax??>
    // an online pair over the cluster: each block's (max, sum relative to it) combined in rank order
    float ${s.local} = row_${s.op}_${name}(${s.acc}, red);
    row_cluster_online_${name}(${s.onlineMax}, ${s.local}, xch, phase);
<#elseif split gt 1>
<#if s.rounded??>
    const float ${s.local}w = ${s.prior}row_cluster_${name}(row_${s.op}_${name}(${s.acc}, red), ${(s.op == "max")?c}, xch, phase);
    const float ${s.local} = ${s.rounded};
<#else>
    const float ${s.local} = ${s.prior}row_cluster_${name}(row_${s.op}_${name}(${s.acc}, red), ${(s.op == "max")?c}, xch, phase);
</#if>
<#elseif s.rounded??>
    const float ${s.local}w = ${s.prior}row_${s.op}_${name}(${s.acc}, red);
    const float ${s.local} = ${s.rounded};
<#else>
    const float ${s.local} = ${s.prior}row_${s.op}_${name}(${s.acc}, red);
</#if>
<#if split gt 1>
<#assign deferred = deferred + [s.store]>
<#else>
<#if s.syncBefore>
    row_sync_${name}();
</#if>
    if (${lead}) ${s.store};
</#if>
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
extern "C" __global__ void<#if split gt 1> __cluster_dims__(${split}, 1, 1)</#if> __launch_bounds__(<#if resident gt 0>256<#if split gt 1>, 4</#if><#else>1024</#if>) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a<#if colsums?has_content>,
    float* __restrict__ W</#if>) {
${unpack}
<#if reduces>
  __shared__ float red[32];
</#if>
<#if split gt 1>
  // split rows: this block's part of its row (its rank in the row's cluster), the cluster's exchange slots
  const int seg = blockIdx.x % ${split};
<#if reduces>
  __shared__ float2 xch[2];
  int phase = 0;
</#if>
</#if>
<#list colsums as c>
  float ${c.acc}[${resident}][${lanes}] = {};
</#list>
  const long long rows = ${rows};
  const int n4 = ${extent} >> ${shift};
<#if cache??>
  uint4* const kiln_cache = kiln_row_cache((unsigned) n4 * 16u);
</#if>
<#if split gt 1>
  for (long long p = (long long) blockIdx.x / ${split}; p < rows; p += (long long) gridDim.x / ${split}) {
<#else>
  for (long long p = (long long) blockIdx.x * blockDim.y + threadIdx.y; p < rows; p += (long long) gridDim.x * blockDim.y) {
</#if>
${decode}
<#list bases as b>
    ${b.type}* const ${b.name} = ${b.address};
</#list>
    const bool vec = (${extent} & ${lanes - 1}) == 0 && (${aligned}) == 0;
<#if split gt 1>
    const int qper = (n4 + ${split - 1}) / ${split}, qlo = seg * qper, qhi = min(n4, qlo + qper);
    const int eper = (${extent} + ${split - 1}) / ${split}, elo = seg * eper, ehi = min(${extent}, elo + eper);
</#if>
<#if resident gt 0>
<#if split gt 1>
    // (the part's full length decides, so a cluster's blocks take the same path and meet the same barriers)
    if (vec && qper > ${resident - 1} * (int) blockDim.x && qper <= ${resident} * (int) blockDim.x) {
<#else>
    if (vec && n4 > ${resident - 1} * (int) blockDim.x && n4 <= ${resident} * (int) blockDim.x) {
</#if>
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
<#elseif s.kind == "scatter">
<#if split gt 1>
<#if !deferred?has_content>
    row_sync_${name}();
</#if>
<@flushDeferred/>
<#else>
    row_sync_${name}();
</#if>
    if (${lead}) {
<#list s.lets as l>
      ${l}
</#list>
      ${s.store};
    }
<#if !(split gt 1 && s?is_last)>
    row_sync_${name}();
</#if>
<#else>
<#if s.splitSync!false>
    row_sync_${name}();   // every block of the row past its reads since the last barrier before any block writes
</#if>
<#list s.res.fills as f>
#pragma unroll
      for (int k = 0; k < ${resident}; k++) {
        const int q = ${qFrom} + k * blockDim.x;
        if (q < ${qTo}) ${f}
      }
</#list>
<#if s.kind == "reduce">
    float ${s.acc} = ${s.init};
</#if>
#pragma unroll
      for (int k = 0; k < ${resident}; k++) {
        const int q = ${qFrom} + k * blockDim.x;
        if (q >= ${qTo}) continue;
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
        const int q = ${qFrom} + k * blockDim.x;
        if (q < ${qTo}) ${f}
      }
</#list>
<#if s.kind == "reduce">
<@reduceTail s=s/>
</#if>
</#if>
</#list>
<@flushDeferred/>
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
      for (int q = ${qFrom}; q < ${qTo}; q += blockDim.x) kiln_cache_fill(kiln_cache + q, ${s.cacheRow} + 8 * q);
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
      for (int q = ${qFrom}; q < ${qTo}; q += blockDim.x) {
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
      for (int ${mx.var} = ${eFrom}; ${mx.var} < ${eTo}; ${mx.var} += blockDim.x) {
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
<#if split gt 1>
    float ${sm.local} = row_sum_${name}(${sm.acc}, red);
    row_cluster_online_${name}(${mx.local}, ${sm.local}, xch, phase);
<#else>
    const float ${sm.local} = row_sum_${name}(${sm.acc}, red);
</#if>
<#if split gt 1>
<#assign deferred = deferred + [mx.store, sm.store]>
<#else>
<#if mx.syncBefore || sm.syncBefore>
    row_sync_${name}();
</#if>
    if (${lead}) ${mx.store};
    if (${lead}) ${sm.store};
</#if>
<#else>
    // ${s.comment}
<#list s.hoists as h>
    ${h}
</#list>
<#if s.kind == "row">
<@rowStage s=s/>
<#elseif s.kind == "scatter">
<#if split gt 1>
<#if !deferred?has_content>
    row_sync_${name}();
</#if>
<@flushDeferred/>
<#else>
    row_sync_${name}();
</#if>
    if (${lead}) {
<#list s.lets as l>
      ${l}
</#list>
      ${s.store};
    }
<#if !(split gt 1 && s?is_last)>
    row_sync_${name}();
</#if>
<#else>
<#if s.kind == "reduce">
    float ${s.acc} = ${s.init};
</#if>
<#if s.splitSync!false>
    row_sync_${name}();   // every block of the row past its reads since the last barrier before any block writes
</#if>
    if (vec) {
      for (int q = ${qFrom}; q < ${qTo}; q += blockDim.x) {
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
      for (int ${s.var} = ${eFrom}; ${s.var} < ${eTo}; ${s.var} += blockDim.x) {
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
<@flushDeferred/>
</#if>
  }
<#if split gt 1>
  // no block of a cluster leaves while another may still read its exchange slots
  row_sync_${name}();
</#if>
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
