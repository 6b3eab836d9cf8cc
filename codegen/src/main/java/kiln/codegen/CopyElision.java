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
import kiln.dsl.Role;
import kiln.dsl.Tensor;

final class CopyElision {
  private CopyElision() {}

  /**
   * Drops the elidable copies from computes (their readers renamed to the sources) and their outputs from roots; returns the
   * dropped copies' positions in computes as it was (a program's section boundaries move by the ones before them).
   * A copy is elided where: its output is a whole activation (or activation gradient) root that it alone writes and that is not
   * in keep (program outputs); its source is a root of the same dims and storage, not written again after the copy.
   */
  static List<Integer> apply(List<Compute> computes, List<Tensor> roots, Set<Tensor> keep) {
    Map<Tensor, Integer> writers = new HashMap<>();
    Map<Tensor, Integer> lastWrite = new HashMap<>();
    for (int i = 0; i < computes.size(); i++) {
      Tensor t = computes.get(i).out().root();
      writers.merge(t, 1, Integer::sum);
      lastWrite.put(t, i);
    }
    Map<Tensor, Tensor> source = new HashMap<>();
    List<Compute> out = new ArrayList<>();
    List<Integer> dropped = new ArrayList<>();
    for (int i = 0; i < computes.size(); i++) {
      Compute c = rename(computes.get(i), source);
      Tensor src = copied(c);
      boolean elide = src != null && writers.get(c.out()) == 1 && !keep.contains(c.out()) && lastWrite.getOrDefault(src.root(), -1) < i
          && (c.out().role() == Role.ACT || c.out().role() == Role.ACT_GRAD);
      if (elide) {
        source.put(c.out(), src);
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
