// Tests LrSchedule at the warmup and decay boundaries, and its misuse messages.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
  static final double EPS = 1e-15;

  @Test
  void warmupThenCosineToTheFloor() {
    LrSchedule s = new LrSchedule(6e-4, 10, 110, 0.1);
    assertEquals(6e-5, s.lr(0), EPS);
    assertEquals(6e-4 * 5 / 10, s.lr(4), EPS);
    assertEquals(6e-4, s.lr(9), EPS);
    assertEquals(6e-4, s.lr(10), EPS);
    assertEquals((6e-4 + 6e-5) / 2, s.lr(60), EPS);
    assertTrue(s.lr(109) > 6e-5 && s.lr(109) < 6.02e-5);
    assertEquals(6e-5, s.lr(110), EPS);
    assertEquals(6e-5, s.lr(1_000_000), EPS);
    for (int step = 10; step < 110; step++) {
      assertTrue(s.lr(step + 1) <= s.lr(step), "decays monotonically at " + step);
    }
  }

  @Test
  void noWarmupAndConstant() {
    LrSchedule s = new LrSchedule(1.0, 0, 4, 0.0);
    assertEquals(1.0, s.lr(0), EPS);
    assertEquals(0.5, s.lr(2), EPS);
    assertEquals(0.0, s.lr(4), EPS);
    LrSchedule c = LrSchedule.constant(3e-4, 100);
    assertEquals(3e-4, c.lr(0), EPS);
    assertEquals(3e-4, c.lr(57), EPS);
    assertEquals(3e-4, c.lr(100), EPS);
    LrSchedule allWarmup = new LrSchedule(1.0, 4, 4, 0.5);
    assertEquals(1.0, allWarmup.lr(3), EPS);
    assertEquals(0.5, allWarmup.lr(4), EPS);
  }

  @Test
  void misuseMessages() {
    assertEquals("learning rate must be positive and finite, got 0.0",
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(0, 0, 10, 0)).getMessage());
    assertEquals("total steps must be positive, got 0",
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1, 0, 0, 0)).getMessage());
    assertEquals("warmup steps must be in [0, 10], got 11",
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1, 11, 10, 0)).getMessage());
    assertEquals("final learning rate fraction must be in [0, 1], got 1.5",
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1, 1, 10, 1.5)).getMessage());
    assertEquals("step must be >= 0, got -1",
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1, 1, 10, 0).lr(-1)).getMessage());
  }
}
