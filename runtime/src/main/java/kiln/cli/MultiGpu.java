// `--gpus N`, `--zero`, `--nodes M --node-rank R --rendezvous ...` of train and bench: their descriptions,
// and bench's timed loop over data-parallel replicas (multi.DataParallel),
// with the time each step spends in the gradient collective and the memory each GPU holds.
package kiln.cli;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.cuda.CudaExecutor;
import kiln.runtime.multi.DataParallel;
import kiln.runtime.multi.Rendezvous;

final class MultiGpu {
  static final String DESCRIPTION = "Data parallel on CUDA devices 0..N-1: one process, a thread and an arena per GPU, gradients summed by"
      + " NCCL in buckets while the backward runs (KILN_BUCKET_MB, default 25; 0: one all-reduce after it). --batch is per GPU: a step takes N x B sequences, and losses match one GPU at batch N x B."
      + " Needs libnccl (KILN_NCCL=path) and NCCL_NVLS_ENABLE=0 exported (./kiln exports it) (default: ${DEFAULT-VALUE}).";

  static final String ZERO = "1: ZeRO-1, each GPU keeps AdamW's m and v for its 1/N shard of the parameters only (gradients"
      + " reduce-scattered, parameters all-gathered after the update); 0: every GPU keeps all of it (default: ${DEFAULT-VALUE}).";
  static final String NODES = "Processes in the run (each with --gpus GPUs), started separately with the same options and"
      + " their own --node-rank (default: ${DEFAULT-VALUE}).";
  static final String NODE_RANK = "This process's index in [0, --nodes); node 0 writes the checkpoints (default: ${DEFAULT-VALUE}).";
  static final String RENDEZVOUS = "With --nodes > 1: where node 0 hands the NCCL id to the others: file:DIR (a directory every"
      + " node sees) or tcp:HOST:PORT (node 0's address).";

  private MultiGpu() {}

  /**
   * bench over the GPUs of rv at batch per GPU (this process's --gpus; with --nodes, every process runs
   * the same bench and tok/s counts the whole run's tokens): the steps of the one-GPU bench (forward,
   * backward, AdamW, loss) with the gradients reduced in buckets during the backward; ZeRO-1 when zero: the gradients reduced onto the
   * shard owners, the parameters all-gathered after the update, AdamW state 1/N per GPU. recompute: the policy asked for (null: the
   * device's default); the sessions say which they run.
   */
  static int bench(Models.Shape c, Rendezvous rv, boolean zero, int batch, int seq, int steps, int warmup, CudaSchedule.Precision p,
                   kiln.codegen.Recompute recompute) {
    int world = rv.worldSize();
    System.out.printf(Locale.ROOT, "bench: data parallel on %d GPUs%s%s: B=%d per GPU, %d sequences per step%n", world,
        rv.nodes() > 1 ? String.format(Locale.ROOT, " (%d processes, this is node %d)", rv.nodes(), rv.nodeRank()) : "",
        zero ? " with ZeRO-1" : "", batch, world * batch);
    try (DataParallel dp = DataParallel.open(c, batch, seq, p, recompute, rv, zero)) {
      System.out.println(dp.<String>onRank(0, s -> BenchCommand.settings(p, s)));
      System.out.println("bench: GPU 0: " + dp.onRank(0, s -> s.executor.describe()));
      System.out.println("bench: per GPU: " + dp.onRank(0, MultiGpu::memory));
      System.out.printf(Locale.ROOT, "bench: %.1f MB of fp32 gradients per step: %s%s%n", 4 * c.paramCount() / 1e6, dp.buckets().describe()
          + (zero ? ", each part reduced onto the GPU whose shard holds it" : ", all-reduced"), zero ? "; then an all-gather of the parameters" : "");
      dp.loadParams(c.randomInit(1337));
      // rank 0's slice is the one-GPU bench's batch (same seed, same order)
      SplittableRandom rnd = new SplittableRandom(42);
      int[] x = new int[world * batch * seq], y = new int[x.length];
      for (int i = 0; i < x.length; i++) { x[i] = rnd.nextInt(50257); y[i] = rnd.nextInt(50257); }
      dp.setBatch(x, y);
      for (int i = 0; i < warmup; i++) BenchCommand.step(dp);
      dp.enableCommTiming();
      double[] ms = new double[steps], comm = new double[steps], exposed = new double[steps];
      for (int i = 0; i < steps; i++) {
        long t0 = System.nanoTime();
        float loss = BenchCommand.step(dp);   // reading the loss waits for every GPU
        ms[i] = (System.nanoTime() - t0) / 1e6;
        for (DataParallel.CommTime t : dp.lastCommMs()) {
          comm[i] = Math.max(comm[i], t.inNccl());
          exposed[i] = Math.max(exposed[i], t.exposed());
        }
        System.out.printf(Locale.ROOT, "step %d: %.1f ms, loss %.4f, NCCL %.2f ms, exposed %.2f ms%n", i + 1, ms[i], loss, comm[i], exposed[i]);
      }
      double median = stepTimes(ms), commMedian = median(comm), exposedMedian = median(exposed);
      System.out.printf(Locale.ROOT, "bench: NCCL per step (median, the slowest GPU): %.2f ms in collectives, %.2f ms exposed (time in NCCL"
          + " not hidden behind the backward: %.1f%% of the step), %.2f ms hidden%n", commMedian, exposedMedian, 100 * exposedMedian / median,
          Math.max(0, commMedian - exposedMedian));
      double mb = dp.onRank(0, s -> ((CudaExecutor) s.executor).deviceBytesInUse()) / 1e6;
      System.out.printf(Locale.ROOT, "bench: %.1f ms/step %.1f tok/s %.0f MB peak (per GPU)%n", median, world * batch * seq / (median / 1000), mb);
    }
    return 0;
  }

  /** A session's device memory by role: parameters, gradients, AdamW state (m + v), the rest. */
  static String memory(Session s) {
    var roles = s.arena.bytesByRole();
    long params = roles.getOrDefault(kiln.dsl.Role.PARAM, 0L), grads = roles.getOrDefault(kiln.dsl.Role.GRAD, 0L);
    long state = roles.getOrDefault(kiln.dsl.Role.STATE, 0L);
    return String.format(Locale.ROOT, "arena %.1f MB: params %.1f MB, grads %.1f MB, AdamW m+v %.1f MB%s, the rest %.1f MB", s.arena.bytes() / 1e6,
        params / 1e6, grads / 1e6, state / 1e6, s.zero().ranks() > 1 ? " (ZeRO-1: 1/" + s.zero().ranks() + " of it)" : "",
        (s.arena.bytes() - params - grads - state) / 1e6);
  }

  /** Prints the min, median and max of the timed steps (one-GPU bench and data parallel); returns the median. */
  static double stepTimes(double[] ms) {
    double median = median(ms);
    System.out.printf(Locale.ROOT, "bench: min %.1f ms, median %.1f ms, max %.1f ms%n", Arrays.stream(ms).min().orElseThrow(), median,
        Arrays.stream(ms).max().orElseThrow());
    return median;
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
