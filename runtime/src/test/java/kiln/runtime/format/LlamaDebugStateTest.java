// DebugState read and written for a Llama model (vocab, maxT and parameter count given directly).
package kiln.runtime.format;

import kiln.models.Gpt2;
import kiln.runtime.Models;
import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.assertMisuse;
import static kiln.runtime.format.Fixtures.raw;
import static kiln.runtime.format.LlamaConfigTest.P;
import static kiln.runtime.format.LlamaConfigTest.TINY;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaDebugStateTest {
  private static final int B = 2;
  private static final int T = 4;
  private static final int V = 100;
  private static final long PAYLOAD = 4L * (2 * B * T + B * T * V + 1 + P);

  @TempDir Path dir;

  private Path file() {
    return dir.resolve("debug.bin");
  }

  @Test
  void roundTrip() {
    DebugState state = Fixtures.debugState(B, T, V, P);
    state.write(file(), TINY.vocab(), TINY.maxT(), Models.of(TINY).paramCount());
    Fixtures.assertSameState(state, DebugState.read(file(), TINY.vocab(), TINY.maxT(), Models.of(TINY).paramCount()));
  }

  @Test
  void readsLlmcLayout() {
    DebugState state = Fixtures.debugState(B, T, V, P);
    raw(file(), new int[] {20240327, 2, B, T}, Fixtures.llmcDebugPayload(state));
    Fixtures.assertSameState(state, DebugState.read(file(), V, 16, P));
  }

  @Test
  void sameAsTheGptOverload() {
    Gpt2.Config gpt = Fixtures.TINY;
    DebugState state = new DebugState(B, T, Fixtures.randomTokens(B * T, V, 5), Fixtures.randomTokens(B * T, V, 6),
        Fixtures.randomFloats(B * T * V, 7), 1.5f, Fixtures.randomFloats((int) Models.of(gpt).paramCount(), 8));
    state.write(file(), gpt);
    Fixtures.assertSameState(state, DebugState.read(file(), gpt.vocab(), gpt.maxT(), Models.of(gpt).paramCount()));
  }

  @Test
  void payloadForOtherParamCount() {
    raw(file(), new int[] {20240327, 2, B, T}, PAYLOAD);
    assertFormatError(
        file() + ": payload: expected 39268 bytes after header (B=2, T=4, V=100, 9000 params), found 35332 bytes",
        () -> DebugState.read(file(), V, 16, 9000));
  }

  @Test
  void timeBeyondMaxT() {
    raw(file(), new int[] {20240327, 2, B, T}, PAYLOAD);
    assertFormatError(file() + ": header[3] T: expected at most maxT (3), found 4", () -> DebugState.read(file(), V, 3, P));
  }

  @Test
  void readNonPositiveVocab() {
    assertMisuse(file() + ": vocab: expected at least 1, found 0", () -> DebugState.read(file(), 0, 16, P));
  }

  @Test
  void readNonPositiveMaxT() {
    assertMisuse(file() + ": maxT: expected at least 1, found 0", () -> DebugState.read(file(), V, 0, P));
  }

  @Test
  void readNegativeParamCount() {
    assertMisuse(file() + ": paramCount: expected 0..2147483639, found -1", () -> DebugState.read(file(), V, 16, -1));
  }

  @Test
  void writeParamCountBeyondOneArray() {
    assertMisuse(file() + ": paramCount: expected 0..2147483639, found 2147483648",
        () -> Fixtures.debugState(B, T, V, P).write(file(), V, 16, 1L << 31));
  }

  @Test
  void writeWrongGradsLength() {
    assertMisuse(file() + ": grads length: expected paramCount (8017), found 8016",
        () -> Fixtures.debugState(B, T, V, P).write(file(), V, 16, P + 1));
  }
}
