// The training CSV (step,loss,val_loss,lr,grad_norm,ms,tok_per_s): one flushed row per step, readable back.
package kiln.runtime.train;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import kiln.runtime.format.AtomicFiles;

/** Empty cells stand for "not measured this step" (NaN), e.g. val_loss between evaluations. */
public final class TrainLog implements Closeable {
  public static final String HEADER = "step,loss,val_loss,lr,grad_norm,ms,tok_per_s";

  /** One step; NaN in any double means "not measured". */
  public record Row(int step, double loss, double valLoss, double lr, double gradNorm, double ms, double tokPerS) {}

  private final Path file;
  private final BufferedWriter out;

  private TrainLog(Path file, BufferedWriter out) {
    this.file = file;
    this.out = out;
  }

  /** A new log at {@code csv} (replacing any), header written. */
  public static TrainLog create(Path csv) throws IOException {
    Files.createDirectories(csv.toAbsolutePath().getParent());
    BufferedWriter out = Files.newBufferedWriter(csv, StandardCharsets.UTF_8);
    out.write(HEADER);
    out.newLine();
    out.flush();
    return new TrainLog(csv, out);
  }

  /**
   * Continues the log at {@code csv} for a run resumed at {@code fromStep}: rows of steps
   * {@code >= fromStep} (written after the checkpoint being resumed) are dropped first. Without a
   * file, the same as {@link #create}.
   */
  public static TrainLog resume(Path csv, int fromStep) throws IOException {
    if (!Files.exists(csv)) {
      return create(csv);
    }
    StringBuilder kept = new StringBuilder(HEADER).append(System.lineSeparator());
    for (Row r : read(csv)) {
      if (r.step() < fromStep) kept.append(format(r)).append(System.lineSeparator());
    }
    AtomicFiles.write(csv, out -> out.write(kept.toString().getBytes(StandardCharsets.UTF_8)));
    return new TrainLog(csv, Files.newBufferedWriter(csv, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
  }

  /** Appends one row and flushes it, so a crash loses at most the step in flight. */
  public void write(Row r) {
    try {
      out.write(format(r));
      out.newLine();
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file, e);
    }
  }

  public void write(int step, double loss, double valLoss, double lr, double gradNorm, double ms, double tokPerS) {
    write(new Row(step, loss, valLoss, lr, gradNorm, ms, tokPerS));
  }

  static String format(Row r) {
    return r.step() + "," + cell("%.6f", r.loss()) + "," + cell("%.6f", r.valLoss()) + "," + cell("%.6e", r.lr())
        + "," + cell("%.6f", r.gradNorm()) + "," + cell("%.3f", r.ms()) + "," + cell("%.1f", r.tokPerS());
  }

  private static String cell(String format, double v) {
    return Double.isNaN(v) ? "" : String.format(Locale.ROOT, format, v);
  }

  /** The rows of a log written by this class; a torn last line (a crash mid-write) is ignored. */
  public static List<Row> read(Path csv) throws IOException {
    List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
    if (lines.isEmpty() || !lines.getFirst().equals(HEADER)) {
      throw new IllegalArgumentException(csv + ": not a kiln training log (first line must be \"" + HEADER + "\")");
    }
    List<Row> rows = new ArrayList<>();
    for (int i = 1; i < lines.size(); i++) {
      String[] cells = lines.get(i).split(",", -1);
      if (cells.length != 7) {
        if (i == lines.size() - 1) {
          break;
        }
        throw new IllegalArgumentException(csv + ":" + (i + 1) + ": expected 7 comma-separated cells, found " + cells.length);
      }
      try {
        rows.add(new Row(Integer.parseInt(cells[0]), num(cells[1]), num(cells[2]), num(cells[3]), num(cells[4]),
            num(cells[5]), num(cells[6])));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(csv + ":" + (i + 1) + ": not a number: " + e.getMessage());
      }
    }
    return rows;
  }

  private static double num(String cell) {
    return cell.isEmpty() ? Double.NaN : Double.parseDouble(cell);
  }

  @Override
  public void close() throws IOException {
    out.close();
  }
}
