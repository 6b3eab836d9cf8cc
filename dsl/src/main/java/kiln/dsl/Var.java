// An index variable ranging over one dim: the i, j, k of a compute or a reduction.
package kiln.dsl;

public record Var(String name, Dim dim) implements Expr {
  @Override public DType type() { return DType.I32; }
  /** The dim's name in lower case: stable across builds (the unique name is for identity only). */
  @Override public String toString() { return dim.name().toLowerCase(); }
}
