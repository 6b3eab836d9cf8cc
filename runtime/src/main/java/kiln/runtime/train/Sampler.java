// Text generation, top-k + temperature, from next-token logits by a KV cache (GPT-2) or by recomputing a window (any model).
package kiln.runtime.train;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.SplittableRandom;
import kiln.dsl.Tensor;
import kiln.runtime.KvDecoder;
import kiln.runtime.Models;
import kiln.runtime.Session;

/**
 * Two sources of the next-token logits, on either device:
 * <ul>
 *   <li>{@link #kvCache}: GPT-2's decoder program feeds one token per run at its position, keeping
 *       every layer's keys and values; the prompt goes in one position at a time, then each new
 *       token costs one position. The cache holds maxT positions: a context past that restarts it
 *       from the last maxT/2 tokens.
 *   <li>{@link #recompute}: the model's training forward at B=1 over a window of T tokens. Each new
 *       token runs the forward over the last T tokens of the context (the rest of the window padded
 *       with token 0, which causal attention never lets the real positions see) and samples from the
 *       logits of the last real position: a full forward over T per token.
 * </ul>
 * Only one (Vp-wide) logits row comes back to the host per token.
 */
public final class Sampler implements AutoCloseable {
  /** Next-token logits after {@code tokens[0, len)}: a Vp-wide row (only the first V entries are read). */
  private interface Logits extends AutoCloseable {
    float[] after(int[] tokens, int len);

    /** Forgets the context: the next {@link #after} starts a new one. */
    default void reset() {}

    String describe();

    @Override void close();
  }

  private final Logits logits;
  private final int vocab;
  private final double[] weights;
  private final int[] topIds;
  private final float[] topLogits;

  private Sampler(Logits logits, int vocab) {
    this.logits = logits;
    this.vocab = vocab;
    this.weights = new double[vocab];
    this.topIds = new int[vocab];
    this.topLogits = new float[vocab];
  }

  /** Any model: a B=1 session over {@code window} tokens, a full forward per token. */
  public static Sampler recompute(Models.Shape shape, float[] params, int window, Session.Device device, int threads) {
    if (window < 1 || window > shape.maxT()) {
      throw new IllegalArgumentException("sampling window must be in [1, maxT " + shape.maxT() + "], got " + window);
    }
    Session session = shape.open(1, window, device, threads);
    try {
      session.loadParams(params);
    } catch (RuntimeException e) {
      session.close();
      throw e;
    }
    return new Sampler(new Recomputed(session), shape.vocab());
  }

  /**
   * A KV cache of maxT positions where the family has a decoder (GPT-2), unless {@code noKvCache}; else recompute over the
   * window {@code needed} tokens (prompt + sample) need: that, rounded up to 16, at most maxT.
   */
  public static Sampler open(Models.Shape shape, float[] params, int needed, boolean noKvCache, Session.Device device, int threads) {
    if (!noKvCache && shape.decoder().isPresent()) {
      return new Sampler(new Cached(new KvDecoder(shape, params, device, threads)), shape.vocab());
    }
    return recompute(shape, params, Math.min(shape.maxT(), Math.max(16, (needed + 15) / 16 * 16)), device, threads);
  }

