// Tests LossPlot: a non-empty PNG from points and from a training log, headless.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossPlotTest {
  static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  @TempDir
  Path tmp;

  @Test
  void writesAPngOfTheChartSize() throws IOException {
    List<LossPlot.Point> train = new ArrayList<>();
    for (int step = 0; step < 200; step++) {
      train.add(new LossPlot.Point(step, 11 * Math.exp(-step / 50.0) + 3));
    }
    train.add(new LossPlot.Point(200, Double.NaN));
    List<LossPlot.Point> val = List.of(new LossPlot.Point(0, 11), new LossPlot.Point(100, 4.8), new LossPlot.Point(199, 3.4));
    Path png = tmp.resolve("plots/loss.png");
    LossPlot.write(png, train, val);

    byte[] bytes = Files.readAllBytes(png);
    assertTrue(bytes.length > 5_000, "size " + bytes.length);
    assertArrayEquals(PNG_MAGIC, Arrays.copyOf(bytes, 8));
    BufferedImage image = ImageIO.read(png.toFile());
    assertEquals(LossPlot.WIDTH, image.getWidth());
    assertEquals(LossPlot.HEIGHT, image.getHeight());
    assertEquals("true", System.getProperty("java.awt.headless"));
  }

  @Test
  void plotsATrainingLog() throws IOException {
    Path csv = tmp.resolve("log.csv");
    try (TrainLog log = TrainLog.create(csv)) {
      for (int step = 0; step < 20; step++) {
        log.write(step, 10 - step * 0.3, step % 5 == 0 ? 10 - step * 0.25 : Double.NaN, 1e-3, 1, 10, 100);
      }
    }
    Path png = tmp.resolve("loss.png");
    LossPlot.writeRows(png, TrainLog.read(csv));
    assertTrue(Files.size(png) > 1000);
  }

  @Test
  void refusesToPlotNothing() {
    Path png = tmp.resolve("none.png");
    assertEquals("no finite loss values to plot into " + png, assertThrows(IllegalArgumentException.class,
        () -> LossPlot.write(png, List.of(new LossPlot.Point(0, Double.POSITIVE_INFINITY)))).getMessage());
  }
}
