// Test helpers: a tiny GPT config, hand-built llm.c files, exact-message assertions.
package kiln.runtime.format;

import kiln.models.Gpt2;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.function.Executable;

final class Fixtures {
  private Fixtures() {}

  /** maxT=16, V=100, Vp=128, L=2, NH=2, C=8. */
  static final Gpt2.Config TINY = new Gpt2.Config(16, 100, 128, 2, 2, 8);

  static int[] modelHeader(Gpt2.Config c, int version) {
    return new int[] {20240326, version, c.maxT(), c.vocab(), c.layers(), c.heads(), c.channels(), c.paddedVocab()};
  }

  static ByteBuffer le(long bytes) {
    return ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** A file with the given leading header slots (zeros after) and payload bytes written verbatim. */
  static Path raw(Path file, int[] slots, byte[] payload) {
    ByteBuffer b = le(1024 + payload.length);
    for (int s : slots) {
      b.putInt(s);
    }
    b.position(1024).put(payload);
    try {
      Files.write(file, b.array());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  static Path raw(Path file, int[] slots, long zeroPayloadBytes) {
    return raw(file, slots, new byte[Math.toIntExact(zeroPayloadBytes)]);
  }

  static float[] randomFloats(int n, long seed) {
    Random r = new Random(seed);
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) r.nextGaussian();
    }
    return a;
  }

  static int[] randomTokens(int n, int vocab, long seed) {
    Random r = new Random(seed);
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextInt(vocab);
    }
    return a;
  }

  static void assertMessage(Class<? extends Throwable> type, String message, Executable call) {
    assertEquals(message, assertThrows(type, call).getMessage());
  }

  static void assertFormatError(String message, Executable call) {
    assertMessage(FormatException.class, message, call);
  }

  static void assertMisuse(String message, Executable call) {
    assertMessage(IllegalArgumentException.class, message, call);
  }

  /** A random debug state of B x T tokens over vocab V with P gradients. */
  static DebugState debugState(int B, int T, int V, int P) {
    return new DebugState(B, T, randomTokens(B * T, V, 1), randomTokens(B * T, V, 2), randomFloats(B * T * V, 3), 4.5f,
        randomFloats(P, 4));
  }

  /** The state's payload in llm.c's debug-state layout: x, y (int32), then logits, loss, grads (float32), little-endian. */
  static byte[] llmcDebugPayload(DebugState state) {
    int bt = state.x().length;
    ByteBuffer payload = le(4L * (2 * bt + state.logits().length + 1 + state.grads().length));
    payload.asIntBuffer().put(state.x()).put(state.y());
    payload.position(4 * 2 * bt);
    payload.asFloatBuffer().put(state.logits()).put(state.loss()).put(state.grads());
    return payload.array();
  }

  static void assertSameState(DebugState expected, DebugState actual) {
    assertEquals(expected.B(), actual.B());
    assertEquals(expected.T(), actual.T());
    assertArrayEquals(expected.x(), actual.x());
    assertArrayEquals(expected.y(), actual.y());
    assertArrayEquals(expected.logits(), actual.logits());
    assertEquals(expected.loss(), actual.loss());
    assertArrayEquals(expected.grads(), actual.grads());
  }
}
