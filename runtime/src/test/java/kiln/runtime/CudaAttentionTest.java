// The flash-attention extern on shapes the fixtures do not reach, against the CPU's DSL definition:
// head sizes 128 (Gemma d12's: 32-key tiles and the wide dkdv kernel at TF32) and 40 (the fp32 kernels'
// narrow column tile), grouped-query heads (dk, dv summed over the group in the kernel) and multi-query
// heads (at fp32 a partial per query head, summed by the DSL; at TF32 summed across a thread-block cluster of
// the group's blocks: G = 8, 4, 3, 2 over the wide and the narrow kernel), sequences that are no multiple of a tile.
// Tagged gpu: skips without CUDA.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import kiln.codegen.CudaSchedule;
import kiln.models.Gemma;
import kiln.runtime.cuda.Cuda;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Tag("gpu")
class CudaAttentionTest {
  @ParameterizedTest(name = "NH={0} NKV={1} HS={2} T={3} {4}")
  @CsvSource({"4, 2, 128, 70, FP32", "4, 2, 128, 70, TF32", "8, 1, 128, 45, TF32", "8, 1, 128, 45, FP32", "6, 3, 40, 77, FP32", "6, 3, 40, 77, TF32",
      "4, 1, 32, 33, FP32", "4, 1, 32, 33, TF32", "3, 1, 64, 100, TF32", "2, 1, 128, 128, TF32"})
  void externAgreesWithTheDefinition(int heads, int kvHeads, int headSize, int seq, CudaSchedule.Precision precision) {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Gemma.Config config = new Gemma.Config(128, 64, 64, 1, heads, kvHeads, headSize, 32, 64, 10000f, 1e-6f);
    Models.Shape shape = Models.of(config);
    assertTrue(shape.program(Session.Device.CUDA).graph().computes().stream().noneMatch(c -> c.name().contains("scores")),
        "the CUDA program still has the DSL attention");
    int batch = 2;
    float[] params = shape.randomInit(3);
    for (int i = 0; i < params.length; i++) params[i] *= 10;  // weights of 0.2: scores far from uniform
    SplittableRandom rnd = new SplittableRandom(4);
    int[] x = new int[batch * seq], y = new int[batch * seq];
    for (int i = 0; i < x.length; i++) {
      x[i] = rnd.nextInt(64);
      y[i] = rnd.nextInt(64);
    }
    float[][] logits = new float[2][], grads = new float[2][];
    int k = 0;
    for (Session.Device d : new Session.Device[] {Session.Device.CPU, Session.Device.CUDA}) {
      try (Session s = shape.open(batch, seq, d, 2, precision, 0, Session.Zero.NONE)) {
        s.loadParams(params);
        s.setBatch(x, y);
        s.forward();
        logits[k] = s.read(s.program.logits());
        s.backward();
        grads[k++] = s.read(s.program.grads().get("wte").root());
      }
    }
    Verify.Tolerances tol = Verify.Tolerances.of(Session.Device.CUDA, precision);
    StringBuilder report = new StringBuilder("cuda vs cpu at " + precision + " (rel = max abs diff / cpu max abs, within " + tol + "):\n");
    Verify.Diff l = Verify.diff("logits", logits[1], logits[0], 0, logits[0].length, tol.logits());
    boolean ok = l.ok();
    report.append(String.format("%-10s %.3e %.3e%n", l.name(), l.maxAbs(), l.maxRel()));
    long[] sizes = Gemma.FAMILY.layout(config).sizes();
    int off = 0;
    for (int i = 0; i < sizes.length; i++) {
      Verify.Diff g = Verify.diff(List.copyOf(Gemma.FAMILY.parameters().keySet()).get(i), grads[1], grads[0], off, (int) sizes[i], tol.grads());
      report.append(String.format("%-10s %.3e %.3e%n", g.name(), g.maxAbs(), g.maxRel()));
      ok &= g.ok();
      off += (int) sizes[i];
    }
    System.out.print(report);
    assertTrue(ok, report.toString());
  }

  /**
   * The bf16 kernels (flash_attention_bf16.cuh) at HS 64, where sm_90a runs the wgmma ones: grouped-query
   * heads, multi-query heads (per-query-head partials) and sequences that are no multiple of 64.
   */
  @ParameterizedTest(name = "NH={0} NKV={1} HS={2} T={3} {4}")
  @CsvSource({"4, 2, 64, 70, BF16", "8, 1, 64, 45, BF16", "8, 1, 64, 100, BF16", "4, 4, 64, 100, BF16"})
  void bf16ExternAgreesWithTheDefinition(int heads, int kvHeads, int headSize, int seq, CudaSchedule.Precision precision) {
    externAgreesWithTheDefinition(heads, kvHeads, headSize, seq, precision);
  }
}
