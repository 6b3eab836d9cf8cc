// Why CUDA is unavailable, in one short line: JCuda's load failure carries ~3 KB of nested stack traces. Runs everywhere.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CudaReasonTest {
  /** The shape of the message JCuda's LibUtils throws when libcuda.so.1 is missing (abridged). */
  private static final String JCUDA_NO_DRIVER = """
      Error while loading native library "JCudaDriver-12.6.0-linux-x86_64"
      Operating system name: Linux
      Architecture         : amd64
      Architecture bit size: 64
      ---(start of nested stack traces)---
      Stack trace from the attempt to load the library as a file:
      java.lang.UnsatisfiedLinkError: no JCudaDriver-12.6.0-linux-x86_64 in java.library.path: /usr/lib
      \tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2285)
      Stack trace from the attempt to load the library as a resource:
      java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file: No such file or directory
      \tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)
      ---(end of nested stack traces)---
      """;

  @Test
  void aMissingDriverIsNamed() {
    assertEquals("the NVIDIA driver library libcuda.so.1 is not installed", Cuda.reason(new UnsatisfiedLinkError(JCUDA_NO_DRIVER)));
  }

  @Test
  void anyOtherFailureKeepsItsFirstLineOnly() {
    String other = JCUDA_NO_DRIVER.replace("libcuda.so.1: cannot open shared object file", "wrong ELF class: ELFCLASS32");
    assertEquals("CUDA driver not usable: UnsatisfiedLinkError: Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"",
        Cuda.reason(new UnsatisfiedLinkError(other)));
    assertEquals("CUDA driver not usable: IllegalStateException: " + "x".repeat(157) + "...",
        Cuda.reason(new IllegalStateException("x".repeat(300))));
    assertEquals("CUDA driver not usable: NoClassDefFoundError", Cuda.reason(new NoClassDefFoundError()));
  }
}
