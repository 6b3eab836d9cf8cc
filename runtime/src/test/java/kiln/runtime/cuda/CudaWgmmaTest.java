// The Hopper (sm_90a wgmma + copy engine) matmul against a double-precision product computed here:
// edges no tile divides, every point of the tuner's wgmma space, and the mma.sync fallback for operands
// the copy engine cannot read (a row pitch that is not a multiple of 16 bytes). Tagged gpu: skips where
// no sm_90 device is present.
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.LinkedHashMap;
import java.util.Random;
import kiln.codegen.CudaSchedule;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.TuningCache;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("gpu")
class CudaWgmmaTest {
  static final Dim M = new Dim("M"), N = new Dim("N"), K = new Dim("K"), K2 = new Dim("K2");
  /** TF32 with the default wgmma tile: the schedule the tests over transposed copies run. */
  static final CudaSchedule TF32_WGMMA_DEFAULT = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma(CudaSchedule.WGMMA_DEFAULT);

  @Test
  void matchesDoubleProductAtEveryTileAndFallsBackWhenMisaligned() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Graph g = new Graph();
    Tensor a = g.input("a", DType.F32, M, K), b = g.input("b", DType.F32, N, K);
    Tensor a2 = g.input("a2", DType.F32, M, K2), b2 = g.input("b2", DType.F32, N, K2);
    Tensor c = g.compute("c", dims(M, N), (m, n) -> sum(K, k -> a.at(m, k).mul(b.at(n, k))));        // x·Wᵀ: fits wgmma
    Tensor c2 = g.compute("c2", dims(M, N), (m, n) -> sum(K2, k -> a2.at(m, k).mul(b2.at(n, k))));   // K2 = 258: 1032-byte rows
    Map<String, List<kiln.dsl.Compute>> program = Map.of("forward", g.computes());
    Map<Dim, Integer> sizes = Map.of(M, 300, N, 190, K, 260, K2, 258);
    Map<Tensor, float[]> inputs = gaussianInputs(sizes, 12, a, b, a2, b2);
    double[] want = product(inputs.get(a), inputs.get(b), 300, 190, 260), want2 = product(inputs.get(a2), inputs.get(b2), 300, 190, 258);
    List<CudaSchedule.MatmulTile> tiles = new java.util.ArrayList<>(CudaSchedule.wgmmaSpace());
    try (Cuda cuda = Cuda.open()) {
      Assumptions.assumeTrue(cuda.major() == 9 && cuda.minor() == 0, "wgmma needs sm_90, found " + cuda.arch());
      Assumptions.assumeTrue(!"0".equals(System.getenv("KILN_WGMMA")), "KILN_WGMMA=0 turns the Hopper matmul off");
      for (CudaSchedule.MatmulTile tile : tiles) {
        CudaSchedule s = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma((CudaSchedule.WgmmaTile) tile);
        try (CudaExecutor ex = executor(g, sizes, program, cuda, s)) {
          List<String> kinds = runForward(ex, inputs);
          assertTrue(ex.describe().contains("; 1 of 2 on sm_90a wgmma"), ex.describe());
          assertTrue(kinds.stream().anyMatch(k -> k.startsWith("wgmma ") && k.endsWith(".c")), tile.knobs() + ": c runs on wgmma: " + kinds);
          assertTrue(kinds.stream().anyMatch(k -> k.startsWith("mma ") && k.endsWith(".c2")), tile.knobs() + ": c2 falls back to mma: " + kinds);
          check(tile.knobs() + " c", want, ex.read(c));
          check(tile.knobs() + " c2", want2, ex.read(c2));
        }
      }
    }
  }

  /** Gaussian values for each 2-D tensor, sized by sizes, drawn from one Random(seed) in the order given. */
  static Map<Tensor, float[]> gaussianInputs(Map<Dim, Integer> sizes, long seed, Tensor... tensors) {
    Random random = new Random(seed);
    Map<Tensor, float[]> inputs = new LinkedHashMap<>();
    for (Tensor t : tensors) {
      float[] v = new float[(int) (sizes.get(t.dims().get(0)) * (long) sizes.get(t.dims().get(1)))];
      for (int i = 0; i < v.length; i++) v[i] = (float) random.nextGaussian();
      inputs.put(t, v);
    }
    return inputs;
  }

  /** An executor for program under schedule s, with no tuning cache (a path that does not exist). */
  static CudaExecutor executor(Graph g, Map<Dim, Integer> sizes, Map<String, List<kiln.dsl.Compute>> program, Cuda cuda, CudaSchedule s) {
    return new CudaExecutor(new Arena(g, sizes), program, cuda, s, TuningCache.load(java.nio.file.Path.of("/nonexistent/tuning.json")));
  }

  /** Writes the inputs, runs "forward" under the profiler and returns the kinds of the kernels it launched. */
  static List<String> runForward(CudaExecutor ex, Map<Tensor, float[]> inputs) {
    inputs.forEach(ex::write);
    ex.enableProfile();
    ex.run("forward");
    return ex.profile().stream().map(Map.Entry::getKey).toList();
  }

  /** Skips unless cuda is sm_90 and neither KILN_WGMMA=0 nor KILN_WGMMA_T=0 switches the path over transposed copies off. */
  static void assumeWgmmaOverCopies(Cuda cuda) {
    Assumptions.assumeTrue(cuda.major() == 9 && cuda.minor() == 0, "wgmma needs sm_90, found " + cuda.arch());
    Assumptions.assumeTrue(!"0".equals(System.getenv("KILN_WGMMA")) && !"0".equals(System.getenv("KILN_WGMMA_T")), "the path is switched off");
  }

  /** a·bᵀ with a [m, k] and b [n, k], in double. */
  static double[] product(float[] a, float[] b, int m, int n, int k) {
    return product(a, k, 1, b, k, 1, m, n, k);
  }

  /** atᵀ·bt with both operands stored [k, rows] (at [k, m], bt [k, n]), in double. */
  static double[] transposedProduct(float[] at, float[] bt, int m, int n, int k) {
    return product(at, 1, m, bt, 1, n, m, n, k);
  }

  /** c[i, j] = sum over p of a[i * ai + p * ap] * b[j * bj + p * bp], in double, p in order. */
  static double[] product(float[] a, int ai, int ap, float[] b, int bj, int bp, int m, int n, int k) {
    double[] c = new double[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) s += (double) a[i * ai + p * ap] * b[j * bj + p * bp];
        c[i * n + j] = s;
      }
    }
    return c;
  }

  /** acc + c, element by element, in double: what accumulating c into acc should give. */
  static double[] plus(float[] acc, double[] c) {
    double[] r = new double[c.length];
    for (int i = 0; i < c.length; i++) r[i] = acc[i] + c[i];
    return r;
  }

  /** TF32 rounds each input to 11 significant bits: the error stays within 5e-3 of the largest output (the tuner's bound). */
  static void check(String what, double[] want, float[] got) {
    assertEquals(want.length, got.length);
    double maxErr = 0, maxRef = 0;
    for (int i = 0; i < want.length; i++) {
      maxErr = Math.max(maxErr, Double.isNaN(got[i]) ? Double.POSITIVE_INFINITY : Math.abs(got[i] - want[i]));
      maxRef = Math.max(maxRef, Math.abs(want[i]));
    }
    assertTrue(maxErr <= CudaTuner.TF32_TOLERANCE * maxRef, what + ": max abs error " + maxErr + " against max " + maxRef);
  }
}
