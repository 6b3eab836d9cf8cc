// Causal flash attention on bf16 storage with bf16 tensor cores (mma.sync m16n8k16, fp32 accumulate):
// the forward (y bf16, lse fp32) and a deterministic backward (dq, then dk and dv, no atomics), for the
// "attention", "attention_dq" and "attention_dkdv" externs at --precision bf16. Kernel-only text: no
// #include, NVRTC-compatible; the entry point (attention_bf16.cu.ftl) defines HS and the prologue declares
// kiln_bf16. The backward's device functions take ACC: gradients stored '=' (false) or '+=' (true).
//
// Layout contract (the same for every operand): an operand is an element offset from the bf16 base H and
// the strides of its batch, time and head dims (FabOperand); the head dim is contiguous. Query head h reads
// kv head h / G (G = NH / KVH, 1 for multi-head attention). dkdv sums dk and dv over GS query heads in
// each block: GS = G (dk, dv per kv head) or GS = 1 (one partial per query head, which the DSL sums; dk and
// dv then have q's layout). lse and D are fp32 (B, NH, T), contiguous.
//   lse[b,h,t] = ln sum_{s<=t} exp(q_t.k_s * scale), scale = 1/sqrt(HS);  D[b,h,t] = sum_d dy*y
// Every offset and stride must be a multiple of 8 elements (16-byte cp.async); HS a multiple of 16, <= 128.
//
// Tiles: 4 FAB_*_WGS warps a block, 16 rows a warp: FAB_*_ROWS query rows a block (forward, dq) or key rows
// a block (dkdv). Shared-memory rows are HS + 8 elements apart, so the 8 row addresses of an ldmatrix fall
// in distinct banks. Softmax, row sums and every accumulator are fp32; P and dS are rounded to bf16 as the
// A operand of the next product (as FlashAttention-2 does); stores round to nearest even.
#ifndef KILN_FLASH_ATTENTION_BF16
#define KILN_FLASH_ATTENTION_BF16

// FAB_{FWD,DQ,DKV}_WGS: warpgroups (4 warps, 64 rows) a block of each kernel, whose warpgroups share every
// K, V (forward, dq) or Q, dy (dkdv) tile the block loads. Measured on the H200 (docs/perf.md, "attn2"): dq
// gains from two (128 query rows a block, two blocks an SM); the forward and dkdv lose (the block's
// __syncthreads couple its warpgroups, and fewer independent blocks share an SM), so they keep one (the wgmma
// forward takes only one). Both the
// wgmma and the mma.sync kernels take these numbers (the host's launch does not depend on the arch NVRTC
// compiles for: FlashBf16 states the same); -DFAB_WGS=n sets all three (the harness times variants).
#ifdef FAB_WGS
#define FAB_FWD_WGS FAB_WGS
#define FAB_DQ_WGS FAB_WGS
#define FAB_DKV_WGS FAB_WGS
#endif
#ifndef FAB_FWD_WGS
#define FAB_FWD_WGS 1
#endif
#ifndef FAB_DQ_WGS
#define FAB_DQ_WGS (HS == 64 ? 2 : 1)
#endif
#ifndef FAB_DKV_WGS
#define FAB_DKV_WGS 1
#endif
// the wgmma forward's key tile (64 or 128), exponentials on the FMA pipe and P V overlap (its section below); 128 keys with
// every exponential on MUFU measured fastest on the H200 in interleaved rounds (docs/perf.md, session 13: 0.176 against
// 0.189 ms a layer at B=32 for 64 keys with 2 of 8 on the FMA pipe; FlashBf16.FWD_BN states the same for the host)
#ifndef FAB_FWD_BN
#define FAB_FWD_BN 128
#endif
#ifndef FAB_FWD_POLY
#define FAB_FWD_POLY 0
#endif
#ifndef FAB_FWD_OVL
#define FAB_FWD_OVL 0
#endif
// threads and rows (forward, dq: query rows; dkdv: keys) a block
#define FAB_FWD_NT (128 * FAB_FWD_WGS)
#define FAB_FWD_ROWS (64 * FAB_FWD_WGS)
#define FAB_DQ_NT (128 * FAB_DQ_WGS)
#define FAB_DQ_ROWS (64 * FAB_DQ_WGS)
#define FAB_DKV_NT (128 * FAB_DKV_WGS)
#define FAB_DKV_ROWS (64 * FAB_DKV_WGS)
#define FAB_LD (HS + 8)
#define FAB_FWD_BK 64
#define FAB_DQ_BK (HS > 64 ? 32 : 64)
#define FAB_DKV_BQ (HS > 64 ? 16 : 32)
// At HS 64 on sm_90a (the arch-specific features: NVRTC and nvcc -arch=sm_90a define
// __CUDA_ARCH_FEAT_SM90_ALL) the kernels multiply with wgmma (one warpgroup a block, 64 rows, the section
// "wgmma kernels" below); elsewhere with mma.sync. FAB_NO_WGMMA forces mma.sync (the harness times both).
#if HS == 64 && defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(FAB_NO_WGMMA)
#define FAB_WG 1
#else
#define FAB_WG 0
#endif
// blocks an SM must hold (__launch_bounds__, per kernel): on wgmma 3 blocks of one warpgroup (at most 168
// registers a thread), 2 of two (128: the forward and dq fit; dkdv's S, dP and two accumulators do not: 1),
// one of three or four (168, 128)
#define FAB_WG_MIN_BLOCKS(wgs, two) ((wgs) == 1 ? 3 : (wgs) == 2 ? (two) : 1)
#if FAB_WG
#ifndef FAB_FWD_MIN_BLOCKS
#define FAB_FWD_MIN_BLOCKS FAB_WG_MIN_BLOCKS(FAB_FWD_WGS, 2)
#endif
#ifndef FAB_DQ_MIN_BLOCKS
#define FAB_DQ_MIN_BLOCKS FAB_WG_MIN_BLOCKS(FAB_DQ_WGS, 2)
#endif
#ifndef FAB_DKV_MIN_BLOCKS
#define FAB_DKV_MIN_BLOCKS FAB_WG_MIN_BLOCKS(FAB_DKV_WGS, 1)
#endif
#else
#define FAB_FWD_MIN_BLOCKS 1
#define FAB_DQ_MIN_BLOCKS 1
#define FAB_DKV_MIN_BLOCKS 1
#endif
// dynamic shared memory of each kernel (bytes): the mma.sync kernels' and, at HS 64, at least the wgmma
// kernels' (1024 bytes of alignment slack, 64-row tiles of 128 bytes a row: WGS tiles of Q and K, V
// double-buffered in the forward; WGS tiles of Q and of dy and K, V double-buffered in dq; WGS tiles
// of K and of V and Q, dy, lse, D double-buffered in dkdv), whichever arch compiles them, so the host's
// number does not depend on it
#define FAB_MAXB(a, b) ((a) > (b) ? (a) : (b))
#define FAB_WGB(tiles, extra) (HS == 64 ? 1024 + 64 * 128 * (tiles) + (extra) : 0)
#define FAB_FWD_SMEM_BYTES FAB_MAXB(2 * FAB_LD * (FAB_FWD_ROWS + 4 * FAB_FWD_BK), FAB_WGB(FAB_FWD_WGS + 4 * FAB_FWD_BN / 64, 0))
#define FAB_DQ_SMEM_BYTES FAB_MAXB(2 * FAB_LD * (2 * FAB_DQ_ROWS + 4 * FAB_DQ_BK), FAB_WGB(2 * FAB_DQ_WGS + 4, 0))
#define FAB_DKV_SMEM_BYTES FAB_MAXB(2 * FAB_LD * (2 * FAB_DKV_ROWS + 4 * FAB_DKV_BQ) + 4 * 4 * FAB_DKV_BQ, FAB_WGB(2 * FAB_DKV_WGS + 4, 4 * 4 * 64))

static_assert(HS % 16 == 0 && HS <= 128, "bf16 flash attention needs a head size that is a multiple of 16, at most 128");

#define FAB_LOG2E 1.4426950408889634f
#define FAB_LN2 0.6931471805599453f

struct FabOperand { long long off, sb, st, sh; };

__device__ __forceinline__ float fab_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float fab_neg_inf() { return __int_as_float(0xff800000); }
// the softmax scale 1/sqrt(HS), spelled once: the backward recomputes P with the forward's exact factor
__device__ __forceinline__ float fab_scale() { return 1.f / sqrtf((float) HS); }

