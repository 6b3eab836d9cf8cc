// Sequential (B, T) batches from llm.c token shards, allocation-free per batch, resumable at a Position.
package kiln.runtime.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import kiln.runtime.format.TokenShard;

/**
 * Walks the shards of one split in name order, as llm.c's {@code dataloader_next_batch} does: a
 * batch reads B·T+1 tokens at the current offset, then the offset advances by B·T; when the next
 * batch would run past the shard's end, the loader moves to offset 0 of the next shard (after the
 * last, the first). The tokens left at a shard's end are skipped.
 */
public final class DataLoader {
  /** Header of a token shard, in bytes (256 int32); the tokens follow as uint16. */
  private static final long HEADER_BYTES = 1024;

  public enum Split {
    TRAIN("train"), VAL("val");

    private final String word;

    Split(String word) {
      this.word = word;
    }

    /** Whether a file name matches {@code *train*.bin} (or {@code *val*.bin}). */
    public boolean matches(String fileName) {
      return fileName.endsWith(".bin") && fileName.contains(word);
    }

    /** This split's shard files in {@code dir}, sorted by name; empty when there are none. */
    public List<Path> shards(Path dir) throws IOException {
      if (!Files.isDirectory(dir)) {
        return List.of();
      }
      try (Stream<Path> files = Files.list(dir)) {
        return files.filter(f -> matches(f.getFileName().toString()) && Files.isRegularFile(f)).sorted().toList();
      }
    }

    @Override
    public String toString() {
      return word;
    }
  }

  /** Where the next batch starts: shard index (in name order) and token offset inside it. */
  public record Position(int shard, int offset) {}

  private final List<Path> shards;
  private final long[] shardTokens;
  private final int b;
  private final int t;
  private final int bt;
  private int shard = -1;
  private int[] tokens;
  private int offset;

  private DataLoader(List<Path> shards, long[] shardTokens, int b, int t) {
    this.shards = shards;
    this.shardTokens = shardTokens;
    this.b = b;
    this.t = t;
    this.bt = b * t;
  }

  /**
   * Opens the {@code split} shards in {@code dir} for batches of {@code b} rows of {@code t} tokens,
   * positioned at the start of the first shard.
   */
  public static DataLoader open(Path dir, Split split, int b, int t) throws IOException {
    if (b <= 0 || t <= 0) {
      throw new IllegalArgumentException("batch size B and sequence length T must be positive, got B=" + b + " T=" + t);
    }
    if ((long) b * t + 1 > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("B*T = " + b + "*" + t + " is too large");
    }
    List<Path> shards = split.shards(dir);
    if (shards.isEmpty()) {
      throw new IllegalArgumentException("no *" + split + "*.bin shards in " + dir);
    }
    long need = (long) b * t + 1;
    long[] counts = new long[shards.size()];
    for (int i = 0; i < counts.length; i++) {
      counts[i] = Math.max(0, (Files.size(shards.get(i)) - HEADER_BYTES) / 2);
    }
    DataLoader loader = new DataLoader(shards, counts, b, t);
    loader.load(0); // reads and checks the first shard's header before the size check below
    for (int i = 0; i < counts.length; i++) {
      if (counts[i] < need) {
        throw loader.tooSmall(i);
      }
    }
    return loader;
  }

  /**
   * Fills {@code inputs[0, B·T)} with the next batch's tokens and {@code targets[0, B·T)} with the
   * same shifted by one, then advances.
   */
  public void next(int[] inputs, int[] targets) {
    if (inputs.length < bt || targets.length < bt) {
      throw new IllegalArgumentException("inputs and targets need B*T = " + bt + " ints, got "
          + inputs.length + " and " + targets.length);
    }
    System.arraycopy(tokens, offset, inputs, 0, bt);
    System.arraycopy(tokens, offset + 1, targets, 0, bt);
    offset += bt;
    if ((long) offset + bt + 1 > tokens.length) {
      load((shard + 1) % shards.size());
      offset = 0;
    }
  }

  /** The position of the next batch; {@link #seek} to it to replay from here. */
  public Position position() {
    return new Position(shard, offset);
  }

  /** Makes the next batch start at {@code p}, e.g. a position saved with a checkpoint. */
  public void seek(Position p) {
    if (p.shard() < 0 || p.shard() >= shards.size()) {
      throw new IllegalArgumentException("position " + p + ": shard index out of range [0, " + shards.size() + ")");
    }
    if (p.offset() < 0 || p.offset() + (long) bt + 1 > shardTokens[p.shard()]) {
      throw new IllegalArgumentException(String.format("position %s: offset must be in [0, %d] for %s (%d tokens, B*T+1 = %d)",
          p, shardTokens[p.shard()] - bt - 1, shards.get(p.shard()), shardTokens[p.shard()], bt + 1));
    }
    load(p.shard());
    offset = p.offset();
  }

  /** Back to the start of the first shard (e.g. before each validation pass). */
  public void reset() {
    seek(new Position(0, 0));
  }

  /** Tokens in all shards together. */
  public long tokens() {
    return Arrays.stream(shardTokens).sum();
  }

  private void load(int index) {
    if (index == shard) {
      return;
    }
    int[] read = TokenShard.read(shards.get(index), Corpus.VOCAB);
    shardTokens[index] = read.length;
    if (read.length < (long) bt + 1) {
      throw tooSmall(index);
    }
    tokens = read;
    shard = index;
  }

  private IllegalArgumentException tooSmall(int index) {
    return new IllegalArgumentException(String.format(
        "%s holds %d tokens, fewer than the B*T+1 = %d*%d+1 = %d that one batch reads; use a smaller B or T, or more data",
        shards.get(index), shardTokens[index], b, t, bt + 1));
  }
}
