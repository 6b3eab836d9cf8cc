// What a trainer needs from a device: run a section of the program, move tensors in and out.
package kiln.runtime;

import java.util.List;
import java.util.Map;
import kiln.dsl.Tensor;

public interface Executor extends AutoCloseable {
  /** Runs a section of the program (no allocation: a step calls this every launch group). */
  default void run(String section) { run(section, NO_CUTS, i -> { }); }

  int[] NO_CUTS = {};

  /**
   * Runs a section as {@link #run(String)} does, calling after.accept(i) right after launch i has
   * been queued, for each i of cuts (ascending launch indices of the section): a data-parallel step
   * starts a gradient bucket's reduction there while the rest of the section runs.
   */
  void run(String section, int[] cuts, java.util.function.IntConsumer after);

  /** The section's launches in the order they run, each named by its computes joined with "+". */
  List<String> launchNames(String section);

  void write(Tensor t, float[] values);

  void write(Tensor t, int[] values);

  /** A copy of a float tensor (checks, checkpoints; never in the step loop). */
  float[] read(Tensor t);

  /** One element of a float tensor (the loss), without allocating. */
  float readScalar(Tensor t);

  /** Waits for queued work (a no-op on the CPU). */
  default void synchronize() {}

  int launchCount();

  /** One line: kernels, compile time, memory. */
  String describe();

  void enableProfile();

  /** Total time per launch kind and name (layers folded), largest first, since enableProfile. */
  List<Map.Entry<String, Long>> profile();

  @Override void close();

  /** Sums per-launch times under "kind name" with layer numbers folded (h3. -> h*., [3] -> [*]), largest first. */
  static List<Map.Entry<String, Long>> foldProfile(List<String> kindAndName, long[] nanos) {
    Map<String, Long> byName = new java.util.LinkedHashMap<>();
    for (int i = 0; i < nanos.length; i++) {
      byName.merge(kindAndName.get(i).replaceAll("h\\d+\\.", "h*.").replaceAll("\\[\\d+\\]", "[*]"), nanos[i], Long::sum);
    }
    List<Map.Entry<String, Long>> list = new java.util.ArrayList<>(byName.entrySet());
    list.sort((a, b) -> Long.compare(b.getValue(), a.getValue()));
    return list;
  }
}
