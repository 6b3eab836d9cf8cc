// Generic walks over the Expr IR: children, rebuild, substitution, uses.
package kiln.dsl;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

public final class Exprs {
  private Exprs() {}

  public static List<Expr> children(Expr e) {
    return switch (e) {
      case Var _, Expr.Const _, Expr.SizeOf _ -> List.of();
      case Expr.Load l -> l.index();
      case Expr.Extern x -> List.copyOf(x.tensors());
      case Expr.Unary u -> List.of(u.x());
      case Expr.Binary b -> List.of(b.a(), b.b());
      case Expr.Compare c -> List.of(c.a(), c.b());
      case Expr.Select s -> List.of(s.cond(), s.then(), s.otherwise());
      case Expr.Cast c -> List.of(c.x());
      case Expr.RoundBf16 b -> List.of(b.x(), b.index(), b.seed());
      case Expr.Reduce r -> List.of(r.body());
    };
  }

  /** Rebuilds e with each child mapped (through Ops, so it simplifies). */
  public static Expr mapChildren(Expr e, UnaryOperator<Expr> f) {
    return switch (e) {
      case Var _, Expr.Const _, Expr.SizeOf _ -> e;   // leaves: nothing to map
      case Expr.Load l -> new Expr.Load(l.tensor(), l.index().stream().map(f).toList());
      case Expr.Unary u -> u.op() == Expr.UnOp.NEG ? Ops.neg(f.apply(u.x())) : new Expr.Unary(u.op(), f.apply(u.x()));
      case Expr.Binary b -> Ops.bin(b.op(), f.apply(b.a()), f.apply(b.b()));
      case Expr.Compare c -> new Expr.Compare(c.op(), f.apply(c.a()), f.apply(c.b()));
      case Expr.Select s -> Ops.select(f.apply(s.cond()), f.apply(s.then()), f.apply(s.otherwise()));
      case Expr.Cast c -> new Expr.Cast(c.to(), f.apply(c.x()));
      case Expr.RoundBf16 b -> new Expr.RoundBf16(f.apply(b.x()), f.apply(b.index()), f.apply(b.seed()));
      case Expr.Reduce r -> new Expr.Reduce(r.op(), r.var(), f.apply(r.body()));
      case Expr.Extern x -> x;   // whole-tensor arguments: nothing inside to substitute
    };
  }

  public static void visit(Expr e, Consumer<Expr> f) {
    f.accept(e);
    for (Expr c : children(e)) visit(c, f);
  }

  /** Whether e contains v (structurally equal) anywhere. */
  public static boolean uses(Expr e, Expr v) { return usesOutside(e, v, List.of()); }

  /** Whether e contains v anywhere but inside the loads in skip (walked as is: no simplification drops a term). */
  public static boolean usesOutside(Expr e, Expr v, List<Expr.Load> skip) {
    if (e.equals(v)) return true;
    if (e instanceof Expr.Load l && skip.contains(l)) return false;
    for (Expr c : children(e)) if (usesOutside(c, v, skip)) return true;
    return false;
  }

  public static List<Expr.Load> loads(Expr e) {
    List<Expr.Load> out = new ArrayList<>();
    visit(e, x -> { if (x instanceof Expr.Load l && !out.contains(l)) out.add(l); });
    return out;
  }

  /** Replaces every occurrence of `from` (structurally equal) by `to`. */
  public static Expr replace(Expr e, Expr from, Expr to) {
    if (e.equals(from)) return to;
    return mapChildren(e, c -> replace(c, from, to));
  }

  /** Replaces every occurrence of each key of `to` (structurally equal) by its value, all at once: a swap of two vars swaps them. */
  public static Expr replace(Expr e, Map<? extends Expr, ? extends Expr> to) {
    Expr z = to.get(e);
    return z != null ? z : mapChildren(e, c -> replace(c, to));
  }
}
