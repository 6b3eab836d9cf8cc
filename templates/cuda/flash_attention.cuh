#ifndef KILN_FLASH_ATTENTION
#define KILN_FLASH_ATTENTION
// Fused causal self-attention (flash-attention style) for the "attention", "attention_dq" and
// "attention_dkdv" externs (kiln.codegen.Externs, kiln.codegen.FlashAttention): fp32 SIMT or TF32
// mma.sync, forward + deterministic backward. Device functions only, included by the entry points
// of attention.cu.ftl; no #include, NVRTC-compatible (C++17 for `if constexpr`).
//
// Operands (float32): each of q, k, v, y, dy, dq, dk, dv is an fa_operand, element (b, t, h, d) at
// p[b*sb + t*st + h*sh + d], the head dim contiguous (kiln.codegen.AttentionLayout derives them: GPT-2's
// packed (B, T, 3, NH, HS) qkv and Llama's RoPE'd (B, NKV, G, T, HS) heads are two stride sets).
// NH query heads; query head h reads key/value head h / G (G = 1: multi-head, G = NH: multi-query).
//   lse, D (B, NH, T) contiguous; lse[b,h,t] = ln sum_{s<=t} exp(q_t.k_s * scale), scale = 1/sqrt(HS);
//   D[b,h,t] = sum_d dy*y, computed before the backward kernels (a DSL compute).
//
// Kernels (see bottom of file for launch configuration summary):
//   flash_attn_fwd      (q, k, v, y, lse, T, NH, G)              grid (B*NH, query tiles)
//   flash_attn_bwd_dq   (q, k, v, dy, lse, D, dq, T, NH, G)      grid (B*NH, query tiles)
//   flash_attn_bwd_dkdv (q, k, v, dy, lse, D, dk, dv, T, NH, G, GB)  grid (B*NH/GB, key tiles): a block owns a
//       key tile of one key/value head and sums over GB of its query heads in order in registers; dk, dv
//       have NH/GB heads (GB = G: the key/value heads; GB = 1: one partial per query head, which the
//       caller sums over the group in order).
//   dq and dkdv are independent of each other. No atomics: deterministic.
//
// Compile-time knobs (all -D overridable):
//   HS            head size, multiple of 4 (tested 16, 32, 48, 64)
//   FA_ACCUMULATE (or ACCUMULATE) 0: dq, dk, dv = grad ; 1: dq, dk, dv += grad
//   FA_VEC_GLOBAL 1: float4 global loads/stores (all pointers must be 16-byte aligned); 0: scalar
//   FA_FWD_BQ / FA_FWD_BK / FA_FWD_RM / FA_FWD_MINB   forward: query tile, key tile, rows per thread, min blocks/SM
//   FA_DQ_BQ  / FA_DQ_BK  / FA_DQ_RM  / FA_DQ_MINB    dq kernel: same meaning
//   FA_DKV_BK / FA_DKV_BQ / FA_DKV_RM / FA_DKV_MINB   dkdv kernel: key tile (rows), query tile (cols), rows/thread
// Validity (checked by static_assert): the "column" tile C (FWD_BK, DQ_BK, DKV_BQ) is split into TX=C/4 threads
// with 4 columns each; the "row" tile R (FWD_BQ, DQ_BQ, DKV_BK) into R/RM threads.
//   RM in {1,2,4,8}, R % RM == 0, C % 4 == 0, TX a power of two <= 32, HS % TX == 0,
//   threads NT = TX * R/RM must be a multiple of 32 and <= 1024.
//   e.g. (R,C,RM) = (64,64,4) -> 256 thr, (64,64,8) -> 128 thr, (128,64,8) -> 256 thr, (32,64,4) -> 128 thr,
//        (64,32,4) -> 128 thr (needs HS % 8 == 0), (128,128,8) -> 512 thr (HS % 32 == 0).
//   FA_UNROLL (default 8) unroll factor of the inner smem loops; must divide HS and the tile sizes.
// TF32 tensor-core mode (FA_TF32=1 fwd, FA_TF32_BWD=1 bwd, default = FA_TF32): needs HS % 8 == 0,
//   FA_FWD_BK, FA_DQ_BK, FA_DKV_BQ multiples of 8 (defaults 64, 64, 32); FA_TC_WARPS warps/block (default 4,
//   block = 32*FA_TC_WARPS threads, row tile = 16*FA_TC_WARPS); FA_*_RM ignored. Accuracy ~1e-3 (TF32 inputs).
//   ALL sizes/threads/smem are given by the FA_*_NT / FA_*_SMEM_BYTES / FA_*_BQ / FA_DKV_BK macros below.

#ifndef HS
#define HS 64
#endif
#if defined(ACCUMULATE) && !defined(FA_ACCUMULATE)
#define FA_ACCUMULATE ACCUMULATE
#endif
#ifndef FA_ACCUMULATE
#define FA_ACCUMULATE 0
#endif
#ifndef FA_VEC_GLOBAL
#define FA_VEC_GLOBAL 1
#endif

// FA_TF32=1: forward uses TF32 tensor cores (mma.sync m16n8k8 via inline PTX), FA_TC_WARPS warps per block,
// 16 query (or key) rows per warp. FA_TF32_BWD (default = FA_TF32) does the same for the dq and dkdv kernels.
// In TF32 mode FA_FWD_BQ = FA_DQ_BQ = FA_DKV_BK = 16*FA_TC_WARPS (overridden), RM is ignored.
#ifndef FA_TF32
#define FA_TF32 0
#endif
#ifndef FA_TF32_BWD
#define FA_TF32_BWD FA_TF32
#endif
#ifndef FA_TC_WARPS
#define FA_TC_WARPS 4
#endif
// FA_DKV_WIDE=1 (TF32 backward only, meant for HS > 64): the dkdv kernel keeps K and V in shared memory and
// runs two groups of FA_TC_WARPS warps over a key tile's query heads (see that kernel).
#ifndef FA_DKV_WIDE
#define FA_DKV_WIDE 0
#endif
// FA_DKV_CLUSTER=G (TF32 backward only, sm_90 thread-block clusters, meant for few key/value heads): the dkdv
// grid runs over query heads (call with GB = 1) in clusters of the G query heads of one key/value head; each
// block sums its head's dk, dv in registers, and the cluster adds the G tiles in head order through distributed
// shared memory, writing dk, dv of the key/value head once (no per-query-head partials in global memory).
// The entry point carries __cluster_dims__(FA_DKV_CLUSTER, 1, 1). 0: off.
#ifndef FA_DKV_CLUSTER
#define FA_DKV_CLUSTER 0
#endif
// FA_DQ_WIDE=1 (TF32 backward only, meant for HS > 64): the dq kernel reads the dO fragments of its query rows
// from a shared-memory tile instead of holding them in registers (HS/2 registers a thread fewer: no spills).
#ifndef FA_DQ_WIDE
#define FA_DQ_WIDE 0
#endif

#ifndef FA_FWD_BQ
#define FA_FWD_BQ 64
#endif
#ifndef FA_FWD_BK
#define FA_FWD_BK 64
#endif
#ifndef FA_FWD_RM
#define FA_FWD_RM 4
#endif
#ifndef FA_FWD_MINB
#define FA_FWD_MINB 2
#endif
#ifndef FA_DQ_BQ
#define FA_DQ_BQ 64
#endif
#ifndef FA_DQ_BK
#define FA_DQ_BK 64
#endif
#ifndef FA_DQ_RM
#define FA_DQ_RM 4
#endif
#ifndef FA_DQ_MINB
#define FA_DQ_MINB 2
#endif
#ifndef FA_DKV_BK
#define FA_DKV_BK 64
#endif
#ifndef FA_DKV_BQ
#if FA_TF32_BWD
#define FA_DKV_BQ 32
#else
#define FA_DKV_BQ 64
#endif
#endif
#ifndef FA_DKV_RM
#define FA_DKV_RM 4
#endif
#ifndef FA_DKV_MINB
#define FA_DKV_MINB 2
#endif

// threads per block and dynamic shared memory (bytes) of each kernel
#if FA_TF32
#undef FA_FWD_BQ
#define FA_FWD_BQ (16 * FA_TC_WARPS)
#define FA_FWD_NT (32 * FA_TC_WARPS)
#define FA_FWD_SMEM_BYTES (4 * 2 * FA_FWD_BK * (HS + 4))
#else
#define FA_FWD_NT ((FA_FWD_BK / 4) * (FA_FWD_BQ / FA_FWD_RM))
#define FA_FWD_SMEM_BYTES (4 * (HS * FA_FWD_BQ + 2 * HS * FA_FWD_BK + FA_FWD_BK * (FA_FWD_BQ + 4)))
#endif
#if FA_TF32_BWD
#undef FA_DQ_BQ
#define FA_DQ_BQ (16 * FA_TC_WARPS)
#undef FA_DKV_BK
#define FA_DKV_BK (16 * FA_TC_WARPS)
#define FA_DQ_NT (32 * FA_TC_WARPS)
#define FA_DQ_SMEM_BYTES (4 * 2 * FA_DQ_BK * (HS + 4) + (FA_DQ_WIDE ? 4 * FA_DQ_BQ * (HS + 4) : 0))
#if FA_DKV_WIDE
#define FA_DKV_NT (64 * FA_TC_WARPS)
#define FA_DKV_SMEM_BYTES (4 * (2 * FA_DKV_BK * (HS + 4) + 2 * (2 * FA_DKV_BQ * (HS + 4) + 2 * FA_DKV_BQ)))
#elif FA_DKV_CLUSTER
#define FA_DKV_NT (32 * FA_TC_WARPS)
// the Q, dO tiles, or at the end the block's dk, dv tile [2][BK][HS] that the cluster reads
#define FA_DKV_SMEM_BYTES (4 * (2 * FA_DKV_BQ * (HS + 4) + 2 * FA_DKV_BQ) > 4 * 2 * FA_DKV_BK * HS \
                               ? 4 * (2 * FA_DKV_BQ * (HS + 4) + 2 * FA_DKV_BQ) : 4 * 2 * FA_DKV_BK * HS)
