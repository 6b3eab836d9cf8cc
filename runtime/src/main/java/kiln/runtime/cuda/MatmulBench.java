// GPT-2's five forward matmul shapes (B·T = 8192, C = 768, padded vocabulary 50304) through the CUDA
// tuner at TF32: every variant checked against the fp32 reference and timed; prints the default mma.sync
// tile, the default wgmma tile (sm_90) and the best variant in TFLOP/s, and writes "name ms" lines that
// scripts/cublas_matmuls.py --kiln sets beside cuBLAS. Nothing is stored in the tuning cache.
// With --bf16 first: the bf16 wgmma kernel (WgmmaBf16) on the same five shapes plus fc's two backward
// layouts and fc at eight times the depth, every tile of WgmmaBf16.space() checked and timed (bf16Bench);
// `--bt N` sets B·T (32768 is GPT-2's step at B=32), `--tiles 6,7` times those points of the space only. With --bf16-dw: GPT-2 124M's four weight
// gradients at B x T = 32768 (fp32 C) on the default tile at several splits along K (split-K), checked, repeated bit for
// bit, timed (dwBench).
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import kiln.codegen.CudaSchedule;
import kiln.codegen.WgmmaBf16;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Tuner;
import kiln.runtime.TuningCache;

public final class MatmulBench {
  private MatmulBench() {}

  /** Args: the file for the best variant's "name ms" lines (default kiln-matmuls.txt). */
  public static void main(String[] args) throws IOException {
    if (args.length > 0 && args[0].equals("--bf16-dw")) {
      dwBench(Path.of(args.length > 1 ? args[1] : "kiln-matmuls-dw.txt"));
      return;
    }
    if (args.length > 0 && args[0].equals("--bf16")) {
      int bt = 8192;
      List<Integer> only = null;
      Path file = Path.of("kiln-matmuls-bf16.txt");
      for (int i = 1; i < args.length; i++) {
        switch (args[i]) {
          case "--bt" -> bt = Integer.parseInt(args[++i]);
          case "--tiles" -> only = java.util.Arrays.stream(args[++i].split(",")).map(Integer::valueOf).toList();
          default -> file = Path.of(args[i]);
        }
      }
      bf16Bench(file, bt, only);
      return;
    }
    Path out = Path.of(args.length > 0 ? args[0] : "kiln-matmuls.txt");
    Dim bt = new Dim("BT"), c = new Dim("C"), c3 = new Dim("C3"), c4 = new Dim("C4"), v = new Dim("V");
    Map<Dim, Integer> sizes = Map.of(bt, 8192, c, 768, c3, 2304, c4, 3072, v, 50304);
    Graph g = new Graph();
    String[][] shapes = {{"qkv", "C", "C3"}, {"attproj", "C", "C"}, {"fc", "C", "C4"}, {"fcproj", "C4", "C"}, {"lm_head", "C", "V"}};
    Map<String, Dim> byName = Map.of("C", c, "C3", c3, "C4", c4, "V", v);
    for (String[] s : shapes) {
      Dim k = byName.get(s[1]), n = byName.get(s[2]);
      Tensor x = g.input(s[0] + "_x", DType.F32, bt, k), w = g.input(s[0] + "_w", DType.F32, n, k);
      g.compute(s[0], dims(bt, n), (i, j) -> sum(k, p -> x.at(i, p).mul(w.at(j, p))));
    }
    Map<String, List<kiln.dsl.Compute>> program = Map.of("forward", g.computes());
    // the wgmma tile asked for explicitly (it runs where the device is sm_90 and KILN_WGMMA is not 0)
    CudaSchedule schedule = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma(CudaSchedule.WGMMA_DEFAULT);
    TuningCache scratch = TuningCache.load(Files.createTempDirectory("kiln-matmul-bench").resolve("tuning.json"));
    List<String> lines = new ArrayList<>();
    try (Cuda cuda = Cuda.open(); CudaExecutor ex = new CudaExecutor(new Arena(g, sizes), program, cuda, schedule, scratch)) {
      List<Tuner.Result<CudaSchedule.MatmulTile>> results = CudaTuner.tune(ex.layout(), program, ex, schedule, scratch, System.err);
      CudaSchedule onDevice = CudaExecutor.forDevice(schedule, cuda);
      Map<String, Tuner.Result<CudaSchedule.MatmulTile>> byLaunch = new LinkedHashMap<>();
      for (Tuner.Result<CudaSchedule.MatmulTile> r : results) byLaunch.put(r.launch().substring(r.launch().lastIndexOf('.') + 1), r);
      System.out.printf(Locale.ROOT, "# %s (%s), TF32, TFLOP/s of the median of %s runs per variant%n", cuda.name(), cuda.arch(), "15");
      System.out.printf(Locale.ROOT, "%-8s %-18s %12s %12s %12s  %s%n", "shape", "M x N x K", "mma default", "wgmma dflt", "best", "best tile");
      for (String[] s : shapes) {
        Tuner.Result<CudaSchedule.MatmulTile> r = byLaunch.get(s[0]);
        if (r == null) { System.out.printf("%-8s no valid variant%n", s[0]); continue; }
        System.out.printf(Locale.ROOT, "%-8s %-18s %12s %12s %12.1f  %s%n", s[0], r.shape().substring(2), rate(r, CudaSchedule.MMA_DEFAULT),
            onDevice.wgmma() == null ? "off" : rate(r, onDevice.wgmma()), r.bestTflops(), r.best().knobs());
        lines.add(s[0] + " " + String.format(Locale.ROOT, "%.5f", r.bestMs()));
      }
    }
    Files.write(out, lines);
  }

