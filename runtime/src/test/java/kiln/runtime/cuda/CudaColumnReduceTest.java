// The split-row column reduction (colreduce.cu.ftl) against double-precision sums computed here, at
// shapes that divide nothing: rows = 5 x 419 (not a multiple of the splits, the threads' chunks or the
// unroll), 100 columns (not a multiple of 8: the element-a-row path), a bias-style sum, a layernorm-weight-style
// `+=` with per-row values (the bias's sibling: one launch reads x once for both), a two-var output whose innermost dim (37)
// is shorter than a warp, and a max.
// The row reduction beside them stays on reduce.cu.ftl; with the schedule off (KILN_COLREDUCE=0's
// withColumns(null)) every one runs there and gives the same values. Tagged gpu: skips without a device.
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.max;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Compute;
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
class CudaColumnReduceTest {
  static final Dim B = new Dim("B"), T = new Dim("T"), C = new Dim("C"), THREE = new Dim("THREE"), HS = new Dim("HS");
  static final int b = 5, t = 419, c = 100, three = 3, hs = 37;

  @Test
  void columnReductionsMatchDoubleSumsAndTheBlockPerOutputSchedule() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B, T, C), dy = g.input("dy", DType.F32, B, T, C);
    Tensor mean = g.input("mean", DType.F32, B, T), rstd = g.input("rstd", DType.F32, B, T);
    Tensor x3 = g.input("x3", DType.F32, B, T, THREE, HS), w = g.input("w", DType.F32, C);
    Tensor bias = g.compute("bias", dims(C), j -> sum(B, i -> sum(T, k -> x.at(i, k, j))));
    Tensor dw = g.compute("dw", dims(C), j -> sum(B, i -> sum(T, k -> dy.at(i, k, j).mul(x.at(i, k, j).sub(mean.at(i, k)).mul(rstd.at(i, k))))));
    Tensor qkvb = g.compute("qkvb", dims(THREE, HS), (h, j) -> sum(B, i -> sum(T, k -> x3.at(i, k, h, j))));
    Tensor top = g.compute("top", dims(C), j -> max(B, i -> max(T, k -> x.at(i, k, j))));
    Tensor rows = g.compute("rows", dims(B, T), (i, k) -> sum(C, j -> x.at(i, k, j)));
    Compute dwc = g.computes().stream().filter(e -> e.out() == dw).findFirst().orElseThrow();
    Compute accumulate = new Compute("w+=dw", dwc.layer(), w, dwc.loopVars(), dwc.outIndex(), dwc.body(), true);
    List<Compute> computes = g.computes().stream().map(e -> e == dwc ? accumulate : e).toList();
    Map<String, List<Compute>> program = Map.of("backward", computes);
    Map<Dim, Integer> sizes = Map.of(B, b, T, t, C, c, THREE, three, HS, hs);

    Random random = new Random(11);
    Map<Tensor, float[]> inputs = new LinkedHashMap<>();
    for (Tensor in : List.of(x, dy, mean, rstd, x3, w)) {
      long n = 1;
      for (Dim d : in.dims()) n *= sizes.get(d);
      float[] v = new float[(int) n];
      for (int i = 0; i < v.length; i++) v[i] = (float) (in == rstd ? 0.5 + random.nextDouble() : random.nextGaussian());
      inputs.put(in, v);
    }
    float[] xv = inputs.get(x), dyv = inputs.get(dy), mv = inputs.get(mean), rv = inputs.get(rstd), x3v = inputs.get(x3), wv = inputs.get(w);
    int n = b * t;
    double[] wantBias = new double[c], wantW = new double[c], wantQkvb = new double[three * hs], wantTop = new double[c], wantRows = new double[n];
    java.util.Arrays.fill(wantTop, Double.NEGATIVE_INFINITY);
    for (int j = 0; j < c; j++) wantW[j] = wv[j];
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < c; j++) {
        double v = xv[r * c + j];
        wantBias[j] += v;
        wantW[j] += (double) dyv[r * c + j] * ((v - mv[r]) * rv[r]);
        wantTop[j] = Math.max(wantTop[j], v);
        wantRows[r] += v;
      }
      for (int j = 0; j < three * hs; j++) wantQkvb[j] += x3v[r * three * hs + j];
    }

    CudaSchedule on = CudaSchedule.DEFAULT;
    try (Cuda cuda = Cuda.open()) {
      Assumptions.assumeTrue(!"0".equals(System.getenv("KILN_COLREDUCE")), "the column reduction is switched off");
      for (CudaSchedule s : List.of(on, on.withColumns(null))) {
        String what = s.columns() == null ? "off: " : "on: ";
        try (CudaExecutor ex = new CudaExecutor(new Arena(g, sizes), program, cuda, s, TuningCache.load(java.nio.file.Path.of("/nonexistent/tuning.json")))) {
          inputs.forEach(ex::write);
          ex.enableProfile();
          ex.run("backward");
          List<String> kinds = ex.profile().stream().map(Map.Entry::getKey).toList();
          String column = s.columns() == null ? "reduce " : "colreduce ";
          // profile keys are "<kind> <compute>", the compute named with its graph's prefix ("colreduce model.bias")
          for (String name : List.of("bias", "w+=dw", "qkvb", "top")) assertTrue(runsAs(kinds, column, name), what + name + " runs as " + column + kinds);
          String row = kiln.codegen.CudaLowering.rows() ? "row " : "reduce ";
          assertTrue(runsAs(kinds, row, "rows"), what + "a row reduction runs as " + row + kinds);
          // bias and w += dw both sum rows of x: siblings, one launch (CudaLowering.groups) where the schedule is on
          if (s.columns() != null && kiln.codegen.CudaLowering.siblings()) {
            assertTrue(kinds.contains(column + "model.bias+w+=dw"), what + "bias and w+=dw share a launch " + kinds);
          }
          String launches = s.columns() == null ? "0" : kiln.codegen.CudaLowering.siblings() ? "3" : "4";
          assertTrue(ex.describe().contains("; " + launches + " column reductions split along the rows"), ex.describe());
          check(what + "bias", wantBias, ex.read(bias), 1e-5);
          check(what + "w += dw", wantW, ex.read(w), 1e-5);
          check(what + "qkvb", wantQkvb, ex.read(qkvb), 1e-5);
          check(what + "max", wantTop, ex.read(top), 0);
          check(what + "rows", wantRows, ex.read(rows), 1e-5);
          if (s.columns() != null) {
            // deterministic: the same sums in the same order again (w accumulates: reset it first)
            float[] first = ex.read(bias), firstW = ex.read(w);
            ex.write(w, wv);
            ex.run("backward");
            assertArrayEquals(first, ex.read(bias), "bias bit for bit on a second run");
            assertArrayEquals(firstW, ex.read(w), "w bit for bit on a second run");
          }
        }
      }
    }
  }

  private static boolean runsAs(List<String> kinds, String kind, String compute) {
    // a launch of several computes is named by them joined with "+", the graph's prefix on the first ("colreduce model.bias+w+=dw")
    return kinds.stream().anyMatch(k -> k.startsWith(kind) && (k.equals(kind + compute) || k.endsWith("." + compute) || k.endsWith("+" + compute)
        || k.contains("." + compute + "+")));
  }

  /** Max abs error within tol x (the largest |term| sum bound: max |want| + 1), so an exact-order max must match exactly. */
  static void check(String what, double[] want, float[] got, double tol) {
    assertEquals(want.length, got.length, what);
    double maxErr = 0, maxRef = 0;
    for (int i = 0; i < want.length; i++) {
      maxErr = Math.max(maxErr, Double.isNaN(got[i]) ? Double.POSITIVE_INFINITY : Math.abs(got[i] - want[i]));
      maxRef = Math.max(maxRef, Math.abs(want[i]));
    }
    double bound = tol == 0 ? 0 : tol * (maxRef + Math.sqrt(b * t));
    assertTrue(maxErr <= bound, what + ": max abs error " + maxErr + " against max " + maxRef + " (bound " + bound + ")");
  }
}
