// Writes an llm.c file's little-endian header and payload through one reusable buffer.
package kiln.runtime.format;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

final class BinaryWriter {
  private final OutputStream out;
  private final ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
  private final short[] scratch = new short[buf.capacity() / Short.BYTES];

  BinaryWriter(OutputStream out) {
    this.out = out;
  }

  /** The 256-int32 header: the given leading slots, zeros after. */
  void header(int... slots) throws IOException {
    int[] header = new int[BinaryReader.HEADER_INTS];
    System.arraycopy(slots, 0, header, 0, slots.length);
    ints(header);
  }

  void ints(int[] src) throws IOException {
    chunks(Integer.BYTES, src.length, (off, k) -> buf.asIntBuffer().put(src, off, k));
  }

  void floats(float[] src) throws IOException {
    chunks(Float.BYTES, src.length, (off, k) -> buf.asFloatBuffer().put(src, off, k));
  }

  void bf16(float[] src) throws IOException {
    chunks(Short.BYTES, src.length, (off, k) -> {
      for (int i = 0; i < k; i++) {
        scratch[i] = Bf16.fromFloat(src[off + i]);
      }
      buf.asShortBuffer().put(scratch, 0, k);
    });
  }

  /** Callers have checked every value is in 0..65535. */
  void u16(int[] src) throws IOException {
    chunks(Short.BYTES, src.length, (off, k) -> {
      for (int i = 0; i < k; i++) {
        scratch[i] = (short) src[off + i];
      }
      buf.asShortBuffer().put(scratch, 0, k);
    });
  }

  /** Writes n values of width bytes from a caller's array, as many as the buffer has room for at a time (16-bit ones staged in scratch). */
  private void chunks(int width, int n, BinaryReader.Chunk chunk) throws IOException {
    for (int off = 0; off < n; ) {
      room(width);
      int k = Math.min(n - off, buf.remaining() / width);
      chunk.copy(off, k);
      buf.position(buf.position() + k * width);
      off += k;
    }
  }

  void f32(float v) throws IOException {
    room(Float.BYTES);
    buf.putFloat(v);
  }

  void u8(int v) throws IOException {
    room(1);
    buf.put((byte) v);
  }

  void bytes(byte[] b) throws IOException {
    room(b.length);
    buf.put(b);
  }

  void flush() throws IOException {
    out.write(buf.array(), 0, buf.position());
    buf.clear();
    out.flush();
  }

  private void room(int n) throws IOException {
    if (buf.remaining() < n) {
      out.write(buf.array(), 0, buf.position());
      buf.clear();
    }
  }
}