  private static String rate(Tuner.Result<CudaSchedule.MatmulTile> r, CudaSchedule.MatmulTile tile) {
    Double ms = r.msByTile().get(tile);
    return ms == null ? "-" : String.format(Locale.ROOT, "%.1f", r.flops() / ms / 1e9);
  }

  /** A bf16 benchmark shape: C (m x n) = A·Bᵀ over depth k, operands stored as a and b say. */
  record Bf16Shape(String name, int m, int n, int k, WgmmaBf16.Major a, WgmmaBf16.Major b) {
    long lda() { return a == WgmmaBf16.Major.K ? k : m; }
    long ldb() { return b == WgmmaBf16.Major.K ? k : n; }
  }

  /**
   * GPT-2's forward x·Wᵀ (both K-major), then fc's backward at B·T = bt: dX = dY·W (dY bt x 3072 K-major, W stored
   * 3072 x 768: B N-major) and dW = dYᵀ·X (dY and X stored with K = bt rows: both MN-major); then fc at eight times its
   * depth (fc_k8: the same tiles, eight times the main loop a tile, so its rate beside fc's shows a tile's fixed cost).
   */
  static List<Bf16Shape> bf16Shapes(int bt) {
    return List.of(
        new Bf16Shape("qkv", bt, 2304, 768, WgmmaBf16.Major.K, WgmmaBf16.Major.K),
        new Bf16Shape("attproj", bt, 768, 768, WgmmaBf16.Major.K, WgmmaBf16.Major.K),
        new Bf16Shape("fc", bt, 3072, 768, WgmmaBf16.Major.K, WgmmaBf16.Major.K),
        new Bf16Shape("fcproj", bt, 768, 3072, WgmmaBf16.Major.K, WgmmaBf16.Major.K),
        new Bf16Shape("lm_head", bt, 50304, 768, WgmmaBf16.Major.K, WgmmaBf16.Major.K),
        new Bf16Shape("fc_dx", bt, 768, 3072, WgmmaBf16.Major.K, WgmmaBf16.Major.MN),
        new Bf16Shape("fc_dw", 3072, 768, bt, WgmmaBf16.Major.MN, WgmmaBf16.Major.MN),
        new Bf16Shape("fc_k8", bt, 3072, 6144, WgmmaBf16.Major.K, WgmmaBf16.Major.K));
  }

  /**
   * Timed runs per variant (the median is reported), launches back to back a run (the bf16 table's: no launch latency in a
   * launch's time) and entries of C checked against the host reference.
   */
  static final int BF16_RUNS = 30, BF16_BATCH = 10, BF16_SAMPLES = 2048;

