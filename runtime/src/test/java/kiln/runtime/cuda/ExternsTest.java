// The extern registry on the CPU (no GPU): attention layouts derived from each family's graph (GPT-2's
// packed qkv, Llama's grouped-query and Gemma's multi-/grouped-query heads), which attention regions
// the CUDA pass replaces, and the one-line refusals for what no kernel serves.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.AttentionLayout;
import kiln.codegen.BackendPass;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Externs;
import kiln.codegen.Recompute;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.DType;
import kiln.dsl.Tensor;
import kiln.models.Gemma;
import kiln.models.Gpt2;
import kiln.models.Llama;
import kiln.models.ModelFamily;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class ExternsTest {
  static final int B = 2, T = 5;

  /** The CUDA program of a family config, as Models opens it (the pass sees the family's sizes). */
  private static <C extends Record> Program cuda(ModelFamily<C> f, C c) { return f.build(c, BackendPass.cuda(f.dims(c), CudaSchedule.Precision.FP32, Recompute.GELU)); }

  private static List<Compute> externs(Program p, String op) {
    return p.graph().computes().stream().filter(c -> c.body() instanceof Expr.Extern x && x.op().equals(op)).toList();
  }

  private static <C extends Record> Map<Dim, Integer> sizes(ModelFamily<C> f, C c) { return new HashMap<>(f.bind(c, B, T)); }

  /** The operand's offset, batch, position and head strides with every dim bound. */
  private static long[] bound(AttentionLayout.Operand o, Map<Dim, Integer> s) {
    return java.util.stream.Stream.of(o.offset(), o.batch(), o.position(), o.head())
        .mapToLong(t -> t.coefficient() * t.dims().stream().mapToLong(s::get).reduce(1, (x, y) -> x * y)).toArray();
  }

  @Test void gpt2PackedQkv() {
    Gpt2.Config c = new Gpt2.Config(64, 64, 64, 1, 3, 24);  // NH = 3, HS = 8
    Program p = cuda(Gpt2.FAMILY, c);
    Map<Dim, Integer> s = sizes(Gpt2.FAMILY, c);
    AttentionLayout l = Externs.attentionLayout(externs(p, Externs.ATTENTION).getFirst());
    assertTrue(l.packed());
    int row = 3 * 3 * 8;                                              // (3, NH, HS) per position
    assertArrayEquals(new long[] {0, T * row, row, 8}, bound(l.q(), s));
    assertArrayEquals(new long[] {24, T * row, row, 8}, bound(l.k(), s));
    assertArrayEquals(new long[] {48, T * row, row, 8}, bound(l.v(), s));
    assertArrayEquals(new long[] {0, T * 24, 24, 8}, bound(l.y(), s));
    assertEquals(1, l.groups(d -> s.get(d)));
    // the backward externs read the same layout: dq and dkdv over qkv and dqkv
    assertEquals(l.q(), Externs.attentionLayout(externs(p, Externs.ATTENTION_DQ).getFirst()).q());
    assertEquals(1, externs(p, Externs.ATTENTION_DKDV).size());
  }

  @Test void llamaGroupedQuery() {
    Llama.Config c = new Llama.Config(64, 64, 64, 1, 4, 2, 64, 32, 10000f, 1e-5f);  // NH = 4 over 2 kv heads, HS = 16
    Program p = cuda(Llama.FAMILY, c);
    Map<Dim, Integer> s = sizes(Llama.FAMILY, c);
    AttentionLayout l = Externs.attentionLayout(externs(p, Externs.ATTENTION).getFirst());
    assertFalse(l.packed());
    assertArrayEquals(new long[] {0, 4 * T * 16, 16, T * 16}, bound(l.q(), s));    // q (B, KV, G, T, HS)
    assertArrayEquals(new long[] {0, 2 * T * 16, 16, T * 16}, bound(l.k(), s));    // k (B, KV, 1, T, HS)
    assertArrayEquals(new long[] {0, T * 2 * 16, 2 * 16, 16}, bound(l.v(), s));    // v (B, T, KV, 1, HS)
    assertArrayEquals(new long[] {0, T * 4 * 16, 4 * 16, 16}, bound(l.y(), s));    // y (B, T, KV, G, HS)
    assertEquals(2, l.groups(d -> s.get(d)));
    assertNoScores(p);
  }

  @Test void gemmaMultiQuery() {
    Gemma.Config c = new Gemma.Config(64, 64, 64, 1, 4, 1, 24, 32, 64, 10000f, 1e-6f);  // 4 query heads over 1 kv head, HS = 24
    Program p = cuda(Gemma.FAMILY, c);
    Map<Dim, Integer> s = sizes(Gemma.FAMILY, c);
    AttentionLayout l = Externs.attentionLayout(externs(p, Externs.ATTENTION).getFirst());
    assertArrayEquals(new long[] {0, 4 * T * 24, 24, T * 24}, bound(l.q(), s));
    assertArrayEquals(new long[] {0, T * 24, 24, T * 24}, bound(l.k(), s));
    assertArrayEquals(new long[] {0, T * 24, 24, 24}, bound(l.v(), s));
    assertEquals(4, l.groups(d -> s.get(d)));
    assertEquals(1, l.kvHeadCount(d -> s.get(d)));
    assertNoScores(p);
    // one key/value head: dkdv writes a partial per query head (q's dims), summed over G into dk and dv
    Compute dkdv = externs(p, Externs.ATTENTION_DKDV).getFirst();
    assertEquals(l.q().tensor().dims(), dkdv.out().dims());
    for (String g : List.of("dk", "dv")) {
      Compute sum = p.graph().computes().stream().filter(x -> x.name().equals("backward.h0.attn." + g)).findFirst().orElseThrow();
      assertTrue(sum.body() instanceof Expr.Reduce r && r.var().dim().name().equals("G"), sum.name() + " sums over G: " + sum.body());
    }
  }

  /**
   * At TF32 the multi-query dkdv sums the group across a thread-block cluster: no partials in the graph, dk and dv
   * with k's dims, a block per query head in clusters of G (__cluster_dims__), the dk, dv tile handed over in shared memory.
   */
  @Test void gemmaMultiQueryAtTf32SumsTheGroupInACluster() {
    for (int hs : new int[] {32, 128}) {  // the narrow kernel and the wide one (HS > 64)
      Gemma.Config c = new Gemma.Config(64, 64, 64, 1, 4, 1, hs, 32, 64, 10000f, 1e-6f);  // 4 query heads over 1 kv head
      Program p = Gemma.FAMILY.build(c, BackendPass.cuda(Gemma.FAMILY.dims(c), CudaSchedule.Precision.TF32, Recompute.GELU));
      Map<Dim, Integer> s = sizes(Gemma.FAMILY, c);
      Compute dkdv = externs(p, Externs.ATTENTION_DKDV).getFirst();
      AttentionLayout l = Externs.attentionLayout(dkdv);
      assertEquals(l.k().tensor().dims(), dkdv.out().dims());
      assertFalse(p.graph().computes().stream().anyMatch(x -> x.name().equals("backward.h0.attn.dk")), "no DSL sum over G");
      var r = Externs.render(dkdv, CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32), d -> s.get(d));
      assertTrue(r.source().contains("__cluster_dims__(4, 1, 1)"), r.source().lines().filter(x -> x.contains("__global__")).toList().toString());
      assertTrue(r.source().contains("#define FA_DKV_CLUSTER 4"));
      var tiles = (kiln.codegen.Work.RowTiles) r.work();
      assertEquals(List.of("B", "KV", "G"), tiles.rows().stream().map(Dim::name).toList());  // a block per query head
      int bq = 32, lds = 2 * bq * (hs + 4) + 2 * bq;
      assertEquals(4 * (hs > 64 ? 2 * 64 * (hs + 4) + 2 * lds : Math.max(lds, 2 * 64 * hs)), tiles.sharedBytes());
      // dq at wide heads reads its dO fragments from a shared-memory tile of its 64 rows (FA_DQ_WIDE)
      var dq = Externs.render(externs(p, Externs.ATTENTION_DQ).getFirst(), CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32), d -> s.get(d));
      int dqBk = hs > 64 ? 32 : 64;
      assertEquals(hs > 64, dq.source().contains("#define FA_DQ_WIDE 1"));
      assertEquals(4 * 2 * dqBk * (hs + 4) + (hs > 64 ? 4 * 64 * (hs + 4) : 0), ((kiln.codegen.Work.RowTiles) dq.work()).sharedBytes());
      // fp32 keeps the partials (its kernel has no cluster), and so does a group too large for a portable cluster
      Program fp32 = cuda(Gemma.FAMILY, c);
      assertEquals(l.q().tensor().dims(), externs(fp32, Externs.ATTENTION_DKDV).getFirst().out().dims());
    }
    Gemma.Config wide = new Gemma.Config(64, 64, 64, 1, 16, 1, 32, 32, 64, 10000f, 1e-6f);  // G = 16 > 8
    Program p = Gemma.FAMILY.build(wide, BackendPass.cuda(Gemma.FAMILY.dims(wide), CudaSchedule.Precision.TF32, Recompute.GELU));
    Compute dkdv = externs(p, Externs.ATTENTION_DKDV).getFirst();
    assertEquals(Externs.attentionLayout(dkdv).q().tensor().dims(), dkdv.out().dims());
  }

  @Test void gemmaGroupedQuery() {
    Gemma.Config c = new Gemma.Config(64, 64, 64, 1, 6, 2, 32, 48, 64, 10000f, 1e-6f);  // 6 query heads over 2, HS = 32
    Program p = cuda(Gemma.FAMILY, c);
    Map<Dim, Integer> s = sizes(Gemma.FAMILY, c);
    AttentionLayout l = Externs.attentionLayout(externs(p, Externs.ATTENTION_DKDV).getFirst());
    assertEquals(3, l.groups(d -> s.get(d)));
    assertEquals(l.k().tensor().dims(), externs(p, Externs.ATTENTION_DKDV).getFirst().out().dims());  // summed in the kernel
    assertArrayEquals(new long[] {0, 6 * T * 32, 32, T * 32}, bound(l.q(), s));
    assertArrayEquals(new long[] {0, T * 6 * 32, 6 * 32, 32}, bound(l.y(), s));   // dy, as y
    assertNoScores(p);
  }

  /** A head size the kernels do not take (Gemma's fixture gemma-gqa has 10) keeps the DSL definition. */
  @Test void unsupportedHeadSizeKeepsTheDefinition() {
    Gemma.Config c = new Gemma.Config(64, 64, 64, 1, 6, 2, 10, 48, 64, 10000f, 1e-6f);
    Program p = cuda(Gemma.FAMILY, c);
    assertTrue(externs(p, Externs.ATTENTION).isEmpty());
    assertTrue(p.graph().computes().stream().anyMatch(x -> x.name().endsWith("attn.scores")));
    Graph g = new Graph();
    Dim b = new Dim("B"), t = new Dim("T"), kv = new Dim("KV"), j = new Dim("G"), one = new Dim("ONE"), hs = new Dim("HS");
    Tensor q = g.tensor("q", Role.ACT, DType.F32, b, kv, j, t, hs), k = g.tensor("k", Role.ACT, DType.F32, b, kv, one, t, hs);
    Tensor v = g.tensor("v", Role.ACT, DType.F32, b, t, kv, one, hs), y = g.tensor("y", Role.ACT, DType.F32, b, t, kv, j, hs);
    AttentionLayout l = AttentionLayout.of(q, k, v, y);
    assertEquals("attention: head size HS a multiple of 8, found 10", Externs.attentionUnsupported(l, Map.of(hs, 10, one, 1)::get));
    assertEquals("attention: k's axis ONE of size 1, found 2", Externs.attentionUnsupported(l, Map.of(hs, 16, one, 2)::get));
    assertEquals(null, Externs.attentionUnsupported(l, Map.of(hs, 16, one, 1)::get));
  }

  /** Layouts no attention kernel reads are refused with one line naming the operand. */
  @Test void refusesLayoutsWithAMessage() {
    Graph g = new Graph();
    Dim b = new Dim("B"), t = new Dim("T"), h = new Dim("NH"), hs = new Dim("HS");
    Tensor y = g.tensor("y", Role.ACT, DType.F32, b, t, h, hs);
    Tensor headLast = g.tensor("q", Role.ACT, DType.F32, b, t, hs, h);
    Tensor k = g.tensor("k", Role.ACT, DType.F32, b, t, h, hs), v = g.tensor("v", Role.ACT, DType.F32, b, t, h, hs);
    var e = assertThrows(IllegalArgumentException.class, () -> AttentionLayout.of(headLast, k, v, y));
    assertEquals("attention: q (B, T, [NH], HS) in any order, HS last: head size HS last, found q[B, T, HS, NH]", e.getMessage());
    Dim kvh = new Dim("KV"), grp = new Dim("G");
    Tensor y2 = g.tensor("y2", Role.ACT, DType.F32, b, t, kvh, grp, hs);
    Tensor q2 = g.tensor("q2", Role.ACT, DType.F32, b, t, kvh, grp, hs);
    Tensor kByGroup = g.tensor("k2", Role.ACT, DType.F32, b, t, grp, hs);       // a group index is no kv head
    e = assertThrows(IllegalArgumentException.class, () -> AttentionLayout.of(q2, kByGroup, kByGroup, y2));
    assertEquals("attention: q, k and v must be one tensor or three, found q2[B, T, KV, G, HS], k2[B, T, G, HS], k2[B, T, G, HS]", e.getMessage());
    Tensor v2 = g.tensor("v2", Role.ACT, DType.F32, b, t, grp, hs);
    e = assertThrows(IllegalArgumentException.class, () -> AttentionLayout.of(q2, kByGroup, v2, y2));
    assertEquals("attention: k (B, T, leading dims of [KV, G], HS) in any order, HS last: head axes a leading part of [KV, G] adjacent and in that order,"
        + " found k2[B, T, G, HS]", e.getMessage());
  }

  /** The renderer asks the registry; a head size no entry takes is one line naming the compute and the reason. */
  @Test void renderRefusesAnUnsupportedHeadSize() {
    Gpt2.Config c = new Gpt2.Config(64, 64, 64, 1, 2, 24);  // HS = 12
    Program p = Gpt2.FAMILY.build(c, BackendPass.CUDA);       // sizes unknown to the pass: the extern is put in
    Compute fwd = externs(p, Externs.ATTENTION).getFirst();
    Map<Dim, Integer> s = Gpt2.FAMILY.bind(c, B, T);
    var e = assertThrows(IllegalArgumentException.class, () -> Externs.render(fwd, CudaSchedule.DEFAULT, d -> s.get(d)));
    assertEquals("h0.attn.y: attention: head size HS a multiple of 8, found 12", e.getMessage());
  }

  private static void assertNoScores(Program p) {
    assertFalse(p.graph().computes().stream().anyMatch(x -> x.name().contains("scores")), "a T x T scores compute is left");
  }
}
