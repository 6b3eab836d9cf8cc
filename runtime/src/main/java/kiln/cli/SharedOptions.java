// The options several commands take, each declared once as a picocli mixin: --device and --threads (train, sample,
// bench, tune, verify), --precision and --recompute (train, bench, tune, verify), --gpus and --zero (train, bench), and the
// registry model with its batch shape (bench, tune); with their checks, each failing with one line that names the option.
package kiln.cli;

import kiln.codegen.CudaSchedule;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.multi.DataParallel;
import kiln.runtime.multi.Rendezvous;
import picocli.CommandLine.Option;

final class SharedOptions {
  private SharedOptions() {}

  /** The registry's model names, for --model's completion and help. */
  static final class ModelNames extends java.util.ArrayList<String> {
    ModelNames() { super(Models.ALL.keySet()); }
  }

  /** --device and --threads; a subclass declares --device with its command's default. */
  abstract static class Device {
    static final String DEVICE = "cpu, cuda, or auto: CUDA when a device is present (default: ${DEFAULT-VALUE}).";

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads on the CPU device (default: cores).")
    Integer threads;

    /** --device as given, or its default (the subclass's option sets it). */
    String name;

    Session.Device device() { return Session.Device.parse(name); }

    /**
     * --threads, by default every core the JVM may use. More threads than cores are refused rather than accepted:
     * the CPU executor's workers spin while they wait for the next kernel, so an oversubscribed pool makes each of
     * the step's hundreds of launches wait for the OS to schedule every worker in turn (two tiny steps with 1000
     * threads on 2 cores took minutes).
     */
    int threads() {
      int cores = Runtime.getRuntime().availableProcessors();
      if (threads == null) {
        return cores;
      }
      if (threads < 1) {
        throw new UserError("--threads must be positive, got " + threads);
      }
      if (threads > cores) {
        throw new UserError("--threads " + threads + ": this machine has " + cores + " cores for kiln; the CPU workers spin-wait, so"
            + " more threads than cores only slow every step down: pass at most " + cores + " (or leave --threads out)");
      }
      return threads;
    }
  }

  /** --device defaulting to auto (train, sample, bench). */
  static final class AutoDevice extends Device {
    @Option(names = "--device", defaultValue = "auto", paramLabel = "DEV", description = DEVICE)
    void set(String device) { name = device; }
  }

  /** --device defaulting to cpu (tune, verify). */
  static final class CpuDevice extends Device {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEV", description = DEVICE)
    void set(String device) { name = device; }
  }

  /**
   * --precision: fp32 (CUDA cores), tf32 (CUDA tensor cores), or bf16 (bf16 storage, fp32 master weights and sums; on the CPU
   * emulated). A subclass declares the option with its command's default.
   */
  abstract static class Precision {
    static final String DESCRIPTION = "fp32 (exact fp32), tf32 (CUDA tensor cores, inputs rounded to 10 mantissa bits, fp32 sums) or bf16"
        + " (parameters and activations stored as bf16, fp32 master weights, AdamW state and sums; emulated on the CPU)";

    /** The value given, or null (the subclass's option sets it). */
    String given;

    /** The default on a device. */
    abstract String defaultOn(Session.Device device);

    /** The name in effect on a device: the one given, else the default. */
    String name(Session.Device device) { return given != null ? given : defaultOn(device); }

    CudaSchedule.Precision on(Session.Device device) {
      String name = name(device);
      CudaSchedule.Precision p = switch (name) {
        case "fp32" -> CudaSchedule.Precision.FP32;
        case "tf32" -> CudaSchedule.Precision.TF32;
        case "bf16" -> CudaSchedule.Precision.BF16;
        default -> throw new UserError("--precision " + name + ": expected fp32, tf32 or bf16");
      };
      if (p == CudaSchedule.Precision.TF32 && device != Session.Device.CUDA) {
        throw new UserError("--precision tf32: TF32 is a CUDA tensor-core mode; the " + device.name().toLowerCase() + " device computes in fp32");
      }
      return p;
    }
  }

  /** --precision defaulting to fp32 everywhere (verify, tune: the checking commands). */
  static final class Fp32Precision extends Precision {
    @Option(names = "--precision", paramLabel = "P", description = DESCRIPTION + " (default: fp32).")
    void set(String name) { given = name; }

