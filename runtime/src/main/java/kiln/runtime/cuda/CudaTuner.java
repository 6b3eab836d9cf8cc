// The CUDA autotuner's measurement (the search is Tuner's): for every distinct matmul (kernel, shape) of a
// session's program, renders each tile of the precision's config space, compiles them all with NVRTC in
// parallel, fills the arena with fresh non-zero values, checks each variant's output against the fp32
// reference tile on the device (a fast wrong kernel is discarded) and times the survivors with CUDA
// events (warm-up, median of repeats); winners are keyed by this GPU, its arch and NVRTC. At BF16
// a matmul of two bf16 operands on sm_90 races WgmmaBf16.space() (the SIMT template reading the same
// bf16 operands is the reference); the cache's kernel key is the bf16 kernel's own name, so entries of
// different precisions never mix.
package kiln.runtime.cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.MatmulMatch;
import kiln.codegen.Rendered;
import kiln.codegen.Work;
import kiln.dsl.Compute;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Tuner;
import kiln.runtime.TuningCache;

public final class CudaTuner {
  private static final int WARMUP = 3, REPEATS = 15;
  /** Split-K variants whose partial sums would need more workspace than this are not tried (64 MB). */
  static final long WORKSPACE_CAP_FLOATS = Math.max(16L << 20, CudaExecutor.TRANSPOSE_FLOATS);   // split-K sums or transposed copies
  /**
   * Max abs error relative to the reference's max abs: fp32 variants differ only in summation order; TF32 rounds inputs (2^-11);
   * bf16 variants read the same bf16 inputs as the reference, and a bf16 C may differ from it by one rounding (2^-8 of an element).
   */
  static final double FP32_TOLERANCE = 1e-4, TF32_TOLERANCE = 5e-3, BF16_TOLERANCE = 1e-2;

  /** The tuner's own kernels (fresh inputs, output save/restore, on-device comparison), compiled with the variants. */
  private static final String UTILITIES = "/templates/cuda/tuner_utilities.cu";

  /**
   * One distinct matmul: the launch it first occurs in, rendered with its default tile; the tiles to try, each
   * rendered (a wgmma tile over transposed copies where the lowering plans them: then key names the copies' kernel,
   * as CudaExecutor looks it up), and the reference tile rendered.
   */
  private record Target(String launch, Rendered byDefault, CudaSchedule.MatmulTile defaultTile, List<CudaSchedule.MatmulTile> space,
                        Rendered[] variants, Rendered reference, String key) {}

  /**
   * The tiles the tuner tries for mm: the schedule's space, plus the wgmma space over transposed copies where CudaLowering
   * plans them with transposeFloats of workspace (GPT-2's backward on an H200). Where mm runs on the bf16 wgmma tile
   * (CudaLowering.bf16Wgmma with the arena's offsets; null: none known), WgmmaBf16.space() with C's
   * store adapted to C's alignment as the lowering adapts it (CudaLowering.bf16Tile), what the lowering runs untuned first
   * (CudaLowering.bf16UntunedBare: the default a variant must beat, timed like the others), then the schedule's tile.
   */
  public static List<CudaSchedule.MatmulTile> space(CudaSchedule schedule, MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                                                    long transposeFloats, java.util.function.ToLongFunction<Tensor> offsets) {
    if (kiln.codegen.CudaLowering.bf16Wgmma(mm, schedule, size, offsets, false)) {
      java.util.LinkedHashSet<CudaSchedule.MatmulTile> tiles = new java.util.LinkedHashSet<>();
      if (size != null) tiles.add(kiln.codegen.CudaLowering.bf16Tile(kiln.codegen.CudaLowering.bf16UntunedBare(schedule.wgmmaBf16(), mm, size), mm, size, offsets));
      tiles.add(kiln.codegen.CudaLowering.bf16Tile(schedule.wgmmaBf16(), mm, size, offsets));
      for (kiln.codegen.WgmmaBf16.Tile t : kiln.codegen.WgmmaBf16.space()) tiles.add(kiln.codegen.CudaLowering.bf16Tile(t, mm, size, offsets));
      // split-K where the lowering would split (no epilogue is tuned here: the tuner times the bare matmul): the default tile
      // at the lowering's choice and at half and twice it
      if (size != null) {
        kiln.codegen.WgmmaBf16.Tile split = kiln.codegen.CudaLowering.bf16Split(schedule.wgmmaBf16(), mm, size);
        if (split.splits() > 1) {
          for (int s : new int[] {split.splits(), split.splits() / 2, 2 * split.splits()}) {
            if (s > 1 && s <= kiln.codegen.WgmmaBf16.Tile.MAX_SPLITS) tiles.add(split.withSplits(s));
          }
        }
      }
      return new ArrayList<>(tiles);
    }
    List<CudaSchedule.MatmulTile> space = new ArrayList<>(schedule.matmulSpace(mm));
    if (kiln.codegen.CudaLowering.transposePlan(mm, schedule, size, transposeFloats) != null) {
      space.addAll(0, CudaSchedule.wgmmaSpace());
      if (!space.contains(schedule.wgmma())) space.addFirst(schedule.wgmma());   // the default over copies
    }
    return space;
  }

