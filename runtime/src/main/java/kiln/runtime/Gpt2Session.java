// A GPT-2 session: the GPT-2 program for an llm.c config, bound to a batch shape on a device.
package kiln.runtime;

import kiln.codegen.CudaSchedule;
import kiln.models.Gpt2;
import kiln.runtime.format.GptConfig;

public final class Gpt2Session extends Session {
  public final GptConfig config;

  /** A CPU session with the given threads. CUDA sessions run Gpt2.build(L, true): fused attention, GELU recomputed. */
  public Gpt2Session(GptConfig config, int batch, int seq, int threads) { this(config, batch, seq, Device.CPU, threads); }

  public Gpt2Session(GptConfig config, int batch, int seq, Device device, int threads) {
    this(config, batch, seq, device, threads, CudaSchedule.Precision.FP32);
  }

  public Gpt2Session(GptConfig config, int batch, int seq, Device device, int threads, CudaSchedule.Precision precision) {
    this(config, batch, seq, device, threads, precision, 0);
  }

  /** On CUDA device ordinal gpu (data parallelism opens one per GPU, each on its own thread). */
  public Gpt2Session(GptConfig config, int batch, int seq, Device device, int threads, CudaSchedule.Precision precision, int gpu) {
    this(config, batch, seq, device, threads, precision, gpu, Zero.NONE);
  }

  /** As above, the optimizer over a ZeRO-1 shard (Session.Zero). */
  public Gpt2Session(GptConfig config, int batch, int seq, Device device, int threads, CudaSchedule.Precision precision, int gpu,
                     Zero zero) {
    super(Gpt2.build(config.layers(), device == Device.CUDA), Gpt2.bind(gpt2(config), batch, seq), batch, seq, device, threads, precision, gpu,
        zero);
    this.config = config;
  }

  static Gpt2.Config gpt2(GptConfig c) {
    return new Gpt2.Config(c.maxT(), c.vocab(), c.paddedVocab(), c.layers(), c.heads(), c.channels());
  }
}
