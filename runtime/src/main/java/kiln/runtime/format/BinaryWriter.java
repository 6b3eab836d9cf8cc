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
    for (int off = 0; off < src.length; ) {
      room(Integer.BYTES);
      int k = Math.min(src.length - off, buf.remaining() / Integer.BYTES);
      buf.asIntBuffer().put(src, off, k);
      buf.position(buf.position() + k * Integer.BYTES);
      off += k;
    }
  }

  void floats(float[] src) throws IOException {
    for (int off = 0; off < src.length; ) {
      room(Float.BYTES);
      int k = Math.min(src.length - off, buf.remaining() / Float.BYTES);
      buf.asFloatBuffer().put(src, off, k);
      buf.position(buf.position() + k * Float.BYTES);
      off += k;
    }
  }

  void bf16(float[] src) throws IOException {
    for (int off = 0; off < src.length; ) {
      int k = shortRoom(src.length - off);
      for (int i = 0; i < k; i++) {
        scratch[i] = Bf16.fromFloat(src[off + i]);
      }
      putShorts(k);
      off += k;
    }
  }

  /** Callers have checked every value is in 0..65535. */
  void u16(int[] src) throws IOException {
    for (int off = 0; off < src.length; ) {
      int k = shortRoom(src.length - off);
      for (int i = 0; i < k; i++) {
        scratch[i] = (short) src[off + i];
      }
      putShorts(k);
      off += k;
    }
  }

  /** How many of n 16-bit values fit the buffer now; they are staged in scratch and copied in bulk. */
  private int shortRoom(int n) throws IOException {
    room(Short.BYTES);
    return Math.min(n, buf.remaining() / Short.BYTES);
  }

  private void putShorts(int k) {
    buf.asShortBuffer().put(scratch, 0, k);
    buf.position(buf.position() + k * Short.BYTES);
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
