// TokenShard: uint16 round trip, llm.c's layout, and every error it can raise.
package kiln.runtime.format;

import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.assertMisuse;
import static kiln.runtime.format.Fixtures.raw;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenShardTest {
  @TempDir Path dir;

  private Path file() {
    return dir.resolve("shard.bin");
  }

  @Test
  void roundTripUsesAllSixteenBits() {
    int[] tokens = {0, 1, 50256, 65535, 32768, 7};
    TokenShard.write(file(), tokens);
    assertArrayEquals(tokens, TokenShard.read(file(), 65536));
  }

  @Test
  void emptyShardRoundTrips() {
    TokenShard.write(file(), new int[0]);
    assertArrayEquals(new int[0], TokenShard.read(file(), 100));
  }

  @Test
  void writesLlmcLayout() throws IOException {
    int[] tokens = Fixtures.randomTokens(1000, 50257, 1);
    ByteBuffer expected = Fixtures.le(1024 + 2 * tokens.length);
    expected.putInt(20240520).putInt(1).putInt(tokens.length).position(1024);
    for (int t : tokens) {
      expected.putShort((short) t);
    }
    TokenShard.write(file(), tokens);
    assertArrayEquals(expected.array(), Files.readAllBytes(file()));
  }

  @Test
  void wrongMagic() {
    raw(file(), new int[] {20240326, 1, 2}, 4);
    assertFormatError(file() + ": header[0] magic: expected 20240520 (an llm.c token shard), found 20240326 (an llm.c GPT-2 model)", () -> TokenShard.read(file(), 100));
  }

  @Test
  void wrongVersion() {
    raw(file(), new int[] {20240520, 2, 2}, 8);
    assertFormatError(file() + ": header[1] version: expected 1, found 2", () -> TokenShard.read(file(), 100));
  }

  @Test
  void negativeTokenCount() {
    raw(file(), new int[] {20240520, 1, -3}, 0);
    assertFormatError(file() + ": header[2] N: expected at least 0, found -3", () -> TokenShard.read(file(), 100));
  }

  @Test
  void truncatedPayload() {
    raw(file(), new int[] {20240520, 1, 10}, 19);
    assertFormatError(file() + ": payload: expected 20 bytes after header (10 tokens x 2 bytes), found 19 bytes",
        () -> TokenShard.read(file(), 100));
  }

  @Test
  void tokenBeyondVocab() {
    ByteBuffer payload = Fixtures.le(6);
    payload.putShort((short) 5).putShort((short) 99).putShort((short) 100);
    raw(file(), new int[] {20240520, 1, 3}, payload.array());
    assertFormatError(file() + ": token[2]: expected a token id in 0..99, found 100", () -> TokenShard.read(file(), 100));
  }

  @Test
  void readNonPositiveVocab() {
    assertMisuse(file() + ": vocab: expected at least 1, found 0", () -> TokenShard.read(file(), 0));
  }

  @Test
  void writeTokenBeyondSixteenBits() {
    assertMisuse(file() + ": token[1]: expected a token id in 0..65535, found 65536",
        () -> TokenShard.write(file(), new int[] {3, 65536}));
    assertFalse(Files.exists(file()));
  }

  @Test
  void writeNegativeToken() {
    assertMisuse(file() + ": token[0]: expected a token id in 0..65535, found -1",
        () -> TokenShard.write(file(), new int[] {-1}));
  }
}
