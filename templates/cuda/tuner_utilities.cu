// kiln's tuner utilities: fresh inputs, output save/restore, on-device comparison.
extern "C" __global__ void kiln_fill(float* p, long long n, unsigned seed) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    unsigned h = (unsigned) i * 2654435761u ^ seed;
    h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;
    p[i] = (float) (h >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}
extern "C" __global__ void kiln_copy(float* dst, const float* src, long long n) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) dst[i] = src[i];
}
// bf16 tensors: values in [-1, 1) as bf16 bits (a float fill leaves arbitrary bit pairs there, NaN among them), 2-byte copies
extern "C" __global__ void kiln_fill_bf16(unsigned short* p, long long n, unsigned seed) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    unsigned h = (unsigned) i * 2654435761u ^ seed;
    h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;
    p[i] = (unsigned short) (__float_as_uint((float) (h >> 8) * (2.0f / 16777216.0f) - 1.0f) >> 16);
  }
}
extern "C" __global__ void kiln_copy16(unsigned short* dst, const unsigned short* src, long long n) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) dst[i] = src[i];
}
// out[0] = max |got - want| (NaN counts as infinite), out[1] = max |want|; non-negative floats order as their bits
extern "C" __global__ void kiln_diff(const float* got, const float* want, long long n, unsigned* out) {
  float d = 0.0f, m = 0.0f;
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    float e = fabsf(got[i] - want[i]);
    d = fmaxf(d, e == e ? e : __int_as_float(0x7f800000));
    m = fmaxf(m, fabsf(want[i]));
  }
  for (int o = 16; o > 0; o /= 2) {
    d = fmaxf(d, __shfl_down_sync(0xffffffffu, d, o));
    m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
  }
  if (threadIdx.x % 32 == 0) { atomicMax(&out[0], __float_as_uint(d)); atomicMax(&out[1], __float_as_uint(m)); }
}
// as kiln_diff over bf16 elements (widened exactly)
extern "C" __global__ void kiln_diff16(const unsigned short* got, const unsigned short* want, long long n, unsigned* out) {
  float d = 0.0f, m = 0.0f;
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    const float g = __uint_as_float(((unsigned) got[i]) << 16), w = __uint_as_float(((unsigned) want[i]) << 16);
    float e = fabsf(g - w);
    d = fmaxf(d, e == e ? e : __int_as_float(0x7f800000));
    m = fmaxf(m, fabsf(w));
  }
  for (int o = 16; o > 0; o /= 2) {
    d = fmaxf(d, __shfl_down_sync(0xffffffffu, d, o));
    m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
  }
  if (threadIdx.x % 32 == 0) { atomicMax(&out[0], __float_as_uint(d)); atomicMax(&out[1], __float_as_uint(m)); }
}
