// One kernel launch of a lowered program, for either backend: the computes it runs and its rendered
// kernel (shared by every launch with the same source), which carries the launch's bindings and work.
package kiln.codegen;

/** @param name the compute(s) this launch runs, joined with "+", for profiles and errors */
public record Launch(String name, Rendered kernel) {}
