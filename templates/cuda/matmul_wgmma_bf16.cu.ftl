<#-- Hopper tensor-core matmul C[m, n] (+)= sum_k A(m, k) * B(n, k) in bf16 (sm_90a: wgmma.mma_async
     m64nNk16.f32.bf16.bf16, fp32 accumulate), the bf16 member of the wgmma family (matmul_wgmma.cu.ftl is
     the TF32 one; both take their barrier, copy and descriptor pieces from wgmma_common.ftl). Each operand
     is K-major (stored rows x K, k contiguous) or MN-major (stored K x rows, m or n contiguous): the copy
     engine brings 64-deep stages into shared memory with 128-byte swizzle (a K-major operand as one box of
     64 k x rows, an MN-major one as boxes of 64 rows x 64 k) through a STAGES-deep ring of mbarriers, and
     the wgmma transpose bits read MN-major tiles as they are. Warpgroup 0 produces (one thread issues the
     copies; setmaxnreg leaves it 40 registers a thread); CONSUMERS warpgroups multiply (consumerRegs registers a
     thread: 232 with one or two, 152 with three, whose 512 threads share the SM's 64K). The grid is persistent: block b takes tiles b, b + gridDim.x,
     ... in kiln_tile_order. Cooperative (pingpong false): every consumer works on every tile, BM /
     CONSUMERS rows each. Ping-pong (two consumers): the consumers take the block's tiles in turn, each a
     whole BM x BN tile, and an order barrier lets one issue its main loop while the other stores, so the
     stores overlap the tensor cores' work. C is fp32 or bf16 (rounded to nearest even), ldc elements per
     row, stored from the registers, or (tmaStore: bf16 C, no +=) staged in shared memory as the copy
     engine's 64 x 64 swizzled boxes and stored by it asynchronously, so the stores overlap the next
     tile's main loop. Standalone (args false: Bf16Matmul) the launch passes C, M, N, K, ldc and the maps of A, B
     and (tmaStore) C; rendered for a program's matmul (args true: CudaRenderer.matmul) it passes kiln's F, I
     and argument block (sizes, offsets: C at baseC, ldc elements a row, in H for bf16 C or F for fp32) and
     the three maps, and with an epilogue (element-wise consumers of C from the graph, CudaRenderer.epilogue)
     each finished element goes through it instead of the plain store; with tmaStore the epilogue returns one of its
     bf16 outputs (CudaRenderer.Fused.staged), which is staged and stored by the copy engine as C would be. Split-K
     (SPLITS > 1: no epilogue, no tmaStore): unit u of tiles x SPLITS is split u / tiles of tile u % tiles, its K range
     the stages [s * kTiles / SPLITS, (s + 1) * kTiles / SPLITS); it stores its fp32 partial sums to the workspace W (a
     dense M x N per split), and ${r"${name}"}_sum adds the splits into C in split order (deterministic). An epilogue
     over element pairs (epiPairs: CudaRenderer.epiloguePairs) gathers the inputs of EPI_BATCH rows of a thread's part
     (epilogue_load a pair, or epilogue_load_row a row where every input is read along C's row; the first batch before
     the tile's last wgmma wait where it is one word a pair: EPI_EARLY), then computes each element (epilogue; a bf16 C
     arrives rounded a pair at a time, EPI_V) and stores the other outputs as pairs (epilogue_store). -->
<#include "prologue.ftl">
// kiln: sm_90a
<#include "wgmma_common.ftl">
<#-- a block's units of work and a unit's tile and stage range: tiles, or (split-K) tiles x SPLITS, split-major -->
<#if splits gt 1>
<#assign units = "tiles * SPLITS", tileOf = "t % tiles", kStage = "(kBase + kt)", kCount = "kCount",
    kRun = "const int kBase = t / tiles * kTiles / SPLITS, kCount = (t / tiles + 1) * kTiles / SPLITS - kBase;">
<#elseif (cluster!1) gt 1>
<#-- clusters of two: a unit is a pair of M tiles (2 mp, 2 mp + 1) at one N tile, taken by both blocks of a cluster -->
<#assign units = "((mTiles + 1) / 2 * nTiles)", tileOf = "t", kStage = "kt", kCount = "kTiles">
<#else>
<#assign units = "tiles", tileOf = "t", kStage = "kt", kCount = "kTiles">
</#if>
<#assign clustered = (cluster!1) gt 1>
<#-- a block's first unit and its stride over units; the call that gives a unit's tile (mt, nt) -->
<#if clustered>
<#assign first = "blockIdx.x / CLUSTER", step = "gridDim.x / CLUSTER", tileCall = "KILN_TILE(" + tileOf + ", mt, nt)">
<#else>
<#assign first = "blockIdx.x", step = "gridDim.x", tileCall = "kiln_tile_order(" + tileOf + ", mTiles, nTiles, GROUP, mt, nt)">
</#if>

#ifndef KILN_WGMMA_BF16_HELPERS
#define KILN_WGMMA_BF16_HELPERS
// wgmma shared-memory descriptor of an MN-major operand (bf16/f16 only) in 128-byte swizzle: rows of 64
// elements along M or N, one row per k; 1024 bytes between groups of 8 k, lbo bytes between the
// 64-element blocks along M or N
__device__ __forceinline__ unsigned long long kiln_desc_sw128_mn(unsigned addr, unsigned lbo) {
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | ((unsigned long long) ((lbo & 0x3FFFF) >> 4) << 16) | (64ull << 32) | (1ull << 62);
}

// the tile a persistent block takes t-th: groups of `group` M tiles, M fastest inside a group, so the
// blocks resident together share a few tiles of A and of B in L2
__device__ __forceinline__ void kiln_tile_order(int t, int mTiles, int nTiles, int group, int& mt, int& nt) {
  const int per = group * nTiles, g = t / per, r = t - g * per, rows = min(group, mTiles - g * group);
  mt = g * group + r % rows;
  nt = r / rows;
}
#endif
<#if clustered>
#ifndef KILN_WGMMA_BF16_CLUSTER_HELPERS
#define KILN_WGMMA_BF16_CLUSTER_HELPERS
// this block's rank in its cluster
__device__ __forceinline__ unsigned kiln_cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
// every thread of both blocks: arrive (release) and wait (acquire)
__device__ __forceinline__ void kiln_cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
// arrive on the barrier at this block's shared address bar, in the cluster's block `rank` (this one or its peer)
__device__ __forceinline__ void kiln_mbar_arrive_in(unsigned bar, unsigned rank) {
  asm volatile("{ .reg .b32 ra; mapa.shared::cluster.u32 ra, %0, %1; mbarrier.arrive.shared::cluster.b64 _, [ra]; }" :: "r"(bar), "r"(rank) : "memory");
}
// one box at (inner, outer) of the map into this shared address in every block of mask, completing on each one's bar
__device__ __forceinline__ void kiln_tma_load_multicast(unsigned dst, const void* map, int inner, int outer, unsigned bar, unsigned short mask) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;"
               :: "r"(dst), "l"(map), "r"(inner), "r"(outer), "r"(bar), "h"(mask) : "memory");
}
#endif
</#if>

