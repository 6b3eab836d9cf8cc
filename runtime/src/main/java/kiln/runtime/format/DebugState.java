// llm.c's debug state: one batch with the reference logits, loss and parameter gradients to compare against.
package kiln.runtime.format;

import java.nio.file.Path;
import java.util.List;
import kiln.runtime.Models;

/** x, y: (B, T); logits: (B, T, V) unpadded; grads: like the params, wte's padded to (Vp, C). */
public record DebugState(int B, int T, int[] x, int[] y, float[] logits, float loss, float[] grads) {
  static final int MAGIC = FileKind.DEBUG_STATE.magic;
  static final int VERSION = 2;

  /** Checks the file against the model's shape (or config): T <= maxT, token ids < V, payload size for B, T. */
  public static DebugState read(Path file, Record config) {
    Models.Shape c = validShape(file, config);
    return read(file, c.vocab(), c.maxT(), c.paramCount());
  }

  /** A model's shape, or a config of a registered family; a broken one is the caller's mistake, not the file's. */
  private static Models.Shape validShape(Path file, Record config) {
    Models.Shape c = config instanceof Models.Shape s ? s : Models.of(config);
    ModelFile.Violation v = ModelFile.violation(c);
    if (v != null) throw FormatException.misuse(file, v.configField(), v.expected(), v.found());
    return c;
  }

  /**
   * The same for any model: vocab = V (logits per position, token ids below it), maxT bounds T, paramCount is the
   * length of the gradients (the shape's paramCount()).
   */
  public static DebugState read(Path file, int vocab, int maxT, long paramCount) {
    requireShape(file, vocab, maxT, paramCount);
    try (BinaryReader in = BinaryReader.open(file)) {
      in.expectKind(FileKind.DEBUG_STATE);
      in.expect(1, "version", VERSION);
      int b = in.atLeast(2, "B", 1);
      int t = in.atLeast(3, "T", 1);
      if (t > maxT) {
        throw in.error("header[3] T", maxTLimit(maxT), t);
      }
      long bt = (long) b * t;
      if (bt > ModelFile.MAX_ARRAY / vocab) {
        throw in.error("logits", "B*T*V at most " + ModelFile.MAX_ARRAY, b + "*" + t + "*" + vocab);
      }
      long floats = 2 * bt + bt * vocab + 1 + paramCount;
      in.expectPayload(
          floats * Float.BYTES, "B=" + b + ", T=" + t + ", V=" + vocab + ", " + paramCount + " params");
      int[] x = new int[(int) bt];
      int[] y = new int[(int) bt];
      float[] logits = new float[(int) (bt * vocab)];
      float[] grads = new float[(int) paramCount];
      in.ints(x, 0, x.length);
      in.ints(y, 0, y.length);
      in.floats(logits, 0, logits.length);
      float loss = in.f32();
      in.floats(grads, 0, grads.length);
      checkTokens(x, y, vocab, t, in::error);
      return new DebugState(b, t, x, y, logits, loss, grads);
    }
  }

  public void write(Path file, Record config) {
    Models.Shape c = validShape(file, config);
    write(file, c.vocab(), c.maxT(), c.paramCount());
  }

  /** The same for any model, with the meaning of the numbers as in {@link #read(Path, int, int, long)}. */
  public void write(Path file, int vocab, int maxT, long paramCount) {
    requireShape(file, vocab, maxT, paramCount);
    if (B < 1) {
      throw FormatException.misuse(file, "B", "at least 1", B);
    }
    if (T < 1) {
      throw FormatException.misuse(file, "T", "at least 1", T);
    }
    if (T > maxT) {
      throw FormatException.misuse(file, "T", maxTLimit(maxT), T);
    }
    long bt = (long) B * T;
    checkLength(file, "x", x.length, bt, "B*T");
    checkLength(file, "y", y.length, bt, "B*T");
    checkLength(file, "logits", logits.length, bt * vocab, "B*T*V");
    checkLength(file, "grads", grads.length, paramCount, "paramCount");
    checkTokens(x, y, vocab, T, (field, expected, found) -> FormatException.misuse(file, field, expected, found));
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

  private static String maxTLimit(int maxT) {
    return "at most maxT (" + maxT + ")";
  }

  /** A caller's model shape: a broken one is their mistake, not the file's. */
  private static void requireShape(Path file, int vocab, int maxT, long paramCount) {
    if (vocab < 1) {
      throw FormatException.misuse(file, "vocab", "at least 1", vocab);
    }
    if (maxT < 1) {
      throw FormatException.misuse(file, "maxT", "at least 1", maxT);
    }
    if (paramCount < 0 || paramCount > ModelFile.MAX_ARRAY) {
      throw FormatException.misuse(file, "paramCount", "0.." + ModelFile.MAX_ARRAY, paramCount);
    }
  }

  /** How a reader or a writer refuses a field: a FormatException naming the file, or an IllegalArgumentException. */
  private interface Refusal {
    RuntimeException of(String field, String expected, Object found);
  }

  /** Every id of x, then of y, in [0, vocab); the first that is not is refused as x[b][t] (rows of t). */
  private static void checkTokens(int[] x, int[] y, int vocab, int t, Refusal refuse) {
    for (int[] ids : List.of(x, y)) {
      for (int i = 0; i < ids.length; i++) {
        if (ids[i] < 0 || ids[i] >= vocab) {
          throw refuse.of((ids == x ? "x" : "y") + "[" + i / t + "][" + i % t + "]", FormatException.tokenRange(vocab), ids[i]);
        }
      }
    }
  }

  private static void checkLength(Path file, String name, int length, long expected, String formula) {
    if (length != expected) {
      throw FormatException.misuse(file, name + " length", formula + " (" + expected + ")", length);
    }
  }
}
