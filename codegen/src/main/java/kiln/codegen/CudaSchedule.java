// The knobs of the CUDA schedules (STYLE rule 5): block sizes and matmul tiles. The autotuner
// (issue 8) searches these; the defaults are a safe, untuned point.
package kiln.codegen;

public record CudaSchedule(int mapBlock, int reduceBlock, int bm, int bn, int bk, int tm, int tn) {
  public static final CudaSchedule DEFAULT = new CudaSchedule(256, 256, 64, 64, 16, 4, 4);

  public int matmulThreads() { return (bm / tm) * (bn / tn); }
}
