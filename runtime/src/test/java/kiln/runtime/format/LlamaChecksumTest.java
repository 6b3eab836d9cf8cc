// Reads the Llama fixtures that reference/llama_reference.py wrote and checks config, shapes and sums against
// config.txt and checksums.txt (PyTorch's sums over the same bytes).
package kiln.runtime.format;

import kiln.models.Llama;
import kiln.runtime.Models;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LlamaChecksumTest {
  /** The fixture's folder; fails (never skips) when it is missing, naming the command that writes it. */
  private static Path fixture(String name) {
    Path dir = Path.of("build", "fixtures", name);
    assertTrue(Files.isRegularFile(dir.resolve("state.bin")) && Files.isRegularFile(dir.resolve("model.bin"))
            && Files.isRegularFile(dir.resolve("checksums.txt")) && Files.isRegularFile(dir.resolve("config.txt")),
        "fixture " + dir.toAbsolutePath() + " is missing: run reference/fixtures.sh (./kiln test does)");
    return dir;
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama-tiny", "llama-odd"})
  void javaReadsWhatPythonWrote(String name) throws IOException {
    Path dir = fixture(name);
    Map<String, double[]> expected = new HashMap<>();
    for (String line : Files.readAllLines(dir.resolve("checksums.txt"))) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 3) {
        expected.put(f[0], new double[] {Double.parseDouble(f[1]), Double.parseDouble(f[2])});
      }
    }
    assertEquals(28, expected.size(), "checksums.txt lines: 12 params, x, y, logits, loss, 12 grads");
    Map<String, String> config = new HashMap<>();
    for (String line : Files.readAllLines(dir.resolve("config.txt"))) {
      String[] f = line.trim().split("\\s+", 2);
      if (f.length == 2) {
        config.put(f[0], f[1]);
      }
    }

    ModelFile.Loaded model = ModelFile.read(dir.resolve("model.bin"), Llama.FAMILY);
    Llama.Config c = model.config();
    assertEquals(new Llama.Config(integer(config, "max_seq"), integer(config, "vocab"), integer(config, "padded_vocab"),
        integer(config, "layers"), integer(config, "heads"), integer(config, "kv_heads"), integer(config, "channels"),
        integer(config, "ffn"), Float.parseFloat(config.get("theta")), Float.parseFloat(config.get("eps"))), c);
    assertTrue(FileKind.of(dir.resolve("model.bin")) == FileKind.LLAMA_MODEL);
    DebugState state = DebugState.read(dir.resolve("state.bin"), c.vocab(), c.maxT(), Models.of(c).paramCount());
    assertEquals(integer(config, "batch"), state.B());
    assertEquals(integer(config, "seq"), state.T());
    assertEquals((long) state.B() * state.T() * c.vocab(), state.logits().length);

    long[] sizes = Models.of(c).layout().sizes();
    int off = 0;
    int checked = 0;
    for (int i = 0; i < sizes.length; i++) {
      String param = List.copyOf(Llama.FAMILY.parameters().keySet()).get(i);
      check(param, expected.get(param), model.params(), off, (int) sizes[i]);
      check("grad." + param, expected.get("grad." + param), state.grads(), off, (int) sizes[i]);
      if (param.equals("wte") || param.equals("lm_head")) { // rows V..Vp-1 are zero padding
        int pad = off + c.vocab() * c.channels();
        assertZero(param + " padding", model.params(), pad, off + (int) sizes[i]);
        assertZero("grad." + param + " padding", state.grads(), pad, off + (int) sizes[i]);
      }
      off += (int) sizes[i];
      checked += 2;
    }
    assertEquals(model.params().length, off);
    check("logits", expected.get("logits"), state.logits(), 0, state.logits().length);
    check("loss", expected.get("loss"), new float[] {state.loss()}, 0, 1);
    checkInts("x", expected.get("x"), state.x());
    checkInts("y", expected.get("y"), state.y());
    assertEquals(28, checked + 4);
    double firstLoss = Double.parseDouble(Files.readAllLines(dir.resolve("losses.txt")).getFirst());
    assertEquals((float) firstLoss, state.loss(), "losses.txt line 1 is the loss in state.bin");
  }

  private static int integer(Map<String, String> config, String key) {
    assertTrue(config.containsKey(key), "config.txt has no " + key);
    return Integer.parseInt(config.get(key));
  }

  private static void check(String name, double[] want, float[] data, int off, int n) {
    assertTrue(want != null, "checksums.txt has no line for " + name);
    double sum = 0;
    double abs = 0;
    for (int i = off; i < off + n; i++) {
      sum += data[i];
      abs += Math.abs(data[i]);
    }
    assertEquals(want[1], abs, 1e-9 * Math.max(1, want[1]), name + " abs sum");
    assertEquals(want[0], sum, 1e-9 * Math.max(1, want[1]), name + " sum");
  }

  private static void checkInts(String name, double[] want, int[] data) {
    long sum = 0;
    for (int v : data) {
      sum += v;
    }
    assertEquals((long) want[0], sum, name + " sum");
  }

  private static void assertZero(String name, float[] data, int from, int to) {
    for (int i = from; i < to; i++) {
      assertEquals(0f, data[i], name + " at " + (i - from));
    }
  }
}
