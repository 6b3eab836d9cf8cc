// Llama sessions: the Llama program for one of our Llama file configs, bound to a batch shape.
package kiln.runtime;

import kiln.codegen.CudaSchedule;
import kiln.models.Llama;
import kiln.runtime.format.LlamaConfig;

public final class LlamaSessions {
  private LlamaSessions() {}

  public static Llama.Config config(LlamaConfig c) {
    return new Llama.Config(c.maxT(), c.vocab(), c.paddedVocab(), c.layers(), c.heads(), c.kvHeads(), c.channels(), c.ffn(),
        c.theta(), c.eps());
  }

  public static Session open(LlamaConfig c, int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision) {
    return open(c, batch, seq, device, threads, precision, 0);
  }

  /** On CUDA device ordinal gpu. */
  public static Session open(LlamaConfig c, int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision,
                             int gpu) {
    return open(c, batch, seq, device, threads, precision, gpu, Session.Zero.NONE);
  }

  /** On CUDA device ordinal gpu, the optimizer over a ZeRO-1 shard. */
  public static Session open(LlamaConfig c, int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision,
                             int gpu, Session.Zero zero) {
    Llama.Config cfg = config(c);
    return new Session(Llama.build(cfg), Llama.bind(cfg, batch, seq), batch, seq, device, threads, precision, gpu, zero);
  }
}