__device__ __forceinline__ unsigned fab_smem_addr(const void* p) {
  unsigned r;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
  return r;
}
// 16 bytes global -> shared, bypassing L1; zero-filled where !valid (nothing is read then)
__device__ __forceinline__ void fab_cp16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(fab_smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void fab_cp4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" :: "r"(fab_smem_addr(dst)), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void fab_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void fab_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N)); }

// four 8x8 bf16 matrices; lane l gives the row address of matrix l / 8, row l % 8
__device__ __forceinline__ void fab_ldm4(unsigned* r, const kiln_bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(fab_smem_addr(p)));
}
__device__ __forceinline__ void fab_ldm4t(unsigned* r, const kiln_bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(fab_smem_addr(p)));
}
// c (16x8 fp32) += a (16x16 bf16, row) * b (16x8 bf16, col)
__device__ __forceinline__ void fab_mma(float* c, const unsigned* a, unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// two floats as bf16x2, rounded to nearest even: lo in the low half (the lower column)
__device__ __forceinline__ unsigned fab_pack(float lo, float hi) {
  unsigned r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
__device__ __forceinline__ float fab_lo(unsigned x) { return __uint_as_float(x << 16); }
__device__ __forceinline__ float fab_hi(unsigned x) { return __uint_as_float(x & 0xffff0000u); }

// the first element of operand o's (b, h) head: its rows are o.st apart
__device__ __forceinline__ const kiln_bf16* fab_head(const kiln_bf16* H, const FabOperand& o, int b, int h) {
  return H + o.off + (long long) b * o.sb + (long long) h * o.sh;
}
// FAB_GROUP: the heads whose blocks run together. Every kernel's grid is (heads, row tiles), launched x fastest; the
// block at launch place L works on head g0 + r % n and row tile r / n (the tile order each kernel gives it: the longest
// first), where g0 = FAB_GROUP (L / (FAB_GROUP tiles)), r = L - g0 tiles, n the group's heads. Each head's K and V (Q
// and dy in dkdv) are then read from DRAM by the first of its tiles and from L2 by the rest: with the heads fastest
// (FAB_GROUP 0) every wave of blocks touched every head's K/V (96 MB at GPT-2 B=32, over the H200's 50 MB L2), an L2 hit
// rate of 16% and 2.7 TB/s of DRAM traffic in the forward (ncu, docs/perf.md "attnfwd").
#ifndef FAB_GROUP
#define FAB_GROUP 32
#endif
__device__ __forceinline__ void fab_block(int& head, int& tile) {
#if FAB_GROUP > 0
  const int heads = gridDim.x, tiles = gridDim.y, at = blockIdx.y * heads + blockIdx.x;
  const int g0 = at / (FAB_GROUP * tiles) * FAB_GROUP, n = min(FAB_GROUP, heads - g0), r = at - g0 * tiles;
  head = g0 + r % n;
  tile = r / n;
#else
  head = blockIdx.x;
  tile = blockIdx.y;
#endif
}
// ROWS x HS of a head (rows t0.., zero past T; rows st apart) into shared memory rows FAB_LD apart, by NT threads
template <int ROWS, int NT>
__device__ __forceinline__ void fab_load_tile(kiln_bf16* s, const kiln_bf16* head, long long st, int t0, int T) {
  constexpr int CHUNKS = HS / 8;
#pragma unroll
  for (int i = threadIdx.x; i < ROWS * CHUNKS; i += NT) {
    const int r = i / CHUNKS, c = (i % CHUNKS) * 8, t = t0 + r;
    const bool valid = t < T;
    fab_cp16(s + r * FAB_LD + c, head + (valid ? (long long) t * st + c : 0), valid);
  }
}

// A fragments (16 rows x 16 of the head dim at k0) of rows row0.. of a shared tile
__device__ __forceinline__ void fab_frag_a(unsigned* a, const kiln_bf16* s, int row0, int k0) {
  const int lane = threadIdx.x & 31;
  fab_ldm4(a, s + (row0 + (lane & 15)) * FAB_LD + k0 + (lane >> 4) * 8);
}
// B fragments of two n8 tiles (n0, n0 + 8) x k16 at k0 from a tile stored [n][k] (b[0..1]: tile n0, b[2..3]: n0 + 8)
__device__ __forceinline__ void fab_frag_b_nk(unsigned* b, const kiln_bf16* s, int n0, int k0) {
  const int lane = threadIdx.x & 31, m = lane >> 3;
  fab_ldm4(b, s + (n0 + (lane & 7) + (m >> 1) * 8) * FAB_LD + k0 + (m & 1) * 8);
}
// the same from a tile stored [k][n] (transposed on the way)
__device__ __forceinline__ void fab_frag_b_kn(unsigned* b, const kiln_bf16* s, int k0, int n0) {
  const int lane = threadIdx.x & 31, m = lane >> 3;
  fab_ldm4t(b, s + (k0 + (lane & 7) + (m & 1) * 8) * FAB_LD + n0 + (m >> 1) * 8);
}
// acc[0], acc[1] += a . the two 8-column halves of a 16-column B fragment pair b (fab_frag_b_nk / _kn)
__device__ __forceinline__ void fab_mma2(float (*acc)[4], const unsigned* a, const unsigned* b) {
  fab_mma(acc[0], a, b[0], b[1]);
  fab_mma(acc[1], a, b[2], b[3]);
}

// acc[N/8][4] = (16 rows of a) . (N rows of s)^T over the head dim: a given as fragments or read from sa
template <int N>
__device__ __forceinline__ void fab_scores(float (*acc)[4], const unsigned (*a)[4], const kiln_bf16* s) {
#pragma unroll
  for (int j = 0; j < N / 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < HS / 16; kk++) {
#pragma unroll
    for (int np = 0; np < N / 16; np++) {
      unsigned b[4];
      fab_frag_b_nk(b, s, np * 16, kk * 16);
      fab_mma2(acc + 2 * np, a[kk], b);
    }
  }
}
// the same with the 16 rows of a read from shared memory (rows row0.. of sa), a fragment at a time: fewer registers
template <int N>
__device__ __forceinline__ void fab_scores_smem(float (*acc)[4], const kiln_bf16* sa, int row0, const kiln_bf16* s) {
#pragma unroll
  for (int j = 0; j < N / 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < HS / 16; kk++) {
    unsigned a[4];
    fab_frag_a(a, sa, row0, kk * 16);
#pragma unroll
    for (int np = 0; np < N / 16; np++) {
      unsigned b[4];
      fab_frag_b_nk(b, s, np * 16, kk * 16);
      fab_mma2(acc + 2 * np, a, b);
    }
  }
}
// out[HS/8][4] += p (16 x K, fp32 C fragments rounded to bf16) . s (K x HS, stored [k][d])
template <int K>
__device__ __forceinline__ void fab_times_tile(float (*out)[4], const float (*p)[4], const kiln_bf16* s) {
#pragma unroll
  for (int kk = 0; kk < K / 16; kk++) {
    const unsigned a[4] = {fab_pack(p[2 * kk][0], p[2 * kk][1]), fab_pack(p[2 * kk][2], p[2 * kk][3]),
                           fab_pack(p[2 * kk + 1][0], p[2 * kk + 1][1]), fab_pack(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int dp = 0; dp < HS / 16; dp++) {
      unsigned b[4];
      fab_frag_b_kn(b, s, kk * 16, dp * 16);
      fab_mma2(out + 2 * dp, a, b);
    }
  }
}

// 16 rows (t + lane/4, +8) of acc * scale into operand o, '=' or '+=' (ACC)
template <bool ACC>
__device__ __forceinline__ void fab_store_rows(kiln_bf16* H, const FabOperand& o, int b, int h, int t, int T, const float (*acc)[4], float scale) {
  const int lane = threadIdx.x & 31, c = 2 * (lane & 3);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int row = t + half * 8;
    if (row >= T) continue;
    unsigned* p = (unsigned*) (H + o.off + (long long) b * o.sb + (long long) row * o.st + (long long) h * o.sh + c);
#pragma unroll
    for (int j = 0; j < HS / 8; j++) {
      float x = acc[j][2 * half] * scale, y = acc[j][2 * half + 1] * scale;
      if constexpr (ACC) {
        const unsigned old = p[4 * j];
        x += fab_lo(old);
        y += fab_hi(old);
      }
      p[4 * j] = fab_pack(x, y);
    }
  }
}

// the backward's per-row terms of this thread's rows row and row + 8: lse (times log2(e)) and D, 0 past T; stat is the
// (b, h) head's first
__device__ __forceinline__ void fab_row_stats(float* ls, float* dd, const float* __restrict__ lse, const float* __restrict__ D,
                                              long long stat, int row, int T) {
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int t = row + half * 8;
    ls[half] = t < T ? lse[stat + t] * FAB_LOG2E : 0.f;
    dd[half] = t < T ? D[stat + t] : 0.f;
  }
}
// a double-buffered loop's step: starts loading item `next` (load(next), one cp.async group) if next < total and waits
// for the group before it, else waits for every group
template <class Load>
__device__ __forceinline__ void fab_prefetch(const Load& load, int next, int total) {
  if (next < total) {
    load(next);
    fab_commit();
    fab_wait<1>();
  } else {
    fab_wait<0>();
  }
}
// the mma.sync kernels' key loop, double-buffered: starts loading key tile j + 1 of K and V (if any) into the other
// halves of sK, sV ([2][BK][LD] each), then waits until tile j is in shared memory for the whole block
template <int BK, int NT>
__device__ __forceinline__ void fab_next_kv(kiln_bf16* sK, kiln_bf16* sV, const kiln_bf16* kh, long long kst, const kiln_bf16* vh,
                                            long long vst, int j, int nk, int T) {
  if (j + 1 < nk) {
    fab_load_tile<BK, NT>(sK + ((j + 1) & 1) * BK * FAB_LD, kh, kst, (j + 1) * BK, T);
    fab_load_tile<BK, NT>(sV + ((j + 1) & 1) * BK * FAB_LD, vh, vst, (j + 1) * BK, T);
    fab_commit();
    fab_wait<1>();
  } else {
    fab_wait<0>();
  }
  __syncthreads();
}

// ---- the elementwise steps both kernel families share. Scores, dP and accumulators are in the C-fragment
// layout of mma.sync m16n8k16, which wgmma's accumulators also have: x[4n + 2half + e] of a thread is row
// r + 8half (r = its warp's 16 rows' first + lane / 4) and column 8n + 2(lane % 4) + e. ----

// online softmax of one tile of N scores a row (rows row, row + 8; keys key0..): to base 2, masked where
// `edge` (keys after the row or past T), exponentiated in place against the new running max m; the running
// sum l and the output o (HS/8 fragments) rescaled
template <int N>
__device__ __forceinline__ void fab_softmax_tile(float* s, float* m, float* l, float* o, int key0, int row, int T, bool edge, float sl2) {
  const int c = 2 * (threadIdx.x & 3);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    float mx = fab_neg_inf();
#pragma unroll
    for (int n = 0; n < N / 8; n++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        float x = s[4 * n + 2 * half + e] * sl2;
        const int key = key0 + n * 8 + c + e;
        if (edge && (key > row + half * 8 || key >= T)) x = fab_neg_inf();
        s[4 * n + 2 * half + e] = x;
        mx = fmaxf(mx, x);
      }
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float mn = fmaxf(m[half], mx);
    const float base = mn == fab_neg_inf() ? 0.f : mn;
    const float alpha = fab_ex2(m[half] - base);
    m[half] = mn;
    float sum = 0.f;
#pragma unroll
    for (int n = 0; n < N / 8; n++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const float p = fab_ex2(s[4 * n + 2 * half + e] - base);
        s[4 * n + 2 * half + e] = p;
        sum += p;
      }
    }
    l[half] = l[half] * alpha + sum;
#pragma unroll
    for (int d = 0; d < HS / 8; d++) { o[4 * d + 2 * half] *= alpha; o[4 * d + 2 * half + 1] *= alpha; }
  }
}
// the forward's end: y = o / l (bf16, written, never accumulated), lse = ln of the row sum (fp32)
__device__ __forceinline__ void fab_forward_store(kiln_bf16* H, const FabOperand& y, float* __restrict__ lse, int b, int h, int NH,
                                                  int row, int T, const float* m, float* l, float* o) {
  const int c = 2 * (threadIdx.x & 3);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    l[half] += __shfl_xor_sync(0xffffffffu, l[half], 1);
    l[half] += __shfl_xor_sync(0xffffffffu, l[half], 2);
    const float inv = 1.f / l[half];
    const int t = row + half * 8;
    if (t >= T) continue;
    if (c == 0) lse[((long long) b * NH + h) * T + t] = (m[half] + __log2f(l[half])) * FAB_LN2;
    unsigned* p = (unsigned*) (H + y.off + (long long) b * y.sb + (long long) t * y.st + (long long) h * y.sh + c);
#pragma unroll
    for (int d = 0; d < HS / 8; d++) p[4 * d] = fab_pack(o[4 * d + 2 * half] * inv, o[4 * d + 2 * half + 1] * inv);
  }
}
// dq's dS = P (dP - D) in place of s (rows row, row + 8; keys key0..), P = 2^(s sl2 - ls) and zero where masked;
// ls, dd: the rows' lse (base 2) and D
template <int N>
__device__ __forceinline__ void fab_ds_rows(float* s, const float* dp, const float* ls, const float* dd, int key0, int row, int T, bool edge, float sl2) {
  const int c = 2 * (threadIdx.x & 3);
#pragma unroll
  for (int n = 0; n < N / 8; n++) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int half = i >> 1, key = key0 + n * 8 + c + (i & 1);
      float p = fab_ex2(s[4 * n + i] * sl2 - ls[half]);
      if (edge && (key > row + half * 8 || key >= T)) p = 0.f;
      s[4 * n + i] = p * (dp[4 * n + i] - dd[half]);
    }
  }
}
// dkdv's P^T in place of s (keys x queries: keys key, key + 8; queries t0..), 2^(s sl2 - lse) and zero where
// masked; tL: the queries' lse (natural log)
template <int N>
__device__ __forceinline__ void fab_p_cols(float* s, const float* tL, int key, int t0, int T, bool edge, float sl2) {
  const int c = 2 * (threadIdx.x & 3);
#pragma unroll
  for (int n = 0; n < N / 8; n++) {
#pragma unroll
    for (int e = 0; e < 2; e++) {
      const int col = n * 8 + c + e, query = t0 + col;
      const float l2 = tL[col] * FAB_LOG2E;
#pragma unroll
      for (int half = 0; half < 2; half++) {
        float p = fab_ex2(s[4 * n + 2 * half + e] * sl2 - l2);
        if (edge && (key + half * 8 > query || query >= T)) p = 0.f;
        s[4 * n + 2 * half + e] = p;
      }
    }
  }
}
// dkdv's dS^T = P^T (dP^T - D) into out (which may be p or dp); tD: the queries' D
template <int N>
__device__ __forceinline__ void fab_ds_cols(float* out, const float* p, const float* dp, const float* tD) {
  const int c = 2 * (threadIdx.x & 3);
#pragma unroll
  for (int n = 0; n < N / 8; n++) {
#pragma unroll
    for (int i = 0; i < 4; i++) out[4 * n + i] = p[4 * n + i] * (dp[4 * n + i] - tD[n * 8 + c + (i & 1)]);
  }
}

