// loss.png: training (and validation) loss against step, drawn with XChart, safe without a display
// or system fonts.
package kiln.runtime.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import kiln.runtime.format.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

public final class LossPlot {
  static {
    // Before any AWT class loads: a training box has no display, and XChart renders through Java2D.
    System.setProperty("java.awt.headless", "true");
    // ...and may have no fonts either: the text is drawn with the bundled font.
    PlotFont.install();
  }

  public static final int WIDTH = 900;
  public static final int HEIGHT = 540;

  /** One measured loss. */
  public record Point(int step, double loss) {}

  private LossPlot() {}

  /** One run's losses under a label (the series are named "label train", "label val"; "train", "val" when unlabelled). */
  public record Run(String label, List<Point> train, List<Point> val) {}

  /**
   * Several runs in one PNG, each a line for its train losses and markers for its val losses (either may be empty; kiln
   * plot: bf16 against tf32, say). Points with a non-finite loss (a diverged step) are left out. Replaces {@code png}
   * atomically.
   */
  public static void writeRuns(Path png, List<Run> runs) throws IOException {
    XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title("loss").xAxisTitle("step").yAxisTitle("loss").build();
    chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
    boolean any = false;
    for (Run r : runs) {
      String prefix = r.label().isEmpty() ? "" : r.label() + " ";
      List<Point> t = finite(r.train());
      List<Point> v = finite(r.val());
      if (!t.isEmpty()) chart.addSeries(prefix + "train", steps(t), losses(t)).setMarker(SeriesMarkers.NONE);
      if (!v.isEmpty()) chart.addSeries(prefix + "val", steps(v), losses(v)).setMarker(SeriesMarkers.CIRCLE);
      any |= !t.isEmpty() || !v.isEmpty();
    }
    if (!any) {
      throw new IllegalArgumentException("no finite loss values to plot into " + png);
    }
    Files.createDirectories(png.toAbsolutePath().getParent());
    AtomicFiles.write(png, out -> BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG));
  }

  /** The plot of a training log: its loss column as the line, its val_loss cells as markers. */
  public static void writeRows(Path png, List<TrainLog.Row> rows) throws IOException {
    writeRuns(png, List.of(run("", rows)));
  }

  /** A training log's rows as a labelled run. */
  public static Run run(String label, List<TrainLog.Row> rows) {
    return new Run(label, rows.stream().map(r -> new Point(r.step(), r.loss())).toList(),
        rows.stream().map(r -> new Point(r.step(), r.valLoss())).toList());
  }

  private static List<Point> finite(List<Point> points) {
    return points.stream().filter(p -> Double.isFinite(p.loss())).toList();
  }

  private static double[] steps(List<Point> points) {
    return points.stream().mapToDouble(Point::step).toArray();
  }

  private static double[] losses(List<Point> points) {
    return points.stream().mapToDouble(Point::loss).toArray();
  }
}
