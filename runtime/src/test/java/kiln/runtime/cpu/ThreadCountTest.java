// The CPU path gives the same bits whatever the thread count: the vector maps take the same
// arithmetic wherever the pool splits their items (a masked last chunk, not a scalar tail), and
// their e^x does not depend on whether the JIT has compiled a kernel yet.
package kiln.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Models;
import kiln.runtime.Session;
import org.junit.jupiter.api.Test;

class ThreadCountTest {
  /** Losses of 4 AdamW steps and the parameters after them, on gpt2-tiny at an odd T (tails everywhere). */
  private static float[][] train(int threads) {
    Models.Shape shape = Models.get("gpt2-tiny");
    int b = 2, t = 37;
    try (Session s = shape.open(b, t, Session.Device.CPU, threads, CudaSchedule.Precision.FP32, 0, Session.Zero.NONE)) {
      shape.randomInit(7, s.arena.f, s.arena.offset(s.paramsTensor()));
      SplittableRandom rnd = new SplittableRandom(3);
      int[] x = new int[b * t], y = new int[b * t];
      for (int i = 0; i < x.length; i++) { x[i] = rnd.nextInt(50257); y[i] = rnd.nextInt(50257); }
      s.setBatch(x, y);
      float[] losses = new float[4];
      for (int step = 0; step < losses.length; step++) {
        s.forward();
        s.backward();
        s.update(1e-3f, 0f);
        losses[step] = s.loss();
      }
      return new float[][] {losses, s.executor.read(s.paramsTensor())};
    }
  }

  @Test
  void oneTwoAndThreeThreadsAgreeBitForBit() {
    float[][] one = train(1), two = train(2), three = train(3);
    assertArrayEquals(one[0], two[0]);
    assertArrayEquals(one[0], three[0]);
    assertArrayEquals(one[1], two[1]);
    assertArrayEquals(one[1], three[1]);
  }
}