  private CudaTuner() {}

  public static List<Tuner.Result<CudaSchedule.MatmulTile>> tune(Arena layout, Map<String, List<Compute>> program, CudaExecutor executor,
                                                                  CudaSchedule schedule, TuningCache cache, PrintStream log) {
    Cuda cuda = executor.cuda();
    schedule = CudaExecutor.forDevice(schedule, cuda);
    double tolerance = switch (schedule.precision()) {
      case TF32 -> TF32_TOLERANCE;
      case BF16 -> BF16_TOLERANCE;
      case FP32 -> FP32_TOLERANCE;
    };

    Map<String, Target> targets = new LinkedHashMap<>();
    java.util.Set<String> skipped = new java.util.HashSet<>();
    for (MatmulMatch mm : Tuner.matmuls(program)) {
      boolean acc = mm.compute().accumulate();
      boolean bf16 = kiln.codegen.CudaLowering.bf16Wgmma(mm, schedule, layout::size, layout::offsetLong, false);
      CudaSchedule.MatmulTile byDefault = bf16 ? kiln.codegen.CudaLowering.bf16Tile(schedule.wgmmaBf16(), mm, layout::size, layout::offsetLong)
          : schedule.matmulFor(mm);
      Rendered r = CudaRenderer.matmul(mm, acc, byDefault);
      long[] plan = kiln.codegen.CudaLowering.transposePlan(mm, schedule, layout::size, CudaExecutor.transposeFloats(schedule));
      String function = plan == null ? r.function() : CudaRenderer.matmulTransposed(mm, acc, schedule.wgmma(), plan, null).function();
      String key = function + "|" + shape(r, layout);
      if (targets.containsKey(key) || skipped.contains(key)) continue;
      // a shape whose untuned tile was measured fastest inside the step keeps it: timed alone and back to back, the tuner
      // ranked some of those tiles the other way round (fc's and qkv's input gradients; docs/perf.md, session 14)
      if (bf16 && plan == null && kiln.codegen.CudaLowering.measuredInStep(mm, layout::size)) {
        skipped.add(key);
        log.printf("tune: %s %s keeps the tile measured for its shape inside the step (CudaLowering.measuredBf16; KILN_WGMMA_BF16_SHAPES=0 tunes it)%n",
            mm.compute().name(), shape(r, layout));
        continue;
      }
      List<CudaSchedule.MatmulTile> space = space(schedule, mm, layout::size, CudaExecutor.transposeFloats(schedule), layout::offsetLong);
      Rendered[] variants = new Rendered[space.size()];
      for (int i = 0; i < variants.length; i++) {
        variants[i] = plan != null && space.get(i) instanceof CudaSchedule.WgmmaTile w ? CudaRenderer.matmulTransposed(mm, acc, w, plan, null)
            : CudaRenderer.matmul(mm, acc, space.get(i));
      }
      // the default a variant must beat: what the lowering runs untuned (for a bare bf16 matmul: split along K where it splits)
      CudaSchedule.MatmulTile untuned = plan != null ? schedule.wgmma() : !bf16 ? byDefault
          : kiln.codegen.CudaLowering.bf16Tile(kiln.codegen.CudaLowering.bf16UntunedBare(schedule.wgmmaBf16(), mm, layout::size), mm, layout::size, layout::offsetLong);
      targets.put(key, new Target(mm.compute().name(), r, untuned, space, variants,
          CudaRenderer.matmul(mm, acc, CudaSchedule.SIMT_DEFAULT), function));
    }
    Map<String, String> sources = new LinkedHashMap<>();
    sources.put("kiln_tuner_utilities", utilities());
    int variantCount = 0;
    for (Target t : targets.values()) {
      variantCount += t.variants().length;
      for (Rendered v : t.variants()) {
        // the copies are part of a variant over transposed operands: compiled (and timed) with it
        if (v.work() instanceof Work.Tiles x && x.transposed() != null) {
          for (Rendered y : x.transposed().kernels()) sources.putIfAbsent(y.function(), y.source());
        }
        sources.putIfAbsent(v.function(), v.source());
      }
      sources.putIfAbsent(t.reference().function(), t.reference().source());
    }
    long start = System.nanoTime();
    log.printf("tune: %d matmul kernels, %d variants in all (%s), %d sources to compile with NVRTC on %d host threads%n", targets.size(), variantCount,
        schedule.precision().name().toLowerCase(), sources.size(), Runtime.getRuntime().availableProcessors());
    Nvrtc nvrtc = Nvrtc.defaultCache();
    Map<String, Cuda.Module> kernels = nvrtc.load(sources, cuda);
    log.printf("tune: compiled and loaded %d (%d from the cubin cache) in %.1f s%n", sources.size(), nvrtc.stats().warm(), (System.nanoTime() - start) / 1e9);
    try {
      return measure(layout, executor, targets.values(), kernels, kernels.get("kiln_tuner_utilities"), variantCount, tolerance, cache, log, start);
    } finally {
      for (Cuda.Module m : kernels.values()) m.close();
    }
  }