#define BM ${bm}
#define BN ${bn}
#define BK 64
#define STAGES ${stages}
#define CONSUMERS ${consumers}
#define PINGPONG ${pingpong?then(1, 0)}
#define GROUP ${group}
<#if clustered>
#define CLUSTER 2
</#if>
<#if splits gt 1>
#define SPLITS ${splits}
</#if>
#define THREADS (128 * (CONSUMERS + 1))
#define A_BYTES (BM * BK * 2)
#define STAGE_BYTES ((BM + BN) * BK * 2)
// rows of a tile one consumer multiplies, in 64-row wgmma blocks
#define WM (PINGPONG ? BM : BM / CONSUMERS)
#define MI (WM / 64)
// bytes between the 64-wide blocks of an MN-major tile (one 128-byte row per k)
#define MN_BLOCK (BK * 128)
// bf16 C staged for the copy engine: each consumer's WM x BN part (none without tmaStore)
#define C_STAGE ${tmaStore?then("(WM * BN * 2)", "0")}
// descriptor address steps (16-byte units): a k step of 16 is 32 bytes along a K-major tile's swizzled
// rows and 16 rows of an MN-major one; a 64-row block is 64 rows of a K-major tile, one block of an MN-major one
#define A_K_STEP ${aMN?then("128", "2")}
#define A_M_STEP ${aMN?then("(MN_BLOCK / 16)", "512")}
#define B_K_STEP ${bMN?then("128", "2")}

