// TokenizerFile: round trip, llm.c's layout, and every error it can raise.
package kiln.runtime.format;

import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.assertMisuse;
import static kiln.runtime.format.Fixtures.raw;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerFileTest {
  @TempDir Path dir;

  private Path file() {
    return dir.resolve("tokenizer.bin");
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void roundTrip() {
    List<byte[]> tokens = new ArrayList<>();
    tokens.add(utf8("!"));
    tokens.add(new byte[] {(byte) 0xE2, (byte) 0x80}); // half a UTF-8 character, as GPT-2 has
    tokens.add(new byte[255]);
    tokens.add(utf8("<|endoftext|>"));
    new TokenizerFile(3, tokens).write(file());
    TokenizerFile read = TokenizerFile.read(file());
    assertEquals(3, read.eot());
    assertEquals(tokens.size(), read.tokens().size());
    for (int i = 0; i < tokens.size(); i++) {
      assertArrayEquals(tokens.get(i), read.tokens().get(i));
    }
  }

  @Test
  void writesLlmcLayout() throws IOException {
    new TokenizerFile(1, List.of(utf8("ab"), utf8("c"))).write(file());
    byte[] bytes = Files.readAllBytes(file());
    assertEquals(1024 + 5, bytes.length);
    ByteBuffer expected = Fixtures.le(1024 + 5);
    expected.putInt(20240328).putInt(2).putInt(2).putInt(1).position(1024);
    expected.put(new byte[] {2, 'a', 'b', 1, 'c'});
    assertArrayEquals(expected.array(), bytes);
  }

  @Test
  void wrongMagic() {
    raw(file(), new int[] {20240326, 2, 1, 0}, new byte[] {1, 'a'});
    assertFormatError(file() + ": header[0] magic: expected 20240328 (an llm.c tokenizer), found 20240326 (an llm.c GPT-2 model)", () -> TokenizerFile.read(file()));
  }

  @Test
  void wrongVersion() {
    raw(file(), new int[] {20240328, 1, 1, 0}, new byte[] {1, 'a'});
    assertFormatError(file() + ": header[1] version: expected 2, found 1", () -> TokenizerFile.read(file()));
  }

  @Test
  void emptyVocab() {
    raw(file(), new int[] {20240328, 2, 0, 0}, new byte[0]);
    assertFormatError(file() + ": header[2] vocab: expected at least 1, found 0", () -> TokenizerFile.read(file()));
  }

  @Test
  void eotBeyondVocab() {
    raw(file(), new int[] {20240328, 2, 2, 2}, new byte[] {1, 'a', 1, 'b'});
    assertFormatError(file() + ": header[3] eot: expected a token id in 0..1, found 2", () -> TokenizerFile.read(file()));
  }

  @Test
  void emptyToken() {
    raw(file(), new int[] {20240328, 2, 2, 1}, new byte[] {1, 'a', 0});
    assertFormatError(file() + ": token[1] length: expected at least 1, found 0", () -> TokenizerFile.read(file()));
  }

  @Test
  void truncatedToken() {
    raw(file(), new int[] {20240328, 2, 2, 1}, new byte[] {1, 'a', 3, 'b'});
    assertFormatError(file() + ": payload: expected 2 tokens, found end of file in token[1]",
        () -> TokenizerFile.read(file()));
  }

  @Test
  void trailingBytes() {
    raw(file(), new int[] {20240328, 2, 1, 0}, new byte[] {1, 'a', 9, 9});
    assertFormatError(file() + ": payload: expected end of file after 1 tokens, found 2 more bytes",
        () -> TokenizerFile.read(file()));
  }

  @Test
  void writeNoTokens() {
    assertMisuse(file() + ": tokens: expected at least 1 token, found 0", () -> new TokenizerFile(0, List.of()).write(file()));
  }

  @Test
  void writeEotBeyondVocab() {
    assertMisuse(file() + ": eot: expected a token id in 0..0, found 1",
        () -> new TokenizerFile(1, List.of(utf8("a"))).write(file()));
  }

  @Test
  void writeTokenTooLong() {
    assertMisuse(file() + ": token[1] length: expected 1..255, found 256",
        () -> new TokenizerFile(0, List.of(utf8("a"), new byte[256])).write(file()));
  }

  @Test
  void writeEmptyToken() {
    assertMisuse(file() + ": token[0] length: expected 1..255, found 0",
        () -> new TokenizerFile(0, List.of(new byte[0])).write(file()));
  }
}
