// The message of a failed compile, built from a fixed NVRTC log: runs everywhere, no NVRTC needed.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class NvrtcMessageTest {
  private static final String SOURCE = """
      // line 1
      extern "C" __global__ void k(float* y, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] = oops;
      }
      // line 6
      // line 7
      // line 8
      // line 9
      // line 10
      extern "C" __global__ void j(float* y) {
        y[0] = alsoOops
      }
      """;

  private static final String LOG = """
      k.cu(4): error: identifier "oops" is undefined
          if (i < n) y[i] = oops;
                            ^

      k.cu(12): error: expected a ";"
          y[0] = alsoOops
                         ^

      other.h(3): error: not in this file
      k.cu(13): warning #550-D: a warning is no error

      3 errors detected in the compilation of "k.cu".
      """;

  @Test
  void errorLinesAreTheFilesErrorsOnly() {
    assertEquals(new TreeSet<>(List.of(4, 12)), Nvrtc.errorLines(LOG, "k.cu"));
    assertEquals(new TreeSet<>(List.of(3)), Nvrtc.errorLines(LOG, "other.h"));
    assertEquals(new TreeSet<>(List.of(7)), Nvrtc.errorLines("kernels/a(b).cu(7): catastrophic error: cannot open source file \"x.h\"", "kernels/a(b).cu"));
    assertEquals(new TreeSet<>(), Nvrtc.errorLines("nvrtc: error: invalid value for --gpu-architecture (-arch)", "k.cu"));
  }

  @Test
  void excerptNumbersAndMarksLinesAndElidesGaps() {
    String expected = String.join("\n",
        "   2 | extern \"C\" __global__ void k(float* y, int n) {",
        "   3 |   int i = blockIdx.x * blockDim.x + threadIdx.x;",
        ">  4 |   if (i < n) y[i] = oops;",
        "   5 | }",
        "   6 | // line 6",
        "     ...",
        "  10 | // line 10",
        "  11 | extern \"C\" __global__ void j(float* y) {",
        "> 12 |   y[0] = alsoOops",
        "  13 | }",
        "  14 |",
        "");
    assertEquals(expected, Nvrtc.excerpt(SOURCE, new TreeSet<>(List.of(4, 12)), 2));
  }

  @Test
  void excerptIgnoresLinesOutsideTheSource() {
    assertEquals("", Nvrtc.excerpt("one line", new TreeSet<>(List.of(0, 5)), 2));
  }

  @Test
  void failureMessageHasStatusOptionsLogAndSourceLines() {
    String message = Nvrtc.failureMessage("k.cu", "a\nb\nc\nd;\n", List.of("--gpu-architecture=sm_90", "-lineinfo"),
        "NVRTC_ERROR_COMPILATION", "k.cu(4): error: expected a declaration\n\n1 error detected in the compilation of \"k.cu\".\n");
    assertEquals("""
        NVRTC could not compile k.cu (NVRTC_ERROR_COMPILATION)
        options: --gpu-architecture=sm_90 -lineinfo
        k.cu(4): error: expected a declaration

        1 error detected in the compilation of "k.cu".

        k.cu:
          2 | b
          3 | c
        > 4 | d;
          5 |""", message);
  }

  @Test
  void failureMessageWithoutLog() {
    assertEquals("""
        NVRTC could not compile k.cu (NVRTC_ERROR_INVALID_OPTION)
        options: --bogus
        (NVRTC wrote no log)""", Nvrtc.failureMessage("k.cu", "x", List.of("--bogus"), "NVRTC_ERROR_INVALID_OPTION", ""));
  }

  @Test
  void optionsStartWithTheArchAndHaveNoFastMath() {
    assertEquals(List.of("--gpu-architecture=sm_90", "-default-device", "--std=c++17", "-lineinfo"), Nvrtc.options("sm_90"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Nvrtc.options("compute_90"));
    assertEquals("arch must look like sm_90, found 'compute_90'", e.getMessage());
  }

  @Test
  void cacheKeyCoversSourceOptionsAndVersion() {
    Nvrtc.Version v13 = new Nvrtc.Version(13, 0);
    String key = Nvrtc.cacheKey("src", "k.cu", List.of("--gpu-architecture=sm_90"), v13);
    assertEquals(64, key.length());
    assertEquals(key, Nvrtc.cacheKey("src", "k.cu", List.of("--gpu-architecture=sm_90"), v13));
    assertNotEquals(key, Nvrtc.cacheKey("src ", "k.cu", List.of("--gpu-architecture=sm_90"), v13));
    assertNotEquals(key, Nvrtc.cacheKey("src", "k.cu", List.of("--gpu-architecture=sm_80"), v13));
    assertNotEquals(key, Nvrtc.cacheKey("src", "k.cu", List.of("--gpu-architecture=sm_90"), new Nvrtc.Version(13, 1)));
  }

  @Test
  void availabilityNeverThrows() {
    assertEquals(Nvrtc.available(), Nvrtc.unavailableReason().isEmpty());
    assertEquals(Cuda.available(), Cuda.unavailableReason().isEmpty());
  }
}
