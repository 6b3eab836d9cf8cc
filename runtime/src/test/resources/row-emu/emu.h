// Just enough of CUDA to run a generated row kernel on the host: every CUDA thread of a block is an OS thread,
// __syncthreads() is a barrier of the block, __syncwarp() one of the warp (32 consecutive threads, x fastest; a row's
// blockDim.x lanes where a row takes part of a warp),
// a warp shuffle goes through a per-warp buffer between two barriers of the warp; blocks run one after another
// (shared memory is a static of the kernel, reused by each block).
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>
#include "cuda-host.h"
struct uint4 { unsigned x, y, z, w; };
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
static thread_local U3 threadIdx;
static U3 blockIdx, gridDim, blockDim;
static std::unique_ptr<std::barrier<>> BLOCK_BARRIER;
static std::vector<std::unique_ptr<std::barrier<>>> WARP_BARRIERS;
static float SHUFFLE[1024];
static inline unsigned linear() { return threadIdx.y * blockDim.x + threadIdx.x; }
static inline void __syncthreads() { BLOCK_BARRIER->arrive_and_wait(); }
// the lanes that synchronise or shuffle together: a warp, or a row's blockDim.x lanes where a row takes part of a warp
// (the kernels pass exactly those lanes as the mask)
static inline unsigned group() { return blockDim.x < 32 ? blockDim.x : 32; }
static inline void __syncwarp(unsigned = 0xffffffffu) { WARP_BARRIERS[linear() / group()]->arrive_and_wait(); }
static inline float __shfl_xor_sync(unsigned, float v, int o) {
  unsigned t = linear(), w = t / group();
  SHUFFLE[t] = v;
  WARP_BARRIERS[w]->arrive_and_wait();
  float r = SHUFFLE[t ^ o];
  WARP_BARRIERS[w]->arrive_and_wait();
  return r;
}
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
// bf16 storage: the prologue's conversions (it skips its own once KILN_BF16 is defined), with round to nearest
// even in software where the device has cvt.rn.bf16.f32 (the same arithmetic as kiln.codegen.Bf16.round)
#define KILN_BF16
typedef unsigned short kiln_bf16;
static inline float kiln_bf16_f(kiln_bf16 x) { return __uint_as_float(((unsigned) x) << 16); }
static inline kiln_bf16 kiln_bf16_rn(float f) {
  const unsigned bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (kiln_bf16) ((bits >> 16) | 0x40u);
  return (kiln_bf16) ((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
static inline unsigned kiln_bf16_hash(unsigned index, unsigned seed) {
  unsigned h = index * 0x9E3779B1u + seed * 0x85EBCA77u + 0x165667B1u;
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  h ^= h >> 16;
  return h;
}
static inline float kiln_bf16_sr(float x, unsigned index, unsigned seed) {
  const unsigned bits = __float_as_uint(x);
  if ((bits & 0x7f800000u) == 0x7f800000u) return x;
  return __uint_as_float((bits + (kiln_bf16_hash(index, seed) & 0xffffu)) & 0xffff0000u);
}
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline void __trap() { fprintf(stderr, "__trap\n"); abort(); }
// the row kernels' row cache (row.cu.ftl): one buffer, as blocks run one after another (each thread uses its own vectors)
#define KILN_ROW_CACHE
static uint4 ROW_CACHE[1 << 16];
static inline uint4* kiln_row_cache(unsigned bytes) { return bytes <= sizeof(ROW_CACHE) ? ROW_CACHE : nullptr; }
static inline void kiln_cache_fill(uint4* dst, const void* src) { memcpy(dst, src, 16); }
static inline void kiln_cache_wait() {}
static inline void kiln_unpack8(float* d, const uint4 u) {
  const unsigned w[4] = {u.x, u.y, u.z, u.w};
  for (int i = 0; i < 4; i++) {
    d[2 * i] = __uint_as_float(w[i] << 16);
    d[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
// kernel(F, I, a, extra...) over a grid of (grid, gy) blocks of (bx, by) threads (extra: a row kernel's column-sum
// workspace, its _sum kernel's workspace and block count)
template <class A, class K, class... X>
static void launch(K kernel, float* F, int* I, A a, unsigned grid, unsigned bx, unsigned by, unsigned gy, X... extra) {
  unsigned block = bx * by;
  gridDim = {grid, gy, 1};
  blockDim = {bx, by, 1};
  BLOCK_BARRIER = std::make_unique<std::barrier<>>(block);
  WARP_BARRIERS.clear();
  const unsigned g = bx < 32 ? bx : 32;
  for (unsigned w = 0; w < block / g; w++) WARP_BARRIERS.push_back(std::make_unique<std::barrier<>>(g));
  for (unsigned y = 0; y < gy; y++) for (unsigned b = 0; b < grid; b++) {
    blockIdx = {b, y, 0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < block; t++) threads.emplace_back([=] { threadIdx = {t % bx, t / bx, 0}; kernel(F, I, a, extra...); });
    for (auto& th : threads) th.join();
  }
}
