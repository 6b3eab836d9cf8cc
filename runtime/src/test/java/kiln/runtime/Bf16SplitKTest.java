// Split-K on the bf16 Hopper matmul without a GPU: which of GPT-2's matmuls split K and how many ways at B=32,
// T=1024 (the weight gradients whose output tiles leave an H200's SMs idle), the rule behind the choice, the
// kernels the split renders (partial sums to the workspace, then the _sum kernel adding them in split order),
// the workspace the executor sizes for them, and the fallbacks (an epilogue, KILN_WGMMA_SPLITK=0, a tuned tile).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.WgmmaBf16;
import kiln.codegen.Work;
import org.junit.jupiter.api.Test;

class Bf16SplitKTest {
  /** Per launch of layer 0 on the bf16 tile at B x T: its splits (1: none). */
  static Map<String, Integer> splits(Bf16WgmmaLoweringTest.Lowered l) {
    Map<String, Integer> splits = new TreeMap<>();
    for (Lowering.Lowered s : l.sections().values()) {
      for (kiln.codegen.Launch x : s.launches()) {
        if (!(x.kernel().work() instanceof Work.Bf16Tiles t)) continue;
        String name = x.name().split("\\+")[0];
        if (name.matches("(?s).*\\bd?h[1-9]\\d*\\..*") || name.matches(".*\\[[1-9]\\d*\\]")) continue;
        splits.put(name, t.tile().splits());
      }
    }
    return splits;
  }

  /** GPT-2 124M at bf16 on an sm_90 GPU, B x T, with the bf16 attention kernels, placed and lowered as a CUDA session does. */
  static Bf16WgmmaLoweringTest.Lowered gpt2(int batch, int seq) {
    Models.Shape shape = Models.get("gpt2-d12");
    kiln.codegen.Bf16Storage.Stored stored = kiln.codegen.Bf16Storage.apply(shape.program(Session.Device.CUDA), true, kiln.codegen.Bf16Storage.Residual.FP32);
    kiln.models.Program q = stored.program();
    Arena arena = new Arena(q.graph(), shape.bind(batch, seq), java.util.Set.of(q.loss()), Session.cudaLaunches(q, stored.cast()), false, Map.of());
    Map<String, java.util.List<kiln.dsl.Compute>> sections = Session.sections(q, stored.cast());
    kiln.codegen.Epilogue.Readers readers = new kiln.codegen.Epilogue.Readers(sections.values().stream().flatMap(java.util.List::stream).toList());
    Map<String, Lowering.Lowered> lowered = new java.util.LinkedHashMap<>();
    for (var e : sections.entrySet()) {
      lowered.put(e.getKey(), CudaLowering.lower(e.getValue(), Bf16WgmmaLoweringTest.HOPPER_BF16, m -> null, arena::size, 0, readers, arena::offsetLong));
    }
    return new Bf16WgmmaLoweringTest.Lowered(q, arena, lowered);
  }

  @Test
  void gpt2WeightGradientsSplitWhereTheirTilesLeaveSmsIdle() {
    Bf16WgmmaLoweringTest.Lowered l = gpt2(32, 1024);
    Map<String, Integer> s = splits(l);
    Map<String, Integer> split = new TreeMap<>();
    s.forEach((k, v) -> { if (v > 1) split.put(k, v); });
    // 768 x 768 (24 tiles of 128 x 192) over K = 32768 in 5; on the 192 x 192 tile measured for the others
    // (CudaLowering.measuredBf16), 2304 x 768 (48 tiles) in 5, 3072 x 768 (64: fcw and fcprojw) in 2; everything with many
    // tiles stays whole
    assertEquals(Map.of("dr1/grads.attprojw[0]", 5, "dr1/grads.qkvw[0]", 5, "dr1/grads.fcw[0]", 2, "dr1/grads.fcprojw[0]", 2), split);
    assertEquals(1, s.get("dlogits/grads.wte"));
    assertEquals(1, s.get("h0.fc.out.r1"));
    // the split kernels store C from the registers (no copy engine) and come with their _sum kernel
    for (Lowering.Lowered sec : l.sections().values()) {
      for (kiln.codegen.Launch x : sec.launches()) {
        if (!(x.kernel().work() instanceof Work.Bf16Tiles t) || t.tile().splits() == 1) continue;
        assertFalse(t.tmaStore(), x.name());
        assertTrue(x.kernel().source().contains("#define SPLITS " + t.tile().splits()), x.name());
        assertTrue(x.kernel().source().contains(x.kernel().function() + "_sum("), x.name());
      }
    }
    // the executor's one workspace covers the largest: qkvw's 5 partial 2304 x 768 sums (35.4 MB)
    long most = 0;
    for (Lowering.Lowered sec : l.sections().values()) {
      for (kiln.codegen.Launch x : sec.launches()) {
        if (x.kernel().work() instanceof Work.Bf16Tiles t) most = Math.max(most, t.tile().workspaceFloats(l.arena().product(t.m()), l.arena().product(t.n())));
      }
    }
    assertEquals(5L * 2304 * 768, most);
  }

