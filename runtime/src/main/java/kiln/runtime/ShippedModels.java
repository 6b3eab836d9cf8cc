// The models whose generated kernels are committed under generated/, and how to emit them.
package kiln.runtime;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Emit;
import kiln.codegen.Schedule;
import kiln.dsl.Compute;
import kiln.models.Gpt2;

public final class ShippedModels {
  private ShippedModels() {}

  /** GPT-2's sections (its kernels do not depend on L; two layers show every one). */
  static Map<String, List<Compute>> gpt2Sections() { return Session.sections(Gpt2.build(2)); }

  /** What CUDA sessions run for GPT-2 (Gpt2.build(L, true): fused attention at head size 64, GELU recomputed). */
  static Map<String, List<Compute>> gpt2CudaSections() { return Session.sections(Gpt2.build(2, true)); }

  private static int gpt2HeadSize(kiln.dsl.Dim d) {
    if (d.equals(Gpt2.HS)) return 64;
    throw new IllegalArgumentException("emit: only the head size is fixed when rendering, not " + d);
  }

  /** Llama's sections at the registry's llama-tiny shape (theta is a constant in the RoPE kernels). */
  static Map<String, List<Compute>> llamaSections() {
    var shape = (Models.LlamaShape) Models.get("llama-tiny");
    return Session.sections(kiln.models.Llama.build(LlamaSessions.config(shape.config())));
  }

  /** Writes generated/{java,cuda}/{gpt2,llama}, generated/cuda/gpt2-tf32 and generated/cuda/gpt2-bf16; returns the number of files. */
  public static int emit(Path root) throws IOException {
    int n = 0;
    for (String model : List.of("gpt2", "llama")) {
      Map<String, String> java = javaFiles(model), cuda = cudaFiles(model);
      Emit.write(root.resolve("java").resolve(model), java);
      Emit.write(root.resolve("cuda").resolve(model), cuda);
      n += java.size() + cuda.size();
    }
    Map<String, String> tf32 = cudaTf32Files("gpt2");
    Emit.write(root.resolve("cuda").resolve("gpt2-tf32"), tf32);
    Map<String, String> bf16 = cudaBf16Files("gpt2");
    Emit.write(root.resolve("cuda").resolve("gpt2-bf16"), bf16);
    return n + tf32.size() + bf16.size();
  }

  /** GPT-2's CUDA sections after the bf16 storage pass, with its "cast" section. */
  static Map<String, List<Compute>> gpt2CudaBf16Sections() {
    kiln.codegen.Bf16Storage.Stored stored = kiln.codegen.Bf16Storage.apply(Gpt2.build(2, true));
    return Session.sections(stored.program(), stored.cast());
  }

  /** The launches at --precision bf16 (INDEX.md) and every kernel: nearly all differ from fp32 (bf16 loads and stores). */
  public static Map<String, String> cudaBf16Files(String model) {
    if (!model.equals("gpt2")) throw new IllegalArgumentException("emit: bf16 kernels are emitted for gpt2 only");
    return Emit.cuda(model + " (--precision bf16)", gpt2CudaBf16Sections(), CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16),
        ShippedModels::gpt2HeadSize);
  }

  private static Map<String, List<Compute>> sections(String model) {
    return model.equals("gpt2") ? gpt2Sections() : llamaSections();
  }

  public static Map<String, String> javaFiles(String model) { return Emit.java(model, sections(model), Schedule.cpuDefault(16)); }

  public static Map<String, String> cudaFiles(String model) {
    if (model.equals("gpt2")) return Emit.cuda(model, gpt2CudaSections(), CudaSchedule.DEFAULT, ShippedModels::gpt2HeadSize);
    return Emit.cuda(model, sections(model), CudaSchedule.DEFAULT);
  }

  /**
   * The launches at --precision tf32 (INDEX.md) and the kernels that differ from fp32: the tensor-core
   * matmuls and attention (every other kernel is the same file as in the fp32 folder).
   */
  public static Map<String, String> cudaTf32Files(String model) {
    Map<String, String> all = Emit.cuda(model + " (--precision tf32)", gpt2CudaSections(), CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32),
        ShippedModels::gpt2HeadSize);
    Map<String, String> kept = new LinkedHashMap<>();
    for (var e : all.entrySet()) {
      if (e.getKey().startsWith("k_mma") || e.getKey().startsWith("k_attention") || e.getKey().equals("INDEX.md")) kept.put(e.getKey(), e.getValue());
    }
    return kept;
  }

}