  /**
   * Samples {@code n} tokens after {@code prompt}, printing each one's text to {@code out} as it is drawn (a UTF-8
   * character split over tokens waits for its last byte), then a newline. Temperature 0 is greedy; {@code topK} 0
   * samples from the whole vocabulary (`kiln sample` checks both). Returns how it went, with how the logits are
   * computed: {@code 64 tokens in 0.52 s (123.1 tok/s), KV cache (maxT 256)} or {@code ..., recompute, window T=16}.
   */
  public String stream(int[] prompt, int n, double temperature, int topK, long seed, PrintWriter out) {
    if (prompt.length == 0) {
      throw new IllegalArgumentException("the prompt must hold at least one token");
    }
    TokenText.Stream text = new TokenText.Stream();
    SplittableRandom rnd = new SplittableRandom(seed);
    logits.reset();
    int[] tokens = Arrays.copyOf(prompt, prompt.length + n);
    long t0 = System.nanoTime();
    for (int len = prompt.length; len < tokens.length; len++) {
      tokens[len] = pick(logits.after(tokens, len), temperature, topK, rnd);
      out.print(text.push(tokens[len]));
      out.flush();
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    out.println(text.finish());
    out.flush();
    return String.format(java.util.Locale.ROOT, "%d tokens in %.2f s (%.1f tok/s), %s", n, secs, n / secs, logits.describe());
  }

  private int pick(float[] f, double temperature, int topK, SplittableRandom rnd) {
    if ((topK == 0 || topK >= vocab) && temperature > 0) {
      return pickAll(f, temperature, rnd);
    }
    int k = temperature == 0 ? 1 : Math.min(topK, vocab);
    int kept = 0; // topLogits[0, kept) sorted descending
    for (int i = 0; i < vocab; i++) {
      float l = f[i];
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
    return draw(kept, topLogits[0], temperature, rnd);
  }

  /** Softmax sampling over the whole vocabulary (insertion into a top-k list would be quadratic here). */
  private int pickAll(float[] f, double temperature, SplittableRandom rnd) {
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      topIds[i] = i;
      topLogits[i] = f[i];
      max = Math.max(max, f[i]);
    }
    return draw(vocab, max, temperature, rnd);
  }

  /** One of topIds[0, n), drawn with the softmax of topLogits[0, n) / temperature (max: the largest of them). */
  private int draw(int n, double max, double temperature, SplittableRandom rnd) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
      weights[i] = Math.exp((topLogits[i] - max) / temperature);
      sum += weights[i];
    }
    double r = rnd.nextDouble() * sum;
    for (int i = 0; i < n; i++) {
      r -= weights[i];
      if (r < 0) {
        return topIds[i];
      }
    }
    return topIds[n - 1];
  }

  @Override
  public void close() {
    logits.close();
  }

  /** The decoder's cache holds positions [0, fed) of the context from {@code start} on. */
  private static final class Cached implements Logits {
    private final KvDecoder decoder;
    private final int maxT;
    private int start, fed;
    private float[] last;

    Cached(KvDecoder decoder) {
      this.decoder = decoder;
      this.maxT = decoder.shape.maxT();
    }

    @Override public float[] after(int[] tokens, int len) {
      if (len - start > maxT) {
        start = Math.max(0, len - Math.max(1, maxT / 2));
        fed = 0;
      }
      while (start + fed < len) {
        last = decoder.step(tokens[start + fed], fed);
        fed++;
      }
      return last;
    }

    @Override public void reset() {
      start = 0;
      fed = 0;
    }

    @Override public String describe() {
      return "KV cache (maxT " + maxT + ")";
    }

    @Override public void close() {
      decoder.close();
    }
  }

  private static final class Recomputed implements Logits {
    private final Session session;
    private final int window;
    private final Tensor[] rows;
    private final int[] x, y;

    Recomputed(Session session) {
      this.session = session;
      this.window = session.seq;
      Tensor batch0 = session.program.logits().slice(0); // (T, Vp)
      this.rows = new Tensor[window];
      for (int t = 0; t < window; t++) {
        rows[t] = batch0.slice(t);
      }
      this.x = new int[window];
      this.y = new int[window];
    }

    @Override public float[] after(int[] tokens, int len) {
      int start = Math.max(0, len - window);
      Arrays.fill(x, 0);
      System.arraycopy(tokens, start, x, 0, len - start);
      session.setBatch(x, y);
      session.forward();
      return session.read(rows[len - start - 1]);
    }

    @Override public String describe() {
      return "recompute, window T=" + window;
    }

    @Override public void close() {
      session.close();
    }
  }
}