#ifndef KILN_WGMMA_BF16_N${bn}_${aMN?then(1, 0)}${bMN?then(1, 0)}
#define KILN_WGMMA_BF16_N${bn}_${aMN?then(1, 0)}${bMN?then(1, 0)}
// d (${bn / 2} accumulators per thread) += A (64 x 16) * B (16 x ${bn}), bf16 in shared memory (descriptors
// da, db), transpose bits: A ${aMN?then("M-major", "K-major")}, B ${bMN?then("N-major", "K-major")}
__device__ __forceinline__ void kiln_wgmma_bf16_n${bn}_${aMN?then(1, 0)}${bMN?then(1, 0)}(float* d, unsigned long long da, unsigned long long db) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n${bn}k16.f32.bf16.bf16 {<#list 0..<(bn / 2) as i>%${i}<#sep>, </#list>}, %${bn / 2}, %${bn / 2 + 1}, p, 1, 1, ${aMN?then(1, 0)}, ${bMN?then(1, 0)}; }"
      : <#list 0..<(bn / 2) as i>"+f"(d[${i}])<#sep>, </#list> : "l"(da), "l"(db));
}
#endif

<#if outBf16 || tmaStore || epiPairs>
#ifndef KILN_BF16X2_STORE
#define KILN_BF16X2_STORE
// an fp32 pair to bf16, rounded to nearest even (the first value at the lower address); singles: prologue.ftl's kiln_bf16_rn
__device__ __forceinline__ unsigned kiln_bf16x2(float lo, float hi) {
  unsigned r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
#endif
</#if>

<#if epiPairs>
#ifndef KILN_EPILOGUE_PAIRS
#define KILN_EPILOGUE_PAIRS
// an epilogue's element pairs, p at column n and q at n + 1 (two: n + 1 is inside C): one 4-byte (bf16) or 8-byte (fp32)
// access where q follows p and p is so aligned, else one or two single ones. Loads are of tensors no thread of the
// launch writes (read-only); a bf16 pair comes back packed, element n in the low half.
__device__ __forceinline__ unsigned kiln_ldg_bf16x2(const kiln_bf16* p, const kiln_bf16* q, const bool two) {
  if (two && q == p + 1 && ((unsigned long long) p & 3) == 0) return __ldg((const unsigned*) p);
  return (unsigned) __ldg(p) | (two ? (unsigned) __ldg(q) << 16 : 0u);
}
__device__ __forceinline__ void kiln_ldg_f32x2(const float* p, const float* q, const bool two, unsigned& lo, unsigned& hi) {
  if (two && q == p + 1 && ((unsigned long long) p & 7) == 0) {
    const float2 v = __ldg((const float2*) p);
    lo = __float_as_uint(v.x);
    hi = __float_as_uint(v.y);
  } else {
    lo = __float_as_uint(__ldg(p));
    hi = two ? __float_as_uint(__ldg(q)) : 0u;
  }
}
__device__ __forceinline__ void kiln_st_bf16x2(kiln_bf16* p, kiln_bf16* q, const bool two, const float lo, const float hi) {
  if (two && q == p + 1 && ((unsigned long long) p & 3) == 0) {
    *(unsigned*) p = kiln_bf16x2(lo, hi);
  } else {
    *p = kiln_bf16_rn(lo);
    if (two) *q = kiln_bf16_rn(hi);
  }
}
__device__ __forceinline__ void kiln_st_f32x2(float* p, float* q, const bool two, const float lo, const float hi) {
  if (two && q == p + 1 && ((unsigned long long) p & 7) == 0) {
    *(float2*) p = make_float2(lo, hi);
  } else {
    *p = lo;
    if (two) *q = hi;
  }
}
<#include "tanh.ftl">
#endif
#define EPI_IN ${epiIn}
#define EPI_OUT ${epiOut}
// rows of a thread's part of a tile the epilogue gathers at once: all of them where their inputs fit in fewer than 96
// registers (at 96, a bias and a residual of two rows, ptxas spills), else one (KILN_EPI_ROWS=1 at codegen: one always)
#define EPI_BATCH (${epiRowsAll?then(1, 0)} && MI * 2 * (BN / 8) * EPI_IN < 96 ? MI * 2 : 1)
// whether the first batch is gathered before the tile's last wgmma group is waited for (its words live beside the accumulators)
// (one word a pair: a bias, or one bf16 input; two, a bias and a residual, spill there)
#define EPI_EARLY (EPI_IN == 1 && EPI_BATCH * (BN / 8) <= 48)
<#if epiRound!false>
// an accumulator pair as the epilogue reads C: bf16 C rounded to nearest even, both in one cvt (the lambda's vs is v)
#define EPI_V(lo, hi) const unsigned vr = kiln_bf16x2(lo, hi); const float v0 = __uint_as_float(vr << 16), v1 = __uint_as_float(vr & 0xffff0000u)
<#else>
#define EPI_V(lo, hi) const float v0 = (lo), v1 = (hi)
</#if>

</#if>
<#if args>
extern "C" __global__ void<#if clustered> __cluster_dims__(2, 1, 1)</#if> __launch_bounds__(THREADS, 1) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    const __grid_constant__ KilnTensorMap mapA, const __grid_constant__ KilnTensorMap mapB, const __grid_constant__ KilnTensorMap mapC<#if splits gt 1>,
    float* __restrict__ W</#if>) {
${unpack}
  const int M = ${M}, N = ${N}, K = ${K};
  const long long ldc = ${cm};
  const long long baseC = ${baseC};
<#if epilogue?has_content>
${epilogue}
</#if>
<#else>
extern "C" __global__ void<#if clustered> __cluster_dims__(2, 1, 1)</#if> __launch_bounds__(THREADS, 1) ${name}(void* __restrict__ Cv, const int M, const int N, const int K, const long long ldc,
    const __grid_constant__ KilnTensorMap mapA, const __grid_constant__ KilnTensorMap mapB, const __grid_constant__ KilnTensorMap mapC<#if splits gt 1>,
    float* __restrict__ W</#if>) {
</#if>
  extern __shared__ unsigned char kiln_smem_raw[];
  // the swizzled tiles need 1024-byte alignment
  unsigned char* smem = (unsigned char*) (((unsigned long long) kiln_smem_raw + 1023) & ~1023ull);
  unsigned char* cstage = smem + STAGES * STAGE_BYTES;   // CONSUMERS x C_STAGE bytes, 1024-aligned
  unsigned long long* full = (unsigned long long*) (cstage + CONSUMERS * C_STAGE);
  unsigned long long* empty = full + STAGES;
  unsigned long long* order = empty + STAGES;   // ping-pong: consumer c arrives on order[c] once its main loop is issued
  const int wg = threadIdx.x / 128;
  const int mTiles = (M + BM - 1) / BM, nTiles = (N + BN - 1) / BN, tiles = mTiles * nTiles, kTiles = (K + BK - 1) / BK;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; s++) {
      kiln_mbar_init(kiln_smem_u32(&full[s]), 1);
<#if clustered>
      kiln_mbar_init(kiln_smem_u32(&empty[s]), CONSUMERS * CLUSTER);   // a cluster's stage goes back once both blocks read it
<#else>
      kiln_mbar_init(kiln_smem_u32(&empty[s]), PINGPONG ? 1 : CONSUMERS);
</#if>
    }
    kiln_mbar_init(kiln_smem_u32(&order[0]), 1);
    kiln_mbar_init(kiln_smem_u32(&order[1]), 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
<#if clustered>
  // both blocks' barriers are set up before either block's copies or arrivals reach the other
  kiln_cluster_sync();
  const unsigned crank = kiln_cluster_rank();
  // a unit's tile: the pair's M tile of this block's rank (past the last M tile for the second of an odd count: that
  // block loads the last real tile's rows and stores nothing)
#define KILN_TILE(t, mt, nt) { int mp_; kiln_tile_order(t, (mTiles + 1) / 2, nTiles, GROUP > 1 ? GROUP / 2 : 1, mp_, nt); mt = 2 * mp_ + (int) crank; }
<#else>
  __syncthreads();
</#if>
  if (wg == 0) {
    // producer: one thread fills ring position p (stage p % STAGES) once its last use is released
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (threadIdx.x == 0) {
      int p = 0;
      for (int t = ${first}; t < ${units}; t += ${step}) {
        int mt, nt;
        ${tileCall};
        const int m0 = <#if clustered>min(mt, mTiles - 1)<#else>mt</#if> * BM, n0 = nt * BN;
<#if splits gt 1>
        // this unit's run of stages: split t / tiles of the tile's kTiles
        ${kRun}
</#if>
        for (int kt = 0; kt < ${kCount}; kt++, p++) {
          const int s = p % STAGES, k0 = ${kStage} * BK;
          if (p >= STAGES) kiln_mbar_wait(kiln_smem_u32(&empty[s]), ((p / STAGES) - 1) & 1);
          const unsigned bar = kiln_smem_u32(&full[s]);
          kiln_mbar_expect(bar, STAGE_BYTES);   // whole boxes count, zero-filled parts included
          const unsigned st = kiln_smem_u32(smem + s * STAGE_BYTES);
<#if aMN>
#pragma unroll
          for (int b = 0; b < BM / 64; b++) kiln_tma_load(st + b * MN_BLOCK, &mapA, m0 + b * 64, k0, bar);
<#else>
          kiln_tma_load(st, &mapA, k0, m0, bar);
</#if>
<#if clustered>
          // B is the pair's: each block copies its share into both blocks' stage (the copy engine's multicast)
<#if bMN>
#pragma unroll
          for (int b = 0; b < BN / 64; b++) {
            if (b % 2 == (int) crank) kiln_tma_load_multicast(st + A_BYTES + b * MN_BLOCK, &mapB, n0 + b * 64, k0, bar, 3);
          }
<#else>
          kiln_tma_load_multicast(st + A_BYTES + crank * (BN / 2) * 128, &mapB, k0, n0 + (int) crank * (BN / 2), bar, 3);
</#if>
<#elseif bMN>
#pragma unroll
          for (int b = 0; b < BN / 64; b++) kiln_tma_load(st + A_BYTES + b * MN_BLOCK, &mapB, n0 + b * 64, k0, bar);
<#else>
          kiln_tma_load(st + A_BYTES, &mapB, k0, n0, bar);
</#if>
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 ${consumerRegs};");
    const int c = wg - 1;
    const bool leader = threadIdx.x % 128 == 0;
<#if clustered>
    // lane 0 of warp r of each consumer releases stages in the cluster's block r (both at once)
    const bool releaser = threadIdx.x % 32 == 0 && threadIdx.x % 128 / 32 < CLUSTER;
    const unsigned releaseRank = threadIdx.x % 128 / 32;
</#if>
    // accumulator layout: warp w of the warpgroup holds rows 16w + g and 16w + g + 8 of each 64-row
    // block, columns 8j + 2q and 8j + 2q + 1 (g = lane / 4, q = lane % 4)
    const int w = (threadIdx.x % 128) / 32, g = (threadIdx.x % 32) / 4, q = threadIdx.x % 4;
<#if !tmaStore && !epilogue?has_content>
<#if args>
    // pairs of elements in one 4-byte (bf16) or 8-byte (fp32) store where every row starts at an even element
    const bool pairs = ldc % 2 == 0 && baseC % 2 == 0;
    ${outBf16?then("kiln_bf16", "float")}* const Cout = ${outBf16?then("H", "F")} + baseC;
<#else>
    const bool pairs = ldc % 2 == 0;
    ${outBf16?then("unsigned short", "float")}* const Cout = (${outBf16?then("unsigned short", "float")}*) Cv;
</#if>
</#if>
    // first row of this consumer's part of a tile
    const int rows = PINGPONG ? 0 : c * WM;
    float d[MI][BN / 2];
    int p = 0;
    for (int i = 0, t = ${first}; t < ${units}; i++, t += ${step}) {
<#if splits gt 1>
      ${kRun}
</#if>
      if (PINGPONG && i % CONSUMERS != c) {   // the other consumer's tile: skip its ring positions
        p += ${kCount};
        continue;
      }
#pragma unroll
      for (int a = 0; a < MI; a++)
#pragma unroll
        for (int j = 0; j < BN / 2; j++) d[a][j] = 0.0f;
      // ping-pong: wait until the other consumer has issued the previous tile's main loop (so every ring
      // position before this tile's is loaded, and the tensor cores take one main loop at a time)
      if (PINGPONG && i > 0) kiln_mbar_wait(kiln_smem_u32(&order[1 - c]), ((i - 1) / CONSUMERS) & 1);
<#-- counted from 0 (split-K too): a loop from kBase leaves ptxas serializing the wgmma (C7515) -->
      for (int kt = 0; kt < ${kCount}; kt++, p++) {
        const int s = p % STAGES;
        kiln_mbar_wait(kiln_smem_u32(&full[s]), (p / STAGES) & 1);
        const unsigned st = kiln_smem_u32(smem + s * STAGE_BYTES);
        // descriptors of this stage's first k step; later steps and 64-row blocks add to the address field
<#if aMN>
        const unsigned long long da = kiln_desc_sw128_mn(st + rows / 64 * MN_BLOCK, MN_BLOCK);
<#else>
        const unsigned long long da = kiln_desc_sw128(st + rows * 128);
</#if>
<#if bMN>
        const unsigned long long db = kiln_desc_sw128_mn(st + A_BYTES, MN_BLOCK);
<#else>
        const unsigned long long db = kiln_desc_sw128(st + A_BYTES);
</#if>
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
#pragma unroll
          for (int a = 0; a < MI; a++) {
            kiln_wgmma_bf16_n${bn}_${aMN?then(1, 0)}${bMN?then(1, 0)}(d[a], da + kk * A_K_STEP + a * A_M_STEP, db + kk * B_K_STEP);
          }
        }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        // at most this stage's group in flight: the previous stage is read and goes back to the producer
        asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
<#if clustered>
        if (kt > 0 && releaser) kiln_mbar_arrive_in(kiln_smem_u32(&empty[(p - 1) % STAGES]), releaseRank);
<#else>
        if (kt > 0 && leader) kiln_mbar_arrive(kiln_smem_u32(&empty[(p - 1) % STAGES]));
</#if>
      }
      if (PINGPONG && leader) kiln_mbar_arrive(kiln_smem_u32(&order[c]));
<#if epiPairs>
      int mt, nt;
      ${tileCall};
      const int m0 = mt * BM + rows, n0 = nt * BN;
      // the epilogue's inputs of EPI_BATCH rows of this thread's part (batch rb: rows rb .. rb + EPI_BATCH - 1, in increasing m),
      // x[i][j] the pair at columns n0 + 8 j + 2 q; every input of those rows gathered before anything is computed or stored
      unsigned x[EPI_BATCH][BN / 8][EPI_IN];
      auto epi_gather = [&](const int rb) {
#pragma unroll
        for (int i = 0; i < EPI_BATCH; i++) {
          const int m = m0 + (rb + i) / 2 * 64 + w * 16 + g + (rb + i) % 2 * 8;
          if (m >= M) continue;
<#if epiRowLoads!false>
          epilogue_load_row(i, m, n0 + 2 * q, x);
<#else>
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
            const int n = n0 + j * 8 + 2 * q;
            if (n < N) epilogue_load(m, n, n + 1 < N, x[i][j]);
          }
</#if>
        }
      };
      // the first batch's loads go out while the tensor cores finish the tile's last stage, where they fit beside the
      // accumulators (EPI_EARLY); else after them
      if (EPI_EARLY) epi_gather(0);
</#if>
      asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
<#if clustered>
      if (releaser) kiln_mbar_arrive_in(kiln_smem_u32(&empty[(p - 1) % STAGES]), releaseRank);
<#else>
      if (leader) kiln_mbar_arrive(kiln_smem_u32(&empty[(p - 1) % STAGES]));
</#if>
<#if !epiPairs>
      int mt, nt;
      ${tileCall};
      const int m0 = mt * BM + rows, n0 = nt * BN;
</#if>
<#if clustered>
      if (mt >= mTiles) continue;   // the odd pair's missing second tile: read for the pair, nothing to store
</#if>
<#if splits gt 1>
      // split-K: this split's fp32 partial sums into its dense M x N of the workspace
      float* const part = W + (long long) (t / tiles) * M * N;
#pragma unroll
      for (int a = 0; a < MI; a++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int m = m0 + a * 64 + w * 16 + g + h * 8;
          if (m >= M) continue;
          float* const row = part + (long long) m * N;
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
            const int n = n0 + j * 8 + 2 * q;
            if (N % 2 == 0 && n + 1 < N) {
              *(float2*) (row + n) = make_float2(d[a][4 * j + 2 * h], d[a][4 * j + 2 * h + 1]);
            } else {
              if (n < N) row[n] = d[a][4 * j + 2 * h];
              if (n + 1 < N) row[n + 1] = d[a][4 * j + 2 * h + 1];
            }
          }
        }
      }
<#elseif tmaStore>
      // this consumer's part of C into its staging area as (MI x BN / 64) boxes of 64 rows x 128 bytes, 16-byte
      // chunks swizzled by the row (row % 8 == g), once the copy engine has read the previous tile's
      unsigned char* cs = cstage + c * C_STAGE;
      if (leader) asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
      asm volatile("bar.sync %0, 128;" :: "r"(1 + c) : "memory");
<#if epiPairs>
      // the epilogue over element pairs, EPI_BATCH rows of this thread's at a time: every input of those rows gathered before
      // anything is computed or stored; the staged output (exact bf16 values) for the copy engine, the rest stored as pairs
#pragma unroll
      for (int rb = 0; rb < MI * 2; rb += EPI_BATCH) {
        if (rb > 0 || !EPI_EARLY) epi_gather(rb);
#pragma unroll
        for (int i = 0; i < EPI_BATCH; i++) {
          const int a = (rb + i) / 2, h = (rb + i) % 2, r = w * 16 + g + h * 8, m = m0 + a * 64 + r;
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
            // elements past M or N run no epilogue
            const int n = n0 + j * 8 + 2 * q;
            float y0[EPI_OUT] = {}, y1[EPI_OUT] = {};
            EPI_V(d[a][4 * j + 2 * h], d[a][4 * j + 2 * h + 1]);
            const float e0 = m < M && n < N ? epilogue(m, n, 0, v0, x[i][j], y0) : 0.0f;
            const float e1 = m < M && n + 1 < N ? epilogue(m, n + 1, 1, v1, x[i][j], y1) : 0.0f;
            if (m < M && n < N) epilogue_store(m, n, n + 1 < N, y0, y1);
            *(unsigned*) (cs + ((a * (BN / 64) + j / 8) * 64 + r) * 128 + (((j % 8) ^ g) << 4) + 4 * q) = kiln_bf16x2(e0, e1);
          }
        }
      }
<#else>
#pragma unroll
      for (int a = 0; a < MI; a++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int r = w * 16 + g + h * 8;
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
<#if epilogue?has_content>
            // the epilogue's staged output (exact bf16 values) for the copy engine; elements past M or N run no epilogue
            const int m = m0 + a * 64 + r, n = n0 + j * 8 + 2 * q;
            const float e0 = m < M && n < N ? epilogue(m, n, d[a][4 * j + 2 * h]) : 0.0f;
            const float e1 = m < M && n + 1 < N ? epilogue(m, n + 1, d[a][4 * j + 2 * h + 1]) : 0.0f;
            *(unsigned*) (cs + ((a * (BN / 64) + j / 8) * 64 + r) * 128 + (((j % 8) ^ g) << 4) + 4 * q) = kiln_bf16x2(e0, e1);
<#else>
            *(unsigned*) (cs + ((a * (BN / 64) + j / 8) * 64 + r) * 128 + (((j % 8) ^ g) << 4) + 4 * q) = kiln_bf16x2(d[a][4 * j + 2 * h], d[a][4 * j + 2 * h + 1]);
</#if>
          }
        }
      }
