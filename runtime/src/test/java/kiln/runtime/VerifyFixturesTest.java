// The CPU trainer against PyTorch: forward, every gradient and 10 AdamW losses, on two GPT-2 and two Llama configs.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VerifyFixturesTest {
  @ParameterizedTest
  @ValueSource(strings = {"tiny", "odd", "llama-tiny", "llama-odd"})
  void matchesPyTorch(String fixture) {
    Path dir = Fixtures.dir(fixture);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    boolean ok = Verify.run(dir.resolve("model.bin"), dir.resolve("state.bin"), dir.resolve("losses.txt"), 2, Verify.Tolerances.CPU, out);
    String report = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(report);
    assertTrue(ok, report);
    assertTrue(report.strip().endsWith("verify: OK"), report);
    int tensors = fixture.startsWith("llama") ? 2 + 12 : 2 + 16;
    assertTrue(report.lines().filter(l -> l.endsWith(" ok")).count() == tensors + 10, tensors + " tensors and 10 losses checked:\n" + report);
  }
}
