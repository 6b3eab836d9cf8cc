// `kiln tune`: autotunes the matmul schedules of a model's training step on this machine (CPU or
// CUDA) and stores the winners in the tuning cache, which bench and train then use.
package kiln.cli;

import java.util.List;
import java.util.concurrent.Callable;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.Tuner;
import kiln.runtime.TuningCache;
import kiln.runtime.cpu.CpuExecutor;
import kiln.runtime.cpu.CpuTuner;
import kiln.runtime.cuda.CudaExecutor;
import kiln.runtime.cuda.CudaTuner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "tune", mixinStandardHelpOptions = true,
    description = {"Autotunes the matmul kernels of a model's training step.",
        "Every variant of the schedule space is compiled (CUDA: NVRTC in parallel), checked against a reference variant on fresh",
        "random inputs (a fast wrong kernel is discarded), timed (CPU: median of at least 7 runs; CUDA: CUDA events, median of 15",
        "after 3 warm-ups), and the winners are stored in the tuning cache (~/.cache/kiln/tuning.json, keyed by device, kernel",
        "and shape; on CUDA the device key holds the GPU name, compute capability and NVRTC version) that bench and train read."},
    footer = {"", "Examples:", "  ./kiln tune --device cpu --model gpt2-d12 --batch 4 --seq 64",
        "  ./kiln tune --device cuda --model gpt2-d12 --batch 8 --seq 1024 --precision tf32"})
public final class TuneCommand implements Callable<Integer> {
  @Mixin SharedOptions.CpuDevice device;
  @Mixin SharedOptions.RegistryShape model;
  @Mixin SharedOptions.Fp32Precision precision;
  @Mixin SharedOptions.Recompute recompute;

  @Override public Integer call() {
    Session.Device d = device.device();
    CudaSchedule.Precision p = precision.on(d);
    if (p == CudaSchedule.Precision.BF16 && d != Session.Device.CUDA) {
      // the CPU emulates bf16 storage on its fp32 kernels: nothing of its own to tune
      throw new UserError("--precision bf16: tune races bf16 kernels on --device cuda only; the cpu emulates bf16 on its fp32 kernels (tune at fp32)");
    }
    Models.Shape shape = model.shape();
    kiln.codegen.Recompute policy = recompute.requested();
    int n = device.threads();
    TuningCache cache = TuningCache.load(TuningCache.defaultFile());
    try (Session s = shape.open(model.batch, model.seq, d, d == Session.Device.CUDA ? 1 : n, p, 0, Session.Zero.NONE, policy)) {
      if (s.executor instanceof CudaExecutor ex) {
        System.out.printf("tune: %s B=%d T=%d on %s, %s matmuls%n", model.name, model.batch, model.seq,
            CudaExecutor.tuningDevice(ex.cuda()), precision.name(Session.Device.CUDA));
        return table(CudaTuner.tune(s.arena, Session.sections(s.program), ex, CudaSchedule.fromEnvironment(p), cache, System.err), cache);
      }
      String dev = TuningCache.cpuDevice(n);
      System.out.printf("tune: %s B=%d T=%d on %s%n", model.name, model.batch, model.seq, dev);
      return table(CpuTuner.tune(s.arena, Session.sections(s.program), ((CpuExecutor) s.executor).pool(), cache, dev, System.err), cache);
    }
  }

  /** Saves the cache and prints a row per tuned matmul, and the sum of one launch of each with the winners and the defaults. */
  private static int table(List<? extends Tuner.Result<?>> results, TuningCache cache) {
    cache.save();
    System.out.printf("%-34s %-24s %8s %10s %-44s %10s %10s %8s%n", "kernel (first launch)", "shape BxMxNxK", "variants", "best ms", "best knobs",
        "worst ms", "default ms", "speedup");
    double best = 0, defaults = 0;
    for (Tuner.Result<?> r : results) {
      System.out.printf("%-34s %-24s %4d/%-3d %10.3f %-44s %10.3f %10.3f %7.2fx%n", r.launch(), r.shape(), r.valid(), r.tried(), r.bestMs(),
          r.best().knobs().replace(" ", ","), r.worstMs(), r.defaultMs(), r.speedup());
      best += r.bestMs();
      defaults += r.defaultMs();
    }
    System.out.printf("tune: one launch of each tuned matmul: %.3f ms with the winners, %.3f ms with the defaults (%.2fx)%n", best, defaults,
        defaults / best);
    System.out.printf("tune: %d winners written to %s%n", results.size(), cache.file());
    return 0;
  }
}
