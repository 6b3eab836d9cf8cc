// The copy engine's tensor maps (CUtensorMap, 128 bytes; tf32 and bf16) from libcuda's cuTensorMapEncodeTiled, bound
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
  static final int DATA_TYPE_BFLOAT16 = 9, DATA_TYPE_TFLOAT32 = 11, INTERLEAVE_NONE = 0, SWIZZLE_128B = 3, L2_PROMOTION_256B = 3, OOB_FILL_NONE = 0;
  /** Floats per 128-byte swizzle row: the box's inner size. */
  public static final int BOX_K = 32;

  private TensorMaps() {}

  /** As below at the device address a pointer into an arena or the workspace stands for. */
  static long[] kMajorTf32(jcuda.driver.CUdeviceptr base, long rows, long k, long pitch, int boxRows) {
    return kMajorTf32(kiln.runtime.multi.Nccl.address(base), rows, k, pitch, boxRows);
  }

  /**
   * A 2-D map over the first k floats of rows of a row-major fp32 matrix, rows pitch floats apart (k = pitch: the whole
   * matrix; less: a chunk along K of a wider matrix, or a padded copy) at device address base, read in boxes of BOX_K x
   * boxRows with 128-byte swizzle, fp32 rounded to tf32 (nearest) as it is copied, zeros past the edges. The copy engine
   * needs base and the row pitch (4 pitch bytes) 16-byte aligned.
   */
  public static long[] kMajorTf32(long base, long rows, long k, long pitch, int boxRows) {
    if (k < 1 || k > pitch) throw new IllegalArgumentException("tensor map: k must be 1.." + pitch + " (the row pitch), found " + k);
    return encode(DATA_TYPE_TFLOAT32, 4, base, k, rows, pitch, BOX_K, boxRows);
  }

  /** bf16 elements per 128-byte swizzle row: the box's inner size for bf16. */
  public static final int BOX_BF16 = 64;

  /**
   * A 2-D map over a bf16 matrix of `outer` rows of `inner` elements, rows `pitch` elements apart, at
   * device address base, read in boxes of 64 x boxOuter with 128-byte swizzle, zeros past the edges. A
   * K-major operand is rows x K (inner = K, boxOuter = the tile's rows), an MN-major one K x rows (inner
   * = the rows, boxOuter = the stage's depth). The copy engine needs base and the pitch (2 pitch bytes)
   * 16-byte aligned.
   */
  public static long[] bf16(long base, long inner, long outer, long pitch, int boxOuter) {
    if (inner < 1 || inner > pitch) throw new IllegalArgumentException("tensor map: the inner size must be 1.." + pitch + " (the row pitch), found " + inner);
    return encode(DATA_TYPE_BFLOAT16, 2, base, inner, outer, pitch, BOX_BF16, boxOuter);
  }

  /** As above at the device address a pointer into an arena or the workspace stands for. */
  static long[] bf16(jcuda.driver.CUdeviceptr base, long inner, long outer, long pitch, int boxOuter) {
    return bf16(kiln.runtime.multi.Nccl.address(base), inner, outer, pitch, boxOuter);
  }

  private static long[] encode(int dataType, int elementBytes, long base, long inner, long outer, long pitch, int boxInner, int boxOuter) {
    if (base % 16 != 0 || (elementBytes * pitch) % 16 != 0) {
      throw new CudaException("tensor map: the copy engine needs a 16-byte aligned base and row pitch, found address " + base + " and "
          + elementBytes * pitch + " bytes per row");
    }
    if (outer < 1) throw new IllegalArgumentException("tensor map: at least one row, found " + outer);
    if (boxOuter < 1 || boxOuter > 256) throw new IllegalArgumentException("tensor map: box rows must be 1..256, found " + boxOuter);
    MethodHandle encode = Lib.encode();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment map = arena.allocate(128, 64);
      MemorySegment dims = arena.allocateFrom(JAVA_LONG, inner, outer);
      MemorySegment strides = arena.allocateFrom(JAVA_LONG, elementBytes * pitch);
      MemorySegment box = arena.allocateFrom(JAVA_INT, boxInner, boxOuter);
      MemorySegment elementStrides = arena.allocateFrom(JAVA_INT, 1, 1);
      int status = (int) encode.invokeExact(map, dataType, 2, MemorySegment.ofAddress(base), dims, strides, box, elementStrides,
          INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_256B, OOB_FILL_NONE);
      if (status != 0) {
        throw new CudaException("cuTensorMapEncodeTiled failed (CUresult " + status + ") for " + outer + " x " + inner + " elements of "
            + elementBytes + " bytes at " + base + ", box " + boxInner + " x " + boxOuter);
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
