// The tuner end to end on one small matmul: every variant checked and timed, the winner stored,
// and a new executor over the same program picks it from the cache.
package kiln.runtime.cpu;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import kiln.codegen.Schedule;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Tuner;
import kiln.runtime.TuningCache;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpuTunerTest {
  static final Dim M = new Dim("M"), N = new Dim("N"), K = new Dim("K");

  @Test void tunesStoresAndIsUsed(@TempDir Path dir) {
    Graph g = new Graph();
    Tensor a = g.input("a", DType.F32, M, K), b = g.input("b", DType.F32, N, K);
    g.compute("c", dims(M, N), (m, n) -> sum(K, k -> a.at(m, k).mul(b.at(n, k))));
    Map<String, List<kiln.dsl.Compute>> program = Map.of("forward", g.computes());
    Map<Dim, Integer> sizes = Map.of(M, 96, N, 80, K, 300);
    TuningCache cache = TuningCache.load(dir.resolve("tuning.json"));
    String device = TuningCache.cpuDevice(2);
    List<Tuner.Result<Schedule>> results;
    try (CpuExecutor ex = new CpuExecutor(new Arena(g, sizes), program, 2, cache)) {
      assertTrue(ex.describe().contains("0 of 1 matmul launches tuned"), ex.describe());
      results = CpuTuner.tune(ex.arena(), program, ex.pool(), cache, device, new PrintStream(new ByteArrayOutputStream()));
    }
    assertEquals(1, results.size());
    Tuner.Result<Schedule> r = results.getFirst();
    assertEquals("1x96x80x300", r.shape());
    assertEquals(Schedule.cpuSpace(16).size(), r.tried());
    assertEquals(r.tried(), r.valid(), "every variant computes the same product");
    assertTrue(r.bestMs() <= r.defaultMs() && r.bestMs() <= r.worstMs());
    cache.save();
    TuningCache reloaded = TuningCache.load(dir.resolve("tuning.json"));
    assertEquals(1, reloaded.size());
    try (CpuExecutor ex = new CpuExecutor(new Arena(g, sizes), program, 2, reloaded)) {
      assertTrue(ex.describe().contains("1 of 1 matmul launches tuned"), ex.describe());
    }
  }
}
