// Tests TrainLog: exact CSV text, flushed per row, read back, resume dropping steps after the checkpoint.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainLogTest {
  @TempDir
  Path tmp;

  @Test
  void rowsAreFlushedAsWrittenWithEmptyCellsForNaN() throws IOException {
    Path csv = tmp.resolve("run/log.csv");
    try (TrainLog log = TrainLog.create(csv)) {
      log.write(0, 10.987654321, Double.NaN, 6e-5, 3.25, 812.5, 10081.26);
      assertEquals(List.of(TrainLog.HEADER, "0,10.987654,,6.000000e-05,3.250000,812.500,10081.3"), Files.readAllLines(csv));
      log.write(1, 9.5, 9.75, 1.2e-4, Double.NaN, 400, 20000);
    }
    assertEquals(List.of(
        "step,loss,val_loss,lr,grad_norm,ms,tok_per_s",
        "0,10.987654,,6.000000e-05,3.250000,812.500,10081.3",
        "1,9.500000,9.750000,1.200000e-04,,400.000,20000.0"), Files.readAllLines(csv));
    List<TrainLog.Row> rows = TrainLog.read(csv);
    assertEquals(new TrainLog.Row(1, 9.5, 9.75, 1.2e-4, Double.NaN, 400, 20000), rows.get(1));
    assertEquals(Double.NaN, rows.get(0).valLoss());
  }

  @Test
  void resumeDropsStepsFromTheResumedOne() throws IOException {
    Path csv = tmp.resolve("log.csv");
    try (TrainLog log = TrainLog.create(csv)) {
      for (int step = 0; step < 5; step++) {
        log.write(step, 5 - step, Double.NaN, 1e-3, 1, 10, 100);
      }
    }
    try (TrainLog log = TrainLog.resume(csv, 3)) {
      log.write(3, 0.5, 0.6, 1e-3, 1, 10, 100);
    }
    assertEquals(List.of(0, 1, 2, 3), TrainLog.read(csv).stream().map(TrainLog.Row::step).toList());
    assertEquals(0.5, TrainLog.read(csv).getLast().loss());
  }

  @Test
  void aTornLastLineIsIgnoredButOtherBadLinesAreNamed() throws IOException {
    Path csv = Files.writeString(tmp.resolve("log.csv"), TrainLog.HEADER + "\n0,1,,1,1,1,1\n1,0.9,");
    assertEquals(1, TrainLog.read(csv).size());
    Path bad = Files.writeString(tmp.resolve("bad.csv"), TrainLog.HEADER + "\n0,x,,1,1,1,1\n");
    assertEquals(bad + ":2: not a number: For input string: \"x\"",
        assertThrows(IllegalArgumentException.class, () -> TrainLog.read(bad)).getMessage());
    Path other = Files.writeString(tmp.resolve("other.csv"), "a,b\n");
    assertEquals(other + ": not a kiln training log (first line must be \"" + TrainLog.HEADER + "\")",
        assertThrows(IllegalArgumentException.class, () -> TrainLog.read(other)).getMessage());
  }
}
