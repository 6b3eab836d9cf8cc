// Tests KernelCompiler: a kernel compiled in memory runs, its class bytes are cached on disk, and
// the "compiling N Java kernels" line appears on a cache miss only.
package kiln.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import kiln.codegen.Rendered;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelCompilerTest {
  @TempDir
  Path cache;

  static final Rendered DOUBLER = new Rendered("map", "KernelCompilerTestDoubler", """
      package kiln.generated;
      public final class KernelCompilerTestDoubler implements kiln.codegen.CpuKernel {
        public void run(float[] F, int[] I, int[] a, int lo, int hi, float[] scratch) {
          for (int i = lo; i < hi; i++) F[a[1] + i] = 2 * F[a[0] + i];
        }
      }
      """, List.of(), List.of(), null);

  record Run(KernelCompiler.Compiled compiled, String err) {}

  private static Run capturingStderr(Supplier<KernelCompiler.Compiled> work) {
    PrintStream saved = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      return new Run(work.get(), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setErr(saved);
    }
  }

  @Test
  void saysWhatItCompilesOnceThenUsesTheCache() throws Exception {
    Run cold = capturingStderr(() -> new KernelCompiler(cache).compile(List.of(DOUBLER)));
    assertEquals(1, cold.compiled().compiled());
    assertEquals("kiln: compiling 1 Java kernel (once; cached in " + cache + ")...\n", cold.err());
    assertEquals(true, Files.isRegularFile(cache.resolve("KernelCompilerTestDoubler.class")));

    Run warm = capturingStderr(() -> new KernelCompiler(cache).compile(List.of(DOUBLER)));
    assertEquals(0, warm.compiled().compiled());
    assertEquals("", warm.err());

    float[] f = {1, 2, 3, 0, 0, 0};
    warm.compiled().kernels().get("KernelCompilerTestDoubler").run(f, new int[0], new int[] {0, 3}, 0, 3, new float[0]);
    assertArrayEquals(new float[] {1, 2, 3, 2, 4, 6}, f);
  }
}
