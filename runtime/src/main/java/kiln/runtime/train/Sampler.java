// Text generation on a B=1 CPU session: a whole forward per new token (no KV cache yet), top-k + temperature.
package kiln.runtime.train;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import kiln.runtime.Gpt2Session;
import kiln.runtime.format.GptConfig;

/**
 * The session is compiled for one window of T tokens. Each new token runs the forward over the last
 * T tokens of the context (the rest of the window padded with token 0, which causal attention never
 * lets the real positions see) and samples from the logits of the last real position. Cost per
 * token is a full forward over T, so T is kept to what the prompt and the sample need.
 */
public final class Sampler implements AutoCloseable {
  private final Gpt2Session session;
  private final int window;
  private final int vocab;
  private final int paddedVocab;
  private final int logitsAt;
  private final int[] x;
  private final int[] y;
  private final double[] weights;
  private final int[] topIds;
  private final float[] topLogits;

  public Sampler(GptConfig c, float[] params, int window, int threads) {
    if (window < 1 || window > c.maxT()) {
      throw new IllegalArgumentException("sampling window must be in [1, maxT " + c.maxT() + "], got " + window);
    }
    this.session = new Gpt2Session(c, 1, window, threads);
    session.loadParams(params);
    this.window = window;
    this.vocab = c.vocab();
    this.paddedVocab = c.paddedVocab();
    this.logitsAt = session.arena.offset(session.program.logits());
    this.x = new int[window];
    this.y = new int[window];
    this.weights = new double[vocab];
    this.topIds = new int[vocab];
    this.topLogits = new float[vocab];
  }

  /** The window to compile for {@code needed} tokens (prompt + sample): that, rounded up to 16, at most maxT. */
  public static int window(GptConfig c, int needed) {
    return Math.min(c.maxT(), Math.max(16, (needed + 15) / 16 * 16));
  }

  public int window() {
    return window;
  }

  /**
   * Appends {@code n} sampled tokens to {@code prompt}, handing each to {@code onToken} as soon as it
   * is drawn. Temperature 0 is greedy; {@code topK} 0 samples from the whole vocabulary.
   */
  public int[] generate(int[] prompt, int n, double temperature, int topK, long seed, IntConsumer onToken) {
    if (prompt.length == 0) {
      throw new IllegalArgumentException("the prompt must hold at least one token");
    }
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("--temperature must be >= 0 and finite, got " + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
    }
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] tokens = Arrays.copyOf(prompt, prompt.length + n);
    for (int len = prompt.length; len < tokens.length; len++) {
      int start = Math.max(0, len - window);
      Arrays.fill(x, 0);
      System.arraycopy(tokens, start, x, 0, len - start);
      session.setBatch(x, y);
      session.forward();
      int next = pick(logitsAt + (len - start - 1) * paddedVocab, temperature, topK, rnd);
      tokens[len] = next;
      onToken.accept(next);
    }
    return tokens;
  }

  private int pick(int row, double temperature, int topK, SplittableRandom rnd) {
    float[] f = session.arena.f;
    if ((topK == 0 || topK >= vocab) && temperature > 0) {
      return pickAll(f, row, temperature, rnd);
    }
    int k = temperature == 0 ? 1 : Math.min(topK, vocab);
    int kept = 0; // topLogits[0, kept) sorted descending
    for (int i = 0; i < vocab; i++) {
      float l = f[row + i];
      if (kept == k && !(l > topLogits[kept - 1])) {
        continue;
      }
      int at = kept == k ? kept - 1 : kept++;
      while (at > 0 && topLogits[at - 1] < l) {
        topLogits[at] = topLogits[at - 1];
        topIds[at] = topIds[at - 1];
        at--;
      }
      topLogits[at] = l;
      topIds[at] = i;
    }
    if (temperature == 0 || kept == 1) {
      return topIds[0];
    }
    double max = topLogits[0], sum = 0;
    for (int i = 0; i < kept; i++) {
      weights[i] = Math.exp((topLogits[i] - max) / temperature);
      sum += weights[i];
    }
    double r = rnd.nextDouble() * sum;
    for (int i = 0; i < kept; i++) {
      r -= weights[i];
      if (r < 0) {
        return topIds[i];
      }
    }
    return topIds[kept - 1];
  }

  /** Softmax sampling over the whole vocabulary (insertion into a top-k list would be quadratic here). */
  private int pickAll(float[] f, int row, double temperature, SplittableRandom rnd) {
    double max = Double.NEGATIVE_INFINITY, sum = 0;
    for (int i = 0; i < vocab; i++) {
      max = Math.max(max, f[row + i]);
    }
    for (int i = 0; i < vocab; i++) {
      weights[i] = Math.exp((f[row + i] - max) / temperature);
      sum += weights[i];
    }
    double r = rnd.nextDouble() * sum;
    for (int i = 0; i < vocab; i++) {
      r -= weights[i];
      if (r < 0) {
        return i;
      }
    }
    return vocab - 1;
  }

  @Override
  public void close() {
    session.close();
  }
}
