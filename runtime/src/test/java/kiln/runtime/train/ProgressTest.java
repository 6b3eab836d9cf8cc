// Tests Progress off a terminal: whole lines, no carriage-return redraws, no repeated final line.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import me.tongfei.progressbar.ProgressBar;
import org.junit.jupiter.api.Test;

class ProgressTest {
  @Test
  void offATerminalPrintsPlainLines() {
    StringWriter log = new StringWriter();
    ProgressBar bar = Progress.builder("train", false, new PrintWriter(log)).setInitialMax(10).build();
    try (bar) {
      bar.stepTo(10);
      bar.setExtraMessage("loss 3.1416");
    }
    String text = log.toString();
    List<String> lines = text.lines().toList();
    assertFalse(text.contains("\r"), text);
    assertTrue(lines.size() <= 2, text);
    assertTrue(lines.getLast().contains("10/10") && lines.getLast().contains("loss 3.1416"), text);
  }

  @Test
  void saysTheFirstStepIsWarmingUpUntilAStepIsDone() {
    StringWriter log = new StringWriter();
    try (Progress p = Progress.steps(0, 5, new PrintWriter(log))) {
      assertTrue(p.current() == 0);
    }
    assertTrue(log.toString().lines().toList().getLast().contains("0/5 (0:00:00 / ?) first step: warming up"), log.toString());

    StringWriter after = new StringWriter();
    try (Progress p = Progress.steps(0, 5, new PrintWriter(after))) {
      p.update(1, 3.0, 100);
    }
    String last = after.toString().lines().toList().getLast();
    assertTrue(last.contains("1/5") && last.contains("loss 3.0000") && !last.contains("warming up"), after.toString());
  }
}
