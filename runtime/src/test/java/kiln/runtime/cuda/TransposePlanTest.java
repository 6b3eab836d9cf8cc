// Which matmuls the Hopper path runs over transposed copies, and how much workspace they take, without a
// GPU: GPT-2 124M at B=8, T=1024 lowered as an H200 runs it at TF32 (CudaExecutor.TRANSPOSE_FLOATS).
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import kiln.codegen.Work;
import kiln.codegen.Rendered;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Dim;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class TransposePlanTest {
  // the plans as shipped (chunks along M on), whatever KILN_WGMMA_MCHUNK the environment sets
  @org.junit.jupiter.api.BeforeEach
  void rowChunksOn() { CudaLowering.rowChunksOverride = true; }

  @org.junit.jupiter.api.AfterEach
  void environmentDecides() { CudaLowering.rowChunksOverride = null; }

  static final CudaSchedule HOPPER = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma(CudaSchedule.WGMMA_DEFAULT);

  @Test
  void chunksAlongKFitTheCapOrGiveUp() {
    // dW of fc: dyᵀ (3072 rows) and xᵀ (768 rows) over K = 8192: two chunks of 4096 fit 16 M floats
    assertArrayEquals(new long[] {4096, 2}, CudaRenderer.transposePlan(true, true, 3072, 768, 8192, 16L << 20, 4));
    // dx of the classifier: wteᵀ (768 rows) over K = 50 304: three chunks of 16 768 (a multiple of 32)
    assertArrayEquals(new long[] {16768, 3}, CudaRenderer.transposePlan(false, true, 8192, 768, 50304, 16L << 20, 4));
    // one chunk where everything fits; odd K rounds the chunk up to 32 and the last map zero-fills
    assertArrayEquals(new long[] {288, 1}, CudaRenderer.transposePlan(true, false, 300, 190, 259, 16L << 20, 4));
    // dwte: dlogitsᵀ (50 304 rows) + lnfᵀ (768) over K = 8192 needs 26 chunks: stays on mma.sync
    assertNull(CudaRenderer.transposePlan(true, true, 50304, 768, 8192, 16L << 20, 4));
    assertNull(CudaRenderer.transposePlan(false, false, 10, 10, 10, 16L << 20, 4), "nothing to copy");
    assertNull(CudaRenderer.transposePlan(true, false, 10, 10, 10, 0, 4), "off");
  }

  @Test
  void chunksAlongMWhereKAloneDoesNotFit() {
    // dwte: 5 chunks of 1664 along K x 6 of 8448 rows (the last 8064), lnfᵀ's 768 rows + one M chunk within 16 M floats
    long[] plan = CudaRenderer.transposePlan(true, true, 50304, 768, 8192, 16L << 20, 4, 16, 128, 192);
    assertArrayEquals(new long[] {1664, 5, 8448, 6, 50304 - 5 * 8448}, plan);
    assertTrue((768 + 8448) * 1664L <= 16L << 20);
    // a K-only plan wins where one fits (the 7-argument plan's answer, two numbers)
    assertArrayEquals(new long[] {4096, 2}, CudaRenderer.transposePlan(true, true, 3072, 768, 8192, 16L << 20, 4, 16, 128, 192));
    // every plan the model can pick covers M and K, rows a multiple of 256, within the cap
    for (long[] s : new long[][] {{50304, 768, 8192}, {1000, 300, 517}, {5000, 64, 3000}, {777, 190, 2600}}) {
      for (boolean b : new boolean[] {true, false}) {
        long cap = 200_000;
        long[] p = CudaRenderer.transposePlan(true, b, s[0], s[1], s[2], cap, 4, 16, 128, 192);
        if (p == null || p.length == 2) continue;
        assertEquals(0, p[2] % CudaRenderer.M_CHUNK_ROWS);
        assertTrue(p[0] * p[1] >= s[2] && p[0] * (p[1] - 1) < s[2], "K covered");
        assertTrue(p[2] * (p[3] - 1) < s[0] && p[2] * (p[3] - 1) + p[4] == s[0] && p[4] > 0 && p[4] <= p[2], "M covered");
        assertTrue(((b ? s[1] : 0) + p[2]) * p[0] <= cap, "within the cap");
      }
    }
    // A read in place (only B copied): no chunks along M, the K-only answer (null here)
    assertNull(CudaRenderer.transposePlan(false, true, 50304, 100_000, 8192, 16L << 20, 4, 16, 128, 192));
    // too small a cap for even 256 rows
    assertNull(CudaRenderer.transposePlan(true, true, 50304, 768, 8192, 100_000, 4, 16, 128, 192));
  }

  @Test
  void gpt2BackwardMatmulsRunOverCopiesDwteChunkedAlongM() {
    Program p = Gpt2.build(12, kiln.codegen.BackendPass.CUDA);
    Map<Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(1024, 50257, 50304, 12, 12, 768), 8, 1024);
    Lowering.Lowered l = CudaLowering.lower(p.graph().computes(), HOPPER, m -> null, sizes::get, CudaExecutor.TRANSPOSE_FLOATS, null, null);
    Map<String, Integer> kinds = new TreeMap<>();
    long workspace = 0;
    for (kiln.codegen.Launch x : l.launches()) {
      Rendered r = x.kernel();
      if (!(r.work() instanceof Work.Tiles t)) continue;
      // the launch's matmul (a launch with an epilogue is named matmul+consumers)
      String name = x.name().replaceAll("\\+.*", "").replaceAll("h\\d+\\.", "h*.").replaceAll("\\[\\d+\\]", "[*]");
      kinds.merge(r.kind().replace("_acc", "") + " " + name, 1, Integer::sum);
      if (t.transposed() != null) {
        long m = product(t.m(), sizes), n = product(t.n(), sizes), k = product(t.k(), sizes);
        Work.Transposed tr = t.transposed();
        assertTrue(tr.kChunk() % 32 == 0 && tr.kChunk() * tr.chunks() >= k && tr.kChunk() * (tr.chunks() - 1) < k, x.name() + ": chunks cover K");
        assertTrue(l.kernels().containsKey(tr.transpose().function()), "the transpose kernel is compiled with the program");
        if (tr.rest() != null) assertTrue(l.kernels().containsKey(tr.rest().function()), "the += twin too");
        assertEquals(tr.chunks() > 1 && !r.kind().endsWith("_acc"), tr.rest() != null, x.name() + ": a += twin only where later chunks need one");
        workspace = Math.max(workspace, tr.workspaceFloats(m, n));
      }
    }
    // the five forward kinds read both operands K-major; every backward one but dwte gets copies
    for (String fwd : new String[] {"head.logits", "h*.attn.qkv.r1", "h*.fc.out.r1", "h*.fcproj.out.r1"}) {
      assertTrue(kinds.containsKey("wgmma " + fwd), fwd + " in " + kinds);
    }
    for (String bwd : new String[] {"dlogits/dlnf.out", "dr1/grads.fcw[*]", "dr1/grads.fcprojw[*]", "dr1/grads.attprojw[*]", "dr1/grads.qkvw[*]",
        "dr1/dh*.ln1.out", "dr1/dh*.ln2.out", "dr1/dh*.attn.y", "dr1/dh*.fc.gelu"}) {
      assertTrue(kinds.containsKey("wgmma_t " + bwd), bwd + " over copies: " + kinds);
    }
    assertTrue(kinds.containsKey("wgmma_t dlogits/grads.wte"), "dwte over copies chunked along M: " + kinds);
    assertTrue(kinds.keySet().stream().noneMatch(k -> k.startsWith("mma ")), "nothing left on mma.sync: " + kinds);
    Work.Tiles dwte = l.launches().stream().filter(x -> x.name().endsWith("grads.wte")).map(x -> (Work.Tiles) x.kernel().work())
        .findFirst().orElseThrow();
    Work.Transposed dx = dwte.transposed();
    assertTrue(dx.a() && dx.b() && dx.byRows());
    assertEquals(1664, dx.kChunk());
    assertEquals(5, dx.chunks());
    assertEquals(8448, dx.mChunk());
    assertEquals(6, dx.mChunks());
    assertTrue(dx.tail() != null && dx.tail().source().contains("const int M = 8064,"), "the last 8064 rows' kernel");
    for (Rendered r : dx.kernels()) assertTrue(l.kernels().containsKey(r.function()), r.function() + " compiled with the program");
    // dwte's copies, (8448 + 768) x 1664 floats, are smaller than fc's dW, (3072 + 768) x 4096: the workspace does not grow
    assertEquals((8448 + 768) * 1664L, dx.workspaceFloats(50304, 768));
    assertEquals((3072 + 768) * 4096L, workspace);
    assertTrue(workspace <= CudaExecutor.TRANSPOSE_FLOATS);
    // with KILN_WGMMA_MCHUNK=0 dwte stays on mma.sync and fc's dW, (3072 + 768) x 4096, is the largest
    CudaLowering.rowChunksOverride = false;
    try {
      Lowering.Lowered noRows = CudaLowering.lower(p.graph().computes(), HOPPER, m -> null, sizes::get, CudaExecutor.TRANSPOSE_FLOATS, null, null);
      long most = 0;
      for (kiln.codegen.Launch y : noRows.launches()) {
        if (!(y.kernel().work() instanceof Work.Tiles t) || t.transposed() == null) continue;
        assertTrue(!t.transposed().byRows(), y.name());
        most = Math.max(most, t.transposed().workspaceFloats(product(t.m(), sizes), product(t.n(), sizes)));
      }
      assertEquals((3072 + 768) * 4096L, most);
      assertTrue(noRows.launches().stream().anyMatch(y -> y.name().endsWith("grads.wte") && y.kernel().kind().startsWith("mma")));
    } finally {
      CudaLowering.rowChunksOverride = true;
    }
    // with the cap at 0 nothing runs over copies (KILN_WGMMA_T=0)
    Lowering.Lowered off = CudaLowering.lower(p.graph().computes(), HOPPER, m -> null, sizes::get, 0, null, null);
    assertTrue(off.launches().stream().noneMatch(x -> x.kernel().kind().startsWith("wgmma_t")));
  }

  @Test
  void theChooserPicksCopiesWithATileOrKeepsMmaSync() {
    Program p = Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
    Map<Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(1024, 50257, 50304, 1, 12, 768), 8, 1024);
    CudaSchedule.WgmmaTile other = (CudaSchedule.WgmmaTile) CudaSchedule.wgmmaSpace().stream().filter(t -> !t.equals(CudaSchedule.WGMMA_DEFAULT))
        .findFirst().orElseThrow();
    java.util.List<String> asked = new java.util.ArrayList<>();
    // a chooser as a tuning cache would answer: mma.sync for fcw's dW, another wgmma tile for fcprojw's, the rule elsewhere
    Lowering.Chooser<CudaSchedule.MatmulTile> chooser = new Lowering.Chooser<CudaSchedule.MatmulTile>() {
      @Override public CudaSchedule.MatmulTile choose(Rendered byDefault) { return null; }

      @Override public CudaSchedule.MatmulTile choose(Rendered byDefault, Rendered overCopies) {
        asked.add(byDefault.tensors().getFirst().name());
        assertEquals("mma", byDefault.kind().replace("_acc", ""), "byDefault is the mma.sync render");
        String c = byDefault.tensors().getFirst().name();   // the output, "grads.fcw[0]" for layer 0's
        return c.startsWith("grads.fcw[") ? HOPPER.matmul() : c.startsWith("grads.fcprojw[") ? other : null;
      }
    };
    Lowering.Lowered l = CudaLowering.lower(p.graph().computes(), HOPPER, chooser, sizes::get, CudaExecutor.TRANSPOSE_FLOATS, null, null);
    assertEquals(10, asked.size(), "the 8 backward matmuls of the layer, dlnf and dwte (chunked along M) are offered copies: " + asked);
    for (kiln.codegen.Launch x : l.launches()) {
      String src = x.kernel().source();
      if (x.name().endsWith("grads.fcw[0]")) assertTrue(x.kernel().kind().startsWith("mma"), x.name() + " kept on mma.sync");
      if (x.name().endsWith("grads.fcprojw[0]")) {
        assertTrue(x.kernel().kind().startsWith("wgmma_t") && src.contains(other.knobs()), x.name() + " over copies with " + other.knobs());
      }
      if (x.name().endsWith("grads.qkvw[0]")) assertTrue(x.kernel().kind().startsWith("wgmma_t") && src.contains(CudaSchedule.WGMMA_DEFAULT.knobs()));
    }
    // the tuner races the wgmma tiles over copies alongside the mma.sync space; none where no copies are planned
    for (kiln.dsl.Compute c : p.graph().computes()) {
      var mm = kiln.codegen.MatmulMatch.of(c);
      if (mm.isEmpty()) continue;
      boolean copies = CudaLowering.transposePlan(mm.get(), HOPPER, sizes::get, CudaExecutor.TRANSPOSE_FLOATS) != null;
      java.util.List<CudaSchedule.MatmulTile> space = CudaTuner.space(HOPPER, mm.get(), sizes::get, CudaExecutor.TRANSPOSE_FLOATS, null);
      assertEquals(HOPPER.matmulSpace(mm.get()).size() + (copies ? CudaSchedule.wgmmaSpace().size() : 0), space.size(), c.name());
      assertEquals(HOPPER.matmulSpace(mm.get()), CudaTuner.space(HOPPER, mm.get(), sizes::get, 0, null), "KILN_WGMMA_T=0: " + c.name());
    }
  }

  private static long product(java.util.List<Dim> dims, Map<Dim, Integer> sizes) {
    long p = 1;
    for (Dim d : dims) p *= sizes.get(d);
    return p;
  }
}