    @Override String defaultOn(Session.Device device) { return "fp32"; }
  }

  /** --precision defaulting to bf16 on CUDA and fp32 on the CPU (train, bench: as llm.c trains). */
  static final class TrainPrecision extends Precision {
    @Option(names = "--precision", paramLabel = "P", description = DESCRIPTION + " (default: bf16 on CUDA, fp32 on the CPU).")
    void set(String name) { given = name; }

    @Override String defaultOn(Session.Device device) { return device == Session.Device.CUDA ? "bf16" : "fp32"; }
  }

  /** --recompute: which activations the backward recomputes instead of keeping from the forward (llm.c's -r). */
  static final class Recompute {
    @Option(names = "--recompute", paramLabel = "none|gelu",
        description = "Activations the backward recomputes instead of keeping them from the forward: none, or gelu (every GELU output:"
            + " GPT-2's MLP, Gemma's GeGLU gate; less memory for one more element-wise pass per layer) (default on CUDA: none where"
            + " keeping every activation fits the device, else gelu where the model has a GELU; none on the CPU).")
    String name;

    /** The policy given, or null for the device's default (Models.Shape.recompute resolves and checks it against a model). */
    kiln.codegen.Recompute requested() {
      if (name == null) return null;
      kiln.codegen.Recompute r = kiln.codegen.Recompute.parse(name);
      if (r == null) throw new UserError("--recompute " + name + ": expected " + String.join(" or ", kiln.codegen.Recompute.names()));
      return r;
    }
  }

  /** --gpus, --zero and the node options of a run over several processes (MultiGpu has their descriptions). */
  static final class Gpus {
    @Option(names = "--gpus", defaultValue = "1", paramLabel = "N", description = MultiGpu.DESCRIPTION)
    int gpus;

    @Option(names = "--zero", defaultValue = "0", paramLabel = "0|1", description = MultiGpu.ZERO)
    int zero;

    @Option(names = "--nodes", defaultValue = "1", paramLabel = "M", description = MultiGpu.NODES)
    int nodes;

    @Option(names = "--node-rank", defaultValue = "0", paramLabel = "R", description = MultiGpu.NODE_RANK)
    int nodeRank;

    @Option(names = "--rendezvous", paramLabel = "file:DIR|tcp:HOST:PORT", description = MultiGpu.RENDEZVOUS)
    String rendezvous;

    /**
     * All checked together, one line each: --nodes / --node-rank / --rendezvous and the counts (Rendezvous), --zero 0 or 1 and only
     * with more than one GPU in the run, and with more than one GPU what NCCL needs (DataParallel.checkOptions: the device, the GPUs
     * present, libnccl, NVLS off). Every --precision works with --zero 1, bf16 included: docs/multi-gpu.md.
     */
    Rendezvous check(Session.Device device) {
      Rendezvous rv = Rendezvous.of(gpus, nodes, nodeRank, rendezvous);
      if (zero != 0 && zero != 1) throw new UserError("--zero must be 0 or 1 (ZeRO-1 shards AdamW's state over the GPUs), got " + zero);
      if (zero == 1 && rv.worldSize() == 1) {
        throw new UserError("--zero 1 shards AdamW's state over the GPUs of the run: it needs --gpus > 1 or --nodes > 1 (this run has one GPU)");
      }
      DataParallel.checkOptions(rv, device);
      return rv;
    }
  }

  /** --model, --batch and --seq of bench and tune: a registry model and a batch shape it fits. */
  static final class RegistryShape {
    @Option(names = "--model", defaultValue = "gpt2-d12", paramLabel = "NAME", completionCandidates = ModelNames.class,
        description = "A registry model: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    String name;

    @Option(names = "--batch", defaultValue = "4", paramLabel = "B", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seq", defaultValue = "64", paramLabel = "T", description = "Tokens per sequence, at most maxT (default: ${DEFAULT-VALUE}).")
    int seq;

    Models.Shape shape() {
      positive("--batch", batch);
      positive("--seq", seq);
      Models.Shape shape = Models.get(name);
      if (seq > shape.maxT()) throw new UserError("--seq " + seq + ": at most maxT " + shape.maxT() + " for " + name);
      return shape;
    }
  }

  static void positive(String option, int value) {
    if (value < 1) throw new UserError(option + " must be positive, got " + value);
  }
}
