// Which computes the row pass (RowFusion) groups into row kernels, for GPT-2 and Llama, forward and backward:
// layernorm / RMSNorm forward and backward, the classifier's softmax + cross-entropy and its dlogits, Llama's
// attention softmax, GPT-2's attention-backward row sum; that matmuls stay out and element maps join only where a reduction along their rows follows (the bias and residual adds before a norm, the residual gradient before the norm backward); that every compute runs
// once and every read-after-write, write-after-read and write-after-write order of the step is kept; and that
// KILN_ROWS=0 (rowsOverride) turns the row kernels off. No GPU needed.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaSchedule;
import kiln.codegen.MatmulMatch;
import kiln.codegen.RowFusion;
import kiln.codegen.RowFusion.Kind;
import kiln.dsl.Compute;
import kiln.dsl.Exprs;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import kiln.runtime.Session;
import org.junit.jupiter.api.Test;

class RowFusionTest {
  static final List<Kind> LN_FORWARD = List.of(Kind.REDUCE, Kind.ROW, Kind.REDUCE, Kind.ROW, Kind.MAP);
  static final List<Kind> LN_BACKWARD = List.of(Kind.REDUCE, Kind.REDUCE, Kind.ROW, Kind.MAP, Kind.REDUCE, Kind.ROW, Kind.MAP);
  static final List<Kind> RMS_FORWARD = List.of(Kind.REDUCE, Kind.ROW, Kind.MAP);
  static final List<Kind> CLASSIFIER = List.of(Kind.REDUCE, Kind.REDUCE, Kind.ROW);
  static final List<Kind> DLOGITS = List.of(Kind.ROW, Kind.ROW, Kind.MAP, Kind.SCATTER);

  static Map<String, List<Compute>> gpt2() { return Session.sections(kiln.models.Gpt2.build(2, kiln.codegen.BackendPass.CUDA)); }

  static Map<String, List<Compute>> llama() {
    return Session.sections(kiln.runtime.Models.get("llama-tiny").program(Session.Device.CPU));
  }

  @Test
  void gpt2LayernormsAndTheClassifierRunAsRowKernels() {
    // by default no row group takes a column sum (KILN_ROW_COLSUM unset): the norms' weight and bias sums stay column reductions
    assertTrue(plans(gpt2().get("backward")).stream().allMatch(p -> p.columnSums().isEmpty()));
    RowFusion.columnSumsOverride = true;   // KILN_ROW_COLSUM=1
    try {
      gpt2RowGroups();
    } finally {
      RowFusion.columnSumsOverride = null;
    }
  }

