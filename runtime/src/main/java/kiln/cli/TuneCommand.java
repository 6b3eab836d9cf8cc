// `kiln tune`: autotunes the matmul schedules of a model's training step on this machine and
// stores the winners in the tuning cache, which bench and train then use.
package kiln.cli;

import java.util.List;
import java.util.concurrent.Callable;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.cpu.CpuExecutor;
import kiln.runtime.cpu.CpuTuner;
import kiln.runtime.cpu.TuningCache;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "tune", mixinStandardHelpOptions = true,
    description = {"Autotunes the matmul kernels of a model's training step.",
        "Every variant of the schedule space is compiled, checked against the default variant on random inputs, timed (median",
        "of at least 7 runs), and the winners are stored in the tuning cache (~/.cache/kiln/tuning.json, keyed by device,",
        "kernel and shape) that bench and train read."},
    footer = {"", "Example:", "  ./kiln tune --device cpu --model gpt2-d12 --batch 4 --seq 64",
        "The CUDA tuner (tile and block knobs of templates/cuda) needs a GPU session: --device cuda is refused for now."})
public final class TuneCommand implements Callable<Integer> {
  @Option(names = "--device", defaultValue = "cpu", description = "cpu (cuda: not in this build)") String device;
  @Option(names = "--model", defaultValue = "gpt2-d12", description = "a registry model: ${COMPLETION-CANDIDATES}",
      completionCandidates = BenchCommand.Models.class) String model;
  @Option(names = "--batch", defaultValue = "4") int batch;
  @Option(names = "--seq", defaultValue = "64") int seq;
  @Option(names = "--threads", description = "CPU threads (default: cores); results are keyed by it") Integer threads;

  @Override public Integer call() {
    if (!device.equals("cpu")) throw new UserError("--device " + device + ": only the CPU schedules can be tuned in this build");
    if (batch < 1 || seq < 1) throw new UserError("--batch and --seq must be positive");
    Models.Shape shape = Models.get(model);
    if (seq > shape.maxT()) throw new UserError("--seq " + seq + ": at most maxT " + shape.maxT() + " for " + model);
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    TuningCache cache = TuningCache.load(TuningCache.defaultFile());
    String dev = TuningCache.cpuDevice(n);
    System.out.printf("tune: %s B=%d T=%d on %s%n", model, batch, seq, dev);
    List<CpuTuner.Result> results;
    try (Session s = shape.open(batch, seq, Session.Device.CPU, n)) {
      results = CpuTuner.tune(s.arena, Session.sections(s.program), ((CpuExecutor) s.executor).pool(), cache, dev, System.err);
    }
    cache.save();
    System.out.printf("%-34s %-22s %8s %22s %10s %10s %8s%n", "kernel (first launch)", "shape BxMxNxK", "variants", "best", "worst ms",
        "default ms", "speedup");
    for (CpuTuner.Result r : results) {
      System.out.printf("%-34s %-22s %4d/%-3d %9.3f %-12s %10.3f %10.3f %7.2fx%n", r.launch(), r.shape(), r.valid(), r.tried(), r.bestMs(),
          r.best().knobs().replace(" ", ","), r.worstMs(), r.defaultMs(), r.speedup());
    }
    System.out.printf("tune: %d winners written to %s%n", results.size(), cache.file());
    return 0;
  }
}
