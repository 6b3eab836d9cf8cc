<#-- Pieces every wgmma template shares (guarded: several kernels may share one translation unit). kiln_tma_load's
     coordinates are (inner, outer) of the map: for bf16 maps the box is 64 elements wide. -->
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

// one box (32 floats x rows) at coordinates (k, row) into shared memory, completing on bar
__device__ __forceinline__ void kiln_tma_load(unsigned dst, const void* map, int k, int row, unsigned bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
               :: "r"(dst), "l"(map), "r"(k), "r"(row), "r"(bar) : "memory");
}

// wgmma shared-memory descriptor of a K-major operand in 128-byte swizzle: start address, 1024 bytes
// between 8-row groups, swizzle mode 1 in the top bits (the leading offset is unused in this mode)
__device__ __forceinline__ unsigned long long kiln_desc_sw128(unsigned addr) {
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}
#endif
