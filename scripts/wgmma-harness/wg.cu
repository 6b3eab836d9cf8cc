// Standalone harness (scripts/wgmma-harness/run.sh): TF32 wgmma + TMA matmul C[M,N] = A[M,K] . B[N,K]^T, correctness vs fp32 and timing.
#include <cuda.h>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <vector>
#include <cmath>
#include <algorithm>
#include <cstring>

#include "wgmma_ops.h"

__device__ __forceinline__ unsigned smem_u32(const void* p) { return (unsigned) __cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
  asm volatile("{ .reg .pred P1; WAIT_%=: mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1; @!P1 bra WAIT_%=; }" :: "r"(bar), "r"(parity) : "memory");
}
__device__ __forceinline__ void mbar_expect(unsigned bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(bar) : "memory");
}
__device__ __forceinline__ void tma_load(unsigned dst, const void* map, int c0, int c1, unsigned bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
               :: "r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar) : "memory");
}
// K-major operand, 128-byte swizzle: 8 rows x 128 bytes per 1024-byte atom, atoms stacked along M/N
__device__ __forceinline__ unsigned long long desc_sw128(unsigned addr) {
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

struct __align__(64) TensorMap { unsigned long long opaque[16]; };

template <int BN> __device__ __forceinline__ void wgmma(float* d, unsigned long long da, unsigned long long db);
template <> __device__ __forceinline__ void wgmma<64>(float* d, unsigned long long a, unsigned long long b) { wgmma_n64(d, a, b); }
template <> __device__ __forceinline__ void wgmma<96>(float* d, unsigned long long a, unsigned long long b) { wgmma_n96(d, a, b); }
template <> __device__ __forceinline__ void wgmma<128>(float* d, unsigned long long a, unsigned long long b) { wgmma_n128(d, a, b); }
template <> __device__ __forceinline__ void wgmma<192>(float* d, unsigned long long a, unsigned long long b) { wgmma_n192(d, a, b); }
template <> __device__ __forceinline__ void wgmma<256>(float* d, unsigned long long a, unsigned long long b) { wgmma_n256(d, a, b); }

template <int BM, int BN, int BK, int STAGES, int CONS>
__global__ void __launch_bounds__(128 * (CONS + 1), 1)
wg_matmul(float* __restrict__ C, int M, int N, int K, long long cm, const __grid_constant__ TensorMap mapA, const __grid_constant__ TensorMap mapB) {
  constexpr int BOXES = BK / 32;             // 32 floats = 128 bytes per swizzled box row
  constexpr int A_BOX = BM * 128, B_BOX = BN * 128;
  constexpr int STAGE_BYTES = BOXES * (A_BOX + B_BOX);
  constexpr int WM = BM / CONS;              // rows per consumer warpgroup
  constexpr int MI = WM / 64;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = (unsigned char*) (((unsigned long long) smem_raw + 1023) & ~1023ull);
  unsigned long long* full = (unsigned long long*) (smem + STAGES * STAGE_BYTES);
  unsigned long long* empty = full + STAGES;
  const int wg = threadIdx.x / 128;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int tiles = (K + BK - 1) / BK;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; s++) { mbar_init(smem_u32(&full[s]), 1); mbar_init(smem_u32(&empty[s]), CONS); }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (threadIdx.x == 0) {
      for (int kt = 0; kt < tiles; kt++) {
        const int s = kt % STAGES;
        if (kt >= STAGES) mbar_wait(smem_u32(&empty[s]), ((kt / STAGES) - 1) & 1);
        const unsigned bar = smem_u32(&full[s]);
        mbar_expect(bar, STAGE_BYTES);
        unsigned char* st = smem + s * STAGE_BYTES;
#pragma unroll
        for (int b = 0; b < BOXES; b++) {
          tma_load(smem_u32(st + b * A_BOX), &mapA, kt * BK + b * 32, m0, bar);
          tma_load(smem_u32(st + BOXES * A_BOX + b * B_BOX), &mapB, kt * BK + b * 32, n0, bar);
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
      mbar_wait(smem_u32(&full[s]), (kt / STAGES) & 1);
      const unsigned st = smem_u32(smem + s * STAGE_BYTES);
      asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
      for (int kk = 0; kk < BK / 8; kk++) {
        const int box = kk / 4, off = (kk % 4) * 32;
        const unsigned long long db = desc_sw128(st + BOXES * A_BOX + box * B_BOX + off);
#pragma unroll
        for (int i = 0; i < MI; i++) {
          const unsigned long long da = desc_sw128(st + box * A_BOX + (c * WM + i * 64) * 128 + off);
          wgmma<BN>(d[i], da, db);
        }
      }
      asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
      asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
      if (kt > 0 && threadIdx.x % 128 == 0) mbar_arrive(smem_u32(&empty[(kt - 1) % STAGES]));
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    const int w = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const bool vec = (N % 2 == 0) && (cm % 2 == 0);
#pragma unroll
    for (int i = 0; i < MI; i++) {
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int m = m0 + c * WM + i * 64 + w * 16 + g + h * 8;
        if (m >= M) continue;
        float* row = C + m * cm;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
          const int n = n0 + j * 8 + 2 * t;
          const float v0 = d[i][4 * j + 2 * h], v1 = d[i][4 * j + 2 * h + 1];
          if (vec && n + 1 < N) *(float2*) (row + n) = make_float2(v0, v1);
          else {
            if (n < N) row[n] = v0;
            if (n + 1 < N) row[n + 1] = v1;
          }
        }
      }
    }
  }
}

