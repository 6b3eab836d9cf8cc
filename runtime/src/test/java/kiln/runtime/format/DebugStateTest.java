// DebugState: round trip, llm.c's layout (x, y, logits, loss, grads), and every error it can raise.
package kiln.runtime.format;

import kiln.models.Gpt2;
import kiln.runtime.Models;
import static kiln.runtime.format.Fixtures.TINY;
import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.assertMisuse;
import static kiln.runtime.format.Fixtures.raw;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DebugStateTest {
  private static final int B = 2;
  private static final int T = 4;
  private static final int V = 100;
  private static final int P = 2912;
  private static final long PAYLOAD = 4L * (2 * B * T + B * T * V + 1 + P); // 14916

  @TempDir Path dir;

  private Path file() {
    return dir.resolve("debug.bin");
  }

  private static DebugState sample() {
    return Fixtures.debugState(B, T, V, P);
  }

  @Test
  void roundTrip() {
    DebugState state = sample();
    state.write(file(), TINY);
    Fixtures.assertSameState(state, DebugState.read(file(), Models.of(TINY)));
  }

  @Test
  void readsLlmcLayout() {
    DebugState state = sample();
    Fixtures.assertSameState(state, DebugState.read(raw(file(), new int[] {20240327, 2, B, T}, Fixtures.llmcDebugPayload(state)), Models.of(TINY)));
  }

  private void assertReadError(String message, int[] header, long payloadBytes) {
    raw(file(), header, payloadBytes);
    assertFormatError(file() + ": " + message, () -> DebugState.read(file(), Models.of(TINY)));
  }

  @Test
  void wrongMagic() {
    assertReadError("header[0] magic: expected 20240327 (an llm.c debug state: a PyTorch reference batch, what `kiln verify --state` reads), found 20240326 (an llm.c GPT-2 model)", new int[] {20240326, 2, B, T}, PAYLOAD);
  }

  @Test
  void wrongVersion() {
    assertReadError("header[1] version: expected 2, found 1", new int[] {20240327, 1, B, T}, PAYLOAD);
  }

  @Test
  void nonPositiveBatch() {
    assertReadError("header[2] B: expected at least 1, found 0", new int[] {20240327, 2, 0, T}, PAYLOAD);
  }

  @Test
  void nonPositiveTime() {
    assertReadError("header[3] T: expected at least 1, found -1", new int[] {20240327, 2, B, -1}, PAYLOAD);
  }

  @Test
  void timeBeyondMaxT() {
    assertReadError("header[3] T: expected at most maxT (16), found 17", new int[] {20240327, 2, B, 17}, PAYLOAD);
  }

  @Test
  void logitsBeyondOneArray() {
    assertReadError("logits: expected B*T*V at most 2147483639, found 1073741824*1*100",
        new int[] {20240327, 2, 1 << 30, 1}, PAYLOAD);
  }

  @Test
  void batchDisagreesWithPayload() {
    assertReadError("payload: expected 16548 bytes after header (B=3, T=4, V=100, 2912 params), found 14916 bytes",
        new int[] {20240327, 2, 3, T}, PAYLOAD);
  }

  @Test
  void inputTokenBeyondVocab() {
    ByteBuffer payload = Fixtures.le(PAYLOAD);
    payload.putInt(4 * (T + 2), V); // x[1][2]
    raw(file(), new int[] {20240327, 2, B, T}, payload.array());
    assertFormatError(file() + ": x[1][2]: expected a token id in 0..99, found 100", () -> DebugState.read(file(), Models.of(TINY)));
  }

  @Test
  void negativeTargetToken() {
    ByteBuffer payload = Fixtures.le(PAYLOAD);
    payload.putInt(4 * (B * T + 3), -1); // y[0][3]
    raw(file(), new int[] {20240327, 2, B, T}, payload.array());
    assertFormatError(file() + ": y[0][3]: expected a token id in 0..99, found -1", () -> DebugState.read(file(), Models.of(TINY)));
  }

  @Test
  void readWithInconsistentConfig() {
    Gpt2.Config bad = new Gpt2.Config(16, 100, 64, 2, 2, 8);
    assertMisuse(file() + ": config Vp: expected at least V (100), found 64", () -> DebugState.read(file(), Models.of(bad)));
  }

  // --- writer misuse ---

  private void assertWriteError(String message, DebugState state) {
    assertMisuse(file() + ": " + message, () -> state.write(file(), TINY));
  }

  @Test
  void writeNonPositiveBatch() {
    DebugState s = sample();
    assertWriteError("B: expected at least 1, found 0", new DebugState(0, T, s.x(), s.y(), s.logits(), 0, s.grads()));
  }

  @Test
  void writeNonPositiveTime() {
    DebugState s = sample();
    assertWriteError("T: expected at least 1, found 0", new DebugState(B, 0, s.x(), s.y(), s.logits(), 0, s.grads()));
  }

  @Test
  void writeTimeBeyondMaxT() {
    DebugState s = sample();
    assertWriteError("T: expected at most maxT (16), found 32",
        new DebugState(B, 32, s.x(), s.y(), s.logits(), 0, s.grads()));
  }

  @Test
  void writeWrongInputLength() {
    DebugState s = sample();
    assertWriteError("x length: expected B*T (8), found 7",
        new DebugState(B, T, new int[7], s.y(), s.logits(), 0, s.grads()));
  }

  @Test
  void writeWrongTargetLength() {
    DebugState s = sample();
    assertWriteError("y length: expected B*T (8), found 9",
        new DebugState(B, T, s.x(), new int[9], s.logits(), 0, s.grads()));
  }

  @Test
  void writePaddedLogits() {
    DebugState s = sample();
    assertWriteError("logits length: expected B*T*V (800), found 1024",
        new DebugState(B, T, s.x(), s.y(), new float[B * T * 128], 0, s.grads()));
  }

  @Test
  void writeWrongGradsLength() {
    DebugState s = sample();
    assertWriteError("grads length: expected paramCount (2912), found 2911",
        new DebugState(B, T, s.x(), s.y(), s.logits(), 0, new float[P - 1]));
  }

  @Test
  void writeTokenBeyondVocab() {
    DebugState s = sample();
    int[] y = s.y().clone();
    y[5] = 100;
    assertWriteError("y[1][1]: expected a token id in 0..99, found 100",
        new DebugState(B, T, s.x(), y, s.logits(), 0, s.grads()));
  }
}
