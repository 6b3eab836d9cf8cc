// A generated kernel class: its schedule kind, name (from a hash of its source) and Java source.
package kiln.codegen;

public record KernelSource(String kind, String className, String source) {
  public static final String PACKAGE = "kiln.generated";

  public String qualifiedName() { return PACKAGE + "." + className; }
}
