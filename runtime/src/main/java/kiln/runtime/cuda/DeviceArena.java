// The single device allocation of a program (one cuMemAlloc): every tensor lives at a byte offset
// inside it. Copies are synchronous and ordered with the launches on the device's stream.
package kiln.runtime.cuda;

import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

public final class DeviceArena implements AutoCloseable {
  private final Cuda cuda;
  private final CUdeviceptr base;
  private final long bytes;
  private boolean closed;

  DeviceArena(Cuda cuda, CUdeviceptr base, long bytes) {
    this.cuda = cuda;
    this.base = base;
    this.bytes = bytes;
  }

  public long bytes() { return bytes; }

  /** The device address byteOffset bytes into the arena, for Launch arguments. */
  public CUdeviceptr pointer(long byteOffset) {
    check(byteOffset, 0, "pointer");
    return base.withByteOffset(byteOffset);
  }

  public void upload(float[] src, int srcOff, long dstByteOff, int count) { upload(Pointer.to(src), src.length, srcOff, dstByteOff, count); }

  public void upload(int[] src, int srcOff, long dstByteOff, int count) { upload(Pointer.to(src), src.length, srcOff, dstByteOff, count); }

  /** Waits for queued launches, then copies count floats from srcByteOff into dst[dstOff...]. */
  public void download(long srcByteOff, float[] dst, int dstOff, int count) { download(srcByteOff, Pointer.to(dst), dst.length, dstOff, count); }

  public void download(long srcByteOff, int[] dst, int dstOff, int count) { download(srcByteOff, Pointer.to(dst), dst.length, dstOff, count); }

  /** count 4-byte elements from src[srcOff...] (a host array of length elements) to dstByteOff. */
  private void upload(Pointer src, int length, int srcOff, long dstByteOff, int count) {
    checkArray(length, srcOff, count);
    if (count == 0) return;
    check(dstByteOff, 4L * count, "upload");
    cuMemcpyHtoD(base.withByteOffset(dstByteOff), src.withByteOffset(4L * srcOff), 4L * count);
  }

  private void download(long srcByteOff, Pointer dst, int length, int dstOff, int count) {
    checkArray(length, dstOff, count);
    if (count == 0) return;
    check(srcByteOff, 4L * count, "download");
    cuda.synchronize();
    cuMemcpyDtoH(dst.withByteOffset(4L * dstOff), base.withByteOffset(srcByteOff), 4L * count);
  }

  /** Uploads src rounded to bf16 (nearest even) as 2-byte elements at dstByteOff (checks and checkpoints; allocates). */
  public void uploadBf16(float[] src, long dstByteOff) {
    if (src.length == 0) return;
    check(dstByteOff, 2L * src.length, "upload");
    short[] bits = new short[src.length];
    for (int i = 0; i < src.length; i++) bits[i] = (short) (Float.floatToRawIntBits(kiln.codegen.Bf16.round(src[i])) >>> 16);
    cuMemcpyHtoD(base.withByteOffset(dstByteOff), Pointer.to(bits), 2L * src.length);
  }

  /** Waits for queued launches, then copies count bf16 elements from srcByteOff, widened to floats. */
  public float[] downloadBf16(long srcByteOff, int count) {
    float[] out = new float[count];
    if (count == 0) return out;
    check(srcByteOff, 2L * count, "download");
    cuda.synchronize();
    short[] bits = new short[count];
    cuMemcpyDtoH(Pointer.to(bits), base.withByteOffset(srcByteOff), 2L * count);
    for (int i = 0; i < count; i++) out[i] = Float.intBitsToFloat(bits[i] << 16);
    return out;
  }

  public float[] downloadFloats(long srcByteOff, int count) {
    float[] out = new float[count];
    download(srcByteOff, out, 0, count);
    return out;
  }

  /** Queues a zero fill of [byteOff, byteOff + byteCount) on the stream (capturable into a graph). */
  public void memsetZero(long byteOff, long byteCount) {
    check(byteOff, byteCount, "memsetZero");
    if (byteCount == 0) return;
    cuMemsetD8Async(base.withByteOffset(byteOff), (byte) 0, byteCount, cuda.stream());
  }

  public void memsetZero() { memsetZero(0, bytes); }

  private void check(long byteOff, long byteCount, String what) {
    if (closed) throw new IllegalStateException("device arena: " + what + " after close");
    if (byteOff < 0 || byteCount < 0 || byteOff > bytes || byteCount > bytes - byteOff) {
      throw new IndexOutOfBoundsException("device arena: " + what + " of " + byteCount + " bytes at offset " + byteOff
          + " is outside the arena's " + bytes + " bytes");
    }
  }

  private static void checkArray(int length, int off, int count) {
    if (off < 0 || count < 0 || off > length || count > length - off) {
      throw new IndexOutOfBoundsException("host array of " + length + " elements: range [" + off + ", " + off + " + " + count + ") is out of bounds");
    }
  }

  /** Waits for queued work, then frees the allocation. */
  @Override
  public void close() {
    if (closed) return;
    cuda.synchronize();
    closed = true;
    cuMemFree(base);
  }
}