  private static List<Tuner.Result<CudaSchedule.MatmulTile>> measure(Arena layout, CudaExecutor ex, java.util.Collection<Target> targets,
      Map<String, Cuda.Module> kernels, Cuda.Module utilities, int total, double tolerance, TuningCache cache, PrintStream log, long start) {
    Cuda cuda = ex.cuda();
    DeviceArena memory = ex.memory();
    Kernel fill = utilities.kernel("kiln_fill"), copy = utilities.kernel("kiln_copy"), diff = utilities.kernel("kiln_diff");
    long floats = layout.floatCount();
    cuda.launch(Launch.of(fill, Launch.Dim3.of(4096), Launch.Dim3.of(256), 0, memory.pointer(0), floats, 2026));
    // bf16 tensors hold pairs of bf16 in the float region: refill each one a matmul touches with bf16 values
    Kernel fill16 = utilities.kernel("kiln_fill_bf16"), copy16 = utilities.kernel("kiln_copy16"), diff16 = utilities.kernel("kiln_diff16");
    java.util.Set<Tensor> narrow = new java.util.LinkedHashSet<>();
    for (Target t : targets) for (Tensor x : t.byDefault().tensors()) if (x.storage() == kiln.dsl.DType.BF16) narrow.add(x);
    for (Tensor x : narrow) {
      cuda.launch(Launch.of(fill16, Launch.Dim3.of(1024), Launch.Dim3.of(256), 0, memory.pointer(2 * layout.offsetLong(x)), layout.elements(x), 2027));
    }
    long largest = 1;
    for (Target t : targets) largest = Math.max(largest, layout.elements(t.byDefault().tensors().getFirst()));
    String device = CudaExecutor.tuningDevice(cuda);
    List<Tuner.Result<CudaSchedule.MatmulTile>> results = new ArrayList<>();
    int done = 0;
    try (DeviceArena initial = cuda.allocate(4 * largest); DeviceArena expected = cuda.allocate(4 * largest); DeviceArena err = cuda.allocate(8);
         DeviceArena workspace = cuda.allocate(4 * WORKSPACE_CAP_FLOATS)) {
      for (Target t : targets) {
        List<CudaSchedule.MatmulTile> space = t.space();
        Tensor out = t.byDefault().tensors().getFirst();
        long n = layout.elements(out);
        boolean half = out.storage() == kiln.dsl.DType.BF16;
        var c = memory.pointer(layout.bytesPerElement(out) * layout.offsetLong(out));
        Kernel cp = half ? copy16 : copy;
        Launch save = Launch.of(cp, Launch.Dim3.of(1024), Launch.Dim3.of(256), 0, initial.pointer(0), c, n);
        Launch restore = Launch.of(cp, Launch.Dim3.of(1024), Launch.Dim3.of(256), 0, c, initial.pointer(0), n);
        Launch keep = Launch.of(cp, Launch.Dim3.of(1024), Launch.Dim3.of(256), 0, expected.pointer(0), c, n);
        Launch compare = Launch.of(half ? diff16 : diff, Launch.Dim3.of(1024), Launch.Dim3.of(256), 0, c, expected.pointer(0), n, err.pointer(0));
        cuda.launch(save);
        for (Launch x : ex.launches(t.reference(), kernels::get, workspace)) cuda.launch(x);
        cuda.launch(keep);
        Rendered[] v = t.variants();
        Tuner.Result<CudaSchedule.MatmulTile> res = Tuner.search(t.launch(), shape(t.byDefault(), layout), space, t.defaultTile(), i -> {
          if (CudaExecutor.workspaceFloats(v[i], layout) > WORKSPACE_CAP_FLOATS) return Double.NaN;   // split-K too big for this shape
          List<Launch> l;
          try {
            l = ex.launches(v[i], kernels::get, workspace);
            cuda.launch(restore);
            for (Launch x : l) cuda.launch(x);
            err.memsetZero();
            cuda.launch(compare);
            cuda.synchronize();
          } catch (CudaException failed) {   // e.g. more registers x threads than an SM has: not a candidate here
            log.printf("tune: %s %s refused: %s%n", t.launch(), space.get(i).knobs(), failed.getMessage().lines().findFirst().orElse(""));
            return Double.NaN;
          }
          int[] bits = new int[2];
          err.download(0, bits, 0, 2);
          double maxErr = Float.intBitsToFloat(bits[0]), refMax = Float.intBitsToFloat(bits[1]);
          if (!(maxErr <= tolerance * Math.max(refMax, 1e-30))) {
            log.printf("tune: %s %s discarded: max abs error %.3e against the reference's max %.3e%n", t.launch(), space.get(i).knobs(), maxErr, refMax);
            return Double.NaN;
          }
          // the first variant of a matmul runs right after the reference: on the H200 its time read up to 20 % high (fc dX's
          // default 0.308 ms here against 0.257 in the step), so it is run through once more before it is timed
          if (i == 0) cuda.medianMs(l, WARMUP, REPEATS);
          return cuda.medianMs(l, WARMUP, REPEATS);
        }, cache, device, t.key(), log);
        cuda.launch(restore);
        done += v.length;
        if (res == null) continue;
        results.add(res);
        log.printf("tune: %d/%d variants, %.1f s elapsed: %s %s best %s (%.3f ms, %.1f TFLOP/s; default %s %.3f ms)%n", done, total,
            (System.nanoTime() - start) / 1e9, res.launch(), res.shape(), res.best().knobs(), res.bestMs(), res.bestTflops(), t.defaultTile().knobs(),
            res.defaultMs());
      }
    }
    return results;
  }

  private static String utilities() {
    try (var in = CudaTuner.class.getResourceAsStream(UTILITIES)) {
      if (in == null) throw new IllegalStateException(UTILITIES + " is not on the class path");
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(UTILITIES + ": cannot read: " + e.getMessage(), e);
    }
  }

  /** "BxMxNxK" of a matmul launch (the tuning cache's shape key). */
  static String shape(Rendered r, Arena layout) {
    return r.work() instanceof Work.Bf16Tiles b ? b.shape(layout::size) : ((Work.Tiles) r.work()).shape(layout::size);
  }

}
