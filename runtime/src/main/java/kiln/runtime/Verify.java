// Checks a forward + backward (and optionally 10 AdamW steps) against a PyTorch debug state:
// one line per tensor with max abs diff and max rel diff (relative to the reference's max abs).
package kiln.runtime;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import kiln.codegen.CudaSchedule;
import kiln.runtime.format.DebugState;
import kiln.runtime.format.FormatException;
import kiln.runtime.format.ModelFile;

public final class Verify {
  /** Stated tolerances (fp32 on the CPU): relative to the tensor's max abs, and absolute for losses. */
  public record Tolerances(double logits, double grads, double losses) {
    public static final Tolerances CPU = new Tolerances(1e-5, 1e-4, 1e-5);
    /** fp32 on a GPU: ten times the CPU's (other summation orders, libdevice math). */
    public static final Tolerances CUDA = new Tolerances(1e-4, 1e-3, 1e-4);

    /**
     * TF32 tensor-core matmuls on a GPU: inputs rounded to 10 explicit mantissa bits (unit roundoff
     * u = 2^-11 = 4.9e-4, against fp32's 6e-8), so each product carries a relative error up to ~2u
     * and a K-term sum of mixed-sign products an error of about 2u·sqrt(K)·rms(a·b), which relative
     * to the sum's own size is ~1e-3. Logits pass through 12+ such matmuls and layernorms, gradients
     * through twice as many, and a gradient's max abs sits on few entries: 1e-2 for logits, 5e-2 for
     * gradients, 1e-2 absolute for losses (measured figures in docs/perf.md sit 3-10x below these).
     */
    public static final Tolerances TF32 = new Tolerances(1e-2, 5e-2, 1e-2);

    /**
     * bf16 storage (either device) against the fp32 reference: every stored activation and every weight the
     * forward and backward read carries a relative rounding error up to u = 2^-8 = 3.9e-3 (7 stored mantissa
     * bits, round to nearest), against fp32's 6e-8. Sums stay fp32, so a dot product of rounded inputs errs by
     * about u·rms relative to an output of typical size (the errors of its terms are independent), and a
     * logit passes through ~5 such roundings per layer (ln, qkv, attention out, fc, gelu), a gradient through
     * twice as many; errors are measured against the tensor's max abs. 2e-2 (5u) for the logits, 5e-2 (13u)
     * for gradients (llm.c's own bf16 test accepts 2e-2 on gradients against a bf16 PyTorch run; ours is the
     * fp32 model), 1e-2 absolute on the 10 losses (a loss is the mean of B·T roundings-affected terms of size
     * ~10; random rounding errors cancel to well below it, a systematic bias of a few u would not). Measured on
     * the CPU (emulated) for the four fixtures: logits <= 7.3e-3, gradients <= 1.3e-2, losses <= 3.3e-4
     * (docs/perf.md).
     */
    public static final Tolerances BF16 = new Tolerances(2e-2, 5e-2, 1e-2);

    public static Tolerances of(Session.Device d, CudaSchedule.Precision p) {
      if (p == CudaSchedule.Precision.BF16) return BF16;
      if (d != Session.Device.CUDA) return CPU;
      return p == CudaSchedule.Precision.TF32 ? TF32 : CUDA;
    }
  }

  public record Diff(String name, double maxAbs, double maxRel, double tolerance) {
    public boolean ok() { return maxRel <= tolerance; }
  }

  private Verify() {}

  /**
   * Any registered family (by the model file's magic): the session its registry shape opens, on the state's batch, with an
   * activation-recompute policy (null: the device's default). Returns true when every tensor and loss is within tolerance;
   * prints the report to out.
   */
  public static boolean run(Path modelFile, Path stateFile, Path lossesFile, Session.Device device, CudaSchedule.Precision precision,
                            kiln.codegen.Recompute recompute, int threads, Tolerances tol, PrintStream out) {
    ModelFile.Loaded model = ModelFile.read(modelFile);
    Models.Shape shape = model.shape();
    DebugState state = DebugState.read(stateFile, shape);
    List<Double> expectedLosses = lossesFile == null ? List.of() : readLosses(lossesFile);
    out.printf("verify: %s %s (%s), batch B=%d T=%d, %s%n", shape.family().name(), modelFile, shape.describeAll(), state.B(), state.T(),
        device.name().toLowerCase());
    try (Session s = shape.open(state.B(), state.T(), device, threads, precision, 0, Session.Zero.NONE, recompute)) {
      out.println("verify: recompute " + s.recompute.flag());
      return check(s, model.params(), state, expectedLosses, shape.vocab(), shape.paddedVocab(), tol, out);
    }
  }

