// Tuner.search's choice on made-up timings: the fastest valid variant wins, but the default stays unless it is beaten by
// more than Tuner.MARGIN (a near-tie is the timing's spread, not a better tile).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import kiln.codegen.Schedule;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TunerSearchTest {
  private static Tuner.Result<Schedule> search(List<Schedule> space, double[] ms, TuningCache cache) {
    return Tuner.search("c", "1x8x8x8", space, space.getFirst(), i -> ms[i], cache, "dev", "k", new PrintStream(new ByteArrayOutputStream()));
  }

  @Test
  void theDefaultStaysWithinTheMarginAndLosesPastIt(@TempDir Path dir) {
    List<Schedule> space = Schedule.cpuSpace(16).subList(0, 3);   // the first is the default here
    TuningCache cache = TuningCache.load(dir.resolve("tuning.json"));
    Tuner.Result<Schedule> near = search(space, new double[] {1.000, 0.990, 1.200}, cache);
    assertEquals(space.get(0), near.best(), "1 % faster is within the margin: the default stays");
    assertEquals(1.000, near.bestMs());
    assertEquals(space.get(0).knobs(), cache.find("dev", "k", "1x8x8x8"));
    Tuner.Result<Schedule> far = search(space, new double[] {1.000, 1.100, 0.950}, cache);
    assertEquals(space.get(2), far.best(), "5 % faster replaces the default");
    assertEquals(1.000 / 0.950, far.speedup(), 1e-12);
    assertEquals(space.get(2).knobs(), cache.find("dev", "k", "1x8x8x8"));
    Tuner.Result<Schedule> broken = search(space, new double[] {Double.NaN, 0.995, 1.2}, cache);
    assertEquals(space.get(1), broken.best(), "a default that failed its check keeps nothing back");
    assertNull(search(space, new double[] {Double.NaN, Double.NaN, Double.NaN}, cache), "no valid variant, nothing stored");
  }
}