// ---- forward: grid (B*NH, ceil(T / FAB_FWD_ROWS)), FAB_FWD_NT threads, FAB_FWD_SMEM_BYTES ----
__device__ void fab_forward_mma(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand y, float* __restrict__ lse,
                            int B, int T, int NH, int G) {
  constexpr int BK = FAB_FWD_BK, ROWS = FAB_FWD_ROWS, NT = FAB_FWD_NT;
  extern __shared__ __align__(16) unsigned char fab_smem[];
  kiln_bf16* sQ = (kiln_bf16*) fab_smem;
  kiln_bf16* sK = sQ + ROWS * FAB_LD;   // [2][BK][LD]
  kiln_bf16* sV = sK + 2 * BK * FAB_LD;     // [2][BK][LD]
  int bh, tile;
  fab_block(bh, tile);
  const int b = bh / NH, h = bh % NH, hk = h / G;
  const int q0 = (gridDim.y - 1 - tile) * ROWS;   // the longest rows first
  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
  const int kend = min(q0 + ROWS, T), nk = (kend + BK - 1) / BK;
  const kiln_bf16* kh = fab_head(H, k, b, hk);
  const kiln_bf16* vh = fab_head(H, v, b, hk);
  fab_load_tile<ROWS, NT>(sQ, fab_head(H, q, b, h), q.st, q0, T);
  fab_load_tile<BK, NT>(sK, kh, k.st, 0, T);
  fab_load_tile<BK, NT>(sV, vh, v.st, 0, T);
  fab_commit();
  fab_wait<0>();
  __syncthreads();
  unsigned qf[HS / 16][4];
#pragma unroll
  for (int kk = 0; kk < HS / 16; kk++) fab_frag_a(qf[kk], sQ, warp * 16, kk * 16);
  const float sl2 = FAB_LOG2E * fab_scale();
  float m[2] = {fab_neg_inf(), fab_neg_inf()}, l[2] = {0.f, 0.f};
  float o[HS / 8][4];
#pragma unroll
  for (int j = 0; j < HS / 8; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  const int row = q0 + warp * 16 + g;   // this thread's rows: row, row + 8
  for (int j = 0; j < nk; j++) {
    const kiln_bf16* tK = sK + (j & 1) * BK * FAB_LD;
    const kiln_bf16* tV = sV + (j & 1) * BK * FAB_LD;
    fab_next_kv<BK, NT>(sK, sV, kh, k.st, vh, v.st, j, nk, T);
    float s[BK / 8][4];
    fab_scores<BK>(s, qf, tK);
    const bool edge = (j + 1) * BK > q0 + warp * 16 || (j + 1) * BK > T;
    fab_softmax_tile<BK>(&s[0][0], m, l, &o[0][0], j * BK, row, T, edge, sl2);
    fab_times_tile<BK>(o, s, tV);
    __syncthreads();   // the next prefetch overwrites this tile's buffers
  }
  fab_forward_store(H, y, lse, b, h, NH, row, T, m, l, &o[0][0]);
}

// ---- dq: grid (B*NH, ceil(T / FAB_DQ_ROWS)), FAB_DQ_NT threads, FAB_DQ_SMEM_BYTES; writes dq only ----
template <bool ACC>
__device__ void fab_backward_dq_mma(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, const float* __restrict__ lse,
                                const float* __restrict__ D, FabOperand dq, int B, int T, int NH, int G) {
  constexpr int BK = FAB_DQ_BK, ROWS = FAB_DQ_ROWS, NT = FAB_DQ_NT;
  extern __shared__ __align__(16) unsigned char fab_smem[];
  kiln_bf16* sQ = (kiln_bf16*) fab_smem;
  kiln_bf16* sO = sQ + ROWS * FAB_LD;   // dy
  kiln_bf16* sK = sO + ROWS * FAB_LD;   // [2][BK][LD]
  kiln_bf16* sV = sK + 2 * BK * FAB_LD;
  int bh, tile;
  fab_block(bh, tile);
  const int b = bh / NH, h = bh % NH, hk = h / G;
  const int q0 = (gridDim.y - 1 - tile) * ROWS;
  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
  const int kend = min(q0 + ROWS, T), nk = (kend + BK - 1) / BK;
  const kiln_bf16* kh = fab_head(H, k, b, hk);
  const kiln_bf16* vh = fab_head(H, v, b, hk);
  fab_load_tile<ROWS, NT>(sQ, fab_head(H, q, b, h), q.st, q0, T);
  fab_load_tile<ROWS, NT>(sO, fab_head(H, dy, b, h), dy.st, q0, T);
  fab_load_tile<BK, NT>(sK, kh, k.st, 0, T);
  fab_load_tile<BK, NT>(sV, vh, v.st, 0, T);
  fab_commit();
  const int row = q0 + warp * 16 + g;
  float ls[2], dd[2];
  fab_row_stats(ls, dd, lse, D, ((long long) b * NH + h) * T, row, T);
  fab_wait<0>();
  __syncthreads();
  unsigned qf[HS / 16][4], of[HS / 16][4];
#pragma unroll
  for (int kk = 0; kk < HS / 16; kk++) {
    fab_frag_a(qf[kk], sQ, warp * 16, kk * 16);
    fab_frag_a(of[kk], sO, warp * 16, kk * 16);
  }
  const float scale = fab_scale(), sl2 = FAB_LOG2E * scale;
  float acc[HS / 8][4];
#pragma unroll
  for (int j = 0; j < HS / 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  for (int j = 0; j < nk; j++) {
    const kiln_bf16* tK = sK + (j & 1) * BK * FAB_LD;
    const kiln_bf16* tV = sV + (j & 1) * BK * FAB_LD;
    fab_next_kv<BK, NT>(sK, sV, kh, k.st, vh, v.st, j, nk, T);
    float s[BK / 8][4], dp[BK / 8][4];
    fab_scores<BK>(s, qf, tK);
    fab_scores<BK>(dp, of, tV);
    const bool edge = (j + 1) * BK > q0 + warp * 16 || (j + 1) * BK > T;
    fab_ds_rows<BK>(&s[0][0], &dp[0][0], ls, dd, j * BK, row, T, edge, sl2);
    fab_times_tile<BK>(acc, s, tK);
    __syncthreads();
  }
  fab_store_rows<ACC>(H, dq, b, h, row, T, acc, scale);
}

// ---- dk, dv: grid (B*NH/GS, ceil(T / FAB_DKV_ROWS)), FAB_DKV_NT threads, FAB_DKV_SMEM_BYTES; writes dk and dv ----
// Each block owns FAB_DKV_ROWS keys of one kv head and walks the query tiles at or after them, for each of its
// GS query heads (all G of the kv head, or one) in turn: sums in a fixed order, no atomics. Above HS = 64 the dk and
// dv accumulators would not fit the registers together: one walk for dv, then one for dk (S^T computed twice).
template <bool ACC, bool DK, bool DV>
__device__ __forceinline__ void fab_dkdv_walk(kiln_bf16* H, const FabOperand& q, const FabOperand& k, const FabOperand& v, const FabOperand& dy,
                                              const float* __restrict__ lse, const float* __restrict__ D, const FabOperand& dk,
                                              const FabOperand& dv, int T, int NH, int G, int GS) {
  constexpr int BQ = FAB_DKV_BQ, ROWS = FAB_DKV_ROWS, NT = FAB_DKV_NT;
  extern __shared__ __align__(16) unsigned char fab_smem[];
  kiln_bf16* sK = (kiln_bf16*) fab_smem;
  kiln_bf16* sV = sK + ROWS * FAB_LD;
  kiln_bf16* sQ = sV + ROWS * FAB_LD;   // [2][BQ][LD]
  kiln_bf16* sO = sQ + 2 * BQ * FAB_LD;     // dy, [2][BQ][LD]
  float* sL = (float*) (sO + 2 * BQ * FAB_LD);   // lse, [2][BQ]
  float* sD = sL + 2 * BQ;                        // D, [2][BQ]
  const int U = NH / GS;   // blocks a batch row along the heads: kv heads (GS = G) or query heads (GS = 1)
  int bu, tile;
  fab_block(bu, tile);
  const int b = bu / U, u = bu % U, h0 = u * GS, hk = h0 / G;
  const int k0 = tile * ROWS;   // tile 0 (the most query tiles) first
  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
  const int first = k0 / BQ, nq = (T + BQ - 1) / BQ - first, total = GS * nq;
  fab_load_tile<ROWS, NT>(sK, fab_head(H, k, b, hk), k.st, k0, T);
  fab_load_tile<ROWS, NT>(sV, fab_head(H, v, b, hk), v.st, k0, T);
  const kiln_bf16* qh = fab_head(H, q, b, h0);     // the block's first query head; the next ones q.sh apart
  const kiln_bf16* oh = fab_head(H, dy, b, h0);
  const float* lh = lse + ((long long) b * NH + h0) * T;   // likewise T apart
  const float* dh = D + ((long long) b * NH + h0) * T;
  // query tile `it` of the walk (query head h0 + it / nq, tile first + it % nq) into buffer it & 1
  auto load = [&](int it) {
    const int g = it / nq, t0 = (first + it % nq) * BQ, buf = it & 1;
    fab_load_tile<BQ, NT>(sQ + buf * BQ * FAB_LD, qh + g * q.sh, q.st, t0, T);
    fab_load_tile<BQ, NT>(sO + buf * BQ * FAB_LD, oh + g * dy.sh, dy.st, t0, T);
    const long long stat = (long long) g * T;
    for (int i = threadIdx.x; i < BQ; i += NT) {
      const bool valid = t0 + i < T;
      fab_cp4(sL + buf * BQ + i, lh + (valid ? stat + t0 + i : 0), valid);
      fab_cp4(sD + buf * BQ + i, dh + (valid ? stat + t0 + i : 0), valid);
    }
  };
  load(0);
  fab_commit();
  const float scale = fab_scale(), sl2 = FAB_LOG2E * scale;
  float ak[HS / 8][4], av[HS / 8][4];
#pragma unroll
  for (int j = 0; j < HS / 8; j++) {
    ak[j][0] = ak[j][1] = ak[j][2] = ak[j][3] = 0.f;
    av[j][0] = av[j][1] = av[j][2] = av[j][3] = 0.f;
  }
  const int key = k0 + warp * 16 + g;   // this thread's keys: key, key + 8
  for (int it = 0; it < total; it++) {
    const int buf = it & 1, t0 = (first + it % nq) * BQ;
    fab_prefetch(load, it + 1, total);
    __syncthreads();
    const kiln_bf16* tQ = sQ + buf * BQ * FAB_LD;
    const kiln_bf16* tO = sO + buf * BQ * FAB_LD;
    const float* tL = sL + buf * BQ;
    const float* tD = sD + buf * BQ;
    float s[BQ / 8][4];
    fab_scores_smem<BQ>(s, sK, warp * 16, tQ);   // S^T: keys x queries
    const bool edge = t0 < k0 + warp * 16 + 16 || t0 + BQ > T;
    fab_p_cols<BQ>(&s[0][0], tL, key, t0, T, edge, sl2);
    if constexpr (DV) fab_times_tile<BQ>(av, s, tO);   // dv += P^T dy
    if constexpr (DK) {
      float dp[BQ / 8][4];
      fab_scores_smem<BQ>(dp, sV, warp * 16, tO);   // dP^T = V dy^T
      fab_ds_cols<BQ>(&s[0][0], &s[0][0], &dp[0][0], tD);   // dS^T
      fab_times_tile<BQ>(ak, s, tQ);   // dk += dS^T q
    }
    __syncthreads();
  }
  if constexpr (DK) fab_store_rows<ACC>(H, dk, b, u, key, T, ak, scale);
  if constexpr (DV) fab_store_rows<ACC>(H, dv, b, u, key, T, av, 1.f);
}

template <bool ACC>
__device__ void fab_backward_dkdv_mma(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, const float* __restrict__ lse,
                                  const float* __restrict__ D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G, int GS) {
  if constexpr (HS > 64) {
    fab_dkdv_walk<ACC, false, true>(H, q, k, v, dy, lse, D, dk, dv, T, NH, G, GS);
    __syncthreads();   // the second walk reloads the shared tiles
    fab_dkdv_walk<ACC, true, false>(H, q, k, v, dy, lse, D, dk, dv, T, NH, G, GS);
  } else {
    fab_dkdv_walk<ACC, true, true>(H, q, k, v, dy, lse, D, dk, dv, T, NH, G, GS);
  }
}

// ---- the entry points: wgmma at HS 64 on sm_90a, else mma.sync ----
#if FAB_WG
// ---- wgmma kernels (HS 64, sm_90a): one or two warpgroups (128 threads, 64 rows each) a block, the same
// grids as the mma.sync kernels. Tiles are 64 rows x 128 bytes in shared memory, 1024-byte aligned, each row's 16-byte
// chunk c stored at chunk c ^ (row % 8) (the 128-byte swizzle wgmma reads): one tile is a K-major operand
// (k = the head dim: Q, K, V, dy in S = Q K^T, dP = dy V^T and their transposes) or an N-major one (k = the
// rows: K in dS K, V in P V, dy in P^T dy, Q in dS^T Q) through two descriptors. S, dP and the accumulators
// are wgmma accumulators (warp w: rows 16w + g, 16w + g + 8, columns 8j + 2q, + 1, g = lane / 4, q = lane % 4),
// the layout of the mma.sync C fragments above; P and dS, rounded to bf16, are the A operand from registers
// (the m16n8k16 A fragment of each warp's 16 rows). Every batch of wgmma is waited for before its results
// are read and before the tiles it read are overwritten (no wgmma in flight across a __syncthreads).
// With several warpgroups (FAB_*_WGS > 1) warpgroup w owns rows (forward, dq) or keys (dkdv) 64w.. of the
// block's, all the block's threads load the tiles they all read, and a warpgroup skips the tiles the causal
// mask empties for it (the forward's and dq's key tiles past its diagonal, dkdv's query tiles before its
// keys) but still meets every __syncthreads.
static_assert(FAB_FWD_WGS <= 4 && FAB_DQ_WGS <= 4 && FAB_DKV_WGS <= 4, "the wgmma kernels take one to four warpgroups a block");

// d (64 x 64 fp32, the accumulator layout) (+)= A (64 x 16, shared, descriptor da) * B (16 x 64, shared, descriptor db);
// TB: B is N-major (1) or K-major (0); acc 0: d is overwritten
template <int TB>
__device__ __forceinline__ void fab_wg_ss(float* d, unsigned long long da, unsigned long long db, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %34, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, %35; }"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
               : "l"(da), "l"(db), "r"(acc), "n"(TB));
}
// the same with A from registers (each warp its 16 rows, the mma.sync m16n8k16 A fragment)
template <int TB>
__device__ __forceinline__ void fab_wg_rs(float* d, const unsigned* a, unsigned long long db) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, %37; }"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(TB));
}

