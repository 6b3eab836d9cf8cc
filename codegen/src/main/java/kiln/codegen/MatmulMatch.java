// Pass "classify", matmul part: recognises out[batch, m, n] (+)= Σ_k A[.., m, k] · B[.., k, n] with
// each var group contiguous in every tensor it indexes, so it can run as a tiled matmul.
package kiln.codegen;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Var;

/** A, B the two loads; groups of vars in tensor order; n's last var is the output's last index. */
public record MatmulMatch(Compute compute, Expr.Load a, Expr.Load b, List<Var> batch, List<Var> m, List<Var> n, List<Var> k) {

  public static Optional<MatmulMatch> of(Compute c) {
    List<Expr.Reduce> reductions = c.rootReductions();
    if (reductions.isEmpty() || reductions.stream().anyMatch(r -> r.op() != Expr.RedOp.SUM)) return Optional.empty();
    if (!(c.inner() instanceof Expr.Binary mul) || mul.op() != Expr.BinOp.MUL) return Optional.empty();
    if (!(mul.a() instanceof Expr.Load a) || !(mul.b() instanceof Expr.Load b)) return Optional.empty();
    if (a.type() != DType.F32 || !simple(a.index()) || !simple(b.index()) || !simple(c.outIndex())) return Optional.empty();
    if (c.outIndex().isEmpty() || !(c.outIndex().getLast() instanceof Var last)) return Optional.empty();
    if (a.index().contains(last) && !b.index().contains(last)) { Expr.Load t = a; a = b; b = t; }
    List<Var> batch = new ArrayList<>(), m = new ArrayList<>(), n = new ArrayList<>(), k = new ArrayList<>();
    for (Expr e : c.outIndex()) {
      if (!(e instanceof Var v)) continue;
      boolean inA = a.index().contains(v), inB = b.index().contains(v);
      if (inA && inB) batch.add(v); else if (inA) m.add(v); else if (inB) n.add(v); else return Optional.empty();
    }
    for (Expr e : a.index()) {
      if (e instanceof Var v && reductions.stream().anyMatch(r -> r.var().equals(v))) k.add(v);
    }
    if (k.size() != reductions.size() || n.isEmpty() || !n.getLast().equals(last)) return Optional.empty();
    for (Var v : k) if (!b.index().contains(v)) return Optional.empty();
    // an M or N group that is not one contiguous run in every tensor keeps its innermost var;
    // the outer ones loop as batch (grouped-query attention: the head-in-group g and t)
    while (m.size() > 1 && !(contiguous(m, c.outIndex()) && contiguous(m, a.index()))) batch.add(m.removeFirst());
    while (n.size() > 1 && !(contiguous(n, c.outIndex()) && contiguous(n, b.index()))) batch.add(n.removeFirst());
    if (!contiguous(m, c.outIndex()) || !contiguous(m, a.index())) return Optional.empty();
    if (!contiguous(n, c.outIndex()) || !contiguous(n, b.index())) return Optional.empty();
    if (!contiguous(k, a.index()) || !contiguous(k, b.index())) return Optional.empty();
    return Optional.of(new MatmulMatch(c, a, b, batch, m, n, k));
  }

  /** Vars and constants only, each var once. */
  private static boolean simple(List<Expr> index) {
    List<Var> seen = new ArrayList<>();
    for (Expr e : index) {
      if (e instanceof Var v) { if (seen.contains(v)) return false; seen.add(v); }
      else if (!(e instanceof Expr.Const)) return false;
    }
    return true;
  }

  /** The group's vars sit at consecutive positions of index, in the group's order (each var is in index at most once: simple). */
  private static boolean contiguous(List<Var> group, List<Expr> index) { return Collections.indexOfSubList(index, group) >= 0; }
}