  private static void gpt2RowGroups() {
    Map<String, List<Compute>> s = gpt2();
    List<RowFusion.Plan> fwd = plans(s.get("forward")), bwd = plans(s.get("backward"));
    // ln1, ln2 of two layers and ln_f: mean, rstd and the normalised output in one kernel each, after the element maps
    // that feed their rows (the encoder's sum before ln1 of layer 0, the bias and residual adds before the rest)
    List<RowFusion.Plan> lnForward = fwd.stream().filter(p -> body(p).equals(LN_FORWARD)).toList();
    assertEquals(5, lnForward.size(), names(fwd));
    for (RowFusion.Plan p : lnForward) {
      int lead = lead(p);
      assertTrue(name(p, lead).endsWith(".mean.r1") && name(p, lead + 4).endsWith(".out"), names(p).toString());
      List<String> maps = names(p).subList(0, lead);
      assertTrue(maps.equals(List.of("encoder.encoded")) || maps.size() == 2 && maps.get(0).endsWith("proj.out") && maps.get(1).endsWith("proj.residual"),
          names(p).toString());
    }
    RowFusion.Plan head = only(fwd, CLASSIFIER);
    assertEquals(List.of("head.max", "head.norm", "head.losses"), names(head));
    assertEquals("VP", head.extent().name());
    assertEquals(6, fwd.size(), names(fwd));
    // the backward: dlogits (softmax - onehot, times dloss) in one pass, then five layernorm backwards
    RowFusion.Plan dlogits = only(bwd, DLOGITS);
    assertEquals(List.of("dr1/dhead.losses", "dlosses/dhead.norm", "dnorm/dhead.logits", "dlosses/dhead.logits"), names(dlogits));
    // the layernorm backwards, each with the residual gradient's first term (dout * rstd * w) folded in ahead of its sums
    List<RowFusion.Plan> lnBack = bwd.stream().filter(p -> body(p).size() >= 7 && body(p).subList(0, 7).equals(LN_BACKWARD)).toList();
    assertEquals(5, lnBack.size(), names(bwd));
    for (RowFusion.Plan p : lnBack) {
      assertEquals(1, lead(p), names(p).toString());
      assertTrue(p.stages().getFirst().compute().out().dims().getLast().name().equals("C"), names(p).toString());
      assertTrue(name(p, 1).matches("dout/d.*\\.mean") && name(p, 2).matches("dout/d.*\\.rstd"), names(p).toString());
      assertEquals("C", p.extent().name());
    }
    // each takes its norm's weight and bias gradients (Σ dout·x̂, Σ dout over the rows) and, but for the first layer's
    // ln1, the bias gradient of the projection that fed its residual (Σ of the residual gradient it leaves): COLSUM stages
    List<List<String>> lnSums = lnBack.stream().map(RowFusionTest::sums).toList();
    assertEquals(List.of(List.of("grads.lnfw", "grads.lnfb", "grads.fcprojb[*]"), List.of("grads.ln2w[*]", "grads.ln2b[*]", "grads.attprojb[*]"),
        List.of("grads.ln1w[*]", "grads.ln1b[*]", "grads.fcprojb[*]"), List.of("grads.ln2w[*]", "grads.ln2b[*]", "grads.attprojb[*]"),
        List.of("grads.ln1w[*]", "grads.ln1b[*]")), lnSums);
    // the GELU gradient's map and the fc bias gradient (the sum of what it writes) in one row kernel a layer
    List<RowFusion.Plan> dgelu = bwd.stream().filter(p -> kinds(p).stream().allMatch(k -> k == Kind.MAP) && sums(p).equals(List.of("grads.fcb[*]"))).toList();
    assertEquals(2, dgelu.size(), names(bwd));
    // attention's D = Σ_d dy·y per row (64 floats): a warp a row
    List<RowFusion.Plan> dyy = bwd.stream().filter(p -> kinds(p).equals(List.of(Kind.REDUCE))).toList();
    assertEquals(2, dyy.size(), names(bwd));
    for (RowFusion.Plan p : dyy) assertTrue(name(p, 0).endsWith("attn.dyy") && p.extent().name().equals("HS"), names(p).toString());
    assertEquals(10, bwd.size(), names(bwd));
    for (var e : s.entrySet()) invariants(e.getKey(), e.getValue());
  }

  @Test
  void llamaRmsNormsSoftmaxAndTheClassifierRunAsRowKernels() {
    Map<String, List<Compute>> s = llama();
    List<RowFusion.Plan> fwd = plans(s.get("forward")), bwd = plans(s.get("backward"));
    int layers = 2;
    // each RMSNorm after the element map that feeds its rows (the embedding, a residual add)
    List<RowFusion.Plan> rms = fwd.stream().filter(p -> kinds(p).equals(withMap(RMS_FORWARD))).toList();
    assertEquals(2 * layers + 1, rms.size(), names(fwd));
    for (RowFusion.Plan p : rms) assertTrue(name(p, 0).equals("embed.x") || name(p, 0).endsWith(".residual"), names(p).toString());
    // attention's softmax: the scaled scores, max, exp, sum, normalise along the key positions
    List<RowFusion.Plan> softmax = fwd.stream().filter(p -> kinds(p).equals(withMap(List.of(Kind.REDUCE, Kind.MAP, Kind.REDUCE, Kind.MAP)))).toList();
    assertEquals(layers, softmax.size(), names(fwd));
    for (RowFusion.Plan p : softmax) assertTrue(name(p, 0).endsWith("attn.scores") && name(p, 4).endsWith("attn.att"), names(p).toString());
    assertEquals(List.of("head.max", "head.norm", "head.losses"), names(only(fwd, CLASSIFIER)));
    assertEquals(2 * layers + 1 + layers + 1, fwd.size(), names(fwd));
    only(bwd, DLOGITS);
    // RMSNorm backward (the residual gradient's first term, the rstd sum, its per-row factor, the input gradient) and softmax
    // backward (datt * att first, then its sum along the row)
    assertEquals(2 * layers + 1, bwd.stream().filter(p -> lead(p) == 1 && body(p).subList(0, 3).equals(RMS_FORWARD)).count(), names(bwd));
    assertEquals(layers, bwd.stream().filter(p -> kinds(p).equals(withMap(List.of(Kind.REDUCE, Kind.MAP, Kind.MAP, Kind.MAP)))).count(), names(bwd));
    for (var e : s.entrySet()) invariants(e.getKey(), e.getValue());
  }

