<#-- Tensor-core matmul C[batch, m, n] (+)= sum_k A[m, k] * B[k, n] in TF32 (mma.sync m16n8k8, fp32
     accumulate). A BM x BN tile per block, a WM x WN tile per warp, BK-deep stages filled with
     cp.async (16-byte copies where the contiguous dim allows it, 4-byte ones otherwise; zero-fill
     past the edges) in a STAGES-deep ring. Shared tiles keep the global layout's contiguous dim
     innermost, padded so every fragment read is bank-conflict free. With SPLITS > 1 (split-K, for
     small M x N over a long K) each block sums one K range into the workspace W, and ${name}_sum adds
     the ranges in order (deterministic). An epilogue (element-wise consumers of C from the graph) takes
     each finished element: in the store, or with split-K in ${name}_sum. Knobs come from the Schedule. -->
<#include "prologue.ftl">

#define BM ${bm}
#define BN ${bn}
#define BK ${bk}
#define WM ${wm}
#define WN ${wn}
#define STAGES ${stages}
#define SPLITS ${splits}
#define THREADS ((BM / WM) * (BN / WN) * 32)
#define MI (WM / 16)
#define NI (WN / 8)
<#if aKMajor>
// A tile [m][k], k contiguous
#define A_ROWS BM
#define A_COLS BK
#define A_LD (BK + 4)
#define AS(s, m, k) sA[(s) * (A_ROWS * A_LD) + (m) * A_LD + (k)]
<#else>
// A tile [k][m], m contiguous
#define A_ROWS BK
#define A_COLS BM
#define A_LD (BM + 8)
#define AS(s, m, k) sA[(s) * (A_ROWS * A_LD) + (k) * A_LD + (m)]
</#if>
<#if bNMajor>
// B tile [k][n], n contiguous
#define B_ROWS BK
#define B_COLS BN
#define B_LD (BN + 8)
#define BS(s, k, n) sB[(s) * (B_ROWS * B_LD) + (k) * B_LD + (n)]
<#else>
// B tile [n][k], k contiguous
#define B_ROWS BN
#define B_COLS BK
#define B_LD (BK + 4)
#define BS(s, k, n) sB[(s) * (B_ROWS * B_LD) + (n) * B_LD + (k)]
</#if>

#ifndef KILN_MMA_HELPERS
#define KILN_MMA_HELPERS
__device__ __forceinline__ unsigned kiln_smem(const void* p) {
  unsigned r;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
  return r;
}

__device__ __forceinline__ unsigned kiln_tf32(float x) {
#ifdef KILN_TF32_TRUNCATE
  return __float_as_uint(x);   // the tensor core ignores the low 13 mantissa bits
#else
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#endif
}

// Copies a ROWS x COLS tile (THREADS threads) whose element (r, c) is at g[r * ld + c * step] (r < rows, c < cols are
// in bounds; the rest is zero-filled) into shared memory with row pitch LD.
template <int THREADS_, int ROWS, int COLS, int LD>
__device__ __forceinline__ void kiln_load_tile(float* s, const float* g, long long ld, long long step, int rows, int cols, bool vec) {
  if (vec) {
    for (int e = threadIdx.x; e < ROWS * COLS / 4; e += THREADS_) {
      const int r = e / (COLS / 4), c = (e % (COLS / 4)) * 4;
      const bool in = r < rows && c < cols;
      const float* src = in ? g + r * ld + c : g;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(kiln_smem(s + r * LD + c)), "l"(src), "r"(in ? 16 : 0));
    }
  } else {
    for (int e = threadIdx.x; e < ROWS * COLS; e += THREADS_) {
      const int r = e / COLS, c = e % COLS;
      const bool in = r < rows && c < cols;
      const float* src = in ? g + r * ld + c * step : g;
      asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" :: "r"(kiln_smem(s + r * LD + c)), "l"(src), "r"(in ? 4 : 0));
    }
  }
}
#endif

