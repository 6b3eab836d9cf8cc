// GPT-2's shape as an llm.c checkpoint header states it, and the parameter layout derived from it.
package kiln.runtime.format;

import java.nio.file.Path;
import java.util.List;

public record GptConfig(int maxT, int vocab, int paddedVocab, int layers, int heads, int channels) {
  public static final List<String> PARAM_NAMES = List.of(
      "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
      "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb");

  /** Largest float[] the JVM reliably allocates; every tensor set must fit one array. */
  static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

  /** Element counts of the 16 tensors, in {@link #PARAM_NAMES} order. Throws ArithmeticException past a long. */
  public long[] paramSizes() {
    long vp = paddedVocab, t = maxT, l = layers, c = channels;
    return new long[] {
        Sizes.product(vp, c),
        Sizes.product(t, c),
        Sizes.product(l, c),
        Sizes.product(l, c),
        Sizes.product(l, 3 * c, c),
        Sizes.product(l, 3 * c),
        Sizes.product(l, c, c),
        Sizes.product(l, c),
        Sizes.product(l, c),
        Sizes.product(l, c),
        Sizes.product(l, 4 * c, c),
        Sizes.product(l, 4 * c),
        Sizes.product(l, c, 4 * c),
        Sizes.product(l, c),
        c,
        c};
  }

  public long paramCount() { return Sizes.sum(paramSizes()); }

  /** A broken header constraint; slot is the header index, or -1 for a derived quantity. */
  record Violation(int slot, String name, String expected, String found) {
    String headerField() {
      return slot >= 0 ? "header[" + slot + "] " + name : name;
    }

    String configField() {
      return "config " + name;
    }
  }

  /** The first constraint this config breaks, in header order, or null when it is consistent. */
  Violation violation() {
    if (maxT < 1) {
      return new Violation(2, "maxT", "at least 1", Integer.toString(maxT));
    }
    if (vocab < 1) {
      return new Violation(3, "V", "at least 1", Integer.toString(vocab));
    }
    if (layers < 1) {
      return new Violation(4, "L", "at least 1", Integer.toString(layers));
    }
    if (heads < 1) {
      return new Violation(5, "NH", "at least 1", Integer.toString(heads));
    }
    if (channels < 1) {
      return new Violation(6, "C", "at least 1", Integer.toString(channels));
    }
    if (channels % heads != 0) {
      return new Violation(6, "C", "a multiple of NH (" + heads + ")", Integer.toString(channels));
    }
    if (paddedVocab < vocab) {
      return new Violation(7, "Vp", "at least V (" + vocab + ")", Integer.toString(paddedVocab));
    }
    String most = "at most " + MAX_ARRAY;
    long count;
    try {
      count = paramCount();
    } catch (ArithmeticException e) {
      return new Violation(-1, "parameter count", most, "more than " + Long.MAX_VALUE);
    }
    if (count > MAX_ARRAY) {
      return new Violation(-1, "parameter count", most, Long.toString(count));
    }
    return null;
  }

  /** For configs handed in by a caller: a broken one is their mistake, not the file's. */
  void requireValid(Path file) {
    Violation v = violation();
    if (v != null) {
      throw FormatException.misuse(file, v.configField(), v.expected(), v.found());
    }
  }
}
