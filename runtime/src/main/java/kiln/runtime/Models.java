// The model registry: every `--model` name, how to open a session for it and how to initialise it.
// Adding an architecture adds one entry here.
package kiln.runtime;

import kiln.codegen.CudaSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import kiln.runtime.format.GptConfig;
import kiln.runtime.format.LlamaConfig;

public final class Models {
  private Models() {}

  /** A named model shape: opens sessions and writes a seeded random init. */
  public interface Shape {
    String family();
    int maxT();
    long paramCount();
    /** A session on CUDA device ordinal gpu (0 on the CPU), the optimizer over a ZeRO-1 shard (Session.Zero.NONE: all of it). */
    Session open(int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision, int gpu, Session.Zero zero);

    default Session open(int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision, int gpu) {
      return open(batch, seq, device, threads, precision, gpu, Session.Zero.NONE);
    }

    default Session open(int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision) {
      return open(batch, seq, device, threads, precision, 0);
    }

    default Session open(int batch, int seq, Session.Device device, int threads) {
      return open(batch, seq, device, threads, CudaSchedule.Precision.FP32);
    }
    /** Seeded init written into dst at base (an arena, or a fresh array). */
    void randomInit(long seed, float[] dst, int base);
  }

  public record Gpt2Shape(GptConfig config) implements Shape {
    public String family() { return "gpt2"; }
    public int maxT() { return config.maxT(); }
    public long paramCount() { return config.paramCount(); }
    public Session open(int b, int t, Session.Device d, int threads, CudaSchedule.Precision p, int gpu, Session.Zero zero) {
      return new Gpt2Session(config, b, t, d, threads, p, gpu, zero);
    }
    public void randomInit(long seed, float[] dst, int base) { ModelPresets.randomInit(config, seed, dst, base); }
  }

  public record LlamaShape(LlamaConfig config) implements Shape {
    public String family() { return "llama"; }
    public int maxT() { return config.maxT(); }
    public long paramCount() { return config.paramCount(); }
    public Session open(int b, int t, Session.Device d, int threads, CudaSchedule.Precision p, int gpu, Session.Zero zero) {
      return LlamaSessions.open(config, b, t, d, threads, p, gpu, zero);
    }

    /** Linear weights and both embeddings N(0, 0.02) (padding rows 0), norm weights 1. */
    public void randomInit(long seed, float[] dst, int base) {
      SplittableRandom rnd = new SplittableRandom(seed);
      long[] sizes = config.paramSizes();
      int off = base;
      for (int i = 0; i < sizes.length; i++) {
        String name = LlamaConfig.PARAM_NAMES.get(i);
        int n = (int) sizes[i];
        java.util.Arrays.fill(dst, off, off + n, 0f);
        if (name.endsWith("norm")) java.util.Arrays.fill(dst, off, off + n, 1f);
        else {
          int real = name.equals("wte") || name.equals("lm_head") ? config.vocab() * config.channels() : n;
          for (int j = 0; j < real; j++) dst[off + j] = (float) (rnd.nextGaussian() * 0.02);
        }
        off += n;
      }
    }
  }

  public static final Map<String, Shape> ALL = new LinkedHashMap<>();
  static {
    ModelPresets.GPT2.forEach((name, c) -> ALL.put(name, new Gpt2Shape(c)));
    ALL.put("llama-tiny", new LlamaShape(new LlamaConfig(256, 50257, 50304, 2, 4, 2, 128, 352, 10000f, 1e-5f)));
    ALL.put("llama-d12", new LlamaShape(new LlamaConfig(1024, 50257, 50304, 12, 12, 4, 768, 2048, 10000f, 1e-5f)));
  }

  public static Shape get(String name) {
    Shape s = ALL.get(name);
    if (s == null) throw new IllegalArgumentException("--model " + name + ": unknown; expected one of " + ALL.keySet());
    return s;
  }
}