extern "C" __global__ void __launch_bounds__(THREADS) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a<#if splits gt 1>, float* __restrict__ W</#if>) {
${unpack}
  const int M = ${M}, N = ${N}, K = ${K};
  const long long am = ${am}, ak = ${ak}, bk = ${bkStride}, bn = ${bnStride}, cm = ${cm};
  const long long zb = blockIdx.z / SPLITS;
  const int split = blockIdx.z % SPLITS;
${batchDecode}
  // this block's K range: whole BK tiles, split as evenly as they go
  const int kChunk = (K + SPLITS * BK - 1) / (SPLITS * BK) * BK;
  const int kBegin = split * kChunk, kEnd = min(K, kBegin + kChunk);
  const long long baseA = ${baseA}, baseB = ${baseB}, baseC = ${baseC};
<#if epilogue?has_content && splits == 1>
${epilogue}
</#if>
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  extern __shared__ __align__(16) float smem[];
  float* sA = smem;
  float* sB = smem + STAGES * A_ROWS * A_LD;
<#if aKMajor>
  // rows are m (stride am), columns k (stride ak)
  const long long aRowStride = am, aColStride = ak;
  const int aRows = M - m0;
  const float* gA = F + baseA + m0 * am;
  #define A_ADVANCE(k0) (gA + (long long) (k0) * ak)
  #define A_LIMITS(k0) aRows, kEnd - (k0)
<#else>
  const long long aRowStride = ak, aColStride = am;
  const int aCols = M - m0;
  const float* gA = F + baseA + m0 * am;
  #define A_ADVANCE(k0) (gA + (long long) (k0) * ak)
  #define A_LIMITS(k0) kEnd - (k0), aCols
</#if>
<#if bNMajor>
  const long long bRowStride = bk, bColStride = bn;
  const int bCols = N - n0;
  const float* gB = F + baseB + n0 * bn;
  #define B_ADVANCE(k0) (gB + (long long) (k0) * bk)
  #define B_LIMITS(k0) kEnd - (k0), bCols
<#else>
  const long long bRowStride = bn, bColStride = bk;
  const int bRows = N - n0;
  const float* gB = F + baseB + n0 * bn;
  #define B_ADVANCE(k0) (gB + (long long) (k0) * bk)
  #define B_LIMITS(k0) bRows, kEnd - (k0)
</#if>
  // 16-byte copies need a contiguous inner dim and 16-byte aligned rows
  const bool aVec = aColStride == 1 && aRowStride % 4 == 0 && (baseA + (long long) m0 * am) % 4 == 0
      && <#if aKMajor>K<#else>M</#if> % 4 == 0;
  const bool bVec = bColStride == 1 && bRowStride % 4 == 0 && (baseB + (long long) n0 * bn) % 4 == 0
      && <#if bNMajor>N<#else>K</#if> % 4 == 0;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm0 = (warp / (BN / WN)) * WM, wn0 = (warp % (BN / WN)) * WN;
  const int g = lane / 4, t = lane % 4;
  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

  const int tiles = kEnd > kBegin ? (kEnd - kBegin + BK - 1) / BK : 0;
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < tiles) {
      kiln_load_tile<THREADS, A_ROWS, A_COLS, A_LD>(sA + s * A_ROWS * A_LD, A_ADVANCE(kBegin + s * BK), aRowStride, aColStride, A_LIMITS(kBegin + s * BK), aVec);
      kiln_load_tile<THREADS, B_ROWS, B_COLS, B_LD>(sB + s * B_ROWS * B_LD, B_ADVANCE(kBegin + s * BK), bRowStride, bColStride, B_LIMITS(kBegin + s * BK), bVec);
    }
    asm volatile("cp.async.commit_group;");
  }
  for (int kt = 0; kt < tiles; kt++) {
    asm volatile("cp.async.wait_group %0;" :: "n"(STAGES - 2));
    __syncthreads();
    const int next = kt + STAGES - 1;
    if (next < tiles) {
      const int s = next % STAGES;
      kiln_load_tile<THREADS, A_ROWS, A_COLS, A_LD>(sA + s * A_ROWS * A_LD, A_ADVANCE(kBegin + next * BK), aRowStride, aColStride, A_LIMITS(kBegin + next * BK), aVec);
      kiln_load_tile<THREADS, B_ROWS, B_COLS, B_LD>(sB + s * B_ROWS * B_LD, B_ADVANCE(kBegin + next * BK), bRowStride, bColStride, B_LIMITS(kBegin + next * BK), bVec);
    }
    asm volatile("cp.async.commit_group;");
    const int s = kt % STAGES;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      unsigned af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; i++) {
        const int m = wm0 + i * 16 + g;
        af[i][0] = kiln_tf32(AS(s, m, kk + t));
        af[i][1] = kiln_tf32(AS(s, m + 8, kk + t));
        af[i][2] = kiln_tf32(AS(s, m, kk + t + 4));
        af[i][3] = kiln_tf32(AS(s, m + 8, kk + t + 4));
      }
