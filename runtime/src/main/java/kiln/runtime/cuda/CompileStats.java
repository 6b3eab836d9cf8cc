// How many kernels NVRTC compiled (cold) and how many came from the cubin cache (warm), with the
// milliseconds spent on each: summed per kernel, so with parallel compiles coldMs exceeds wall time.
package kiln.runtime.cuda;

public record CompileStats(int cold, double coldMs, int warm, double warmMs) {}