#else
#define FA_DKV_NT (32 * FA_TC_WARPS)
#define FA_DKV_SMEM_BYTES (4 * (2 * FA_DKV_BQ * (HS + 4) + 2 * FA_DKV_BQ))
#endif
#else
#define FA_DQ_NT ((FA_DQ_BK / 4) * (FA_DQ_BQ / FA_DQ_RM))
#define FA_DQ_SMEM_BYTES (4 * (2 * HS * FA_DQ_BQ + 3 * HS * FA_DQ_BK + FA_DQ_BK * (FA_DQ_BQ + 4)))
#define FA_DKV_NT ((FA_DKV_BQ / 4) * (FA_DKV_BK / FA_DKV_RM))
#define FA_DKV_SMEM_BYTES (4 * (2 * HS * FA_DKV_BK + 2 * HS * FA_DKV_BQ + 2 * FA_DKV_BQ * (FA_DKV_BK + 4) + 2 * FA_DKV_BQ))
#endif
#ifndef FA_UNROLL
#define FA_UNROLL 8  // unroll factor of the inner smem matmul loops (must divide HS and the tile sizes)
#endif

#if !FA_TF32 || !FA_TF32_BWD
constexpr int fa_unroll = FA_UNROLL;  // (#pragma unroll needs an ICE, not a macro)
#endif

#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

__device__ __forceinline__ float fa_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float fa_neg_inf() { return __int_as_float(0xff800000); }

// ---- shared-memory vector helpers (pointer must be aligned to the vector width) ----
template <int N>
__device__ __forceinline__ void fa_lds(float* r, const float* p) {
    if constexpr (N % 4 == 0) {
#pragma unroll
        for (int i = 0; i < N / 4; ++i) {
            float4 v = reinterpret_cast<const float4*>(p)[i];
            r[4 * i] = v.x; r[4 * i + 1] = v.y; r[4 * i + 2] = v.z; r[4 * i + 3] = v.w;
        }
    } else if constexpr (N % 2 == 0) {
#pragma unroll
        for (int i = 0; i < N / 2; ++i) {
            float2 v = reinterpret_cast<const float2*>(p)[i];
            r[2 * i] = v.x; r[2 * i + 1] = v.y;
        }
    } else {
#pragma unroll
        for (int i = 0; i < N; ++i) r[i] = p[i];
    }
}
template <int N>
__device__ __forceinline__ void fa_sts(float* p, const float* r) {
    if constexpr (N % 4 == 0) {
#pragma unroll
        for (int i = 0; i < N / 4; ++i)
            reinterpret_cast<float4*>(p)[i] = make_float4(r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
    } else if constexpr (N % 2 == 0) {
#pragma unroll
        for (int i = 0; i < N / 2; ++i) reinterpret_cast<float2*>(p)[i] = make_float2(r[2 * i], r[2 * i + 1]);
    } else {
#pragma unroll
        for (int i = 0; i < N; ++i) p[i] = r[i];
    }
}
// One attention operand: element (b, t, h, d) at p[b*sb + t*st + h*sh + d], in floats.
struct fa_operand {
    float* p;
    long long sb, st, sh;
};

// global store of N contiguous floats, '=' or '+=' (ACC)
template <int N, bool ACC>
__device__ __forceinline__ void fa_stg(float* p, const float* r) {
    if constexpr (FA_VEC_GLOBAL && N % 4 == 0) {
#pragma unroll
        for (int i = 0; i < N / 4; ++i) {
            float4 v = make_float4(r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
            if constexpr (ACC) {
                float4 o = reinterpret_cast<float4*>(p)[i];
                v.x += o.x; v.y += o.y; v.z += o.z; v.w += o.w;
            }
            reinterpret_cast<float4*>(p)[i] = v;
        }
    } else if constexpr (FA_VEC_GLOBAL && N % 2 == 0) {
#pragma unroll
        for (int i = 0; i < N / 2; ++i) {
            float2 v = make_float2(r[2 * i], r[2 * i + 1]);
            if constexpr (ACC) {
                float2 o = reinterpret_cast<float2*>(p)[i];
                v.x += o.x; v.y += o.y;
            }
            reinterpret_cast<float2*>(p)[i] = v;
        }
    } else {
#pragma unroll
        for (int i = 0; i < N; ++i) {
            if constexpr (ACC) p[i] += r[i];
            else p[i] = r[i];
        }
    }
}
__device__ __forceinline__ float4 fa_ldg4(const float* p) {
#if FA_VEC_GLOBAL
    return *reinterpret_cast<const float4*>(p);
#else
    return make_float4(p[0], p[1], p[2], p[3]);
#endif
}

// ---- tile loaders: rows r0 .. r0+R-1 of a (T, HS) matrix with row stride rs; rows >= T are zero-filled ----
// natural layout: dst[r*HS + d]
template <int R, int NT>
__device__ __forceinline__ void fa_load_nat(float* dst, const float* __restrict__ src, long long rs, int r0, int T,
                                            int tid) {
    constexpr int V = HS / 4, TOT = R * V, IT = (TOT + NT - 1) / NT;
    float4 tmp[IT];
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid;
        const int r = i / V, c = i % V;
        tmp[it] = make_float4(0.f, 0.f, 0.f, 0.f);
        if ((TOT % NT == 0 || i < TOT) && r0 + r < T) tmp[it] = fa_ldg4(src + (long long)(r0 + r) * rs + 4 * c);
    }
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid;
        if (TOT % NT == 0 || i < TOT) reinterpret_cast<float4*>(dst)[i] = tmp[it];
    }
}
// transposed layout: dst[d*R + r] = f * src[r][d]
template <int R, int NT>
__device__ __forceinline__ void fa_load_tr(float* dst, const float* __restrict__ src, long long rs, int r0, int T,
                                           int tid, float f) {
    constexpr int V = HS / 4, TOT = R * V, IT = (TOT + NT - 1) / NT;
    float4 tmp[IT];
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid;
        const int r = i % R, c = i / R;
        tmp[it] = make_float4(0.f, 0.f, 0.f, 0.f);
        if ((TOT % NT == 0 || i < TOT) && r0 + r < T) tmp[it] = fa_ldg4(src + (long long)(r0 + r) * rs + 4 * c);
    }
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid;
        const int r = i % R, c = i / R;
        if (TOT % NT == 0 || i < TOT) {
            dst[(4 * c + 0) * R + r] = tmp[it].x * f;
            dst[(4 * c + 1) * R + r] = tmp[it].y * f;
            dst[(4 * c + 2) * R + r] = tmp[it].z * f;
            dst[(4 * c + 3) * R + r] = tmp[it].w * f;
        }
    }
}

#define FA_CHECK_CFG(R, C, RM, NT)                                                                          \
    static_assert(HS % 4 == 0, "HS must be a multiple of 4");                                               \
    static_assert((C) % 4 == 0, "column tile must be a multiple of 4");                                     \
    static_assert(((C) / 4) <= 32 && (((C) / 4) & ((C) / 4 - 1)) == 0, "C/4 must be a power of 2 <= 32");   \
    static_assert(HS % ((C) / 4) == 0, "HS must be divisible by C/4");                                      \
    static_assert((RM) == 1 || (RM) == 2 || (RM) == 4 || (RM) == 8, "RM in {1,2,4,8}");                     \
    static_assert((R) % (RM) == 0, "row tile must be a multiple of RM");                                    \
    static_assert((NT) % 32 == 0 && (NT) <= 1024, "threads must be a multiple of 32 and <= 1024");

__device__ __forceinline__ unsigned fa_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}
// c[0..3] += A(16x8, a[0..3]) * B(8x8, b0, b1), tf32 in, f32 accumulate
__device__ __forceinline__ void fa_mma(float* c, const unsigned* a, unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// loads rows k0..k0+R-1 (natural layout) as tf32 bit patterns into dst[r*(HS+4)+d]; rows >= T zero
template <int R, int NT>
__device__ __forceinline__ void fa_load_tc(unsigned* dst, const float* __restrict__ src, long long rs, int k0, int T,
                                           int tid) {
    constexpr int V4 = HS / 4, TOT = R * V4, IT = (TOT + NT - 1) / NT, LD = HS + 4;
    float4 tk[IT];
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid, r = i / V4, c = i % V4;
        tk[it] = make_float4(0.f, 0.f, 0.f, 0.f);
        if ((TOT % NT == 0 || i < TOT) && k0 + r < T) tk[it] = fa_ldg4(src + (long long)(k0 + r) * rs + 4 * c);
    }
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid, r = i / V4, c = i % V4;
        if (TOT % NT == 0 || i < TOT)
            *reinterpret_cast<uint4*>(dst + r * LD + 4 * c) =
                make_uint4(fa_tf32(tk[it].x), fa_tf32(tk[it].y), fa_tf32(tk[it].z), fa_tf32(tk[it].w));
    }
}