template <int BM, int BN, int BK, int STAGES, int CONS>
constexpr int smem_bytes() { return STAGES * (BK / 32) * (BM + BN) * 128 + 2 * STAGES * 8 + 1024; }

__device__ __forceinline__ float rnd(float a, int round) {
  if (round == 1) { unsigned u; asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(a)); return __uint_as_float(u); }
  if (round == 2) return __uint_as_float(__float_as_uint(a) & 0xffffe000u);
  return a;
}
// fp32 reference, 32x32 smem tiles, one output per thread
__global__ void ref_matmul(const float* A, const float* B, float* C, int M, int N, int K, int round) {
  __shared__ float sa[32][33], sb[32][33];
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;   // 1024 threads
  const int m = blockIdx.y * 32 + ty, n = blockIdx.x * 32 + tx;
  float s = 0;
  for (int k0 = 0; k0 < K; k0 += 32) {
    const int ra = blockIdx.y * 32 + ty, rb = blockIdx.x * 32 + ty;
    sa[ty][tx] = ra < M && k0 + tx < K ? rnd(A[(long long) ra * K + k0 + tx], round) : 0.0f;
    sb[ty][tx] = rb < N && k0 + tx < K ? rnd(B[(long long) rb * K + k0 + tx], round) : 0.0f;
    __syncthreads();
    for (int k = 0; k < 32; k++) s = fmaf(sa[ty][k], sb[tx][k], s);
    __syncthreads();
  }
  if (m < M && n < N) C[(long long) m * N + n] = s;
}

__global__ void fill(float* p, long long n, unsigned seed) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    unsigned h = (unsigned) i * 2654435761u ^ seed;
    h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;
    p[i] = (float) (h >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

#define CK(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { const char* s; cuGetErrorString(r_, &s); printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, s); exit(1); } } while (0)
#define RK(x) do { cudaError_t r_ = (x); if (r_ != cudaSuccess) { printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(r_)); exit(1); } } while (0)

static TensorMap make_map(const float* base, int rows, int k, int boxRows, int dtype) {
  TensorMap m;
  cuuint64_t dims[2] = {(cuuint64_t) k, (cuuint64_t) rows};
  cuuint64_t strides[1] = {(cuuint64_t) k * 4};
  cuuint32_t box[2] = {32, (cuuint32_t) boxRows};
  cuuint32_t es[2] = {1, 1};
  CK(cuTensorMapEncodeTiled((CUtensorMap*) &m, (CUtensorMapDataType) dtype, 2, (void*) base, dims, strides, box, es,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
  return m;
}

struct Shape { const char* name; int M, N, K; };

__global__ void diff(const float* got, const float* want, long long n, unsigned* out) {
  float d = 0.0f, m = 0.0f;
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    float e = fabsf(got[i] - want[i]);
    d = fmaxf(d, e == e ? e : __int_as_float(0x7f800000));
    m = fmaxf(m, fabsf(want[i]));
  }
  for (int o = 16; o > 0; o /= 2) { d = fmaxf(d, __shfl_down_sync(0xffffffffu, d, o)); m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o)); }
  if (threadIdx.x % 32 == 0) { atomicMax(&out[0], __float_as_uint(d)); atomicMax(&out[1], __float_as_uint(m)); }
}
static unsigned* g_err;
static void compare(const float* got, const float* want, long long n, double* maxErr, double* maxRef) {
  RK(cudaMemset(g_err, 0, 8));
  diff<<<1024, 256>>>(got, want, n, g_err);
  unsigned h[2];
  RK(cudaMemcpy(h, g_err, 8, cudaMemcpyDeviceToHost));
  float e, r; memcpy(&e, &h[0], 4); memcpy(&r, &h[1], 4);
  *maxErr = e; *maxRef = r;
}

