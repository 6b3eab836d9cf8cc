// What a generated Java kernel is: one method over a range of work items of a flat arena.
package kiln.codegen;

public interface CpuKernel {
  /**
   * Runs work items [lo, hi). F and I are the float and int arenas, a the kernel's arguments
   * (dim sizes, then tensor offsets, in the order its Kernel lists them), scratch is this
   * thread's own buffer of Schedule.scratchFloats() floats.
   */
  void run(float[] F, int[] I, int[] a, int lo, int hi, float[] scratch);
}
