// The activation-recompute policy (llm.c's -r): which element-wise forward outputs the backward recomputes
// instead of keeping them alive from the forward. A backend pass (BackendPass) applies it to the forward graph.
package kiln.codegen;

import java.util.List;
import kiln.dsl.Graph;

public enum Recompute {
  /** Every forward output the backward reads is kept. */
  NONE,
  /**
   * Every GELU region's output (GPT-2's MLP activation, Gemma's GeGLU gate) is recomputed where the
   * backward first reads it: B·T·4C floats per GPT-2 layer less to keep, one element-wise pass more.
   */
  GELU("gelu");

  private final List<String> regions;

  Recompute(String... regions) { this.regions = List.of(regions); }

  /** The flag's spelling: none, gelu. */
  public String flag() { return name().toLowerCase(java.util.Locale.ROOT); }

  /** The accepted spellings, in order. */
  public static List<String> names() { return java.util.Arrays.stream(values()).map(Recompute::flag).toList(); }

  /** none or gelu; null where the name is none of them. */
  public static Recompute parse(String name) { return java.util.Arrays.stream(values()).filter(r -> r.flag().equals(name)).findFirst().orElse(null); }

  /** The region ops this policy recomputes. */
  public List<String> regions() { return regions; }

  /** Marks the outputs of this policy's regions in g for recompute (before the backward is derived). */
  public void apply(Graph g) {
    for (String op : regions) for (Graph.Region r : g.regions(op)) g.recompute(r.output);
  }

  /** How many regions of g this policy recomputes. */
  public int count(Graph g) {
    return regions.stream().mapToInt(op -> g.regions(op).size()).sum();
  }
}