// shared-memory descriptors of a 128-byte-swizzled tile: K-major (8-row groups 1024 bytes apart), and
// N-major (one 64-element block along N; 16-row k steps 2048 bytes apart)
__device__ __forceinline__ unsigned long long fab_desc_k(unsigned addr) {
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}
__device__ __forceinline__ unsigned long long fab_desc_n(unsigned addr) {
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | ((unsigned long long) (8192 >> 4) << 16) | (64ull << 32) | (1ull << 62);
}
__device__ __forceinline__ void fab_wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void fab_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void fab_wg_wait() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
// the compiler may not move reads of d above the wait, nor writes below the next issue
__device__ __forceinline__ void fab_wg_hold(float* d) {
#pragma unroll
  for (int i = 0; i < 32; i++) asm volatile("" : "+f"(d[i]) :: "memory");
}
// cp.async's writes visible to wgmma (the async proxy), then to the whole block
__device__ __forceinline__ void fab_wg_ready() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  __syncthreads();
}
// 64 rows x HS (rows t0.., zero past T unless !CHECK: all 64 are known to be there; rows st apart) into a swizzled
// tile, by NT threads. STRIDED: thread i copies chunk i % 8 of rows i / 8 + k NT / 8, whose swizzled place moves by
// whole rows (NT / 8 is a multiple of 8): one address of each kind a call and constant steps, where the loop over i
// (the other form) computes each chunk's row, swizzle and 64-bit address (the forward's ALU pipe was its busiest,
// ncu); dkdv keeps the loop (at 168 registers the strided form's addresses spill). -DFAB_STRIDED=0: the loop everywhere
#ifndef FAB_STRIDED
#define FAB_STRIDED 1
#endif
template <int NT, bool CHECK = true, bool STRIDED = (FAB_STRIDED && 512 % NT == 0)>
__device__ __forceinline__ void fab_load_sw(unsigned char* s, const kiln_bf16* head, long long st, int t0, int T) {
  if constexpr (STRIDED) {
    static_assert(512 % NT == 0, "the strided tile load takes 64, 128, 256 or 512 threads");
    constexpr int STEP = NT / 8;   // rows a pass
    const int r0 = threadIdx.x >> 3, c = threadIdx.x & 7;
    unsigned char* d = s + r0 * 128 + ((c ^ (r0 & 7)) << 4);
    const kiln_bf16* src = head + (long long) (t0 + r0) * st + c * 8;
#pragma unroll
    for (int k = 0; k < 512 / NT; k++) {
      const bool valid = !CHECK || t0 + r0 + k * STEP < T;
      fab_cp16(d + k * STEP * 128, valid ? src + k * STEP * st : head, valid);
    }
  } else {
#pragma unroll
    for (int i = threadIdx.x; i < 64 * 8; i += NT) {
      const int r = i >> 3, c = i & 7, t = t0 + r;
      const bool valid = !CHECK || t < T;
      fab_cp16(s + r * 128 + ((c ^ (r & 7)) << 4), head + (valid ? (long long) t * st + c * 8 : 0), valid);
    }
  }
}
// the dynamic shared memory, 1024-byte aligned
__device__ __forceinline__ unsigned char* fab_wg_smem() {
  extern __shared__ __align__(16) unsigned char fab_smem[];
  return fab_smem + ((1024 - (fab_smem_addr(fab_smem) & 1023)) & 1023);
}
// d = (64 rows of tile a) . (64 rows of tile b)^T over HS (both K-major)
__device__ __forceinline__ void fab_wg_scores(float* d, const unsigned char* a, const unsigned char* b) {
  const unsigned long long da = fab_desc_k(fab_smem_addr(a)), db = fab_desc_k(fab_smem_addr(b));
#pragma unroll
  for (int kk = 0; kk < 4; kk++) fab_wg_ss<0>(d, da + 2 * kk, db + 2 * kk, kk);
}
// p (64 x 64, accumulator layout) rounded to bf16 as the A operand from registers: a[kk] for columns 16kk..
// (written before the wgmma.fence that precedes the wgmma reading them)
__device__ __forceinline__ void fab_wg_pack(unsigned (*a)[4], const float* p) {
#pragma unroll
  for (int kk = 0; kk < 4; kk++) {
    a[kk][0] = fab_pack(p[8 * kk], p[8 * kk + 1]);
    a[kk][1] = fab_pack(p[8 * kk + 2], p[8 * kk + 3]);
    a[kk][2] = fab_pack(p[8 * kk + 4], p[8 * kk + 5]);
    a[kk][3] = fab_pack(p[8 * kk + 6], p[8 * kk + 7]);
#pragma unroll
    for (int i = 0; i < 4; i++) asm volatile("" : "+r"(a[kk][i]) :: "memory");
  }
}
// d += a (64 x 64, packed by fab_wg_pack) . tile b (64 rows = k, N-major)
__device__ __forceinline__ void fab_wg_times(float* d, const unsigned (*a)[4], const unsigned char* b) {
  const unsigned long long db = fab_desc_n(fab_smem_addr(b));
#pragma unroll
  for (int kk = 0; kk < 4; kk++) fab_wg_rs<1>(d, a[kk], db + 128 * kk);
}

