// Real NVRTC compiles: cubins, the disk cache, parallel compileAll and compile-error messages.
// Tagged gpu because libnvrtc ships on the GPU machines; needs no device, so it also runs wherever
// KILN_NVRTC (or -Dkiln.nvrtc) points at a libnvrtc. Skips when none is found.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("gpu")
class NvrtcTest {
  static final String SAXPY = """
      // y = a * x + y over n floats
      extern "C" __global__ void saxpy(float* y, const float* x, float a, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] = a * x[i] + y[i];
      }
      """;

  static final String BROKEN = """
      extern "C" __global__ void broken(float* y, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] = undefinedName;
      }
      """;

  @TempDir Path cache;

  @BeforeEach
  void needNvrtc() {
    Assumptions.assumeTrue(Nvrtc.available(), () -> "NVRTC not found: " + Nvrtc.unavailableReason());
  }

  /** ELF magic: NVRTC returned a cubin, not PTX. */
  static void assertCubin(byte[] cubin) {
    assertTrue(cubin.length > 64, "cubin of " + cubin.length + " bytes");
    assertArrayEquals(new byte[] {0x7f, 'E', 'L', 'F'}, java.util.Arrays.copyOf(cubin, 4));
  }

  @Test
  void compilesToACubin() {
    System.out.println("NVRTC " + Nvrtc.version() + " from " + Nvrtc.libraryPath());
    assertCubin(new Nvrtc(null).compile(SAXPY, "saxpy.cu", "sm_90"));
  }

  @Test
  void secondCompileIsACacheHit() throws IOException {
    Nvrtc first = new Nvrtc(cache);
    byte[] cold = first.compile(SAXPY, "saxpy.cu", "sm_90");
    assertEquals(1, first.stats().cold());
    assertEquals(0, first.stats().warm());
    List<Path> files;
    try (Stream<Path> s = Files.list(cache)) {
      files = s.toList();
    }
    assertEquals(1, files.size(), "one cubin and no temp files: " + files);
    assertTrue(files.getFirst().getFileName().toString().matches("[0-9a-f]{64}\\.cubin"), files.toString());

    Nvrtc second = new Nvrtc(cache); // a fresh compiler, as in the next run of the program
    byte[] warm = second.compile(SAXPY, "saxpy.cu", "sm_90");
    assertArrayEquals(cold, warm);
    assertEquals(new CompileStats(0, second.stats().coldMs(), 1, second.stats().warmMs()), second.stats());
    System.out.printf("saxpy.cu: cold compile %.1f ms, warm (cache) %.2f ms%n", first.stats().coldMs(), second.stats().warmMs());

    second.compile(SAXPY, "saxpy.cu", "sm_80"); // other options (another arch): a miss
    assertEquals(1, second.stats().cold());
  }

  @Test
  void compileAllKeepsOrderAndCompilesInParallel() {
    Map<String, String> sources = new LinkedHashMap<>();
    for (int i = 0; i < 6; i++) sources.put("k" + i + ".cu", SAXPY.replace("saxpy", "saxpy" + i));
    Nvrtc nvrtc = new Nvrtc(cache);
    long start = System.nanoTime();
    Map<String, byte[]> cubins = nvrtc.compileAll(sources, "sm_90");
    double wallMs = (System.nanoTime() - start) / 1e6;
    assertEquals(List.copyOf(sources.keySet()), List.copyOf(cubins.keySet()));
    cubins.values().forEach(NvrtcTest::assertCubin);
    assertEquals(6, nvrtc.stats().cold());
    nvrtc.compileAll(sources, "sm_90");
    assertEquals(6, nvrtc.stats().warm());
    System.out.printf("compileAll of 6 on %d cores: %.1f ms wall; %s%n", Runtime.getRuntime().availableProcessors(), wallMs, nvrtc.stats());
  }

  @Test
  void compileErrorShowsLogAndOffendingLines() {
    CudaException e = assertThrows(CudaException.class, () -> new Nvrtc(cache).compile(BROKEN, "broken.cu", "sm_90"));
    String m = e.getMessage();
    System.out.println(m);
    assertTrue(m.startsWith("""
        NVRTC could not compile broken.cu (NVRTC_ERROR_COMPILATION)
        options: --gpu-architecture=sm_90 -default-device --std=c++17 -lineinfo
        broken.cu(3): error: identifier "undefinedName" is undefined"""), m);
    assertTrue(m.endsWith("""
        broken.cu:
          1 | extern "C" __global__ void broken(float* y, int n) {
          2 |   int i = blockIdx.x * blockDim.x + threadIdx.x;
        > 3 |   if (i < n) y[i] = undefinedName;
          4 | }
          5 |"""), m);
    assertEquals(0, new Nvrtc(cache).stats().cold());
  }

  @Test
  void compileAllReportsEveryFailure() {
    Map<String, String> sources = new LinkedHashMap<>();
    sources.put("good.cu", SAXPY);
    sources.put("bad1.cu", BROKEN);
    sources.put("bad2.cu", BROKEN.replace("undefinedName", "otherName"));
    CudaException e = assertThrows(CudaException.class, () -> new Nvrtc(cache).compileAll(sources, "sm_90"));
    assertTrue(e.getMessage().startsWith("2 of 3 kernels failed to compile\n\nNVRTC could not compile bad1.cu"), e.getMessage());
    assertTrue(e.getMessage().contains("NVRTC could not compile bad2.cu"), e.getMessage());
    assertEquals(2, e.getSuppressed().length);
  }
}
