// Tests Checkpoint: a directory written and read back exactly (GPT-2 and Llama), state.bin's header, finding the latest, pruning, misuse.
package kiln.runtime.train;

import kiln.runtime.format.FileKind;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import kiln.runtime.Models;
import kiln.runtime.data.DataLoader;
import kiln.runtime.format.FormatException;
import kiln.models.Gpt2;
import kiln.models.Llama;
import kiln.runtime.format.ModelFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
  static final Models.Shape TINY = Models.of(new Gpt2.Config(8, 10, 16, 1, 2, 4));
  static final Models.Shape LLAMA = Models.of(new Llama.Config(8, 10, 16, 1, 2, 1, 4, 6, 10000f, 1e-5f));

  static final String KILN_STATE = "20261123 (a kiln checkpoint's optimizer state: AdamW m and v, what `kiln train --resume` reads)";

  @TempDir
  Path tmp;

  static Checkpoint.Position at(int step) {
    return new Checkpoint.Position(step, step, new DataLoader.Position(0, 0), 0, new double[0]);
  }

  /** A checkpoint as kiln wrote them before it recorded checksums. */
  static void dropChecksums(Path dir) throws IOException {
    Path train = dir.resolve("train.txt");
    Files.write(train, Files.readAllLines(train).stream().filter(l -> !l.startsWith("crc32c-")).toList());
  }

  static String recorded(Path dir, String file) throws IOException {
    return Files.readAllLines(dir.resolve("train.txt")).stream().filter(l -> l.startsWith("crc32c-" + file + " = ")).findFirst()
        .orElseThrow().substring(("crc32c-" + file + " = ").length());
  }

  @Test
  void bytesOverwrittenInTheMiddleOfAFileFailItsChecksum() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    Path dir = Checkpoint.write(tmp, TINY, state(n, 1), options(tmp), at(4));
    for (String name : List.of("state.bin", "model.bin")) {
      Path file = dir.resolve(name);
      byte[] good = Files.readAllBytes(file);
      byte[] bad = good.clone();
      for (int i = 0; i < 8; i++) {
        bad[bad.length / 2 + i] = (byte) 0x7f; // a plausible float, so only the checksum can notice
      }
      Files.write(file, bad);
      FormatException e = assertThrows(FormatException.class, () -> Checkpoint.read(dir));
      assertEquals(file + ": CRC32C: expected " + recorded(dir, name) + " (as " + dir.resolve("train.txt") + " records), found "
          + Checkpoint.crc32c(file) + "; the file changed after it was written (a disk error or an edit): use another checkpoint of the"
          + " run", e.getMessage());
      if (name.equals("model.bin")) {
        assertEquals(e.getMessage(), assertThrows(FormatException.class, () -> ModelFiles.read(file)).getMessage(),
            "sample and train --init read a checkpoint's model.bin through the same check");
      }
      Files.write(file, good);
    }
    assertEquals(4, Checkpoint.read(dir).position().step());
  }

  @Test
  void nonFiniteOrNegativeMomentsAreRefusedWithTheirTensor() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    int wpe = ((Gpt2.Config) TINY.config()).paddedVocab() * ((Gpt2.Config) TINY.config()).channels();
    Checkpoint.State st = state(n, 1);
    st.m()[wpe + 3] = Float.NaN;
    Path dir = Checkpoint.write(tmp, TINY, st, options(tmp), at(5));
    assertEquals(dir.resolve("state.bin") + ": AdamW m of wpe[3] (byte " + (1024 + 4L * (wpe + 3)) + "): expected a finite number,"
        + " found NaN; the file is damaged or holds a diverged model; use another copy or an earlier checkpoint",
        assertThrows(FormatException.class, () -> Checkpoint.read(dir)).getMessage());

    st.m()[wpe + 3] = 0;
    st.v()[n - 1] = -2f;
    Path dir2 = Checkpoint.write(tmp, TINY, st, options(tmp), at(6));
    assertEquals(dir2.resolve("state.bin") + ": AdamW v of lnfb[3] (byte " + (1024 + 4L * (2 * n - 1)) + "): expected a finite number"
        + " >= 0, found -2.0; the file is damaged or holds a diverged model; use another copy or an earlier checkpoint",
        assertThrows(FormatException.class, () -> Checkpoint.read(dir2)).getMessage());
  }

  @Test
  void aCheckpointWithoutChecksumsStillLoadsAndHalfOfThemIsRefused() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    Path dir = Checkpoint.write(tmp, TINY, state(n, 2), options(tmp), at(7));
    Path train = dir.resolve("train.txt");
    Files.write(train, Files.readAllLines(train).stream().filter(l -> !l.startsWith("crc32c-model.bin")).toList());
    assertEquals(train + ": records the CRC32C of only one of model.bin and state.bin; expected both (or, for a checkpoint written"
        + " before checksums, neither)", assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(dir)).getMessage());
    dropChecksums(dir);
    assertEquals(7, Checkpoint.read(dir).position().step());
  }

  @Test
  void aDebugStateInPlaceOfTheOptimizerStateIsNamed() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    Path dir = Checkpoint.write(tmp, TINY, state(n, 3), options(tmp), at(8));
    Gpt2.Config c = (Gpt2.Config) TINY.config();
    new kiln.runtime.format.DebugState(1, 2, new int[2], new int[2], new float[2 * c.vocab()], 1f, new float[n])
        .write(dir.resolve("state.bin"), c);
    dropChecksums(dir);
    assertEquals(dir.resolve("state.bin") + ": header[0] magic: expected " + KILN_STATE + ", found 20240327 (an llm.c debug state: a"
        + " PyTorch reference batch, what `kiln verify --state` reads)",
        assertThrows(FormatException.class, () -> Checkpoint.read(dir)).getMessage());
  }

  @Test
  void aFailedWriteNamesThePathAndLeavesNoTemporaryDirectory() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    // tests run as root, where permissions stop nothing: a path at Linux's 4095-byte limit fails the first file
    // created inside ckpt_9.tmp/ (ENAMETOOLONG), after the directory itself was made
    Path deep = tmp.toAbsolutePath();
    while (deep.toString().length() < 4095 - "/ckpt_9.tmp".length() - 250) {
      deep = deep.resolve("d".repeat(200));
    }
    deep = deep.resolve("r".repeat(4095 - "/ckpt_9.tmp".length() - deep.toString().length() - 1));
    Files.createDirectories(deep);
    Path runDir = deep;
    java.io.UncheckedIOException e = assertThrows(java.io.UncheckedIOException.class,
        () -> Checkpoint.write(runDir, TINY, state(n, 4), options(tmp), at(9)));
    assertTrue(e.getMessage().startsWith(runDir.resolve("ckpt_9") + ": cannot write the checkpoint ("), e.getMessage());
    assertTrue(e.getMessage().endsWith("File name too long); nothing of it was kept: free space on that disk or pass another --out"),
        e.getMessage());
    assertEquals(List.of(), Files.list(runDir).toList(), "no ckpt_9.tmp/ left behind");

    Checkpoint.State wrong = new Checkpoint.State(new float[n], new float[1], new float[n]);
    assertThrows(IllegalArgumentException.class, () -> Checkpoint.write(tmp, TINY, wrong, options(tmp), at(9)));
    assertEquals(List.of(), Files.list(tmp).filter(f -> f.getFileName().toString().startsWith("ckpt_9")).toList());
  }

  @Test
  void theLatestOfARunDirectoryMustComeFromTheSameRun() throws IOException {
    Checkpoint.write(tmp, TINY, state(Math.toIntExact(Models.of(TINY).paramCount()), 5), options(tmp), at(10));
    TrainOptions llamaRun = new TrainOptions("llama-test", tmp, 2, 4, 100, 3e-3, 10, 0.1, 0.0, 1.0, 10, 2, 10, 2, 42, 0);
    Checkpoint.write(tmp, LLAMA, state(Math.toIntExact(LLAMA.paramCount()), 6), llamaRun, at(30));
    assertEquals(tmp + ": holds checkpoints of different runs (ckpt_30: model = llama-test; ckpt_10: model = test); pass the"
        + " checkpoint directory you mean, e.g. " + tmp.resolve("ckpt_30"),
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.resolve(tmp)).getMessage());
    assertEquals(tmp.resolve("ckpt_10"), Checkpoint.resolve(tmp.resolve("ckpt_10")), "a checkpoint named directly is taken as is");

    assertEquals(List.of("ckpt_10", "ckpt_30"), Checkpoint.clearRun(tmp, List.of("log.csv")));
    assertEquals(List.of(), Checkpoint.list(tmp));
  }

  static TrainOptions options(Path data) {
    return new TrainOptions("test", data, 2, 4, 100, 3e-3, 10, 0.1, 0.0, 1.0, 10, 2, 10, 2, 42, 0);
  }

  /** Params, m and v of n values each, all different, params[0] = seed. */
  static Checkpoint.State state(int n, float seed) {
    float[][] a = new float[3][n];
    for (int k = 0; k < 3; k++) {
      for (int i = 0; i < n; i++) {
        a[k][i] = seed + (k * n + i) * 0.001f;
      }
    }
    return new Checkpoint.State(a[0], a[1], a[2]);
  }

  @Test
  void writesAndReadsBackExactly() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    Checkpoint.State st = state(n, 0.5f);
    Checkpoint.Position p = new Checkpoint.Position(30, 29, new DataLoader.Position(1, 640), 1, new double[] {0.1, 1.0 / 3, 7e-9});
    Path dir = Checkpoint.write(tmp, TINY, st, options(tmp.resolve("data")), p);
    assertEquals(tmp.resolve("ckpt_30").toAbsolutePath(), dir);
    assertEquals(List.of("model.bin", "state.bin", "train.txt"), Files.list(dir).map(f -> f.getFileName().toString()).sorted().toList());
    assertEquals(1024 + 8L * n, Files.size(dir.resolve("state.bin")));
    ByteBuffer header = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("state.bin"))).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(List.of(20261123, 1, 29, n), List.of(header.getInt(0), header.getInt(4), header.getInt(8), header.getInt(12)));

    Checkpoint.Loaded c = Checkpoint.read(dir);
    assertEquals(TINY, c.shape());
    assertArrayEquals(st.params(), c.params());
    assertArrayEquals(st.m(), c.m());
    assertArrayEquals(st.v(), c.v());
    assertEquals(options(tmp.resolve("data")), c.options());
    assertEquals(p.step(), c.position().step());
    assertEquals(p.adamT(), c.position().adamT());
    assertEquals(p.data(), c.position().data());
    assertEquals(p.skippedInARow(), c.position().skippedInARow());
    assertArrayEquals(p.recentNorms(), c.position().recentNorms());
  }

  @Test
  void aLlamaCheckpointKeepsItsModelInTheLlamaFormat() throws IOException {
    int n = Math.toIntExact(LLAMA.paramCount());
    Checkpoint.State st = state(n, 0.25f);
    Checkpoint.Position p = new Checkpoint.Position(7, 7, new DataLoader.Position(0, 64), 0, new double[] {2.5});
    Path dir = Checkpoint.write(tmp, LLAMA, st, options(tmp.resolve("data")), p);
    assertTrue(FileKind.of(dir.resolve("model.bin")) == FileKind.LLAMA_MODEL);
    assertEquals(LLAMA.config(), (Llama.Config) ModelFile.read(dir.resolve("model.bin"), Llama.FAMILY).shape().config());
    Checkpoint.Loaded c = Checkpoint.read(dir);
    assertEquals(LLAMA, c.shape());
    assertArrayEquals(st.params(), c.params());
    assertArrayEquals(st.m(), c.m());
    assertArrayEquals(st.v(), c.v());
  }

  @Test
  void latestPruneAndReplace() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    for (int step : new int[] {5, 10, 40, 20}) {
      Checkpoint.write(tmp, TINY, state(n, step), options(tmp), new Checkpoint.Position(step, step, new DataLoader.Position(0, 0), 0, new double[0]));
    }
    assertEquals(tmp.resolve("ckpt_40"), Checkpoint.resolve(tmp));
    assertEquals(tmp.resolve("ckpt_10"), Checkpoint.resolve(tmp.resolve("ckpt_10")));
    Checkpoint.prune(tmp, 2, 20);
    assertEquals(List.of("ckpt_10", "ckpt_20", "ckpt_40"), Checkpoint.list(tmp).stream().map(p -> p.getFileName().toString()).toList(),
        "ckpt_40 lies past step 20: not counted, not removed");
    Checkpoint.write(tmp, TINY, state(n, 99), options(tmp), new Checkpoint.Position(20, 20, new DataLoader.Position(0, 0), 0, new double[0]));
    assertEquals(99f, Checkpoint.read(tmp.resolve("ckpt_20")).params()[0]);
    assertEquals(List.of("ckpt_10", "ckpt_20", "ckpt_40"), Files.list(tmp).map(p -> p.getFileName().toString()).sorted().toList());
  }

  @Test
  void misuseIsReportedWithTheFileNamed() throws IOException {
    int n = Math.toIntExact(Models.of(TINY).paramCount());
    Path dir = Checkpoint.write(tmp, TINY, state(n, 1), options(tmp), new Checkpoint.Position(3, 3, new DataLoader.Position(0, 0), 0, new double[0]));
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> Checkpoint.resolve(tmp.resolve("empty")));
    assertEquals(tmp.resolve("empty") + ": no such directory", none.getMessage());
    Files.createDirectories(tmp.resolve("empty"));
    assertEquals(tmp.resolve("empty") + ": neither a checkpoint (no train.txt) nor a run directory with ckpt_<step>/ in it",
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.resolve(tmp.resolve("empty"))).getMessage());

    byte[] state = Files.readAllBytes(dir.resolve("state.bin"));
    state[0] = 1;
    Files.write(dir.resolve("state.bin"), state);
    dropChecksums(dir);
    FormatException bad = assertThrows(FormatException.class, () -> Checkpoint.read(dir));
    assertEquals(dir.resolve("state.bin") + ": header[0] magic: expected " + KILN_STATE + ", found 20261121", bad.getMessage());

    Files.delete(dir.resolve("state.bin"));
    assertEquals(dir + ": not a kiln checkpoint (no state.bin)",
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(dir)).getMessage());
  }
}
