// The CPU autotuner's measurement (the search is Tuner's): for every distinct matmul (kernel, shape) of a
// session, compiles each point of Schedule.cpuSpace, checks its output against the default variant on
// fresh random inputs (a fast wrong kernel is discarded) and times the survivors (median of repeats).
package kiln.runtime.cpu;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import kiln.codegen.CpuKernel;
import kiln.codegen.JavaRenderer;
import kiln.codegen.MatmulMatch;
import kiln.codegen.Rendered;
import kiln.codegen.Schedule;
import kiln.codegen.Work;
import kiln.dsl.Compute;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Tuner;
import kiln.runtime.TuningCache;

public final class CpuTuner {
  // each variant is a fresh class: warm it until the JIT has compiled it, then time enough repeats
  private static final int WARMUP_RUNS = 40, MIN_WARMUP_RUNS = 3, REPEATS = 7;
  private static final long WARMUP_NANOS = 200_000_000, TIMED_NANOS = 20_000_000;
  private static final double TOLERANCE = 1e-4;   // relative to the reference output's max abs

  private CpuTuner() {}

  public static List<Tuner.Result<Schedule>> tune(Arena arena, Map<String, List<Compute>> program, WorkerPool pool, TuningCache cache, String device,
                                                  PrintStream log) {
    int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
    List<Schedule> space = Schedule.cpuSpace(lanes);
    // distinct (kernel identity, shape): the launch it first occurs in, rendered with its tensors, and each point of the space
    record Target(String launch, Rendered byDefault, Rendered[] variants) {}
    Map<String, Target> targets = new LinkedHashMap<>();
    List<Rendered> sources = new ArrayList<>();
    for (MatmulMatch mm : Tuner.matmuls(program)) {
      Rendered r = JavaRenderer.matmul(mm, mm.compute().accumulate());
      String key = r.identity() + "|" + ((Work.Tiles) r.work()).shape(arena::size);
      if (targets.containsKey(key)) continue;
      Rendered[] v = new Rendered[space.size()];
      for (int i = 0; i < v.length; i++) sources.add(v[i] = JavaRenderer.toClass(r, space.get(i)));
      targets.put(key, new Target(mm.compute().name(), r, v));
    }
    long start = System.nanoTime();
    log.printf("tune: %d matmul kernels x %d variants = %d classes to compile%n", targets.size(), space.size(), sources.size());
    KernelCompiler.Compiled compiled = KernelCompiler.defaultCache().compile(sources);
    log.printf("tune: compiled %d (%d from cache) in %.1f s%n", sources.size(), sources.size() - compiled.compiled(), compiled.millis() / 1e3);

    SplittableRandom rnd = new SplittableRandom(2026);
    for (int i = 0; i < arena.f.length; i++) arena.f[i] = (float) (rnd.nextDouble() * 2 - 1);

    List<Tuner.Result<Schedule>> results = new ArrayList<>();
    int done = 0;
    for (Target t : targets.values()) {
      Rendered r = t.byDefault();
      String shape = ((Work.Tiles) r.work()).shape(arena::size);
      int[] args = arena.launchArgs(r.dims(), r.tensors());
      Tensor out = r.tensors().getFirst();
      int at = arena.offset(out), n = (int) arena.elements(out);
      float[] initial = Arrays.copyOfRange(arena.f, at, at + n);
      Schedule fallback = Schedule.cpuDefault(lanes, Long.parseLong(shape.split("x")[2]));   // what an untuned session runs
      Rendered[] v = t.variants();
      float[] expected = run(pool, arena, compiled, v[space.indexOf(fallback)], args, initial, at);
      double refMax = 0;
      for (float x : expected) refMax = Math.max(refMax, Math.abs(x));
      double tolerance = TOLERANCE * Math.max(refMax, 1e-30);
      Tuner.Result<Schedule> res = Tuner.search(t.launch(), shape, space, fallback, i -> {
        float[] got = run(pool, arena, compiled, v[i], args, initial, at);
        double err = 0;
        for (int j = 0; j < n; j++) err = Math.max(err, Math.abs(got[j] - expected[j]));
        return err <= tolerance ? time(pool, arena, compiled.kernels().get(v[i].function()), args, items(arena, v[i])) : Double.NaN;
      }, cache, device, r.identity(), log);
      System.arraycopy(initial, 0, arena.f, at, n);
      results.add(res);
      done += space.size();
      log.printf("tune: %d/%d variants, %.1f s elapsed: %s %s best %s%n", done, sources.size(), (System.nanoTime() - start) / 1e9,
          res.launch(), shape, res.best().knobs());
    }
    return results;
  }

  /**
   * Median ms of at least REPEATS runs spanning TIMED_NANOS, after a warm-up of WARMUP_RUNS runs or
   * WARMUP_NANOS, whichever ends first (but MIN_WARMUP_RUNS at least).
   */
  private static double time(WorkerPool pool, Arena arena, CpuKernel k, int[] args, int items) {
    long begin = System.nanoTime();
    for (int w = 0; w < MIN_WARMUP_RUNS || (w < WARMUP_RUNS && System.nanoTime() - begin < WARMUP_NANOS); w++) {
      pool.run(k, arena.f, arena.i, args, items);
    }
    double[] t = new double[256];
    int n = 0;
    begin = System.nanoTime();
    while (n < t.length && (n < REPEATS || System.nanoTime() - begin < TIMED_NANOS)) {
      long t0 = System.nanoTime();
      pool.run(k, arena.f, arena.i, args, items);
      t[n++] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(t, 0, n);
    return t[n / 2];
  }

  private static float[] run(WorkerPool pool, Arena arena, KernelCompiler.Compiled compiled, Rendered variant, int[] args, float[] initial, int at) {
    System.arraycopy(initial, 0, arena.f, at, initial.length);
    pool.run(compiled.kernels().get(variant.function()), arena.f, arena.i, args, items(arena, variant));
    return Arrays.copyOfRange(arena.f, at, at + initial.length);
  }

  private static int items(Arena arena, Rendered variant) {
    return Math.toIntExact(((Work.Tiles) variant.work()).count(arena::size));
  }
}
