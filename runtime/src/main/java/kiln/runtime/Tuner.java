// The autotuner's frame, one for both backends: the distinct matmuls of a program, and for each the
// search over its space (every variant checked against a reference on the same inputs, the survivors
// timed, the fastest stored in the tuning cache). CpuTuner and CudaTuner supply only the measurement.
package kiln.runtime;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.Fuse;
import kiln.codegen.MatmulMatch;
import kiln.codegen.Work;
import kiln.dsl.Compute;

public final class Tuner {
  private Tuner() {}

  /** One tuned matmul: where it first occurs, its shape, the median times of best, worst and default, and of every valid variant. */
  public record Result<T extends Work.Tile>(String launch, String shape, int tried, int valid, T best, double bestMs, double worstMs,
                                            double defaultMs, Map<T, Double> msByTile) {
    public double speedup() { return defaultMs / bestMs; }

    /** Floating-point operations of one run: 2 x batch x M x N x K from the shape key. */
    public double flops() {
      double f = 2;
      for (String d : shape.split("x")) f *= Double.parseDouble(d);
      return f;
    }

    /** The best variant's rate in TFLOP/s. */
    public double bestTflops() { return flops() / bestMs / 1e9; }
  }

  /** How a backend measures variant i of one matmul's space: its median ms, or NaN where it failed its check (the backend says why). */
  public interface Trial {
    double ms(int variant);
  }

  /** The program's matmuls as the tuner meets them: each compute that lowers alone and matches a matmul. */
  public static List<MatmulMatch> matmuls(Map<String, List<Compute>> program) {
    List<MatmulMatch> found = new ArrayList<>();
    for (List<Compute> computes : program.values()) {
      for (List<Compute> group : Fuse.groups(computes)) {
        if (group.size() == 1) MatmulMatch.of(group.getFirst()).ifPresent(found::add);
      }
    }
    return found;
  }

  /**
   * How much faster than the default tile a variant must time to replace it: 2 %, about the spread of one kernel's median
   * between runs. Within it the default stays (the tuner times the bare matmul once; on the H200 a 0.5 % "win" of 128 x 256
   * over the default for GPT-2's qkv carried the bias epilogue's launch from 2.7 to 3.7 ms a step: docs/perf.md, session 12).
   */
  public static final double MARGIN = 0.02;

  /**
   * Tries every tile of space (trial), stores the fastest valid one in cache under (device, kernel, shape) and returns the
   * result, or null (logged) where no variant was valid. The default tile is the one stored unless the fastest beats it by
   * more than MARGIN.
   */
  public static <T extends Work.Tile> Result<T> search(String launch, String shape, List<T> space, T defaultTile, Trial trial, TuningCache cache,
                                                       String device, String kernel, PrintStream log) {
    Map<T, Double> byTile = new LinkedHashMap<>();
    T best = null;
    double worst = 0;
    for (int i = 0; i < space.size(); i++) {
      double ms = trial.ms(i);
      if (Double.isNaN(ms)) continue;
      byTile.put(space.get(i), ms);
      if (best == null || ms < byTile.get(best)) best = space.get(i);
      worst = Math.max(worst, ms);
    }
    if (best == null) {
      log.printf("tune: %s %s: no variant matched the reference; nothing stored%n", launch, shape);
      return null;
    }
    Double byDefault = byTile.get(defaultTile);
    if (byDefault != null && byTile.get(best) > (1 - MARGIN) * byDefault) best = defaultTile;
    Result<T> r = new Result<>(launch, shape, space.size(), byTile.size(), best, byTile.get(best), worst, byDefault == null ? Double.NaN : byDefault,
        byTile);
    cache.put(new TuningCache.Entry(device, kernel, shape, best.knobs(), r.bestMs(), r.defaultMs()));
    return r;
  }
}
