<#-- The run() body of a Java matmul kernel (JavaRenderer.matmul; kernel.java.ftl wraps it into the class with
     tile4, tile4m, dot and row): work items are (row chunk, panel of NB columns, batch); per item, K in blocks
     of KB, B packed into the scratch P (pack) or read in place, four rows at a time through the register tile.
     model: accumulate, pack, dot (M < 4 takes dot products along k), round (bf16 C: the rounding function, or
     absent), header (lines), M, N, K, am, ak, bk, bn, cm, batch (decomposition lines), baseA, baseB, baseC. -->
<#macro roundC>
<#if round??>
  for (int m = m0; m < m1; m++) {
    for (int j = 0; j < nw; j++) F[baseC + m * cm + n0 + j] = ${round}(F[baseC + m * cm + n0 + j]);
  }
</#if>
</#macro>
// matmul: C[batch, m, n] ${accumulate?then("+=", "=")} sum_k A[m, k] * B[k, n], B ${pack?then("packed per panel", "read in place")}
<#list header as line>
${line}
</#list>
final int M = ${M}, N = ${N}, K = ${K};
final int am = ${am}, ak = ${ak};
final int bk = ${bk}, bn = ${bn};
final int cm = ${cm};
final int nPanels = (N + NB - 1) / NB, mChunks = (M + MB - 1) / MB;
int packed = -1;   // (batch, panel) whose B the scratch holds, when K fits one block
for (int u = lo; u < hi; u++) {
  int r = u;
  final int mc = r % mChunks; r /= mChunks;
  final int np = r % nPanels; r /= nPanels;
<#list batch as line>
  ${line}
</#list>
  final int baseA = ${baseA};
  final int baseB = ${baseB};
  final int baseC = ${baseC};
  final int n0 = np * NB, nw = Math.min(NB, N - n0);
  final int m0 = mc * MB, m1 = Math.min(M, m0 + MB);
<#if dot>
<#-- A and B both run along k: with fewer rows than a tile, packing B would cost as much as the product (one row
     per token when sampling), so take dot products along k instead -->
  if (M < 4) {
    for (int m = m0; m < m1; m++) {
      for (int j = 0; j < nw; j++) dot(F, baseA + m * am, baseB + (n0 + j) * bn, K, baseC + m * cm + n0 + j);
    }
<@roundC/>
    continue;
  }
</#if>
  for (int k0 = 0; k0 < K; k0 += KB) {
    final int kw = Math.min(KB, K - k0);
    final boolean first = k0 == 0 && !ACCUMULATE;
<#if pack>
<#-- consecutive items of one (batch, panel) differ only in their rows: with K in one block the panel packed for
     the first serves the rest -->
    if (K > KB || u / mChunks != packed) {
      for (int j = 0; j < nw; j++) {
        final int src = baseB + (n0 + j) * bn + k0 * bk;
        for (int k = 0; k < kw; k++) P[k * NB + j] = F[src + k * bk];
      }
      packed = u / mChunks;
    }
    final float[] Bv = P;
    final int bBase = 0, bStride = NB;
<#else>
    final float[] Bv = F;
    final int bBase = baseB + k0 * bk + n0, bStride = bk;
</#if>
    int m = m0;
    if (nw == NB) {
      for (; m + 4 <= m1; m += 4) tile4(F, Bv, bBase, bStride, baseA + m * am + k0 * ak, am, ak, kw, baseC + m * cm + n0, cm, first);
    } else {
      for (; m + 4 <= m1; m += 4) tile4m(F, Bv, bBase, bStride, baseA + m * am + k0 * ak, am, ak, kw, baseC + m * cm + n0, cm, first, nw);
    }
    for (; m < m1; m++) row(F, Bv, bBase, bStride, baseA + m * am + k0 * ak, ak, kw, baseC + m * cm + n0, nw, first);
  }
<#-- a bf16 C (emulated: floats in F) holds fp32 partial sums between K blocks and is rounded once at the end, as
     the GPU rounds its fp32 accumulators once on store -->
<@roundC/>
}
