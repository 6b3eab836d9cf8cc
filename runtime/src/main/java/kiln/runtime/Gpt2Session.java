// A GPT-2 instantiated for a config and batch shape on the CPU: arena, compiled kernels, and the
// operations a trainer or verifier needs (load weights, set a batch, step, read tensors).
package kiln.runtime;

import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.runtime.cpu.CpuExecutor;
import kiln.runtime.format.GptConfig;

public final class Gpt2Session implements AutoCloseable {
  public final GptConfig config;
  public final int batch, seq;
  public final Gpt2.Program program;
  public final Arena arena;
  public final CpuExecutor executor;
  private final float[] hyper = new float[4];
  private int step;

  public Gpt2Session(GptConfig config, int batch, int seq, int threads) {
    this.config = config;
    this.batch = batch;
    this.seq = seq;
    this.program = Gpt2.build(config.layers());
    var c = new Gpt2.Config(config.maxT(), config.vocab(), config.paddedVocab(), config.layers(), config.heads(), config.channels());
    this.arena = new Arena(program.graph(), Gpt2.bind(c, batch, seq), program.graph().computes(),
        java.util.Set.of(program.logits(), program.loss()));
    this.executor = new CpuExecutor(arena, ShippedModels.gpt2Sections(program), threads);
  }

  public Tensor paramsTensor() { return program.params().get("wte").root(); }

  public void loadParams(float[] params) { arena.write(paramsTensor(), params); }

  public void setBatch(int[] inputs, int[] targets) {
    arena.write(program.tokens(), inputs);
    arena.write(program.targets(), targets);
  }

  public void forward() { executor.run("forward"); }

  public float loss() { return arena.f[arena.offset(program.loss())]; }

  public void backward() { executor.run("backward"); }

  /** One AdamW update with the gradients in the arena (t counts from 1). */
  public void update(float lr, float weightDecay) {
    step++;
    hyper[0] = lr;
    hyper[1] = (float) (1 - Math.pow(0.9, step));
    hyper[2] = (float) (1 - Math.pow(0.999, step));
    hyper[3] = weightDecay;
    System.arraycopy(hyper, 0, arena.f, arena.offset(program.hyper()), 4);
    executor.run("update");
  }

  public int stepCount() { return step; }

  public float[] read(Tensor t) { return arena.read(t); }

  @Override public void close() { executor.close(); }
}
