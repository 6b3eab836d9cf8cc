// Static constructors of the DSL (sum, max, select, literals) with local simplification:
// constant folding, x·1, x·0, x+0, so derived backward expressions stay small.
package kiln.dsl;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import kiln.dsl.Expr.BinOp;
import kiln.dsl.Expr.Binary;
import kiln.dsl.Expr.Const;

public final class Ops {
  private static final AtomicInteger FRESH = new AtomicInteger();
  private Ops() {}

  public static Expr lit(double v) { return Const.f32(v); }
  public static Expr lit(double v, DType type) { return type == DType.I32 ? Const.i32((int) v) : Const.f32(v); }
  public static Expr size(Dim d) { return new Expr.SizeOf(d); }
  /** |d| as a float, for means. */
  public static Expr sizeF(Dim d) { return new Expr.Cast(DType.F32, new Expr.SizeOf(d)); }

  public static Var var(Dim d) { return new Var(d.name().toLowerCase() + "_" + FRESH.incrementAndGet(), d); }

  public static Expr sum(Dim d, Function<Var, Expr> body) {
    Var v = var(d);
    return new Expr.Reduce(Expr.RedOp.SUM, v, body.apply(v));
  }

  public static Expr max(Dim d, Function<Var, Expr> body) {
    Var v = var(d);
    return new Expr.Reduce(Expr.RedOp.MAX, v, body.apply(v));
  }

  public static Expr select(Expr cond, Expr then, Expr otherwise) {
    if (cond.type() != DType.BOOL) throw new DslException("select condition " + cond + " is " + cond.type() + ", expected BOOL");
    if (then.type() != otherwise.type()) {
      throw new DslException("select branches differ in type: " + then + " is " + then.type() + ", " + otherwise + " is " + otherwise.type());
    }
    if (then.equals(otherwise)) return then;
    return new Expr.Select(cond, then, otherwise);
  }

  public static boolean isConst(Expr e, double v) { return e instanceof Const c && c.value() == v; }

  public static Expr bin(BinOp op, Expr a, Expr b) {
    if (a.type() != b.type()) {
      throw new DslException("operands of " + op.name().toLowerCase() + " differ in type: " + a + " is " + a.type() + ", " + b + " is " + b.type());
    }
    if (a instanceof Const x && b instanceof Const y) {
      double r = switch (op) {
        case ADD -> x.value() + y.value();
        case SUB -> x.value() - y.value();
        case MUL -> x.value() * y.value();
        case DIV -> a.type() == DType.I32 ? (double) ((int) x.value() / (int) y.value()) : x.value() / y.value();
        case MAX -> Math.max(x.value(), y.value());
        case MIN -> Math.min(x.value(), y.value());
        case POW -> Math.pow(x.value(), y.value());
        case MOD -> x.value() % y.value();
      };
      return lit(a.type() == DType.F32 ? (float) r : r, a.type());
    }
    switch (op) {
      case ADD -> { if (isConst(a, 0)) return b; if (isConst(b, 0)) return a; }
      case SUB -> { if (isConst(b, 0)) return a; if (isConst(a, 0)) return new Expr.Unary(Expr.UnOp.NEG, b); }
      case MUL -> {
        if (isConst(a, 0) || isConst(b, 0)) return lit(0, a.type());
        if (isConst(a, 1)) return b;
        if (isConst(b, 1)) return a;
      }
      case DIV -> { if (isConst(a, 0)) return lit(0, a.type()); if (isConst(b, 1)) return a; }
      default -> { }
    }
    return new Binary(op, a, b);
  }

  public static Expr neg(Expr x) {
    if (x instanceof Const c) return lit(-c.value(), c.type());
    if (x instanceof Expr.Unary u && u.op() == Expr.UnOp.NEG) return u.x();
    return new Expr.Unary(Expr.UnOp.NEG, x);
  }
}