// lse (times log2(e)) and D of rows q0 .. q0+BQ-1 of head bh, rows >= T zero (the backward kernels' per-row terms)
template <int BQ, int NT>
__device__ __forceinline__ void fa_load_lse_d(float* sL, float* sD, const float* __restrict__ lse, const float* __restrict__ Dbuf, int bh,
                                              int q0, int T, int tid) {
    for (int i = tid; i < BQ; i += NT) {
        const int r = q0 + i;
        sL[i] = r < T ? lse[(long long)bh * T + r] * FA_LOG2E : 0.f;
        sD[i] = r < T ? Dbuf[(long long)bh * T + r] : 0.f;
    }
}

#if !FA_TF32 || !FA_TF32_BWD
// SIMT: o[i][c] += sum_k a[k*LA + r + i] * b[k*HS + cc + c] over K rows: a thread's RM rows from r by CPT head-dim columns
// from cc (a is a transposed tile with pitch LA, b a natural one)
template <int RM, int CPT, int LA, int K>
__device__ __forceinline__ void fa_product_acc(float (&o)[RM][CPT], const float* a, int r, const float* b, int cc) {
#pragma unroll fa_unroll
    for (int k = 0; k < K; ++k) {
        float x[RM], y[CPT];
        fa_lds<RM>(x, a + k * LA + r);
        fa_lds<CPT>(y, b + k * HS + cc);
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int c = 0; c < CPT; ++c) o[i][c] = fmaf(x[i], y[c], o[i][c]);
    }
}
#endif

#if !FA_TF32_BWD
// SIMT: rows r0 .. r0+RM-1 (those before T) of a thread's RM x CPT block x, times f, to p (rows st apart) from column c,
// '=' or '+=' (FA_ACCUMULATE)
template <int RM, int CPT>
__device__ __forceinline__ void fa_store_rows(float* p, long long st, int r0, int T, int c, const float (&x)[RM][CPT], float f) {
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        const int r = r0 + i;
        if (r < T) {
            float t[CPT];
#pragma unroll
            for (int j = 0; j < CPT; ++j) t[j] = x[i][j] * f;
            fa_stg<CPT, FA_ACCUMULATE != 0>(p + r * st + c, t);
        }
    }
}
// SIMT: s[i][j] = sum_d x[d*LR + r + i] * y[d*LC + c + j] and p[i][j] = sum_d u[d*LR + r + i] * w[d*LC + c + j] over the
// head dim: a thread's RM rows from r by 4 columns from c, of two transposed tile pairs in shared memory (x, u pitch LR; y, w LC)
template <int RM, int LR, int LC>
__device__ __forceinline__ void fa_two_products(float (&s)[RM][4], float (&p)[RM][4], const float* x, const float* u, int r, const float* y,
                                                const float* w, int c) {
#pragma unroll
    for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) s[i][j] = p[i][j] = 0.f;
#pragma unroll fa_unroll
    for (int d = 0; d < HS; ++d) {
        float a[RM], g[RM], b[4], e[4];
        fa_lds<RM>(a, x + d * LR + r);
        fa_lds<RM>(g, u + d * LR + r);
        fa_lds<4>(b, y + d * LC + c);
        fa_lds<4>(e, w + d * LC + c);
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                s[i][j] = fmaf(a[i], b[j], s[i][j]);
                p[i][j] = fmaf(g[i], e[j], p[i][j]);
            }
    }
}
#endif

// A tf32 A fragment (m16n8k8) of rows r0 and r1 = r0 + 8 of a (T, HS) operand with row stride rs, times f: columns c
// and c + 4 (c = 8*k-step + lane%4); rows >= T zero
__device__ __forceinline__ void fa_frag_a(unsigned (&a)[4], const float* p, long long rs, int r0, int r1, int T, int c, float f) {
    a[0] = fa_tf32(r0 < T ? p[(long long)r0 * rs + c] * f : 0.f);
    a[1] = fa_tf32(r1 < T ? p[(long long)r1 * rs + c] * f : 0.f);
    a[2] = fa_tf32(r0 < T ? p[(long long)r0 * rs + c + 4] * f : 0.f);
    a[3] = fa_tf32(r1 < T ? p[(long long)r1 * rs + c + 4] * f : 0.f);
}

// The opening of a query-tile kernel (forward, dq), in its scope: tiles of BQ query rows, the heaviest (the last) first;
// block bh = b*NH + h of query head h and its key/value head kvh; q, k, v at those heads with their row strides; the
// softmax scale
#define FA_QUERY_TILE_BLOCK(BQ)                                                  \
    const int nqt = (T + (BQ) - 1) / (BQ);                                      \
    const int q0 = (nqt - 1 - (int)blockIdx.y) * (BQ);                          \
    const int bh = blockIdx.x, b = bh / NH, h = bh % NH, kvh = h / G;           \
    const long long rsq = q.st, rsk = k.st, rsv = v.st;                          \
    const float* qb = q.p + b * q.sb + h * q.sh;                                \
    const float* kb = k.p + b * k.sb + kvh * k.sh;                              \
    const float* vb = v.p + b * v.sb + kvh * v.sh;                              \
    const float scale = 1.0f / sqrtf((float)HS);
// The opening of a dkdv kernel, in its scope: key tile k0 (tile 0, the most query tiles, first); block `part` of the NH/GB
// parts of batch row b, query heads h0 .. h0+GB-1 of key/value head kvh (with clusters: G == FA_DKV_CLUSTER, GB == 1);
// k, v at kvh and the row strides of q, k, v, dy; the softmax scale; nqt query tiles of BQ rows; the output dk and dv at
// head oh (a cluster writes its key/value head, else the block's part)
#define FA_KEY_TILE_BLOCK(BK, BQ)                                                                                      \
    const int k0 = (int)blockIdx.y * (BK);                                                                            \
    const int parts = NH / GB, b = (int)blockIdx.x / parts, part = (int)blockIdx.x % parts, h0 = part * GB, kvh = h0 / G; \
    if (FA_DKV_CLUSTER && (G != FA_DKV_CLUSTER || GB != 1)) __trap();                                                 \
    const long long rsq = q.st, rsk = k.st, rsv = v.st, rsy = dy.st;                                                  \
    const float* kb = k.p + b * k.sb + kvh * k.sh;                                                                    \
    const float* vb = v.p + b * v.sb + kvh * v.sh;                                                                    \
    const float scale = 1.0f / sqrtf((float)HS);                                                                      \
    const int nqt = (T + (BQ) - 1) / (BQ);                                                                            \
    const int oh = FA_DKV_CLUSTER ? kvh : part;                                                                       \
    float* dkb = dk_out.p + b * dk_out.sb + oh * dk_out.sh;                                                           \
    float* dvb = dv_out.p + b * dv_out.sb + oh * dv_out.sh;
// In a dkdv kernel's loop over its query heads (gi of GB): head h, its row bh of lse and D, and q and dy at h
#define FA_DKDV_QUERY_HEAD(gi)                                                  \
    const int h = h0 + (gi), bh = b * NH + h;                                   \
    const float* qb = q.p + b * q.sb + h * q.sh;                                \
    const float* gb = dy.p + b * dy.sb + h * dy.sh;

// TF32 query-tile kernels: the key loop's K and V rows k0 .. k0+BK-1 into shared memory (fa_load_tc), between barriers
template <int BK, int NT>
__device__ __forceinline__ void fa_load_kv_tc(unsigned* sK, unsigned* sV, const float* kb, long long rsk, const float* vb, long long rsv,
                                              int k0, int T, int tid) {
    __syncthreads();
    fa_load_tc<BK, NT>(sK, kb, rsk, k0, T, tid);
    fa_load_tc<BK, NT>(sV, vb, rsv, k0, T, tid);
    __syncthreads();
}

// TF32: acc += x . s, x a thread's C fragments of 16 rows by 8*NJ keys (as tf32 A fragments), s the NJ*8 key rows of a
// tile (tf32, pitch HS + 4)
template <int NJ, int NO>
__device__ __forceinline__ void fa_tc_times_tile(float (&acc)[NO][4], const float (&x)[NJ][4], const unsigned* s, int g, int t4) {
    constexpr int LD = HS + 4;
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const unsigned pa[4] = {fa_tf32(x[j][0]), fa_tf32(x[j][2]), fa_tf32(x[j][1]), fa_tf32(x[j][3])};
        const unsigned* p = s + (j * 8 + 2 * t4) * LD + g;
#pragma unroll
        for (int n = 0; n < NO; ++n) fa_mma(acc[n], pa, p[n * 8], p[LD + n * 8]);
    }
}

