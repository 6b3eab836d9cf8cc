// Pass "add inlining" (run by the bf16 storage pass after copy elision): an activation that only adds a tensor of its
// own dims and a broadcast one (out[i] = a[i] + b[part of i]: a bias add after a matmul) and that only element-wise
// computes read is not stored; each reader adds a and b itself where it read out. GPT-2 124M bf16 at B=32: fc.out
// (pre-GELU, 201 MB a layer) was written by the GELU map and kept for the dGELU map of the backward; both now read
// fc's bare product and the bias. attproj.out and fcproj.out, read only by their residual adds, are no longer written
// beside the residual. Values are unchanged: where the add was stored bf16, the readers round a + b as its store did.
package kiln.codegen;

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
import kiln.dsl.Var;

final class AddInlining {
  private AddInlining() {}

  /** KILN_ADD_INLINE=0 keeps every add stored (for A/B timings); on otherwise. */
  static final boolean ON = !"0".equals(System.getenv("KILN_ADD_INLINE"));

  /**
   * Drops the inlinable adds from computes (their readers rewritten) and their outputs from roots; returns the dropped
   * computes' positions in computes as it was. An add is inlined where: its output is a whole activation root that it alone
   * writes and that is not in keep; its body is a + b with a at its own index (same dims) and b at some of its loop
   * variables; every reader is element-wise (no reduction, no extern, not accumulating into what it reads) and comes after
   * it; neither a nor b is written between the add and its last reader.
   */
  static List<Integer> apply(List<Compute> computes, List<Tensor> roots, Set<Tensor> keep) {
    Map<Tensor, List<Integer>> writes = new HashMap<>();
    Map<Tensor, List<Integer>> readers = new HashMap<>();
    for (int i = 0; i < computes.size(); i++) {
      Compute c = computes.get(i);
      writes.computeIfAbsent(c.out().root(), k -> new ArrayList<>()).add(i);
      // (an extern's tensors are its body's loads too)
      for (Expr.Load l : Exprs.loads(c.body())) readers.computeIfAbsent(l.tensor().root(), k -> new ArrayList<>()).add(i);
    }
    Map<Tensor, Compute> inlined = new HashMap<>();
    List<Integer> dropped = new ArrayList<>();
    for (int k = 0; k < computes.size(); k++) {
      final int i = k;
      Compute c = computes.get(i);
      Tensor t = c.out();
      if (!add(c) || t.isView() || t.role() != Role.ACT || keep.contains(t) || writes.get(t).size() != 1) continue;
      List<Integer> by = readers.getOrDefault(t, List.of());
      if (by.isEmpty() || !by.stream().allMatch(r -> r > i && elementwise(computes.get(r)))) continue;
      int last = by.getLast();
      boolean stable = Exprs.loads(c.body()).stream()
          .allMatch(l -> writes.getOrDefault(l.tensor().root(), List.of()).stream().noneMatch(w -> w > i && w <= last));
      if (!stable) continue;
      inlined.put(t, c);
      dropped.add(i);
    }
    if (inlined.isEmpty()) return dropped;
    List<Compute> out = new ArrayList<>();
    for (int i = 0; i < computes.size(); i++) {
      if (dropped.contains(i)) continue;
      Compute c = computes.get(i);
      out.add(new Compute(c.name(), c.layer(), c.out(), c.loopVars(), c.outIndex(), inline(c.body(), inlined), c.accumulate()));
    }
    computes.clear();
    computes.addAll(out);
    roots.removeAll(inlined.keySet());
    return dropped;
  }

  /** Whether c is out[i] = a[i] + b[...]: a whole, non-accumulating add of a tensor at c's own index and one at some of its loop variables. */
  private static boolean add(Compute c) {
    if (c.accumulate() || !c.isFullCover() || !c.outIndex().equals(c.loopVars())) return false;
    if (!(c.body() instanceof Expr.Binary(Expr.BinOp op, Expr x, Expr y)) || op != Expr.BinOp.ADD) return false;
    if (!(x instanceof Expr.Load a) || !(y instanceof Expr.Load b)) return false;
    return own(c, a) && sub(c, b) || own(c, b) && sub(c, a);
  }

  private static boolean own(Compute c, Expr.Load l) {
    return !l.tensor().isView() && l.index().equals(c.loopVars()) && l.tensor().dims().equals(c.out().dims());
  }

  private static boolean sub(Compute c, Expr.Load l) {
    return l.index().size() < c.loopVars().size() && l.index().stream().allMatch(e -> e instanceof Var v && c.loopVars().contains(v));
  }

  private static boolean elementwise(Compute r) {
    return r.rootReductions().isEmpty() && !(r.body() instanceof Expr.Extern) && !r.accumulate();
  }

  /** e with every load of an inlined add's output replaced by the add's body at the load's index. */
  private static Expr inline(Expr e, Map<Tensor, Compute> inlined) {
    if (e instanceof Expr.Load l && inlined.get(l.tensor()) instanceof Compute c) {
      Map<Var, Expr> at = new HashMap<>();
      for (int k = 0; k < c.loopVars().size(); k++) at.put(c.loopVars().get(k), l.index().get(k));
      Expr sum = Exprs.replace(c.body(), at);
      return c.out().storage() == DType.BF16 ? new Expr.Unary(Expr.UnOp.BF16, sum) : sum;
    }
    return Exprs.mapChildren(e, x -> inline(x, inlined));
  }
}
