// Symbolic partial derivative of an element-wise expression with respect to one load.
package kiln.dsl;

import kiln.dsl.Expr.BinOp;

final class Derivative {
  private Derivative() {}

  static Expr of(Expr e, Expr.Load wrt) {
    if (e.equals(wrt)) return Ops.lit(1);
    if (e.type() != DType.F32) return Ops.lit(0, e.type() == DType.BOOL ? DType.F32 : e.type());
    return switch (e) {
      case Var _, Expr.Const _, Expr.SizeOf _, Expr.Load _, Expr.Compare _ -> Ops.lit(0);
      case Expr.Cast _ -> Ops.lit(0);           // from an integer: no gradient
      case Expr.RoundBf16 b -> throw new DslException("derivative of a stochastic bf16 rounding (only the optimizer's weight copy rounds so)");
      case Expr.Extern x -> throw new DslException("derivative of extern " + x.op() + " (its backward is the rule given to Graph.extern)");
      case Expr.Reduce r -> throw new DslException("derivative through a nested reduction " + r + " (reductions are hoisted)");
      case Expr.Select s -> Ops.select(s.cond(), of(s.then(), wrt), of(s.otherwise(), wrt));
      case Expr.Unary u -> {
        Expr dx = of(u.x(), wrt);
        if (Ops.isConst(dx, 0)) yield dx;
        Expr x = u.x();
        Expr local = switch (u.op()) {
          case NEG -> Ops.lit(-1);
          case EXP -> u;
          case LOG -> Ops.bin(BinOp.DIV, Ops.lit(1), x);
          case TANH -> Ops.bin(BinOp.SUB, Ops.lit(1), u.mul(u));
          case SQRT -> Ops.bin(BinOp.DIV, Ops.lit(0.5), u);
          case RSQRT -> u.mul(u).mul(u).mul(-0.5);
          case SIN -> x.cos();
          case COS -> x.sin().neg();
          case ABS -> Ops.select(x.ge(Ops.lit(0)), Ops.lit(1), Ops.lit(-1));
          case BF16 -> Ops.lit(1);   // straight through: the rounding's own slope is 0 almost everywhere
        };
        yield Ops.bin(BinOp.MUL, local, dx);
      }
      case Expr.Binary b -> {
        Expr da = of(b.a(), wrt), db = of(b.b(), wrt);
        yield switch (b.op()) {
          case ADD -> Ops.bin(BinOp.ADD, da, db);
          case SUB -> Ops.bin(BinOp.SUB, da, db);
          case MUL -> Ops.bin(BinOp.ADD, Ops.bin(BinOp.MUL, da, b.b()), Ops.bin(BinOp.MUL, b.a(), db));
          case DIV -> Ops.bin(BinOp.SUB, Ops.bin(BinOp.DIV, da, b.b()),
              Ops.bin(BinOp.DIV, Ops.bin(BinOp.MUL, b.a(), db), Ops.bin(BinOp.MUL, b.b(), b.b())));
          case MAX -> Ops.select(b.a().ge(b.b()), da, db);
          case MIN -> Ops.select(b.a().le(b.b()), da, db);
          case POW -> {
            if (!Ops.isConst(db, 0)) throw new DslException("derivative of pow with a non-constant exponent: " + b);
            yield Ops.bin(BinOp.MUL, Ops.bin(BinOp.MUL, b.b(), Ops.bin(BinOp.POW, b.a(), Ops.bin(BinOp.SUB, b.b(), Ops.lit(1)))), da);
          }
          case MOD -> Ops.lit(0);
        };
      }
    };
  }
}