#if !FA_TF32
// =====================================================================================================
// Forward. grid = (B*NH, ceil(T/FA_FWD_BQ)), block = FA_FWD_NT, dyn smem = FA_FWD_SMEM_BYTES
// Thread (ty, tx) owns query rows ty*RM .. +RM-1 of the tile, score columns tx*4 .. +3, output cols tx*CPT .. +CPT-1
// =====================================================================================================
__device__ __forceinline__ void flash_attn_fwd(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand y,
                                               float* __restrict__ lse, int T, int NH, int G) {
    constexpr int BQ = FA_FWD_BQ, BK = FA_FWD_BK, RM = FA_FWD_RM, TX = BK / 4, NT = FA_FWD_NT;
    constexpr int CPT = HS / TX, LDP = BQ + 4;
    FA_CHECK_CFG(BQ, BK, RM, NT)
    extern __shared__ float4 fa_smem4[];
    float* sQt = reinterpret_cast<float*>(fa_smem4);  // [HS][BQ], pre-scaled by scale*log2(e)
    float* sKt = sQt + HS * BQ;                         // [HS][BK]
    float* sV = sKt + HS * BK;                          // [BK][HS]
    float* sPt = sV + BK * HS;                          // [BK][LDP]
    const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
    FA_QUERY_TILE_BLOCK(BQ)
    float* yb = y.p + b * y.sb + h * y.sh;

    fa_load_tr<BQ, NT>(sQt, qb, rsq, q0, T, tid, scale * FA_LOG2E);

    float o[RM][CPT], m[RM], l[RM];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        m[i] = fa_neg_inf();
        l[i] = 0.f;
#pragma unroll
        for (int c = 0; c < CPT; ++c) o[i][c] = 0.f;
    }
    const int nkt = min((T + BK - 1) / BK, (q0 + BQ - 1) / BK + 1);
    const int qr = q0 + ty * RM;
    for (int kt = 0; kt < nkt; ++kt) {
        const int k0 = kt * BK;
        __syncthreads();
        fa_load_tr<BK, NT>(sKt, kb, rsk, k0, T, tid, 1.f);
        fa_load_nat<BK, NT>(sV, vb, rsv, k0, T, tid);
        __syncthreads();
        float s[RM][4];
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) s[i][j] = 0.f;
#pragma unroll fa_unroll
        for (int d = 0; d < HS; ++d) {
            float a[RM], kk[4];
            fa_lds<RM>(a, sQt + d * BQ + ty * RM);
            fa_lds<4>(kk, sKt + d * BK + tx * 4);
#pragma unroll
            for (int i = 0; i < RM; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) s[i][j] = fmaf(a[i], kk[j], s[i][j]);
        }
        const int kc = k0 + tx * 4;
#pragma unroll
        for (int i = 0; i < RM; ++i) {
            float mx = fa_neg_inf();
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                if (kc + j > qr + i) s[i][j] = fa_neg_inf();
                mx = fmaxf(mx, s[i][j]);
            }
#pragma unroll
            for (int off = TX / 2; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float mn = fmaxf(m[i], mx);  // finite: key 0 is in the first tile for every row
            const float alpha = fa_ex2(m[i] - mn);
            m[i] = mn;
            l[i] *= alpha;
#pragma unroll
            for (int c = 0; c < CPT; ++c) o[i][c] *= alpha;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                s[i][j] = fa_ex2(s[i][j] - mn);
                l[i] += s[i][j];
            }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            float t[RM];
#pragma unroll
            for (int i = 0; i < RM; ++i) t[i] = s[i][j];
            fa_sts<RM>(sPt + (tx * 4 + j) * LDP + ty * RM, t);
        }
        __syncthreads();
        fa_product_acc<RM, CPT, LDP, BK>(o, sPt, ty * RM, sV, tx * CPT);
    }
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        float ls = l[i];
#pragma unroll
        for (int off = TX / 2; off > 0; off >>= 1) ls += __shfl_xor_sync(0xffffffffu, ls, off);
        const int r = qr + i;
        if (r < T) {
            const float inv = 1.0f / ls;
            float t[CPT];
#pragma unroll
            for (int c = 0; c < CPT; ++c) t[c] = o[i][c] * inv;
            fa_stg<CPT, false>(yb + r * y.st + tx * CPT, t);
            if (tx == 0) lse[(long long)bh * T + r] = (m[i] + log2f(ls)) * FA_LN2;
        }
    }
}

#else  // FA_TF32
// =====================================================================================================
// Forward, TF32 tensor cores. grid = (B*NH, ceil(T/FA_FWD_BQ)), block = FA_FWD_NT = 32*FA_TC_WARPS,
// dyn smem = FA_FWD_SMEM_BYTES. Warp w owns query rows 16w..16w+15 of the tile; Q fragments live in registers;
// K and V tiles (tf32 bit patterns, row stride HS+4 -> conflict-free fragment loads) in shared memory.
// P goes from the S accumulator layout straight into the A-fragment layout of the PV mma by permuting the
// 8 keys of each k-step (logical k=t <-> key 2t, k=t+4 <-> key 2t+1) and reading V rows accordingly.
// =====================================================================================================
__device__ __forceinline__ void flash_attn_fwd(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand y,
                                               float* __restrict__ lse, int T, int NH, int G) {
    constexpr int BQ = FA_FWD_BQ, BK = FA_FWD_BK, NT = FA_FWD_NT, LD = HS + 4;
    constexpr int KS = HS / 8, NJ = BK / 8, NO = HS / 8;
    static_assert(HS % 8 == 0, "TF32 path needs HS % 8 == 0");
    static_assert(BK % 8 == 0, "TF32 path needs FA_FWD_BK % 8 == 0");
    extern __shared__ float4 fa_smem4[];
    unsigned* sK = reinterpret_cast<unsigned*>(fa_smem4);  // [BK][LD]
    unsigned* sV = sK + BK * LD;                            // [BK][LD]
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    FA_QUERY_TILE_BLOCK(BQ)
    float* yb = y.p + b * y.sb + h * y.sh;
    const float qs = scale * FA_LOG2E;
    const int wr = q0 + warp * 16;
    const int r0 = wr + g, r1 = r0 + 8;

    unsigned qa[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        const int c = ks * 8 + t4;
        fa_frag_a(qa[ks], qb, rsq, r0, r1, T, c, qs);
    }
    float o[NO][4];
#pragma unroll
    for (int n = 0; n < NO; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = fa_neg_inf(), m1 = fa_neg_inf(), l0 = 0.f, l1 = 0.f;

    const int nkt = min((T + BK - 1) / BK, (q0 + BQ - 1) / BK + 1);
    for (int kt = 0; kt < nkt; ++kt) {
        const int k0 = kt * BK;
        fa_load_kv_tc<BK, NT>(sK, sV, kb, rsk, vb, rsv, k0, T, tid);
        if (k0 > wr + 15) continue;  // whole tile above the diagonal for this warp (only when BK > 16-row slabs)
        float s[NJ][4];
#pragma unroll
        for (int j = 0; j < NJ; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < KS; ++ks)
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const unsigned* p = sK + (j * 8 + g) * LD + ks * 8 + t4;
                fa_mma(s[j], qa[ks], p[0], p[4]);
            }
        if (k0 + BK - 1 > wr) {
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const int c = k0 + j * 8 + 2 * t4;
                if (c > r0) s[j][0] = fa_neg_inf();
                if (c + 1 > r0) s[j][1] = fa_neg_inf();
                if (c > r1) s[j][2] = fa_neg_inf();
                if (c + 1 > r1) s[j][3] = fa_neg_inf();
            }
        }
        float mx0 = fa_neg_inf(), mx1 = fa_neg_inf();
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);  // finite: key 0 is in tile 0
        const float a0 = fa_ex2(m0 - mn0), a1 = fa_ex2(m1 - mn1);
        m0 = mn0; m1 = mn1; l0 *= a0; l1 *= a1;
#pragma unroll
        for (int n = 0; n < NO; ++n) { o[n][0] *= a0; o[n][1] *= a0; o[n][2] *= a1; o[n][3] *= a1; }
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            s[j][0] = fa_ex2(s[j][0] - mn0); s[j][1] = fa_ex2(s[j][1] - mn0);
            s[j][2] = fa_ex2(s[j][2] - mn1); s[j][3] = fa_ex2(s[j][3] - mn1);
            l0 += s[j][0] + s[j][1];
            l1 += s[j][2] + s[j][3];
        }
        fa_tc_times_tile<NJ, NO>(o, s, sV, g, t4);
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = 1.0f / l0, i1 = 1.0f / l1;
#pragma unroll
    for (int n = 0; n < NO; ++n) {
        const int c = n * 8 + 2 * t4;
        if (r0 < T) {
            float t[2] = {o[n][0] * i0, o[n][1] * i0};
            fa_stg<2, false>(yb + r0 * y.st + c, t);
        }
        if (r1 < T) {
            float t[2] = {o[n][2] * i1, o[n][3] * i1};
            fa_stg<2, false>(yb + r1 * y.st + c, t);
        }
    }
    if (t4 == 0) {
        if (r0 < T) lse[(long long)bh * T + r0] = (m0 + log2f(l0)) * FA_LN2;
        if (r1 < T) lse[(long long)bh * T + r1] = (m1 + log2f(l1)) * FA_LN2;
    }
}
#endif  // FA_TF32

