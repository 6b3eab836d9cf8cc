// The copy engine's tensor maps (CUtensorMap, 128 bytes) from libcuda's cuTensorMapEncodeTiled, bound
// through java.lang.foreign: JCuda 12.6.0 has no binding for it. A map travels to a kernel by value,
// as a 16-long argument (Launch passes a long[16] as a by-value struct).
package kiln.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

public final class TensorMaps {
  // cuda.h's enum values (CUDA 12 and 13)
  static final int DATA_TYPE_TFLOAT32 = 11, INTERLEAVE_NONE = 0, SWIZZLE_128B = 3, L2_PROMOTION_256B = 3, OOB_FILL_NONE = 0;
  /** Floats per 128-byte swizzle row: the box's inner size. */
  public static final int BOX_K = 32;

  private TensorMaps() {}

  /**
   * A 2-D map over a row-major fp32 matrix of rows x k at device address base (k contiguous), read in
   * boxes of BOX_K x boxRows with 128-byte swizzle, fp32 rounded to tf32 (nearest) as it is copied,
   * zeros past the edges. The copy engine needs base and the row pitch (4k bytes) 16-byte aligned.
   */
  public static long[] kMajorTf32(long base, long rows, long k, int boxRows) { return kMajorTf32(base, rows, k, k, boxRows); }

  /** As above at the device address a pointer into an arena or the workspace stands for. */
  static long[] kMajorTf32(jcuda.driver.CUdeviceptr base, long rows, long k, int boxRows) { return kMajorTf32(base, rows, k, k, boxRows); }

  /** As below at the device address a pointer stands for. */
  static long[] kMajorTf32(jcuda.driver.CUdeviceptr base, long rows, long k, long pitch, int boxRows) {
    return kMajorTf32(kiln.runtime.multi.Nccl.address(base), rows, k, pitch, boxRows);
  }

  /** As above over the first k floats of rows pitch floats apart (a chunk along K of a wider matrix, or a padded copy). */
  public static long[] kMajorTf32(long base, long rows, long k, long pitch, int boxRows) {
    if (base % 16 != 0 || (4 * pitch) % 16 != 0) {
      throw new CudaException("tensor map: the copy engine needs a 16-byte aligned base and row pitch, found address " + base + " and " + 4 * pitch
          + " bytes per row");
    }
    if (k < 1 || k > pitch) throw new IllegalArgumentException("tensor map: k must be 1.." + pitch + " (the row pitch), found " + k);
    if (boxRows < 1 || boxRows > 256) throw new IllegalArgumentException("tensor map: box rows must be 1..256, found " + boxRows);
    MethodHandle encode = Lib.encode();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment map = arena.allocate(128, 64);
      MemorySegment dims = arena.allocateFrom(JAVA_LONG, k, rows);
      MemorySegment strides = arena.allocateFrom(JAVA_LONG, 4 * pitch);
      MemorySegment box = arena.allocateFrom(JAVA_INT, BOX_K, boxRows);
      MemorySegment elementStrides = arena.allocateFrom(JAVA_INT, 1, 1);
      int status = (int) encode.invokeExact(map, DATA_TYPE_TFLOAT32, 2, MemorySegment.ofAddress(base), dims, strides, box, elementStrides,
          INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_256B, OOB_FILL_NONE);
      if (status != 0) {
        throw new CudaException("cuTensorMapEncodeTiled failed (CUresult " + status + ") for " + rows + " x " + k + " floats at " + base + ", box "
            + BOX_K + " x " + boxRows);
      }
      return map.toArray(JAVA_LONG);
    } catch (CudaException | IllegalArgumentException e) {
      throw e;
    } catch (Throwable t) {
      throw new CudaException("cuTensorMapEncodeTiled call failed: " + t, t);
    }
  }

  private static final class Lib {
    private static MethodHandle handle;
    private static String failure;

    static synchronized MethodHandle encode() {
      if (handle == null && failure == null) {
        try {
          SymbolLookup lookup = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
          MemorySegment f = lookup.find("cuTensorMapEncodeTiled").orElseThrow(() -> new IllegalStateException("no symbol cuTensorMapEncodeTiled"));
          handle = Linker.nativeLinker().downcallHandle(f, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
              ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        } catch (Throwable t) {
          failure = "libcuda.so.1's cuTensorMapEncodeTiled is not reachable: " + t.getMessage();
        }
      }
      if (handle == null) throw new CudaException(failure);
      return handle;
    }
  }
}
