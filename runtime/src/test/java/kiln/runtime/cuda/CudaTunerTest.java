// The CUDA tuner end to end on small matmuls in both layouts and at both precisions: every variant
// checked and timed, the winners stored, and a new executor over the same program picks them.
// Tagged gpu: skips where no CUDA device is present.
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import kiln.codegen.CudaSchedule;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Tuner;
import kiln.runtime.TuningCache;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@Tag("gpu")
class CudaTunerTest {
  static final Dim M = new Dim("M"), N = new Dim("N"), K = new Dim("K");

  @ParameterizedTest
  // bf16 reads bf16 tensors, which these fp32 inputs are not: tunesBf16OnGpt2Tiny
  @EnumSource(value = CudaSchedule.Precision.class, names = {"FP32", "TF32"})
  void tunesStoresAndIsUsed(CudaSchedule.Precision precision, @TempDir Path dir) {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Graph g = new Graph();
    Tensor a = g.input("a", DType.F32, M, K), b = g.input("b", DType.F32, N, K), w = g.input("w", DType.F32, K, N), y = g.input("y", DType.F32, M, N);
    g.compute("c", dims(M, N), (m, n) -> sum(K, k -> a.at(m, k).mul(b.at(n, k))));       // B k-contiguous (a linear layer)
    g.compute("d", dims(M, N), (m, n) -> sum(K, k -> a.at(m, k).mul(w.at(k, n))));       // B n-contiguous
    g.compute("e", dims(K, N), (k, n) -> sum(M, m -> a.at(m, k).mul(y.at(m, n))));      // A m-contiguous (a weight gradient)
    Map<String, List<kiln.dsl.Compute>> program = Map.of("forward", g.computes());
    Map<Dim, Integer> sizes = Map.of(M, 300, N, 190, K, 260);   // edges that no tile divides
    TuningCache cache = TuningCache.load(dir.resolve("tuning.json"));
    CudaSchedule schedule = CudaSchedule.DEFAULT.withPrecision(precision);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    List<Tuner.Result<CudaSchedule.MatmulTile>> results;
    try (Cuda cuda = Cuda.open(); CudaExecutor ex = new CudaExecutor(new Arena(g, sizes), program, cuda, schedule, cache)) {
      assertTrue(ex.describe().contains("0 of 3 matmul launches tuned"), ex.describe());
      results = CudaTuner.tune(ex.layout(), program, ex, schedule, cache, new PrintStream(log, true, StandardCharsets.UTF_8));
    }
    String report = log.toString(StandardCharsets.UTF_8);
    System.out.print(report);
    assertEquals(3, results.size(), report);
    CudaSchedule onDevice;
    try (Cuda cuda = Cuda.open()) { onDevice = CudaExecutor.forDevice(schedule, cuda); }
    for (Tuner.Result<CudaSchedule.MatmulTile> r : results) {
      var mm = kiln.codegen.MatmulMatch.of(g.computes().stream().filter(c -> c.name().equals(r.launch())).findFirst().orElseThrow()).orElseThrow();
      // the precision's space, with the wgmma tiles where they fit or (d, e at TF32 on sm_90) run over transposed copies
      assertEquals(CudaTuner.space(onDevice, mm, sizes::get, CudaExecutor.transposeFloats(onDevice), null).size(), r.tried(), r.launch() + " tries its space");
      assertEquals(r.tried(), r.valid(), "every variant computes the same product:\n" + report);
      assertTrue(r.bestMs() <= r.defaultMs() && r.bestMs() <= r.worstMs(), r.toString());
    }
    cache.save();
    TuningCache reloaded = TuningCache.load(dir.resolve("tuning.json"));
    assertEquals(3, reloaded.size());
    try (Cuda cuda = Cuda.open(); CudaExecutor ex = new CudaExecutor(new Arena(g, sizes), program, cuda, schedule, reloaded)) {
      assertTrue(ex.describe().contains("3 of 3 matmul launches tuned"), ex.describe());
    }
  }

  /**
   * At bf16 on sm_90 (gpt2-tiny, B=4, T=64): the matmuls of two bf16 operands race WgmmaBf16.space() against the SIMT
   * reference reading the same bf16 tensors, every variant agrees with it, and a new executor takes the winners.
   */
  @org.junit.jupiter.api.Test
  void tunesBf16OnGpt2Tiny(@TempDir Path dir) {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    TuningCache cache = TuningCache.load(dir.resolve("tuning.json"));
    CudaSchedule schedule = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    try (kiln.runtime.Session s = kiln.runtime.Models.get("gpt2-tiny").open(4, 64, kiln.runtime.Session.Device.CUDA, 1, CudaSchedule.Precision.BF16, 0, kiln.runtime.Session.Zero.NONE)) {
      CudaExecutor ex = (CudaExecutor) s.executor;
      Assumptions.assumeTrue(ex.cuda().major() == 9 && ex.cuda().minor() == 0, "the bf16 wgmma tile needs sm_90, found " + ex.cuda().arch());
      var sections = kiln.runtime.Session.sections(s.program);
      List<Tuner.Result<CudaSchedule.MatmulTile>> results = CudaTuner.tune(s.arena, sections, ex, schedule, cache, new PrintStream(log, true, StandardCharsets.UTF_8));
      String report = log.toString(StandardCharsets.UTF_8);
      System.out.print(report);
      long bf16 = results.stream().filter(r -> r.msByTile().keySet().stream().allMatch(t -> t instanceof kiln.codegen.WgmmaBf16.Tile)).count();
      assertTrue(bf16 >= 5, "the forward's qkv, fc, fcproj, lm_head and backward ones race the bf16 tiles:\n" + report);
      for (Tuner.Result<CudaSchedule.MatmulTile> r : results) assertEquals(r.tried(), r.valid(), "every variant computes the reference's product:\n" + report);
      try (CudaExecutor again = new CudaExecutor(s.arena, sections, ex.cuda(), schedule, cache)) {
        assertTrue(again.describe().matches("(?s).*\\b(\\d+) of \\1 matmul launches tuned.*"), again.describe());
      }
    }
  }
}
