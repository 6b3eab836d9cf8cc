// `--gpus N` of train and bench: its checks, its start-of-run line, and bench's timed loop over
// data-parallel replicas (multi.DataParallel), with the time each step spends in the NCCL all-reduce.
package kiln.cli;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.cuda.CudaExecutor;
import kiln.runtime.multi.DataParallel;

final class MultiGpu {
  static final String DESCRIPTION = "Data parallel on CUDA devices 0..N-1: one process, a thread and an arena per GPU, gradients summed by"
      + " one NCCL all-reduce per step. --batch is per GPU: a step takes N x B sequences, and losses match one GPU at batch N x B."
      + " Needs libnccl (KILN_NCCL=path) and NCCL_NVLS_ENABLE=0 exported (./kiln exports it) (default: ${DEFAULT-VALUE}).";

  private MultiGpu() {}

  /** One line for each thing --gpus N lacks (count, device, GPUs present, NCCL, NVLS off). */
  static void check(int gpus, Session.Device device) {
    try {
      DataParallel.checkOptions(gpus, device);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** train's line saying how a step's batch is split, for N > 1. */
  static void describe(int gpus, int globalBatch, PrintWriter o) {
    if (gpus == 1) return;
    o.printf(Locale.ROOT, "train: data parallel on %d GPUs (NCCL): B=%d per GPU, %d sequences per step%n", gpus, globalBatch / gpus, globalBatch);
  }

  /**
   * bench over gpus GPUs at batch per GPU: the steps of the one-GPU bench (forward, backward, AdamW,
   * loss) with the all-reduce after the backward; tok/s counts every GPU's tokens.
   */
  static int bench(Models.Shape c, int gpus, int batch, int seq, int steps, int warmup, CudaSchedule.Precision p) {
    System.out.printf(Locale.ROOT, "bench: data parallel on %d GPUs: B=%d per GPU, %d sequences per step%n", gpus, batch, gpus * batch);
    try (DataParallel dp = DataParallel.open(c, batch, seq, p, gpus)) {
      System.out.println("bench: GPU 0: " + dp.onRank(0, s -> s.executor.describe()));
      long gradBytes = 4 * c.paramCount();
      System.out.printf(Locale.ROOT, "bench: per GPU: arena %.1f MB; all-reduce of %.1f MB of fp32 gradients per step%n",
          dp.onRank(0, s -> s.arena.bytes()) / 1e6, gradBytes / 1e6);
      float[] init = new float[Math.toIntExact(c.paramCount())];
      c.randomInit(1337, init, 0);
      dp.loadParams(init);
      // rank 0's slice is the one-GPU bench's batch (same seed, same order)
      SplittableRandom rnd = new SplittableRandom(42);
      int[] x = new int[gpus * batch * seq], y = new int[x.length];
      for (int i = 0; i < x.length; i++) { x[i] = rnd.nextInt(50257); y[i] = rnd.nextInt(50257); }
      dp.setBatch(x, y);
      for (int i = 0; i < warmup; i++) step(dp);
      dp.enableCommTiming();
      double[] ms = new double[steps], comm = new double[steps];
      for (int i = 0; i < steps; i++) {
        long t0 = System.nanoTime();
        float loss = step(dp);   // reading the loss waits for every GPU
        ms[i] = (System.nanoTime() - t0) / 1e6;
        comm[i] = Arrays.stream(dp.lastCommMs()).max().orElse(0);
        System.out.printf(Locale.ROOT, "step %d: %.1f ms, loss %.4f, all-reduce %.2f ms%n", i + 1, ms[i], loss, comm[i]);
      }
      double median = median(ms), commMedian = median(comm);
      double[] sorted = ms.clone();
      Arrays.sort(sorted);
      System.out.printf(Locale.ROOT, "bench: min %.1f ms, median %.1f ms, max %.1f ms%n", sorted[0], median, sorted[sorted.length - 1]);
      System.out.printf(Locale.ROOT, "bench: NCCL all-reduce: median %.2f ms/step (%.1f%% of the step; not overlapped with the backward:"
          + " all of it is exposed), %.0f GB/s bus bandwidth%n", commMedian, 100 * commMedian / median,
          commMedian > 0 ? 2.0 * (gpus - 1) / gpus * gradBytes / (commMedian / 1000) / 1e9 : 0);
      double mb = dp.onRank(0, s -> ((CudaExecutor) s.executor).deviceBytesInUse()) / 1e6;
      System.out.printf(Locale.ROOT, "bench: %.1f ms/step %.1f tok/s %.0f MB peak (per GPU)%n", median, gpus * batch * seq / (median / 1000), mb);
    }
    return 0;
  }

  private static float step(DataParallel dp) {
    dp.forward();
    dp.backward();
    dp.update(1e-4f, 0f, 1f);
    return dp.loss();
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
