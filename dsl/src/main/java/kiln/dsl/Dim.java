// A named size (B, T, C, NH, ...): symbolic in the IR, bound to a number when a model is instantiated.
package kiln.dsl;

public record Dim(String name) {
  @Override public String toString() { return name; }
}
