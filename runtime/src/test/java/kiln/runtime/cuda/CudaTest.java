// The CUDA runtime on a real device: NVRTC cubin -> module -> launches on the one-allocation arena,
// mutable launch arguments, a captured graph, event timing, out-of-memory and lookup messages.
// Skips where there is no device.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import kiln.runtime.cuda.Launch.Dim3;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("gpu")
class CudaTest {
  static final String KERNELS = NvrtcTest.SAXPY + """
      // y *= s over n floats
      extern "C" __global__ void scale(float* y, float s, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] *= s;
      }
      // out[i] = i + offset, ints
      extern "C" __global__ void iota(int* out, int offset, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) out[i] = i + offset;
      }
      """;

  /** Keeps the primary context alive across tests, so each test's own Cuda counts only its allocations. */
  static Cuda keeper;
  static byte[] cubin;

  @TempDir static Path cache;

  /** Per test rather than in @BeforeAll, so each test is reported as skipped where there is no device. */
  @BeforeEach
  void needDevice() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device");
    Assumptions.assumeTrue(Nvrtc.available(), () -> "NVRTC not found: " + Nvrtc.unavailableReason());
  }

  @BeforeAll
  static void open() {
    if (!Cuda.available() || !Nvrtc.available()) return;
    keeper = Cuda.open();
    System.out.printf("device: %s, arch %s, %d SMs, %s free of %s; driver %s; NVRTC %s (%s)%n", keeper.name(), keeper.arch(),
        keeper.multiprocessors(), Cuda.human(keeper.freeBytes()), Cuda.human(keeper.totalBytes()), Cuda.driverVersion(),
        Nvrtc.version(), Nvrtc.libraryPath());
    Nvrtc cold = new Nvrtc(cache);
    cubin = cold.compile(KERNELS, "kernels.cu", keeper.arch());
    Nvrtc warm = new Nvrtc(cache);
    warm.compile(KERNELS, "kernels.cu", keeper.arch());
    System.out.printf("kernels.cu for %s: cold compile %.1f ms, warm (cache hit) %.2f ms, cubin %d bytes%n", keeper.arch(),
        cold.stats().coldMs(), warm.stats().warmMs(), cubin.length);
    assertEquals(1, warm.stats().warm());
  }

  @AfterAll
  static void close() {
    if (keeper != null) keeper.close();
  }

  @Test
  void saxpyOnArenaOffsets() {
    int n = 1_000_003; // not a multiple of the block
    long xOff = 256, yOff = xOff + 4L * n + 128; // nonzero, distinct offsets inside the one allocation
    float[] x = new float[n], y = new float[n];
    for (int i = 0; i < n; i++) { x[i] = (i % 1000) * 0.001f - 0.5f; y[i] = (i % 77) * 0.25f; }
    try (Cuda cuda = Cuda.open(); Cuda.Module module = cuda.load("kernels.cu", cubin); DeviceArena arena = cuda.allocate(yOff + 4L * n)) {
      Kernel saxpy = module.kernel("saxpy");
      System.out.printf("saxpy: %d registers%n", saxpy.registers());
      arena.memsetZero();
      arena.upload(x, 0, xOff, n);
      arena.upload(y, 0, yOff, n);
      Launch launch = Launch.of(saxpy, Launch.cover(n, 256), Dim3.of(256), 0, arena.pointer(yOff), arena.pointer(xOff), 2.5f, n);
      cuda.launch(launch);
      float[] out = arena.downloadFloats(yOff, n);
      double maxDiff = 0;
      for (int i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - (2.5f * x[i] + y[i])));
      System.out.println("saxpy max abs diff vs Java: " + maxDiff);
      assertTrue(maxDiff <= 1e-5, "max abs diff " + maxDiff);
      assertEquals(0f, arena.downloadFloats(0, 64)[63], "the bytes before x stay zero");
      assertEquals(1, cuda.allocationCount());
    }
  }

  @Test
  void mutableCellIsReadAtEachLaunchAndIntsRoundTrip() {
    int n = 4096;
    try (Cuda cuda = Cuda.open(); Cuda.Module module = cuda.load("kernels.cu", cubin); DeviceArena arena = cuda.allocate(8L * n)) {
      float[] factor = {2f};
      Launch scale = Launch.of(module.kernel("scale"), Launch.cover(n, 128), Dim3.of(128), 0, arena.pointer(0), factor, n);
      float[] ones = new float[n];
      java.util.Arrays.fill(ones, 1f);
      arena.upload(ones, 0, 0, n);
      cuda.launch(scale);
      factor[0] = 3f;
      cuda.launch(scale);
      assertEquals(6f, arena.downloadFloats(0, n)[n - 1]);

      Launch iota = Launch.of(module.kernel("iota"), Launch.cover(n, 128), Dim3.of(128), 0, arena.pointer(4L * n), 7, n);
      cuda.launch(iota);
      int[] ints = new int[n + 2];
      arena.download(4L * n, ints, 2, n);
      assertEquals(List.of(0, 0, 7, 8), List.of(ints[0], ints[1], ints[2], ints[3]));
      assertEquals(n - 1 + 7, ints[n + 1]);
      arena.upload(new int[] {-1, -2, -3}, 1, 4L * n, 2);
      arena.download(4L * n, ints, 0, 3);
      assertEquals(List.of(-2, -3, 9), List.of(ints[0], ints[1], ints[2]));
      assertEquals(1, cuda.allocationCount());
    }
  }

  @Test
  void capturedGraphReplaysLaunchesAndTimingWorks() {
    int n = 1 << 24;
    try (Cuda cuda = Cuda.open(); Cuda.Module module = cuda.load("kernels.cu", cubin); DeviceArena arena = cuda.allocate(8L * n)) {
      Kernel saxpy = module.kernel("saxpy");
      Launch step = Launch.of(saxpy, Launch.cover(n, 256), Dim3.of(256), 0, arena.pointer(4L * n), arena.pointer(0), 1f, n);
      float[] x = new float[n];
      java.util.Arrays.fill(x, 0.5f);
      arena.memsetZero();
      arena.upload(x, 0, 0, n);
      try (Cuda.Graph graph = cuda.capture(() -> {
            arena.memsetZero(4L * n, 4L * n);
            for (int i = 0; i < 4; i++) cuda.launch(step);
          })) {
        assertEquals(0f, arena.downloadFloats(4L * n, 1)[0], "capture does not run the launches");
        graph.launch();
        graph.launch(); // the memset restarts y each replay
        assertEquals(2f, arena.downloadFloats(4L * n, n)[n - 1]);

        int reps = 50;
        try (Cuda.Event start = cuda.event(); Cuda.Event end = cuda.event()) {
          cuda.launch(step); // warm up
          start.record();
          for (int i = 0; i < reps; i++) cuda.launch(step);
          end.record();
          float ms = start.elapsedMs(end);
          double gbs = reps * 12.0 * n / (ms * 1e6);
          System.out.printf("saxpy on %d floats: %.3f ms per launch, %.0f GB/s%n", n, ms / reps, gbs);
          assertTrue(ms > 0, "elapsed " + ms);

          start.record();
          for (int i = 0; i < reps; i++) graph.launch();
          end.record();
          System.out.printf("graph of memset + 4 saxpy: %.3f ms per replay%n", start.elapsedMs(end) / reps);
        }
      }
      assertEquals(1, cuda.allocationCount());
    }
  }

  @Test
  void outOfMemorySaysNeededAndFree() {
    try (Cuda cuda = Cuda.open()) {
      long tooMuch = cuda.totalBytes() + (1L << 30);
      CudaException e = assertThrows(CudaException.class, () -> cuda.allocate(tooMuch));
      System.out.println(e.getMessage());
      String prefix = "device arena: cannot allocate " + Cuda.human(tooMuch) + " (" + tooMuch + " bytes) on " + cuda.name() + ": ";
      assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
      assertTrue(e.getMessage().matches(".*: \\d+\\.\\d [KMGT]iB \\(\\d+ bytes\\) free of " + java.util.regex.Pattern.quote(Cuda.human(cuda.totalBytes()))),
          e.getMessage());
      assertEquals(0, cuda.allocationCount());
    }
  }

  @Test
  void missingKernelAndOutOfRangeMessages() {
    try (Cuda cuda = Cuda.open(); Cuda.Module module = cuda.load("kernels.cu", cubin); DeviceArena arena = cuda.allocate(1024)) {
      CudaException e = assertThrows(CudaException.class, () -> module.kernel("nope"));
      assertTrue(e.getMessage().startsWith("module kernels.cu has no kernel 'nope' (kernels must be declared extern \"C\"): "), e.getMessage());
      IndexOutOfBoundsException oob = assertThrows(IndexOutOfBoundsException.class, () -> arena.upload(new float[8], 0, 1000, 8));
      assertEquals("device arena: upload of 32 bytes at offset 1000 is outside the arena's 1024 bytes", oob.getMessage());
      CudaException bad = assertThrows(CudaException.class, () -> cuda.load("garbage", new byte[] {1, 2, 3, 4}));
      assertTrue(bad.getMessage().startsWith("cannot load module garbage (4 bytes of cubin) on " + cuda.name()), bad.getMessage());
      assertEquals(1, cuda.allocationCount());
    }
  }
}
