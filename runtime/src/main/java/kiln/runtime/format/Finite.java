// Finds the first NaN or infinity in a block of tensors and names it: loaders refuse such values instead of training on them.
package kiln.runtime.format;

import java.util.List;
import java.util.Locale;

public final class Finite {
  /** What a loader says after "found NaN": where the damage comes from and what to do. */
  public static final String ADVICE = "the file is damaged or holds a diverged model; use another copy or an earlier checkpoint";

  private Finite() {}

  /** Index of the first NaN or infinity in {@code a[from, to)}, or -1. */
  public static int first(float[] a, int from, int to) {
    for (int i = from; i < to; i++) {
      // exponent bits all ones: NaN or +-Inf; one compare per value, which the JIT vectorises
      if ((Float.floatToRawIntBits(a[i]) & 0x7f800000) == 0x7f800000) {
        return i;
      }
    }
    return -1;
  }

  /** {@code wpe[37]}: the tensor that holds flat index {@code index} of a block laid out as names/sizes, and the index in it. */
  public static String where(List<String> names, long[] sizes, long index) {
    long start = 0;
    for (int t = 0; t < sizes.length; t++) {
      if (index < start + sizes[t]) {
        return String.format(Locale.ROOT, "%s[%d]", names.get(t), index - start);
      }
      start += sizes[t];
    }
    return "[" + index + "]";
  }

  /** Throws a FormatException naming the first non-finite parameter of a model file, if any; bytesPer is 4 (fp32) or 2 (bf16). */
  static void requireFinite(BinaryReader in, float[] params, List<String> names, long[] sizes, int bytesPer) {
    int bad = first(params, 0, params.length);
    if (bad >= 0) {
      throw in.error(where(names, sizes, bad) + " (byte " + (BinaryReader.HEADER_BYTES + (long) bytesPer * bad) + ")",
          "a finite number", params[bad] + "; " + ADVICE);
    }
  }
}