</#if>
      asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
      asm volatile("bar.sync %0, 128;" :: "r"(1 + c) : "memory");
      if (leader) {
#pragma unroll
        for (int a = 0; a < MI; a++) {
#pragma unroll
          for (int b = 0; b < BN / 64; b++) {
            // the copy engine leaves out what falls past M or N
            asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];"
                         :: "l"(&mapC), "r"(n0 + b * 64), "r"(m0 + a * 64), "r"(kiln_smem_u32(cs + (a * (BN / 64) + b) * 8192)) : "memory");
          }
        }
        asm volatile("cp.async.bulk.commit_group;" ::: "memory");
      }
<#else>
<#if epiPairs>
      // the epilogue over element pairs, EPI_BATCH rows of this thread's at a time: every input of those rows gathered before
      // anything is computed or stored; the outputs stored as pairs
#pragma unroll
      for (int rb = 0; rb < MI * 2; rb += EPI_BATCH) {
        if (rb > 0 || !EPI_EARLY) epi_gather(rb);
#pragma unroll
        for (int i = 0; i < EPI_BATCH; i++) {
          const int a = (rb + i) / 2, h = (rb + i) % 2, m = m0 + a * 64 + w * 16 + g + h * 8;
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
            const int n = n0 + j * 8 + 2 * q;
            if (m >= M || n >= N) continue;
            float y0[EPI_OUT] = {}, y1[EPI_OUT] = {};
            EPI_V(d[a][4 * j + 2 * h], d[a][4 * j + 2 * h + 1]);
            epilogue(m, n, 0, v0, x[i][j], y0);
            if (n + 1 < N) epilogue(m, n + 1, 1, v1, x[i][j], y1);
            epilogue_store(m, n, n + 1 < N, y0, y1);
          }
        }
      }
