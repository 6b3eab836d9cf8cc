// The Hopper matmul over transposed copies chunked along M as well as K (CudaExecutor's rowChunks, the
// plan GPT-2's dwte takes) against a double-precision product computed here, at shapes no tile divides:
// w = atᵀ·bt and acc += atᵀ·bt (both operands stored [k, rows], K odd), under workspace caps too small
// for any plan along K alone, so each launch copies M chunks of A (the last one shorter, on its own
// kernel) and writes only those rows of C. Tagged gpu: skips without an sm_90 device.
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import kiln.codegen.CudaLowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("gpu")
class CudaWgmmaRowChunkTest {
  static final Dim M = new Dim("M"), N = new Dim("N"), K = new Dim("K");
  static final int m = 1100, n = 190, k = 517;
  /** Caps (floats) under which no plan along K alone fits ((1100 + 190) x 160 would be needed), each chunked along M. */
  static final long[] CAPS = {(512 + 190) * 160, 150_000};

  @Test
  void rowChunkedCopiesMatchDoubleProductAssigningAndAccumulating() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Graph g = new Graph();
    Tensor at = g.input("at", DType.F32, K, M), bt = g.input("bt", DType.F32, K, N);
    Tensor acc = g.input("acc", DType.F32, M, N);
    Tensor w = g.compute("w", dims(M, N), (i, j) -> sum(K, p -> at.at(p, i).mul(bt.at(p, j))));
    Compute wc = g.computes().stream().filter(x -> x.out() == w).findFirst().orElseThrow();
    Compute accumulate = new Compute("acc+=w", wc.layer(), acc, wc.loopVars(), wc.outIndex(), wc.body(), true);
    Map<String, List<Compute>> program = Map.of("forward", List.of(wc, accumulate));
    Map<Dim, Integer> sizes = Map.of(M, m, N, n, K, k);
    Map<Tensor, float[]> inputs = CudaWgmmaTest.gaussianInputs(sizes, 11, at, bt, acc);
    double[] wantW = CudaWgmmaTest.transposedProduct(inputs.get(at), inputs.get(bt), m, n, k);
    double[] wantAcc = CudaWgmmaTest.plus(inputs.get(acc), wantW);
    try (Cuda cuda = Cuda.open()) {
      CudaWgmmaTest.assumeWgmmaOverCopies(cuda);
      CudaLowering.rowChunksOverride = true;
      for (long cap : CAPS) {
        CudaExecutor.transposeFloatsOverride = cap;
        try (CudaExecutor ex = CudaWgmmaTest.executor(g, sizes, program, cuda, CudaWgmmaTest.TF32_WGMMA_DEFAULT)) {
          List<String> kinds = CudaWgmmaTest.runForward(ex, inputs);
          String what = "cap " + cap + " " + List.of(box(plan(cap))) + ": ";
          assertTrue(kinds.stream().anyMatch(x -> x.startsWith("wgmma_t ") && x.endsWith(".w")), what + "w over copies: " + kinds);
          assertTrue(kinds.stream().anyMatch(x -> x.startsWith("wgmma_t_acc ") && x.endsWith("acc+=w")), what + "acc+=w over copies: " + kinds);
          assertTrue(ex.describe().contains("(2 over transposed copies), 2 of them chunked along M"), ex.describe());
          CudaWgmmaTest.check(what + "w", wantW, ex.read(w));
          CudaWgmmaTest.check(what + "acc", wantAcc, ex.read(acc));
        } finally {
          CudaExecutor.transposeFloatsOverride = 0;
        }
      }
    } finally {
      CudaLowering.rowChunksOverride = null;
    }
  }

  @Test
  void theCapsChunkAlongMAndKAloneDoesNotFit() {
    for (long cap : CAPS) {
      assertNull(CudaRenderer.transposePlan(true, true, m, n, k, cap, CudaLowering.MAX_TRANSPOSE_CHUNKS), "cap " + cap);
      long[] p = plan(cap);
      assertNotNull(p, "cap " + cap);
      assertEquals(5, p.length);
      assertTrue(p[3] >= 2 && p[4] < p[2], "several M chunks, the last shorter: " + List.of(box(p)));
      assertTrue((p[2] + n) * p[0] <= cap);
    }
  }

  private static long[] plan(long cap) {
    return CudaRenderer.transposePlan(true, true, m, n, k, cap, CudaLowering.MAX_TRANSPOSE_CHUNKS, CudaLowering.MAX_ROW_PLAN_K_CHUNKS,
        CudaSchedule.WGMMA_DEFAULT.bm(), CudaSchedule.WGMMA_DEFAULT.bn());
  }

  private static Long[] box(long[] v) {
    Long[] b = new Long[v.length];
    for (int i = 0; i < v.length; i++) b[i] = v[i];
    return b;
  }
}
