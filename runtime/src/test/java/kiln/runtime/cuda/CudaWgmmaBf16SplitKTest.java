// Split-K on the bf16 Hopper matmul, on an sm_90 GPU: the standalone kernel at every operand layout, fp32 and bf16
// C, plain and accumulating, 2 to 7 splits (7: one 64-deep stage each), few persistent blocks so each takes several
// units, against a double-precision sum of the same bf16 inputs (every element of C); the same launch twice gives
// C bit for bit (the splits are added in a fixed order). Then a program's matmuls through CudaExecutor (the
// lowering's own split choice, the workspace, the _sum kernel over the argument block), plain, += and bf16 C.
// Tagged gpu: skips where no sm_90 device is present.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.WgmmaBf16;
import kiln.codegen.Work;
import kiln.codegen.WgmmaBf16.Major;
import kiln.codegen.WgmmaBf16.Out;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("gpu")
class CudaWgmmaBf16SplitKTest {
  static final int M = CudaWgmmaBf16Test.M, N = CudaWgmmaBf16Test.N, K = CudaWgmmaBf16Test.K;

  @Test
  void everyLayoutSplitMatchesTheDoubleSumAndRepeatsBitForBit() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    List<CudaWgmmaBf16Test.Case> cases = new ArrayList<>();
    WgmmaBf16.Tile coop = WgmmaBf16.DEFAULT.withTmaStore(false), pingpong = new WgmmaBf16.Tile(128, 128, 6, 2, true, 16);
    int[] splits = {2, 3, 7};
    int i = 0;
    for (Major a : Major.values()) {
      for (Major b : Major.values()) {
        for (Out out : Out.values()) {
          for (boolean acc : new boolean[] {false, true}) {
            WgmmaBf16.Tile t = (i % 2 == 0 ? coop : pingpong).withSplits(splits[i % 3]);
            cases.add(new CudaWgmmaBf16Test.Case(t, a, b, out, acc, i % 4 == 0 ? 0 : 1 + i % 3));
            i++;
          }
        }
      }
    }
    try (Cuda cuda = Cuda.open()) {
      Assumptions.assumeTrue(cuda.major() == 9 && cuda.minor() == 0, "wgmma needs sm_90, found " + cuda.arch());
      List<WgmmaBf16.Kernel> kernels = cases.stream().map(c -> WgmmaBf16.render(c.tile(), c.a(), c.b(), c.out(), c.accumulate())).toList();
      Map<String, Cuda.Module> modules = Bf16Matmul.load(cuda, kernels);
      SplittableRandom random = new SplittableRandom(21);
      short[] a = MatmulBench.randomBf16((long) M * K, random), b = MatmulBench.randomBf16((long) N * K, random);
      float[] c0 = new float[M * N];
      for (int e = 0; e < c0.length; e++) c0[e] = (float) (2 * random.nextDouble() - 1);
      long aBytes = 2L * a.length, bBytes = 2L * b.length;
      try (DeviceArena mem = cuda.allocate(aBytes + bBytes + 4L * M * N); DeviceArena workspace = cuda.allocate(4L * 7 * M * N)) {
        MatmulBench.upload(mem, 0, a);
        MatmulBench.upload(mem, aBytes, b);
        for (int c = 0; c < cases.size(); c++) {
          CudaWgmmaBf16Test.Case x = cases.get(c);
          WgmmaBf16.Kernel k = kernels.get(c);
          Cuda.Module module = modules.get(k.function());
          List<Launch> launches = Bf16Matmul.launches(module, k, cuda, mem.pointer(0),
              mem.pointer(aBytes), mem.pointer(aBytes + bBytes), M, N, K, x.a() == Major.K ? K : M, x.b() == Major.K ? K : N, N, x.blocks(), workspace);
          assertEquals(2, launches.size(), "the partial sums, then their sum");
          String what = x.tile().knobs() + " A " + x.a() + " B " + x.b() + " C " + x.out() + (x.accumulate() ? " +=" : "") + " blocks " + x.blocks();
          float[] start = x.accumulate() ? c0 : null;
          float[] first = null;
          for (int run = 0; run < 2; run++) {
            reset(mem, aBytes + bBytes, x.out(), start);
            workspace.memsetZero();
            for (Launch l : launches) cuda.launch(l);
            cuda.synchronize();
            float[] got = CudaWgmmaBf16Test.read(mem, aBytes + bBytes, x.out());
            if (run == 0) {
              CudaWgmmaBf16Test.check(what, a, b, x, got, x.out() == Out.BF16 && start != null ? CudaWgmmaBf16Test.roundAll(start) : start);
              first = got;
            } else {
              assertArrayEquals(bits(first), bits(got), what + ": a second run differs");
            }
          }
        }
      }
      for (Cuda.Module m : modules.values()) m.close();
    }
  }

  /** Three matmuls of a program over a long K (4096 = 64 stages, 4 output tiles): C fp32 =, C fp32 += and C bf16 =. */
  @Test
  void aProgramsMatmulsSplitThroughTheExecutor() {
    Dim dm = new Dim("M"), dn = new Dim("N"), dk = new Dim("BT");
    int depth = 4096;
    Map<Dim, Integer> sizes = Map.of(dm, M, dn, N, dk, depth);
    Graph g = new Graph();
    // weight-gradient layout: both operands stored [k, rows] (MN-major), fp32 values stored as bf16 (as the storage pass makes them)
    Tensor ta = g.input("a32", DType.F32, dk, dm).restored("a", Role.INPUT, DType.BF16), tb = g.input("b32", DType.F32, dk, dn).restored("b", Role.INPUT, DType.BF16);
    Tensor plain = g.compute("plain", Graph.dims(dm, dn), (m, n) -> kiln.dsl.Ops.sum(dk, p -> ta.at(p, m).mul(tb.at(p, n))));
    Compute first = g.computes().getFirst();
    Tensor acc = g.tensor("acc", Role.ACT, DType.F32, dm, dn), half = g.tensor("half32", Role.ACT, DType.F32, dm, dn).restored("half", Role.ACT, DType.BF16);
    List<Compute> program = List.of(first,
        new Compute("acc", first.layer(), acc, first.loopVars(), first.outIndex(), first.body(), true),
        new Compute("half", first.layer(), half, first.loopVars(), first.outIndex(), first.body(), false));
    Graph stored = g.rewritten(List.of(ta, tb, plain, acc, half), program);
    CudaSchedule schedule = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16).withWgmmaBf16(WgmmaBf16.DEFAULT);
    // the device layout (bf16 packed two to a float slot, as a CUDA session places them; a host arena keeps them as floats)
    kiln.runtime.Arena layout = new kiln.runtime.Arena(stored, sizes, java.util.Set.of(), null, false, Map.of());
    Lowering.Lowered lowered = CudaLowering.lower(program, schedule, m -> null, layout::size, 0, null, layout::offsetLong);
    for (kiln.codegen.Launch x : lowered.launches()) {
      assertTrue(x.kernel().work() instanceof Work.Bf16Tiles t && t.tile().splits() == 4, x.name() + " splits K 4 ways: " + x.kernel().work());
    }
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    try (Cuda cuda = Cuda.open()) {
      Assumptions.assumeTrue(cuda.major() == 9 && cuda.minor() == 0, "wgmma needs sm_90, found " + cuda.arch());
      try (CudaExecutor ex = new CudaExecutor(layout, Map.of("forward", program), cuda, schedule,
          kiln.runtime.TuningCache.load(java.nio.file.Path.of("/nonexistent/tuning.json")))) {
        SplittableRandom random = new SplittableRandom(22);
        float[] av = new float[depth * M], bv = new float[depth * N], c0 = new float[M * N];
        for (int e = 0; e < av.length; e++) av[e] = Bf16Matmul.toFloat(Bf16Matmul.bf16((float) (2 * random.nextDouble() - 1)));
        for (int e = 0; e < bv.length; e++) bv[e] = Bf16Matmul.toFloat(Bf16Matmul.bf16((float) (2 * random.nextDouble() - 1)));
        for (int e = 0; e < c0.length; e++) c0[e] = (float) (2 * random.nextDouble() - 1);
        ex.write(ta, av);
        ex.write(tb, bv);
        float[][] runs = new float[2][];
        for (int run = 0; run < 2; run++) {
          ex.write(acc, c0);
          ex.run("forward");
          float[] p = ex.read(plain), s = ex.read(acc), h = ex.read(half);
          runs[run] = concat(p, s, h);
          if (run > 0) continue;
          double worst = 0;
          for (int m = 0; m < M; m++) {
            for (int n = 0; n < N; n++) {
              double ref = 0, sumAbs = 0;
              for (int k = 0; k < depth; k++) {
                double v = (double) av[k * M + m] * bv[k * N + n];
                ref += v;
                sumAbs += Math.abs(v);
              }
              int e = m * N + n;
              double tol = MatmulBench.bf16Tolerance(ref, sumAbs, depth, Out.F32);
              assertTrue(Math.abs(p[e] - ref) <= tol, "plain C[" + m + ", " + n + "] = " + p[e] + ", expected " + ref);
              double refAcc = ref + c0[e];
              assertTrue(Math.abs(s[e] - refAcc) <= tol + Math.scalb(Math.abs(c0[e]), -23) * 2, "+= C[" + m + ", " + n + "] = " + s[e] + ", expected " + refAcc);
              assertTrue(Math.abs(h[e] - ref) <= MatmulBench.bf16Tolerance(ref, sumAbs, depth, Out.BF16), "bf16 C[" + m + ", " + n + "] = " + h[e] + ", expected " + ref);
              worst = Math.max(worst, Math.abs(p[e] - ref));
            }
          }
          System.out.printf("split-K through the executor: max |C - double sum| %.3e%n", worst);
        }
        assertArrayEquals(bits(runs[0]), bits(runs[1]), "a second step gives the same bits");
      }
    }
  }

  static void reset(DeviceArena mem, long offset, Out out, float[] start) {
    if (out == Out.F32) {
      mem.upload(start != null ? start : CudaWgmmaBf16Test.nan(M * N), 0, offset, M * N);
    } else {
      short[] init = new short[M * N];
      for (int e = 0; e < init.length; e++) init[e] = start != null ? Bf16Matmul.bf16(start[e]) : (short) 0x7FC1;
      MatmulBench.upload(mem, offset, init);
    }
  }

  static int[] bits(float[] v) {
    int[] b = new int[v.length];
    for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
    return b;
  }

  static float[] concat(float[]... parts) {
    int n = 0;
    for (float[] p : parts) n += p.length;
    float[] all = new float[n];
    int at = 0;
    for (float[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    return all;
  }
}