  /**
   * Loads params, runs forward + backward on the state's batch and compares logits, loss and every
   * gradient (in the params block's order, which is the file's), then the AdamW losses.
   */
  static boolean check(Session s, float[] params, DebugState state, List<Double> expectedLosses, int vocab, int paddedVocab,
                       Tolerances tol, PrintStream out) {
    out.println("verify: " + s.executor.describe());
    s.loadParams(params);
    s.setBatch(state.x(), state.y());
    s.forward();
    float[] logits = s.read(s.program.logits());   // before the backward, which may reuse their storage
    // the gradients of the step a trainer runs (Session.forwardBackward: on CUDA the classifier's forward and backward in one
    // kernel, which repeats the forward's numbers), after the forward alone gave the logits
    s.forwardBackward();
    List<Diff> diffs = new ArrayList<>();
    diffs.add(logitsDiff(logits, state.logits(), state.B() * state.T(), vocab, paddedVocab, tol.logits()));
    diffs.add(diff("loss", new float[] {s.loss()}, new float[] {state.loss()}, 0, 1, tol.logits()));
    int off = 0;
    for (var e : s.program.grads().entrySet()) {
      float[] got = s.read(e.getValue());
      float[] want = java.util.Arrays.copyOfRange(state.grads(), off, off + got.length);
      diffs.add(diff(e.getKey(), got, want, 0, got.length, tol.grads()));
      off += got.length;
    }
    boolean ok = true;
    out.printf("%-10s %14s %14s %10s%n", "tensor", "max abs diff", "max rel diff", "tolerance");
    for (Diff d : diffs) {
      out.printf("%-10s %14.3e %14.3e %10.0e %s%n", d.name(), d.maxAbs(), d.maxRel(), d.tolerance(), d.ok() ? "ok" : "FAIL");
      ok &= d.ok();
    }
    if (!expectedLosses.isEmpty()) {
      out.printf("%-6s %14s %14s %12s%n", "step", "expected loss", "kiln loss", "abs diff");
      for (int step = 0; step < expectedLosses.size(); step++) {
        if (step > 0) s.forwardBackward();
        double got = s.loss(), want = expectedLosses.get(step), d = Math.abs(got - want);
        boolean good = d <= tol.losses();
        ok &= good;
        out.printf("%-6d %14.8f %14.8f %12.3e %s%n", step, want, got, d, good ? "ok" : "FAIL");
        s.update(1e-4f, 0f);
      }
    }
    out.println(ok ? "verify: OK" : "verify: FAIL");
    return ok;
  }

  static Diff diff(String name, float[] got, float[] want, int off, int n, double tol) {
    double maxAbs = 0, refMax = 0;
    for (int i = 0; i < n; i++) {
      maxAbs = Math.max(maxAbs, Math.abs((double) got[off + i] - want[off + i]));
      refMax = Math.max(refMax, Math.abs((double) want[off + i]));
      if (Float.isNaN(got[off + i])) maxAbs = Double.POSITIVE_INFINITY;
    }
    return new Diff(name, maxAbs, refMax == 0 ? maxAbs : maxAbs / refMax, tol);
  }

  /** kiln's logits rows are Vp wide; the reference's are V wide. */
  static Diff logitsDiff(float[] got, float[] want, int rows, int v, int vp, double tol) {
    float[] packed = new float[rows * v];
    for (int r = 0; r < rows; r++) System.arraycopy(got, r * vp, packed, r * v, v);
    return diff("logits", packed, want, 0, packed.length, tol);
  }

  static List<Double> readLosses(Path file) {
    List<Double> losses = new ArrayList<>();
    List<String> lines;
    try {
      lines = Files.readAllLines(file);
    } catch (IOException e) {
      throw new FormatException(file, "file", "a readable text file of losses", e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.toString());
    }
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty()) continue;
      try {
        losses.add(Double.parseDouble(line));
      } catch (NumberFormatException e) {
        throw new FormatException(file, "line " + (i + 1), "a loss (decimal number)", "'" + line + "'");
      }
    }
    return losses;
  }
}
