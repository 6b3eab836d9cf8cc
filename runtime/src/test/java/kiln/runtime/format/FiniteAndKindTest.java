// Loaders refuse NaN/Inf parameters naming the tensor and its byte; a magic mismatch names the format found and the one
// expected (two formats are called state.bin; two share a magic).
package kiln.runtime.format;

import kiln.models.Llama;
import kiln.runtime.Models;
import static kiln.runtime.format.Fixtures.TINY;
import static kiln.runtime.format.Fixtures.assertFormatError;
import static kiln.runtime.format.Fixtures.raw;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FiniteAndKindTest {
  private static final int P = 2912; // TINY's parameters; wte is 128 x 8 = 1024 values, then wpe
  private static final String KILN_STATE = "20261123 (a kiln checkpoint's optimizer state: AdamW m and v, what `kiln train --resume` reads)";
  private static final String DEBUG_STATE = "20240327 (an llm.c debug state: a PyTorch reference batch, what `kiln verify --state` reads)";

  @TempDir Path dir;

  @Test
  void aNonFiniteGpt2ParameterIsRefusedWithItsTensorAndByte() {
    Path file = dir.resolve("model.bin");
    float[] params = Fixtures.randomFloats(P, 3);
    params[1024 + 37] = Float.NaN;
    ModelFile.write(file, TINY, params, 3);
    assertFormatError(file + ": wpe[37] (byte " + (1024 + 4 * (1024 + 37)) + "): expected a finite number, found NaN; the file is"
        + " damaged or holds a diverged model; use another copy or an earlier checkpoint", () -> ModelFile.read(file));

    params[1024 + 37] = 0;
    params[P - 1] = Float.NEGATIVE_INFINITY;
    ModelFile.write(file, TINY, params, 5);
    assertFormatError(file + ": lnfb[7] (byte " + (1024 + 2 * (P - 1)) + "): expected a finite number, found -Infinity; "
        + Finite.ADVICE, () -> ModelFile.read(file));
  }

  @Test
  void aNonFiniteLlamaParameterIsRefusedWithItsTensorAndByte() {
    Llama.Config c = LlamaConfigTest.TINY;
    int n = (int) Models.of(c).paramCount();
    int lmHead = n - (int) Models.of(c).layout().sizes()[11];
    float[] params = Fixtures.randomFloats(n, 4);
    params[lmHead + 5] = Float.POSITIVE_INFINITY;
    Path file = dir.resolve("llama.bin");
    ModelFile.write(file, c, params);
    assertFormatError(file + ": lm_head[5] (byte " + (1024 + 4L * (lmHead + 5)) + "): expected a finite number, found Infinity; "
        + Finite.ADVICE, () -> ModelFile.read(file, Llama.FAMILY));
  }

  @Test
  void aCheckpointsStateGivenToVerifyNamesBothFormats() {
    // what `kiln train` writes as ckpt_<step>/state.bin: header (magic, version 1, AdamW t, P), then m and v
    Path kilnState = raw(dir.resolve("state.bin"), new int[] {20261123, 1, 20, P}, 8L * P);
    assertEquals(FileKind.KILN_STATE, FileKind.of(kilnState));
    assertFormatError(kilnState + ": header[0] magic: expected " + DEBUG_STATE + ", found " + KILN_STATE,
        () -> DebugState.read(kilnState, Models.of(TINY)));
  }

  @Test
  void theLlamaModelAndTheCheckpointStateShareAMagicAndTheSizeTellsThemApart() {
    Path llama = dir.resolve("llama.bin");
    ModelFile.write(llama, LlamaConfigTest.TINY, new float[(int) Models.of(LlamaConfigTest.TINY).paramCount()]);
    assertEquals(FileKind.LLAMA_MODEL, FileKind.of(llama));
    Path kilnState = raw(dir.resolve("state.bin"), new int[] {20261123, 1, 3, 10}, 80);
    assertFormatError(kilnState + ": header[0] magic: expected 20261123 (a kiln Llama model), found " + KILN_STATE,
        () -> ModelFile.read(kilnState, Llama.FAMILY));
    assertNull(FileKind.of(dir.resolve("missing.bin")));
    assertNull(FileKind.of(raw(dir.resolve("other.bin"), new int[] {12345}, 0)));
  }
}