  @Test
  void rowsOffLeavesNoRowKernel() {
    List<Compute> forward = gpt2().get("forward");
    try {
      CudaLowering.rowsOverride = false;
      assertTrue(CudaLowering.lower(forward, CudaSchedule.DEFAULT, m -> null, d -> 64, 0, null, null).launches().stream().noneMatch(l -> l.kernel().kind().equals("row")));
      CudaLowering.rowsOverride = true;
      var launches = CudaLowering.lower(forward, CudaSchedule.DEFAULT, m -> null, d -> 64, 0, null, null).launches();
      assertEquals(6, launches.stream().filter(l -> l.kernel().kind().equals("row")).count());
      // ln2 of each layer, ln1 of the later layers and ln_f share one kernel (the source has no layer in it); ln1 of layer 0
      // takes the encoder's sum in its rows (at fp32 the bias and residual adds before the rest are matmul epilogues)
      assertEquals(3, launches.stream().filter(l -> l.kernel().kind().equals("row")).map(l -> l.kernel().function()).distinct().count());
    } finally {
      CudaLowering.rowsOverride = null;
    }
  }

  @Test
  void aMaxThenASumOfExpTermsRunsAsOneOnlinePassAndNothingElseDoes() {
    // GPT-2's classifier forward: head.max and head.norm = sum exp(logit - max) in one pass over the logits
    List<Compute> head = gpt2().get("forward").stream().filter(c -> c.name().startsWith("head.")).toList();
    assertTrue(source(head.subList(head.indexOf(head.stream().filter(c -> c.name().equals("head.max")).findFirst().orElseThrow()), head.size()))
        .contains("one pass (online"), "the classifier forward");
    kiln.dsl.Dim n = new kiln.dsl.Dim("N"), k = new kiln.dsl.Dim("K");
    java.util.function.BiFunction<String, java.util.function.BiFunction<kiln.dsl.Expr, kiln.dsl.Expr, kiln.dsl.Expr>, Boolean> online = (what, term) -> {
      kiln.dsl.Graph g = new kiln.dsl.Graph();
      Tensor x = g.input("x", kiln.dsl.DType.F32, n, k);
      Tensor m = g.compute("m", kiln.dsl.Graph.dims(n), i -> kiln.dsl.Ops.max(k, j -> x.at(i, j)));
      g.compute("s", kiln.dsl.Graph.dims(n), i -> kiln.dsl.Ops.sum(k, j -> term.apply(x.at(i, j), m.at(i))));
      return source(g.computes()).contains("one pass (online");
    };
    assertTrue(online.apply("exp", (v, mx) -> v.sub(mx).exp()), "sum exp(x - m)");
    assertTrue(online.apply("scaled", (v, mx) -> v.sub(mx).exp().mul(v).div(kiln.dsl.Ops.lit(3))), "sum exp(x - m) * x / 3");
    assertFalse(online.apply("shifted", (v, mx) -> v.sub(mx)), "sum (x - m) does not scale as exp(-m)");
    assertFalse(online.apply("exp plus", (v, mx) -> v.sub(mx).exp().add(v)), "sum exp(x - m) + x has a term free of m");
    assertFalse(online.apply("squared", (v, mx) -> v.sub(mx).exp().mul(v.sub(mx).exp())), "sum exp(x - m)^2 scales as exp(-2m)");
  }

  /** The CUDA source of the row kernel among the computes' launches (every dim 64). */
  private static String source(List<Compute> group) {
    Lowering.Lowered l = CudaLowering.lower(group, CudaSchedule.DEFAULT, m -> null, d -> 64, 0, null, null);
    return l.launches().stream().filter(x -> x.kernel().kind().equals("row")).findFirst().orElseThrow().kernel().source();
  }

  private static List<RowFusion.Plan> plans(List<Compute> section) {
    return RowFusion.groups(section).stream().map(RowFusion::plan).filter(p -> p != null).toList();
  }

  /** The plan's stage kinds but its column sums (sums() names those). */
  private static List<Kind> kinds(RowFusion.Plan p) { return p.stages().stream().map(RowFusion.Stage::kind).filter(k -> k != Kind.COLSUM).toList(); }