#pragma unroll
      for (int j = 0; j < NI; j++) {
        const int n = wn0 + j * 8 + g;
        bf[j][0] = kiln_tf32(BS(s, kk + t, n));
        bf[j][1] = kiln_tf32(BS(s, kk + t + 4, n));
      }
#pragma unroll
      for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NI; j++)
          asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
              : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
              : "r"(af[i][0]), "r"(af[i][1]), "r"(af[i][2]), "r"(af[i][3]), "r"(bf[j][0]), "r"(bf[j][1]));
    }
  }
  asm volatile("cp.async.wait_group 0;");
  // accumulator fragment: rows g and g + 8, columns 2t and 2t + 1 of each 16 x 8 piece
#pragma unroll
  for (int i = 0; i < MI; i++) {
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int m = m0 + wm0 + i * 16 + g + half * 8;
      if (m >= M) continue;
#pragma unroll
      for (int j = 0; j < NI; j++) {
#pragma unroll
        for (int q = 0; q < 2; q++) {
          const int n = n0 + wn0 + j * 8 + 2 * t + q;
          if (n < N) {
<#if splits gt 1>
            W[((zb * SPLITS + split) * (long long) M + m) * N + n] = acc[i][j][half * 2 + q];
<#elseif epilogue?has_content>
            epilogue(m, n, acc[i][j][half * 2 + q]);
<#else>
            float* c = &F[baseC + m * cm + n];
            *c = ${accumulate?then("*c + acc[i][j][half * 2 + q]", "acc[i][j][half * 2 + q]")};
</#if>
          }
        }
      }
    }
  }
}
<#if splits gt 1>

// C (+)= the SPLITS partial sums in W, in split order.
extern "C" __global__ void __launch_bounds__(256) ${name}_sum(float* __restrict__ F, int* __restrict__ I, const Args_${name} a, const float* __restrict__ W) {
${unpack}
  const int M = ${M}, N = ${N};
  const long long cm = ${cm};
  const long long total = ${batchItems} * (long long) M * N;
  for (long long e = blockIdx.x * (long long) blockDim.x + threadIdx.x; e < total; e += (long long) gridDim.x * blockDim.x) {
    const long long zb = e / ((long long) M * N);
    const int m = (int) (e / N % M), n = (int) (e % N);
${sumBatchDecode}
    const long long baseC = ${baseC};
    float s = 0.0f;
    for (int p = 0; p < SPLITS; p++) s += W[((zb * SPLITS + p) * (long long) M + m) * N + n];
<#if epilogue?has_content>
${epilogue}
    epilogue(m, n, s);
<#else>
    float* c = &F[baseC + m * cm + n];
    *c = ${accumulate?then("*c + s", "s")};
</#if>
  }
}
</#if>
#undef SPLITS
#undef BM
#undef BN
#undef BK
#undef WM
#undef WN
#undef STAGES
#undef THREADS
#undef MI
#undef NI
#undef A_ROWS
#undef A_COLS
#undef A_LD
#undef AS
#undef B_ROWS
#undef B_COLS
#undef B_LD
#undef BS
#undef A_ADVANCE
#undef A_LIMITS
#undef B_ADVANCE
#undef B_LIMITS
