// One statement of the IR: out[outIndex] (= or +=) body, for every value of loopVars.
// A forward compute's outIndex is its loop vars in order; backward computes may write a slice
// (constants in outIndex) or scatter (data-dependent outIndex, accumulate only).
package kiln.dsl;

import java.util.List;

public record Compute(String name, String layer, Tensor out, List<Var> loopVars, List<Expr> outIndex, Expr body,
                      boolean accumulate) {
  public Compute {
    loopVars = List.copyOf(loopVars);
    outIndex = List.copyOf(outIndex);
  }

  /** The reductions at the root of the body, outermost first (Σ_b Σ_t ... is two). */
  public List<Expr.Reduce> rootReductions() {
    var list = new java.util.ArrayList<Expr.Reduce>();
    Expr e = body;
    while (e instanceof Expr.Reduce r) { list.add(r); e = r.body(); }
    return list;
  }

  /** The body under the root reductions. */
  public Expr inner() {
    Expr e = body;
    while (e instanceof Expr.Reduce r) e = r.body();
    return e;
  }

  /** True when every outIndex entry is a loop var (in order): each output element written once. */
  public boolean isFullCover() { return outIndex.equals(loopVars) && loopVars.size() == out.rank(); }

  @Override public String toString() {
    return out.name() + outIndex + (accumulate ? " += " : " = ") + body;
  }
}
