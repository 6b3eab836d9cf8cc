// The activation-recompute policy (--recompute) on the CPU: recomputing GELU gives the losses, every gradient and the updated
// parameters of keeping it, bit for bit, in a smaller arena; defaults per device; a model with nothing to recompute refuses.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Recompute;
import kiln.dsl.Compute;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class RecomputePolicyTest {
  private static final int B = 2, T = 32;

  /** What two steps of a session leave: the losses, then every gradient of the second step, then the params after it. */
  private record Run(List<Float> losses, List<float[]> grads, float[] params, long arenaBytes, long sharedBytes, int recomputes) {}

  private static Run run(Models.Shape shape, Recompute recompute, CudaSchedule.Precision precision) {
    try (Session s = shape.open(B, T, Session.Device.CPU, 2, precision, 0, Session.Zero.NONE, recompute)) {
      s.loadParams(shape.randomInit(1337));
      SplittableRandom rnd = new SplittableRandom(7);
      List<Float> losses = new ArrayList<>();
      List<float[]> grads = new ArrayList<>();
      for (int step = 0; step < 2; step++) {
        int[] x = new int[B * T], y = new int[B * T];
        for (int i = 0; i < x.length; i++) { x[i] = rnd.nextInt(shape.vocab()); y[i] = rnd.nextInt(shape.vocab()); }
        s.setBatch(x, y);
        s.forward();
        s.backward();
        losses.add(s.loss());
        if (step == 1) for (var g : s.program.grads().values()) grads.add(s.read(g));
        s.update(1e-3f, 0.1f);
      }
      int recomputes = (int) s.program.graph().computes().stream().filter(c -> c.name().startsWith("recompute/")).count();
      return new Run(losses, grads, s.read(s.paramsTensor()), s.arena.bytes(), s.arena.sharedBytes(), recomputes);
    }
  }

  private static void sameBits(Run none, Run gelu) {
    assertEquals(none.losses(), gelu.losses(), "losses");
    assertEquals(none.grads().size(), gelu.grads().size());
    for (int i = 0; i < none.grads().size(); i++) assertArrayEquals(none.grads().get(i), gelu.grads().get(i), "gradient " + i);
    assertArrayEquals(none.params(), gelu.params(), "params after AdamW");
  }

  @Test void gpt2GeluRecomputeIsBitIdenticalInASmallerArena() {
    Models.Shape shape = Models.get("gpt2-tiny");
    Run none = run(shape, Recompute.NONE, CudaSchedule.Precision.FP32);
    Run gelu = run(shape, Recompute.GELU, CudaSchedule.Precision.FP32);
    sameBits(none, gelu);
    assertEquals(0, none.recomputes());
    assertEquals(2, gelu.recomputes(), "one GELU per layer");
    // the kept GELU outputs (B, T, 4C) per layer leave the shared activation space; the copy lives only in the backward
    long geluBytes = 4L * B * T * 4 * 128;
    assertTrue(none.arenaBytes() - gelu.arenaBytes() >= geluBytes,
        "arena " + none.arenaBytes() + " (none) vs " + gelu.arenaBytes() + " (gelu): at least one GELU output less, " + geluBytes);
    assertTrue(gelu.sharedBytes() < none.sharedBytes());
  }

  @Test void gemmaGateRecomputeIsBitIdentical() {
    Models.Shape shape = Models.get("gemma-tiny");
    Run none = run(shape, Recompute.NONE, CudaSchedule.Precision.FP32);
    Run gelu = run(shape, Recompute.GELU, CudaSchedule.Precision.FP32);
    sameBits(none, gelu);
    assertEquals(2, gelu.recomputes());
    assertTrue(gelu.arenaBytes() < none.arenaBytes(), gelu.arenaBytes() + " vs " + none.arenaBytes());
  }

  /** bf16 (emulated): the recomputed copy is stored as the kept output was, so the backward reads the same bf16 values. */
  @Test void gpt2Bf16GeluRecomputeIsBitIdentical() {
    Models.Shape shape = Models.get("gpt2-tiny");
    Run none = run(shape, Recompute.NONE, CudaSchedule.Precision.BF16);
    Run gelu = run(shape, Recompute.GELU, CudaSchedule.Precision.BF16);
    sameBits(none, gelu);
    assertTrue(gelu.arenaBytes() < none.arenaBytes(), gelu.arenaBytes() + " vs " + none.arenaBytes());
  }

  @Test void defaultsPerDevice() {
    // the CPU default program recomputes nothing, CUDA's every GELU (what generated/ holds)
    assertEquals(0, recomputes(Models.get("gpt2-tiny").program(Session.Device.CPU)));
    assertEquals(2, recomputes(Models.get("gpt2-tiny").program(Session.Device.CUDA)));
    assertTrue(recomputes(Models.get("gemma-tiny").program(Session.Device.CUDA)) > 0, "Gemma's GeGLU gate is a GELU");
    assertEquals(0, recomputes(Models.get("llama-tiny").program(Session.Device.CUDA)), "no GELU in SwiGLU");
    assertEquals(0, recomputes(Models.get("gpt2-tiny").program(Session.Device.CUDA, kiln.codegen.CudaSchedule.Precision.FP32, Recompute.NONE)));
  }

  @Test void aModelWithoutGeluRefusesOneLine() {
    String expected = "--recompute gelu: a llama model has no gelu activation to recompute; expected none for it (accepted: none, gelu)";
    var e = assertThrows(IllegalArgumentException.class, () -> Models.get("llama-tiny").program(Session.Device.CPU, kiln.codegen.CudaSchedule.Precision.FP32, Recompute.GELU));
    assertEquals(expected, e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Models.get("llama-tiny").program(Session.Device.CUDA, kiln.codegen.CudaSchedule.Precision.FP32, Recompute.GELU));
    assertEquals(expected, e.getMessage());
  }

  @Test void parse() {
    assertEquals(Recompute.GELU, Recompute.parse("gelu"));
    assertEquals(Recompute.NONE, Recompute.parse("none"));
    assertEquals(null, Recompute.parse("GELU"));
    assertEquals(List.of("none", "gelu"), Recompute.names());
  }

  private static int recomputes(Program p) {
    int n = 0;
    for (Compute c : p.graph().computes()) if (c.name().startsWith("recompute/")) n++;
    return n;
  }
}
