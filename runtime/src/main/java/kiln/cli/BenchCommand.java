// `kiln bench`: times full training steps (forward, backward, AdamW) on random tokens.
package kiln.cli;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Learner;
import kiln.runtime.Session;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Times training steps of a registry model (GPT-2 or Llama) on random data: per-step ms, then a summary line.",
    footer = {"", "Example:", "  ./kiln bench --device cpu --model gpt2-d12 --batch 4 --seq 64 --steps 10",
        "Last line: bench: <median ms> ms/step <tok/s> tok/s <MB> MB peak"})
public final class BenchCommand implements Callable<Integer> {
  @Mixin SharedOptions.AutoDevice device;
  @Mixin SharedOptions.RegistryShape model;
  @Mixin SharedOptions.TrainPrecision precision;
  @Mixin SharedOptions.Recompute recompute;
  @Mixin SharedOptions.Gpus gpus;
  @Option(names = "--steps", defaultValue = "10") int steps;
  @Option(names = "--warmup", defaultValue = "1", description = "untimed steps first") int warmup;
  @Option(names = "--profile", description = "print time per kernel (adds a clock read per launch)") boolean profile;
  @Option(names = "--cuda-profiler-range",
      description = "CUDA: only the timed steps in the profiler's range (run under `ncu --profile-from-start off`)") boolean profilerRange;
  @Option(names = "--matmul-table", paramLabel = "FILE",
      description = "CPU: also write one line per distinct matmul (name, BxMxNxK, layouts of A/B, ms per launch, GFLOP/s) to FILE; implies --profile")
  java.nio.file.Path matmulTable;

  @Override public Integer call() {
    var d = device.device();
    var rv = gpus.check(d);
    kiln.runtime.Models.Shape c = model.shape();
    SharedOptions.positive("--steps", steps);
    int n = device.threads();
    int batch = model.batch, seq = model.seq;
    System.out.printf("bench: %s (%,d params), B=%d T=%d, %s, %s%n", model.name, c.paramCount(), batch, seq,
        d == kiln.runtime.Session.Device.CPU ? n + " CPU threads" : "cuda", "Java " + System.getProperty("java.vm.version"));
    var p = precision.on(d);
    if (profilerRange && (d == kiln.runtime.Session.Device.CPU || rv.worldSize() > 1)) throw new UserError("--cuda-profiler-range is for --device cuda on one GPU");
    if (rv.worldSize() > 1) return MultiGpu.bench(c, rv, gpus.zero == 1, batch, seq, steps, warmup, p, recompute.requested());
    try (Session s = c.open(batch, seq, d, n, p, 0, Session.Zero.NONE, recompute.requested())) {
      System.out.println(settings(p, s));
      System.out.println("bench: " + s.executor.describe());
      System.out.println("bench: " + MultiGpu.memory(s));
      System.out.printf("bench: arena %.1f MB (%.1f MB of it shared by activations whose lifetimes do not overlap)%n", s.arena.bytes() / 1e6,
          s.arena.sharedBytes() / 1e6);
      if (d == kiln.runtime.Session.Device.CPU) c.randomInit(1337, s.arena.f, s.arena.offset(s.paramsTensor()));
      else s.loadParams(c.randomInit(1337));
      SplittableRandom rnd = new SplittableRandom(42);
      int[] x = new int[batch * seq], y = new int[batch * seq];
      for (int i = 0; i < x.length; i++) { x[i] = rnd.nextInt(50257); y[i] = rnd.nextInt(50257); }
      s.setBatch(x, y);
      for (int i = 0; i < warmup; i++) step(s);
      if (matmulTable != null && d != kiln.runtime.Session.Device.CPU) throw new UserError("--matmul-table is for --device cpu");
      if (matmulTable != null) profile = true;
      if (profile) s.executor.enableProfile();
      long[] ids = threadIds(s);
      java.util.function.LongUnaryOperator mx = allocationCounter();
      long[] before = new long[ids.length];
      long allocated = 0;
      double[] ms = new double[steps];
      if (profilerRange) ((kiln.runtime.cuda.CudaExecutor) s.executor).cuda().profilerRange(true);
      for (int i = 0; i < steps; i++) {
        if (mx != null) for (int k = 0; k < ids.length; k++) before[k] = mx.applyAsLong(ids[k]);
        long t0 = System.nanoTime();
        float loss = step(s);    // reading the loss waits for the device
        ms[i] = (System.nanoTime() - t0) / 1e6;
        if (mx != null) for (int k = 0; k < ids.length; k++) allocated += mx.applyAsLong(ids[k]) - before[k];
        System.out.printf("step %d: %.1f ms, loss %.4f%n", i + 1, ms[i], loss);
      }
      if (profilerRange) ((kiln.runtime.cuda.CudaExecutor) s.executor).cuda().profilerRange(false);
      if (profile) {
        System.out.println("profile (total over timed steps, top 40):");
        long total = s.executor.profile().stream().mapToLong(java.util.Map.Entry::getValue).sum();
        s.executor.profile().stream().limit(40).forEach(e ->
            System.out.printf("  %8.1f ms %5.1f%%  %s%n", e.getValue() / 1e6 / steps, 100.0 * e.getValue() / total, e.getKey()));
      }
      if (matmulTable != null) writeMatmulTable((kiln.runtime.cpu.CpuExecutor) s.executor);
      if (mx != null) {
        System.out.printf("bench: Java heap allocation in the step loop: %d bytes/step (ThreadMXBean, %d threads)%n", allocated / steps, ids.length);
      } else {
        System.out.println("bench: Java heap allocation not measured (no jdk.management module in this runtime)");
      }
      double median = MultiGpu.stepTimes(ms);
      double mb = d == kiln.runtime.Session.Device.CPU ? peakRssMb() : ((kiln.runtime.cuda.CudaExecutor) s.executor).deviceBytesInUse() / 1e6;
      System.out.printf("bench: %.1f ms/step %.1f tok/s %.0f MB peak%n", median, batch * seq / (median / 1000), mb);
    }
    return 0;
  }