// this thread's warpgroup (its 64 rows of the block) and warp in it
__device__ __forceinline__ int fab_wgi() { return threadIdx.x >> 7; }
__device__ __forceinline__ int fab_wg_warp() { return (threadIdx.x >> 5) & 3; }
// key tiles of 64 that query rows r0..r0+63 see under the causal mask (none where r0 >= T)
__device__ __forceinline__ int fab_wg_keytiles(int r0, int T) { return r0 < T ? (min(r0 + 64, T) + 63) / 64 : 0; }

// ---- the forward: 64 query rows a block (one warpgroup: FAB_FWD_WGS 1). The keys left of the block's diagonal
// come in tiles of FAB_FWD_BN (64 or 128; a 64 one where 64 are left), unmasked; the diagonal 64 x 64 tile last,
// masked. K and V double-buffered. The softmax works on raw scores: the row max of the raw scores, then
// p = 2^(s sl2 - m) as one FMA and one ex2, and the output is rescaled only where a warp's row max grew.
// FAB_FWD_POLY n: of each 8 column blocks of 8 on the unmasked tiles, n take 2^x from a cubic on the FMA pipe
// instead of ex2 (MUFU: 16 a clock an SM, the forward's narrowest pipe at HS 64). FAB_FWD_OVL: the P V product
// of a tile stays in flight under the next tile's S = Q K^T (one wgmma wait a tile instead of two).
static_assert(FAB_FWD_WGS == 1, "the wgmma forward takes one warpgroup a block");
static_assert(FAB_FWD_BN == 64 || FAB_FWD_BN == 128, "the wgmma forward's key tiles are 64 or 128 keys");

