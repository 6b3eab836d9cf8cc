// ZeroShards: slices over every small (P, N, align); N ranks doing reduce-scatter + AdamW on their
// slice + all-gather in plain Java, bit for bit against one rank.
package kiln.runtime.multi;

import static kiln.runtime.multi.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ZeroShardsTest {
  private static final int[] ALIGNS = {1, 4, 32};

  @Test
  void slicesAreEqualAlignedDisjointAndCoverTheBlock() {
    int cases = 0;
    for (int align : ALIGNS) {
      for (int n = 1; n <= 8; n++) {
        for (int p = 1; p <= 300; p++) {
          ZeroShards z = new ZeroShards(p, n, align);
          long padded = z.paddedSize(), unit = (long) n * align;
          String at = "P=" + p + " N=" + n + " align=" + align;
          assertEquals(0, padded % unit, at);
          assertTrue(padded >= p && padded - p < unit, at + ": padded " + padded);
          assertEquals(padded, z.shardSize() * n, at);
          assertEquals(0, z.shardSize() % align, at);
          long next = 0, owned = 0;
          for (int r = 0; r < n; r++) {
            assertEquals(next, z.start(r), at + " rank " + r + " starts where the previous ends");
            assertEquals(0, z.start(r) % align, at + " rank " + r + " start aligned");
            assertEquals(z.start(r) + z.shardSize(), z.end(r), at);
            assertEquals(4 * z.start(r), z.startBytes(r), at);
            owned += owned(z, r);
            next = z.end(r);
          }
          assertEquals(padded, next, at + ": the slices end at the padded size");
          assertEquals(p, owned, at + ": the real parameters are owned once each");
          cases++;
        }
      }
    }
    assertEquals(3 * 8 * 300, cases);
  }

  /** Floats of rank's slice that are real parameters (the rest is padding, at the end of the last slices). */
  private static long owned(ZeroShards z, int rank) { return Math.min(z.end(rank), z.params()) - Math.min(z.start(rank), z.params()); }

  @Test
  void gpt2SmallOverFourRanks() {
    ZeroShards z = ZeroShards.of(124_475_904, 4);
    assertEquals(124_475_904, z.paddedSize()); // already a multiple of 4 x 32
    assertEquals(31_118_976, z.shardSize());
    assertEquals("124475904 params over 4 ranks: 31118976 floats each (padded to 124475904), AdamW state 62237952 floats per rank",
        z.toString());
    ZeroShards odd = ZeroShards.of(1000, 3);
    assertEquals(1056, odd.paddedSize());
    assertEquals(352, odd.shardSize());
    assertEquals(352 + 352 + 296, owned(odd, 0) + owned(odd, 1) + owned(odd, 2));
    assertEquals(296, owned(odd, 2));
  }

  @Test
  void misuse() {
    assertMessage(IllegalArgumentException.class, "ZeRO shards: the parameter block must hold at least 1 float, got 0",
        () -> new ZeroShards(0, 2, 32));
    assertMessage(IllegalArgumentException.class, "ZeRO shards: ranks must be positive, got 0", () -> ZeroShards.of(10, 0));
    assertMessage(IllegalArgumentException.class, "ZeRO shards: align must be positive, got -1", () -> new ZeroShards(10, 2, -1));
    ZeroShards z = ZeroShards.of(100, 4);
    assertMessage(IndexOutOfBoundsException.class, "ZeRO shards: rank must be in [0, 4), got 4", () -> z.start(4));
    assertMessage(IndexOutOfBoundsException.class, "ZeRO shards: rank must be in [0, 4), got -1", () -> z.end(-1));
  }

  // ---- N ranks against one, in plain Java ----

  private static final float BETA1 = 0.9f, BETA2 = 0.999f, EPS = 1e-8f;
  private static final float ONE_MINUS_BETA1 = (float) (1 - 0.9), ONE_MINUS_BETA2 = (float) (1 - 0.999);

  /** AdamW over [from, from + n) of p and g, with state m, v at [stateFrom, ...): Layers.adamw's arithmetic, element by element. */
  private static void adamw(float[] p, float[] g, int from, float[] m, float[] v, int stateFrom, int n, float lr, float bias1,
                            float bias2, float weightDecay, float scale) {
    for (int k = 0; k < n; k++) {
      int i = from + k, s = stateFrom + k;
      float grad = g[i] * scale;
      m[s] = m[s] * BETA1 + grad * ONE_MINUS_BETA1;
      v[s] = v[s] * BETA2 + grad * grad * ONE_MINUS_BETA2;
      p[i] = p[i] - lr * (m[s] / bias1 / ((float) Math.sqrt(v[s] / bias2) + EPS) + weightDecay * p[i]);
    }
  }

  @Test
  void reduceScatterAdamWAllGatherEqualsOneRankBitForBit() {
    Random random = new Random(42);
    for (int n = 1; n <= 8; n++) {
      for (int p = 1; p <= 300; p++) {
        simulate(new ZeroShards(p, n, 1 + random.nextInt(2) * 31), random);
      }
    }
  }

  private static void simulate(ZeroShards z, Random random) {
    int n = z.ranks(), padded = Math.toIntExact(z.paddedSize()), shard = Math.toIntExact(z.shardSize()), params = Math.toIntExact(z.params());
    boolean powerOfTwo = Integer.bitCount(n) == 1;
    float[] start = new float[padded];
    for (int i = 0; i < params; i++) start[i] = (float) random.nextGaussian() * 0.02f;

    float[][] rankParams = new float[n][];
    float[][] m = new float[n][shard], v = new float[n][shard];
    for (int r = 0; r < n; r++) rankParams[r] = start.clone();
    float[] oneParams = start.clone(), oneM = new float[padded], oneV = new float[padded];
    float[] meanParams = start.clone(), meanM = new float[padded], meanV = new float[padded];

    float lr = 3e-3f, weightDecay = 0.1f;
    for (int t = 1; t <= 3; t++) {
      float bias1 = (float) (1 - Math.pow(0.9, t)), bias2 = (float) (1 - Math.pow(0.999, t));
      float clip = t == 2 ? 0.6f : 1f;
      float scale = clip / n;   // DataParallel.update: the clip scale over N turns the summed gradient into the mean
      float[][] local = new float[n][padded]; // each rank's backward: the padding gets no gradient
      for (int r = 0; r < n; r++) for (int i = 0; i < params; i++) local[r][i] = (float) random.nextGaussian();

      // what one rank sees: the sum in rank order, the same adds the reduce-scatter does for each element
      float[] summed = new float[padded];
      for (int i = 0; i < padded; i++) {
        float acc = local[0][i];
        for (int r = 1; r < n; r++) acc += local[r][i];
        summed[i] = acc;
      }

      // reduce-scatter: rank r's slice of the sum, into its own grads block in place
      float[][] grads = new float[n][];
      for (int r = 0; r < n; r++) {
        grads[r] = local[r].clone();
        int from = (int) z.start(r);
        for (int k = 0; k < shard; k++) {
          float acc = local[0][from + k];
          for (int q = 1; q < n; q++) acc += local[q][from + k];
          grads[r][from + k] = acc;
        }
      }
      // AdamW on each rank's slice, then all-gather of the slices
      for (int r = 0; r < n; r++) adamw(rankParams[r], grads[r], (int) z.start(r), m[r], v[r], 0, shard, lr, bias1, bias2, weightDecay, scale);
      float[] gathered = new float[padded];
      for (int r = 0; r < n; r++) System.arraycopy(rankParams[r], (int) z.start(r), gathered, (int) z.start(r), shard);
      for (int r = 0; r < n; r++) rankParams[r] = gathered.clone();

      adamw(oneParams, summed, 0, oneM, oneV, 0, padded, lr, bias1, bias2, weightDecay, scale);
      if (powerOfTwo) {
        float[] mean = new float[padded];
        for (int i = 0; i < padded; i++) mean[i] = summed[i] / n;
        adamw(meanParams, mean, 0, meanM, meanV, 0, padded, lr, bias1, bias2, weightDecay, clip);
      }
      for (int r = 0; r < n; r++) {
        for (int k = 0; k < shard; k++) {
          int i = (int) z.start(r) + k;
          sameBits(oneM[i], m[r][k], z, t, "m", i);
          sameBits(oneV[i], v[r][k], z, t, "v", i);
        }
      }
      for (int r = 0; r < n; r++) for (int i = 0; i < padded; i++) sameBits(oneParams[i], rankParams[r][i], z, t, "params of rank " + r, i);
      for (int i = params; i < padded; i++) sameBits(0f, gathered[i], z, t, "padding", i);
      if (powerOfTwo) for (int i = 0; i < padded; i++) sameBits(meanParams[i], gathered[i], z, t, "params vs the mean gradient", i);

      double sumSquares = 0; // each rank's slice, then the all-reduce of the per-rank partial sums
      for (int r = 0; r < n; r++) {
        double partial = 0;
        for (int k = 0; k < shard; k++) partial += (double) grads[r][(int) z.start(r) + k] * grads[r][(int) z.start(r) + k];
        sumSquares += partial;
      }
      double direct = 0;
      for (int i = 0; i < padded; i++) direct += ((double) summed[i] / n) * ((double) summed[i] / n);
      assertEquals(Math.sqrt(direct), Math.sqrt(sumSquares) / n, 1e-9 * Math.sqrt(direct), z + " step " + t + ": norm of the mean gradient");
    }
  }

  private static void sameBits(float expected, float actual, ZeroShards z, int step, String what, int i) {
    if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(actual)) {
      fail(z + " step " + step + ": " + what + "[" + i + "] is " + actual + ", one rank has " + expected);
    }
  }
}
