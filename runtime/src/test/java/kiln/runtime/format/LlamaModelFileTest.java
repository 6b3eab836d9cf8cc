// LlamaModelFile: round trip, the documented byte layout, isLlama, and every error a checkpoint can raise.
package kiln.runtime.format;

import kiln.models.Llama;
import kiln.runtime.Models;
import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.assertMisuse;
import static kiln.runtime.format.Fixtures.raw;
import static kiln.runtime.format.LlamaConfigTest.P;
import static kiln.runtime.format.LlamaConfigTest.TINY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LlamaModelFileTest {
  @TempDir Path dir;

  private Path file() {
    return dir.resolve("llama.bin");
  }

  static int[] llamaHeader(Llama.Config c) {
    return new int[] {20261123, 1, c.maxT(), c.vocab(), c.layers(), c.heads(), c.kvHeads(), c.channels(), c.ffn(),
        c.paddedVocab(), Float.floatToIntBits(c.theta()), Float.floatToIntBits(c.eps())};
  }

  @Test
  void roundTrip() {
    float[] params = Fixtures.randomFloats(P, 1);
    ModelFile.write(file(), TINY, params);
    ModelFile.Loaded loaded = ModelFile.read(file(), Llama.FAMILY);
    assertEquals(TINY, loaded.config());
    assertArrayEquals(params, loaded.params());
    assertEquals(TINY, ((Llama.Config) ModelFile.read(file(), Llama.FAMILY).shape().config()));
  }

  @Test
  void roundTripKeepsThetaAndEpsBits() {
    Llama.Config c = new Llama.Config(16, 100, 128, 2, 4, 2, 16, 24, 500000f, 1e-6f);
    ModelFile.write(file(), c, new float[P]);
    Llama.Config back = ((Llama.Config) ModelFile.read(file(), Llama.FAMILY).shape().config());
    assertEquals(Float.floatToIntBits(500000f), Float.floatToIntBits(back.theta()));
    assertEquals(Float.floatToIntBits(1e-6f), Float.floatToIntBits(back.eps()));
  }

  @Test
  void writesDocumentedLayout() throws IOException {
    float[] params = Fixtures.randomFloats(P, 2);
    ByteBuffer expected = Fixtures.le(1024 + 4L * P);
    for (int slot : new int[] {20261123, 1, 16, 100, 2, 4, 2, 16, 24, 128, 0x461c4000, 0x3727c5ac}) {
      expected.putInt(slot);
    }
    expected.position(1024);
    for (float p : params) {
      expected.putFloat(p);
    }
    ModelFile.write(file(), TINY, params);
    assertArrayEquals(expected.array(), Files.readAllBytes(file()));
  }

  @Test
  void isLlama() throws IOException {
    ModelFile.write(file(), TINY, new float[P]);
    assertTrue(FileKind.of(file()) == FileKind.LLAMA_MODEL);
    Path gpt = dir.resolve("gpt.bin");
    ModelFile.write(gpt, Fixtures.TINY, new float[(int) Models.of(Fixtures.TINY).paramCount()], 3);
    assertFalse(FileKind.of(gpt) == FileKind.LLAMA_MODEL);
    assertFalse(FileKind.of(dir.resolve("missing.bin")) == FileKind.LLAMA_MODEL);
    assertFalse(FileKind.of(dir) == FileKind.LLAMA_MODEL);
    Path shortFile = dir.resolve("short.bin");
    Files.write(shortFile, new byte[] {(byte) 0xB3, (byte) 0x28});
    assertFalse(FileKind.of(shortFile) == FileKind.LLAMA_MODEL);
  }

  @Test
  void failedWriteKeepsOldCheckpoint() throws IOException {
    ModelFile.write(file(), TINY, Fixtures.randomFloats(P, 3));
    byte[] before = Files.readAllBytes(file());
    assertMisuse(file() + ": params length: expected paramCount (8016), found 3",
        () -> ModelFile.write(file(), TINY, new float[3]));
    assertArrayEquals(before, Files.readAllBytes(file()));
  }

  @Test
  void writeInconsistentConfig() {
    Llama.Config bad = new Llama.Config(16, 100, 128, 2, 4, 3, 16, 24, 10000f, 1e-5f);
    assertMisuse(file() + ": config NKV: expected a divisor of NH (4), found 3",
        () -> ModelFile.write(file(), bad, new float[P]));
  }

  // --- file ---

  @Test
  void missingFile() {
    assertFormatError(file() + ": file: expected a readable file, found no such file",
        () -> ModelFile.read(file(), Llama.FAMILY));
  }

  @Test
  void directory() {
    assertFormatError(dir + ": file: expected a readable file, found a directory", () -> ModelFile.read(dir, Llama.FAMILY));
  }

  @Test
  void shortHeader() throws IOException {
    Files.write(file(), new byte[10]);
    assertFormatError(file() + ": header: expected 1024 bytes, found 10 bytes", () -> ModelFile.read(file(), Llama.FAMILY));
  }

  // --- header ---

  private void assertHeaderError(String message, int slot, int value) {
    int[] header = llamaHeader(TINY);
    header[slot] = value;
    raw(file(), header, 4L * P);
    assertFormatError(file() + ": " + message, () -> ModelFile.read(file(), Llama.FAMILY));
  }

  // One row per header field check: slot | value written there | the error it raises.
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "0 | 20240326 | header[0] magic: expected 20261123 (a kiln Llama model), found 20240326 (an llm.c GPT-2 model)",
      "1 | 3 | header[1] version: expected 1, found 3",
      "2 | 0 | header[2] maxT: expected at least 1, found 0",
      "3 | -5 | header[3] V: expected at least 1, found -5",
      "4 | 0 | header[4] L: expected at least 1, found 0",
      "5 | 0 | header[5] NH: expected at least 1, found 0",
      "6 | 0 | header[6] NKV: expected at least 1, found 0",
      "6 | 3 | header[6] NKV: expected a divisor of NH (4), found 3",
      "7 | 0 | header[7] C: expected at least 1, found 0",
      "7 | 18 | header[7] C: expected a multiple of NH (4), found 18",
      "7 | 12 | header[7] C: expected an even head size C/NH for RoPE (NH = 4), found 12 (head size 3)",
      "8 | 0 | header[8] FF: expected at least 1, found 0",
      "9 | 99 | header[9] Vp: expected at least V (100), found 99",
      "10 | 0 | header[10] theta: expected a finite float32 > 0, found 0.0 (bits 0x0)"})
  void headerError(int slot, int value, String message) {
    assertHeaderError(message, slot, value);
  }

  @Test
  void negativeTheta() {
    assertHeaderError("header[10] theta: expected a finite float32 > 0, found -1.0 (bits 0xbf800000)",
        10, Float.floatToIntBits(-1f));
  }

  @Test
  void infiniteTheta() {
    assertHeaderError("header[10] theta: expected a finite float32 > 0, found Infinity (bits 0x7f800000)",
        10, Float.floatToIntBits(Float.POSITIVE_INFINITY));
  }

  @Test
  void nanEps() {
    assertHeaderError("header[11] eps: expected a finite float32 >= 0, found NaN (bits 0x7fc00000)",
        11, Float.floatToIntBits(Float.NaN));
  }

  @Test
  void negativeEps() {
    assertHeaderError("header[11] eps: expected a finite float32 >= 0, found -1.0E-5 (bits 0xb727c5ac)",
        11, Float.floatToIntBits(-1e-5f));
  }

  @Test
  void zeroEpsIsAllowed() {
    int[] header = llamaHeader(TINY);
    header[11] = 0;
    raw(file(), header, 4L * P);
    assertEquals(0f, ((Llama.Config) ModelFile.read(file(), Llama.FAMILY).shape().config()).eps());
  }

  @Test
  void paramCountBeyondOneArray() {
    raw(file(), llamaHeader(new Llama.Config(1, 1, 1, 1, 1, 1, 20_000, 20_000, 1f, 0f)), 0);
    assertFormatError(file() + ": parameter count: expected at most 2147483639, found 2800100000",
        () -> ModelFile.read(file(), Llama.FAMILY));
  }

  @Test
  void paramCountBeyondLong() {
    raw(file(), llamaHeader(new Llama.Config(1, 1, 1, 1 << 30, 1, 1, 1 << 30, 1, 1f, 0f)), 0);
    assertFormatError(file() + ": parameter count: expected at most 2147483639, found more than 9223372036854775807",
        () -> ModelFile.read(file(), Llama.FAMILY).shape());
  }

  // --- payload ---

  @Test
  void truncatedPayload() {
    raw(file(), llamaHeader(TINY), 4L * P - 1);
    assertFormatError(
        file() + ": payload: expected 32064 bytes after header (8016 params x 4 bytes), found 32063 bytes",
        () -> ModelFile.read(file(), Llama.FAMILY));
  }

  @Test
  void trailingBytes() {
    raw(file(), llamaHeader(TINY), 4L * P + 3);
    assertFormatError(
        file() + ": payload: expected 32064 bytes after header (8016 params x 4 bytes), found 32067 bytes",
        () -> ModelFile.read(file(), Llama.FAMILY).shape());
  }
}
