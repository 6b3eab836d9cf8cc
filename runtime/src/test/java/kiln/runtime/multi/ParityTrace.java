// What a few training steps of a Learner produced (losses, norms, the first gradient, the final
// parameters) on fixed random batches, and the comparison of two such traces: one device at batch
// 2B against data-parallel replicas at B each.
package kiln.runtime.multi;

import java.util.SplittableRandom;
import kiln.dsl.Tensor;
import kiln.runtime.Learner;
import kiln.runtime.Models;
import kiln.runtime.train.GradGuard;

record ParityTrace(float[] losses, double[] norms, float[] firstGradient, float[] params) {
  /**
   * steps of forward, backward, norm, clipped AdamW (clip 1.0, the trainer's default) from shape's
   * seeded init, on batches drawn from seed; firstGradient is the gradient block after the first
   * backward divided by gradientDivisor (the replicas hold the sum over ranks).
   */
  static ParityTrace record(Learner l, Models.Shape shape, int vocab, int steps, float lr, long seed, int gradientDivisor) {
    float[] init = new float[Math.toIntExact(shape.paramCount())];
    shape.randomInit(1337, init, 0);
    l.loadParams(init);
    Tensor grads = l.program().grads().values().iterator().next().root();
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] x = new int[l.batch() * l.seq()], y = new int[x.length];
    float[] losses = new float[steps];
    double[] norms = new double[steps];
    float[] first = null;
    for (int s = 0; s < steps; s++) {
      for (int i = 0; i < x.length; i++) {
        x[i] = rnd.nextInt(vocab);
        y[i] = rnd.nextInt(vocab);
      }
      l.setBatch(x, y);
      l.forward();
      l.backward();
      losses[s] = l.loss();
      norms[s] = l.gradNorm();
      if (s == 0) {
        first = l.read(grads);
        for (int i = 0; i < first.length; i++) first[i] /= gradientDivisor;
      }
      l.update(lr, 0f, GradGuard.clipScale(norms[s], 1.0));
    }
    return new ParityTrace(losses, norms, first, l.read(l.paramsTensor()));
  }

  /** max |a - b| / max |a|. */
  static double relativeMaxDiff(float[] a, float[] b) {
    if (a.length != b.length) throw new IllegalArgumentException(a.length + " vs " + b.length);
    double diff = 0, scale = 0;
    for (int i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs((double) a[i] - b[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    return diff / scale;
  }

  static double maxLossDiff(ParityTrace a, ParityTrace b) {
    double d = 0;
    for (int s = 0; s < a.losses.length; s++) d = Math.max(d, Math.abs(a.losses[s] - b.losses[s]));
    return d;
  }

  static double maxNormRelDiff(ParityTrace a, ParityTrace b) {
    double d = 0;
    for (int s = 0; s < a.norms.length; s++) d = Math.max(d, Math.abs(a.norms[s] - b.norms[s]) / a.norms[s]);
    return d;
  }

  /** A table of both runs' losses and norms, for the test's output. */
  static String table(ParityTrace one, ParityTrace many) {
    StringBuilder sb = new StringBuilder("step  loss(1)      loss(N)      |diff|     norm(1)    norm(N)\n");
    for (int s = 0; s < one.losses.length; s++) {
      sb.append(String.format(java.util.Locale.ROOT, "%4d  %.7f  %.7f  %.2e  %.6f  %.6f%n", s + 1, one.losses[s], many.losses[s],
          Math.abs(one.losses[s] - many.losses[s]), one.norms[s], many.norms[s]));
    }
    return sb.toString();
  }
}
