// The bf16 Hopper matmul (WgmmaBf16) against a double-precision sum of the same bf16 inputs computed
// here: all four operand layouts (K- or MN-major A and B), fp32 and bf16 C (from registers or through the
// copy engine), plain and accumulating, every
// tile of the space, edges no tile divides, and few persistent blocks so each block takes several tiles
// (the ping-pong consumers alternate; a cluster pair walks every pair of M tiles, the last one half past M). Every element of C is
// checked. Tagged gpu: skips where no sm_90 device is present.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import kiln.codegen.WgmmaBf16;
import kiln.codegen.WgmmaBf16.Major;
import kiln.codegen.WgmmaBf16.Out;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("gpu")
class CudaWgmmaBf16Test {
  // M, N, K: multiples of 8 (16-byte rows for either layout), no multiple of any tile or of the 64-deep stage
  static final int M = 328, N = 200, K = 392;

  record Case(WgmmaBf16.Tile tile, Major a, Major b, Out out, boolean accumulate, int blocks) {}

  @Test
  void everyLayoutAndTileMatchesTheDoubleSum() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    List<Case> cases = new ArrayList<>();
    for (WgmmaBf16.Tile t : WgmmaBf16.space()) {
      for (Major a : Major.values()) {
        for (Major b : Major.values()) cases.add(new Case(t, a, b, t.tmaStore() || t.equals(WgmmaBf16.DEFAULT) || a != b ? Out.BF16 : Out.F32, false, 2));
      }
    }
    for (Out out : Out.values()) {
      cases.add(new Case(WgmmaBf16.DEFAULT, Major.MN, Major.MN, out, true, 0));
      cases.add(new Case(new WgmmaBf16.Tile(128, 128, 6, 2, true, 2), Major.K, Major.MN, out, true, 3));
      // pairs sharing B, += over every SM's worth of clusters, and one cluster walking all units (M's 3 tiles: an odd pair)
      cases.add(new Case(WgmmaBf16.CLUSTERED, Major.MN, Major.K, out, true, 0));
      cases.add(new Case(WgmmaBf16.CLUSTERED, Major.K, Major.MN, out, true, 2));
    }
    try (Cuda cuda = Cuda.open()) {
      Assumptions.assumeTrue(cuda.major() == 9 && cuda.minor() == 0, "wgmma needs sm_90, found " + cuda.arch());
      List<WgmmaBf16.Kernel> kernels = cases.stream().map(c -> WgmmaBf16.render(c.tile(), c.a(), c.b(), c.out(), c.accumulate())).toList();
      Map<String, Cuda.Module> modules = Bf16Matmul.load(cuda, kernels);
      SplittableRandom random = new SplittableRandom(13);
      short[] a = MatmulBench.randomBf16((long) M * K, random), b = MatmulBench.randomBf16((long) N * K, random);
      float[] c0 = new float[M * N];
      for (int i = 0; i < c0.length; i++) c0[i] = (float) (2 * random.nextDouble() - 1);
      long aBytes = 2L * a.length, bBytes = 2L * b.length;
      try (DeviceArena mem = cuda.allocate(aBytes + bBytes + 4L * M * N)) {
        MatmulBench.upload(mem, 0, a);
        MatmulBench.upload(mem, aBytes, b);
        for (int i = 0; i < cases.size(); i++) {
          Case c = cases.get(i);
          WgmmaBf16.Kernel k = kernels.get(i);
          String what = c.tile().knobs() + " A " + c.a() + " B " + c.b() + " C " + c.out() + (c.accumulate() ? " +=" : "") + " blocks " + c.blocks();
          float[] start = c.accumulate() ? c0 : null;
          if (c.out() == Out.F32) {
            mem.upload(start != null ? start : nan(M * N), 0, aBytes + bBytes, M * N);
          } else {
            short[] init = new short[M * N];
            for (int e = 0; e < init.length; e++) init[e] = start != null ? Bf16Matmul.bf16(start[e]) : (short) 0x7FC1;
            MatmulBench.upload(mem, aBytes + bBytes, init);
          }
          Launch launch = Bf16Matmul.launch(modules.get(k.function()), k, cuda, mem.pointer(0), mem.pointer(aBytes), mem.pointer(aBytes + bBytes),
              M, N, K, c.a() == Major.K ? K : M, c.b() == Major.K ? K : N, N, c.blocks());
          cuda.launch(launch);
          cuda.synchronize();
          check(what, a, b, c, read(mem, aBytes + bBytes, c.out()), c.out() == Out.BF16 && start != null ? roundAll(start) : start);
        }
      }
      for (Cuda.Module m : modules.values()) m.close();
    }
  }

  static float[] nan(int n) {
    float[] v = new float[n];
    java.util.Arrays.fill(v, Float.NaN);
    return v;
  }

  static float[] roundAll(float[] v) {
    float[] r = new float[v.length];
    for (int i = 0; i < v.length; i++) r[i] = Bf16Matmul.toFloat(Bf16Matmul.bf16(v[i]));
    return r;
  }

  static float[] read(DeviceArena mem, long offset, Out out) {
    return out == Out.F32 ? mem.downloadFloats(offset, M * N) : mem.downloadBf16(offset, M * N);
  }

  /** Every element against the double sum (plus C's start when accumulating) within MatmulBench.bf16Tolerance. */
  static void check(String what, short[] a, short[] b, Case c, float[] got, float[] start) {
    assertEquals(M * N, got.length);
    int bad = 0;
    String first = null;
    for (int i = 0; i < M; i++) {
      for (int j = 0; j < N; j++) {
        double[] dot = MatmulBench.bf16Dot(a, c.a(), c.a() == Major.K ? K : M, i, b, c.b(), c.b() == Major.K ? K : N, j, K);
        double c0 = start == null ? 0 : start[i * N + j], ref = c0 + dot[0], sumAbs = Math.abs(c0) + dot[1];
        double g = got[i * N + j];
        if (!(Math.abs(g - ref) <= MatmulBench.bf16Tolerance(ref, sumAbs, K, c.out()))) {
          if (first == null) first = "C[" + i + ", " + j + "] = " + g + ", expected " + ref;
          bad++;
        }
      }
    }
    assertTrue(bad == 0, what + ": " + bad + " of " + M * N + " elements off, first " + first);
  }
}