  /**
   * Each shape on random bf16 inputs (uniform in [-1, 1), rounded to nearest), C poisoned with NaN before a
   * variant's first launch, then every element checked written and BF16_SAMPLES entries checked against a
   * double-precision sum of the same bf16 inputs within bf16Tolerance; then the median of BF16_RUNS
   * event-timed runs of BF16_BATCH launches each. Prints every tile's TFLOP/s with bf16 C, the best tile's with fp32 C, and writes
   * the best bf16-C times as "name ms" lines for scripts/cublas_matmuls.py --precision bf16 --kiln.
   */
  static void bf16Bench(Path out, int bt, List<Integer> only) throws IOException {
    List<WgmmaBf16.Tile> space = WgmmaBf16.space();
    List<WgmmaBf16.Tile> tiles = only == null ? space : only.stream().map(space::get).toList();
    List<Bf16Shape> shapes = bf16Shapes(bt);
    List<String> lines = new ArrayList<>();
    try (Cuda cuda = Cuda.open()) {
      List<WgmmaBf16.Kernel> kernels = new ArrayList<>();
      for (Bf16Shape s : shapes) {
        for (WgmmaBf16.Tile t : tiles) {
          for (WgmmaBf16.Out o : WgmmaBf16.Out.values()) kernels.add(WgmmaBf16.render(t, s.a(), s.b(), o, false));
        }
      }
      Map<String, Cuda.Module> modules = Bf16Matmul.load(cuda, kernels);
      System.out.printf(Locale.ROOT, "# %s (%s), bf16 wgmma, fp32 accumulate; TFLOP/s of the median of %d runs of %d launches; C bf16 unless marked%n",
          cuda.name(), cuda.arch(), BF16_RUNS, BF16_BATCH);
      for (int i = 0; i < tiles.size(); i++) System.out.printf(Locale.ROOT, "# tile %d: %s%n", space.indexOf(tiles.get(i)), tiles.get(i).knobs());
      StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%-8s %-18s %-6s", "shape", "M x N x K", "A,B"));
      for (WgmmaBf16.Tile t : tiles) head.append(String.format(Locale.ROOT, " %7s", "tile " + space.indexOf(t)));
      head.append(String.format(Locale.ROOT, " %7s %7s %9s  %s", "best", "f32 C", "max err", "best tile"));
      System.out.println(head);
      for (Bf16Shape s : shapes) {
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-8s %-18s %-6s", s.name(), s.m() + "x" + s.n() + "x" + s.k(),
            (s.a() == WgmmaBf16.Major.K ? "K" : "MN") + "," + (s.b() == WgmmaBf16.Major.K ? "K" : "MN")));
        double flops = 2.0 * s.m() * s.n() * s.k();
        java.util.SplittableRandom random = new java.util.SplittableRandom(s.name().hashCode());
        short[] a = randomBf16((long) s.m() * s.k(), random), b = randomBf16((long) s.n() * s.k(), random);
        long aBytes = 2L * a.length, bBytes = 2L * b.length, cBytes = 4L * s.m() * s.n();
        try (DeviceArena mem = cuda.allocate(aBytes + bBytes + cBytes)) {
          upload(mem, 0, a);
          upload(mem, aBytes, b);
          double bestMs = Double.MAX_VALUE, worstErr = 0;
          WgmmaBf16.Tile best = null;
          for (WgmmaBf16.Tile t : tiles) {
            WgmmaBf16.Kernel k = WgmmaBf16.render(t, s.a(), s.b(), WgmmaBf16.Out.BF16, false);
            try {
              Launch launch = Bf16Matmul.launch(modules.get(k.function()), k, cuda, mem.pointer(0), mem.pointer(aBytes), mem.pointer(aBytes + bBytes),
                  s.m(), s.n(), s.k(), s.lda(), s.ldb(), s.n(), 0);
              worstErr = Math.max(worstErr, bf16Check(cuda, mem, aBytes + bBytes, List.of(launch), s, a, b, WgmmaBf16.Out.BF16, t.knobs()));
              double ms = cuda.medianMs(List.of(launch), 5, BF16_RUNS, BF16_BATCH);
              row.append(String.format(Locale.ROOT, " %7.1f", flops / ms / 1e9));
              if (ms < bestMs) {
                bestMs = ms;
                best = t;
              }
            } catch (CudaException | IllegalStateException e) {
              System.err.println(s.name() + " " + t.knobs() + ": " + e.getMessage());
              row.append(String.format(Locale.ROOT, " %7s", "fail"));
            }
          }
          if (best == null) {
            System.out.println(row.append("  no valid tile"));
            continue;
          }
          WgmmaBf16.Kernel k32 = WgmmaBf16.render(best, s.a(), s.b(), WgmmaBf16.Out.F32, false);
          Launch launch32 = Bf16Matmul.launch(modules.get(k32.function()), k32, cuda, mem.pointer(0), mem.pointer(aBytes), mem.pointer(aBytes + bBytes),
              s.m(), s.n(), s.k(), s.lda(), s.ldb(), s.n(), 0);
          worstErr = Math.max(worstErr, bf16Check(cuda, mem, aBytes + bBytes, List.of(launch32), s, a, b, WgmmaBf16.Out.F32, best.knobs()));
          double ms32 = cuda.medianMs(List.of(launch32), 5, BF16_RUNS, BF16_BATCH);
          row.append(String.format(Locale.ROOT, " %7.1f %7.1f %9.2e  %s", flops / bestMs / 1e9, flops / ms32 / 1e9, worstErr, best.knobs()));
          System.out.println(row);
          lines.add(s.name() + " " + String.format(Locale.ROOT, "%.5f", bestMs));
          Files.write(out, lines);   // after every shape: what was measured survives a later failure
        }
      }
      for (Cuda.Module m : modules.values()) m.close();
    }
    Files.write(out, lines);
  }

  /** GPT-2 124M's weight gradients dW (M x N) = dYᵀ·X over B x T = 32768, both operands stored [bt, rows] (MN-major). */
  static final List<Bf16Shape> DW_SHAPES = List.of(
      new Bf16Shape("attprojw", 768, 768, 32768, WgmmaBf16.Major.MN, WgmmaBf16.Major.MN),
      new Bf16Shape("qkvw", 2304, 768, 32768, WgmmaBf16.Major.MN, WgmmaBf16.Major.MN),
      new Bf16Shape("fcw", 3072, 768, 32768, WgmmaBf16.Major.MN, WgmmaBf16.Major.MN),
      new Bf16Shape("fcprojw", 768, 3072, 32768, WgmmaBf16.Major.MN, WgmmaBf16.Major.MN));

  /** The splits dwBench times besides the lowering's choice (WgmmaBf16.splitsFor). */
  static final int[] DW_SPLITS = {1, 2, 3, 4, 5, 6, 8};

  /**
   * Each weight gradient with fp32 C on the default tile at DW_SPLITS and the lowering's choice: checked as bf16Bench
   * checks (C poisoned, every element written, sampled entries against the double sum), run twice more and compared bit
   * for bit, then the median of BF16_RUNS event-timed runs of both launches (the partial sums and their sum). Writes
   * "name ms" lines at the lowering's choice for scripts/cublas_matmuls.py --dw --kiln.
   */
  static void dwBench(Path out) throws IOException {
    WgmmaBf16.Tile base = WgmmaBf16.DEFAULT.withTmaStore(false);
    List<String> lines = new ArrayList<>();
    try (Cuda cuda = Cuda.open()) {
      List<WgmmaBf16.Kernel> kernels = new ArrayList<>();
      for (int s : DW_SPLITS) kernels.add(WgmmaBf16.render(base.withSplits(s), WgmmaBf16.Major.MN, WgmmaBf16.Major.MN, WgmmaBf16.Out.F32, false));
      for (Bf16Shape sh : DW_SHAPES) {
        int s = WgmmaBf16.splitsFor(base, sh.m(), sh.n(), sh.k());
        kernels.add(WgmmaBf16.render(base.withSplits(s), WgmmaBf16.Major.MN, WgmmaBf16.Major.MN, WgmmaBf16.Out.F32, false));
      }
      Map<String, Cuda.Module> modules = Bf16Matmul.load(cuda, kernels);
      System.out.printf(Locale.ROOT, "# %s (%s), bf16 wgmma split-K, fp32 C, %s; TFLOP/s of the median of %d runs (both launches); * the lowering's choice%n",
          cuda.name(), cuda.arch(), base.knobs(), BF16_RUNS);
      long maxFloats = 0;
      for (Bf16Shape sh : DW_SHAPES) maxFloats = Math.max(maxFloats, Math.max(8, WgmmaBf16.splitsFor(base, sh.m(), sh.n(), sh.k())) * (long) sh.m() * sh.n());
      java.util.SplittableRandom random = new java.util.SplittableRandom(2027);
      for (Bf16Shape sh : DW_SHAPES) {
        short[] a = randomBf16((long) sh.m() * sh.k(), random), b = randomBf16((long) sh.n() * sh.k(), random);
        long aBytes = 2L * a.length, bBytes = 2L * b.length, cBytes = 4L * sh.m() * sh.n();
        int chosen = WgmmaBf16.splitsFor(base, sh.m(), sh.n(), sh.k());
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-8s %-18s", sh.name(), sh.m() + "x" + sh.n() + "x" + sh.k()));
        try (DeviceArena mem = cuda.allocate(aBytes + bBytes + cBytes); DeviceArena ws = cuda.allocate(4 * maxFloats)) {
          upload(mem, 0, a);
          upload(mem, aBytes, b);
          double flops = 2.0 * sh.m() * sh.n() * sh.k();
          java.util.TreeSet<Integer> splits = new java.util.TreeSet<>();
          for (int s : DW_SPLITS) splits.add(s);
          splits.add(chosen);
          for (int s : splits) {
            WgmmaBf16.Kernel k = WgmmaBf16.render(base.withSplits(s), WgmmaBf16.Major.MN, WgmmaBf16.Major.MN, WgmmaBf16.Out.F32, false);
            List<Launch> l = Bf16Matmul.launches(modules.get(k.function()), k, cuda, mem.pointer(0),
                mem.pointer(aBytes), mem.pointer(aBytes + bBytes), sh.m(), sh.n(), sh.k(), sh.lda(), sh.ldb(), sh.n(), 0, ws);
            bf16Check(cuda, mem, aBytes + bBytes, l, sh, a, b, WgmmaBf16.Out.F32, "splits=" + s);
            float[] once = mem.downloadFloats(aBytes + bBytes, sh.m() * sh.n());
            for (Launch x : l) cuda.launch(x);
            cuda.synchronize();
            if (!java.util.Arrays.equals(once, mem.downloadFloats(aBytes + bBytes, sh.m() * sh.n()))) {
              throw new IllegalStateException(sh.name() + " splits=" + s + ": a second run gave other bits");
            }
            double ms = cuda.medianMs(l, 5, BF16_RUNS);
            row.append(String.format(Locale.ROOT, "  S=%d%s %.4f ms %.0f", s, s == chosen ? "*" : "", ms, flops / ms / 1e9));
            if (s == chosen) lines.add(sh.name() + " " + String.format(Locale.ROOT, "%.5f", ms));
          }
        }
        System.out.println(row);
      }
    }
    Files.write(out, lines);
  }

  static short[] randomBf16(long n, java.util.SplittableRandom random) {
    short[] v = new short[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = Bf16Matmul.bf16((float) (2 * random.nextDouble() - 1));
    return v;
  }

  static void upload(DeviceArena mem, long byteOffset, short[] v) {
    int[] packed = Bf16Matmul.pack(v);
    mem.upload(packed, 0, byteOffset, packed.length);
  }

  /**
   * The tolerance of one entry of C against the exact sum ref of its k products (sumAbs: the sum of their
   * magnitudes): the fp32 accumulation's worst case k·2⁻²³·Σ|a·b| (the products of bf16 are exact in fp32;
   * 2⁻²³ allows the tensor core's truncating adds), plus, for bf16 C, its rounding to nearest (half an
   * ulp of 8 significant bits, 2⁻⁹·|ref|, taken as 2⁻⁸·|ref|).
   */
  public static double bf16Tolerance(double ref, double sumAbs, long k, WgmmaBf16.Out out) {
    return k * Math.scalb(sumAbs, -23) + (out == WgmmaBf16.Out.BF16 ? Math.scalb(Math.abs(ref), -8) : 0) + 1e-30;
  }

  /**
   * Runs launches (split-K: the partial sums, then their sum) once over a NaN-poisoned C, checks every element written and
   * sampled entries; returns max |Δ| / max |ref| of the samples.
   */
  static double bf16Check(Cuda cuda, DeviceArena mem, long cOffset, List<Launch> launches, Bf16Shape s, short[] a, short[] b, WgmmaBf16.Out out,
                          String what) {
    long elements = (long) s.m() * s.n();
    long words = out == WgmmaBf16.Out.BF16 ? (elements + 1) / 2 : elements;
    jcuda.driver.JCudaDriver.cuMemsetD32Async(mem.pointer(cOffset), 0xFFFFFFFF, words, cuda.stream());
    for (Launch launch : launches) cuda.launch(launch);
    cuda.synchronize();
    // every element written: no NaN left (the inputs are finite, so a NaN is an unwritten element)
    int chunk = 1 << 24;
    int[] buf = new int[chunk];
    for (long w = 0; w < words; w += chunk) {
      int n = (int) Math.min(chunk, words - w);
      mem.download(cOffset + 4 * w, buf, 0, n);
      for (int i = 0; i < n; i++) {
        boolean nan = out == WgmmaBf16.Out.BF16 ? isNanBf16(buf[i]) || (w + i) * 2 + 1 < elements && isNanBf16(buf[i] >>> 16)
            : Float.isNaN(Float.intBitsToFloat(buf[i]));
        if (nan) throw new IllegalStateException(s.name() + " " + what + ": element " + (out == WgmmaBf16.Out.BF16 ? 2 * (w + i) : w + i) + " of C not written (NaN)");
      }
    }
    java.util.SplittableRandom random = new java.util.SplittableRandom(7);
    double maxErr = 0, maxRef = 0;
    int[] one = new int[1];
    for (int sample = 0; sample < BF16_SAMPLES; sample++) {
      int i = random.nextInt(s.m()), j = random.nextInt(s.n());
      double[] dot = bf16Dot(a, s.a(), s.lda(), i, b, s.b(), s.ldb(), j, s.k());
      double ref = dot[0], sumAbs = dot[1];
      long e = (long) i * s.n() + j;
      float got;
      if (out == WgmmaBf16.Out.BF16) {
        mem.download(cOffset + 4 * (e / 2), one, 0, 1);
        got = Bf16Matmul.toFloat((short) (one[0] >>> (16 * (e % 2))));
      } else {
        mem.download(cOffset + 4 * e, one, 0, 1);
        got = Float.intBitsToFloat(one[0]);
      }
      double err = Math.abs(got - ref);
      if (!(err <= bf16Tolerance(ref, sumAbs, s.k(), out))) {
        throw new IllegalStateException(s.name() + " " + what + " C " + out + ": C[" + i + ", " + j + "] = " + got + ", reference " + ref + " (tolerance "
            + bf16Tolerance(ref, sumAbs, s.k(), out) + ")");
      }
      maxErr = Math.max(maxErr, err);
      maxRef = Math.max(maxRef, Math.abs(ref));
    }
    return maxErr / maxRef;
  }

  /** {sum, sum of magnitudes} over p of A(i, p)·B(j, p) in double, A and B bf16 stored as their majors say with pitches lda, ldb. */
  static double[] bf16Dot(short[] a, WgmmaBf16.Major ma, long lda, int i, short[] b, WgmmaBf16.Major mb, long ldb, int j, int k) {
    double sum = 0, sumAbs = 0;
    for (int p = 0; p < k; p++) {
      double x = Bf16Matmul.toFloat(a[(int) (ma == WgmmaBf16.Major.K ? i * lda + p : p * lda + i)])
          * (double) Bf16Matmul.toFloat(b[(int) (mb == WgmmaBf16.Major.K ? j * ldb + p : p * ldb + j)]);
      sum += x;
      sumAbs += Math.abs(x);
    }
    return new double[] {sum, sumAbs};
  }

  private static boolean isNanBf16(int bits) { return (bits & 0x7F80) == 0x7F80 && (bits & 0x7F) != 0; }

}