  /** The precision and the recompute policy a session runs (the policy as the session resolved it: the graph is built once). */
  static String settings(CudaSchedule.Precision p, Session s) {
    return "bench: --precision " + p.name().toLowerCase(java.util.Locale.ROOT) + ", --recompute " + s.recompute.flag();
  }

  private void writeMatmulTable(kiln.runtime.cpu.CpuExecutor cpu) {
    StringBuilder b = new StringBuilder("# name BxMxNxK layout(A/B) ms-per-launch GFLOP/s (kiln bench, " + steps + " steps)\n");
    for (var m : cpu.matmulTimes(steps)) {
      String[] ab = m.layout().split("/");
      b.append(String.format(java.util.Locale.ROOT, "%s %s %s %s %.4f %.2f%n", m.name().replace(' ', '_'), m.shape(), ab[0], ab[1], m.msPerLaunch(), m.gflops()));
    }
    try {
      kiln.runtime.format.AtomicFiles.write(matmulTable, out -> out.write(b.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (java.io.UncheckedIOException e) {
      throw new UserError("--matmul-table: " + e.getMessage());
    }
    System.out.println("bench: matmul table written to " + matmulTable);
  }

  /**
   * Per-thread allocated bytes (ThreadMXBean) where the runtime has com.sun.management, else null: a jlinked runtime may lack
   * the jdk.management module (the device pack's does, and bench failed there without this check).
   */
  private static java.util.function.LongUnaryOperator allocationCounter() {
    try {
      return HotSpot.counter();
    } catch (NoClassDefFoundError e) {
      return null;
    }
  }

  /** Loaded only when com.sun.management is present. */
  private static final class HotSpot {
    static java.util.function.LongUnaryOperator counter() {
      var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
      return mx::getThreadAllocatedBytes;
    }
  }

  /** One timed step of either bench (a session, or data-parallel replicas): forward, backward, AdamW; the loss waits for the device. */
  static float step(Learner l) {
    l.forwardBackward();
    l.update(1e-4f, 0f, 1f);
    return l.loss();
  }

  private static long[] threadIds(Session s) {
    Thread[] workers = s.executor instanceof kiln.runtime.cpu.CpuExecutor cpu ? cpu.pool().workerThreads() : new Thread[0];
    long[] ids = new long[workers.length + 1];
    ids[0] = Thread.currentThread().threadId();
    for (int i = 0; i < workers.length; i++) ids[i + 1] = workers[i].threadId();
    return ids;
  }

  /** Peak resident set size (VmHWM) in MB, or -1 where /proc is absent. */
  static double peakRssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
      }
    } catch (java.io.IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }
}
