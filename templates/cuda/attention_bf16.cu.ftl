<#-- Entry point of one bf16 attention extern (forward, dq or dkdv) on bf16 tensor cores: binds the arena
     offsets and strides to the device functions of flash_attention_bf16.cuh (FlashBf16 builds the
     operands). Grid (rows, ceil(T / ${rows})), ${threads} threads, ${smem} bytes of dynamic shared memory,
     ${macro}MIN_BLOCKS blocks an SM at least: the static_asserts keep the host's numbers and the kernel's
     macros in step. At HS 64 the source asks NVRTC for sm_90a on an sm_90 device (the marker below), where the header picks its wgmma kernels. -->
<#include "prologue.ftl">
<#if hs == 64>
// kiln: sm_90a
</#if>
#define HS ${hs}
<#include "flash_attention_bf16.cuh">

extern "C" __global__ void __launch_bounds__(${macro}NT, ${macro}MIN_BLOCKS) ${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
  static_assert(${macro}NT == ${threads}, "threads per block differ from the host's");
  static_assert(${macro}SMEM_BYTES == ${smem}, "dynamic shared memory differs from the host's");
  static_assert(${macro}ROWS == ${rows}, "row tile differs from the host's");
${unpack}
  ${call};
}
#undef HS
