// The arena planner: tensors whose lifetimes overlap never share memory, every tensor fits the
// arena, persistent roles never share, and sharing actually saves space on GPT-2.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class ArenaTest {
  /**
   * Counted in CUDA launches (Session.cudaLaunches: row kernels and matmul epilogues on), no two tensors that one kernel touches
   * share memory, except an in-place pair at the same offset (dlogits over the logits); peak within 0.5% on GPT-2.
   */
  @Test void tensorsOneKernelTouchesNeverShare() {
    Program p = Gpt2.build(2, kiln.codegen.BackendPass.CUDA);
    var sizes = Gpt2.FAMILY.bind(new Gpt2.Config(64, 50257, 50304, 2, 4, 64), 4, 32);
    List<Compute> order = p.graph().computes();
    try {
      kiln.codegen.CudaLowering.rowsOverride = true;
      Arena.Launches launches = Session.cudaLaunches(p);
      Arena a = new Arena(p.graph(), sizes, Set.of(p.loss()), launches, false, Map.of());
      Map<Integer, java.util.Set<Tensor>> touched = new HashMap<>();
      for (int k = 0; k < launches.groups().size(); k++) {
        var set = touched.computeIfAbsent(k, x -> new java.util.LinkedHashSet<>());
        for (Compute c : launches.groups().get(k)) {
          set.add(c.out().root());
          for (Expr.Load l : Exprs.loads(c.body())) set.add(l.tensor().root());
        }
      }
      int fused = 0;
      for (var launch : touched.values()) {
        List<Tensor> f = launch.stream().filter(t -> t.dtype() == DType.F32).toList();
        if (f.size() > 4) fused++;
        for (int i = 0; i < f.size(); i++) {
          for (int j = i + 1; j < f.size(); j++) {
            Tensor x = f.get(i), y = f.get(j);
            boolean memory = a.offsetLong(x) < a.offsetLong(y) + a.elements(y) && a.offsetLong(y) < a.offsetLong(x) + a.elements(x);
            assertTrue(!memory || a.offsetLong(x) == a.offsetLong(y) && a.elements(x) == a.elements(y), x + " and " + y + " share memory in one launch");
          }
        }
      }
      assertTrue(fused >= 10, "row kernels touch many tensors: " + fused);
      long perCompute = new Arena(p.graph(), sizes, Set.of(p.loss()), ArenaLayout.Launches.each(order), false, Map.of()).bytes();
      assertTrue(a.bytes() <= perCompute * 1.005, "at most 0.5% more memory on GPT-2: " + a.bytes() + " vs " + perCompute);
    } finally {
      kiln.codegen.CudaLowering.rowsOverride = null;
    }
  }

  @Test void liveTensorsNeverOverlap() {
    Program p = Gpt2.build(2);
    var sizes = Gpt2.FAMILY.bind(new Gpt2.Config(64, 50257, 50304, 2, 4, 64), 4, 32);
    List<Compute> order = p.graph().computes();
    Arena shared = new Arena(p.graph(), sizes, Set.of(p.logits(), p.loss()), ArenaLayout.Launches.each(order), true, Map.of());
    Arena separate = new Arena(p.graph(), sizes);
    assertTrue(shared.bytes() < separate.bytes(), "sharing saves space: " + shared.bytes() + " vs " + separate.bytes());
    assertEquals(separate.bytes() - shared.bytes(), lifetimeTotal(p, shared) - shared.sharedBytes(), "saving = transient bytes - region");

    Map<Tensor, int[]> life = new HashMap<>();
    for (int k = 0; k < order.size(); k++) {
      Compute c = order.get(k);
      List<Tensor> touched = new ArrayList<>(List.of(c.out()));
      for (Expr.Load l : Exprs.loads(c.body())) touched.add(l.tensor());
      for (Expr e : c.outIndex()) for (Expr.Load l : Exprs.loads(e)) touched.add(l.tensor());
      for (Tensor t : touched) {
        final int at = k;
        life.merge(t.root(), new int[] {at, at}, (a, b) -> new int[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
      }
    }
    List<Tensor> floats = p.graph().roots().stream().filter(t -> t.dtype() == DType.F32).toList();
    for (Tensor t : floats) {
      assertTrue(shared.offsetLong(t) + shared.elements(t) <= shared.floatCount(), t + " fits the arena");
    }
    for (int i = 0; i < floats.size(); i++) {
      for (int j = i + 1; j < floats.size(); j++) {
        Tensor a = floats.get(i), b = floats.get(j);
        boolean memory = shared.offsetLong(a) < shared.offsetLong(b) + shared.elements(b)
            && shared.offsetLong(b) < shared.offsetLong(a) + shared.elements(a);
        if (!memory) continue;
        assertTrue(transientRole(a) && transientRole(b), a + " and " + b + " share memory but one of them lives all step");
        int[] la = life.get(a), lb = life.get(b);
        // or in place: one compute reads the last of one and writes the first of the other, element by element, at the same offset
        boolean inPlace = (la[1] == lb[0] || lb[1] == la[0]) && shared.offsetLong(a) == shared.offsetLong(b);
        assertTrue(la[1] < lb[0] || lb[1] < la[0] || inPlace, a + " and " + b + " share memory while both are live");
      }
    }
  }

  private static boolean transientRole(Tensor t) { return t.role() == Role.ACT || t.role() == Role.ACT_GRAD; }

  private static long lifetimeTotal(Program p, Arena a) {
    long n = 0;
    for (Tensor t : p.graph().roots()) {
      if (t.dtype() == DType.F32 && transientRole(t) && t != p.logits() && t != p.loss()) n += 4 * a.elements(t);
    }
    return n;
  }

  /** Device layouts start every root tensor on 64 bytes (16 floats): vector and cp.async copies need it. */
  @Test void deviceLayoutAlignsEveryTensor() {
    Program p = Gpt2.build(2, kiln.codegen.BackendPass.CUDA);
    var sizes = Gpt2.FAMILY.bind(new Gpt2.Config(64, 50257, 50304, 2, 3, 48), 3, 37);
    Arena device = new Arena(p.graph(), sizes, Set.of(p.loss()), ArenaLayout.Launches.each(p.graph().computes()), false, Map.of());   // pinned as Session pins
    for (Tensor t : p.graph().roots()) {
      if (t.dtype() == DType.F32) assertEquals(0, device.offsetLong(t) % 16, t.name() + " at " + device.offsetLong(t));
    }
    // the classifier's backward writes dlogits over the logits (in place), so the two share one offset
    Tensor dlogits = p.graph().roots().stream().filter(t -> t.name().equals("d" + p.logits().name())).findFirst().orElseThrow();
    assertEquals(device.offsetLong(p.logits()), device.offsetLong(dlogits));
  }
}
