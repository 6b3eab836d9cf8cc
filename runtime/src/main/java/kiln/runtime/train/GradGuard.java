// Clipping's scale, and the guardrail that skips a step whose loss or norm blew up.
package kiln.runtime.train;

import java.util.Arrays;
import java.util.Locale;

/**
 * Decides from two numbers per step, the loss and the global gradient norm (both computed on the
 * device, see {@link kiln.runtime.Session#gradNorm()}); nothing is allocated per step except the
 * message of a skipped one. A step is skipped when its loss is not finite, its norm is not
 * finite, or its norm exceeds {@link #SPIKE_FACTOR} times the median of the last {@link #WINDOW}
 * accepted norms (once {@link #MIN_HISTORY} are known). {@link #MAX_SKIPS} skips in a row stop
 * the run.
 */
public final class GradGuard {
  public static final int WINDOW = 32;
  public static final int MIN_HISTORY = 8;
  public static final double SPIKE_FACTOR = 100;
  public static final int MAX_SKIPS = 3;

  private final double[] history = new double[WINDOW];
  private final double[] sorted = new double[WINDOW];
  private int count;
  private int skippedInARow;

  /**
   * The factor AdamW applies to the gradients first so that their global norm is at most
   * {@code maxNorm} (llm.c's clip): 1 when {@code norm} is within it or {@code maxNorm} is 0 (off).
   */
  public static float clipScale(double norm, double maxNorm) {
    return maxNorm > 0 && norm > maxNorm ? (float) (maxNorm / norm) : 1f;
  }

  /**
   * Null when the step may update; else why not, in one line. An accepted step's norm joins the
   * history; a skipped one counts towards {@link #MAX_SKIPS}.
   */
  public String check(double loss, double norm) {
    String why = null;
    if (!Double.isFinite(loss)) {
      why = "loss is " + loss;
    } else if (!Double.isFinite(norm)) {
      why = "gradient norm is " + norm;
    } else if (count >= MIN_HISTORY) {
      double median = median();
      if (norm > SPIKE_FACTOR * median) {
        why = String.format(Locale.ROOT, "gradient norm %.4g is more than %.0fx the running median %.4g", norm, SPIKE_FACTOR, median);
      }
    }
    if (why == null) {
      history[count % WINDOW] = norm;
      count++;
      skippedInARow = 0;
    } else {
      skippedInARow++;
    }
    return why;
  }

  /** Whether the last {@link #MAX_SKIPS} steps were all skipped. */
  public boolean exhausted() {
    return skippedInARow >= MAX_SKIPS;
  }

  public int skippedInARow() {
    return skippedInARow;
  }

  /** Median of the accepted norms in the window; NaN before the first. */
  public double median() {
    int n = Math.min(count, WINDOW);
    if (n == 0) {
      return Double.NaN;
    }
    System.arraycopy(history, 0, sorted, 0, n);
    Arrays.sort(sorted, 0, n);
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** The accepted norms in the window, oldest first: with {@link #skippedInARow()}, all a checkpoint needs. */
  public double[] recent() {
    int n = Math.min(count, WINDOW);
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = history[(count - n + i) % WINDOW];
    }
    return out;
  }

  /** Back to the state {@link #recent()} and {@link #skippedInARow()} describe. */
  public void restore(double[] recent, int skipped) {
    if (recent.length > WINDOW) {
      throw new IllegalArgumentException("at most " + WINDOW + " recent norms, got " + recent.length);
    }
    count = 0;
    for (double norm : recent) {
      history[count % WINDOW] = norm;
      count++;
    }
    skippedInARow = skipped;
  }
}