template <int BM, int BN, int BK, int STAGES, int CONS>
static void run(const Shape& sh, float* A, float* B, float* C, float* R, int dtype, bool timeIt) {
  constexpr int smem = smem_bytes<BM, BN, BK, STAGES, CONS>();
  auto k = wg_matmul<BM, BN, BK, STAGES, CONS>;
  RK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  TensorMap ma = make_map(A, sh.M, sh.K, BM, dtype), mb = make_map(B, sh.N, sh.K, BN, dtype);
  dim3 grid((sh.M + BM - 1) / BM, (sh.N + BN - 1) / BN);
  RK(cudaMemset(C, 0xff, (long long) sh.M * sh.N * 4));
  k<<<grid, 128 * (CONS + 1), smem>>>(C, sh.M, sh.N, sh.K, sh.N, ma, mb);
  RK(cudaGetLastError());
  RK(cudaDeviceSynchronize());
  double e, r;
  compare(C, R, (long long) sh.M * sh.N, &e, &r);
  float ms = 0;
  if (timeIt) {
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    for (int i = 0; i < 3; i++) k<<<grid, 128 * (CONS + 1), smem>>>(C, sh.M, sh.N, sh.K, sh.N, ma, mb);
    std::vector<float> t;
    for (int i = 0; i < 20; i++) {
      cudaEventRecord(a);
      k<<<grid, 128 * (CONS + 1), smem>>>(C, sh.M, sh.N, sh.K, sh.N, ma, mb);
      cudaEventRecord(b); cudaEventSynchronize(b);
      float x; cudaEventElapsedTime(&x, a, b); t.push_back(x);
    }
    std::sort(t.begin(), t.end()); ms = t[t.size() / 2];
    RK(cudaGetLastError());
  }
  printf("%-8s %5dx%5dx%4d  bm=%d bn=%d bk=%d st=%d cons=%d dt=%d  err/max %.2e  %s  %.4f ms  %.1f TFLOP/s\n", sh.name, sh.M, sh.N, sh.K,
         BM, BN, BK, STAGES, CONS, dtype, e / r, e / r < 5e-3 ? "OK " : "BAD", ms, timeIt ? 2.0 * sh.M * sh.N * sh.K / ms / 1e9 : 0.0);
  fflush(stdout);
}

int main() {
  CK(cuInit(0));
  Shape shapes[] = {{"edge", 1000, 333, 200}, {"edge2", 77, 1000, 36}, {"qkv", 8192, 2304, 768}, {"attproj", 8192, 768, 768}, {"fc", 8192, 3072, 768},
                    {"fcproj", 8192, 768, 3072}, {"lm_head", 8192, 50304, 768}};
  long long maxA = 8192LL * 3072, maxB = 50304LL * 768, maxC = 8192LL * 50304;
  float *A, *B, *C, *R;
  RK(cudaMalloc(&g_err, 8));
  RK(cudaMalloc(&A, maxA * 4)); RK(cudaMalloc(&B, maxB * 4)); RK(cudaMalloc(&C, maxC * 4)); RK(cudaMalloc(&R, maxC * 4));
  fill<<<4096, 256>>>(A, maxA, 1); fill<<<4096, 256>>>(B, maxB, 2);
  for (const Shape& sh : shapes) {
    bool t = sh.name[0] != 'e';
    for (int round = 0; round < (sh.N > 10000 ? 1 : 3); round++) {   // error of plain fp32 vs tf32-rounded vs tf32-truncated inputs
      ref_matmul<<<dim3((sh.N + 31) / 32, (sh.M + 31) / 32), 1024>>>(A, B, R, sh.M, sh.N, sh.K, round);
      RK(cudaDeviceSynchronize());
      if (round > 0) { ref_matmul<<<dim3((sh.N + 31) / 32, (sh.M + 31) / 32), 1024>>>(A, B, C, sh.M, sh.N, sh.K, 0); double e, r; compare(R, C, (long long) sh.M * sh.N, &e, &r); printf("%-8s ref with tf32 %s inputs vs fp32: err/max %.2e\n", sh.name, round == 1 ? "rounded" : "truncated", e / r); }
    }
    ref_matmul<<<dim3((sh.N + 31) / 32, (sh.M + 31) / 32), 1024>>>(A, B, R, sh.M, sh.N, sh.K, 0);
    RK(cudaDeviceSynchronize());
    run<128, 256, 32, 4, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_TFLOAT32, false);
    run<128, 256, 32, 4, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<128, 256, 32, 3, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<128, 192, 32, 5, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<128, 128, 32, 6, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<128, 128, 64, 3, 1>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<256, 128, 32, 4, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<64, 256, 32, 5, 1>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
    run<128, 96, 32, 8, 2>(sh, A, B, C, R, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, t);
  }
  printf("done\n");
  return 0;
}
