// Which matmuls `--precision bf16` runs on the bf16 Hopper matmul, without a GPU: GPT-2 124M at B=8, T=1024
// lowered as an H200 session lowers it (the bf16 storage pass, the device arena's placement), and the
// fallbacks the lowering must take (an fp32 operand, a misaligned one).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import kiln.codegen.Work;
import kiln.codegen.Rendered;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.MatmulMatch;
import kiln.codegen.WgmmaBf16;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class Bf16WgmmaLoweringTest {
  static final CudaSchedule HOPPER_BF16 = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16).withWgmmaBf16(WgmmaBf16.DEFAULT);

  record Lowered(Program program, Arena arena, Map<String, Lowering.Lowered> sections) {}

  static Lowered gpt2Small() { return lowered(Models.get("gpt2-d12"), 8, 1024); }

  /** Each bf16 wgmma launch's tile knobs, from the kernel's header line ("bm=128 bn=192 ..."), by launch name. */
  static Map<String, String> tiles(Lowered l) {
    Map<String, String> out = new java.util.HashMap<>();
    for (Lowering.Lowered s : l.sections().values()) {
      for (kiln.codegen.Launch x : s.launches()) {
        String head = x.kernel().source().lines().skip(1).findFirst().orElse("");
        if (x.kernel().kind().startsWith("wgmma_bf16")) out.put(x.name(), head.substring(head.indexOf("bm=")));
      }
    }
    return out;
  }

  /** gpt2Small with every matmul's epilogue fused (KILN_EPILOGUE=1; by default bf16 matmuls take none): the kernels these tests read. */
  static Lowered gpt2SmallFused() {
    kiln.codegen.Epilogue.override = kiln.codegen.Epilogue.Mode.ALL;
    try {
      return gpt2Small();
    } finally {
      kiln.codegen.Epilogue.override = null;
    }
  }

  /** A registry model at bf16 on an sm_90 GPU, B x T, placed and lowered as a CUDA session does. */
  static Lowered lowered(Models.Shape shape, int batch, int seq) { return lowered(shape, batch, seq, m -> null); }

  /** The same with a chooser standing for a tuning cache. */
  static Lowered lowered(Models.Shape shape, int batch, int seq, Lowering.Chooser<CudaSchedule.MatmulTile> chooser) {
    kiln.codegen.Bf16Storage.Stored stored = kiln.codegen.Bf16Storage.apply(shape.program(Session.Device.CUDA), false, kiln.codegen.Bf16Storage.Residual.FP32);
    Program q = stored.program();
    Map<Dim, Integer> sizes = shape.bind(batch, seq);
    Arena arena = new Arena(q.graph(), sizes, java.util.Set.of(q.loss()), Session.cudaLaunches(q, stored.cast()), false, Map.of());
    Map<String, List<Compute>> sections = Session.sections(q, stored.cast());
    kiln.codegen.Epilogue.Readers readers = new kiln.codegen.Epilogue.Readers(sections.values().stream().flatMap(List::stream).toList());
    Map<String, Lowering.Lowered> lowered = new java.util.LinkedHashMap<>();
    for (var e : sections.entrySet()) {
      lowered.put(e.getKey(), CudaLowering.lower(e.getValue(), HOPPER_BF16, chooser, arena::size, 0, readers, arena::offsetLong));
    }
    return new Lowered(q, arena, lowered);
  }

  /** Per launch (layer 0 standing for every layer): the kind, and on the bf16 tile its layouts, C's type and whether C goes through the copy engine. */
  static Map<String, String> kinds(Lowered l) {
    Map<String, String> kinds = new TreeMap<>();
    for (Lowering.Lowered s : l.sections().values()) {
      for (kiln.codegen.Launch x : s.launches()) {
        Rendered r = x.kernel();
        if (!(r.work() instanceof Work.Tiles || r.work() instanceof Work.Bf16Tiles)) continue;
        String name = x.name().split("\\+")[0];
        if (name.matches("(?s).*\\bd?h[1-9]\\d*\\..*") || name.matches(".*\\[[1-9]\\d*\\]")) continue;
        String what = r.kind();
        if (r.work() instanceof Work.Bf16Tiles t) what += " " + t.aMajor() + "," + t.bMajor() + " " + t.out() + (t.tmaStore() ? " tma " + t.c().name() : "");
        kinds.put(name, what);
      }
    }
    return kinds;
  }

  @Test
  void gpt2MatmulsOfTwoBf16OperandsRunOnTheBf16Tile() {
    Map<String, String> kinds = kinds(gpt2SmallFused());
    Map<String, String> expected = new TreeMap<>();
    // forward: x·Wᵀ, both K-major; C bf16 (the bias add and the rest in the epilogue; qkv's bare product is bf16, the extern's
    // input fp32); through the copy engine: the logits (no epilogue), or an epilogue's last bf16 output (fc's GELU, fcproj's
    // residual; qkv's output is the extern's fp32 input, so its epilogue stores from the lambda)
    expected.put("h0.attn.qkv.r1", "wgmma_bf16 K,K BF16");
    expected.put("h0.fc.out.r1", "wgmma_bf16 K,K BF16 tma h0.fc.gelu");
    expected.put("h0.fcproj.out.r1", "wgmma_bf16 K,K BF16 tma h0.fcproj.residual");
    expected.put("head.logits", "wgmma_bf16 K,K BF16 tma head.logits");
    // backward dX = dY·W: (K, MN); dW = dYᵀ·X: (MN, MN) with C the fp32 gradient
    // (the head's dX epilogue ends in the residual stream's gradient, an fp32 sum (Bf16Storage.Residual.FP32): no bf16
    // output for the copy engine, the epilogue stores from the lambda)
    expected.put("dlogits/dlnf.out", "wgmma_bf16 K,MN BF16");
    expected.put("dlogits/grads.wte", "wgmma_bf16 MN,MN F32");
    expected.put("dr1/dh0.fc.gelu", "wgmma_bf16 K,MN BF16 tma dh0.fc.out");
    expected.put("dr1/grads.fcprojw[0]", "wgmma_bf16 MN,MN F32");
    expected.put("dr1/dh0.ln2.out", "wgmma_bf16 K,MN BF16 tma dh0.ln2.out");
    expected.put("dr1/grads.fcw[0]", "wgmma_bf16 MN,MN F32");
    expected.put("dr1/dh0.attn.y", "wgmma_bf16 K,MN F32");
    // an operand the attention extern reads or writes is fp32 (attn.y, dqkv): the SIMT tile
    expected.put("h0.attproj.out.r1", "matmul");
    expected.put("dr1/grads.attprojw[0]", "matmul");
    expected.put("dr1/dh0.ln1.out", "matmul");
    expected.put("dr1/grads.qkvw[0]", "matmul");
    assertEquals(expected, kinds);
  }

  /**
   * By default (kiln.codegen.Epilogue.Mode.AUTO) a matmul storing bf16 takes its epilogue only where every compute of it is
   * light (bias adds) and reads no residual (the residual adds lead the next norm's row kernel, KILN_EPI_RESIDUAL unset);
   * fc (bias, then GELU) and the backward's dGELU stay map kernels. Layer 0 stands for the rest.
   */
  @Test
  void bf16MatmulsTakeOnlyLightEpiloguesByDefault() {
    List<String> fused = new ArrayList<>();
    Lowered l = gpt2Small();
    for (Lowering.Lowered s : l.sections().values()) {
      for (kiln.codegen.Launch x : s.launches()) {
        String src = x.kernel().source();
        if (!src.contains("auto epilogue =")) continue;
        String lambda = src.substring(src.indexOf("auto epilogue ="), src.indexOf("};", src.indexOf("auto epilogue =")));
        assertFalse(lambda.contains("tanh") || lambda.contains("exp"), x.name() + ": a transcendental in a default bf16 epilogue:\n" + lambda);
        if (!x.name().matches("(?s).*\\bd?h[1-9]\\d*\\..*")) fused.add(x.name());
      }
    }
    // (the projections' bias adds are inlined into their residual adds: kiln.codegen.AddInlining)
    assertEquals(List.of("h0.attn.qkv.r1+h0.attn.qkv"), fused);
    assertTrue(l.sections().get("forward").launches().stream().anyMatch(x -> x.name().startsWith("h0.attproj.residual+h0.ln2.mean")),
        "the attention projection's residual add leads ln2's row kernel");
    // fc bare, its product through the copy engine; the bias + GELU map reads it
    assertEquals("wgmma_bf16 K,K BF16 tma h0.fc.out.r1", kinds(l).get("h0.fc.out.r1"));
  }

  /**
   * With KILN_WGMMA_BF16_WIDE=1 (wideOverride), an untuned bf16-C matmul whose N is a multiple of 256 and whose 128 x 256
   * tiles make four rounds of the H200's SMs or more takes WgmmaBf16.WIDE, unsplit (what `kiln tune` picked for fc's input
   * gradient, fcproj and dlnf at B=32); others keep the default tile; by default every one does. At B=8: fc's input
   * gradient (8192 x 3072: 768 tiles) is wide, ln2's input gradient (8192 x 768: 192 tiles) is not.
   */
  @Test
  void withTheKnobUntunedBf16MatmulsTakeTheWideTileWhereNAndTheTileCountAllow() {
    kiln.codegen.CudaLowering.wideOverride = true;
    Map<String, String> wide;
    try {
      wide = tiles(gpt2Small());
    } finally {
      kiln.codegen.CudaLowering.wideOverride = null;
    }
    assertTrue(wide.get("dr1/dh0.fc.gelu").startsWith("bm=128 bn=256 stages=3 consumers=2 group=16 tmastore=1"), wide.get("dr1/dh0.fc.gelu"));
    assertTrue(wide.get("dr1/dh0.ln2.out").startsWith("bm=128 bn=192 stages=4"), wide.get("dr1/dh0.ln2.out"));
    Map<String, String> narrow = tiles(gpt2Small());
    assertTrue(narrow.get("dr1/dh0.fc.gelu").startsWith("bm=128 bn=192 stages=4"), narrow.get("dr1/dh0.fc.gelu"));
  }

  /**
   * At B=32 the shapes measured faster on another tile inside the step run it untuned (CudaLowering.measuredBf16): the lm_head
   * on 192 x 192 with three consumers; fc and fcproj's input gradient on the same in raster groups of 8; fcproj and the
   * input gradients of fc and of the lm_head (with its epilogue) on 128 x 256 in groups of 8; the weight gradients of fc and
   * fcproj on 192 x 192, split along K; the tied embedding's weight gradient on 128 x 256 in groups of 8 from the registers;
   * qkv with its bias and attproj's input gradient keep the default; at B=8 (M = 8192) none moves.
   */
  @Test
  void theShapesMeasuredFasterOnAnotherTileTakeItUntunedAtB32() {
    Map<String, String> b32 = tiles(lowered(Models.get("gpt2-d12"), 32, 1024));
    String square = "bm=192 bn=192 stages=3 consumers=3 group=16", square8 = "bm=192 bn=192 stages=3 consumers=3 group=8";
    String wide8 = "bm=128 bn=256 stages=3 consumers=2 group=8";
    assertTrue(b32.get("head.logits").startsWith(square + " tmastore=1"), b32.get("head.logits"));
    for (String name : List.of("h0.fc.out.r1", "dr1/dh0.fc.gelu")) assertTrue(b32.get(name).startsWith(square8 + " tmastore=1"), name + ": " + b32.get(name));
    String dwte = b32.keySet().stream().filter(n -> n.endsWith("grads.wte")).findFirst().orElseThrow();
    assertTrue(b32.get(dwte).equals(wide8) || b32.get(dwte).startsWith(wide8 + ","), dwte + ": " + b32.get(dwte));
    for (String name : List.of("h0.fcproj.out.r1", "dr1/dh0.ln2.out")) assertTrue(b32.get(name).startsWith(wide8 + " tmastore=1"), name + ": " + b32.get(name));
    String dlnf = b32.keySet().stream().filter(n -> n.startsWith("dlogits/dlnf.out")).findFirst().orElseThrow();
    assertTrue(b32.get(dlnf).startsWith(wide8), dlnf + ": " + b32.get(dlnf));
    for (String name : List.of("dr1/grads.fcw[0]", "dr1/grads.fcprojw[0]")) {
      assertTrue(b32.get(name).matches(java.util.regex.Pattern.quote(square) + " splits=[2-9]"), name + ": " + b32.get(name));
    }
    assertTrue(b32.get("dr1/dh0.attn.y").startsWith("bm=128 bn=192 stages=4 consumers=2 group=16"), b32.get("dr1/dh0.attn.y"));
    assertTrue(b32.get("h0.attn.qkv.r1+h0.attn.qkv").startsWith("bm=128 bn=192 stages=4 consumers=2 group=16"), b32.get("h0.attn.qkv.r1+h0.attn.qkv"));
    Map<String, String> b8 = tiles(gpt2Small());
    for (String name : List.of("head.logits", "dr1/dh0.fc.gelu", "h0.fc.out.r1", "h0.fcproj.out.r1", "dr1/dh0.ln2.out")) {
      assertTrue(b8.get(name).startsWith("bm=128 bn=192 stages=4"), name + ": " + b8.get(name));
    }
  }

  /**
   * A tuned tile (the tuner times bare matmuls) is not given to a launch that carries an epilogue, whatever its accumulators:
   * qkv with its bias keeps the default tile under a cache of 128 x 256 (128 accumulators a thread) or of 192 x 192 with three
   * consumers (96, as the default's), while the bare fc takes the tuned one.
   */
  @Test
  void aTunedTileSkipsTheEpilogueLaunches() {
    for (WgmmaBf16.Tile pick : List.of(WgmmaBf16.WIDE, WgmmaBf16.SQUARE_3_G8)) {
      Map<String, String> tiles = tiles(lowered(Models.get("gpt2-d12"), 8, 1024, byDefault -> byDefault.kind().startsWith("wgmma_bf16") ? pick : null));
      assertTrue(tiles.get("h0.attn.qkv.r1+h0.attn.qkv").startsWith("bm=128 bn=192 stages=4 consumers=2"), pick + ": " + tiles.get("h0.attn.qkv.r1+h0.attn.qkv"));
      assertTrue(tiles.get("h0.fc.out.r1").startsWith(pick.knobs().replace(" tmastore=1", "")), pick + ": " + tiles.get("h0.fc.out.r1"));
    }
    assertEquals(96, WgmmaBf16.DEFAULT.accumulators());
    assertEquals(128, WgmmaBf16.WIDE.accumulators());
    assertEquals(96, WgmmaBf16.SQUARE_3_G8.accumulators());
    assertEquals(64, new WgmmaBf16.Tile(192, 128, 4, 3, false, 16, true).accumulators());
    assertEquals(128, new WgmmaBf16.Tile(128, 128, 6, 2, true, 16).accumulators());   // ping-pong: a whole 128-row tile each
  }

  @Test
  void theLoweringFallsBackWhereTheCopyEngineCannotRead() {
    Lowered l = gpt2Small();
    MatmulMatch fc = l.program().graph().computes().stream().filter(c -> c.name().equals("h0.fc.out.r1")).map(MatmulMatch::of)
        .map(java.util.Optional::orElseThrow).findFirst().orElseThrow();
    assertNull(CudaLowering.bf16Refusal(fc, l.arena()::size, l.arena()::offsetLong));
    // an operand 4 bf16 (8 bytes) off a 16-byte boundary
    String why = CudaLowering.bf16Refusal(fc, l.arena()::size, t -> t == fc.b().tensor() ? l.arena().offsetLong(t) + 4 : l.arena().offsetLong(t));
    assertEquals("B bf16.fcw[0] starts at bf16 element " + (l.arena().offsetLong(fc.b().tensor()) + 4) + " (the copy engine needs a multiple of 8)", why);
    // rows 12 bf16 apart (K = C = 12)
    why = CudaLowering.bf16Refusal(fc, d -> d.name().equals("C") ? 12 : l.arena().size(d), null);
    assertEquals("A's rows are 12 bf16 apart (the copy engine needs a multiple of 8: 16 bytes)", why);
    // such a matmul stays on the SIMT tile in the lowering
    Compute c = fc.compute();
    Lowering.Lowered off = CudaLowering.lower(List.of(c), HOPPER_BF16, m -> null, l.arena()::size, 0, null,
        t -> t == fc.b().tensor() ? 4 : 0);
    assertEquals("matmul", off.launches().getFirst().kernel().kind());
    Lowering.Lowered on = CudaLowering.lower(List.of(c), HOPPER_BF16, m -> null, l.arena()::size, 0, null, t -> 0);
    assertEquals("wgmma_bf16", on.launches().getFirst().kernel().kind());
    // the tile off (another GPU, KILN_WGMMA_BF16=0): the SIMT tile
    assertEquals("matmul", CudaLowering.lower(List.of(c), HOPPER_BF16.withWgmmaBf16(null), m -> null, l.arena()::size, 0, null, t -> 0)
        .launches().getFirst().kernel().kind());
  }

  @Test
  void anOperandInFp32OrABatchDimIsNamed() {
    Program p = Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
    Program q = kiln.codegen.Bf16Storage.apply(p, false, kiln.codegen.Bf16Storage.Residual.FP32).program();
    MatmulMatch attproj = q.graph().computes().stream().filter(c -> c.name().equals("h0.attproj.out.r1")).map(MatmulMatch::of)
        .map(java.util.Optional::orElseThrow).findFirst().orElseThrow();
    assertEquals("A h0.attn.y is f32, B bf16.attprojw[0] is bf16 (both must be bf16)", CudaLowering.bf16Refusal(attproj, null, null));
    // at fp32 nothing is bf16
    MatmulMatch fp32 = p.graph().computes().stream().filter(c -> c.name().equals("h0.fc.out.r1")).map(MatmulMatch::of)
        .map(java.util.Optional::orElseThrow).findFirst().orElseThrow();
    assertTrue(CudaLowering.bf16Refusal(fp32, null, null).endsWith("(both must be bf16)"));
  }

  /**
   * Llama and Gemma (GQA and MQA attention through the extern, RMSNorm, SwiGLU): every matmul runs where bf16Refusal says,
   * and their projections and MLP (gate, up, down: forward, dX, dW) and the head take the bf16 kernel.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"llama-d12", "gemma-d12"})
  void llamaAndGemmaFollowTheSameRule(String model) {
    Lowered l = lowered(Models.get(model), 4, 1024);
    int bf16 = 0, simt = 0;
    java.util.Set<String> onBf16 = new java.util.TreeSet<>();
    for (Lowering.Lowered s : l.sections().values()) {
      for (kiln.codegen.Launch x : s.launches()) {
        Rendered r = x.kernel();
        if (!(r.work() instanceof Work.Tiles || r.work() instanceof Work.Bf16Tiles)) continue;
        String name = x.name().split("\\+")[0];
        Compute c = l.program().graph().computes().stream().filter(y -> y.name().equals(name)).findFirst().orElseThrow();
        String why = CudaLowering.bf16Refusal(MatmulMatch.of(c).orElseThrow(), l.arena()::size, l.arena()::offsetLong);
        assertEquals(why == null, r.work() instanceof Work.Bf16Tiles, name + ": " + why);
        if (why == null) {
          bf16++;
          onBf16.add(name.replaceAll("\\d+", "#"));
        } else {
          simt++;
        }
      }
    }
    for (String m : List.of("h#.ffn.gate", "h#.ffn.up", "h#.ffn.down", "head.logits")) assertTrue(onBf16.contains(m), m + " not among " + onBf16);
    assertTrue(onBf16.stream().anyMatch(n -> n.contains("/grads.")), "weight gradients among " + onBf16);
    assertTrue(bf16 > simt, bf16 + " on the bf16 kernel, " + simt + " on SIMT: " + onBf16);
  }

  /**
   * The bf16 tile's epilogues gather their inputs before computing (CudaRenderer.epiloguePairs): no load inside the
   * per-element lambda, each tensor read once (dGELU reads fc.out once though both its statements use it), stores as pairs.
   */
  @Test
  void bf16EpiloguesGatherEachInputOnceBeforeComputing() {
    int seen = 0, rows = 0;
    boolean dgelu = false;
    for (Lowering.Lowered s : gpt2SmallFused().sections().values()) {
      for (kiln.codegen.Launch x : s.launches()) {
        String src = x.kernel().source();
        if (!(x.kernel().work() instanceof Work.Bf16Tiles) || !src.contains("auto epilogue =")) continue;
        seen++;
        String lambda = src.substring(src.indexOf("auto epilogue ="), src.indexOf("auto epilogue_store ="));
        assertTrue(!lambda.contains("__ldg") && !lambda.contains("H[") && !lambda.contains("F["), x.name() + ": loads or stores in the compute lambda:\n" + lambda);
        assertTrue(src.contains("epilogue_load(m, n, n + 1 < N, x[i][j])") || src.contains("epilogue_load_row(i, m, n0 + 2 * q, x)"),
            x.name() + ": inputs gathered per row batch");
        String at = src.substring(src.indexOf("auto epilogue_at ="), src.indexOf("auto epilogue_to ="));
        if (x.name().startsWith("h0.fcproj.out.r1")) {
          // a bias and a residual are read along C's rows: one address a row, straight 4-byte loads, the bias once a batch;
          // C arrives rounded to bf16 (a pair in one cvt) and the staged output leaves unrounded for the pair's one cvt
          assertTrue(src.contains("epilogue_load_row(i, m, n0 + 2 * q, x)") && src.matches("(?s).*x\\[i\\]\\[j\\]\\[(\\d)\\] = x\\[0\\]\\[j\\]\\[\\1\\];.*"),
              x.name() + ":\n" + src);
          assertTrue(lambda.contains("const float vs = v;") && src.contains("#define EPI_V(lo, hi) const unsigned vr = kiln_bf16x2(lo, hi)"), x.name());
          assertTrue(lambda.matches("(?s).*return y\\d+r;.*"), x.name() + ": staged output unrounded:\n" + lambda);
        }
        if (src.contains("epilogue_load_row(i, m, n0 + 2 * q, x)")) rows++;
        if (x.name().startsWith("dr1/dh0.fc.gelu")) {
          // fc's bare product and its bias (fc.out itself is not stored: AddInlining), each once
          assertEquals(2, at.split("p\\[").length - 1, "dGELU reads fc.out.r1 and the bias once:\n" + at);
          assertTrue(src.contains("kiln_st_bf16x2((kiln_bf16*) p["), "dGELU's side output (the recomputed GELU) stored as pairs");
          assertTrue(lambda.contains("kiln_tanh(") && !lambda.contains("tanhf("), "dGELU's tanh from ex2 and rcp:\n" + lambda);
          dgelu = true;
        }
      }
    }
    assertTrue(seen >= 5, "epilogue launches on the bf16 tile: " + seen);
    assertTrue(rows >= 4, "epilogues gathering whole rows (a bias, a residual): " + rows);
    assertTrue(dgelu, "the dGELU launch is among them");
  }
}
