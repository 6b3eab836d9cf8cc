// Statement rendering shared by the Java and CUDA map schedules: lets (CSE), reduction loops, store.
package kiln.codegen;

import java.util.ArrayList;
import java.util.List;
import kiln.dsl.Compute;
import kiln.dsl.Expr;

final class Statements {
  private Statements() {}

  /**
   * out[index] (=|+=) body with its root reductions as serial loops; with atomic, the final
   * accumulation is an atomic add (CUDA scatters).
   */
  static void serial(ExprRenderer r, Compute c, StringBuilder out, String indent, boolean atomic) {
    String target = target(r, c);
    List<Expr.Reduce> reductions = c.rootReductions();
    List<String> prelude = new ArrayList<>();
    String value;
    if (reductions.isEmpty()) {
      value = r.renderWithLocals(c.inner(), prelude);
      for (String p : prelude) out.append(indent).append(p).append('\n');
      out.append(indent).append(store(r, c, target, value, atomic)).append(";\n");
      return;
    }
    String type = r.type(c.body().type());
    boolean max = reductions.getFirst().op() == Expr.RedOp.MAX;
    String accType = max ? type : r.dialect().accumulator(c.body().type());
    String zero = r.dialect().sumZero(c.body().type());
    out.append(indent).append(accType).append(" acc = ").append(max ? r.dialect().negativeInfinity() : zero).append(";\n");
    String inner = openLoops(r, reductions, out, indent);
    value = r.renderWithLocals(c.inner(), prelude);
    for (String p : prelude) out.append(inner).append(p).append('\n');
    out.append(inner).append(max ? "acc = " + r.dialect().binary(Expr.BinOp.MAX, "acc", value, false) + ";\n" : "acc += " + value + ";\n");
    closeLoops(reductions.size(), out, indent);
    String result = accType.equals(type) ? "acc" : "(" + type + ") acc";
    out.append(indent).append(store(r, c, target, result, atomic)).append(";\n");
  }

  /** A serial loop per reduction var, nested, opened at indent; returns the indent inside them. */
  static String openLoops(ExprRenderer r, List<Expr.Reduce> reductions, StringBuilder out, String indent) {
    String inner = indent;
    for (Expr.Reduce red : reductions) {
      String v = r.var(red.var());
      out.append(inner).append("for (int ").append(v).append(" = 0; ").append(v).append(" < ").append(r.dim(red.var().dim()))
          .append("; ").append(v).append("++) {\n");
      inner += "  ";
    }
    return inner;
  }

  /** Closes the n loops openLoops opened at indent. */
  static void closeLoops(int n, StringBuilder out, String indent) {
    for (int i = n; i > 0; i--) out.append(indent).append("  ".repeat(i - 1)).append("}\n");
  }

  static String store(ExprRenderer r, String target, String value, boolean accumulate, boolean atomic) {
    if (atomic) return r.dialect().atomicAdd(target, value);
    return target + (accumulate ? " += " : " = ") + value;
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