  /**
   * The tuner's default for a bare bf16 matmul (CudaLowering.bf16UntunedBare, adapted by bf16Tile) is the tile the lowering
   * gives it untuned: split weight gradients included, so the tuner's margin is measured against what runs.
   */
  /** A launch of a bf16 matmul without an epilogue: its name, the tile it runs and its match. */
  record Bare(String name, WgmmaBf16.Tile tile, kiln.codegen.MatmulMatch mm) {}

  /** Every such launch of l. */
  static List<Bare> bare(Bf16WgmmaLoweringTest.Lowered l) {
    List<Bare> out = new java.util.ArrayList<>();
    for (Lowering.Lowered sec : l.sections().values()) {
      for (kiln.codegen.Launch x : sec.launches()) {
        if (!(x.kernel().work() instanceof Work.Bf16Tiles t) || x.kernel().source().contains("auto epilogue")) continue;
        out.add(new Bare(x.name(), t.tile(), kiln.codegen.MatmulMatch.of(x.computes().getFirst()).orElseThrow()));
      }
    }
    return out;
  }

  @Test
  void theTunersDefaultIsWhatTheLoweringRunsUntuned() {
    Bf16WgmmaLoweringTest.Lowered l = gpt2(32, 1024);
    List<Bare> bare = bare(l);
    for (Bare b : bare) {
      assertEquals(b.tile(), CudaLowering.bf16Tile(CudaLowering.bf16UntunedBare(Bf16WgmmaLoweringTest.HOPPER_BF16.wgmmaBf16(), b.mm(), l.arena()::size),
          b.mm(), l.arena()::size, l.arena()::offsetLong), b.name());
    }
    assertTrue(bare.size() >= 14, "GPT-2's bare bf16 matmuls, found " + bare.size());
  }

  /**
   * The tuner times that default first (CudaTuner.space: a measured tile split as planned is no point of WgmmaBf16.space(), and
   * without it a default read NaN and any variant won), and leaves the shapes measured inside the step to their measured tile
   * (CudaLowering.measuredInStep): at B=32 the lm_head, fc, fcproj, the input gradients of fc, fcproj and qkv, the weight
   * gradients of fc, fcproj and qkv, and dwte; not qkv, attproj or attproj's input and weight gradients.
   */
  @Test
  void theTunerTimesTheUntunedTileFirstAndLeavesTheShapesMeasuredInTheStep() {
    Bf16WgmmaLoweringTest.Lowered l = gpt2(32, 1024);
    java.util.Set<String> measured = new java.util.TreeSet<>(), tuned = new java.util.TreeSet<>();
    for (Bare b : bare(l)) {
      List<kiln.codegen.CudaSchedule.MatmulTile> space =
          kiln.runtime.cuda.CudaTuner.space(Bf16WgmmaLoweringTest.HOPPER_BF16, b.mm(), l.arena()::size, 0, l.arena()::offsetLong);
      assertEquals(b.tile(), space.getFirst(), b.name());
      String name = b.name().replaceAll("h\\d+\\.", "h.").replaceAll("\\[\\d+\\]", "");
      (CudaLowering.measuredInStep(b.mm(), l.arena()::size) ? measured : tuned).add(name);
    }
    assertEquals(new java.util.TreeSet<>(List.of("head.logits", "h.fc.out.r1", "h.fcproj.out.r1", "dr1/dh.fc.gelu", "dr1/dh.ln2.out", "dr1/dh.ln1.out",
        "dr1/grads.fcw", "dr1/grads.fcprojw", "dr1/grads.qkvw", "dlogits/grads.wte")), measured);
    assertEquals(new java.util.TreeSet<>(List.of("h.attproj.out.r1", "dr1/dh.attn.y", "dr1/grads.attprojw")), tuned);
  }

