// llm.c tokenizer files: a header with the vocab size and end-of-text id, then each token's bytes.
package kiln.runtime.format;

import java.nio.file.Path;
import java.util.List;

/** tokens: the raw bytes of each token id, in id order; each 1..255 bytes long. */
public record TokenizerFile(int eot, List<byte[]> tokens) {
  static final int MAGIC = FileKind.TOKENIZER.magic;
  static final int VERSION = 2;
  private static final int MAX_LENGTH = 0xFF;

  public TokenizerFile {
    tokens = List.copyOf(tokens);
  }

  public static TokenizerFile read(Path file) {
    try (BinaryReader in = BinaryReader.open(file)) {
      in.expectKind(FileKind.TOKENIZER);
      in.expect(1, "version", VERSION);
      int n = in.atLeast(2, "vocab", 1);
      int eot = in.header(3);
      if (eot < 0 || eot >= n) {
        throw in.error("header[3] eot", FormatException.tokenRange(n), eot);
      }
      byte[][] tokens = new byte[n][];
      for (int i = 0; i < n; i++) {
        if (in.remaining() < 1) {
          throw truncated(in, n, i);
        }
        int length = in.u8();
        if (length == 0) {
          throw in.error("token[" + i + "] length", "at least 1", 0);
        }
        if (in.remaining() < length) {
          throw truncated(in, n, i);
        }
        tokens[i] = in.bytes(length);
      }
      if (in.remaining() > 0) {
        throw in.error("payload", "end of file after " + n + " tokens", in.remaining() + " more bytes");
      }
      return new TokenizerFile(eot, List.of(tokens));
    }
  }

  private static FormatException truncated(BinaryReader in, int n, int at) {
    return in.error("payload", n + " tokens", "end of file in token[" + at + "]");
  }

  public void write(Path file) {
    if (tokens.isEmpty()) {
      throw FormatException.misuse(file, "tokens", "at least 1 token", 0);
    }
    if (eot < 0 || eot >= tokens.size()) {
      throw FormatException.misuse(file, "eot", FormatException.tokenRange(tokens.size()), eot);
    }
    for (int i = 0; i < tokens.size(); i++) {
      int length = tokens.get(i).length;
      if (length < 1 || length > MAX_LENGTH) {
        throw FormatException.misuse(file, "token[" + i + "] length", "1.." + MAX_LENGTH, length);
      }
    }
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(MAGIC, VERSION, tokens.size(), eot);
      for (byte[] token : tokens) {
        w.u8(token.length);
        w.bytes(token);
      }
      w.flush();
    });
  }
}
