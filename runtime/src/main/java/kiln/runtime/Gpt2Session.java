// A GPT-2 instantiated for a config and batch shape on a device (CPU or CUDA): arena layout,
// compiled kernels, and what a trainer or verifier needs (load weights, set a batch, step, read).
package kiln.runtime;

import java.util.Set;
import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.runtime.cpu.CpuExecutor;
import kiln.runtime.cuda.Cuda;
import kiln.runtime.cuda.CudaExecutor;
import kiln.runtime.format.GptConfig;

public final class Gpt2Session implements AutoCloseable {
  public enum Device {
    CPU, CUDA;

    /** cpu, cuda, or auto (CUDA when a device is present). */
    public static Device parse(String name) {
      return switch (name) {
        case "cpu" -> CPU;
        case "cuda" -> {
          if (!Cuda.available()) throw new IllegalArgumentException("--device cuda: no CUDA device here (" + Cuda.unavailableReason() + ")");
          yield CUDA;
        }
        case "auto" -> Cuda.available() ? CUDA : CPU;
        default -> throw new IllegalArgumentException("--device " + name + ": expected cpu, cuda or auto");
      };
    }
  }

  public final GptConfig config;
  public final int batch, seq;
  public final Device device;
  public final Gpt2.Program program;
  public final Arena arena;
  public final Executor executor;
  private final Cuda cuda;
  private final float[] hyper = new float[4];
  private int step;

  /** A CPU session with the given threads. */
  public Gpt2Session(GptConfig config, int batch, int seq, int threads) { this(config, batch, seq, Device.CPU, threads); }

  public Gpt2Session(GptConfig config, int batch, int seq, Device device, int threads) {
    this.config = config;
    this.batch = batch;
    this.seq = seq;
    this.device = device;
    this.program = Gpt2.build(config.layers());
    var c = new Gpt2.Config(config.maxT(), config.vocab(), config.paddedVocab(), config.layers(), config.heads(), config.channels());
    this.arena = new Arena(program.graph(), Gpt2.bind(c, batch, seq), program.graph().computes(),
        Set.of(program.logits(), program.loss()), device == Device.CPU);
    if (device == Device.CPU) {
      this.cuda = null;
      this.executor = new CpuExecutor(arena, ShippedModels.gpt2Sections(program), threads);
    } else {
      this.cuda = Cuda.open();
      this.executor = new CudaExecutor(arena, ShippedModels.gpt2Sections(program), cuda, kiln.codegen.CudaSchedule.DEFAULT);
    }
  }

  public Tensor paramsTensor() { return program.params().get("wte").root(); }

  public void loadParams(float[] params) { executor.write(paramsTensor(), params); }

  public void setBatch(int[] inputs, int[] targets) {
    executor.write(program.tokens(), inputs);
    executor.write(program.targets(), targets);
  }

  public void forward() { executor.run("forward"); }

  public float loss() { return executor.readScalar(program.loss()); }

  public void backward() { executor.run("backward"); }

  /** One AdamW update with the gradients in the arena (t counts from 1). */
  public void update(float lr, float weightDecay) {
    step++;
    hyper[0] = lr;
    hyper[1] = (float) (1 - Math.pow(0.9, step));
    hyper[2] = (float) (1 - Math.pow(0.999, step));
    hyper[3] = weightDecay;
    executor.write(program.hyper(), hyper);
    executor.run("update");
  }

  public int stepCount() { return step; }

  /** Sets the AdamW step counter (resuming from a checkpoint). */
  public void setStepCount(int t) { step = t; }

  public float[] read(Tensor t) { return executor.read(t); }

  @Override public void close() {
    executor.close();
    if (cuda != null) cuda.close();
  }
}
