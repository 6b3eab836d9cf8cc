// The CPU trainer against PyTorch: forward, every gradient and 10 AdamW losses, on every fixture
// reference/fixtures.txt lists (each family's reference script, two shapes or more).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class VerifyFixturesTest {
  /** The fixture names of reference/fixtures.txt (the first word of each non-comment line). */
  static List<String> fixtures() throws IOException {
    Path list = Path.of("reference", "fixtures.txt");
    if (!Files.exists(list)) list = Path.of("..", "reference", "fixtures.txt");
    return Files.readAllLines(list).stream().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#"))
        .map(l -> l.split("\\s+")[0]).toList();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void matchesPyTorch(String fixture) {
    Path dir = Fixtures.dir(fixture);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    boolean ok = Verify.run(dir.resolve("model.bin"), dir.resolve("state.bin"), dir.resolve("losses.txt"), kiln.runtime.Session.Device.CPU,
        kiln.codegen.CudaSchedule.Precision.FP32, null, 2, Verify.Tolerances.CPU, out);
    String report = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(report);
    assertTrue(ok, report);
    assertTrue(report.strip().endsWith("verify: OK"), report);
    int tensors = 2 + kiln.runtime.format.ModelFile.read(dir.resolve("model.bin")).shape().layout().names().size();
    assertTrue(report.lines().filter(l -> l.endsWith(" ok")).count() == tensors + 10, tensors + " tensors and 10 losses checked:\n" + report);
  }
}