#if !FA_TF32_BWD
// =====================================================================================================
// dq. grid = (B*NH, ceil(T/FA_DQ_BQ)), block = FA_DQ_NT, dyn smem = FA_DQ_SMEM_BYTES
// Block owns a query tile, loops over key tiles 0..diag. Thread owns RM query rows x 4 key cols (scores),
// RM rows x CPT head-dim cols (dq).
// =====================================================================================================
__device__ __forceinline__ void flash_attn_bwd_dq(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand dy,
                                                  const float* __restrict__ lse, const float* __restrict__ Dbuf, const fa_operand dq,
                                                  int T, int NH, int G) {
    constexpr int BQ = FA_DQ_BQ, BK = FA_DQ_BK, RM = FA_DQ_RM, TX = BK / 4, NT = FA_DQ_NT;
    constexpr int CPT = HS / TX, LDS_ = BQ + 4;
    FA_CHECK_CFG(BQ, BK, RM, NT)
    extern __shared__ float4 fa_smem4[];
    float* sQt = reinterpret_cast<float*>(fa_smem4);  // [HS][BQ] pre-scaled by scale*log2e
    float* sdOt = sQt + HS * BQ;                        // [HS][BQ]
    float* sKt = sdOt + HS * BQ;                        // [HS][BK]
    float* sVt = sKt + HS * BK;                         // [HS][BK]
    float* sK = sVt + HS * BK;                          // [BK][HS]
    float* sdSt = sK + BK * HS;                         // [BK][LDS_]
    const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
    FA_QUERY_TILE_BLOCK(BQ)
    const long long rsy = dy.st;
    const float* gb = dy.p + b * dy.sb + h * dy.sh;
    float* dqb = dq.p + b * dq.sb + h * dq.sh;

    fa_load_tr<BQ, NT>(sQt, qb, rsq, q0, T, tid, scale * FA_LOG2E);
    fa_load_tr<BQ, NT>(sdOt, gb, rsy, q0, T, tid, 1.f);
    const int qr = q0 + ty * RM;
    float l2[RM], Dr[RM], acc[RM][CPT];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        const int r = qr + i;
        l2[i] = r < T ? lse[(long long)bh * T + r] * FA_LOG2E : 0.f;
        Dr[i] = r < T ? Dbuf[(long long)bh * T + r] : 0.f;
#pragma unroll
        for (int c = 0; c < CPT; ++c) acc[i][c] = 0.f;
    }
    const int nkt = min((T + BK - 1) / BK, (q0 + BQ - 1) / BK + 1);
    for (int kt = 0; kt < nkt; ++kt) {
        const int k0 = kt * BK;
        __syncthreads();
        fa_load_tr<BK, NT>(sKt, kb, rsk, k0, T, tid, 1.f);
        fa_load_tr<BK, NT>(sVt, vb, rsv, k0, T, tid, 1.f);
        fa_load_nat<BK, NT>(sK, kb, rsk, k0, T, tid);
        __syncthreads();
        float s[RM][4], dp[RM][4];
        fa_two_products<RM, BQ, BK>(s, dp, sQt, sdOt, ty * RM, sKt, sVt, tx * 4);
        const int kc = k0 + tx * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            float t[RM];
#pragma unroll
            for (int i = 0; i < RM; ++i) {
                const float p = (kc + j <= qr + i) ? fa_ex2(s[i][j] - l2[i]) : 0.f;
                t[i] = p * (dp[i][j] - Dr[i]);
            }
            fa_sts<RM>(sdSt + (tx * 4 + j) * LDS_ + ty * RM, t);
        }
        __syncthreads();
        fa_product_acc<RM, CPT, LDS_, BK>(acc, sdSt, ty * RM, sK, tx * CPT);
    }
    fa_store_rows<RM, CPT>(dqb, dq.st, qr, T, tx * CPT, acc, scale);
}

// =====================================================================================================
// dk, dv. grid = (B*NH/GB, ceil(T/FA_DKV_BK)), block = FA_DKV_NT, dyn smem = FA_DKV_SMEM_BYTES
// Block owns a key tile, loops over query tiles from the diagonal to the end. Thread owns RM key rows x 4
// query cols (scores), RM key rows x CPT head-dim cols (dk, dv).
// =====================================================================================================
__device__ __forceinline__ void flash_attn_bwd_dkdv(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand dy,
                                                    const float* __restrict__ lse, const float* __restrict__ Dbuf, const fa_operand dk_out,
                                                    const fa_operand dv_out, int T, int NH, int G, int GB) {
    constexpr int BK = FA_DKV_BK, BQ = FA_DKV_BQ, RM = FA_DKV_RM, TX = BQ / 4, NT = FA_DKV_NT;
    constexpr int CPT = HS / TX, LDP = BK + 4;
    FA_CHECK_CFG(BK, BQ, RM, NT)
    extern __shared__ float4 fa_smem4[];
    float* sKt = reinterpret_cast<float*>(fa_smem4);  // [HS][BK] pre-scaled by scale*log2e
    float* sVt = sKt + HS * BK;                         // [HS][BK]
    float* sA = sVt + HS * BK;                          // Qt [HS][BQ], then Q [BQ][HS]
    float* sB = sA + HS * BQ;                           // dOt [HS][BQ], then dO [BQ][HS]
    float* sP = sB + HS * BQ;                           // [BQ][LDP]
    float* sdS = sP + BQ * LDP;                         // [BQ][LDP]
    float* sL = sdS + BQ * LDP;                         // [BQ] lse*log2e
    float* sD = sL + BQ;                                // [BQ]
    const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
    FA_KEY_TILE_BLOCK(BK, BQ)

    fa_load_tr<BK, NT>(sKt, kb, rsk, k0, T, tid, scale * FA_LOG2E);
    fa_load_tr<BK, NT>(sVt, vb, rsv, k0, T, tid, 1.f);
    float dk[RM][CPT], dv[RM][CPT];
#pragma unroll
    for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int c = 0; c < CPT; ++c) dk[i][c] = dv[i][c] = 0.f;
    const int kr = k0 + ty * RM;
    for (int gi = 0; gi < GB; ++gi) {  // this block's query heads of the key/value head, in order
        FA_DKDV_QUERY_HEAD(gi)
        for (int qt = k0 / BQ; qt < nqt; ++qt) {
            const int q0 = qt * BQ;
            __syncthreads();
            fa_load_tr<BQ, NT>(sA, qb, rsq, q0, T, tid, 1.f);
            fa_load_tr<BQ, NT>(sB, gb, rsy, q0, T, tid, 1.f);
            fa_load_lse_d<BQ, NT>(sL, sD, lse, Dbuf, bh, q0, T, tid);
            __syncthreads();
            float s[RM][4], dp[RM][4];
            fa_two_products<RM, BK, BQ>(s, dp, sKt, sVt, ty * RM, sA, sB, tx * 4);
            float L[4], Dc[4];
            fa_lds<4>(L, sL + tx * 4);
            fa_lds<4>(Dc, sD + tx * 4);
            const int qc = q0 + tx * 4;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                float tp[RM], td[RM];
#pragma unroll
                for (int i = 0; i < RM; ++i) {
                    const bool ok = (qc + j >= kr + i) && (qc + j < T);
                    const float p = ok ? fa_ex2(s[i][j] - L[j]) : 0.f;
                    tp[i] = p;
                    td[i] = p * (dp[i][j] - Dc[j]);
                }
                fa_sts<RM>(sP + (tx * 4 + j) * LDP + ty * RM, tp);
                fa_sts<RM>(sdS + (tx * 4 + j) * LDP + ty * RM, td);
            }
            __syncthreads();
            fa_load_nat<BQ, NT>(sA, qb, rsq, q0, T, tid);
            fa_load_nat<BQ, NT>(sB, gb, rsy, q0, T, tid);
            __syncthreads();
#pragma unroll fa_unroll
            for (int q = 0; q < BQ; ++q) {
                float pp[RM], dd[RM], g[CPT], qq[CPT];
                fa_lds<RM>(pp, sP + q * LDP + ty * RM);
                fa_lds<RM>(dd, sdS + q * LDP + ty * RM);
                fa_lds<CPT>(g, sB + q * HS + tx * CPT);
                fa_lds<CPT>(qq, sA + q * HS + tx * CPT);
#pragma unroll
                for (int i = 0; i < RM; ++i)
#pragma unroll
                    for (int c = 0; c < CPT; ++c) {
                        dv[i][c] = fmaf(pp[i], g[c], dv[i][c]);
                        dk[i][c] = fmaf(dd[i], qq[c], dk[i][c]);
                    }
            }
        }
    }
    fa_store_rows<RM, CPT>(dkb, dk_out.st, kr, T, tx * CPT, dk, scale);
    fa_store_rows<RM, CPT>(dvb, dv_out.st, kr, T, tx * CPT, dv, 1.f);
}

