<#-- Hopper tensor-core matmul C[m, n] (+)= sum_k A[m, k] * B[n, k] in TF32 (sm_90a: wgmma.mma_async
     m64nNk8, fp32 accumulate), both operands K-major. The copy engine brings BK-deep stages of A
     (BM x BK) and B (BN x BK) into shared memory (cp.async.bulk.tensor, 128-byte swizzle, zero fill
     past the edges, fp32 rounded to tf32 on the way by the map's TFLOAT32 type) through a STAGES-deep
     ring of mbarriers: warpgroup 0 produces (one thread issues the copies), CONSUMERS warpgroups each
     multiply BM / CONSUMERS rows of the tile with the whole BN and write fp32 straight to C. The
     tensor maps (mapA over A as K x M, mapB over B as K x N, 32 x rows boxes) come from the host's
     cuTensorMapEncodeTiled as by-value kernel parameters. With an epilogue (element-wise consumers of C
     from the graph) each finished element goes through it instead of the plain store. Knobs come from
     the Schedule. -->
<#include "prologue.ftl">
// kiln: sm_90a

#define BM ${bm}
#define BN ${bn}
#define BK ${bk}
#define STAGES ${stages}
#define CONSUMERS ${consumers}
#define THREADS (128 * (CONSUMERS + 1))
#define BOXES (BK / 32)
#define A_BOX (BM * 128)
#define B_BOX (BN * 128)
#define STAGE_BYTES (BOXES * (A_BOX + B_BOX))
#define WM (BM / CONSUMERS)
#define MI (WM / 64)

<#include "wgmma_common.ftl">

#ifndef KILN_WGMMA_N${bn}
#define KILN_WGMMA_N${bn}
// d (${bn / 2} accumulators per thread) += A (64 x 8, descriptor da) * B (8 x ${bn}, descriptor db)
__device__ __forceinline__ void kiln_wgmma_n${bn}(float* d, unsigned long long da, unsigned long long db) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n${bn}k8.f32.tf32.tf32 {<#list 0..<(bn / 2) as i>%${i}<#sep>, </#list>}, %${bn / 2}, %${bn / 2 + 1}, p, 1, 1; }"
      : <#list 0..<(bn / 2) as i>"+f"(d[${i}])<#sep>, </#list> : "l"(da), "l"(db));
}
#endif

extern "C" __global__ void __launch_bounds__(THREADS, 1) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a,
    const __grid_constant__ KilnTensorMap mapA, const __grid_constant__ KilnTensorMap mapB) {
${unpack}
  const int M = ${M}, N = ${N}, K = ${K};
  const long long cm = ${cm};
  const long long baseC = ${baseC};
<#if epilogue?has_content>
${epilogue}
</#if>
  extern __shared__ unsigned char kiln_smem_raw[];
  // the swizzled tiles need 1024-byte alignment
  unsigned char* smem = (unsigned char*) (((unsigned long long) kiln_smem_raw + 1023) & ~1023ull);
  unsigned long long* full = (unsigned long long*) (smem + STAGES * STAGE_BYTES);
  unsigned long long* empty = full + STAGES;
  const int wg = threadIdx.x / 128;
  // M tiles fastest: the blocks resident together share B's tiles and sweep A, which stays in L2
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int tiles = (K + BK - 1) / BK;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; s++) {
      kiln_mbar_init(kiln_smem_u32(&full[s]), 1);
      kiln_mbar_init(kiln_smem_u32(&empty[s]), CONSUMERS);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    // producer: one thread fills stage kt % STAGES once the consumers have released its last use
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (threadIdx.x == 0) {
      for (int kt = 0; kt < tiles; kt++) {
        const int s = kt % STAGES;
        if (kt >= STAGES) kiln_mbar_wait(kiln_smem_u32(&empty[s]), ((kt / STAGES) - 1) & 1);
        const unsigned bar = kiln_smem_u32(&full[s]);
        kiln_mbar_expect(bar, STAGE_BYTES);   // whole boxes count, zero-filled parts included
        unsigned char* st = smem + s * STAGE_BYTES;
#pragma unroll
        for (int b = 0; b < BOXES; b++) {
          kiln_tma_load(kiln_smem_u32(st + b * A_BOX), &mapA, kt * BK + b * 32, m0, bar);
          kiln_tma_load(kiln_smem_u32(st + BOXES * A_BOX + b * B_BOX), &mapB, kt * BK + b * 32, n0, bar);
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    const int c = wg - 1;
    float d[MI][BN / 2];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
      for (int j = 0; j < BN / 2; j++) d[i][j] = 0.0f;
    for (int kt = 0; kt < tiles; kt++) {
      const int s = kt % STAGES;
      kiln_mbar_wait(kiln_smem_u32(&full[s]), (kt / STAGES) & 1);
      const unsigned st = kiln_smem_u32(smem + s * STAGE_BYTES);
      asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
      for (int kk = 0; kk < BK / 8; kk++) {
        // k steps of 8 floats are 32 bytes along the swizzled 128-byte rows
        const int box = kk / 4, off = (kk % 4) * 32;
        const unsigned long long db = kiln_desc_sw128(st + BOXES * A_BOX + box * B_BOX + off);
#pragma unroll
        for (int i = 0; i < MI; i++) {
          kiln_wgmma_n${bn}(d[i], kiln_desc_sw128(st + box * A_BOX + (c * WM + i * 64) * 128 + off), db);
        }
      }
      asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
      // at most this tile's group in flight: the previous stage is read and goes back to the producer
      asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
      if (kt > 0 && threadIdx.x % 128 == 0) kiln_mbar_arrive(kiln_smem_u32(&empty[(kt - 1) % STAGES]));
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    // accumulator layout: warp w of the warpgroup holds rows 16w + g and 16w + g + 8 of each 64-row
    // block, columns 8j + 2t and 8j + 2t + 1 (g = lane / 4, t = lane % 4)
    const int w = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const bool pairs = N % 2 == 0 && cm % 2 == 0 && baseC % 2 == 0;
#pragma unroll
    for (int i = 0; i < MI; i++) {
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int m = m0 + c * WM + i * 64 + w * 16 + g + h * 8;
        if (m >= M) continue;
        float* row = F + baseC + m * cm;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
          const int n = n0 + j * 8 + 2 * t;
          const float v0 = d[i][4 * j + 2 * h], v1 = d[i][4 * j + 2 * h + 1];
<#if epilogue?has_content>
          if (n < N) epilogue(m, n, v0);
          if (n + 1 < N) epilogue(m, n + 1, v1);
<#else>
          if (pairs && n + 1 < N) {
            float2* p = (float2*) (row + n);
<#if accumulate>
            const float2 old = *p;
            *p = make_float2(old.x + v0, old.y + v1);
<#else>
            *p = make_float2(v0, v1);
</#if>
          } else {
<#if accumulate>
            if (n < N) row[n] += v0;
            if (n + 1 < N) row[n + 1] += v1;
<#else>
            if (n < N) row[n] = v0;
            if (n + 1 < N) row[n + 1] = v1;
</#if>
          }
</#if>
        }
      }
    }
  }
}
#undef BM
#undef BN
#undef BK
#undef STAGES
#undef CONSUMERS
#undef THREADS
#undef BOXES
#undef A_BOX
#undef B_BOX
#undef STAGE_BYTES
#undef WM
#undef MI
