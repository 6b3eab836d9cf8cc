// Llama.Config: the parameter layout and count, checked against published model sizes.
package kiln.runtime.format;

import kiln.models.Llama;
import kiln.runtime.Models;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

class LlamaConfigTest {
  /** maxT=16, V=100, Vp=128, L=2, NH=4, NKV=2, C=16, FF=24: head size 4, k/v width 8. */
  static final Llama.Config TINY = new Llama.Config(16, 100, 128, 2, 4, 2, 16, 24, 10000f, 1e-5f);

  /** 2·Vp·C + L·(2C + 2C² + 2·NKV·HS·C + 3·FF·C) + C for TINY, by hand. */
  static final int P = 8016;

  @Test
  void sizesFollowFileOrder() {
    long vp = 128, l = 2, c = 16, kv = 8, f = 24;
    long[] expected = {vp * c, l * c, l * c * c, l * kv * c, l * kv * c, l * c * c, l * c, l * f * c, l * f * c,
        l * c * f, c, vp * c};
    assertArrayEquals(expected, Models.of(TINY).layout().sizes());
    assertEquals(P, Models.of(TINY).paramCount());
    assertEquals(4, TINY.channels() / TINY.heads());
    assertEquals(12, java.util.List.copyOf(Llama.FAMILY.parameters().keySet()).size());
    assertEquals("wte", java.util.List.copyOf(Llama.FAMILY.parameters().keySet()).getFirst());
    assertEquals("lm_head", java.util.List.copyOf(Llama.FAMILY.parameters().keySet()).getLast());
  }

  @Test
  void llama2SevenBillion() {
    Llama.Config c = new Llama.Config(4096, 32000, 32000, 32, 32, 32, 4096, 11008, 10000f, 1e-5f);
    assertEquals(6_738_415_616L, Models.of(c).paramCount());
    assertEquals(128, c.channels() / c.heads());
  }

  @Test
  void tinyLlamaGroupedQuery() {
    Llama.Config c = new Llama.Config(2048, 32000, 32000, 22, 32, 4, 2048, 5632, 10000f, 1e-5f);
    assertEquals(1_100_048_384L, Models.of(c).paramCount());
  }

  @Test
  void equalityComparesFloatsByValue() {
    assertEquals(TINY, new Llama.Config(16, 100, 128, 2, 4, 2, 16, 24, 10000f, 1e-5f));
    assertNotEquals(TINY, new Llama.Config(16, 100, 128, 2, 4, 2, 16, 24, 500000f, 1e-5f));
    assertEquals(Llama.DEFAULT_THETA, TINY.theta());
    assertEquals(Llama.DEFAULT_EPS, TINY.eps());
  }
}