<#else>
#pragma unroll
      for (int a = 0; a < MI; a++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int m = m0 + a * 64 + w * 16 + g + h * 8;
          if (m >= M) continue;
<#if epilogue?has_content>
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
            const int n = n0 + j * 8 + 2 * q;
            if (n < N) epilogue(m, n, d[a][4 * j + 2 * h]);
            if (n + 1 < N) epilogue(m, n + 1, d[a][4 * j + 2 * h + 1]);
          }
<#else>
          auto* row = Cout + m * ldc;
#pragma unroll
          for (int j = 0; j < BN / 8; j++) {
            const int n = n0 + j * 8 + 2 * q;
            float v0 = d[a][4 * j + 2 * h], v1 = d[a][4 * j + 2 * h + 1];
            if (pairs && n + 1 < N) {
<#if outBf16>
<#if accumulate>
              const unsigned old = *(const unsigned*) (row + n);
              v0 += kiln_bf16_f((kiln_bf16) (old & 0xFFFF));
              v1 += kiln_bf16_f((kiln_bf16) (old >> 16));
</#if>
              *(unsigned*) (row + n) = kiln_bf16x2(v0, v1);
<#else>
<#if accumulate>
              const float2 old = *(const float2*) (row + n);
              v0 += old.x;
              v1 += old.y;
</#if>
              *(float2*) (row + n) = make_float2(v0, v1);
</#if>
            } else {
<#if outBf16>
              if (n < N) row[n] = kiln_bf16_rn(v0<#if accumulate> + kiln_bf16_f(row[n])</#if>);
              if (n + 1 < N) row[n + 1] = kiln_bf16_rn(v1<#if accumulate> + kiln_bf16_f(row[n + 1])</#if>);
<#else>
              if (n < N) row[n] <#if accumulate>+</#if>= v0;
              if (n + 1 < N) row[n + 1] <#if accumulate>+</#if>= v1;
</#if>
            }
          }
</#if>
        }
      }
