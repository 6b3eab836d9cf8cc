// The knobs of the CUDA schedules (STYLE rule 5): block sizes and matmul tiles. The autotuner
// (issue 8) searches these; the defaults are a safe, untuned point.
package kiln.codegen;

public record CudaSchedule(int mapBlock, int reduceBlock, int bm, int bn, int bk, int tm, int tn) {
  public static final CudaSchedule DEFAULT = new CudaSchedule(256, 256, 64, 64, 16, 4, 4);

  public int matmulThreads() { return (bm / tm) * (bn / tn); }

  /** DEFAULT, or the matmul tile from KILN_CUDA_TILE="BM,BN,BK,TM,TN" (for trying points before the tuner has them). */
  public static CudaSchedule fromEnvironment() {
    String tile = System.getenv("KILN_CUDA_TILE");
    if (tile == null || tile.isBlank()) return DEFAULT;
    String[] f = tile.split(",");
    if (f.length != 5) throw new IllegalArgumentException("KILN_CUDA_TILE=" + tile + ": expected BM,BN,BK,TM,TN, e.g. 128,128,16,8,8");
    int[] v = new int[5];
    for (int i = 0; i < 5; i++) v[i] = Integer.parseInt(f[i].strip());
    CudaSchedule s = new CudaSchedule(DEFAULT.mapBlock(), DEFAULT.reduceBlock(), v[0], v[1], v[2], v[3], v[4]);
    if (v[0] % v[3] != 0 || v[1] % v[4] != 0 || s.matmulThreads() > 1024) {
      throw new IllegalArgumentException("KILN_CUDA_TILE=" + tile + ": BM/TM x BN/TN must divide evenly and be at most 1024 threads");
    }
    return s;
  }
}
