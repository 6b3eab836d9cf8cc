// Tests TokenText: "<|endoftext|>" in a prompt becomes the EOT token; streamed decoding never splits a character.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import kiln.runtime.data.Corpus;
import org.junit.jupiter.api.Test;

class TokenTextTest {
  @Test
  void endOfTextInAPromptIsTheSpecialToken() {
    assertArrayEquals(new int[] {Corpus.EOT}, TokenText.encode("<|endoftext|>"));
    int[] ids = TokenText.encode("Hello<|endoftext|> world");
    assertArrayEquals(new int[] {15496, Corpus.EOT, 995}, ids);
    assertEquals(0, TokenText.encode("").length);
  }

  @Test
  void streamingHoldsBackPartialUtf8() {
    String text = "naïve café — 東京 🙂 done";
    int[] ids = TokenText.encode(text);
    TokenText.Stream s = new TokenText.Stream();
    StringBuilder out = new StringBuilder();
    for (int id : ids) {
      String piece = s.push(id);
      assertEquals(-1, piece.indexOf('\uFFFD'), "a piece never ends mid-character: " + piece);
      out.append(piece);
    }
    out.append(s.finish());
    assertEquals(text, out.toString());
    assertEquals("<|endoftext|>", new TokenText.Stream().push(Corpus.EOT));
  }
}
