// Llama's shape as a kiln Llama checkpoint header states it, and the parameter layout derived from it.
package kiln.runtime.format;

import java.nio.file.Path;
import java.util.List;

/**
 * heads = NH query heads of headSize = C/NH, kvHeads = NKV key/value heads (a divisor of NH), ffn = FF (SwiGLU
 * hidden size), theta = RoPE base, eps = RMSNorm eps. reference/README.md documents the model and the file.
 */
public record LlamaConfig(
    int maxT, int vocab, int paddedVocab, int layers, int heads, int kvHeads, int channels, int ffn,
    float theta, float eps) {
  public static final List<String> PARAM_NAMES = List.of(
      "wte", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w3", "w2", "norm", "lm_head");

  public static final float DEFAULT_THETA = 10000f;
  public static final float DEFAULT_EPS = 1e-5f;

  public int headSize() {
    return channels / heads;
  }

  /** Element counts of the 12 tensors, in {@link #PARAM_NAMES} order. Throws ArithmeticException past a long. */
  public long[] paramSizes() {
    long vp = paddedVocab, l = layers, c = channels, f = ffn;
    long kv = Sizes.product(kvHeads, headSize());
    return new long[] {
        Sizes.product(vp, c),
        Sizes.product(l, c),
        Sizes.product(l, c, c),
        Sizes.product(l, kv, c),
        Sizes.product(l, kv, c),
        Sizes.product(l, c, c),
        Sizes.product(l, c),
        Sizes.product(l, f, c),
        Sizes.product(l, f, c),
        Sizes.product(l, c, f),
        c,
        Sizes.product(vp, c)};
  }

  public long paramCount() { return Sizes.sum(paramSizes()); }

  /** The first constraint this config breaks, in header order, or null when it is consistent. */
  GptConfig.Violation violation() {
    if (maxT < 1) {
      return atLeastOne(2, "maxT", maxT);
    }
    if (vocab < 1) {
      return atLeastOne(3, "V", vocab);
    }
    if (layers < 1) {
      return atLeastOne(4, "L", layers);
    }
    if (heads < 1) {
      return atLeastOne(5, "NH", heads);
    }
    if (kvHeads < 1) {
      return atLeastOne(6, "NKV", kvHeads);
    }
    if (heads % kvHeads != 0) {
      return new GptConfig.Violation(6, "NKV", "a divisor of NH (" + heads + ")", Integer.toString(kvHeads));
    }
    if (channels < 1) {
      return atLeastOne(7, "C", channels);
    }
    if (channels % heads != 0) {
      return new GptConfig.Violation(7, "C", "a multiple of NH (" + heads + ")", Integer.toString(channels));
    }
    if (headSize() % 2 != 0) {
      return new GptConfig.Violation(7, "C", "an even head size C/NH for RoPE (NH = " + heads + ")",
          channels + " (head size " + headSize() + ")");
    }
    if (ffn < 1) {
      return atLeastOne(8, "FF", ffn);
    }
    if (paddedVocab < vocab) {
      return new GptConfig.Violation(9, "Vp", "at least V (" + vocab + ")", Integer.toString(paddedVocab));
    }
    if (!(Float.isFinite(theta) && theta > 0)) {
      return new GptConfig.Violation(10, "theta", "a finite float32 > 0", floatFound(theta));
    }
    if (!(Float.isFinite(eps) && eps >= 0)) {
      return new GptConfig.Violation(11, "eps", "a finite float32 >= 0", floatFound(eps));
    }
    String most = "at most " + GptConfig.MAX_ARRAY;
    long count;
    try {
      count = paramCount();
    } catch (ArithmeticException e) {
      return new GptConfig.Violation(-1, "parameter count", most, "more than " + Long.MAX_VALUE);
    }
    if (count > GptConfig.MAX_ARRAY) {
      return new GptConfig.Violation(-1, "parameter count", most, Long.toString(count));
    }
    return null;
  }

  private static GptConfig.Violation atLeastOne(int slot, String name, int found) {
    return new GptConfig.Violation(slot, name, "at least 1", Integer.toString(found));
  }

  /** The value and its bits, since the header stores Float.floatToIntBits and a NaN has many. */
  private static String floatFound(float f) {
    return f + " (bits 0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")";
  }

  /** For configs handed in by a caller: a broken one is their mistake, not the file's. */
  void requireValid(Path file) {
    GptConfig.Violation v = violation();
    if (v != null) {
      throw FormatException.misuse(file, v.configField(), v.expected(), v.found());
    }
  }
}
