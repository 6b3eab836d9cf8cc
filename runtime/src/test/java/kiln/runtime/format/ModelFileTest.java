// ModelFile: v3/v5 round trips, llm.c's byte layout, and every error a checkpoint can raise.
package kiln.runtime.format;

import kiln.models.Gpt2;
import kiln.runtime.Models;
import static kiln.runtime.format.Fixtures.TINY;
import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.assertMisuse;
import static kiln.runtime.format.Fixtures.modelHeader;
import static kiln.runtime.format.Fixtures.raw;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ModelFileTest {
  private static final int P = 2912; // Models.of(TINY).paramCount(), counted by hand from FORMATS.md's table

  @TempDir Path dir;

  private Path file() {
    return dir.resolve("model.bin");
  }

  @Test
  void tinyParamCount() {
    assertEquals(P, Models.of(TINY).paramCount());
  }

  @Test
  void fp32RoundTrip() {
    float[] params = Fixtures.randomFloats(P, 1);
    ModelFile.write(file(), TINY, params, 3);
    ModelFile.Loaded loaded = ModelFile.read(file(), Gpt2.FAMILY);
    assertEquals(TINY, loaded.config());
    assertEquals(3, loaded.version());
    assertArrayEquals(params, loaded.params());
    assertEquals(TINY, ModelFile.read(file(), Gpt2.FAMILY).shape().config());
  }

  @Test
  void bf16RoundTripRoundsToNearestEven() throws IOException {
    float[] params = Fixtures.randomFloats(P, 2);
    ModelFile.write(file(), TINY, params, 5);
    assertEquals(1024 + 2L * P, Files.size(file()));
    ModelFile.Loaded loaded = ModelFile.read(file(), Gpt2.FAMILY);
    assertEquals(5, loaded.version());
    float[] rounded = new float[P];
    for (int i = 0; i < P; i++) {
      rounded[i] = Bf16.round(params[i]);
    }
    assertArrayEquals(rounded, loaded.params());
  }

  @Test
  void writesLlmcLayout() throws IOException {
    float[] params = Fixtures.randomFloats(P, 3);
    ByteBuffer expected = Fixtures.le(1024 + 4L * P);
    for (int slot : new int[] {20240326, 3, 16, 100, 2, 2, 8, 128}) {
      expected.putInt(slot);
    }
    expected.position(1024);
    for (float p : params) {
      expected.putFloat(p);
    }
    ModelFile.write(file(), TINY, params, 3);
    assertArrayEquals(expected.array(), Files.readAllBytes(file()));
  }

  @Test
  void readsHandBuiltBf16() {
    ByteBuffer payload = Fixtures.le(2L * P);
    payload.putShort(0, (short) 0x3F80); // 1.0
    payload.putShort(2 * (P - 1), (short) 0xC020); // -2.5
    ModelFile.Loaded loaded = ModelFile.read(raw(file(), modelHeader(TINY, 5), payload.array()));
    assertEquals(1f, loaded.params()[0]);
    assertEquals(0f, loaded.params()[1]);
    assertEquals(-2.5f, loaded.params()[P - 1]);
  }

  @Test
  void failedWriteKeepsOldCheckpoint() throws IOException {
    float[] params = Fixtures.randomFloats(P, 4);
    ModelFile.write(file(), TINY, params, 3);
    byte[] before = Files.readAllBytes(file());
    assertMisuse(file() + ": params length: expected paramCount (2912), found 3",
        () -> ModelFile.write(file(), TINY, new float[3], 3));
    assertArrayEquals(before, Files.readAllBytes(file()));
  }

  // --- errors any reader raises before looking at the header ---

  @Test
  void missingFile() {
    assertFormatError(file() + ": file: expected a readable file, found no such file", () -> ModelFile.read(file(), Gpt2.FAMILY));
  }

  @Test
  void directory() {
    assertFormatError(dir + ": file: expected a readable file, found a directory", () -> ModelFile.read(dir));
  }

  @Test
  void unreadableFile() throws IOException {
    raw(file(), modelHeader(TINY, 3), 4L * P);
    Files.setPosixFilePermissions(file(), PosixFilePermissions.fromString("---------"));
    assumeFalse(Files.isReadable(file()), "running as root: every file is readable");
    assertFormatError(file() + ": file: expected a readable file, found access denied", () -> ModelFile.read(file(), Gpt2.FAMILY));
  }

  @Test
  void shortHeader() throws IOException {
    Files.write(file(), new byte[10]);
    assertFormatError(file() + ": header: expected 1024 bytes, found 10 bytes", () -> ModelFile.read(file(), Gpt2.FAMILY));
  }

  // --- header ---

  private void assertHeaderError(String message, int slot, int value) {
    int[] header = modelHeader(TINY, 3);
    header[slot] = value;
    raw(file(), header, 4L * P);
    assertFormatError(file() + ": " + message, () -> ModelFile.read(file(), Gpt2.FAMILY));
  }

  // One row per header field check: slot | value written there | the error it raises.
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "0 | 20240327 | header[0] magic: expected 20240326 (an llm.c GPT-2 model), found 20240327 (an llm.c debug state: a PyTorch reference batch, what `kiln verify --state` reads)",
      "1 | 4 | header[1] version: expected 3 or 5, found 4",
      "2 | 0 | header[2] maxT: expected at least 1, found 0",
      "3 | -5 | header[3] V: expected at least 1, found -5",
      "4 | 0 | header[4] L: expected at least 1, found 0",
      "5 | 0 | header[5] NH: expected at least 1, found 0",
      "6 | 0 | header[6] C: expected at least 1, found 0",
      "6 | 9 | header[6] C: expected a multiple of NH (2), found 9",
      "7 | 99 | header[7] Vp: expected at least V (100), found 99"})
  void headerError(int slot, int value, String message) {
    assertHeaderError(message, slot, value);
  }

  @Test
  void paramCountBeyondOneArray() {
    raw(file(), modelHeader(new Gpt2.Config(1, 1, 1, 1, 1, 20_000), 3), 0);
    assertFormatError(file() + ": parameter count: expected at most 2147483639, found 4800340000",
        () -> ModelFile.read(file(), Gpt2.FAMILY));
  }

  @Test
  void paramCountBeyondLong() {
    raw(file(), modelHeader(new Gpt2.Config(1, 1, 1, 1 << 30, 1, 1 << 30), 3), 0);
    assertFormatError(file() + ": parameter count: expected at most 2147483639, found more than 9223372036854775807",
        () -> ModelFile.read(file(), Gpt2.FAMILY).shape());
  }

  // --- payload ---

  @Test
  void truncatedPayload() {
    raw(file(), modelHeader(TINY, 3), 4L * P - 1);
    assertFormatError(file() + ": payload: expected 11648 bytes after header (2912 params x 4 bytes), found 11647 bytes",
        () -> ModelFile.read(file(), Gpt2.FAMILY));
  }

  @Test
  void trailingBytes() {
    raw(file(), modelHeader(TINY, 5), 2L * P + 3);
    assertFormatError(file() + ": payload: expected 5824 bytes after header (2912 params x 2 bytes), found 5827 bytes",
        () -> ModelFile.read(file(), Gpt2.FAMILY).shape());
  }

  // --- writer misuse ---

  @Test
  void writeUnsupportedVersion() {
    assertMisuse(file() + ": version: expected 3 or 5, found 4", () -> ModelFile.write(file(), TINY, new float[P], 4));
  }

  @Test
  void writeInconsistentConfig() {
    Gpt2.Config bad = new Gpt2.Config(16, 100, 128, 2, 3, 8);
    assertMisuse(file() + ": config C: expected a multiple of NH (3), found 8",
        () -> ModelFile.write(file(), bad, new float[P], 3));
  }
}
