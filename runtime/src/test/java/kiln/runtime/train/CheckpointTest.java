// Tests Checkpoint: a directory written and read back exactly (GPT-2 and Llama), state.bin's header, finding the latest, pruning, misuse.
package kiln.runtime.train;

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
import kiln.runtime.format.GptConfig;
import kiln.runtime.format.LlamaConfig;
import kiln.runtime.format.LlamaModelFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
  static final Models.Gpt2Shape TINY = new Models.Gpt2Shape(new GptConfig(8, 10, 16, 1, 2, 4));
  static final Models.LlamaShape LLAMA = new Models.LlamaShape(new LlamaConfig(8, 10, 16, 1, 2, 1, 4, 6, 10000f, 1e-5f));

  @TempDir
  Path tmp;

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
    int n = Math.toIntExact(TINY.paramCount());
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
    assertTrue(LlamaModelFile.isLlama(dir.resolve("model.bin")));
    assertEquals(LLAMA.config(), LlamaModelFile.readHeader(dir.resolve("model.bin")));
    Checkpoint.Loaded c = Checkpoint.read(dir);
    assertEquals(LLAMA, c.shape());
    assertArrayEquals(st.params(), c.params());
    assertArrayEquals(st.m(), c.m());
    assertArrayEquals(st.v(), c.v());
  }

  @Test
  void latestPruneAndReplace() throws IOException {
    int n = Math.toIntExact(TINY.paramCount());
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
    int n = Math.toIntExact(TINY.paramCount());
    Path dir = Checkpoint.write(tmp, TINY, state(n, 1), options(tmp), new Checkpoint.Position(3, 3, new DataLoader.Position(0, 0), 0, new double[0]));
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> Checkpoint.resolve(tmp.resolve("empty")));
    assertEquals(tmp.resolve("empty") + ": no such directory", none.getMessage());
    Files.createDirectories(tmp.resolve("empty"));
    assertEquals(tmp.resolve("empty") + ": neither a checkpoint (no train.txt) nor a run directory with ckpt_<step>/ in it",
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.resolve(tmp.resolve("empty"))).getMessage());

    byte[] state = Files.readAllBytes(dir.resolve("state.bin"));
    state[0] = 1;
    Files.write(dir.resolve("state.bin"), state);
    FormatException bad = assertThrows(FormatException.class, () -> Checkpoint.read(dir));
    assertEquals(dir.resolve("state.bin") + ": header[0] magic: expected 20261123, found 20261121", bad.getMessage());

    Files.delete(dir.resolve("state.bin"));
    assertEquals(dir + ": not a kiln checkpoint (no state.bin)",
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(dir)).getMessage());
  }
}
