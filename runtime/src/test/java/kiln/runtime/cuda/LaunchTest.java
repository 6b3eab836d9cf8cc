// Launch argument and dimension checks: plain Java, runs everywhere.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import jcuda.driver.CUfunction;
import kiln.runtime.cuda.Launch.Dim3;
import org.junit.jupiter.api.Test;

class LaunchTest {
  private final Kernel kernel = new Kernel("k", new CUfunction());

  @Test
  void coverRoundsUp() {
    assertEquals(Dim3.of(4), Launch.cover(1000, 256));
    assertEquals(Dim3.of(1), Launch.cover(0, 256));
    assertEquals(Dim3.of(3907), Launch.cover(1_000_003, 256));
  }

  @Test
  void keepsArgumentsAndDescribesItself() {
    Launch l = Launch.of(kernel, Dim3.of(4, 2), Dim3.of(256), 128, 3, 1.5f, 7L, new int[] {1});
    assertEquals(4, l.args().size());
    assertEquals("k<<<(4, 2, 1), (256, 1, 1), 128>>>", l.toString());
  }

  @Test
  void rejectsBadArguments() {
    assertEquals("k: argument 1 is a Double; expected a CUdeviceptr, Integer, Float, Long or a one-element int[]/float[]/long[] cell",
        assertThrows(IllegalArgumentException.class, () -> Launch.of(kernel, Dim3.of(1), Dim3.of(1), 0, 1, 2.0)).getMessage());
    assertEquals("k: argument 0 is a int[]; expected a CUdeviceptr, Integer, Float, Long or a one-element int[]/float[]/long[] cell",
        assertThrows(IllegalArgumentException.class, () -> Launch.of(kernel, Dim3.of(1), Dim3.of(1), 0, (Object) new int[2])).getMessage());
    assertEquals("k: argument 0 is null",
        assertThrows(IllegalArgumentException.class, () -> Launch.of(kernel, Dim3.of(1), Dim3.of(1), 0, (Object) null)).getMessage());
    assertEquals("k: block (32, 32, 2) has more than 1024 threads",
        assertThrows(IllegalArgumentException.class, () -> Launch.of(kernel, Dim3.of(1), Dim3.of(32, 32, 2), 0)).getMessage());
    assertEquals("launch dimensions must be positive, found (0, 1, 1)",
        assertThrows(IllegalArgumentException.class, () -> Dim3.of(0)).getMessage());
  }

  @Test
  void humanSizes() {
    assertEquals("512 B", Cuda.human(512));
    assertEquals("1.5 KiB", Cuda.human(1536));
    assertEquals("80.0 GiB", Cuda.human(80L << 30));
  }
}
