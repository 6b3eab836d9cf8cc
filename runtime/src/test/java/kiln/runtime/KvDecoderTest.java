// KV-cached generation gives the logits of the full forward, position by position.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import kiln.models.Gpt2;
import kiln.runtime.format.ModelFile;
import org.junit.jupiter.api.Test;

class KvDecoderTest {
  @Test void cachedStepsMatchTheFullForward() {
    ModelFile.Loaded m = ModelFile.read(Fixtures.dir("odd").resolve("model.bin"));
    Gpt2.Config c = m.config();
    int n = 20;
    int[] tokens = new int[n];
    SplittableRandom rnd = new SplittableRandom(3);
    for (int i = 0; i < n; i++) tokens[i] = rnd.nextInt(c.vocab());
    float[] full;
    try (Session s = Models.of(c).open(1, n, Session.Device.CPU, 2)) {
      s.loadParams(m.params());
      s.setBatch(tokens, tokens);
      s.forward();
      full = s.read(s.program.logits());
    }
    double worst = 0, scale = 0;
    try (KvDecoder d = new KvDecoder(Models.of(c), m.params(), Session.Device.CPU, 2)) {
      for (int t = 0; t < n; t++) {
        float[] row = d.step(tokens[t], t);
        for (int v = 0; v < c.vocab(); v++) {
          worst = Math.max(worst, Math.abs(row[v] - full[t * c.paddedVocab() + v]));
          scale = Math.max(scale, Math.abs(full[t * c.paddedVocab() + v]));
        }
      }
    }
    assertTrue(worst <= 1e-5 * scale, "kv-cached logits differ from the full forward by " + worst + " (max abs " + scale + ")");
  }
}
