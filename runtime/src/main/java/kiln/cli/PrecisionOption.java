// --precision for the commands that run CUDA matmuls: fp32 (CUDA cores) or tf32 (tensor cores).
package kiln.cli;

import kiln.codegen.CudaSchedule;
import kiln.runtime.Session;

final class PrecisionOption {
  static final String DESCRIPTION = "CUDA matmul precision: fp32 (exact fp32 on CUDA cores) or tf32 (tensor cores, inputs rounded to"
      + " 10 mantissa bits, fp32 sums); the CPU always computes in fp32 (default: ${DEFAULT-VALUE}).";

  private PrecisionOption() {}

  static CudaSchedule.Precision parse(String text, Session.Device device) {
    CudaSchedule.Precision p = switch (text) {
      case "fp32" -> CudaSchedule.Precision.FP32;
      case "tf32" -> CudaSchedule.Precision.TF32;
      default -> throw new UserError("--precision " + text + ": expected fp32 or tf32");
    };
    if (p == CudaSchedule.Precision.TF32 && device != Session.Device.CUDA) {
      throw new UserError("--precision tf32: TF32 is a CUDA tensor-core mode; the " + device.name().toLowerCase() + " device computes in fp32");
    }
    return p;
  }
}
