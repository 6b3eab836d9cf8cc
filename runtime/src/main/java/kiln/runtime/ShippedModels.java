// What codegen emits for every registered family, committed under generated/ (a test diffs a fresh emit):
// java/<family>, cuda/<family> and cuda/<family>-tf32, each from the family's first preset (kernels do
// not depend on L, and every other dim is read at run time, except what an extern fixes when rendered).
package kiln.runtime;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Emit;
import kiln.codegen.Schedule;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.models.ModelFamily;

public final class ShippedModels {
  private ShippedModels() {}

  /** The family names, in registry order: the folders under generated/java and generated/cuda. */
  public static List<String> names() { return Models.FAMILIES.stream().map(ModelFamily::name).toList(); }

  private static ModelFamily<?> family(String name) {
    return Models.FAMILIES.stream().filter(f -> f.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("emit: no family " + name + "; expected one of " + names()));
  }

  /** The family's first preset: what is emitted. */
  private static Models.Shape first(String name) {
    ModelFamily<?> f = family(name);
    return new Models.Shape(f, f.presets().values().iterator().next());
  }

  /**
   * Sizes an extern fixes at render time (the attention's head size), from the family's largest preset:
   * the shape the fused kernels are tuned for.
   */
  private static int fixedSize(String name, Dim d) {
    ModelFamily<?> f = family(name);
    Models.Shape largest = f.presets().values().stream().map(c -> new Models.Shape(f, c))
        .max(Comparator.comparingLong(Models.Shape::paramCount)).orElseThrow();
    Integer n = largest.bind(1, 1).get(d);
    if (n == null) throw new IllegalArgumentException("emit: " + name + " has no dim " + d);
    return n;
  }

  private static Map<String, List<Compute>> sections(String model, Session.Device device) {
    return device == Session.Device.CPU ? Session.sections(first(model).program(device)) : Session.cudaSections(first(model).program(device), null, null);
  }

  /** The CUDA sections a session at this precision runs (Models.Shape.program), the training step's joined one included. */
  private static Map<String, List<Compute>> sections(String model, CudaSchedule.Precision precision) {
    return Session.cudaSections(first(model).program(Session.Device.CUDA, precision, null), null, null);
  }

  /**
   * Writes generated/{java,cuda}/<family> and generated/cuda/<family>-tf32 and <family>-sm90, and generated/cuda/gpt2-bf16 and
   * gpt2-bf16-sm90; returns the number of files.
   */
  public static int emit(Path root) throws IOException {
    int n = 0;
    for (String model : names()) {
      Map<String, String> java = javaFiles(model), cuda = cudaFiles(model), tf32 = cudaTf32Files(model), sm90 = cudaSm90Files(model);
      Emit.write(root.resolve("java").resolve(model), java);
      Emit.write(root.resolve("cuda").resolve(model), cuda);
      Emit.write(root.resolve("cuda").resolve(model + "-tf32"), tf32);
      Emit.write(root.resolve("cuda").resolve(model + "-sm90"), sm90);
      n += java.size() + cuda.size() + tf32.size() + sm90.size();
    }
    Map<String, String> bf16 = cudaBf16Files("gpt2"), bf16Sm90 = cudaBf16Sm90Files("gpt2");
    Emit.write(root.resolve("cuda").resolve("gpt2-bf16"), bf16);
    Emit.write(root.resolve("cuda").resolve("gpt2-bf16-sm90"), bf16Sm90);
    return n + bf16.size() + bf16Sm90.size();
  }

  /** GPT-2's CUDA sections after the bf16 storage pass, with its "cast" section. */
  static Map<String, List<Compute>> gpt2CudaBf16Sections() {
    kiln.codegen.Bf16Storage.Stored stored = kiln.codegen.Bf16Storage.apply(first("gpt2").program(Session.Device.CUDA), true, kiln.codegen.Bf16Storage.Residual.FP32);
    return Session.cudaSections(stored.program(), stored.cast(), null);
  }

