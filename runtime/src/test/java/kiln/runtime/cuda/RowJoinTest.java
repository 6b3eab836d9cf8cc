// The training step's joined section (Session.STEP, RowFusion.joined): for GPT-2 and Llama (fp32 and after the bf16
// storage pass) the forward's classifier rows (max, Σ exp, loss per row) and the backward's (per-row factor, dlogits,
// −1 at the target) are one row group of the step, every other launch as in the sections apart, every compute once and
// every pair that touches a common tensor in its order; the forward section alone keeps its own classifier kernel; a
// forward-only program (the KV decoder) gets no joined section; and the arena planned over both orders keeps dlogits in
// the logits' place and shares no storage between tensors that either order has alive together. No GPU needed.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import kiln.codegen.Epilogue;
import kiln.codegen.RowFusion;
import kiln.codegen.RowFusion.Kind;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.models.Program;
import kiln.runtime.Arena;
import kiln.runtime.Session;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RowJoinTest {
  static final List<Kind> JOINED = List.of(Kind.REDUCE, Kind.REDUCE, Kind.ROW, Kind.ROW, Kind.ROW, Kind.MAP, Kind.SCATTER);
  static final List<String> NAMES = List.of("head.max", "head.norm", "head.losses", "dr1/dhead.losses", "dlosses/dhead.norm",
      "dnorm/dhead.logits", "dlosses/dhead.logits");

  @ParameterizedTest
  @ValueSource(strings = {"gpt2", "llama", "gpt2-bf16", "llama-bf16"})
  void theClassifiersForwardAndBackwardAreOneRowKernelOfTheStep(String which) {
    Program p = program(which);
    Map<String, List<Compute>> s = Session.cudaSections(p, null, null);
    List<Compute> step = s.get(Session.STEP);
    assertNotNull(step, which + ": a joined section");
    List<Compute> apart = new ArrayList<>(s.get("forward"));
    apart.addAll(s.get("backward"));
    assertEquals(apart.size(), step.size(), which + ": every compute once");
    assertTrue(new java.util.HashSet<>(apart).containsAll(step), which + ": the same computes");
    ordered(which, apart, step);
    // exactly one joined row group, by kind and by what it computes
    List<RowFusion.Plan> joined = Epilogue.groups(step).stream().map(RowFusion::plan).filter(x -> x != null && kinds(x).equals(JOINED)).toList();
    assertEquals(1, joined.size(), which);
    assertEquals(NAMES, joined.getFirst().stages().stream().map(x -> x.compute().name()).toList(), which);
    assertEquals("VP", joined.getFirst().extent().name());
    // the step has one launch fewer than the sections apart (two row kernels became one); the forward alone keeps its kernel
    assertEquals(Epilogue.groups(s.get("forward")).size() + Epilogue.groups(s.get("backward")).size() - 1, Epilogue.groups(step).size(), which);
    assertTrue(Epilogue.groups(s.get("forward")).stream().map(RowFusion::plan).anyMatch(x -> x != null
        && x.stages().stream().map(y -> y.compute().name()).toList().equals(NAMES.subList(0, 3))), which + ": the forward's own classifier");
    assertTrue(Epilogue.groups(s.get("forward")).stream().map(RowFusion::plan).noneMatch(x -> x != null && kinds(x).equals(JOINED)), which);
  }

  /** GPT-2's KV decoder (a program with no backward), and a forward with nothing after it. */
  @ParameterizedTest
  @ValueSource(strings = {"gpt2", "llama"})
  void aForwardOnlyProgramIsNotJoined(String which) {
    if (which.equals("gpt2")) {
      Program decoder = kiln.runtime.Models.get("gpt2-tiny").decoder().orElseThrow();
      assertFalse(Session.cudaSections(decoder, null, null).containsKey(Session.STEP), "the decoder");
      assertNull(RowFusion.joined(Session.sections(decoder).get("forward"), Session.sections(decoder).get("backward")));
    }
    assertNull(RowFusion.joined(Session.sections(program(which)).get("forward"), List.of()), which);
  }

  /** Laid out over both orders: dlogits in the logits' place; no two tensors share storage while either order has both alive. */
  @ParameterizedTest
  @ValueSource(strings = {"gpt2", "gpt2-bf16", "llama-bf16"})
  void theArenaHoldsForBothOrders(String which) {
    Program p = program(which);
    Map<Dim, Integer> sizes = which.startsWith("gpt2") ? kiln.models.Gpt2.FAMILY.bind(new kiln.models.Gpt2.Config(16, 97, 104, 2, 2, 32), 2, 8)
        : kiln.runtime.Models.get("llama-tiny").bind(2, 8);
    Arena.Launches launches = Session.cudaLaunches(p);
    assertEquals(1, launches.alternatives().size(), which);
    Arena arena = new Arena(p.graph(), sizes, java.util.Set.of(p.loss()), launches, false, Map.of());
    Tensor logits = p.logits(), dlogits = gradientOf(p);
    assertEquals(arena.offsetLong(logits), arena.offsetLong(dlogits), which + ": dlogits over the logits");
    for (List<List<Compute>> order : launches.orders()) {
      Map<Tensor, int[]> life = lifetimes(order);
      List<Tensor> ts = new ArrayList<>(life.keySet());
      for (int i = 0; i < ts.size(); i++) {
        for (int j = i + 1; j < ts.size(); j++) {
          Tensor a = ts.get(i), b = ts.get(j);
          int[] x = life.get(a), y = life.get(b);
          if (x[1] < y[0] || y[1] < x[0] || (a.dtype() == kiln.dsl.DType.I32) != (b.dtype() == kiln.dsl.DType.I32)) continue;
          long a0 = arena.offsetLong(a) * arena.bytesPerElement(a), b0 = arena.offsetLong(b) * arena.bytesPerElement(b);
          long a1 = a0 + arena.elements(a) * arena.bytesPerElement(a), b1 = b0 + arena.elements(b) * arena.bytesPerElement(b);
          if (a0 == b0 && a1 == b1) continue;   // an in-place pair (an output over an input it reads at its own index)
          assertTrue(a1 <= b0 || b1 <= a0, which + ": " + a.name() + " and " + b.name() + " overlap while both live");
        }
      }
    }
  }

  /** The root tensor the classifier's dlogits compute writes (the one gradient of the logits). */
  private static Tensor gradientOf(Program p) {
    return p.graph().computes().stream().filter(c -> c.name().equals("dnorm/dhead.logits")).findFirst().orElseThrow().out().root();
  }

  static Program program(String which) {
    boolean bf16 = which.endsWith("-bf16");
    String family = bf16 ? which.substring(0, which.length() - 5) : which;
    Program p = family.equals("gpt2") ? kiln.models.Gpt2.build(2, kiln.codegen.BackendPass.CUDA)
        : kiln.runtime.Models.get("llama-tiny").program(Session.Device.CUDA);
    return bf16 ? kiln.codegen.Bf16Storage.apply(p, false, kiln.codegen.Bf16Storage.Residual.FP32).program() : p;
  }

  private static List<Kind> kinds(RowFusion.Plan p) { return p.stages().stream().map(RowFusion.Stage::kind).toList(); }

  /** Every pair of computes that touch a common tensor (one writing it) runs in step in the order it runs apart. */
  private static void ordered(String which, List<Compute> apart, List<Compute> step) {
    for (int i = 0; i < apart.size(); i++) {
      for (int j = i + 1; j < apart.size(); j++) {
        Compute a = apart.get(i), b = apart.get(j);
        if (!conflict(a, b)) continue;
        assertTrue(step.indexOf(a) < step.indexOf(b), which + ": " + b.name() + " now runs before " + a.name());
      }
    }
  }

  private static boolean conflict(Compute a, Compute b) { return writesRead(a, b) || writesRead(b, a) || a.out().root().equals(b.out().root()); }

  private static boolean writesRead(Compute w, Compute r) {
    Tensor root = w.out().root();
    List<kiln.dsl.Expr.Load> loads = new ArrayList<>(Exprs.loads(r.body()));
    for (kiln.dsl.Expr e : r.outIndex()) loads.addAll(Exprs.loads(e));
    return loads.stream().anyMatch(l -> l.tensor().root().equals(root));
  }

  /** [first, last] launch of every root tensor of a transient role (what the arena may share). */
  private static Map<Tensor, int[]> lifetimes(List<List<Compute>> order) {
    Map<Tensor, int[]> life = new java.util.HashMap<>();
    for (int k = 0; k < order.size(); k++) {
      for (Compute c : order.get(k)) {
        List<Tensor> touched = new ArrayList<>(List.of(c.out().root()));
        for (kiln.dsl.Expr.Load l : Exprs.loads(c.body())) touched.add(l.tensor().root());
        for (kiln.dsl.Expr e : c.outIndex()) for (kiln.dsl.Expr.Load l : Exprs.loads(e)) touched.add(l.tensor().root());
        for (Tensor t : touched) {
          if (t.role() != kiln.dsl.Role.ACT && t.role() != kiln.dsl.Role.ACT_GRAD) continue;
          final int at = k;
          life.merge(t, new int[] {at, at}, (x, y) -> new int[] {Math.min(x[0], y[0]), Math.max(x[1], y[1])});
        }
      }
    }
    return life;
  }
}
