// Pass "copy elision" (run by the bf16 storage pass): a compute that only copies a tensor of the same storage, element
// for element (out[i] = src[i]: the gradient of a bias add's bare product is the gradient of its sum, as autodiff derives
// it), is dropped and its readers read the source. Values are unchanged; what goes is a kernel's pass over the tensor
// (GPT-2 124M bf16 at B=32: dqkv copied into d(qkv.r1), d(fc.out) into d(fc.out.r1), 350 MB a layer).
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Compute;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

final class CopyElision {
  private CopyElision() {}

  /**
   * Drops the elidable copies from computes (their readers renamed to the sources) and their outputs from roots; returns the
   * dropped copies' positions in computes as it was (a program's section boundaries move by the ones before them).
   * A copy Y = X is elided where: Y is a whole activation (or activation gradient) root, not in keep, that nothing writes
   * before the copy; X is a root of the same dims and storage, not written again after the copy. Where something writes Y
   * again after the copy (a gradient's later terms, `Y +=`: the residual stream's gradient, copied from one layer to the
   * one below and added to by each layernorm backward), those writes then land on X, so X must be an activation
   * (gradient) outside keep that nothing reads after Y's next write; the residual gradient then lives in one buffer for
   * the whole backward, as llm.c keeps it, instead of a copy a layer.
   */
  static List<Integer> apply(List<Compute> computes, List<Tensor> roots, Set<Tensor> keep) {
    Map<Tensor, List<Integer>> writes = new HashMap<>(), reads = new HashMap<>();
    for (int i = 0; i < computes.size(); i++) {
      Compute c = computes.get(i);
      writes.computeIfAbsent(c.out().root(), k -> new ArrayList<>()).add(i);
      for (Expr e : c.outIndex()) for (Expr.Load l : Exprs.loads(e)) reads.computeIfAbsent(l.tensor().root(), k -> new ArrayList<>()).add(i);
      for (Expr.Load l : Exprs.loads(c.body())) reads.computeIfAbsent(l.tensor().root(), k -> new ArrayList<>()).add(i);
    }
    // each source and the copies renamed to it (positions are those of the input list)
    Map<Tensor, List<Tensor>> members = new HashMap<>();
    Map<Tensor, Tensor> source = new HashMap<>();
    List<Compute> out = new ArrayList<>();
    List<Integer> dropped = new ArrayList<>();
    for (int i = 0; i < computes.size(); i++) {
      Compute c = rename(computes.get(i), source);
      Tensor src = copied(c);
      List<Tensor> alias = src == null ? null : members.getOrDefault(src, List.of(src));
      if (src != null && elidable(i, c.out(), src, alias, writes, reads, keep)) {
        source.put(c.out(), src);
        List<Tensor> m = new ArrayList<>(alias);
        m.add(c.out());
        members.put(src, m);
        dropped.add(i);
      } else {
        out.add(c);
      }
    }
    computes.clear();
    computes.addAll(out);
    roots.removeAll(source.keySet());
    return dropped;
  }

  /** Whether the copy at i of src (the root that stands for the tensors `alias`) into y may go: see apply. */
  private static boolean elidable(int i, Tensor y, Tensor src, List<Tensor> alias, Map<Tensor, List<Integer>> writes,
                                  Map<Tensor, List<Integer>> reads, Set<Tensor> keep) {
    if (keep.contains(y) || !activation(y)) return false;
    List<Integer> yWrites = writes.getOrDefault(y, List.of());
    if (yWrites.isEmpty() || yWrites.getFirst() != i) return false;
    for (Tensor t : alias) if (writes.getOrDefault(t, List.of()).stream().anyMatch(w -> w > i)) return false;
    if (yWrites.size() == 1) return true;
    // Y's later writes land on src: nothing may read src (or what it stands for) from the first of them on
    if (keep.contains(src) || !activation(src)) return false;
    int next = yWrites.get(1);
    for (Tensor t : alias) if (reads.getOrDefault(t, List.of()).stream().anyMatch(r -> r >= next)) return false;
    return true;
  }

  private static boolean activation(Tensor t) { return t.role() == Role.ACT || t.role() == Role.ACT_GRAD; }

  /** The tensor c copies whole, at the identity index, into a root of the same dims and storage; null if c is no such copy. */
  private static Tensor copied(Compute c) {
    if (c.accumulate() || !c.isFullCover() || c.out().isView() || !(c.body() instanceof Expr.Load l)) return null;
    Tensor src = l.tensor();
    boolean same = !src.isView() && l.index().equals(c.outIndex()) && src.dims().equals(c.out().dims()) && src.storage() == c.out().storage();
    return same ? src : null;
  }

  private static Compute rename(Compute c, Map<Tensor, Tensor> source) {
    if (source.isEmpty()) return c;
    return Bf16Storage.substitute(c, t -> {
      Tensor s = source.get(t.root());
      return s == null ? t : t.isView() ? t.onRoot(s, "") : s;
    });
  }
}
