// Pass "fuse": groups consecutive element-wise computes over the same dims into one loop nest
// (AdamW's three updates become one pass over the parameters).
package kiln.codegen;

import java.util.ArrayList;
import java.util.List;
import kiln.dsl.Compute;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

public final class Fuse {
  private Fuse() {}

  public static List<List<Compute>> groups(List<Compute> computes) {
    List<List<Compute>> groups = new ArrayList<>();
    List<Compute> current = null;
    for (Compute c : computes) {
      if (current != null && fusable(current, c)) {
        current.add(rename(c, current.getFirst().loopVars()));
      } else {
        current = new ArrayList<>(List.of(c));
        groups.add(current);
      }
    }
    return groups;
  }

  static boolean elementwise(Compute c) {
    return c.isFullCover() && !c.accumulate() && c.rootReductions().isEmpty() && c.out().rank() > 0 && !(c.body() instanceof Expr.Extern);
  }

  private static boolean fusable(List<Compute> group, Compute next) {
    Compute first = group.getFirst();
    if (!elementwise(first) || !elementwise(next)) return false;
    if (!Kernels.dims(first.loopVars()).equals(Kernels.dims(next.loopVars()))) return false;
    Compute renamed = rename(next, first.loopVars());
    for (Compute g : group) {
      // next may read what the group wrote, and the group what next writes, only element by element
      if (!readsOnlyAt(renamed.body(), g.out(), first.loopVars())) return false;
      if (!readsOnlyAt(g.body(), renamed.out(), first.loopVars())) return false;
    }
    return true;
  }

  static boolean readsOnlyAt(Expr body, Tensor t, List<Var> at) {
    for (Expr.Load l : Exprs.loads(body)) {
      if (l.tensor().root().equals(t.root()) && !(l.index().equals(at) && l.tensor().equals(t))) return false;
    }
    return true;
  }

  static Compute rename(Compute c, List<Var> to) {
    Expr body = c.body();
    List<Expr> outIndex = new ArrayList<>(c.outIndex());
    for (int i = 0; i < to.size(); i++) {
      Var from = c.loopVars().get(i);
      if (from.equals(to.get(i))) continue;
      body = Exprs.replace(body, from, to.get(i));
      for (int j = 0; j < outIndex.size(); j++) outIndex.set(j, Exprs.replace(outIndex.get(j), from, to.get(i)));
    }
    return new Compute(c.name(), c.layer(), c.out(), to, outIndex, body, c.accumulate());
  }
}