// d (64 x 128 fp32) (+)= A (64 x 16, shared, K-major) * B (16 x 128, shared, K-major); acc 0: d is overwritten
__device__ __forceinline__ void fab_wg_ss128(float* d, unsigned long long da, unsigned long long db, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %66, 0; wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0; }"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
               : "l"(da), "l"(db), "r"(acc));
}
// 2^x for x <= 0 on the FMA pipe: x = j + f (j an integer, |f| <= 1/2), 2^f from a cubic (relative error
// 7.5e-5, below a bf16 ulp's 3.9e-3; the row sums stay within it), times 2^j through the exponent bits;
// x below -126 gives 2^-126 (never a masked score: the masked tile takes ex2)
__device__ __forceinline__ float fab_ex2_poly(float x) {
  x = fmaxf(x, -126.f);
  const float t = x + 12582912.f;         // 1.5 * 2^23: j in t's low mantissa bits
  const float f = x - (t - 12582912.f);
  float p = fmaf(0.055171653f, f, 0.24261115f);
  p = fmaf(p, f, 0.69326097f);
  p = fmaf(p, f, 0.99992806f);
  return __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23));
}
// one key tile of the forward's online softmax (N keys from key0; rows row, row + 8 of this thread): the raw
// scores s (N/8 accumulator blocks) to p in place, masked where EDGE (keys after the row or past T); m: the
// rows' running max in units of sl2 (base 2), l: the thread's partial row sums, o rescaled where m grew
template <int N, bool EDGE>
__device__ __forceinline__ void fab_fwd_softmax(float* s, float* m, float* l, float* o, int key0, int row, int T, float sl2) {
  const int c = 2 * (threadIdx.x & 3);
  float alpha[2];
  bool grew = false;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    float mx = fab_neg_inf();
#pragma unroll
    for (int n = 0; n < N / 8; n++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        float& x = s[4 * n + 2 * half + e];
        if (EDGE) {
          const int key = key0 + n * 8 + c + e;
          if (key > row + half * 8 || key >= T) x = fab_neg_inf();
        }
        mx = fmaxf(mx, x);
      }
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float mn = fmaxf(m[half], mx * sl2);
    grew |= mn > m[half];
    const float base = mn == fab_neg_inf() ? 0.f : mn;
    alpha[half] = fab_ex2(m[half] - base);
    m[half] = mn;
    float sum = 0.f;
#pragma unroll
    for (int n = 0; n < N / 8; n++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        float& x = s[4 * n + 2 * half + e];
        const float a = fmaf(x, sl2, -base);
        x = (!EDGE && (n & 7) < FAB_FWD_POLY) ? fab_ex2_poly(a) : fab_ex2(a);
        sum += x;
      }
    }
    l[half] = l[half] * alpha[half] + sum;
  }
  if (__any_sync(0xffffffffu, grew)) {
#pragma unroll
    for (int d = 0; d < HS / 8; d++) {
      o[4 * d] *= alpha[0];
      o[4 * d + 1] *= alpha[0];
      o[4 * d + 2] *= alpha[1];
      o[4 * d + 3] *= alpha[1];
    }
  }
}
// the forward's key steps: step i's first key and its key count (FAB_FWD_BN or 64); the last is the diagonal tile
__device__ __forceinline__ int fab_fwd_key0(int i, int nbig) { return i < nbig ? i * FAB_FWD_BN : nbig * FAB_FWD_BN + (i - nbig) * 64; }
// S = Q K^T of one step (N keys of the K tile at sk), issued and committed (not waited for)
template <int N>
__device__ __forceinline__ void fab_fwd_scores(float* s, const unsigned char* sq, const unsigned char* sk) {
  const unsigned long long da = fab_desc_k(fab_smem_addr(sq)), db = fab_desc_k(fab_smem_addr(sk));
  fab_wg_fence();
#pragma unroll
  for (int kk = 0; kk < 4; kk++) {
    if constexpr (N == 128) fab_wg_ss128(s, da + 2 * kk, db + 2 * kk, kk);
    else fab_wg_ss<0>(s, da + 2 * kk, db + 2 * kk, kk);
  }
  fab_wg_commit();
}
// o += P V of one step: p (N/8 accumulator blocks) rounded into pa, then N/16 register-A wgmma over the V tile at sv
template <int N>
__device__ __forceinline__ void fab_fwd_pv(float* o, unsigned (*pa)[4], const float* p, const unsigned char* sv) {
#pragma unroll
  for (int kk = 0; kk < N / 16; kk++) {
    pa[kk][0] = fab_pack(p[8 * kk], p[8 * kk + 1]);
    pa[kk][1] = fab_pack(p[8 * kk + 2], p[8 * kk + 3]);
    pa[kk][2] = fab_pack(p[8 * kk + 4], p[8 * kk + 5]);
    pa[kk][3] = fab_pack(p[8 * kk + 6], p[8 * kk + 7]);
#pragma unroll
    for (int i = 0; i < 4; i++) asm volatile("" : "+r"(pa[kk][i]) :: "memory");
  }
  fab_wg_hold(o);
  fab_wg_fence();
  const unsigned long long db = fab_desc_n(fab_smem_addr(sv));
#pragma unroll
  for (int kk = 0; kk < N / 16; kk++) fab_wg_rs<1>(o, pa[kk], db + 128 * kk);
  fab_wg_commit();
}
template <int N>
__device__ __forceinline__ void fab_wg_hold_n(float* d) {
#pragma unroll
  for (int i = 0; i < N / 2; i++) asm volatile("" : "+f"(d[i]) :: "memory");
}
// one step: S, the softmax, P V (waited for unless FAB_FWD_OVL)
template <int N, bool EDGE>
__device__ __forceinline__ void fab_fwd_step(const unsigned char* sq, const unsigned char* sk, const unsigned char* sv, float* m, float* l,
                                             float* o, unsigned (*pa)[4], int key0, int row, int T, float sl2, const kiln_bf16* kh,
                                             long long kst, const kiln_bf16* vh, long long vst, unsigned char* nk, unsigned char* nv, int nkey0, int nrows) {
  float s[N / 2];
  fab_fwd_scores<N>(s, sq, sk);
  fab_wg_wait();   // S, and (FAB_FWD_OVL) the previous step's P V
  fab_wg_hold_n<N>(s);
  fab_wg_hold(o);
#if FAB_FWD_OVL
  // every warp's previous P V is done with the other buffers: the next step's tiles may go there
  __syncthreads();
  if (nrows > 0) {
    if (nrows == 128) {
      fab_load_sw<FAB_FWD_NT, false>(nk, kh, kst, nkey0, T); fab_load_sw<FAB_FWD_NT, false>(nk + 8192, kh, kst, nkey0 + 64, T);
      fab_load_sw<FAB_FWD_NT, false>(nv, vh, vst, nkey0, T); fab_load_sw<FAB_FWD_NT, false>(nv + 8192, vh, vst, nkey0 + 64, T);
    } else {
      fab_load_sw<FAB_FWD_NT>(nk, kh, kst, nkey0, T);
      fab_load_sw<FAB_FWD_NT>(nv, vh, vst, nkey0, T);
    }
    fab_commit();
  }
#endif
  fab_fwd_softmax<N, EDGE>(s, m, l, o, key0, row, T, sl2);
  fab_fwd_pv<N>(o, pa, s, sv);
#if !FAB_FWD_OVL
  fab_wg_wait();
  fab_wg_hold(o);
#endif
}
__device__ void fab_forward(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand y, float* __restrict__ lse,
                            int B, int T, int NH, int G) {
  constexpr int TILE = FAB_FWD_BN * 128;   // bytes of one K or V buffer
  unsigned char* sm = fab_wg_smem();
  unsigned char* sQ = sm;
  unsigned char* sK = sm + 8192;              // [2] buffers
  unsigned char* sV = sm + 8192 + 2 * TILE;   // [2] buffers
  int bh, tile;
  fab_block(bh, tile);
  const int b = bh / NH, h = bh % NH, hk = h / G;
  const int q0 = (gridDim.y - 1 - tile) * 64;   // the longest rows first
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = 2 * (lane & 3);
  // steps: nbig tiles of FAB_FWD_BN keys, 64-key tiles up to q0, the diagonal tile
  const int nbig = q0 / FAB_FWD_BN, ns = nbig + (q0 - nbig * FAB_FWD_BN) / 64 + 1;
  const kiln_bf16* kh = fab_head(H, k, b, hk);
  const kiln_bf16* vh = fab_head(H, v, b, hk);
  auto load = [&](int i) {   // step i's K and V into buffer i & 1
    unsigned char* nk = sK + (i & 1) * TILE;
    unsigned char* nv = sV + (i & 1) * TILE;
    const int key0 = fab_fwd_key0(i, nbig);
    if (i == ns - 1) {   // the diagonal tile: rows past T are zeros
      fab_load_sw<FAB_FWD_NT>(nk, kh, k.st, key0, T);
      fab_load_sw<FAB_FWD_NT>(nv, vh, v.st, key0, T);
    } else {             // keys before q0 < T
      fab_load_sw<FAB_FWD_NT, false>(nk, kh, k.st, key0, T);
      fab_load_sw<FAB_FWD_NT, false>(nv, vh, v.st, key0, T);
      if (FAB_FWD_BN == 128 && i < nbig) {
        fab_load_sw<FAB_FWD_NT, false>(nk + 8192, kh, k.st, key0 + 64, T);
        fab_load_sw<FAB_FWD_NT, false>(nv + 8192, vh, v.st, key0 + 64, T);
      }
    }
  };
  fab_load_sw<FAB_FWD_NT>(sQ, fab_head(H, q, b, h), q.st, q0, T);
  load(0);
  fab_commit();
  const float sl2 = FAB_LOG2E * fab_scale();
  float m[2] = {fab_neg_inf(), fab_neg_inf()}, l[2] = {0.f, 0.f};
  float o[32];
#pragma unroll
  for (int i = 0; i < 32; i++) o[i] = 0.f;
  unsigned pa[FAB_FWD_BN / 16][4];
  const int row = q0 + warp * 16 + g;   // this thread's rows: row, row + 8
  for (int i = 0; i < ns; i++) {
#if FAB_FWD_OVL
    fab_wait<0>();
    const int nrows = i + 1 < ns ? (i + 1 < nbig ? FAB_FWD_BN : 64) : 0;
    unsigned char* nk = sK + ((i + 1) & 1) * TILE;
    unsigned char* nv = sV + ((i + 1) & 1) * TILE;
    const int nkey0 = fab_fwd_key0(i + 1, nbig);
#else
    if (i + 1 < ns) {
      load(i + 1);
      fab_commit();
      fab_wait<1>();
    } else {
      fab_wait<0>();
    }
    const int nrows = 0;
    unsigned char* nk = nullptr;
    unsigned char* nv = nullptr;
    const int nkey0 = 0;
#endif
    fab_wg_ready();
    const unsigned char* tk = sK + (i & 1) * TILE;
    const unsigned char* tv = sV + (i & 1) * TILE;
    const int key0 = fab_fwd_key0(i, nbig);
    if (i == ns - 1)
      fab_fwd_step<64, true>(sQ, tk, tv, m, l, o, pa, key0, row, T, sl2, kh, k.st, vh, v.st, nk, nv, nkey0, nrows);
    else if (FAB_FWD_BN == 128 && i < nbig)
      fab_fwd_step<FAB_FWD_BN, false>(sQ, tk, tv, m, l, o, pa, key0, row, T, sl2, kh, k.st, vh, v.st, nk, nv, nkey0, nrows);
    else
      fab_fwd_step<64, false>(sQ, tk, tv, m, l, o, pa, key0, row, T, sl2, kh, k.st, vh, v.st, nk, nv, nkey0, nrows);
#if !FAB_FWD_OVL
    __syncthreads();   // the next load overwrites this step's buffers
#endif
  }
#if FAB_FWD_OVL
  fab_wg_wait();
  fab_wg_hold(o);
#endif
#pragma unroll
  for (int half = 0; half < 2; half++) {
    l[half] += __shfl_xor_sync(0xffffffffu, l[half], 1);
    l[half] += __shfl_xor_sync(0xffffffffu, l[half], 2);
    const float inv = 1.f / l[half];
#pragma unroll
    for (int d = 0; d < 8; d++) { o[4 * d + 2 * half] *= inv; o[4 * d + 2 * half + 1] *= inv; }
    const int t = row + half * 8;
    if (c == 0 && t < T) lse[((long long) b * NH + h) * T + t] = (m[half] + __log2f(l[half])) * FAB_LN2;
  }
  fab_store_rows<false>(H, y, b, h, row, T, reinterpret_cast<const float (*)[4]>(o), 1.f);
}
// dq: FAB_DQ_ROWS query rows a block (64 a warpgroup), key tiles of 64 (K and V double-buffered)
template <bool ACC>
__device__ void fab_backward_dq(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, const float* __restrict__ lse,
                                const float* __restrict__ D, FabOperand dq, int B, int T, int NH, int G) {
  constexpr int WGS = FAB_DQ_WGS, NT = 128 * WGS, ROWS = 64 * WGS;
  unsigned char* sm = fab_wg_smem();
  unsigned char* sQ = sm;                              // [FAB_DQ_WGS] tiles
  unsigned char* sO = sm + WGS * 8192;             // dy, [FAB_DQ_WGS] tiles
  unsigned char* sK = sm + 2 * WGS * 8192;         // [2] tiles
  unsigned char* sV = sm + (2 * WGS + 2) * 8192;   // [2] tiles
  int bh, tile;
  fab_block(bh, tile);
  const int b = bh / NH, h = bh % NH, hk = h / G;
  const int q0 = (gridDim.y - 1 - tile) * ROWS;
  const int wg = fab_wgi(), qw = q0 + 64 * wg;
  const int warp = fab_wg_warp(), g = (threadIdx.x & 31) >> 2;
  const int nk = (min(q0 + ROWS, T) + 63) / 64, nkw = fab_wg_keytiles(qw, T);
  const kiln_bf16* kh = fab_head(H, k, b, hk);
  const kiln_bf16* vh = fab_head(H, v, b, hk);
#pragma unroll
  for (int w = 0; w < WGS; w++) {
    fab_load_sw<NT>(sQ + w * 8192, fab_head(H, q, b, h), q.st, q0 + 64 * w, T);
    fab_load_sw<NT>(sO + w * 8192, fab_head(H, dy, b, h), dy.st, q0 + 64 * w, T);
  }
  fab_load_sw<NT>(sK, kh, k.st, 0, T);
  fab_load_sw<NT>(sV, vh, v.st, 0, T);
  fab_commit();
  const int row = qw + warp * 16 + g;
  float ls[2], dd[2];
  fab_row_stats(ls, dd, lse, D, ((long long) b * NH + h) * T, row, T);
  const float scale = fab_scale(), sl2 = FAB_LOG2E * scale;
  float acc[32];
#pragma unroll
  for (int i = 0; i < 32; i++) acc[i] = 0.f;
  for (int j = 0; j < nk; j++) {
    if (j + 1 < nk) {
      fab_load_sw<NT>(sK + ((j + 1) & 1) * 8192, kh, k.st, (j + 1) * 64, T);
      fab_load_sw<NT>(sV + ((j + 1) & 1) * 8192, vh, v.st, (j + 1) * 64, T);
      fab_commit();
      fab_wait<1>();
    } else {
      fab_wait<0>();
    }
    fab_wg_ready();
    if (j >= nkw) {   // past this warpgroup's diagonal
      __syncthreads();
      continue;
    }
    const unsigned char* tK = sK + (j & 1) * 8192;
    float s[32], dp[32];
    fab_wg_fence();
    fab_wg_scores(s, sQ + wg * 8192, tK);
    fab_wg_scores(dp, sO + wg * 8192, sV + (j & 1) * 8192);
    fab_wg_commit();
    fab_wg_wait();
    fab_wg_hold(s);
    fab_wg_hold(dp);
    const bool edge = (j + 1) * 64 > qw + warp * 16 || (j + 1) * 64 > T;
    fab_ds_rows<64>(s, dp, ls, dd, j * 64, row, T, edge, sl2);
    unsigned da[4][4];
    fab_wg_pack(da, s);
    fab_wg_hold(acc);
    fab_wg_fence();
    fab_wg_times(acc, da, tK);
    fab_wg_commit();
    fab_wg_wait();
    fab_wg_hold(acc);
    __syncthreads();
  }
  fab_store_rows<ACC>(H, dq, b, h, row, T, (const float (*)[4]) acc, scale);
}