  /** The outputs of the plan's column sums (COLSUM stages), layer indices folded: grads.ln1w[*]. */
  private static List<String> sums(RowFusion.Plan p) {
    return p.columnSums().stream().map(c -> c.out().name().replaceAll("\\[\\d+\\]", "[*]")).toList();
  }

  /** How many element maps lead the plan (RowFusion's map-first groups). */
  private static int lead(RowFusion.Plan p) {
    int n = 0;
    while (n < p.stages().size() && p.stages().get(n).kind() == Kind.MAP) n++;
    return n;
  }

  /** MAP, then kinds. */
  private static List<Kind> withMap(List<Kind> kinds) {
    List<Kind> all = new ArrayList<>(List.of(Kind.MAP));
    all.addAll(kinds);
    return all;
  }

  /** The plan's kinds after its leading element maps. */
  private static List<Kind> body(RowFusion.Plan p) { return kinds(p).subList(lead(p), kinds(p).size()); }

  /** The name of the plan's i-th stage, its column sums left out (as kinds()). */
  private static String name(RowFusion.Plan p, int i) {
    return p.stages().stream().filter(x -> x.kind() != Kind.COLSUM).toList().get(i).compute().name();
  }

  private static List<String> names(RowFusion.Plan p) { return p.stages().stream().map(s -> s.compute().name()).toList(); }

  private static String names(List<RowFusion.Plan> plans) { return plans.stream().map(RowFusionTest::names).toList().toString(); }

  private static RowFusion.Plan only(List<RowFusion.Plan> plans, List<Kind> kinds) {
    List<RowFusion.Plan> found = plans.stream().filter(p -> kinds(p).equals(kinds)).toList();
    assertEquals(1, found.size(), kinds + " in " + names(plans));
    return found.getFirst();
  }

  /**
   * Every compute of the section runs once; no row group holds a matmul or element maps alone; only
   * computes with a persistent output move; and every pair that touches a common tensor (one writing it)
   * keeps its order.
   */
  private static void invariants(String section, List<Compute> computes) {
    List<List<Compute>> groups = RowFusion.groups(computes);
    List<String> order = new ArrayList<>();
    for (List<Compute> g : groups) {
      RowFusion.Plan p = RowFusion.plan(g);
      if (p != null) {
        assertTrue(g.stream().noneMatch(c -> MatmulMatch.of(c).isPresent()), section + ": a matmul in a row group " + names(p));
        assertTrue(p.stages().getFirst().kind() != Kind.MAP || p.stages().stream().anyMatch(x -> x.kind() == Kind.REDUCE || x.kind() == Kind.COLSUM),
            section + ": a row group of element maps alone " + names(p));
      }
      for (Compute c : g) order.add(c.name() + " " + c.out().name());
    }
    List<String> original = computes.stream().map(c -> c.name() + " " + c.out().name()).toList();
    assertEquals(original.stream().sorted().toList(), order.stream().sorted().toList(), section + ": every compute once");
    // positions in the new order, matched to the original computes occurrence by occurrence
    Map<Compute, Integer> at = new IdentityHashMap<>();
    List<String> remaining = new ArrayList<>(order);
    for (Compute c : computes) {
      int k = remaining.indexOf(c.name() + " " + c.out().name());
      at.put(c, k);
      remaining.set(k, null);
    }
    for (int i = 0; i < computes.size(); i++) {
      Compute a = computes.get(i);
      for (int j = i + 1; j < computes.size(); j++) {
        Compute b = computes.get(j);
        if (at.get(a) < at.get(b)) continue;
        if (conflict(a, b)) throw new AssertionError(section + ": " + b.name() + " now runs before " + a.name() + ", which it must follow");
        Role role = b.out().root().role();
        assertTrue(role == Role.GRAD || role == Role.PARAM || role == Role.STATE, section + ": " + b.name() + " (" + role + ") moved ahead of " + a.name());
      }
    }
  }

  private static boolean conflict(Compute a, Compute b) {
    return writesRead(a, b) || writesRead(b, a) || a.out().root().equals(b.out().root());
  }

  private static boolean writesRead(Compute w, Compute r) {
    Tensor root = w.out().root();
    return Exprs.loads(r.body()).stream().anyMatch(l -> l.tensor().root().equals(root));
  }
}
