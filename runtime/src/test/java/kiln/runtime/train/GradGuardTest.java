// Tests GradGuard: the clip scale, which steps it skips and why, and that restore() resumes it exactly.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class GradGuardTest {
  @Test
  void clipScaleBringsTheNormDownToTheLimitOrLeavesItAlone() {
    assertEquals(1f, GradGuard.clipScale(5.0, 10.0), "under the limit: untouched");
    assertEquals(1f, GradGuard.clipScale(1.0, 1.0), "at the limit: untouched");
    assertEquals(0.2f, GradGuard.clipScale(5.0, 1.0));
    assertEquals(1f, GradGuard.clipScale(5.0, 0), "0 is off");
    assertEquals(1f, GradGuard.clipScale(Double.NaN, 1.0), "a NaN norm is the guardrail's, not the clip's");
  }

  @Test
  void skipsNonFiniteLossesAndNormsAndSpikesOverTheRunningMedian() {
    GradGuard g = new GradGuard();
    assertEquals("loss is NaN", g.check(Float.NaN, 1));
    assertEquals("gradient norm is Infinity", g.check(2.5, Double.POSITIVE_INFINITY));
    assertEquals(2, g.skippedInARow());
    for (int i = 0; i < GradGuard.MIN_HISTORY - 1; i++) {
      assertNull(g.check(5, 1000), "no median yet: no spike test");
    }
    assertNull(g.check(5, 2));
    assertEquals(1000, g.median());
    assertNull(g.check(5, 99_999));
    assertEquals("gradient norm 1.000e+05 is more than 100x the running median 1000", g.check(5, 100_001));
    assertFalse(g.exhausted());
    g.check(Double.NaN, 1);
    g.check(Double.NaN, 1);
    assertTrue(g.exhausted());
    assertNull(g.check(5, 1));
    assertEquals(0, g.skippedInARow());
  }

  @Test
  void restoreGivesTheSameDecisionsAsTheOriginal() {
    GradGuard a = new GradGuard();
    for (int i = 0; i < 50; i++) {
      a.check(3, 1 + i % 7);
    }
    a.check(Double.NaN, 1);
    GradGuard b = new GradGuard();
    b.restore(a.recent(), a.skippedInARow());
    assertEquals(GradGuard.WINDOW, a.recent().length);
    for (int i = 0; i < 40; i++) {
      double norm = i == 20 ? 1e9 : 2 + i % 5;
      assertEquals(a.check(3, norm), b.check(3, norm));
      assertEquals(a.median(), b.median());
      assertArrayEquals(a.recent(), b.recent());
    }
  }
}
