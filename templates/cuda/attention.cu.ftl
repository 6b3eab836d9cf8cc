<#-- Entry point of one attention extern (forward, dq or dkdv; kiln.codegen.FlashAttention): binds the
     arena offsets, sizes and operand strides (kiln.codegen.AttentionLayout) to the device function of
     flash_attention.cuh. Grid (${gridRows}, ceil(T / row tile)), ${threads} threads, ${smem} bytes of
     dynamic shared memory: the static_asserts keep the host's numbers and the kernel's macros in step.
     dkvCluster > 0 (dkdv only): thread-block clusters of that many query heads (__cluster_dims__); dqWide (dq
     only): the dO fragments read from shared memory. -->
<#include "prologue.ftl">
#define HS ${hs}
#define FA_TF32 ${tf32}
#define FA_ACCUMULATE ${accumulate}
#define FA_FWD_BK ${fwdBk}
#define FA_DQ_BK ${dqBk}
#define FA_DKV_BQ ${dkvBq}
#define FA_DKV_WIDE ${dkvWide}
<#if dkvCluster != 0>
#define FA_DKV_CLUSTER ${dkvCluster}
</#if>
<#if dqWide>
#define FA_DQ_WIDE 1
</#if>
<#include "flash_attention.cuh">

extern "C" __global__ void __launch_bounds__(${threadsMacro}, ${minBlocksMacro}) ${clusterDims}${name}(float* __restrict__ F, int* __restrict__ I, const Args_${name} a) {
  static_assert(${threadsMacro} == ${threads}, "threads per block differ from the host's");
  static_assert(${smemMacro} == ${smem}, "dynamic shared memory differs from the host's");
  static_assert(${rowsMacro} == ${rows}, "row tile differs from the host's");
${unpack}
${operands}
  ${call};
}
#undef HS
#undef FA_TF32
#undef FA_ACCUMULATE
#undef FA_FWD_BK
#undef FA_DQ_BK
#undef FA_DKV_BQ
#undef FA_DKV_WIDE
<#if dkvCluster != 0>
#undef FA_DKV_CLUSTER
</#if>
<#if dqWide>
#undef FA_DQ_WIDE
</#if>
