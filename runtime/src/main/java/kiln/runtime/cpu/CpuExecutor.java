// Runs a lowered program on the CPU: generated Java kernels over one arena, on a fixed pool.
// Launch arguments and work counts are computed once here; a step only calls kernels.
package kiln.runtime.cpu;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.CpuKernel;
import kiln.codegen.Launch;
import kiln.codegen.Lowering;
import kiln.codegen.Rendered;
import kiln.codegen.Schedule;
import kiln.codegen.Work;
import kiln.dsl.Compute;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Executor;
import kiln.runtime.TuningCache;

public final class CpuExecutor extends Executor<CpuExecutor.Call> {
  /** A launch ready to go: its kernel instance, argument array and work items. */
  record Call(CpuKernel kernel, int[] args, int items) {}

  private final Arena arena;
  private final WorkerPool pool;
  private final Map<String, Rendered> kernels = new LinkedHashMap<>();
  private final long compileMillis;
  private final String tunedNote;
  private final int compiledCount;

  public CpuExecutor(Arena arena, Map<String, List<Compute>> program, int threads) {
    this(arena, program, threads, TuningCache.load(TuningCache.defaultFile()));
  }

  /** Matmul launches take their knobs from the tuning cache where it has them, else the defaults. */
  public CpuExecutor(Arena arena, Map<String, List<Compute>> program, int threads, TuningCache tuning) {
    this.arena = arena;
    int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
    Schedule fallback = Schedule.cpuDefault(lanes);
    String device = TuningCache.cpuDevice(threads);
    int[] counts = new int[2];
    Lowering.Chooser<Schedule> chooser = mm -> {
      counts[1]++;
      String shape = ((Work.Tiles) mm.work()).shape(arena::size);
      String knobs = tuning.find(device, mm.identity(), shape);
      Schedule tuned = knobs == null ? null : Schedule.parse(knobs, lanes);
      if (tuned != null) counts[0]++;
      return tuned != null ? tuned : Schedule.cpuDefault(lanes, Long.parseLong(shape.split("x")[2]));
    };
    Map<String, Lowering.Lowered> lowered = new LinkedHashMap<>();
    for (var e : program.entrySet()) {
      Lowering.Lowered l = Lowering.lower(e.getValue(), fallback, chooser);
      lowered.put(e.getKey(), l);
      kernels.putAll(l.kernels());
    }
    KernelCompiler.Compiled compiled = KernelCompiler.defaultCache().compile(kernels.values());
    this.compileMillis = compiled.millis();
    this.tunedNote = counts[0] + " of " + counts[1] + " matmul launches tuned"
        + (counts[0] < counts[1] ? " (the rest use default knobs; run ./kiln tune)" : "") + " from " + tuning.file();
    this.compiledCount = compiled.compiled();
    plan(lowered, l -> call(l, compiled.kernels().get(l.kernel().function())));
    int scratch = 0;   // room for any schedule of the tuning space, so the tuner can run its variants here
    for (Schedule s : Schedule.cpuSpace(lanes)) scratch = Math.max(scratch, s.scratchFloats());
    for (Step<Call> p : all()) if (p.launch().kernel().work() instanceof Work.Tiles t) scratch = Math.max(scratch, ((Schedule) t.tile()).scratchFloats());
    this.pool = new WorkerPool(threads, scratch);
  }

  private Call call(Launch l, CpuKernel kernel) {
    Rendered k = l.kernel();
    int[] args = arena.launchArgs(k.dims(), k.tensors());
    // the Java renderer's work: a matmul's tiles, or a map's items
    long items = k.work() instanceof Work.Tiles t ? t.count(arena::size) : ((Work.Threads) k.work()).count(arena::size);
    if (items > Integer.MAX_VALUE) throw new IllegalArgumentException(l.name() + ": " + items + " work items, more than an int");
    return new Call(kernel, args, (int) items);
  }

  public Arena arena() { return arena; }
  public WorkerPool pool() { return pool; }
  @Override public void write(Tensor t, float[] values) { arena.write(t, values); }

  @Override public void write(Tensor t, int[] values) { arena.write(t, values); }

  @Override public float[] read(Tensor t) { return arena.read(t); }

  @Override public float readScalar(Tensor t) { return arena.f[arena.offset(t)]; }

  @Override public String describe() {
    return String.format("cpu: %d launches, %d kernel classes (%d compiled in %d ms), %d threads, arena %.1f MB; %s",
        all().size(), kernels.size(), compiledCount, compileMillis, pool.threads(), arena.bytes() / 1e6, tunedNote);
  }

  /** Each launch on the pool, in order; while profiling, timed with a clock read either side. */
  @Override protected void runPart(String key, List<Step<Call>> part) {
    for (Step<Call> s : part) {
      long t0 = profileNanos == null ? 0 : System.nanoTime();
      pool.run(s.planned().kernel(), arena.f, arena.i, s.planned().args(), s.planned().items());
      if (profileNanos != null) profileNanos[s.index()] += System.nanoTime() - t0;
    }
  }

  /** One distinct (matmul kernel, shape) of the program: what a profile measured for one launch of it. */
  public record MatmulTime(String name, String shape, String layout, int launches, double msPerLaunch, double gflops) {}

  /** The profiled matmuls, one row per distinct (kernel, shape), ms per launch averaged over `steps` steps. */
  public List<MatmulTime> matmulTimes(int steps) {
    if (profileNanos == null) throw new IllegalStateException("profile is off");
    Map<String, List<Step<Call>>> byKey = new LinkedHashMap<>();
    for (Step<Call> p : all()) {
      if (!(p.launch().kernel().work() instanceof Work.Tiles)) continue;
      byKey.computeIfAbsent(p.launch().kernel().function() + " " + shape(p), k -> new ArrayList<>()).add(p);
    }
    List<MatmulTime> rows = new ArrayList<>();
    for (List<Step<Call>> same : byKey.values()) {
      Step<Call> first = same.getFirst();
      double flops = 2.0;
      for (String d : shape(first).split("x")) flops *= Long.parseLong(d);
      double ms = same.stream().mapToLong(p -> profileNanos[p.index()]).sum() / 1e6 / steps / same.size();
      rows.add(new MatmulTime(first.launch().name(), shape(first), kiln.codegen.JavaRenderer.layout(first.launch().kernel()),
          same.size(), ms, flops / ms / 1e6));
    }
    return rows;
  }

  /** "BxMxNxK" of a matmul launch. */
  private String shape(Step<Call> matmul) { return ((Work.Tiles) matmul.launch().kernel().work()).shape(arena::size); }

  @Override public void close() { pool.close(); }
}