#else  // FA_TF32_BWD
// =====================================================================================================
// dq, TF32 tensor cores. grid = (B*NH, ceil(T/FA_DQ_BQ)), block = FA_DQ_NT = 32*FA_TC_WARPS, smem FA_DQ_SMEM_BYTES
// Warp owns 16 query rows; Q and dO fragments in registers; K, V tiles (FA_DQ_BK keys) in smem.
// FA_DQ_WIDE: the block's dO rows (tf32) stay in smem after K, V and are read as fragments per k-step.
// =====================================================================================================
__device__ __forceinline__ void flash_attn_bwd_dq(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand dy,
                                                  const float* __restrict__ lse, const float* __restrict__ Dbuf, const fa_operand dq,
                                                  int T, int NH, int G) {
    constexpr int BQ = FA_DQ_BQ, BK = FA_DQ_BK, NT = FA_DQ_NT, LD = HS + 4;
    constexpr int KS = HS / 8, NJ = BK / 8, NO = HS / 8;
    static_assert(HS % 8 == 0 && BK % 8 == 0, "TF32 path needs HS % 8 == 0 and FA_DQ_BK % 8 == 0");
    extern __shared__ float4 fa_smem4[];
    unsigned* sK = reinterpret_cast<unsigned*>(fa_smem4);  // [BK][LD]
    unsigned* sV = sK + BK * LD;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    FA_QUERY_TILE_BLOCK(BQ)
    const long long rsy = dy.st;
    const float* gb = dy.p + b * dy.sb + h * dy.sh;
    float* dqb = dq.p + b * dq.sb + h * dq.sh;
    const float qs = scale * FA_LOG2E;
    const int wr = q0 + warp * 16, r0 = wr + g, r1 = r0 + 8;
#if FA_DQ_WIDE
    unsigned* sG = sV + BK * LD;  // [BQ][LD]: this block's dO rows; visible after the first barrier of the key loop
    fa_load_tc<BQ, NT>(sG, gb, rsy, q0, T, tid);
    const unsigned* gp = sG + (warp * 16 + g) * LD + t4;
    unsigned qa[KS][4];
#else
    unsigned qa[KS][4], ga[KS][4];
#endif
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        const int c = ks * 8 + t4;
        fa_frag_a(qa[ks], qb, rsq, r0, r1, T, c, qs);
#if !FA_DQ_WIDE
        fa_frag_a(ga[ks], gb, rsy, r0, r1, T, c, 1.f);
#endif
    }
    const float L0 = r0 < T ? lse[(long long)bh * T + r0] * FA_LOG2E : 0.f;
    const float L1 = r1 < T ? lse[(long long)bh * T + r1] * FA_LOG2E : 0.f;
    const float D0 = r0 < T ? Dbuf[(long long)bh * T + r0] : 0.f;
    const float D1 = r1 < T ? Dbuf[(long long)bh * T + r1] : 0.f;
    float acc[NO][4];
#pragma unroll
    for (int n = 0; n < NO; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    const int nkt = min((T + BK - 1) / BK, (q0 + BQ - 1) / BK + 1);
    for (int kt = 0; kt < nkt; ++kt) {
        const int k0 = kt * BK;
        fa_load_kv_tc<BK, NT>(sK, sV, kb, rsk, vb, rsv, k0, T, tid);
        if (k0 > wr + 15) continue;
        float s[NJ][4], dp[NJ][4];
#pragma unroll
        for (int j = 0; j < NJ; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = dp[j][0] = dp[j][1] = dp[j][2] = dp[j][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < KS; ++ks) {
#if FA_DQ_WIDE
            const unsigned gk[4] = {gp[ks * 8], gp[ks * 8 + 8 * LD], gp[ks * 8 + 4], gp[ks * 8 + 8 * LD + 4]};
#else
            const unsigned* gk = ga[ks];
#endif
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const int off = (j * 8 + g) * LD + ks * 8 + t4;
                fa_mma(s[j], qa[ks], sK[off], sK[off + 4]);
                fa_mma(dp[j], gk, sV[off], sV[off + 4]);
            }
        }
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            const int c = k0 + j * 8 + 2 * t4;
            s[j][0] = c <= r0 ? fa_ex2(s[j][0] - L0) * (dp[j][0] - D0) : 0.f;
            s[j][1] = c + 1 <= r0 ? fa_ex2(s[j][1] - L0) * (dp[j][1] - D0) : 0.f;
            s[j][2] = c <= r1 ? fa_ex2(s[j][2] - L1) * (dp[j][2] - D1) : 0.f;
            s[j][3] = c + 1 <= r1 ? fa_ex2(s[j][3] - L1) * (dp[j][3] - D1) : 0.f;
        }
        fa_tc_times_tile<NJ, NO>(acc, s, sK, g, t4);
    }
#pragma unroll
    for (int n = 0; n < NO; ++n) {
        const int c = n * 8 + 2 * t4;
        if (r0 < T) {
            float t[2] = {acc[n][0] * scale, acc[n][1] * scale};
            fa_stg<2, FA_ACCUMULATE != 0>(dqb + r0 * dq.st + c, t);
        }
        if (r1 < T) {
            float t[2] = {acc[n][2] * scale, acc[n][3] * scale};
            fa_stg<2, FA_ACCUMULATE != 0>(dqb + r1 * dq.st + c, t);
        }
    }
}

#if FA_DKV_CLUSTER
// ---- thread-block cluster helpers (sm_90): barrier, rank, and loads from another block's shared memory ----
__device__ __forceinline__ void fa_cluster_sync() {
    // not .aligned: threads may reach it from a loop of different trip counts
    asm volatile("barrier.cluster.arrive.release;\n\tbarrier.cluster.wait.acquire;" ::: "memory");
}
__device__ __forceinline__ unsigned fa_cluster_rank() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
// p's float4 in the shared memory of the cluster's block `rank`
__device__ __forceinline__ float4 fa_ld_cluster4(const float* p, unsigned rank) {
    unsigned a, m;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(m) : "r"(a), "r"(rank));
    float4 v;
    asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(m) : "memory");
    return v;
}
// Every block of the cluster holds its query head's unscaled dk, dv tile of the key tile at k0 in x ([2][BK][HS]
// floats, dk then dv, shared memory; the ranks are the query heads of one key/value head, in order). Block r sums
// every G-th float4 (from r) over ranks 0, 1, ..., G-1, in that order, and writes dk (times scale), dv; rows >= T
// are left. All NT threads of every block call it (two cluster barriers).
template <int BK, int NT>
__device__ __forceinline__ void fa_cluster_reduce_store(const float* x, float* dkb, long long dkst, float* dvb, long long dvst, int k0,
                                                        int T, float scale, int tid) {
    constexpr int V = HS / 4, PER = BK * V;  // float4s of one tile
    fa_cluster_sync();                       // every block's tile is in its shared memory
    const int rank = (int)fa_cluster_rank();
    for (int i = rank * NT + tid; i < 2 * PER; i += FA_DKV_CLUSTER * NT) {
        float4 s = fa_ld_cluster4(x + 4 * i, 0);
#pragma unroll
        for (int src = 1; src < FA_DKV_CLUSTER; ++src) {
            const float4 o = fa_ld_cluster4(x + 4 * i, (unsigned)src);
            s.x += o.x; s.y += o.y; s.z += o.z; s.w += o.w;
        }
        const int w = i / PER, rem = i % PER, row = rem / V, c = 4 * (rem % V), r = k0 + row;
        if (r >= T) continue;
        if (w == 0) {
            float t[4] = {s.x * scale, s.y * scale, s.z * scale, s.w * scale};
            fa_stg<4, FA_ACCUMULATE != 0>(dkb + (long long)r * dkst + c, t);
        } else {
            float t[4] = {s.x, s.y, s.z, s.w};
            fa_stg<4, FA_ACCUMULATE != 0>(dvb + (long long)r * dvst + c, t);
        }
    }
    fa_cluster_sync();  // no block leaves while another still reads its tile
}
#endif  // FA_DKV_CLUSTER

