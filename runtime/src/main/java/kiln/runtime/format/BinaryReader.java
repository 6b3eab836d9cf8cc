// Reads an llm.c file: the 256-int32 header, then little-endian payload in bulk chunks.
package kiln.runtime.format;

import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

final class BinaryReader implements AutoCloseable {
  static final int HEADER_INTS = 256;
  static final int HEADER_BYTES = HEADER_INTS * Integer.BYTES;
  private static final int CHUNK_BYTES = 1 << 22;

  private final Path file;
  private final FileChannel channel;
  private final long size;
  private final ByteBuffer buf; // read mode: unread bytes lie between position and limit
  private final int[] header = new int[HEADER_INTS];
  private long filePos;
  private short[] scratch;

  private BinaryReader(Path file, FileChannel channel, long size) {
    this.file = file;
    this.channel = channel;
    this.size = size;
    this.buf = ByteBuffer.allocateDirect((int) Math.min(CHUNK_BYTES, size)).order(ByteOrder.LITTLE_ENDIAN);
    buf.limit(0);
  }

  /** Opens the file and reads its header; fails with a FormatException naming the file. */
  static BinaryReader open(Path file) {
    String readable = "a readable file";
    if (Files.isDirectory(file)) {
      throw new FormatException(file, "file", readable, "a directory");
    }
    FileChannel channel = null;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
      long size = channel.size();
      if (size < HEADER_BYTES) {
        throw new FormatException(file, "header", HEADER_BYTES + " bytes", size + " bytes");
      }
      BinaryReader in = new BinaryReader(file, channel, size);
      in.ints(in.header, 0, HEADER_INTS);
      return in;
    } catch (IOException e) {
      closeQuietly(channel);
      throw new FormatException(file, "file", readable, FormatException.describe(e));
    } catch (RuntimeException e) {
      closeQuietly(channel);
      throw e;
    }
  }

  /** Closes channel when it was opened; the failure that led here is the one to report. */
  private static void closeQuietly(FileChannel channel) {
    try {
      if (channel != null) channel.close();
    } catch (IOException ignored) {
      // already failing with a better message
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw unreadable(e);
    }
  }

  FormatException error(String field, String expected, Object found) {
    return new FormatException(file, field, expected, String.valueOf(found));
  }

  int[] headerInts() { return header; }

  long size() { return size; }

  int header(int slot) {
    return header[slot];
  }

  /** Header slot 0 must be this kind's magic (and, for the two kinds that share one, the size must say which). */
  void expectKind(FileKind kind) {
    if (FileKind.of(header, size) != kind) {
      throw error("header[0] magic", kind.label(), FileKind.describe(header, size));
    }
  }

  void expect(int slot, String name, int value) {
    if (header[slot] != value) {
      throw error("header[" + slot + "] " + name, Integer.toString(value), header[slot]);
    }
  }

  int atLeast(int slot, String name, int min) {
    if (header[slot] < min) {
      throw error("header[" + slot + "] " + name, "at least " + min, header[slot]);
    }
    return header[slot];
  }

  /** Checks the payload length up front, so truncation is reported before anything is read. */
  void expectPayload(long bytes, String why) {
    long found = size - HEADER_BYTES;
    if (found != bytes) {
      throw error("payload", bytes + " bytes after header (" + why + ")", found + " bytes");
    }
  }

  /** Bytes not yet consumed. */
  long remaining() {
    return size - filePos + buf.remaining();
  }

  void floats(float[] dst, int off, int n) {
    chunks(Float.BYTES, off, n, (at, k) -> buf.asFloatBuffer().get(dst, at, k));
  }

  void ints(int[] dst, int off, int n) {
    chunks(Integer.BYTES, off, n, (at, k) -> buf.asIntBuffer().get(dst, at, k));
  }

  /** bf16 on disk is the high half of an fp32, so widening is a shift. */
  void bf16(float[] dst, int off, int n) {
    chunks(Short.BYTES, off, n, (at, k) -> {
      short[] s = shorts(k);
      for (int i = 0; i < k; i++) {
        dst[at + i] = Float.intBitsToFloat(s[i] << 16);
      }
    });
  }

  void u16(int[] dst, int off, int n) {
    chunks(Short.BYTES, off, n, (at, k) -> {
      short[] s = shorts(k);
      for (int i = 0; i < k; i++) {
        dst[at + i] = s[i] & 0xFFFF;
      }
    });
  }

  /** k values of a chunk: the reader's or writer's buffer holds them; {@code at} is their index in the caller's array. */
  interface Chunk {
    void copy(int at, int k);
  }

  /** Reads n values of width bytes into a caller's array from index off, a buffer's worth at a time. */
  private void chunks(int width, int off, int n, Chunk chunk) {
    while (n > 0) {
      need(width);
      int k = Math.min(n, buf.remaining() / width);
      chunk.copy(off, k);
      buf.position(buf.position() + k * width);
      off += k;
      n -= k;
    }
  }

  /** The next k 16-bit values, bulk-copied into scratch; per-element buffer reads would be several times slower. */
  private short[] shorts(int k) {
    if (scratch == null) {
      scratch = new short[buf.capacity() / Short.BYTES];
    }
    buf.asShortBuffer().get(scratch, 0, k);
    return scratch;
  }

  float f32() {
    need(Float.BYTES);
    return buf.getFloat();
  }

  int u8() {
    need(1);
    return buf.get() & 0xFF;
  }

  byte[] bytes(int n) {
    byte[] b = new byte[n];
    need(n);
    buf.get(b);
    return b;
  }

  /** Makes at least n (at most the buffer's capacity) bytes available. */
  private void need(int n) {
    if (buf.remaining() >= n) {
      return;
    }
    try {
      buf.compact();
      while (buf.position() < n) {
        int read = channel.read(buf, filePos);
        if (read < 0) {
          throw new EOFException("file ended at byte " + filePos + " while reading");
        }
        filePos += read;
      }
      buf.flip();
    } catch (IOException e) {
      throw unreadable(e);
    }
  }

  private UncheckedIOException unreadable(IOException e) {
    return new UncheckedIOException(file + ": cannot read: " + FormatException.describe(e), e);
  }
}
