// Tests LossPlot: a non-empty PNG from points and from a training log, headless, and on a machine
// with no system fonts (a child JVM whose fontconfig sees none).
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
    LossPlot.writeRuns(png, List.of(new LossPlot.Run("", train, val)));

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
        () -> LossPlot.writeRuns(png, List.of(new LossPlot.Run("", List.of(new LossPlot.Point(0, Double.POSITIVE_INFINITY)), List.of()))))
        .getMessage());
  }

  /**
   * A child JVM with fontconfig pointed at a configuration that lists no font directory, and a
   * fresh home (the JDK caches what fontconfig said under ~/.java/fonts). First a control: plain
   * Java2D text must fail there as it does on a bare server, which proves the fonts are hidden; then
   * LossPlot must write a full-size PNG whose title and axis labels were actually drawn.
   */
  @Test
  void writesAPlotWithNoSystemFonts() throws Exception {
    Path conf = tmp.resolve("no-fonts.conf");
    Files.writeString(conf, "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
        + "<fontconfig><cachedir>" + tmp.resolve("fc-cache") + "</cachedir></fontconfig>\n");
    Files.createDirectories(tmp.resolve("home"));

    Child control = child(conf, "text", tmp.resolve("unused.png"));
    assumeTrue(control.code() != 0, "fonts could not be hidden from this JVM (plain text drew fine):\n" + control.err());
    assertTrue(control.err().contains("Fontconfig head is null"), control.err());

    Path png = tmp.resolve("loss.png");
    Child plot = child(conf, "plot", png);
    assertEquals(0, plot.code(), plot.err());
    byte[] bytes = Files.readAllBytes(png);
    assertArrayEquals(PNG_MAGIC, Arrays.copyOf(bytes, 8));
    BufferedImage image = ImageIO.read(png.toFile());
    assertEquals(LossPlot.WIDTH, image.getWidth());
    assertEquals(LossPlot.HEIGHT, image.getHeight());
    // The title "loss" sits centred in the top 30 rows, above the plot box: ink there is text.
    int ink = 0;
    for (int y = 0; y < 30; y++) {
      for (int x = LossPlot.WIDTH / 2 - 40; x < LossPlot.WIDTH / 2 + 40; x++) {
        if ((image.getRGB(x, y) & 0xff) < 128) {
          ink++;
        }
      }
    }
    assertTrue(ink > 20, "no title drawn: " + ink + " dark pixels");
  }

  record Child(int code, String err) {}

  private Child child(Path fontconfig, String mode, Path png) throws IOException, InterruptedException {
    Path home = tmp.resolve("home");
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Duser.home=" + home, "-Xmx256m", "-cp", System.getProperty("java.class.path"), NoFonts.class.getName(), mode, png.toString());
    pb.environment().put("FONTCONFIG_FILE", fontconfig.toString());
    pb.environment().remove("FONTCONFIG_PATH");
    pb.environment().put("HOME", home.toString());
    Path err = tmp.resolve(mode + ".err");
    Process p = pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), mode + " timed out");
    return new Child(p.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
  }

  /** The child: {@code text} draws a string with Java2D alone; {@code plot PNG} writes a loss plot. */
  public static final class NoFonts {
    public static void main(String[] args) throws IOException {
      if (args[0].equals("text")) {
        System.setProperty("java.awt.headless", "true");
        BufferedImage image = new BufferedImage(100, 20, BufferedImage.TYPE_INT_RGB);
        image.createGraphics().drawString("loss", 2, 15);
        return;
      }
      List<LossPlot.Point> train = new ArrayList<>();
      for (int step = 0; step < 100; step++) {
        train.add(new LossPlot.Point(step, 10 * Math.exp(-step / 30.0) + 3));
      }
      LossPlot.writeRuns(Path.of(args[1]), List.of(new LossPlot.Run("", train, List.of(new LossPlot.Point(50, 4.5)))));
    }
  }
}
