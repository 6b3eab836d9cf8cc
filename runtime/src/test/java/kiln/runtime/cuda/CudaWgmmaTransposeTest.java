// The Hopper matmul over transposed copies (CudaExecutor.transposedTiles) against a double-precision
// product computed here, at shapes no tile divides: dx = dy·W (B stored [k, n]), dW += dyᵀ·x (both
// operands stored [k, rows], accumulating into C, K odd) and each again split into chunks along K by a
// small workspace cap (chunk 0 assigns, the later ones add). Tagged gpu: skips without an sm_90 device.
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("gpu")
class CudaWgmmaTransposeTest {
  static final Dim M = new Dim("M"), N = new Dim("N"), K = new Dim("K"), K2 = new Dim("K2");
  static final int m = 300, n = 190, k = 260, k2 = 517;

  @Test
  void transposedOperandsMatchDoubleProductWholeAndInChunks() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Graph g = new Graph();
    Tensor a = g.input("a", DType.F32, M, K), b = g.input("b", DType.F32, K, N);          // dx = dy·W: B n-major
    Tensor at = g.input("at", DType.F32, K2, M), bt = g.input("bt", DType.F32, K2, N);    // dW = dyᵀ·x: both m-major
    Tensor acc = g.input("acc", DType.F32, M, N);
    Tensor c = g.compute("c", dims(M, N), (i, j) -> sum(K, p -> a.at(i, p).mul(b.at(p, j))));
    Tensor w = g.compute("w", dims(M, N), (i, j) -> sum(K2, p -> at.at(p, i).mul(bt.at(p, j))));
    Compute wc = g.computes().stream().filter(x -> x.out() == w).findFirst().orElseThrow();
    Compute cc = g.computes().stream().filter(x -> x.out() == c).findFirst().orElseThrow();
    Compute accumulate = new Compute("acc+=w", wc.layer(), acc, wc.loopVars(), wc.outIndex(), wc.body(), true);
    Map<String, List<Compute>> program = Map.of("forward", List.of(cc, accumulate));
    Map<Dim, Integer> sizes = Map.of(M, m, N, n, K, k, K2, k2);
    Map<Tensor, float[]> inputs = CudaWgmmaTest.gaussianInputs(sizes, 7, a, b, at, bt, acc);
    double[] wantC = CudaWgmmaTest.product(inputs.get(a), k, 1, inputs.get(b), 1, n, m, n, k); // a [m, k] · b [k, n]
    double[] wantAcc = CudaWgmmaTest.plus(inputs.get(acc), CudaWgmmaTest.transposedProduct(inputs.get(at), inputs.get(bt), m, n, k2));
    try (Cuda cuda = Cuda.open()) {
      CudaWgmmaTest.assumeWgmmaOverCopies(cuda);
      // the default cap (one chunk each); 190 x 96 floats: c in 3 chunks of 96 (assign, add, add), while w (490 copied rows) would need
      // more than 4 chunks and stays on mma.sync; 490 x 160: w in 4 chunks of 160 (the last 37 deep), c whole
      for (long cap : new long[] {0, 190 * 96, 490 * 160}) {
        CudaExecutor.transposeFloatsOverride = cap;
        try (CudaExecutor ex = CudaWgmmaTest.executor(g, sizes, program, cuda, CudaWgmmaTest.TF32_WGMMA_DEFAULT)) {
          List<String> kinds = CudaWgmmaTest.runForward(ex, inputs);
          String what = "cap " + cap + ": ";
          assertTrue(kinds.stream().anyMatch(x -> x.startsWith("wgmma_t ") && x.endsWith(".c")), what + "c over copies: " + kinds);
          boolean wOverCopies = cap != 190 * 96;
          assertTrue(kinds.stream().anyMatch(x -> x.startsWith(wOverCopies ? "wgmma_t_acc " : "mma_acc ") && x.endsWith("acc+=w")), what + kinds);
          assertTrue(ex.describe().contains("on sm_90a wgmma (" + (wOverCopies ? 2 : 1) + " over transposed copies)"), ex.describe());
          CudaWgmmaTest.check(what + "c", wantC, ex.read(c));
          CudaWgmmaTest.check(what + "acc", wantAcc, ex.read(acc));
        } finally {
          CudaExecutor.transposeFloatsOverride = 0;
        }
      }
    }
  }

  @Test
  void chunkPlansOfThisTest() {
    // what the caps above give (CPU): c copies B (190 rows) over K = 260; w copies 300 + 190 rows over K2 = 517
    assertEquals(List.of(288L, 1L), List.of(box(kiln.codegen.CudaRenderer.transposePlan(false, true, m, n, k, 16L << 20, 4))));
    assertEquals(List.of(544L, 1L), List.of(box(kiln.codegen.CudaRenderer.transposePlan(true, true, m, n, k2, 16L << 20, 4))));
    assertEquals(List.of(96L, 3L), List.of(box(kiln.codegen.CudaRenderer.transposePlan(false, true, m, n, k, 190 * 96, 4))));
    assertEquals(null, kiln.codegen.CudaRenderer.transposePlan(true, true, m, n, k2, 190 * 96, 4));
    assertEquals(List.of(160L, 4L), List.of(box(kiln.codegen.CudaRenderer.transposePlan(true, true, m, n, k2, 490 * 160, 4))));
    assertEquals(List.of(288L, 1L), List.of(box(kiln.codegen.CudaRenderer.transposePlan(false, true, m, n, k, 490 * 160, 4))));
  }

  private static Long[] box(long[] v) { return new Long[] {v[0], v[1]}; }
}
