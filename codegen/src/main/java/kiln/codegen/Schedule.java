// The knobs of the CPU schedules, apart from any layer (STYLE rule 5). Defaults measured in docs/perf.md.
package kiln.codegen;

/**
 * @param mr rows of the matmul register tile
 * @param nrVectors vectors (of the preferred species) across the tile
 * @param mb rows per work item, kb depth of one packed block of B
 * @param vectorLanes lanes of FloatVector.SPECIES_PREFERRED on the target
 */
public record Schedule(int mr, int nrVectors, int mb, int kb, int vectorLanes) {
  public static Schedule cpuDefault(int vectorLanes) { return new Schedule(4, 3, 64, 256, vectorLanes); }

  public int nb() { return nrVectors * vectorLanes; }

  public int scratchFloats() { return kb * nb(); }
}
