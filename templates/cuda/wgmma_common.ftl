<#-- Pieces every wgmma template shares (guarded: several kernels may share one translation unit). -->
#ifndef KILN_WGMMA_HELPERS
#define KILN_WGMMA_HELPERS
// the driver's CUtensorMap, declared here rather than through <cuda.h>
struct __align__(64) KilnTensorMap { unsigned long long opaque[16]; };

__device__ __forceinline__ unsigned kiln_smem_u32(const void* p) {
  unsigned r;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
  return r;
}

__device__ __forceinline__ void kiln_mbar_init(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(bar), "r"(count));
}

__device__ __forceinline__ void kiln_mbar_wait(unsigned bar, unsigned parity) {
  asm volatile("{ .reg .pred P1; KILN_WAIT_%=: mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1; @!P1 bra KILN_WAIT_%=; }"
               :: "r"(bar), "r"(parity) : "memory");
}

__device__ __forceinline__ void kiln_mbar_expect(unsigned bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void kiln_mbar_arrive(unsigned bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(bar) : "memory");
}

// one box at coordinates (inner, outer) of the map into shared memory, completing on bar
__device__ __forceinline__ void kiln_tma_load(unsigned dst, const void* map, int k, int row, unsigned bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
               :: "r"(dst), "l"(map), "r"(k), "r"(row), "r"(bar) : "memory");
}

// wgmma shared-memory descriptor of a K-major operand in 128-byte swizzle: start address, 1024 bytes
// between 8-row groups, swizzle mode 1 in the top bits (the leading offset is unused in this mode)
__device__ __forceinline__ unsigned long long kiln_desc_sw128(unsigned addr) {
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

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
