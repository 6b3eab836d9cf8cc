// One kernel launch prepared once: the kernel-parameter array (pointers to each argument) is built
// here, so launching it in the step loop allocates nothing.
package kiln.runtime.cuda;

import java.util.List;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * params points at one pointer per kernel argument, in the kernel's parameter order. args keeps what
 * each was made from (device pointers, boxed scalars, mutable one-element cells) for messages.
 */
public record Launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Pointer params, List<Object> args) {
  public record Dim3(int x, int y, int z) {
    public Dim3 {
      if (x < 1 || y < 1 || z < 1) throw new IllegalArgumentException("launch dimensions must be positive, found (" + x + ", " + y + ", " + z + ")");
    }

    public static Dim3 of(int x) { return new Dim3(x, 1, 1); }

    public static Dim3 of(int x, int y) { return new Dim3(x, y, 1); }

    public static Dim3 of(int x, int y, int z) { return new Dim3(x, y, z); }

    public long count() { return (long) x * y * z; }

    @Override
    public String toString() { return "(" + x + ", " + y + ", " + z + ")"; }
  }

  /** Blocks of this many threads cover n elements. */
  public static Dim3 cover(long n, int threadsPerBlock) {
    long blocks = (n + threadsPerBlock - 1) / threadsPerBlock;
    if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException(n + " elements need more than 2^31-1 blocks of " + threadsPerBlock);
    return Dim3.of((int) Math.max(1, blocks));
  }

  /**
   * Arguments, one per kernel parameter in order: a CUdeviceptr (DeviceArena.pointer), an Integer,
   * Float or Long passed by value, or a one-element int[] / float[] / long[] cell whose current value
   * is read at each launch (a step counter, a learning rate), except inside a captured graph. A
   * longer long[] is passed as a by-value struct of that many 64-bit fields (kiln's argument block).
   */
  public static Launch of(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
    if (block.count() > 1024) throw new IllegalArgumentException(kernel + ": block " + block + " has more than 1024 threads");
    if (sharedBytes < 0) throw new IllegalArgumentException(kernel + ": negative shared memory " + sharedBytes);
    if (sharedBytes > Kernel.DEFAULT_SHARED_LIMIT) kernel.allowDynamicShared(sharedBytes);
    NativePointerObject[] params = new NativePointerObject[args.length];
    for (int i = 0; i < args.length; i++) params[i] = param(kernel, i, args[i]);
    return new Launch(kernel, grid, block, sharedBytes, Pointer.to(params), List.of(args));
  }

  private static Pointer param(Kernel kernel, int index, Object arg) {
    return switch (arg) {
      case CUdeviceptr p -> Pointer.to(p);
      case Integer v -> Pointer.to(new int[] {v});
      case Float v -> Pointer.to(new float[] {v});
      case Long v -> Pointer.to(new long[] {v});
      case int[] cell when cell.length == 1 -> Pointer.to(cell);
      case float[] cell when cell.length == 1 -> Pointer.to(cell);
      case long[] cell -> Pointer.to(cell);   // one long, or a by-value struct of cell.length longs
      case null -> throw new IllegalArgumentException(kernel + ": argument " + index + " is null");
      default -> throw new IllegalArgumentException(kernel + ": argument " + index + " is a " + arg.getClass().getSimpleName()
          + "; expected a CUdeviceptr, Integer, Float, Long or a one-element int[]/float[]/long[] cell");
    };
  }

  @Override
  public String toString() {
    return kernel + "<<<" + grid + ", " + block + ", " + sharedBytes + ">>>";
  }
}
