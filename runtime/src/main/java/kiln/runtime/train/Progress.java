// A console progress bar (me.tongfei.progressbar): step/total, loss, tok/s and ETA while training.
package kiln.runtime.train;

import java.io.Console;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Consumer;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * On a terminal, a bar redrawn in place every half second on stderr. Elsewhere (a log file, CI),
 * one plain line every {@link #LOG_INTERVAL_MS} and one at the end, to the given writer, so logs
 * stay short.
 */
public final class Progress implements AutoCloseable {
  static final int TERMINAL_INTERVAL_MS = 500;
  static final int LOG_INTERVAL_MS = 30_000;

  private final ProgressBar bar;

  private Progress(ProgressBar bar) {
    this.bar = bar;
  }

  /**
   * Training steps {@code [start, total)}; the ETA counts only the steps run by this process. Off a
   * terminal, the plain lines go to {@code log}.
   */
  public static Progress steps(long start, long total, PrintWriter log) {
    Progress p = new Progress(builder("train", interactive(), log).setInitialMax(total).startsFrom(start, Duration.ZERO).build());
    // The first step takes several times the next ones (on the CPU the JIT is still compiling the
    // kernels' vector code): say so while the bar sits at its first step; update() replaces it.
    p.bar.setExtraMessage("first step: warming up");
    return p;
  }

  /** A task measured in units of {@code unitName}, e.g. characters tokenized. */
  public static Progress of(String task, long total, String unitName, long unitSize, PrintWriter log) {
    return new Progress(builder(task, interactive(), log).setInitialMax(total).setUnit(unitName, unitSize).showSpeed().build());
  }

  /** Whether stdin and stdout are a terminal, so redrawing in place is worth it. */
  public static boolean interactive() {
    Console console = System.console();
    return console != null && console.isTerminal();
  }

  static ProgressBarBuilder builder(String task, boolean terminal, PrintWriter log) {
    ProgressBarBuilder b = ProgressBar.builder().setTaskName(task).setStyle(ProgressBarStyle.ASCII);
    if (terminal) {
      return b.setUpdateIntervalMillis(TERMINAL_INTERVAL_MS);
    }
    return b.setUpdateIntervalMillis(LOG_INTERVAL_MS).setConsumer(new DelegatingProgressBarConsumer(new Lines(log), 100));
  }

  /** Prints each rendering on its own line, skipping a repeat of the previous one (close renders twice). */
  private static final class Lines implements Consumer<String> {
    private final PrintWriter log;
    private String last;

    Lines(PrintWriter log) {
      this.log = log;
    }

    @Override
    public synchronized void accept(String line) {
      if (!line.equals(last)) {
        log.println(line);
        log.flush();
        last = line;
      }
    }
  }

  /** {@code done} steps finished (step s done: s + 1), the last loss and throughput (NaN leaves one out). */
  public void update(long done, double loss, double tokPerS) {
    bar.stepTo(done);
    StringBuilder extra = new StringBuilder();
    if (!Double.isNaN(loss)) {
      extra.append(String.format(Locale.ROOT, "loss %.4f", loss));
    }
    if (!Double.isNaN(tokPerS)) {
      extra.append(extra.isEmpty() ? "" : "  ").append(String.format(Locale.ROOT, "%,.0f tok/s", tokPerS));
    }
    bar.setExtraMessage(extra.toString());
  }

  public void stepBy(long n) {
    bar.stepBy(n);
  }

  public long current() {
    return bar.getCurrent();
  }

  @Override
  public void close() {
    bar.close();
  }
}
