// A __global__ function of a loaded module, with what the compiler decided for it (registers, spills).
package kiln.runtime.cuda;

import static jcuda.driver.JCudaDriver.cuFuncGetAttribute;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;

import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;

public record Kernel(String name, CUfunction function) {
  /** Blocks use up to 48 KiB of dynamic shared memory unless the kernel opts in to more. */
  static final int DEFAULT_SHARED_LIMIT = 48 * 1024;

  public int registers() { return attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS); }

  public int maxThreadsPerBlock() { return attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK); }

  /** Lets launches of this kernel use more than 48 KiB of dynamic shared memory. */
  public void allowDynamicShared(int bytes) {
    cuFuncSetAttribute(function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
  }

  private int attribute(int attribute) {
    int[] v = new int[1];
    cuFuncGetAttribute(v, attribute, function);
    return v[0];
  }

  @Override
  public String toString() { return name; }
}