// dk, dv: FAB_DKV_ROWS keys of one kv head a block (64 a warpgroup); query tiles of 64 (Q, dy, lse, D
// double-buffered) at or after them, for each of the block's GS query heads in turn (fixed order, no atomics).
// (Three Q/dy buffers, one __syncthreads a tile, measured no faster: docs/perf.md "attn2".)
template <bool ACC>
__device__ void fab_backward_dkdv(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, const float* __restrict__ lse,
                                  const float* __restrict__ D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G, int GS) {
  constexpr int WGS = FAB_DKV_WGS, NT = 128 * WGS, ROWS = 64 * WGS;
  unsigned char* sm = fab_wg_smem();
  unsigned char* sK = sm;                          // [FAB_DKV_WGS] tiles
  unsigned char* sV = sm + WGS * 8192;             // [FAB_DKV_WGS] tiles
  unsigned char* sQ = sm + 2 * WGS * 8192;         // [2] tiles
  unsigned char* sO = sm + (2 * WGS + 2) * 8192;   // dy, [2] tiles
  float* sL = (float*) (sm + (2 * WGS + 4) * 8192);   // lse, [2][64]
  float* sD = sL + 2 * 64;                            // D, [2][64]
  const int U = NH / GS;   // blocks a batch row along the heads: kv heads (GS = G) or query heads (GS = 1)
  int bu, tile;
  fab_block(bu, tile);
  const int b = bu / U, u = bu % U, h0 = u * GS, hk = h0 / G;
  const int k0 = tile * ROWS;   // tile 0 (the most query tiles) first
  const int wg = fab_wgi(), kw = k0 + 64 * wg;
  const int warp = fab_wg_warp(), g = (threadIdx.x & 31) >> 2;
  const int first = k0 / 64, nq = (T + 63) / 64 - first, total = GS * nq;
  // the first query tile (of each head's walk) this warpgroup's keys see; none where kw >= T
  const int mine = kw < T ? kw / 64 - first : nq;
#pragma unroll
  for (int w = 0; w < WGS; w++) {
    fab_load_sw<NT, true, false>(sK + w * 8192, fab_head(H, k, b, hk), k.st, k0 + 64 * w, T);
    fab_load_sw<NT, true, false>(sV + w * 8192, fab_head(H, v, b, hk), v.st, k0 + 64 * w, T);
  }
  const kiln_bf16* qh = fab_head(H, q, b, h0);     // the block's first query head; the next ones q.sh apart
  const kiln_bf16* oh = fab_head(H, dy, b, h0);
  const float* lh = lse + ((long long) b * NH + h0) * T;   // likewise T apart
  const float* dh = D + ((long long) b * NH + h0) * T;
  // query tile `it` of the walk (query head h0 + it / nq, tile first + it % nq) into buffer it & 1
  auto load = [&](int it) {
    const int gi = it / nq, t0 = (first + it % nq) * 64, buf = it & 1;
    fab_load_sw<NT, true, false>(sQ + buf * 8192, qh + gi * q.sh, q.st, t0, T);
    fab_load_sw<NT, true, false>(sO + buf * 8192, oh + gi * dy.sh, dy.st, t0, T);
    const long long stat = (long long) gi * T;
    if (threadIdx.x < 64) {
      const int i = threadIdx.x;
      const bool valid = t0 + i < T;
      fab_cp4(sL + buf * 64 + i, lh + (valid ? stat + t0 + i : 0), valid);
      fab_cp4(sD + buf * 64 + i, dh + (valid ? stat + t0 + i : 0), valid);
    }
  };
  load(0);
  fab_commit();
  const float scale = fab_scale(), sl2 = FAB_LOG2E * scale;
  float ak[32], av[32];
#pragma unroll
  for (int i = 0; i < 32; i++) ak[i] = av[i] = 0.f;
  const int key = kw + warp * 16 + g;   // this thread's keys: key, key + 8
  for (int it = 0; it < total; it++) {
    const int buf = it & 1, t0 = (first + it % nq) * 64;
    fab_prefetch(load, it + 1, total);
    fab_wg_ready();
    if (it % nq < mine) {   // queries before this warpgroup's keys
      __syncthreads();
      continue;
    }
    const unsigned char* tQ = sQ + buf * 8192;
    const unsigned char* tO = sO + buf * 8192;
    const float* tL = sL + buf * 64;
    const float* tD = sD + buf * 64;
    const bool edge = t0 < kw + warp * 16 + 16 || t0 + 64 > T;
    float s[32], dp[32];
    fab_wg_fence();
    fab_wg_scores(s, sK + wg * 8192, tQ);    // S^T: keys x queries
    fab_wg_scores(dp, sV + wg * 8192, tO);   // dP^T = V dy^T
    fab_wg_commit();
    fab_wg_wait();
    fab_wg_hold(s);
    fab_wg_hold(dp);
    fab_p_cols<64>(s, tL, key, t0, T, edge, sl2);
    fab_ds_cols<64>(dp, s, dp, tD);   // dS^T
    unsigned pa[4][4], da[4][4];
    fab_wg_pack(pa, s);
    fab_wg_pack(da, dp);
    fab_wg_hold(av);
    fab_wg_hold(ak);
    fab_wg_fence();
    fab_wg_times(av, pa, tO);   // dv += P^T dy
    fab_wg_times(ak, da, tQ);   // dk += dS^T q
    fab_wg_commit();
    fab_wg_wait();
    fab_wg_hold(av);
    fab_wg_hold(ak);
    __syncthreads();   // the next load overwrites this tile's buffers
  }
  fab_store_rows<ACC>(H, dk, b, u, key, T, (const float (*)[4]) ak, scale);
  fab_store_rows<ACC>(H, dv, b, u, key, T, (const float (*)[4]) av, 1.f);
}
#else
__device__ void fab_forward(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand y, float* __restrict__ lse,
                            int B, int T, int NH, int G) {
  fab_forward_mma(H, q, k, v, y, lse, B, T, NH, G);
}
template <bool ACC>
__device__ void fab_backward_dq(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, const float* __restrict__ lse,
                                const float* __restrict__ D, FabOperand dq, int B, int T, int NH, int G) {
  fab_backward_dq_mma<ACC>(H, q, k, v, dy, lse, D, dq, B, T, NH, G);
}
template <bool ACC>
__device__ void fab_backward_dkdv(kiln_bf16* H, FabOperand q, FabOperand k, FabOperand v, FabOperand dy, const float* __restrict__ lse,
                                  const float* __restrict__ D, FabOperand dk, FabOperand dv, int B, int T, int NH, int G, int GS) {
  fab_backward_dkdv_mma<ACC>(H, q, k, v, dy, lse, D, dk, dv, B, T, NH, G, GS);
}
#endif

#endif
