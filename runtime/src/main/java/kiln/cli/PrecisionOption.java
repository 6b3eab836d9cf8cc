// --precision: fp32 (CUDA cores), tf32 (CUDA tensor cores), or bf16 (bf16 storage, fp32 master weights and sums; on the CPU emulated).
package kiln.cli;

import kiln.codegen.CudaSchedule;
import kiln.runtime.Session;

final class PrecisionOption {
  static final String DESCRIPTION = "precision: fp32 (exact fp32), tf32 (CUDA tensor cores, inputs rounded to 10 mantissa bits, fp32 sums)"
      + " or bf16 (parameters and activations stored as bf16, fp32 master weights, AdamW state and sums; emulated on the CPU)"
      + " (default: ${DEFAULT-VALUE}).";

  private PrecisionOption() {}

  static CudaSchedule.Precision parse(String text, Session.Device device) {
    CudaSchedule.Precision p = switch (text) {
      case "fp32" -> CudaSchedule.Precision.FP32;
      case "tf32" -> CudaSchedule.Precision.TF32;
      case "bf16" -> CudaSchedule.Precision.BF16;
      default -> throw new UserError("--precision " + text + ": expected fp32, tf32 or bf16");
    };
    if (p == CudaSchedule.Precision.TF32 && device != Session.Device.CUDA) {
      throw new UserError("--precision tf32: TF32 is a CUDA tensor-core mode; the " + device.name().toLowerCase() + " device computes in fp32");
    }
    return p;
  }
}
