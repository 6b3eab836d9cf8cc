// A kiln checkpoint's state.bin: a 256-int32 header (0 = magic, 1 = version, 2 = AdamW step t, 3 = parameter
// count P), then AdamW's m (P float32) and v (P float32), little-endian like llm.c's files.
package kiln.runtime.format;

import java.nio.file.Path;

public final class StateFile {
  public static final int VERSION = 1;

  private StateFile() {}

  /** Writes the header and m and v (as many values as the params: the caller checks), atomically. */
  public static void write(Path file, int adamT, float[] m, float[] v) {
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(FileKind.KILN_STATE.magic, VERSION, adamT, m.length);
      w.floats(m);
      w.floats(v);
      w.flush();
    });
  }

  /** Reads m and v (m.length values each, the parameter count as model.bin says) after checking the header; returns AdamW's t. */
  public static int read(Path file, float[] m, float[] v) {
    int count = m.length;
    try (BinaryReader in = BinaryReader.open(file)) {
      if (in.header(0) != FileKind.KILN_STATE.magic) {
        // say what it is instead: llm.c's debug state, for one, is also called state.bin
        throw in.error("header[0] magic", FileKind.KILN_STATE.label(), FileKind.describe(in.headerInts(), in.size()));
      }
      in.expect(1, "version", VERSION);
      if (in.header(3) != count) throw in.error("header[3] param count", count + " (as model.bin says)", in.header(3));
      long expected = BinaryReader.HEADER_BYTES + 8L * count;
      if (in.size() != expected) throw in.error("size", expected + " bytes (header + 2 x " + count + " floats)", in.size() + " bytes");
      in.floats(m, 0, count);
      in.floats(v, 0, count);
      return in.header(2);
    }
  }
}
