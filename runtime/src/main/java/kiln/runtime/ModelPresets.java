// Named GPT-2 shapes (`--model gpt2-d12`) and a seeded GPT-2-style random init for them.
package kiln.runtime;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import kiln.runtime.format.GptConfig;

public final class ModelPresets {
  private ModelPresets() {}

  /** name -> config; V = 50257 padded to 50304 as llm.c does. */
  public static final Map<String, GptConfig> GPT2 = new LinkedHashMap<>();
  static {
    GPT2.put("gpt2-tiny", new GptConfig(256, 50257, 50304, 2, 4, 128));
    GPT2.put("gpt2-d6", new GptConfig(1024, 50257, 50304, 6, 6, 384));
    GPT2.put("gpt2-d12", new GptConfig(1024, 50257, 50304, 12, 12, 768));
    GPT2.put("gpt2-d24", new GptConfig(1024, 50257, 50304, 24, 16, 1024));
  }

  public static GptConfig gpt2(String name) {
    GptConfig c = GPT2.get(name);
    if (c == null) throw new IllegalArgumentException("--model " + name + ": unknown; expected one of " + GPT2.keySet());
    return c;
  }

  /**
   * GPT-2's init: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0,
   * layernorm weight 1 and bias 0, padded vocab rows 0. Deterministic in the seed.
   */
  public static float[] randomInit(GptConfig c, long seed) {
    float[] p = new float[Math.toIntExact(c.paramCount())];
    randomInit(c, seed, p, 0);
    return p;
  }

  /** The same init written straight into dst at base (an arena), with no temporary copy. */
  public static void randomInit(GptConfig c, long seed, float[] dst, int base) {
    java.util.Arrays.fill(dst, base, base + Math.toIntExact(c.paramCount()), 0f);
    float[] p = dst;
    SplittableRandom rnd = new SplittableRandom(seed);
    long[] sizes = c.paramSizes();
    int off = base;
    double residualStd = 0.02 / Math.sqrt(2.0 * c.layers());
    for (int i = 0; i < sizes.length; i++) {
      String name = GptConfig.PARAM_NAMES.get(i);
      int n = (int) sizes[i];
      switch (name) {
        case "ln1w", "ln2w", "lnfw" -> java.util.Arrays.fill(p, off, off + n, 1f);
        case "ln1b", "ln2b", "lnfb", "qkvb", "attprojb", "fcb", "fcprojb" -> { }
        case "wte" -> {
          int real = c.vocab() * c.channels();
          for (int j = 0; j < real; j++) p[off + j] = (float) (rnd.nextGaussian() * 0.02);
        }
        default -> {
          double std = name.equals("attprojw") || name.equals("fcprojw") ? residualStd : 0.02;
          for (int j = 0; j < n; j++) p[off + j] = (float) (rnd.nextGaussian() * std);
        }
      }
      off += n;
    }
  }
}
