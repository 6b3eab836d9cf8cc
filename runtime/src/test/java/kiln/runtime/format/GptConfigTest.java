// Gpt2.Config: llm.c's parameter layout and count.
package kiln.runtime.format;

import kiln.models.Gpt2;
import kiln.runtime.Models;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class GptConfigTest {
  @Test
  void gpt2SmallHas124MParams() {
    assertEquals(124_475_904L, Models.of(new Gpt2.Config(1024, 50257, 50304, 12, 12, 768)).paramCount());
  }

  @Test
  void sizesFollowLlmcOrder() {
    long c = 8, l = 2;
    long[] expected = {
        128 * c, 16 * c, l * c, l * c, l * 3 * c * c, l * 3 * c, l * c * c, l * c,
        l * c, l * c, l * 4 * c * c, l * 4 * c, l * c * 4 * c, l * c, c, c};
    assertArrayEquals(expected, Models.of(Fixtures.TINY).layout().sizes());
    assertEquals(16, java.util.List.copyOf(Gpt2.FAMILY.parameters().keySet()).size());
    assertEquals("wte", java.util.List.copyOf(Gpt2.FAMILY.parameters().keySet()).getFirst());
    assertEquals("lnfb", java.util.List.copyOf(Gpt2.FAMILY.parameters().keySet()).getLast());
  }
}
