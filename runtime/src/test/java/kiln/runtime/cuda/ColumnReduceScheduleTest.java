// Which reductions the split-row column reduction serves (CudaRenderer.columnar), how it splits the rows
// and how much workspace it takes, without a GPU: GPT-2 124M at B=8, T=1024 lowered as CudaExecutor does.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import kiln.codegen.RowFusion;
import kiln.codegen.Work;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.models.Gpt2;
import kiln.models.Program;
import kiln.runtime.Arena;
import org.junit.jupiter.api.Test;

class ColumnReduceScheduleTest {
  static final CudaSchedule.ColumnTile TILE = CudaSchedule.COLUMNS_DEFAULT;

  private static String fold(String name) { return name.replaceAll("h\\d+\\.", "h*.").replaceAll("\\[\\d+\\]", "[*]"); }

  @Test
  void gpt2BiasAndNormWeightGradientsAreColumnReductionsAndNothingElse() {
    Program p = Gpt2.build(2, kiln.codegen.BackendPass.CUDA);
    TreeSet<String> columnar = new TreeSet<>(), rows = new TreeSet<>();
    for (Compute c : p.graph().computes()) {
      if (c.rootReductions().isEmpty() || kiln.codegen.MatmulMatch.of(c).isPresent()) continue;
      (CudaRenderer.columnar(c) ? columnar : rows).add(fold(c.name()));
    }
    assertEquals(new TreeSet<>(java.util.List.of("dencoded/grads.wpe[:T]", "dout/grads.attprojb[*]", "dout/grads.fcb[*]", "dout/grads.fcprojb[*]",
        "dout/grads.ln1b[*]", "dout/grads.ln1w[*]", "dout/grads.ln2b[*]", "dout/grads.ln2w[*]", "dout/grads.lnfb", "dout/grads.lnfw",
        "dqkv/grads.qkvb[*]")), columnar);
    // reductions along the contiguous index keep the block per output: layernorm rows, softmax, attention's dyy, the grad norm
    for (String r : new String[] {"h*.ln1.mean.r1", "h*.ln1.rstd.r1", "head.max", "head.norm", "dout/dh*.ln1.mean", "gradnorm.partial"}) {
      assertTrue(rows.contains(r), r + " is a row reduction: " + rows);
    }
  }

