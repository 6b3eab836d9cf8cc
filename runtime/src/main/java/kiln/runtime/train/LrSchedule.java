// Learning rate per step: linear warmup to the peak, then cosine decay to a fraction of it (llm.c's schedule).
package kiln.runtime.train;

/**
 * {@code lr(step)} for 0-based steps. Warmup: {@code maxLr·(step+1)/warmupSteps} for
 * {@code step < warmupSteps}, a line from 0 (at step -1) that reaches {@code maxLr} on the last warmup
 * step, so step 0 already learns (llm.c's {@code train_gpt2.cu}). Then a half cosine from
 * {@code maxLr} at {@code warmupSteps} down to {@code minLrFraction·maxLr} at {@code totalSteps},
 * held there beyond.
 */
public record LrSchedule(double maxLr, int warmupSteps, int totalSteps, double minLrFraction) {
  public LrSchedule {
    if (!(maxLr > 0) || Double.isInfinite(maxLr)) {
      throw new IllegalArgumentException("learning rate must be positive and finite, got " + maxLr);
    }
    if (totalSteps <= 0) {
      throw new IllegalArgumentException("total steps must be positive, got " + totalSteps);
    }
    if (warmupSteps < 0 || warmupSteps > totalSteps) {
      throw new IllegalArgumentException("warmup steps must be in [0, " + totalSteps + "], got " + warmupSteps);
    }
    if (!(minLrFraction >= 0 && minLrFraction <= 1)) {
      throw new IllegalArgumentException("final learning rate fraction must be in [0, 1], got " + minLrFraction);
    }
  }

  /** The same rate at every step. */
  public static LrSchedule constant(double lr, int totalSteps) {
    return new LrSchedule(lr, 0, totalSteps, 1.0);
  }

  public double minLr() {
    return maxLr * minLrFraction;
  }

  public double lr(int step) {
    if (step < 0) {
      throw new IllegalArgumentException("step must be >= 0, got " + step);
    }
    if (step < warmupSteps) {
      return maxLr * (step + 1) / warmupSteps;
    }
    if (step >= totalSteps) {
      return minLr();
    }
    double decay = (double) (step - warmupSteps) / (totalSteps - warmupSteps);
    double coeff = 0.5 * (1.0 + Math.cos(Math.PI * decay));
    return minLr() + coeff * (maxLr - minLr());
  }
}
