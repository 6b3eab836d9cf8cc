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
}
