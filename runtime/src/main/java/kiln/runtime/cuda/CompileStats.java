// How many kernels NVRTC compiled (cold) and how many came from the cubin cache (warm), with the
// milliseconds spent on each: summed per kernel, so with parallel compiles coldMs exceeds wall time.
package kiln.runtime.cuda;

public record CompileStats(int cold, double coldMs, int warm, double warmMs) {
  public static final CompileStats ZERO = new CompileStats(0, 0, 0, 0);

  /** What happened between an earlier snapshot and this one. */
  public CompileStats since(CompileStats earlier) {
    return new CompileStats(cold - earlier.cold, coldMs - earlier.coldMs, warm - earlier.warm, warmMs - earlier.warmMs);
  }

  @Override
  public String toString() {
    return String.format(java.util.Locale.ROOT, "%d compiled in %.1f ms, %d from cache in %.1f ms", cold, coldMs, warm, warmMs);
  }
}