// ---- the TF32 dkdv kernels' steps (a warp owns 16 keys, rows r0 = wk + g and r1 = r0 + 8 of its m16n8 fragments) ----
// Q and dO rows q0 .. q0+BQ-1 of a query tile as tf32 (fa_load_tc), with their lse (times log2(e)) and D; rows >= T zero
template <int BQ, int NT>
__device__ __forceinline__ void fa_load_dkdv_tile(unsigned* sQ, unsigned* sG, float* sL, float* sD, const float* qb, const float* gb,
                                                  long long rsq, long long rsy, const float* __restrict__ lse,
                                                  const float* __restrict__ Dbuf, int bh, int q0, int T, int tid) {
    fa_load_tc<BQ, NT>(sQ, qb, rsq, q0, T, tid);
    fa_load_tc<BQ, NT>(sG, gb, rsy, q0, T, tid);
    fa_load_lse_d<BQ, NT>(sL, sD, lse, Dbuf, bh, q0, T, tid);
}
// in place: the scores S (log2 domain) to P = 2^(S - lse) where the query (q0 + 8j + 2*t4, +1) is at or past the key and
// inside T, else 0; dP to dS = P (dP - D)
template <int NJ>
__device__ __forceinline__ void fa_tc_dsoftmax(float (&s)[NJ][4], float (&dp)[NJ][4], const float* sL, const float* sD, int q0, int r0,
                                               int r1, int T, int t4) {
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const int cl = j * 8 + 2 * t4, c = q0 + cl;
        const float2 L = *reinterpret_cast<const float2*>(sL + cl);
        const float2 Dd = *reinterpret_cast<const float2*>(sD + cl);
        const float p0 = (c >= r0 && c < T) ? fa_ex2(s[j][0] - L.x) : 0.f;
        const float p1 = (c + 1 >= r0 && c + 1 < T) ? fa_ex2(s[j][1] - L.y) : 0.f;
        const float p2 = (c >= r1 && c < T) ? fa_ex2(s[j][2] - L.x) : 0.f;
        const float p3 = (c + 1 >= r1 && c + 1 < T) ? fa_ex2(s[j][3] - L.y) : 0.f;
        s[j][0] = p0; s[j][1] = p1; s[j][2] = p2; s[j][3] = p3;
        dp[j][0] = p0 * (dp[j][0] - Dd.x);
        dp[j][1] = p1 * (dp[j][1] - Dd.y);
        dp[j][2] = p2 * (dp[j][2] - Dd.x);
        dp[j][3] = p3 * (dp[j][3] - Dd.y);
    }
}
// dv += P^T dO and dk += dS^T Q over the tile's queries (P, dS transposed into A fragments; dO, Q read from shared memory)
template <int NJ, int NO>
__device__ __forceinline__ void fa_tc_dkdv_accumulate(float (&dk)[NO][4], float (&dv)[NO][4], const float (&s)[NJ][4],
                                                      const float (&dp)[NJ][4], const unsigned* sQ, const unsigned* sG, int g, int t4) {
    constexpr int LD = HS + 4;
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const unsigned pa[4] = {fa_tf32(s[j][0]), fa_tf32(s[j][2]), fa_tf32(s[j][1]), fa_tf32(s[j][3])};
        const unsigned da[4] = {fa_tf32(dp[j][0]), fa_tf32(dp[j][2]), fa_tf32(dp[j][1]), fa_tf32(dp[j][3])};
        const int off = (j * 8 + 2 * t4) * LD + g;
#pragma unroll
        for (int n = 0; n < NO; ++n) {
            fa_mma(dv[n], pa, sG[off + n * 8], sG[off + LD + n * 8]);
            fa_mma(dk[n], da, sQ[off + n * 8], sQ[off + LD + n * 8]);
        }
    }
}

#if FA_DKV_WIDE
// =====================================================================================================
// dk, dv, TF32 tensor cores, for wide heads (HS > 64, where K and V fragments plus the dk, dv accumulators
// would need 4*HS registers a thread). grid = (B*NH/GB, ceil(T/FA_DKV_BK)), block = FA_DKV_NT =
// 32*FA_TC_WARPS*2: two groups of FA_TC_WARPS warps over the same key tile, group j taking the query
// tiles j, j+2, ... of each of the block's GB query heads; K and V tiles (tf32, K pre-scaled) in shared
// memory, read as fragments per k-step (row pitch HS+4: conflict-free); each group its own Q, dO tiles.
// At the end group 1 hands its dk, dv to group 0 through shared memory, which adds them in that order:
// deterministic.
// =====================================================================================================
__device__ __forceinline__ void fa_load_tc_scaled(unsigned* dst, const float* __restrict__ src, long long rs, int k0, int T,
                                                  int tid, float f) {
    constexpr int R = FA_DKV_BK, NT = FA_DKV_NT;
    constexpr int V4 = HS / 4, TOT = R * V4, IT = (TOT + NT - 1) / NT, LD = HS + 4;
#pragma unroll
    for (int it = 0; it < IT; ++it) {
        const int i = it * NT + tid, r = i / V4, c = i % V4;
        if (TOT % NT == 0 || i < TOT) {
            float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
            if (k0 + r < T) t = fa_ldg4(src + (long long)(k0 + r) * rs + 4 * c);
            *reinterpret_cast<uint4*>(dst + r * LD + 4 * c) = make_uint4(fa_tf32(t.x * f), fa_tf32(t.y * f), fa_tf32(t.z * f), fa_tf32(t.w * f));
        }
    }
}