  /** The launches at --precision bf16 (INDEX.md) and every kernel: nearly all differ from fp32 (bf16 loads and stores). */
  public static Map<String, String> cudaBf16Files(String model) {
    if (!model.equals("gpt2")) throw new IllegalArgumentException("emit: bf16 kernels are emitted for gpt2 only");
    return Emit.cuda(model + " (--precision bf16)", gpt2CudaBf16Sections(), CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16),
        d -> fixedSize(model, d));
  }

  /**
   * The launches at --precision bf16 on an sm_90 GPU with the default bf16 wgmma tile (INDEX.md) and its kernels: every
   * matmul of two bf16 operands, with its epilogue, and any other kernel that differs on sm_90 (every other kernel is the
   * same file as in gpt2-bf16). The arena's placement is not known here: every such matmul counts as aligned (a session
   * falls back where one is not).
   */
  public static Map<String, String> cudaBf16Sm90Files(String model) {
    if (!model.equals("gpt2")) throw new IllegalArgumentException("emit: bf16 kernels are emitted for gpt2 only");
    return unlike(Emit.cuda(model + " (--precision bf16, sm_90a bf16 wgmma)", gpt2CudaBf16Sections(),
        CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16).withWgmmaBf16(kiln.codegen.WgmmaBf16.DEFAULT), d -> fixedSize(model, d)),
        cudaBf16Files(model));
  }

  /**
   * The launches at --precision tf32 on an sm_90 GPU with the default wgmma tile (INDEX.md) and the Hopper
   * matmuls that fit it in place, with their epilogues (the backward's, over transposed copies, need the
   * sizes bound and are not emitted), and any other kernel that differs on sm_90 (every other kernel is the same file as
   * in <family> or <family>-tf32).
   */
  public static Map<String, String> cudaSm90Files(String model) {
    Map<String, String> base = new LinkedHashMap<>(cudaFiles(model));
    base.putAll(cudaTf32Files(model));
    return unlike(Emit.cuda(model + " (--precision tf32, sm_90a wgmma)", sections(model, CudaSchedule.Precision.TF32),
        CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma(CudaSchedule.WGMMA_DEFAULT), d -> fixedSize(model, d)), base);
  }

  public static Map<String, String> javaFiles(String model) {
    return Emit.java(model, sections(model, Session.Device.CPU), Schedule.cpuDefault(16));
  }

  /** What CUDA sessions run: the backend pass applied (fused attention where it fits, GELU recomputed). */
  public static Map<String, String> cudaFiles(String model) {
    return Emit.cuda(model, sections(model, Session.Device.CUDA), CudaSchedule.DEFAULT, d -> fixedSize(model, d));
  }

  /**
   * The launches at --precision tf32 (INDEX.md) and the kernels that differ from fp32: the tensor-core
   * matmuls and attention (every other kernel is the same file as in the fp32 folder).
   */
  public static Map<String, String> cudaTf32Files(String model) {
    return kept(Emit.cuda(model + " (--precision tf32)", sections(model, CudaSchedule.Precision.TF32),
        CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32), d -> fixedSize(model, d)), "k_mma", "k_attention");
  }

  /** INDEX.md and the files base does not hold (kernel files are named by their text's hash), in emit order. */
  private static Map<String, String> unlike(Map<String, String> all, Map<String, String> base) {
    Map<String, String> kept = new LinkedHashMap<>();
    for (var e : all.entrySet()) if (e.getKey().equals("INDEX.md") || !base.containsKey(e.getKey())) kept.put(e.getKey(), e.getValue());
    return kept;
  }

  /** INDEX.md and the files whose names start with one of the prefixes, in emit order. */
  private static Map<String, String> kept(Map<String, String> all, String... prefixes) {
    Map<String, String> kept = new LinkedHashMap<>();
    for (var e : all.entrySet()) {
      boolean keep = e.getKey().equals("INDEX.md");
      for (String prefix : prefixes) keep |= e.getKey().startsWith(prefix);
      if (keep) kept.put(e.getKey(), e.getValue());
    }
    return kept;
  }
}
