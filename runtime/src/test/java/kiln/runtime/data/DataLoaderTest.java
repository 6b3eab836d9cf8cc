// Tests DataLoader: batch contents, shifted targets, moving across shards and wrapping, seek, misuse messages.
package kiln.runtime.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;
import kiln.runtime.format.TokenShard;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataLoaderTest {
  @TempDir
  Path dir;

  /** Shard {@code index} of {@code split} holding the ids base, base+1, ..., base+n-1. */
  private void shard(String name, int base, int n) {
    TokenShard.write(dir.resolve(name), IntStream.range(base, base + n).toArray());
  }

  private static int[] range(int from, int n) {
    return IntStream.range(from, from + n).toArray();
  }

  @Test
  void batchesAdvanceByBTAndTargetsShiftByOne() throws IOException {
    shard("tiny_train_000000.bin", 0, 20);
    DataLoader loader = DataLoader.open(dir, DataLoader.Split.TRAIN, 2, 3);
    int[] x = new int[6];
    int[] y = new int[6];
    loader.next(x, y);
    assertArrayEquals(range(0, 6), x);
    assertArrayEquals(range(1, 6), y);
    assertEquals(new DataLoader.Position(0, 6), loader.position());
    loader.next(x, y);
    assertArrayEquals(range(6, 6), x);
    assertArrayEquals(range(7, 6), y);
    loader.next(x, y); // offset 12: 12 + 6 + 1 = 19 <= 20, the last whole batch; 18 + 7 > 20 wraps
    assertArrayEquals(range(12, 6), x);
    assertArrayEquals(range(13, 6), y);
    assertEquals(new DataLoader.Position(0, 0), loader.position());
    loader.next(x, y);
    assertArrayEquals(range(0, 6), x);
    assertEquals(20, loader.tokens());
  }

  @Test
  void movesToTheNextShardInNameOrderThenWraps() throws IOException {
    shard("train_000001.bin", 1000, 9);
    shard("train_000000.bin", 0, 9);
    shard("val_000000.bin", 5000, 9);
    shard("notes.txt", 0, 9);
    DataLoader loader = DataLoader.open(dir, DataLoader.Split.TRAIN, 1, 4);
    int[] x = new int[4];
    int[] y = new int[4];
    int[][] expected = {range(0, 4), range(4, 4), range(1000, 4), range(1004, 4), range(0, 4)};
    for (int[] want : expected) {
      loader.next(x, y);
      assertArrayEquals(want, x);
      assertArrayEquals(range(want[0] + 1, 4), y);
    }
    DataLoader val = DataLoader.open(dir, DataLoader.Split.VAL, 1, 4);
    val.next(x, y);
    assertArrayEquals(range(5000, 4), x);
  }

  @Test
  void seekToASavedPositionReplaysTheSameBatches() throws IOException {
    shard("train_000000.bin", 0, 50);
    shard("train_000001.bin", 100, 37);
    DataLoader a = DataLoader.open(dir, DataLoader.Split.TRAIN, 2, 4);
    int[] x = new int[8];
    int[] y = new int[8];
    for (int i = 0; i < 7; i++) {
      a.next(x, y);
    }
    DataLoader.Position saved = a.position();
    assertEquals(new DataLoader.Position(1, 8), saved);
    int[][] xs = new int[10][8];
    int[][] ys = new int[10][8];
    for (int i = 0; i < 10; i++) {
      a.next(xs[i], ys[i]);
    }
    DataLoader b = DataLoader.open(dir, DataLoader.Split.TRAIN, 2, 4);
    b.seek(saved);
    for (int i = 0; i < 10; i++) {
      b.next(x, y);
      assertArrayEquals(xs[i], x, "batch " + i);
      assertArrayEquals(ys[i], y, "batch " + i);
    }
    b.reset();
    b.next(x, y);
    assertArrayEquals(range(0, 8), x);
  }

  @Test
  void misuseMessages() throws IOException {
    assertEquals("no *train*.bin shards in " + dir, assertThrows(IllegalArgumentException.class,
        () -> DataLoader.open(dir, DataLoader.Split.TRAIN, 1, 4)).getMessage());
    assertEquals("batch size B and sequence length T must be positive, got B=0 T=4", assertThrows(
        IllegalArgumentException.class, () -> DataLoader.open(dir, DataLoader.Split.TRAIN, 0, 4)).getMessage());

    shard("train_000000.bin", 0, 30);
    shard("train_000001.bin", 0, 8);
    Path small = dir.resolve("train_000001.bin");
    assertEquals(small + " holds 8 tokens, fewer than the B*T+1 = 2*4+1 = 9 that one batch reads; use a smaller B or T, or more data",
        assertThrows(IllegalArgumentException.class, () -> DataLoader.open(dir, DataLoader.Split.TRAIN, 2, 4)).getMessage());

    Files.delete(small);
    DataLoader loader = DataLoader.open(dir, DataLoader.Split.TRAIN, 2, 4);
    assertEquals("inputs and targets need B*T = 8 ints, got 8 and 7", assertThrows(IllegalArgumentException.class,
        () -> loader.next(new int[8], new int[7])).getMessage());
    assertEquals("position Position[shard=1, offset=0]: shard index out of range [0, 1)", assertThrows(
        IllegalArgumentException.class, () -> loader.seek(new DataLoader.Position(1, 0))).getMessage());
    assertEquals("position Position[shard=0, offset=22]: offset must be in [0, 21] for " + dir.resolve("train_000000.bin")
        + " (30 tokens, B*T+1 = 9)", assertThrows(IllegalArgumentException.class,
            () -> loader.seek(new DataLoader.Position(0, 22))).getMessage());
  }
}
