// The knobs of the CPU schedules, apart from any layer (STYLE rule 5). Defaults measured in docs/perf.md.
package kiln.codegen;

/**
 * @param mr rows of the matmul register tile
 * @param nrVectors vectors (of the preferred species) across the tile
 * @param mb rows per work item, kb depth of one packed block of B
 * @param vectorLanes lanes of FloatVector.SPECIES_PREFERRED on the target
 */
public record Schedule(int mr, int nrVectors, int mb, int kb, int vectorLanes) implements Work.Tile {
  public static Schedule cpuDefault(int vectorLanes) { return new Schedule(4, 3, 64, 256, vectorLanes); }

  /**
   * The untuned knobs for a matmul of n columns: a register tile of 3 vectors, else 4 or 2, whose
   * panel divides n, so no panel takes the masked edge tile (gpt2-tiny's C = 128 and attention's
   * T, HS = 64 are not multiples of 3 vectors); 128 rows per work item, since every item packs its
   * panel of B again when K is deeper than one block (the tuner's winners on GPT-2 124M's large
   * matmuls all had 128).
   */
  public static Schedule cpuDefault(int vectorLanes, long n) {
    for (int nr : new int[] {3, 4, 2}) {
      if (n % ((long) nr * vectorLanes) == 0) return new Schedule(4, nr, 128, 256, vectorLanes);
    }
    return new Schedule(4, 3, 128, 256, vectorLanes);
  }

  /** The tuner's space: register-tile width × rows per work item × packed depth (27 points). */
  public static java.util.List<Schedule> cpuSpace(int vectorLanes) {
    var space = new java.util.ArrayList<Schedule>();
    for (int nr : new int[] {2, 3, 4}) {
      for (int mb : new int[] {32, 64, 128}) {
        for (int kb : new int[] {128, 256, 512}) space.add(new Schedule(4, nr, mb, kb, vectorLanes));
      }
    }
    return space;
  }

  /** "nr=3 mb=64 kb=256". */
  @Override public String knobs() { return "nr=" + nrVectors + " mb=" + mb + " kb=" + kb; }

  /** The inverse of knobs(); null when the text is not this schedule's knobs. */
  public static Schedule parse(String knobs, int vectorLanes) {
    java.util.Map<String, Integer> v = knobValues(knobs);
    if (v == null || !v.keySet().equals(java.util.Set.of("nr", "mb", "kb"))) return null;
    return new Schedule(4, v.get("nr"), v.get("mb"), v.get("kb"), vectorLanes);
  }

  /** "a=1 b=2" -> {a: 1, b: 2}, in order; null if malformed. */
  static java.util.Map<String, Integer> knobValues(String knobs) {
    java.util.Map<String, Integer> v = new java.util.LinkedHashMap<>();
    for (String part : knobs.strip().split("\\s+")) {
      int eq = part.indexOf('=');
      if (eq < 1) return null;
      try {
        v.put(part.substring(0, eq), Integer.parseInt(part.substring(eq + 1)));
      } catch (NumberFormatException e) {
        return null;
      }
    }
    return v;
  }

  /** Rows per work item. */
  @Override public int bm() { return mb; }

  /** Columns per work item: the register tile's width. */
  @Override public int bn() { return nrVectors * vectorLanes; }

  public int scratchFloats() { return kb * bn(); }
}