  @Test
  void theSplitRuleTakesIdleSmsAndALongK() {
    WgmmaBf16.Tile t = WgmmaBf16.DEFAULT;
    assertEquals(5, WgmmaBf16.splitsFor(t, 768, 768, 32768));
    assertEquals(5, WgmmaBf16.splitsFor(t, 2304, 768, 32768));
    assertEquals(5, WgmmaBf16.splitsFor(t, 768, 2304, 32768), "the same tiles either way round");
    assertEquals(4, WgmmaBf16.splitsFor(t, 3072, 768, 32768), "96 tiles: 4 splits predicted 11 % faster, over SPLIT_GAIN");
    assertEquals(4, WgmmaBf16.splitsFor(t, 3072, 768, 65536), "twice as deep: worth it");
    assertEquals(5, WgmmaBf16.splitsFor(t, 768, 768, 8192), "B = 8");
    assertEquals(1, WgmmaBf16.splitsFor(t, 2304, 768, 8192));
    assertEquals(1, WgmmaBf16.splitsFor(t, 32768, 768, 768), "the forward: 1536 tiles");
    assertEquals(1, WgmmaBf16.splitsFor(t, 768, 768, 1024 - 64), "15 stages: under MIN_SPLIT_STAGES twice");
    assertEquals(1, WgmmaBf16.splitsFor(t, 768, 768, 2048), "32 stages: two runs of 16 save 13 %, under SPLIT_GAIN");
    assertEquals(4, WgmmaBf16.splitsFor(t, 768, 768, 4096), "64 stages: four runs of 16");
    // no split leaves a run under MIN_SPLIT_STAGES, nor partial sums past MAX_SPLIT_FLOATS
    for (long k : new long[] {2048, 4096, 8192, 32768, 1 << 20}) {
      for (long mn : new long[] {64, 768, 2304, 4096}) {
        int s = WgmmaBf16.splitsFor(t, mn, 768, k);
        assertTrue(s == 1 || k / 64 / s >= WgmmaBf16.MIN_SPLIT_STAGES && s * mn * 768 <= WgmmaBf16.MAX_SPLIT_FLOATS, k + " " + mn + ": " + s);
      }
    }
  }

  @Test
  void splitsAreAKnobOfTheTile() {
    WgmmaBf16.Tile t = WgmmaBf16.DEFAULT.withTmaStore(false).withSplits(5);
    assertEquals("bm=128 bn=192 stages=4 consumers=2 group=16 splits=5", t.knobs());
    assertEquals(t, WgmmaBf16.Tile.parse(t.knobs()));
    assertEquals(t, kiln.codegen.CudaSchedule.MatmulTile.parse(t.knobs()));
    assertEquals(WgmmaBf16.DEFAULT.knobs(), WgmmaBf16.DEFAULT.withSplits(1).knobs(), "no split: the knobs text of before");
    assertEquals(5L * 768 * 768, t.workspaceFloats(768, 768));
    assertEquals(0, WgmmaBf16.DEFAULT.workspaceFloats(768, 768));
    assertEquals(120, t.blocks(768, 768, 132), "24 tiles x 5 splits");
    assertEquals(132, t.withSplits(6).blocks(768, 768, 132));
    assertEquals("bf16 wgmma tile 128x192 stages 4 consumers 2 group 16 splits 33: 1 to 32 splits along K, found 33",
        assertThrows(IllegalArgumentException.class, () -> t.withSplits(33)).getMessage());
    assertEquals("bf16 wgmma tile 128x192 stages 4 consumers 2 group 16 splits 0: 1 to 32 splits along K, found 0",
        assertThrows(IllegalArgumentException.class, () -> t.withSplits(0)).getMessage());
    // a split-K tile renders no copy-engine store even where it asks for one, and a tile without splits renders no SPLITS
    WgmmaBf16.Kernel k = WgmmaBf16.render(WgmmaBf16.DEFAULT.withSplits(3), WgmmaBf16.Major.K, WgmmaBf16.Major.K, WgmmaBf16.Out.BF16, false);
    assertFalse(k.tmaStore());
    assertTrue(k.source().contains(k.function() + "_sum("));
    assertFalse(WgmmaBf16.render(WgmmaBf16.DEFAULT, WgmmaBf16.Major.K, WgmmaBf16.Major.K, WgmmaBf16.Out.BF16, false).source().contains("SPLITS"));
  }

