// NCCL for real with one rank on device 0: a communicator over Cuda.open()'s context, then all-reduce,
// in-place reduce onto the shard's owner and all-gather (ZeroShards' layout) on a DeviceArena. Skips without a
// device, without libnccl, or without NCCL_NVLS_ENABLE=0 exported.
package kiln.runtime.multi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import kiln.runtime.cuda.Cuda;
import kiln.runtime.cuda.DeviceArena;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("gpu")
class NcclSingleRankTest {
  @BeforeEach
  void needDeviceAndNccl() {
    Assumptions.assumeTrue(Cuda.available(), () -> "no CUDA device: " + Cuda.unavailableReason());
    Assumptions.assumeTrue(Nccl.available(), () -> "no libnccl: " + Nccl.unavailableReason());
    Assumptions.assumeTrue("0".equals(System.getenv("NCCL_NVLS_ENABLE")), "run with NCCL_NVLS_ENABLE=0 exported (kiln refuses NCCL otherwise)");
  }

  private static float[] ramp(int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = 0.25f * i - 3f;
    return x;
  }

  @Test
  void allReduceOfOneRankIsTheInput() {
    Nccl nccl = Nccl.get();
    System.out.printf("NCCL %s (%s)%n", nccl.version(), nccl.libraryPath());
    int n = 1000;
    float[] input = ramp(n);
    try (Cuda cuda = Cuda.open(); DeviceArena arena = cuda.allocate(2L * n * Float.BYTES);
         Nccl.Communicator comm = nccl.init(1, nccl.uniqueId(), 0, Long.MAX_VALUE)) {
      arena.upload(input, 0, 0, n);
      arena.memsetZero(4L * n, 4L * n);
      comm.allReduce(arena.pointer(0), arena.pointer(4L * n), n, Nccl.DataType.FLOAT32, Nccl.Op.SUM, cuda.stream());
      assertArrayEquals(input, arena.downloadFloats(4L * n, n));
      comm.allReduce(arena.pointer(0), arena.pointer(0), n, Nccl.DataType.FLOAT32, Nccl.Op.AVG, cuda.stream()); // in place
      assertArrayEquals(input, arena.downloadFloats(0, n));
      comm.checkAsyncError();
    }
  }

  @Test
  void zeroStepCollectivesInPlace() {
    Nccl nccl = Nccl.get();
    ZeroShards z = ZeroShards.of(1000, 1);
    int padded = (int) z.paddedSize();
    assertEquals(1024, padded);
    float[] grads = ramp(padded);
    try (Cuda cuda = Cuda.open(); DeviceArena arena = cuda.allocate(4L * padded);
         Nccl.Communicator comm = nccl.init(1, nccl.uniqueId(), 0, Long.MAX_VALUE)) {
      arena.upload(grads, 0, 0, padded);
      nccl.groupStart();
      comm.reduce(arena.pointer(z.startBytes(0)), arena.pointer(z.startBytes(0)), z.shardSize(), Nccl.DataType.FLOAT32, Nccl.Op.SUM, 0,
          cuda.stream());
      nccl.groupEnd();
      comm.allGather(arena.pointer(z.startBytes(0)), arena.pointer(0), z.shardSize(), Nccl.DataType.FLOAT32, cuda.stream());
      assertArrayEquals(grads, arena.downloadFloats(0, padded));
    }
  }
}
