// `kiln plot`: two training logs into one PNG; a missing log or a label count that does not match is one line.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import kiln.runtime.train.TrainLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotCommandTest {
  private static Path log(Path dir, double start) throws IOException {
    Files.createDirectories(dir);
    try (TrainLog log = TrainLog.create(dir.resolve("log.csv"))) {
      for (int step = 1; step <= 20; step++) log.write(step, start / step, step % 10 == 0 ? start / step + 0.1 : Double.NaN, 1e-3, 1, 10, 1000);
    }
    return dir;
  }

  @Test void twoRunsInOnePng(@TempDir Path tmp) throws IOException {
    Path a = log(tmp.resolve("bf16"), 10), b = log(tmp.resolve("tf32"), 11);
    Path png = tmp.resolve("both.png");
    var r = TrainCommandTest.run(List.of("plot", "--out", png.toString(), "--label", "bf16", "--label", "tf32", a.toString(), b.resolve("log.csv").toString()));
    assertEquals(0, r.code(), r.err());
    byte[] head = Arrays.copyOf(Files.readAllBytes(png), 4);
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, head);
  }

  @Test void aMissingLogIsOneLine(@TempDir Path tmp) throws IOException {
    Path a = log(tmp.resolve("a"), 10);
    Path png = tmp.resolve("x.png");
    var r = TrainCommandTest.run(List.of("plot", "--out", png.toString(), a.toString(), tmp.resolve("nope").toString()));
    assertEquals(1, r.code());
    assertEquals("kiln: " + tmp.resolve("nope") + ": no training log (a run directory holds log.csv)", r.err().strip());
    assertFalse(Files.exists(png), "nothing written");
    r = TrainCommandTest.run(List.of("plot", "--out", png.toString(), "--label", "one", a.toString(), a.toString()));
    assertEquals(1, r.code());
    assertTrue(r.err().strip().startsWith("kiln: --label: one per RUN (2), found 1"), r.err());
  }
}