  @Test
  void loweringPicksTheScheduleWhereItIsOnOnly() {
    Program p = Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
    Map<Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(1024, 50257, 50304, 1, 12, 768), 8, 1024);
    CudaSchedule on = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32);
    // with KILN_ROW_COLSUM=1 the norms' weight and bias sums and the residuals' bias sums run in the norm backward's row kernels
    // (RowFusion's COLSUM stages, rows resident at C = 768): wpe, fcb (at tf32 the GELU gradient is the fc matmul's epilogue)
    // and qkvb are left
    RowFusion.columnSumsOverride = true;
    Lowering.Lowered fused;
    try {
      fused = CudaLowering.lower(p.graph().computes(), on, m -> null, sizes::get, 0, null, null);
    } finally {
      RowFusion.columnSumsOverride = null;
    }
    assertEquals(3, fused.launches().stream().filter(x -> x.kernel().kind().equals("colreduce")).count(), "wpe, fcb, qkvb");
    // by default (the row kernels' sums off) the column reductions of every bias and norm weight
    columnReductions(p, sizes, on);
  }

  private static void columnReductions(Program p, Map<Dim, Integer> sizes, CudaSchedule on) {
    Lowering.Lowered l = CudaLowering.lower(p.graph().computes(), on, m -> null, sizes::get, 0, null, null);
    long colreduce = l.launches().stream().filter(x -> x.kernel().kind().equals("colreduce")).count();
    assertEquals(1 + 1 + 4 + 2, colreduce, "wpe, lnf w+b, the layer's 4 biases, ln1 w+b and ln2 w+b (siblings share a launch)");
    assertEquals(List.of("dout/grads.lnfw+dout/grads.lnfb", "dout/grads.ln2w[0]+dout/grads.ln2b[0]", "dout/grads.ln1w[0]+dout/grads.ln1b[0]"),
        l.launches().stream().filter(x -> x.kernel().work() instanceof Work.Columns c && c.outputs() == 2).map(kiln.codegen.Launch::name).toList());
    CudaLowering.siblingsOverride = false;
    Lowering.Lowered apart;
    try {
      apart = CudaLowering.lower(p.graph().computes(), on, m -> null, sizes::get, 0, null, null);
    } finally {
      CudaLowering.siblingsOverride = null;
    }
    assertEquals(1 + 2 + 8, apart.launches().stream().filter(x -> x.kernel().kind().equals("colreduce")).count(), "KILN_COLSIBLINGS=0: one each");
    assertEquals(l.launches().size() + 3, apart.launches().size(), "three sibling pairs");
    Lowering.Lowered off = CudaLowering.lower(p.graph().computes(), on.withColumns(null), m -> null, sizes::get, 0, null, null);
    assertTrue(off.launches().stream().noneMatch(x -> x.kernel().kind().equals("colreduce")), "KILN_COLREDUCE=0: none");
    assertEquals(apart.launches().size(), off.launches().size(), "one launch for one, the same computes");
    for (kiln.codegen.Launch x : l.launches()) {
      if (!x.kernel().kind().equals("colreduce")) continue;
      assertTrue(x.kernel().source().contains(x.kernel().function() + "_sum("), "the sum kernel is in the same source: " + x.name());
      assertTrue(x.kernel().work() instanceof Work.Columns, x.name());
    }
  }

  @Test
  void splitsFillTheGpuAndCoverEveryRowOnce() {
    // C = 768 (biases of attproj/fcproj, layernorm weights): 3 tiles of 256 outputs x 32 splits, 32 rows a thread
    assertArrayEquals(new long[] {32, 32}, TILE.plan(768, 8192));
    assertArrayEquals(new long[] {32, 32}, TILE.plan(2304, 8192));   // qkv bias: 9 tiles
    assertArrayEquals(new long[] {32, 32}, TILE.plan(3072, 8192));   // fc bias: 12 tiles
    assertArrayEquals(new long[] {128, 32}, TILE.plan(768, 32768));   // B = 32: 384 blocks, one wave on an H200
    assertArrayEquals(new long[] {43, 96}, TILE.plan(3072, 32768));   // B = 32 fc bias: 516 blocks
    assertArrayEquals(new long[] {1, 1}, TILE.plan(1024 * 768, 8));   // wpe: many tiles, 8 rows
    assertArrayEquals(new long[] {8, 33}, TILE.plan(100, 5 * 419));   // CudaColumnReduceTest's odd shape
    assertArrayEquals(new long[] {1, 1}, TILE.plan(1, 1));
    for (long items : new long[] {1, 31, 33, 100, 768, 3072, 50304}) {
      for (long extent : new long[] {1, 7, 8, 129, 2095, 8192, 65536, 1L << 22}) {
        long[] plan = TILE.plan(items, extent);
        long perSplit = plan[1] * TILE.rows();
        assertTrue(plan[0] >= 1 && plan[0] <= 65535 && plan[1] >= 1, items + " x " + extent);
        assertTrue(plan[0] * perSplit >= extent && (plan[0] - 1) * perSplit < extent, items + " x " + extent + ": every split has rows, all rows covered");
        long tiles = (items + TILE.columns() - 1) / TILE.columns(), blocks = tiles * plan[0];
        assertTrue(blocks >= Math.min(TILE.blocks(), tiles * Math.max(1, extent / (TILE.rows() * TILE.minRows()))) / 2,
            items + " x " + extent + ": " + blocks + " blocks");
      }
    }
  }

  @Test
  void workspaceIsAPartialPerSplitAndFitsTheTransposeWorkspace() {
    Program p = Gpt2.build(12, kiln.codegen.BackendPass.CUDA);
    Map<Dim, Integer> sizes = Gpt2.FAMILY.bind(new Gpt2.Config(1024, 50257, 50304, 12, 12, 768), 8, 1024);
    Arena layout = new Arena(p.graph(), sizes, java.util.Set.of(), null, false, Map.of());
    CudaSchedule s = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32);
    long most = 0;
    for (kiln.codegen.Launch x : CudaLowering.lower(p.graph().computes(), s, m -> null, sizes::get, 0, null, null).launches()) {
      if (!(x.kernel().work() instanceof Work.Columns c)) continue;
      long items = layout.product(c.items()), extent = layout.product(c.extent());
      long need = CudaExecutor.workspaceFloats(x.kernel(), layout);
      assertEquals(TILE.plan(items, extent)[0] * items * c.outputs(), need, x.name());
      most = Math.max(most, need);
    }
    assertEquals(1024 * 768, most, "the largest: wpe's gradient, one split of T x C");
    assertTrue(most <= CudaExecutor.TRANSPOSE_FLOATS, "within the workspace the transposed copies already take on an H200");
  }

  @Test
  void badTilesSayWhy() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CudaSchedule.ColumnTile(64, 4, 2048, 16, 8));
    assertEquals("column tile 64 rows unroll 4 blocks 2048 minRows 16 lanes 8: 1 to 32 rows of 32 threads, unroll 1 to 8, positive block target"
        + " and minimum rows, 1 or 8 lanes", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> new CudaSchedule.ColumnTile(8, 4, 2048, 16, 4));
    assertEquals("column tile 8 rows unroll 4 blocks 2048 minRows 16 lanes 4: 1 to 32 rows of 32 threads, unroll 1 to 8, positive block target"
        + " and minimum rows, 1 or 8 lanes", e.getMessage());
  }
}