</#if>
</#if>
    }
<#if tmaStore>
    // the staging area must outlive the copy engine's last reads of it
    if (leader) asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
</#if>
  }
<#if clustered>
  // neither block leaves while the other may still copy into its stages or arrive on its barriers
  kiln_cluster_sync();
</#if>
}
<#if splits gt 1>

// C (+)= the SPLITS partial sums in W, added in split order: one thread per element of C
<#if args>
extern "C" __global__ void __launch_bounds__(256) ${name}_sum(float* __restrict__ F, int* __restrict__ I, const Args_${name} a, const float* __restrict__ W) {
${unpack}
  const int M = ${M}, N = ${N};
  const long long ldc = ${cm};
  const long long baseC = ${baseC};
  ${outBf16?then("kiln_bf16", "float")}* const Cout = ${outBf16?then("H", "F")} + baseC;
<#else>
extern "C" __global__ void __launch_bounds__(256) ${name}_sum(void* __restrict__ Cv, const int M, const int N, const long long ldc, const float* __restrict__ W) {
  ${outBf16?then("unsigned short", "float")}* const Cout = (${outBf16?then("unsigned short", "float")}*) Cv;
</#if>
  const long long total = (long long) M * N;
  for (long long e = blockIdx.x * (long long) blockDim.x + threadIdx.x; e < total; e += (long long) gridDim.x * blockDim.x) {
    float v = W[e];
#pragma unroll 4
    for (int s = 1; s < SPLITS; s++) v += W[s * total + e];
    auto* const c = Cout + (e / N) * ldc + e % N;
<#if outBf16>
    *c = kiln_bf16_rn(<#if accumulate>kiln_bf16_f(*c) + </#if>v);
<#else>
    *c = <#if accumulate>*c + </#if>v;
</#if>
  }
}
#undef SPLITS
</#if>
#undef BM
#undef BN
#undef BK
#undef STAGES
#undef CONSUMERS
#undef PINGPONG
#undef GROUP
<#if clustered>
#undef CLUSTER
#undef KILN_TILE
</#if>
#undef THREADS
#undef A_BYTES
#undef STAGE_BYTES
#undef WM
#undef MI
#undef MN_BLOCK
#undef C_STAGE
#undef A_K_STEP
#undef A_M_STEP
#undef B_K_STEP
<#if epiPairs>
#undef EPI_IN
#undef EPI_OUT
#undef EPI_BATCH
#undef EPI_V
#undef EPI_EARLY
</#if>
