// The GPU trainer against PyTorch (fixtures) and against the Java CPU path, tensor by tensor.
// Tagged gpu: skips where no CUDA device is present, and must run where one is.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import kiln.runtime.cuda.Cuda;
import kiln.runtime.format.DebugState;
import kiln.models.Gpt2;
import kiln.runtime.format.ModelFile;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Tag("gpu")
class CudaVerifyTest {
  @ParameterizedTest
  @ValueSource(strings = {"tiny", "odd", "llama-tiny", "llama-odd", "gemma-mqa", "gemma-gqa"})
  void matchesPyTorch(String fixture) {
    assertTrue(verify(fixture, kiln.codegen.CudaSchedule.Precision.FP32).contains("fp32 matmuls"));
  }

  /** TF32 tensor-core matmuls within the TF32 tolerances (Verify.Tolerances.TF32 states why those). */
  @ParameterizedTest
  @ValueSource(strings = {"tiny", "odd", "llama-tiny", "llama-odd", "gemma-mqa", "gemma-gqa"})
  void matchesPyTorchInTf32(String fixture) {
    assertTrue(verify(fixture, kiln.codegen.CudaSchedule.Precision.TF32).contains("tf32 matmuls"));
  }

  /** bf16 storage (fp32 master, AdamW state and sums) within Verify.Tolerances.BF16. */
  @ParameterizedTest
  @ValueSource(strings = {"tiny", "odd", "llama-tiny", "llama-odd", "gemma-mqa", "gemma-gqa"})
  void matchesPyTorchInBf16(String fixture) {
    assertTrue(verify(fixture, kiln.codegen.CudaSchedule.Precision.BF16).contains("bf16 matmuls"));
  }

  /** bf16 with every matmul's epilogue fused (KILN_EPILOGUE=1; by default bf16 matmuls take none): the epilogue kernels stay right. */
  @ParameterizedTest
  @ValueSource(strings = {"tiny", "odd", "llama-tiny", "gemma-mqa"})
  void matchesPyTorchInBf16WithEveryEpilogueFused(String fixture) {
    kiln.codegen.Epilogue.override = kiln.codegen.Epilogue.Mode.ALL;
    try {
      assertTrue(verify(fixture, kiln.codegen.CudaSchedule.Precision.BF16).contains("matmul launches with an epilogue (KILN_EPILOGUE: all)"));
    } finally {
      kiln.codegen.Epilogue.override = null;
    }
  }

  /** Verify on the GPU at a precision with its stated tolerances; returns the report. */
  private static String verify(String fixture, kiln.codegen.CudaSchedule.Precision precision) {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Path dir = Fixtures.dir(fixture);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    boolean ok = Verify.run(dir.resolve("model.bin"), dir.resolve("state.bin"), dir.resolve("losses.txt"), Session.Device.CUDA,
        precision, null, 1, Verify.Tolerances.of(Session.Device.CUDA, precision), out);
    String report = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(report);
    assertTrue(ok, report);
    return report;
  }

  /** Same forward + backward on both devices: logits, loss and every gradient compared. */
  @Test void agreesWithTheCpuPath() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    Path dir = Fixtures.dir("odd");
    ModelFile.Loaded model = ModelFile.read(dir.resolve("model.bin"));
    Gpt2.Config c = model.config();
    DebugState state = DebugState.read(dir.resolve("state.bin"), Models.of(c));
    float[][] results = new float[2][];
    float[][] logits = new float[2][];
    int k = 0;
    for (Session.Device d : new Session.Device[] {Session.Device.CPU, Session.Device.CUDA}) {
      try (Session s = Models.of(c).open(state.B(), state.T(), d, 2)) {
        s.loadParams(model.params());
        s.setBatch(state.x(), state.y());
        s.forward();
        logits[k] = s.read(s.program.logits());
        s.backward();
        results[k++] = s.read(s.program.grads().get("wte").root());
      }
    }
    StringBuilder report = new StringBuilder("cuda vs cpu (rel = max abs diff / cpu max abs):\n");
    boolean ok = true;
    Verify.Diff l = Verify.diff("logits", logits[1], logits[0], 0, logits[0].length, 1e-5);
    report.append(String.format("%-10s %.3e %.3e%n", l.name(), l.maxAbs(), l.maxRel()));
    ok &= l.ok();
    long[] sizes = Models.of(c).layout().sizes();
    int off = 0;
    for (int i = 0; i < sizes.length; i++) {
      Verify.Diff g = Verify.diff(java.util.List.copyOf(Gpt2.FAMILY.parameters().keySet()).get(i), results[1], results[0], off, (int) sizes[i], 1e-4);
      report.append(String.format("%-10s %.3e %.3e%n", g.name(), g.maxAbs(), g.maxRel()));
      ok &= g.ok();
      off += (int) sizes[i];
    }
    System.out.print(report);
    assertTrue(ok, report.toString());
  }
}
