// Prototype (harness only, issue 13): dq from the dS that dkdv computes, instead of dq recomputing S and dP.
// dkdv (built with FAB_DS_STORE = fab_ds_store) writes each (query tile, key tile) pair's dS^T, 64 keys x 64 queries of bf16
// row-major, to fab_ds_w: per (b, h) the nT (nT + 1) / 2 tiles of the causal triangle, query tile i's key tiles j <= i at
// i (i + 1) / 2 + j. fab_dq_from_ds then sums dq = scale * sum_j dS_ij K_j with one product a pair (A = dS^T's tile read
// M-major, B = K's tile N-major, both through the 128-byte-swizzled shared-memory tiles the other kernels use), no
// exponentials, no lse or D: deterministic, in key-tile order. Workspace: B NH nT (nT + 1) / 2 x 8 KB (418 MB at GPT-2 B=32).
#ifndef KILN_DQ_FROM_DS
#define KILN_DQ_FROM_DS
__device__ kiln_bf16* fab_ds_w;   // set by the harness (cuModuleGetGlobal)

__device__ __forceinline__ long long fab_ds_tile(int b, int h, int i, int j, int T, int NH) {
  const long long nT = (T + 63) / 64;
  return (((long long) b * NH + h) * (nT * (nT + 1) / 2) + (long long) i * (i + 1) / 2 + j) * 4096;
}
// this thread's part of a 64 x 64 dS^T (the A fragments fab_wg_pack made: rows 16 w + g (+8), columns 16 kk + 2 q (+8)),
// staged in shared memory (rows 144 bytes apart: the 4-byte stores hit 32 banks), then copied out in 16-byte pieces, a
// row's 128 bytes by 8 threads (one warpgroup a block: the block's barrier is the warpgroup's)
#define FAB_DS_STAGE_BYTES (64 * 144)
__device__ __forceinline__ void fab_ds_store(int b, int h, int i, int j, int T, int NH, const unsigned (*da)[4], unsigned char* stage) {
  const int w = fab_wg_warp(), g = (threadIdx.x & 31) >> 2, q = threadIdx.x & 3;
  const int r = 16 * w + g;
  unsigned* s = (unsigned*) stage;
#pragma unroll
  for (int kk = 0; kk < 4; kk++) {
    s[r * 36 + 8 * kk + q] = da[kk][0];
    s[(r + 8) * 36 + 8 * kk + q] = da[kk][1];
    s[r * 36 + 8 * kk + 4 + q] = da[kk][2];
    s[(r + 8) * 36 + 8 * kk + 4 + q] = da[kk][3];
  }
  __syncthreads();
  uint4* t = (uint4*) (fab_ds_w + fab_ds_tile(b, h, i, j, T, NH));
#pragma unroll
  // streaming stores (evict first): 418 MB a layer at GPT-2 B=32 that would otherwise push the Q and dy tiles out of L2
  for (int x = threadIdx.x; x < 512; x += 128) __stcs(t + x, *(const uint4*) (stage + (x >> 3) * 144 + (x & 7) * 16));
}

// d += A (64 x 16, shared, M-major: descriptor da) * B (16 x 64, shared, N-major: db)
__device__ __forceinline__ void fab_wg_ss_tt(float* d, unsigned long long da, unsigned long long db) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 1, 1; }"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
               : "l"(da), "l"(db));
}

// grid (B NH, nT), 128 threads, FAB_DQDS_SMEM_BYTES: query tile (nT - 1 - blockIdx.y) of head blockIdx.x (the longest first),
// its key tiles in order, dS^T and K double-buffered
#define FAB_DQDS_SMEM_BYTES (1024 + 4 * 8192)
template <bool ACC>
__device__ void fab_dq_from_ds(kiln_bf16* H, FabOperand k, FabOperand dq, int B, int T, int NH, int G) {
  unsigned char* sm = fab_wg_smem();
  unsigned char* sS = sm;              // [2] dS^T tiles
  unsigned char* sK = sm + 2 * 8192;   // [2] K tiles
  int bh, tile;
  fab_block(bh, tile);
  const int b = bh / NH, h = bh % NH, hk = h / G;
  const int i = gridDim.y - 1 - tile, q0 = 64 * i;
  const int warp = fab_wg_warp(), g = (threadIdx.x & 31) >> 2;
  const kiln_bf16* kh = fab_head(H, k, b, hk);
  const kiln_bf16* ds = fab_ds_w + fab_ds_tile(b, h, i, 0, T, NH);
  fab_load_sw<128, false>(sS, ds, 64, 0, 64);
  fab_load_sw<128>(sK, kh, k.st, 0, T);
  fab_commit();
  float acc[32];
#pragma unroll
  for (int x = 0; x < 32; x++) acc[x] = 0.f;
  for (int j = 0; j <= i; j++) {
    if (j < i) {
      fab_load_sw<128, false>(sS + ((j + 1) & 1) * 8192, ds + (long long) (j + 1) * 4096, 64, 0, 64);
      fab_load_sw<128>(sK + ((j + 1) & 1) * 8192, kh, k.st, (j + 1) * 64, T);
      fab_commit();
      fab_wait<1>();
    } else {
      fab_wait<0>();
    }
    fab_wg_ready();
    const unsigned long long da = fab_desc_n(fab_smem_addr(sS + (j & 1) * 8192)), db = fab_desc_n(fab_smem_addr(sK + (j & 1) * 8192));
    fab_wg_hold(acc);
    fab_wg_fence();
#pragma unroll
    for (int kk = 0; kk < 4; kk++) fab_wg_ss_tt(acc, da + 128 * kk, db + 128 * kk);
    fab_wg_commit();
    fab_wg_wait();
    fab_wg_hold(acc);
    __syncthreads();   // the next load overwrites this pair's buffers
  }
  fab_store_rows<ACC>(H, dq, b, h, q0 + warp * 16 + g, T, (const float (*)[4]) acc, fab_scale());
}
#endif
