// Reads the reference-written model and debug state in Java and checks shapes and sums against
// the checksums PyTorch computed over the same bytes (reference/gpt2_reference.py writes them).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import kiln.runtime.format.DebugState;
import kiln.models.Gpt2;
import kiln.runtime.format.ModelFile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ChecksumTest {
  @ParameterizedTest
  @ValueSource(strings = {"tiny", "odd"})
  void javaReadsWhatPythonWrote(String fixture) throws IOException {
    Path dir = Fixtures.dir(fixture);
    Map<String, double[]> expected = new HashMap<>();
    for (String line : Files.readAllLines(dir.resolve("checksums.txt"))) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 3) expected.put(f[0], new double[] {Double.parseDouble(f[1]), Double.parseDouble(f[2])});
    }
    Map<String, String> config = new HashMap<>();
    for (String line : Files.readAllLines(dir.resolve("config.txt"))) {
      String[] f = line.trim().split("\\s+", 2);
      if (f.length == 2) config.put(f[0], f[1]);
    }
    ModelFile.Loaded model = ModelFile.read(dir.resolve("model.bin"));
    Gpt2.Config c = model.config();
    assertEquals(Integer.parseInt(config.get("layers")), c.layers());
    assertEquals(Integer.parseInt(config.get("heads")), c.heads());
    assertEquals(Integer.parseInt(config.get("channels")), c.channels());
    assertEquals(Integer.parseInt(config.get("max_seq")), c.maxT());
    assertEquals(Integer.parseInt(config.get("padded_vocab")), c.paddedVocab());
    DebugState state = DebugState.read(dir.resolve("state.bin"), Models.of(c));
    assertEquals(Integer.parseInt(config.get("batch")), state.B());
    assertEquals(Integer.parseInt(config.get("seq")), state.T());

    long[] sizes = Models.of(c).layout().sizes();
    int off = 0, checked = 0;
    for (int i = 0; i < sizes.length; i++) {
      String name = List.copyOf(Gpt2.FAMILY.parameters().keySet()).get(i);
      check(name, expected.get(name), model.params(), off, (int) sizes[i]);
      check("grad." + name, expected.get("grad." + name), state.grads(), off, (int) sizes[i]);
      off += (int) sizes[i];
      checked += 2;
    }
    check("logits", expected.get("logits"), state.logits(), 0, state.logits().length);
    check("loss", expected.get("loss"), new float[] {state.loss()}, 0, 1);
    checkInts("x", expected.get("x"), state.x());
    checkInts("y", expected.get("y"), state.y());
    assertEquals(36, checked + 4);
  }

  private static void check(String name, double[] want, float[] data, int off, int n) {
    assertTrue(want != null, "checksums.txt has no line for " + name);
    double sum = 0, abs = 0;
    for (int i = off; i < off + n; i++) { sum += data[i]; abs += Math.abs(data[i]); }
    assertEquals(want[1], abs, 1e-9 * Math.max(1, want[1]), name + " abs sum");
    assertEquals(want[0], sum, 1e-9 * Math.max(1, want[1]), name + " sum");
  }

  private static void checkInts(String name, double[] want, int[] data) {
    long sum = 0;
    for (int v : data) sum += v;
    assertEquals((long) want[0], sum, name + " sum");
  }
}
