// llm.c's debug state: one batch with the reference logits, loss and parameter gradients to compare against.
package kiln.runtime.format;

import java.nio.file.Path;

/** x, y: (B, T); logits: (B, T, V) unpadded; grads: like the params, wte's padded to (Vp, C). */
public record DebugState(int B, int T, int[] x, int[] y, float[] logits, float loss, float[] grads) {
  static final int MAGIC = 20240327;
  static final int VERSION = 2;

  /** Checks the file against the model's config: T <= maxT, token ids < V, payload size for B, T. */
  public static DebugState read(Path file, GptConfig c) {
    c.requireValid(file);
    try (BinaryReader in = BinaryReader.open(file)) {
      in.expect(0, "magic", MAGIC);
      in.expect(1, "version", VERSION);
      int b = in.atLeast(2, "B", 1);
      int t = in.atLeast(3, "T", 1);
      if (t > c.maxT()) {
        throw in.error("header[3] T", maxTLimit(c), t);
      }
      long bt = (long) b * t;
      int v = c.vocab();
      if (bt > GptConfig.MAX_ARRAY / v) {
        throw in.error("logits", "B*T*V at most " + GptConfig.MAX_ARRAY, b + "*" + t + "*" + v);
      }
      long params = c.paramCount();
      long floats = 2 * bt + bt * v + 1 + params;
      in.expectPayload(floats * Float.BYTES, "B=" + b + ", T=" + t + ", V=" + v + ", " + params + " params");
      int[] x = new int[(int) bt];
      int[] y = new int[(int) bt];
      float[] logits = new float[(int) (bt * v)];
      float[] grads = new float[(int) params];
      in.ints(x, 0, x.length);
      in.ints(y, 0, y.length);
      in.floats(logits, 0, logits.length);
      float loss = in.f32();
      in.floats(grads, 0, grads.length);
      int bad = firstBadToken(x, v);
      if (bad >= 0) {
        throw in.error(tokenField("x", bad, t), FormatException.tokenRange(v), x[bad]);
      }
      bad = firstBadToken(y, v);
      if (bad >= 0) {
        throw in.error(tokenField("y", bad, t), FormatException.tokenRange(v), y[bad]);
      }
      return new DebugState(b, t, x, y, logits, loss, grads);
    }
  }

  public void write(Path file, GptConfig c) {
    c.requireValid(file);
    if (B < 1) {
      throw FormatException.misuse(file, "B", "at least 1", B);
    }
    if (T < 1) {
      throw FormatException.misuse(file, "T", "at least 1", T);
    }
    if (T > c.maxT()) {
      throw FormatException.misuse(file, "T", maxTLimit(c), T);
    }
    long bt = (long) B * T;
    checkLength(file, "x", x.length, bt, "B*T");
    checkLength(file, "y", y.length, bt, "B*T");
    checkLength(file, "logits", logits.length, bt * c.vocab(), "B*T*V");
    checkLength(file, "grads", grads.length, c.paramCount(), "paramCount");
    int bad = firstBadToken(x, c.vocab());
    if (bad >= 0) {
      throw FormatException.misuse(file, tokenField("x", bad, T), FormatException.tokenRange(c.vocab()), x[bad]);
    }
    bad = firstBadToken(y, c.vocab());
    if (bad >= 0) {
      throw FormatException.misuse(file, tokenField("y", bad, T), FormatException.tokenRange(c.vocab()), y[bad]);
    }
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(MAGIC, VERSION, B, T);
      w.ints(x);
      w.ints(y);
      w.floats(logits);
      w.f32(loss);
      w.floats(grads);
      w.flush();
    });
  }

  private static String maxTLimit(GptConfig c) {
    return "at most maxT (" + c.maxT() + ")";
  }

  private static int firstBadToken(int[] ids, int vocab) {
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        return i;
      }
    }
    return -1;
  }

  private static String tokenField(String name, int index, int t) {
    return name + "[" + index / t + "][" + index % t + "]";
  }

  private static void checkLength(Path file, String name, int length, long expected, String formula) {
    if (length != expected) {
      throw FormatException.misuse(file, name + " length", formula + " (" + expected + ")", length);
    }
  }
}
