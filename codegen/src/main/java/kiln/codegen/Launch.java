// One kernel launch of a lowered program, for either backend: the computes it runs and its rendered
// kernel (shared by every launch with the same source), which carries the launch's bindings and work.
package kiln.codegen;

import java.util.List;
import kiln.dsl.Compute;

/** @param computes the computes this launch runs, in order (a data-parallel backward plans its gradient buckets over them) */
public record Launch(List<Compute> computes, Rendered kernel) {
  public Launch {
    computes = List.copyOf(computes);
  }

  /** The computes' names joined with "+", for profiles and errors. */
  public String name() { return Lowering.name(computes); }
}
