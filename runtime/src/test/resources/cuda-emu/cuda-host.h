// What both host emulations of CUDA (colreduce-emu, row-emu) share: the kernel qualifiers as no-ops, the built-in
// vector and index types, and the bit casts a generated kernel calls. Each emu.h includes it and adds its own
// threads, barriers and launch.
#include <cstring>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __restrict__
#define __shared__ static
struct U3 { unsigned x, y, z; };
struct float4 { float x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
// the bf16 kernels' tanh (tanh.ftl, PTX ex2/rcp approximations) as libm's: within 4e-7 absolute of it
#include <cmath>
#define KILN_TANH
static inline float kiln_tanh(float u) { return std::tanh(u); }
