// The binary formats kiln reads, by their first int32 (magic): an error names the format it found, not just a number.
package kiln.runtime.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Two formats share a magic: kiln's Llama model file and a kiln checkpoint's {@code state.bin}
 * (AdamW's m and v) both start with 20261123, version 1. A state file's size is fixed by its
 * header (1024 bytes + 2 x 4 x header[3]), which tells them apart.
 */
public enum FileKind {
  GPT2_MODEL(20240326, "an llm.c GPT-2 model"),
  DEBUG_STATE(20240327, "an llm.c debug state: a PyTorch reference batch, what `kiln verify --state` reads"),
  TOKENIZER(20240328, "an llm.c tokenizer"),
  TOKEN_SHARD(20240520, "an llm.c token shard"),
  LLAMA_MODEL(20261123, "a kiln Llama model"),
  KILN_STATE(20261123, "a kiln checkpoint's optimizer state: AdamW m and v, what `kiln train --resume` reads");

  public final int magic;
  public final String description;

  FileKind(int magic, String description) {
    this.magic = magic;
    this.description = description;
  }

  /** {@code 20240327 (an llm.c debug state: ...)}: the expected side of a magic mismatch. */
  public String label() {
    return magic + " (" + description + ")";
  }

  /** The kind a header and file size describe, or null for an unknown magic. */
  public static FileKind of(int[] header, long size) {
    int magic = header[0];
    if (magic == KILN_STATE.magic) {
      return header[1] == 1 && header[3] >= 0 && size == 1024 + 8L * header[3] ? KILN_STATE : LLAMA_MODEL;
    }
    return Arrays.stream(values()).filter(k -> k.magic == magic).findFirst().orElse(null);
  }

  /** The kind of a file by its first 16 bytes and its size; null when unknown or unreadable (the reader then says why). */
  public static FileKind of(Path file) {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer head = ByteBuffer.allocate(4 * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
      while (head.hasRemaining()) {
        if (channel.read(head) < 0) {
          return null;
        }
      }
      return of(new int[] {head.getInt(0), head.getInt(4), head.getInt(8), head.getInt(12)}, channel.size());
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The found side of a magic mismatch: the number, and what it is when kiln knows. */
  public static String describe(int[] header, long size) {
    FileKind k = of(header, size);
    return k == null ? Integer.toString(header[0]) : k.label();
  }
}