  @Test
  void anEpilogueATunedTileOrTheSwitchKeepKWhole() {
    Bf16WgmmaLoweringTest.Lowered l = gpt2(32, 1024);
    kiln.dsl.Compute attprojw = l.program().graph().computes().stream().filter(c -> c.name().equals("dr1/grads.attprojw[0]")).findFirst().orElseThrow();
    java.util.List<kiln.dsl.Compute> one = java.util.List.of(attprojw);
    var schedule = Bf16WgmmaLoweringTest.HOPPER_BF16;
    // a tuned tile is taken as it is (the tuner raced the splits)
    WgmmaBf16.Tile tuned = new WgmmaBf16.Tile(128, 128, 6, 2, true, 16);
    Lowering.Lowered t = CudaLowering.lower(one, schedule, m -> tuned, l.arena()::size, 0, null, l.arena()::offsetLong);
    assertEquals(tuned, ((Work.Bf16Tiles) t.launches().getFirst().kernel().work()).tile());
    // KILN_WGMMA_SPLITK=0
    CudaLowering.splitKOverride = false;
    try {
      Lowering.Lowered off = CudaLowering.lower(one, schedule, m -> null, l.arena()::size, 0, null, l.arena()::offsetLong);
      assertEquals(1, ((Work.Bf16Tiles) off.launches().getFirst().kernel().work()).tile().splits());
    } finally {
      CudaLowering.splitKOverride = null;
    }
    // a schedule that names its splits keeps them
    Lowering.Lowered named = CudaLowering.lower(one, schedule.withWgmmaBf16(WgmmaBf16.DEFAULT.withSplits(3)), m -> null, l.arena()::size, 0, null,
        l.arena()::offsetLong);
    assertEquals(3, ((Work.Bf16Tiles) named.launches().getFirst().kernel().work()).tile().splits());
    // an epilogue needs C in one pass: the renderer refuses split-K with one
    kiln.codegen.Epilogue.override = kiln.codegen.Epilogue.Mode.ALL;   // by default bf16 matmuls take no epilogue
    java.util.List<kiln.dsl.Compute> fc;
    try {
      fc = kiln.codegen.Epilogue.groups(l.program().graph().computes()).stream()
          .filter(g -> kiln.codegen.Epilogue.fused(g) && g.getFirst().name().equals("h0.fc.out.r1")).findFirst().orElseThrow();
    } finally {
      kiln.codegen.Epilogue.override = null;
    }
    var mm = kiln.codegen.MatmulMatch.of(fc.getFirst()).orElseThrow();
    var epilogue = new CudaRenderer.Fused(fc.subList(1, fc.size()), java.util.Set.of());
    assertEquals("h0.fc.out.r1: an epilogue needs C in one pass, found split-K (bm=128 bn=192 stages=4 consumers=2 group=16 splits=2)",
        assertThrows(IllegalArgumentException.class, () -> CudaRenderer.matmul(mm, WgmmaBf16.DEFAULT.withTmaStore(false).withSplits(2), epilogue)).getMessage());
  }
}
