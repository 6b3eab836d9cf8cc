<#-- Vector moves shared by the row and map templates: 8 consecutive elements (16 bytes of bf16, or 32 of fp32 as
     two float4s) or 4 (one float4 of fp32) between memory and a float array, widened on load and, for bf16,
     rounded to nearest even on store as Dialect.store's bf16 stores round. p points at the first element,
     16-byte aligned. -->
#ifndef KILN_LANES
#define KILN_LANES
__device__ __forceinline__ void kiln_load4(float* d, const float* p) {
  const float4 a = *reinterpret_cast<const float4*>(p);
  d[0] = a.x; d[1] = a.y; d[2] = a.z; d[3] = a.w;
}
__device__ __forceinline__ void kiln_store4(float* p, const float* v) { *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]); }
__device__ __forceinline__ void kiln_add4(float* p, const float* v) {
  float u[4];
  kiln_load4(u, p);
  #pragma unroll
  for (int i = 0; i < 4; i++) u[i] += v[i];
  kiln_store4(p, u);
}
__device__ __forceinline__ void kiln_load8(float* d, const float* p) {
  kiln_load4(d, p);
  kiln_load4(d + 4, p + 4);
}
__device__ __forceinline__ void kiln_store8(float* p, const float* v) {
  kiln_store4(p, v);
  kiln_store4(p + 4, v + 4);
}
__device__ __forceinline__ void kiln_add8(float* p, const float* v) {
  kiln_add4(p, v);
  kiln_add4(p + 4, v + 4);
}
#endif
<#if bf16!false>
#ifndef KILN_LANES_BF16
#define KILN_LANES_BF16
// bf16: one uint4, element 2i in the low half of word i
__device__ __forceinline__ void kiln_load8(float* d, const kiln_bf16* p) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const unsigned w[4] = {u.x, u.y, u.z, u.w};
  #pragma unroll
  for (int i = 0; i < 4; i++) {
    d[2 * i] = __uint_as_float(w[i] << 16);
    d[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
__device__ __forceinline__ void kiln_store8(kiln_bf16* p, const float* v) {
  unsigned w[4];
  #pragma unroll
  for (int i = 0; i < 4; i++) w[i] = (unsigned) kiln_bf16_rn(v[2 * i]) | ((unsigned) kiln_bf16_rn(v[2 * i + 1]) << 16);
  *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}
// += : read, widen, add in fp32, round and store
__device__ __forceinline__ void kiln_add8(kiln_bf16* p, const float* v) {
  float u[8];
  kiln_load8(u, p);
  #pragma unroll
  for (int i = 0; i < 8; i++) u[i] += v[i];
  kiln_store8(p, u);
}
#endif
</#if>
