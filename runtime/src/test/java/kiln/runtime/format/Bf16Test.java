// Bf16: round to nearest even, NaN stays NaN.
package kiln.runtime.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Bf16Test {
  private static final float HALF_ULP = 0x1p-8f; // bf16 keeps 7 fraction bits, so 1.0's ulp is 2^-7

  @Test
  void exactValuesSurvive() {
    for (float f : new float[] {0f, -0f, 1f, -2.5f, 0x1p-100f, Float.POSITIVE_INFINITY}) {
      assertEquals(Float.floatToRawIntBits(f), Float.floatToRawIntBits(Bf16.round(f)));
    }
  }

  @Test
  void tiesRoundToEven() {
    assertEquals(1f, Bf16.round(1f + HALF_ULP));
    assertEquals(1f + 4 * HALF_ULP, Bf16.round(1f + 3 * HALF_ULP));
    assertEquals(-1f, Bf16.round(-1f - HALF_ULP));
  }

  @Test
  void nonTiesRoundToNearest() {
    assertEquals(1f + 2 * HALF_ULP, Bf16.round(1f + HALF_ULP + 0x1p-20f));
    assertEquals(1f, Bf16.round(1f + HALF_ULP - 0x1p-20f));
  }

  @Test
  void largestFloatOverflowsToInfinity() {
    assertEquals(Float.POSITIVE_INFINITY, Bf16.round(Float.MAX_VALUE));
  }

  @Test
  void nanStaysNan() {
    assertTrue(Float.isNaN(Bf16.round(Float.NaN)));
    assertTrue(Float.isNaN(Bf16.round(Float.intBitsToFloat(0x7F800001)))); // payload only in the dropped bits
  }
}
