<#-- Entry point of one attention extern (forward, dq or dkdv): binds the arena offsets and sizes to
     the flash-attention device function. Grid (B*NH, ceil(T / row tile)), ${threads} threads,
     ${smem} bytes of dynamic shared memory: the static_asserts keep the host's numbers and the
     kernel's macros in step. -->
<#include "prologue.ftl">
#define HS ${hs}
#define FA_TF32 ${tf32}
#define FA_ACCUMULATE ${accumulate}
<#include "flash_attention.ftl">

extern "C" __global__ void __launch_bounds__(${threadsMacro}, ${minBlocksMacro}) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
  static_assert(${threadsMacro} == ${threads}, "threads per block differ from the host's");
  static_assert(${smemMacro} == ${smem}, "dynamic shared memory differs from the host's");
  static_assert(${rowsMacro} == ${rows}, "row tile differs from the host's");
${unpack}
  ${call};
}
#undef HS
#undef FA_TF32
#undef FA_ACCUMULATE
