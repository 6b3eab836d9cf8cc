<#-- Tiled matmul C[batch, m, n] (+)= sum_k A[m, k] * B[k, n] with arbitrary strides: a BM x BN tile
     per block through shared memory, TM x TN outputs per thread. an epilogue (element-wise consumers
     of C from the graph) takes each finished element where there is one. Knobs come from the Schedule.
     Operands and C may be stored as bf16 (loadA, loadB widen them; C rounds once, from the fp32
     accumulator, in the epilogue's store where there is one). -->
<#include "prologue.ftl">

#define BM ${bm}
#define BN ${bn}
#define BK ${bk}
#define TM ${tm}
#define TN ${tn}

extern "C" __global__ void __launch_bounds__((BM / TM) * (BN / TN)) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
${unpack}
  const int M = ${M}, N = ${N}, K = ${K};
  const long long am = ${am}, ak = ${ak}, bk = ${bkStride}, bn = ${bnStride}, cm = ${cm};
${batchDecode}
  const long long baseA = ${baseA}, baseB = ${baseB}, baseC = ${baseC};
<#if epilogue?has_content>
${epilogue}
</#if>
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int threads = (BM / TM) * (BN / TN);
  const int tx = threadIdx.x % (BN / TN), ty = threadIdx.x / (BN / TN);
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;
  for (int k0 = 0; k0 < K; k0 += BK) {
    for (int e = threadIdx.x; e < BM * BK; e += threads) {
<#if aKMajor>
      const int kk = e % BK, mm = e / BK;
<#else>
      const int mm = e % BM, kk = e / BM;
</#if>
      As[kk][mm] = (m0 + mm < M && k0 + kk < K) ? ${loadA} : 0.0f;
    }
    for (int e = threadIdx.x; e < BN * BK; e += threads) {
<#if bNMajor>
      const int nn = e % BN, kk = e / BN;
<#else>
      const int kk = e % BK, nn = e / BK;
</#if>
      Bs[kk][nn] = (n0 + nn < N && k0 + kk < K) ? ${loadB} : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; i++) av[i] = As[kk][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; j++) bv[j] = Bs[kk][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; i++) {
    const int m = m0 + ty * TM + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; j++) {
      const int n = n0 + tx * TN + j;
      if (n < N) {
<#if epilogue?has_content>
        epilogue(m, n, acc[i][j]);
<#elseif cBf16>
        kiln_bf16* c = &H[baseC + m * cm + n];
        *c = kiln_bf16_rn(${accumulate?then("kiln_bf16_f(*c) + acc[i][j]", "acc[i][j]")});
<#else>
        float* c = &F[baseC + m * cm + n];
        *c = ${accumulate?then("*c + acc[i][j]", "acc[i][j]")};
</#if>
      }
    }
  }
}
