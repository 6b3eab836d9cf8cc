// bf16 mixed precision on the CPU: the rounding arithmetic both backends share (kiln.codegen.Bf16), what the
// storage pass (kiln.codegen.Bf16Storage) decides per tensor, the device layout of bf16 tensors, and the
// emulated CPU path against PyTorch's fp32 fixtures within Verify.Tolerances.BF16.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import kiln.codegen.Bf16;
import kiln.codegen.Bf16Storage;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Bf16PrecisionTest {
  private static float bits(int b) { return Float.intBitsToFloat(b); }

  @Test void roundsToNearestEven() {
    assertEquals(1f, Bf16.round(1f));
    assertEquals(bits(0x3F810000), Bf16.round(bits(0x3F80C000)), "above half an ulp rounds up");
    assertEquals(bits(0x3F800000), Bf16.round(bits(0x3F808000)), "a tie rounds to the even neighbour (down)");
    assertEquals(bits(0x3F820000), Bf16.round(bits(0x3F818000)), "a tie rounds to the even neighbour (up)");
    assertEquals(bits(0xBF810000), Bf16.round(bits(0xBF80C000)), "negative values round by magnitude");
    assertEquals(Float.POSITIVE_INFINITY, Bf16.round(Float.MAX_VALUE), "past the largest bf16: infinity");
    assertTrue(Float.isNaN(Bf16.round(Float.NaN)));
  }

  @Test void stochasticRoundingIsDeterministicAndUnbiased() {
    float x = bits(0x3F80_4CCD);   // 1 + 0.3 of a bf16 ulp
    float down = bits(0x3F800000), up = bits(0x3F810000);
    assertEquals(Bf16.stochastic(x, 7, 3), Bf16.stochastic(x, 7, 3), "same element and seed, same result");
    int ups = 0, n = 40_000;
    for (int seed = 1; seed <= n; seed++) {
      float r = Bf16.stochastic(x, 12345, seed);
      assertTrue(r == down || r == up, "one of the two neighbours, found " + r);
      if (r == up) ups++;
    }
    // P(up) = 0x4CCD / 2^16 = 0.3000; 40 000 draws: sd 0.0023, so 0.29..0.31 is 4 sd
    double p = ups / (double) n;
    assertTrue(Math.abs(p - 0x4CCD / 65536.0) < 0.01, "fraction rounded up " + p);
    int acrossElements = 0;
    for (int i = 0; i < n; i++) if (Bf16.stochastic(x, i, 1) == up) acrossElements++;
    assertTrue(Math.abs(acrossElements / (double) n - 0x4CCD / 65536.0) < 0.01, "across elements " + acrossElements / (double) n);
    assertEquals(up, Bf16.stochastic(up, 5, 9), "a bf16 value stays itself");
    assertEquals(Float.NEGATIVE_INFINITY, Bf16.stochastic(Float.NEGATIVE_INFINITY, 1, 1));
  }

  private static Map<String, Tensor> roots(Program p) {
    Map<String, Tensor> m = new java.util.HashMap<>();
    for (Tensor t : p.graph().roots()) m.put(t.name(), t);
    return m;
  }

  @Test void thePassNarrowsActivationsAndKeepsStatisticsMasterAndOptimizerInFp32() {
    Program fp32 = Gpt2.build(1);
    Bf16Storage.Stored s = Bf16Storage.apply(fp32, false, Bf16Storage.Residual.FP32);
    Program p = s.program();
    Map<String, Tensor> r = roots(p);
    assertEquals(DType.F32, r.get("params").storage(), "the master");
    assertEquals(DType.BF16, r.get("params_bf16").storage(), "the copy the forward reads");
    for (String n : List.of("grads", "adam_m", "adam_v", "hyper", "h0.ln1.mean", "h0.ln1.rstd", "h0.ln1.mean.r1", "lnf.rstd")) {
      assertEquals(DType.F32, r.get(n).storage(), n);
    }
    for (String n : List.of("encoder.encoded", "h0.ln1.out", "h0.attn.att", "h0.fc.gelu", "head.logits")) assertEquals(DType.BF16, r.get(n).storage(), n);
    // the residual stream's gradient (a layernorm backward adds a per-row statistic into it): a sum kept fp32 by default,
    // in one buffer for the whole backward: the top one (the final norm's backward writes it); each residual add's copy of it
    // to the stream below is elided, the layernorm backwards below add into the top buffer
    assertEquals(DType.F32, r.get("dh0.fcproj.residual").storage(), "the top residual gradient");
    for (String n : List.of("dh0.attproj.residual", "dencoder.encoded")) assertFalse(r.containsKey(n), n + " elided");
    assertTrue(p.graph().computes().stream().anyMatch(c -> c.name().equals("dout/dh0.attproj.residual") && c.accumulate()
        && c.out() == r.get("dh0.fcproj.residual")), "ln2's backward adds into the top residual gradient");
    // the branch gradients computed from it, which the backward matmuls read, stay bf16
    for (String n : List.of("dh0.fcproj.out", "dh0.attproj.out")) assertEquals(DType.BF16, r.get(n).storage(), n);
    // copy elision: the bare products' gradients equal their sums' (a bias add's), same storage, so they are not stored
    for (String n : List.of("dh0.fcproj.out.r1", "dh0.attproj.out.r1", "dh0.fc.out.r1")) assertFalse(r.containsKey(n), n);
    // Residual.BF16 (llm.c's choice): an activation gradient like the rest
    Map<String, Tensor> narrow = roots(Bf16Storage.apply(fp32, false, Bf16Storage.Residual.BF16).program());
    assertEquals(DType.BF16, narrow.get("dh0.fcproj.residual").storage(), "the residual gradient");
    assertFalse(narrow.containsKey("dencoder.encoded"), "dencoder.encoded elided");
    // there the branch gradients are bf16 copies of the bf16 residual gradient, which the layernorm backwards below go on
    // adding into once the stream's copies are elided: they stay stored
    assertFalse(narrow.containsKey("dh0.attproj.residual"), "dh0.attproj.residual elided");
    for (String n : List.of("dh0.fcproj.out", "dh0.attproj.out")) assertEquals(DType.BF16, narrow.get(n).storage(), n);
    for (String n : List.of("h0.ln1.mean", "h0.ln1.rstd")) assertEquals(DType.F32, narrow.get(n).storage(), n);
    assertEquals(DType.F32, p.loss().storage());
    assertEquals(DType.BF16, p.logits().storage());
    assertEquals(DType.I32, r.get("tokens").storage());
    // the same graph: one compute for each of the original's, in order, but the elided copies (each a bare load), plus the
    // copy's refresh at the end of the update
    List<Compute> before = fp32.graph().computes(), after = p.graph().computes();
    List<String> kept = after.subList(0, after.size() - 1).stream().map(Compute::name).toList();
    List<Compute> dropped = before.stream().filter(c -> !kept.contains(c.name())).toList();
    assertEquals(before.stream().map(Compute::name).filter(kept::contains).toList(), kept);
    for (Compute c : dropped) {
      boolean copy = c.body() instanceof Expr.Load, add = c.body() instanceof Expr.Binary b && b.op() == Expr.BinOp.ADD;
      assertTrue((copy || add) && !c.accumulate(), c.toString());
    }
    assertTrue(dropped.stream().anyMatch(c -> c.name().equals("dout/dh0.fc.out.r1")), dropped.toString());
    // add inlining: the bias adds that only element-wise computes read are not stored; their readers add for themselves
    // (fc.out, pre-GELU, read by the GELU map and the backward's dGELU map; the projections' outputs by their residual adds)
    for (String n : List.of("h0.fc.out", "h0.attproj.out", "h0.fcproj.out")) {
      assertFalse(r.containsKey(n), n);
      assertTrue(dropped.stream().anyMatch(c -> c.name().equals(n) && c.body() instanceof Expr.Binary), n + " inlined: " + dropped);
    }
    for (Compute c : after) {
      if (!c.name().equals("h0.fc.gelu") && !c.name().equals("dgelu/dh0.fc.out")) continue;
      List<String> read = Exprs.loads(c.body()).stream().map(l -> l.tensor().root().name()).toList();
      assertTrue(read.contains("h0.fc.out.r1") && read.contains("params_bf16"), c.name() + " reads " + read);
    }
    assertTrue(after.stream().anyMatch(c -> c.name().equals("dgelu/dh0.fc.out")), "the dGELU map");
    Compute refresh = after.getLast();
    assertEquals(r.get("params_bf16"), refresh.out());
    assertTrue(refresh.body() instanceof Expr.RoundBf16, refresh.toString());
    // forward and backward read the copy, never the master; the update reads the master
    for (int i = 0; i < p.backwardEnd(); i++) {
      for (Expr.Load l : Exprs.loads(after.get(i).body())) assertFalse(l.tensor().root() == r.get("params"), after.get(i).toString());
    }
    assertTrue(after.subList(p.normEnd(), after.size()).stream().anyMatch(c -> c.out().root() == r.get("params")), "AdamW updates the master");
    assertEquals(List.of("cast.bf16_copy"), s.cast().stream().map(Compute::name).toList());
  }

  @Test void storageMisuseIsNamed() {
    Program p = Gpt2.build(1);
    Tensor wte = p.params().get("wte"), tokens = p.tokens();
    var view = org.junit.jupiter.api.Assertions.assertThrows(kiln.dsl.DslException.class,
        () -> wte.restored("x", kiln.dsl.Role.PARAM, DType.BF16));
    assertEquals("tensor wte is a view; restore its root params", view.getMessage());
    var ints = org.junit.jupiter.api.Assertions.assertThrows(kiln.dsl.DslException.class,
        () -> tokens.restored("x", kiln.dsl.Role.INPUT, DType.BF16));
    assertEquals("tensor tokens is I32: it cannot be stored as BF16", ints.getMessage());
  }

  @Test void externTensorsStayFp32() {
    Map<String, Tensor> r = roots(Bf16Storage.apply(Gpt2.build(1, kiln.codegen.BackendPass.CUDA), false, Bf16Storage.Residual.FP32).program());
    assertEquals(DType.F32, r.get("h0.attn.qkv").storage(), "flash attention reads fp32");
    assertEquals(DType.BF16, r.get("h0.attn.qkv.r1").storage(), "the matmul before the bias add");
  }

  @Test void deviceLayoutsPackBf16TwoToASlot() {
    Program p = Bf16Storage.apply(Gpt2.build(1), false, Bf16Storage.Residual.FP32).program();
    Map<kiln.dsl.Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(64, 1000, 1024, 1, 2, 32), 2, 16);
    Arena device = new Arena(p.graph(), sizes, java.util.Set.of(p.loss()), ArenaLayout.Launches.each(p.graph().computes()), false, Map.of());
    Arena host = new Arena(p.graph(), sizes, java.util.Set.of(p.loss()), ArenaLayout.Launches.each(p.graph().computes()), true, Map.of());
    Tensor logits = p.logits();
    assertEquals(2, device.bytesPerElement(logits));
    assertEquals(4, host.bytesPerElement(logits), "the CPU emulates bf16 in floats");
    for (Tensor t : p.graph().roots()) {
      if (t.dtype() == DType.I32) continue;
      assertEquals(0, device.offsetLong(t) * device.bytesPerElement(t) % 64, t + " starts on 64 bytes");
    }
    assertTrue(device.floatCount() < host.floatCount(), "bf16 tensors take half the space on a device");
  }

  private static Tensor root(Session s, String name) {
    return s.program.graph().roots().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
  }

  /**
   * A bf16 run resumed from its fp32 master weights, m, v and step count (what a checkpoint holds) continues bit
   * for bit: the params' bf16 copy is remade with the stochastic rounding of the update at that step.
   */
  @Test void aResumedRunContinuesBitForBit() {
    Models.Shape shape = Models.get("gpt2-tiny");
    int batch = 2, seq = 16;
    float[] init = new float[(int) shape.paramCount()];
    shape.randomInit(7, init, 0);
    int[] x = new int[batch * seq], y = new int[batch * seq];
    for (int i = 0; i < x.length; i++) {
      x[i] = (i * 131 + 7) % 50257;
      y[i] = (i * 71 + 3) % 50257;
    }
    try (Session a = shape.open(batch, seq, Session.Device.CPU, 2, CudaSchedule.Precision.BF16, 0, Session.Zero.NONE);
         Session b = shape.open(batch, seq, Session.Device.CPU, 2, CudaSchedule.Precision.BF16, 0, Session.Zero.NONE)) {
      a.loadParams(init);
      a.setBatch(x, y);
      float[][] saved = null;
      float[] lossesA = new float[2], lossesB = new float[2];
      for (int step = 1; step <= 4; step++) {
        a.forward();
        a.backward();
        if (step > 2) lossesA[step - 3] = a.loss();
        a.update(1e-3f, 0.01f);
        if (step == 2) saved = new float[][] {a.read(a.paramsTensor()), a.read(root(a, "adam_m")), a.read(root(a, "adam_v"))};
      }
      b.loadParams(saved[0]);
      b.write(root(b, "adam_m"), saved[1]);
      b.write(root(b, "adam_v"), saved[2]);
      b.setStepCount(2);
      b.setBatch(x, y);
      for (int step = 3; step <= 4; step++) {
        b.forward();
        b.backward();
        lossesB[step - 3] = b.loss();
        b.update(1e-3f, 0.01f);
      }
      org.junit.jupiter.api.Assertions.assertArrayEquals(lossesA, lossesB, 0f, "losses of steps 3 and 4");
      org.junit.jupiter.api.Assertions.assertArrayEquals(a.read(a.paramsTensor()), b.read(b.paramsTensor()), 0f, "master weights after step 4");
      org.junit.jupiter.api.Assertions.assertArrayEquals(a.read(root(a, "params_bf16")), b.read(root(b, "params_bf16")), 0f, "the bf16 copy");
      org.junit.jupiter.api.Assertions.assertArrayEquals(a.read(root(a, "adam_v")), b.read(root(b, "adam_v")), 0f, "AdamW v");
      float[] copy = a.read(root(a, "params_bf16"));
      for (float f : copy) assertEquals(f, Bf16.round(f), "the copy holds bf16 values");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny", "llama-tiny"})
  void emulatedOnTheCpuMatchesPyTorch(String fixture) {
    Path dir = Fixtures.dir(fixture);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    boolean ok = Verify.run(dir.resolve("model.bin"), dir.resolve("state.bin"), dir.resolve("losses.txt"), Session.Device.CPU,
        CudaSchedule.Precision.BF16, null, 2, Verify.Tolerances.BF16, out);
    String report = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(report);
    assertTrue(ok, report);
    int tensors = fixture.startsWith("llama") ? 2 + 12 : 2 + 16;
    assertEquals(tensors + 10, report.lines().filter(l -> l.endsWith(" ok")).count(), report);
  }

  /**
   * The 10-step loss trajectory on GPT-2 124M's shape at T=128, B=1 (issue 13; docs/perf.md "bf16 loss trajectory"), against
   * the fp64 reference in the folder KILN_BF16_TRAJECTORY names, written by
   * reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 1 --seq 128 --seed 3 --out DIR
   * (minutes of fp64 PyTorch and 1 GB, so not a default fixture; ~70 s here). Bound 0.03: PyTorch's own bf16 autocast on the
   * same state reaches 0.029; kiln with the residual gradients fp32 0.014, with them bf16 (KILN_BF16_DRES=bf16) 0.142.
   */
  @Test
  @org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable(named = "KILN_BF16_TRAJECTORY", matches = ".+")
  void theLossTrajectoryAt124mTracksFp64() {
    Path dir = Path.of(System.getenv("KILN_BF16_TRAJECTORY"));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    Verify.run(dir.resolve("model.bin"), dir.resolve("state.bin"), dir.resolve("losses.txt"), Session.Device.CPU,
        CudaSchedule.Precision.BF16, null, 2, Verify.Tolerances.BF16, out);
    String report = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(report);
    // the loss table's rows: step, expected, kiln, abs diff, ok|FAIL
    List<Double> diffs = report.lines().filter(l -> l.matches("\\d+\\s+\\S+\\s+\\S+\\s+\\S+\\s+(ok|FAIL)"))
        .map(l -> Double.parseDouble(l.trim().split("\\s+")[3])).toList();
    assertEquals(10, diffs.size(), report);
    double worst = diffs.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
    assertTrue(worst <= 0.03, "max |loss - fp64| over 10 steps " + worst + " > 0.03\n" + report);
  }
}
