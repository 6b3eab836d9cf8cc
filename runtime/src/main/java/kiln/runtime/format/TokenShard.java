// llm.c token shards: a header, then N token ids as uint16.
package kiln.runtime.format;

import java.nio.file.Path;

public final class TokenShard {
  static final int MAGIC = FileKind.TOKEN_SHARD.magic;
  static final int VERSION = 1;
  private static final int MAX_ID = 0xFFFF;

  private TokenShard() {}

  /** Rejects any id >= vocab, naming its index. */
  public static int[] read(Path file, int vocab) {
    if (vocab < 1) {
      throw FormatException.misuse(file, "vocab", "at least 1", vocab);
    }
    try (BinaryReader in = BinaryReader.open(file)) {
      in.expectKind(FileKind.TOKEN_SHARD);
      in.expect(1, "version", VERSION);
      int n = in.atLeast(2, "N", 0);
      in.expectPayload((long) n * Character.BYTES, n + " tokens x 2 bytes");
      int[] tokens = new int[n];
      in.u16(tokens, 0, n);
      for (int i = 0; i < n; i++) {
        if (tokens[i] >= vocab) {
          throw in.error("token[" + i + "]", FormatException.tokenRange(vocab), tokens[i]);
        }
      }
      return tokens;
    }
  }

  /** Throws IllegalArgumentException, before touching the file, for an id outside 0..65535. */
  public static void write(Path file, int[] tokens) {
    for (int i = 0; i < tokens.length; i++) {
      if (tokens[i] < 0 || tokens[i] > MAX_ID) {
        throw new IllegalArgumentException(
            FormatException.message(file, "token[" + i + "]", "a token id in 0.." + MAX_ID, tokens[i]));
      }
    }
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(MAGIC, VERSION, tokens.length);
      w.u16(tokens);
      w.flush();
    });
  }
}
