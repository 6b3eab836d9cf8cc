// Epilogue fusion (kiln.codegen.Epilogue): which element-wise consumers become a matmul's epilogue, for
// GPT-2 and Llama alike, what the fused kernels leave unstored, and that the arena planned over the fused
// launches never lets an epilogue write where its matmul reads. No GPU needed.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import kiln.codegen.Rendered;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Epilogue;
import kiln.codegen.MatmulMatch;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class EpilogueTest {
  /** The fused groups of a program's sections, each as "matmul <- consumer, consumer", layer 0 only, layer prefix dropped. */
  private static TreeSet<String> fused(Program p) {
    TreeSet<String> out = new TreeSet<>();
    for (List<Compute> section : Session.sections(p).values()) {
      for (List<Compute> g : Epilogue.groups(section)) {
        if (!Epilogue.fused(g)) continue;
        String line = g.getFirst().name() + " <- " + String.join(", ", g.subList(1, g.size()).stream().map(Compute::name).toList());
        if (g.getFirst().name().matches(".*h[1-9]\\d*\\..*")) continue;
        out.add(line.replace("h0.", ""));
      }
    }
    return out;
  }

  @Test void gpt2BiasGeluResidualAndDgeluBecomeEpilogues() {
    TreeSet<String> got = fused(Gpt2.build(2, kiln.codegen.BackendPass.CUDA));
    assertEquals(new TreeSet<>(List.of(
        "attn.qkv.r1 <- attn.qkv",
        "attproj.out.r1 <- attproj.out, attproj.residual",
        "fc.out.r1 <- fc.out, fc.gelu",
        "fcproj.out.r1 <- fcproj.out, fcproj.residual",
        // the backward: dGELU and the GELU recompute it shares fc.out with, moved up past the weight gradient's matmul
        "dr1/dfc.gelu <- recompute/fc.gelu, dgelu/dfc.out, dout/dfc.out.r1",
        // the lm head's dx takes the layernorm backward's first map (on CUDA it runs over K chunks: as a map after it)
        "dlogits/dlnf.out <- dout/dh1.fcproj.residual")), got);
  }

  @Test void gpt2OnTheCpuProgramFusesTheSameWay() {
    // the CPU program keeps GELU (no recompute): the backward's dGELU is fused alone; the CPU renderer keeps separate kernels
    TreeSet<String> got = fused(Gpt2.build(2));
    assertTrue(got.contains("fc.out.r1 <- fc.out, fc.gelu"), got.toString());
    assertTrue(got.contains("dr1/dfc.gelu <- dgelu/dfc.out, dout/dfc.out.r1"), got.toString());
  }

  @Test void llamaFusesFromTheSameRule() {
    TreeSet<String> got = fused(Models.get("llama-tiny").program(Session.Device.CPU));
    assertEquals(new TreeSet<>(List.of(
        "attn.scores.r1 <- attn.scores",                     // the 1/sqrt(HS) scale (a batched matmul)
        "attn.out <- attn.residual",                          // o-projection + residual
        "ffn.up <- ffn.hidden",                               // SwiGLU: silu(gate) * up
        "ffn.down <- ffn.residual",
        "ddown/dffn.hidden <- dhidden/dffn.gate, dhidden/dffn.up",
        "dy/dattn.att <- datt/dattn.exp",
        "dlogits/dnorm.out <- dout/dh1.ffn.residual")), got, got.toString());
  }

  @Test void accumulatingAndUnconsumedMatmulsStayBare() {
    for (List<Compute> section : Session.sections(Gpt2.build(2, kiln.codegen.BackendPass.CUDA)).values()) {
      for (List<Compute> g : Epilogue.groups(section)) {
        Compute first = g.getFirst();
        if (MatmulMatch.of(first).isEmpty()) continue;
        if (first.accumulate() || first.out().name().startsWith("grads.") || first.name().equals("head.logits")) {
          assertEquals(1, g.size(), first.name() + " must not take an epilogue: " + g.stream().map(Compute::name).toList());
        }
      }
    }
  }

  @Test void theProductUnderABiasIsNotStoredWhatTheBackwardReadsIs() {
    Program p = Gpt2.build(2, kiln.codegen.BackendPass.CUDA);
    Epilogue.Readers readers = new Epilogue.Readers(p.graph().computes());
    for (List<Compute> section : Session.sections(p).values()) {
      for (List<Compute> g : Epilogue.groups(section)) {
        if (!Epilogue.fused(g)) continue;
        Set<String> unstored = new TreeSet<>(Epilogue.unstored(g, readers).stream().map(Tensor::name).toList());
        switch (g.getFirst().name()) {
          case "h0.attn.qkv.r1" -> assertEquals(Set.of("h0.attn.qkv.r1"), unstored);
          case "h0.attproj.out.r1" -> assertEquals(Set.of("h0.attproj.out.r1", "h0.attproj.out"), unstored);
          case "h0.fc.out.r1" -> assertEquals(Set.of("h0.fc.out.r1"), unstored);   // fc.out: the backward reads it
          case "dr1/dh0.fc.gelu" -> assertEquals(Set.of("dh0.fc.gelu"), unstored);
          default -> { }
        }
      }
    }
    // no program to ask: everything is stored
    List<Compute> any = Epilogue.groups(Session.sections(p).get("forward")).stream().filter(Epilogue::fused).findFirst().orElseThrow();
    assertTrue(Epilogue.unstored(any, null).isEmpty());
  }

  /**
   * At GPT-2 124M's sizes, the CUDA arena planned over the fused launches: no epilogue output shares storage
   * with its matmul's operands (other blocks still read them), qkv is written over the bare product in place,
   * and the arena is no larger than the one planned per compute.
   */
  @Test void theArenaKeepsOperandsApartFromTheEpilogue() {
    Program p = Gpt2.build(12, kiln.codegen.BackendPass.CUDA);
    Map<Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(1024, 50257, 50304, 12, 12, 768), 8, 1024);
    Set<Tensor> pinned = Set.of(p.loss());
    Arena.Launches launches = Session.cudaLaunches(p);
    Arena fusedArena = new Arena(p.graph(), sizes, pinned, launches, false, Map.of());
    Arena perCompute = new Arena(p.graph(), sizes, pinned, ArenaLayout.Launches.each(p.graph().computes()), false, Map.of());
    int groups = 0;
    for (List<Compute> g : launches.groups()) {
      if (!Epilogue.fused(g)) continue;
      groups++;
      MatmulMatch mm = MatmulMatch.of(g.getFirst()).orElseThrow();
      for (Compute x : g.subList(1, g.size())) {
        for (Tensor operand : List.of(mm.a().tensor(), mm.b().tensor())) {
          assertFalse(overlap(fusedArena, x.out(), operand), x.name() + " would write over " + operand.name() + ", which " + g.getFirst().name() + " reads");
        }
      }
    }
    assertEquals(12 * 5 + 1, groups, "four forward epilogues and dGELU per layer, and the lm head's dx");
    Tensor qkv = root(p, "h0.attn.qkv"), r1 = root(p, "h0.attn.qkv.r1");
    assertEquals(fusedArena.offsetLong(r1), fusedArena.offsetLong(qkv), "qkv over its bare product, in place");
    // tensors a fused launch touches live through all of it (the backward's dGELU outputs start at its matmul): at most 0.5% more
    assertTrue(fusedArena.floatCount() <= perCompute.floatCount() * 1.005,
        "arena over launches " + fusedArena.floatCount() + " floats vs per compute " + perCompute.floatCount());
    assertNotEquals(0, fusedArena.sharedBytes());
  }

  /** Over copies in more than one K chunk (the lm head's dx: K = 50 304) the epilogue runs after the matmul as a map. */
  @Test void aMatmulInSeveralLaunchesRunsItsEpilogueAsAMap() {
    Program p = Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
    Map<Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(1024, 50257, 50304, 1, 12, 768), 8, 1024);
    CudaSchedule s = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma(CudaSchedule.WGMMA_DEFAULT);
    List<String> kinds = new ArrayList<>();
    for (kiln.codegen.Launch x : CudaLowering.lower(Session.sections(p).get("backward"), s, m -> null, sizes::get,
        kiln.runtime.cuda.CudaExecutor.TRANSPOSE_FLOATS, new Epilogue.Readers(p.graph().computes()), null).launches()) {
      kinds.add(x.kernel().kind() + " " + x.name());
    }
    int dx = kinds.indexOf("wgmma_t dlogits/dlnf.out");
    assertTrue(dx >= 0, kinds.toString());
    assertEquals("map dout/dh0.fcproj.residual", kinds.get(dx + 1));
    assertTrue(kinds.contains("wgmma_t dr1/dh0.fc.gelu+recompute/h0.fc.gelu+dgelu/dh0.fc.out+dout/dh0.fc.out.r1"), kinds.toString());
    Rendered dgelu = null;
    for (kiln.codegen.Launch x : CudaLowering.lower(Session.sections(p).get("backward"), s, m -> null, sizes::get,
        kiln.runtime.cuda.CudaExecutor.TRANSPOSE_FLOATS, null, null).launches()) {
      if (x.name().startsWith("dr1/dh0.fc.gelu")) dgelu = x.kernel();
    }
    assertTrue(dgelu != null && dgelu.source().contains("auto epilogue") && dgelu.source().contains("tanhf"), "dGELU in the epilogue");
  }

  private static Tensor root(Program p, String name) {
    return p.graph().roots().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
  }

  private static boolean overlap(Arena a, Tensor x, Tensor y) {
    long x0 = a.offsetLong(x.root()), x1 = x0 + a.elements(x.root()), y0 = a.offsetLong(y.root()), y1 = y0 + a.elements(y.root());
    return x0 < y1 && y0 < x1;
  }
}
