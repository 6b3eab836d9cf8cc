// Statement rendering shared by the Java and CUDA map schedules: lets (CSE), reduction loops, store.
package kiln.codegen;

import java.util.ArrayList;
import java.util.List;
import kiln.dsl.Compute;
import kiln.dsl.Expr;
import kiln.dsl.Var;

final class Statements {
  private Statements() {}

  /**
   * out[index] (=|+=) body with its root reductions as serial loops; with atomic, the final
   * accumulation is an atomic add (CUDA scatters).
   */
  static void serial(ExprRenderer r, Compute c, StringBuilder out, String indent, boolean atomic) {
    String target = target(r, c);
    List<Expr.Reduce> reductions = c.rootReductions();
    if (reductions.isEmpty()) {
      String value = value(r, c, out, indent);
      out.append(indent).append(store(r, c, target, value, atomic)).append(";\n");
      return;
    }
    StringBuilder loops = new StringBuilder();
    String inner = openLoops(r, vars(reductions), loops, indent);
    fold(r, c, loops, inner);
    closeLoops(reductions.size(), loops, indent);
    reduce(r, c, loops.toString(), target, out, indent, atomic);
  }

  /**
   * A root reduction: acc declared at indent (in the dialect's accumulator type, from MAX's or SUM's identity), then
   * loops (the reduction loops that fold into acc), then acc stored into target.
   */
  static void reduce(ExprRenderer r, Compute c, String loops, String target, StringBuilder out, String indent, boolean atomic) {
    boolean max = c.rootReductions().getFirst().op() == Expr.RedOp.MAX;
    String type = r.type(c.body().type());
    String accType = max ? type : r.dialect().accumulator(c.body().type());
    String zero = r.dialect().sumZero(c.body().type());
    out.append(indent).append(accType).append(" acc = ").append(max ? r.dialect().f32(Float.NEGATIVE_INFINITY) : zero).append(";\n");
    out.append(loops);
    String result = accType.equals(type) ? "acc" : "(" + type + ") acc";
    out.append(indent).append(store(r, c, target, result, atomic)).append(";\n");
  }

  /** One step of a root reduction at indent: c's inner value (with its locals) folded into acc, by max or +. */
  static void fold(ExprRenderer r, Compute c, StringBuilder out, String indent) {
    String value = value(r, c, out, indent);
    boolean max = c.rootReductions().getFirst().op() == Expr.RedOp.MAX;
    out.append(indent).append(max ? "acc = " + r.dialect().binary(Expr.BinOp.MAX, "acc", value, false) + ";\n" : "acc += " + value + ";\n");
  }

  /** c's inner value, its repeated subexpressions declared as locals at indent. */
  private static String value(ExprRenderer r, Compute c, StringBuilder out, String indent) {
    List<String> prelude = new ArrayList<>();
    String value = r.renderWithLocals(c.inner(), prelude);
    for (String p : prelude) out.append(indent).append(p).append('\n');
    return value;
  }

  /** The vars of reductions, in order. */
  static List<Var> vars(List<Expr.Reduce> reductions) { return reductions.stream().map(Expr.Reduce::var).toList(); }

  /** A serial loop per var, nested, opened at indent; returns the indent inside them. */
  static String openLoops(ExprRenderer r, List<Var> vars, StringBuilder out, String indent) {
    String inner = indent;
    for (Var v : vars) {
      out.append(inner).append("for (int ").append(r.var(v)).append(" = 0; ").append(r.var(v)).append(" < ").append(r.dim(v.dim()))
          .append("; ").append(r.var(v)).append("++) {\n");
      inner += "  ";
    }
    return inner;
  }

  /** Closes the n loops openLoops opened at indent. */
  static void closeLoops(int n, StringBuilder out, String indent) {
    for (int i = n; i > 0; i--) out.append(indent).append("  ".repeat(i - 1)).append("}\n");
  }

  /** c's store of value (F32) into its output, in the output's storage (a bf16 output rounds). */
  static String store(ExprRenderer r, Compute c, String target, String value, boolean atomic) {
    return r.dialect().store(target, value, c.accumulate(), atomic, c.out().storage());
  }

  /** The store target of a compute, e.g. F[o0 + (b_) * T + t_]. */
  static String target(ExprRenderer r, Compute c) {
    return r.lvalue(new Expr.Load(c.out(), c.outIndex()));
  }
}