__device__ __forceinline__ void flash_attn_bwd_dkdv(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand dy,
                                                    const float* __restrict__ lse, const float* __restrict__ Dbuf, const fa_operand dk_out,
                                                    const fa_operand dv_out, int T, int NH, int G, int GB) {
    constexpr int BK = FA_DKV_BK, BQ = FA_DKV_BQ, NTG = 32 * FA_TC_WARPS, LD = HS + 4;
    constexpr int KS = HS / 8, NJ = BQ / 8, NO = HS / 8;
    static_assert(HS % 8 == 0 && BQ % 8 == 0, "TF32 path needs HS % 8 == 0 and FA_DKV_BQ % 8 == 0");
    extern __shared__ float4 fa_smem4[];
    unsigned* sK = reinterpret_cast<unsigned*>(fa_smem4);  // [BK][LD]
    unsigned* sV = sK + BK * LD;                            // [BK][LD]
    unsigned* sGroups = sV + BK * LD;                       // per group: Q [BQ][LD], dO [BQ][LD], lse [BQ], D [BQ]
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int group = warp / FA_TC_WARPS, wl = warp % FA_TC_WARPS, gtid = tid % NTG;
    unsigned* sQ = sGroups + group * (2 * BQ * LD + 2 * BQ);
    unsigned* sG = sQ + BQ * LD;
    float* sL = reinterpret_cast<float*>(sG + BQ * LD);
    float* sD = sL + BQ;
    FA_KEY_TILE_BLOCK(BK, BQ)
    fa_load_tc_scaled(sK, kb, rsk, k0, T, tid, scale * FA_LOG2E);
    fa_load_tc_scaled(sV, vb, rsv, k0, T, tid, 1.f);
    const int wk = k0 + wl * 16, r0 = wk + g, r1 = r0 + 8;  // this thread's key rows
    const unsigned* kp = sK + (wl * 16 + g) * LD + t4;
    const unsigned* vp = sV + (wl * 16 + g) * LD + t4;
    float dk[NO][4], dv[NO][4];
#pragma unroll
    for (int n = 0; n < NO; ++n) dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.f;
    for (int gi = 0; gi < GB; ++gi) {  // this block's query heads of the key/value head, in order
        FA_DKDV_QUERY_HEAD(gi)
        // group j takes the query tiles j, j+2, ... from the diagonal; both take the same steps (their
        // barriers match), a group past the last tile idles
        for (int qt0 = k0 / BQ; qt0 < nqt; qt0 += 2) {
            const int qt = qt0 + group, q0 = qt * BQ;
            const bool active = qt < nqt;
            __syncthreads();
            if (active) {
                fa_load_dkdv_tile<BQ, NTG>(sQ, sG, sL, sD, qb, gb, rsq, rsy, lse, Dbuf, bh, q0, T, gtid);
            }
            __syncthreads();
            if (!active || q0 + BQ - 1 < wk) continue;  // all queries of this tile precede this warp's keys
            float s[NJ][4], dp[NJ][4];
#pragma unroll
            for (int j = 0; j < NJ; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = dp[j][0] = dp[j][1] = dp[j][2] = dp[j][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < KS; ++ks) {
                const unsigned ka[4] = {kp[ks * 8], kp[ks * 8 + 8 * LD], kp[ks * 8 + 4], kp[ks * 8 + 8 * LD + 4]};
                const unsigned va[4] = {vp[ks * 8], vp[ks * 8 + 8 * LD], vp[ks * 8 + 4], vp[ks * 8 + 8 * LD + 4]};
#pragma unroll
                for (int j = 0; j < NJ; ++j) {
                    const int off = (j * 8 + g) * LD + ks * 8 + t4;
                    fa_mma(s[j], ka, sQ[off], sQ[off + 4]);
                    fa_mma(dp[j], va, sG[off], sG[off + 4]);
                }
            }
            fa_tc_dsoftmax<NJ>(s, dp, sL, sD, q0, r0, r1, T, t4);
            fa_tc_dkdv_accumulate<NJ, NO>(dk, dv, s, dp, sQ, sG, g, t4);
        }
    }
    // group 1's sums through shared memory (the groups' tiles are free now: 2*(2*BQ*LD + 2*BQ) >= 2*BK*HS floats)
    static_assert(2 * (2 * BQ * LD + 2 * BQ) >= 2 * BK * HS, "the hand-over area must hold dk and dv of a key tile");
    float* xk = reinterpret_cast<float*>(sGroups);  // [BK][HS]
    float* xv = xk + BK * HS;                       // [BK][HS]
    __syncthreads();
    if (group == 1) {
#pragma unroll
        for (int n = 0; n < NO; ++n) {
            const int c = n * 8 + 2 * t4, a0 = (wl * 16 + g) * HS + c, a1 = a0 + 8 * HS;
            *reinterpret_cast<float2*>(xk + a0) = make_float2(dk[n][0], dk[n][1]);
            *reinterpret_cast<float2*>(xk + a1) = make_float2(dk[n][2], dk[n][3]);
            *reinterpret_cast<float2*>(xv + a0) = make_float2(dv[n][0], dv[n][1]);
            *reinterpret_cast<float2*>(xv + a1) = make_float2(dv[n][2], dv[n][3]);
        }
    }
    __syncthreads();
#if FA_DKV_CLUSTER
    // group 0 adds group 1's sums into the hand-over area, which the cluster then reads (all 8 warps take part)
    if (group == 0) {
#pragma unroll
        for (int n = 0; n < NO; ++n) {
            const int c = n * 8 + 2 * t4, a0 = (wl * 16 + g) * HS + c, a1 = a0 + 8 * HS;
            float2* pk0 = reinterpret_cast<float2*>(xk + a0);
            float2* pk1 = reinterpret_cast<float2*>(xk + a1);
            float2* pv0 = reinterpret_cast<float2*>(xv + a0);
            float2* pv1 = reinterpret_cast<float2*>(xv + a1);
            const float2 k0v = *pk0, k1v = *pk1, v0v = *pv0, v1v = *pv1;
            *pk0 = make_float2(dk[n][0] + k0v.x, dk[n][1] + k0v.y);
            *pk1 = make_float2(dk[n][2] + k1v.x, dk[n][3] + k1v.y);
            *pv0 = make_float2(dv[n][0] + v0v.x, dv[n][1] + v0v.y);
            *pv1 = make_float2(dv[n][2] + v1v.x, dv[n][3] + v1v.y);
        }
    }
    fa_cluster_reduce_store<BK, FA_DKV_NT>(xk, dkb, dk_out.st, dvb, dv_out.st, k0, T, scale, tid);   // oh == kvh in a cluster
#else
    if (group == 1) return;
#pragma unroll
    for (int n = 0; n < NO; ++n) {
        const int c = n * 8 + 2 * t4, a0 = (wl * 16 + g) * HS + c, a1 = a0 + 8 * HS;
        const float2 k0v = *reinterpret_cast<const float2*>(xk + a0), k1v = *reinterpret_cast<const float2*>(xk + a1);
        const float2 v0v = *reinterpret_cast<const float2*>(xv + a0), v1v = *reinterpret_cast<const float2*>(xv + a1);
        if (r0 < T) {
            float t[2] = {(dk[n][0] + k0v.x) * scale, (dk[n][1] + k0v.y) * scale};
            float u[2] = {dv[n][0] + v0v.x, dv[n][1] + v0v.y};
            fa_stg<2, FA_ACCUMULATE != 0>(dkb + r0 * dk_out.st + c, t);
            fa_stg<2, FA_ACCUMULATE != 0>(dvb + r0 * dv_out.st + c, u);
        }
        if (r1 < T) {
            float t[2] = {(dk[n][2] + k1v.x) * scale, (dk[n][3] + k1v.y) * scale};
            float u[2] = {dv[n][2] + v1v.x, dv[n][3] + v1v.y};
            fa_stg<2, FA_ACCUMULATE != 0>(dkb + r1 * dk_out.st + c, t);
            fa_stg<2, FA_ACCUMULATE != 0>(dvb + r1 * dv_out.st + c, u);
        }
    }
#endif  // FA_DKV_CLUSTER
}
#else  // !FA_DKV_WIDE
// =====================================================================================================
// dk, dv, TF32 tensor cores. grid = (B*NH/GB, ceil(T/FA_DKV_BK)), block = FA_DKV_NT = 32*FA_TC_WARPS,
// smem FA_DKV_SMEM_BYTES. Warp owns 16 keys; K and V fragments in registers; Q, dO tiles (FA_DKV_BQ rows) in smem.
// =====================================================================================================
__device__ __forceinline__ void flash_attn_bwd_dkdv(const fa_operand q, const fa_operand k, const fa_operand v, const fa_operand dy,
                                                    const float* __restrict__ lse, const float* __restrict__ Dbuf, const fa_operand dk_out,
                                                    const fa_operand dv_out, int T, int NH, int G, int GB) {
    constexpr int BK = FA_DKV_BK, BQ = FA_DKV_BQ, NT = FA_DKV_NT, LD = HS + 4;
    constexpr int KS = HS / 8, NJ = BQ / 8, NO = HS / 8;
    static_assert(HS % 8 == 0 && BQ % 8 == 0, "TF32 path needs HS % 8 == 0 and FA_DKV_BQ % 8 == 0");
    extern __shared__ float4 fa_smem4[];
    unsigned* sQ = reinterpret_cast<unsigned*>(fa_smem4);  // [BQ][LD]
    unsigned* sG = sQ + BQ * LD;                            // [BQ][LD]
    float* sL = reinterpret_cast<float*>(sG + BQ * LD);     // [BQ]
    float* sD = sL + BQ;                                    // [BQ]
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    FA_KEY_TILE_BLOCK(BK, BQ)
    const float ks_ = scale * FA_LOG2E;
    const int wk = k0 + warp * 16, r0 = wk + g, r1 = r0 + 8;  // this thread's key rows
    unsigned ka[KS][4], va[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        const int c = ks * 8 + t4;
        fa_frag_a(ka[ks], kb, rsk, r0, r1, T, c, ks_);
        fa_frag_a(va[ks], vb, rsv, r0, r1, T, c, 1.f);
    }
    float dk[NO][4], dv[NO][4];
#pragma unroll
    for (int n = 0; n < NO; ++n) dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.f;
    for (int gi = 0; gi < GB; ++gi) {  // this block's query heads of the key/value head, in order
        FA_DKDV_QUERY_HEAD(gi)
        for (int qt = k0 / BQ; qt < nqt; ++qt) {
            const int q0 = qt * BQ;
            __syncthreads();
            fa_load_dkdv_tile<BQ, NT>(sQ, sG, sL, sD, qb, gb, rsq, rsy, lse, Dbuf, bh, q0, T, tid);
            __syncthreads();
            if (q0 + BQ - 1 < wk) continue;  // all queries of this tile precede this warp's keys
            float s[NJ][4], dp[NJ][4];
#pragma unroll
            for (int j = 0; j < NJ; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = dp[j][0] = dp[j][1] = dp[j][2] = dp[j][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < KS; ++ks)
#pragma unroll
                for (int j = 0; j < NJ; ++j) {
                    const int off = (j * 8 + g) * LD + ks * 8 + t4;
                    fa_mma(s[j], ka[ks], sQ[off], sQ[off + 4]);
                    fa_mma(dp[j], va[ks], sG[off], sG[off + 4]);
                }
            fa_tc_dsoftmax<NJ>(s, dp, sL, sD, q0, r0, r1, T, t4);
            fa_tc_dkdv_accumulate<NJ, NO>(dk, dv, s, dp, sQ, sG, g, t4);
        }
    }
#if FA_DKV_CLUSTER
    __syncthreads();  // every warp is done with the Q, dO tiles: the area holds this block's dk, dv tile now
    float* x = reinterpret_cast<float*>(fa_smem4);  // [2][BK][HS]
#pragma unroll
    for (int n = 0; n < NO; ++n) {
        const int c = n * 8 + 2 * t4, a0 = (warp * 16 + g) * HS + c, a1 = a0 + 8 * HS;
        *reinterpret_cast<float2*>(x + a0) = make_float2(dk[n][0], dk[n][1]);
        *reinterpret_cast<float2*>(x + a1) = make_float2(dk[n][2], dk[n][3]);
        *reinterpret_cast<float2*>(x + BK * HS + a0) = make_float2(dv[n][0], dv[n][1]);
        *reinterpret_cast<float2*>(x + BK * HS + a1) = make_float2(dv[n][2], dv[n][3]);
    }
    fa_cluster_reduce_store<BK, NT>(x, dkb, dk_out.st, dvb, dv_out.st, k0, T, scale, tid);
#else
#pragma unroll
    for (int n = 0; n < NO; ++n) {
        const int c = n * 8 + 2 * t4;
        if (r0 < T) {
            float t[2] = {dk[n][0] * scale, dk[n][1] * scale};
            fa_stg<2, FA_ACCUMULATE != 0>(dkb + r0 * dk_out.st + c, t);
            fa_stg<2, FA_ACCUMULATE != 0>(dvb + r0 * dv_out.st + c, &dv[n][0]);
        }
        if (r1 < T) {
            float t[2] = {dk[n][2] * scale, dk[n][3] * scale};
            fa_stg<2, FA_ACCUMULATE != 0>(dkb + r1 * dk_out.st + c, t);
            fa_stg<2, FA_ACCUMULATE != 0>(dvb + r1 * dv_out.st + c, &dv[n][2]);
        }
    }
#endif  // FA_DKV_CLUSTER
}
#endif  // FA_DKV_WIDE
#endif  // FA_TF32_BWD

// Launch summary (host side):
//   fwd : grid (B*NH, ceil(T/FA_FWD_BQ)),  block FA_FWD_NT,  smem FA_FWD_SMEM_BYTES
//   dq  : grid (B*NH, ceil(T/FA_DQ_BQ)),   block FA_DQ_NT,   smem FA_DQ_SMEM_BYTES
//   dkdv: grid (B*NH/GB, ceil(T/FA_DKV_BK)),  block FA_DKV_NT,  smem FA_DKV_SMEM_BYTES
//   Any smem > 48 KiB needs cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)
//   (cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes) in the driver API).

#endif
