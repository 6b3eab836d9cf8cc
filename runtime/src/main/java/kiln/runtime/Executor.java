// What a trainer needs from a device: run a section of the program, move tensors in and out. The
// bookkeeping both devices share lives here: the lowered program's launches per section, each planned
// once by the backend (P: a CPU kernel call, or a CUDA kernel's launches), the cuts a data-parallel step
// runs between, and per-launch profile times. A backend says how to run a part of a section and how to
// time a launch; the rest (lowering, compiling, storage) is its own.
package kiln.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntConsumer;
import kiln.codegen.Launch;
import kiln.codegen.Lowering;
import kiln.dsl.Tensor;

public abstract class Executor<P> implements AutoCloseable {
  /** A launch ready to go: its position in the program, the lowering's launch (name, kernel) and the backend's form of it. */
  public record Step<P>(int index, Launch launch, P planned) {}

  private final Map<String, List<Step<P>>> sections = new LinkedHashMap<>();
  private final List<Step<P>> all = new ArrayList<>();
  /** Nanoseconds per launch since enableProfile; null while profiling is off. */
  protected long[] profileNanos;

  /** Plans every launch of the lowered sections (in order) with plan; a backend's constructor calls it once. */
  protected final void plan(Map<String, Lowering.Lowered> lowered, Function<Launch, P> plan) {
    for (var e : lowered.entrySet()) {
      List<Step<P>> steps = new ArrayList<>();
      for (Launch l : e.getValue().launches()) {
        Step<P> s = new Step<>(all.size(), l, plan.apply(l));
        all.add(s);
        steps.add(s);
      }
      sections.put(e.getKey(), steps);
    }
  }

  protected final List<Step<P>> all() { return all; }

  /**
   * Launches of one training step: every section's, except that where there is a joined section (Session.STEP) it counts
   * instead of "forward" and "backward" (the sections a forward alone or a backward alone runs).
   */
  public final int stepLaunches() {
    boolean joined = sections.containsKey(Session.STEP);
    int n = 0;
    for (var e : sections.entrySet()) {
      if (!joined || !e.getKey().equals("forward") && !e.getKey().equals("backward")) n += e.getValue().size();
    }
    return n;
  }

  /** Runs a section of the program (no allocation: a step calls this every launch group). */
  public final void run(String section) { run(section, NO_CUTS, i -> { }); }

  public static final int[] NO_CUTS = {};

  /**
   * Runs a section as {@link #run(String)} does, calling after.accept(i) right after launch i has
   * been queued, for each i of cuts (ascending launch indices of the section): a data-parallel step
   * starts a gradient bucket's reduction there while the rest of the section runs.
   */
  public final void run(String section, int[] cuts, IntConsumer after) {
    List<Step<P>> list = section(section);
    int from = 0;
    for (int c : cuts) {
      if (c < from || c >= list.size()) throw new IllegalArgumentException(section + ": cut after launch " + c + " is out of order or past " + list.size());
      runPart(section + "[" + from + "," + (c + 1) + ")", list.subList(from, c + 1));
      after.accept(c);
      from = c + 1;
    }
    if (from < list.size()) runPart(from == 0 ? section : section + "[" + from + "," + list.size() + ")", list.subList(from, list.size()));
    if (profileNanos != null) profiled(list);
  }

  /** Runs the launches of part, key naming it (the section, with the launch range where cuts split it); times each while profiling. */
  protected abstract void runPart(String key, List<Step<P>> part);

  /** After a profiled section's launches are queued: a backend that times asynchronously adds the section's times here. */
  protected void profiled(List<Step<P>> section) {}

  /** The section's launches in the order they run, each named by its computes joined with "+". */
  public final List<String> launchNames(String section) { return section(section).stream().map(s -> s.launch().name()).toList(); }

  /** The section's launches in the order they run, each as the computes it runs (what a cut after launch i has finished). */
  public final List<List<kiln.dsl.Compute>> launchComputes(String section) { return section(section).stream().map(s -> s.launch().computes()).toList(); }

  private List<Step<P>> section(String section) {
    List<Step<P>> list = sections.get(section);
    if (list == null) throw new IllegalArgumentException("no section " + section + " (have " + sections.keySet() + ")");
    return list;
  }

  /** Turns per-launch timing on. */
  public void enableProfile() { profileNanos = new long[all.size()]; }

  /** Total time per launch kind and name with layer numbers folded (h3. -> h*., [3] -> [*]), largest first, since enableProfile. */
  public final List<Map.Entry<String, Long>> profile() {
    Map<String, Long> byName = new LinkedHashMap<>();
    for (Step<P> s : all) {
      String name = s.launch().kernel().kind() + " " + s.launch().name();
      byName.merge(name.replaceAll("h\\d+\\.", "h*.").replaceAll("\\[\\d+\\]", "[*]"), profileNanos[s.index()], Long::sum);
    }
    List<Map.Entry<String, Long>> list = new ArrayList<>(byName.entrySet());
    list.sort((a, b) -> Long.compare(b.getValue(), a.getValue()));
    return list;
  }

  public abstract void write(Tensor t, float[] values);

  public abstract void write(Tensor t, int[] values);

  /** A copy of a float tensor (checks, checkpoints; never in the step loop). */
  public abstract float[] read(Tensor t);

  /** One element of a float tensor (the loss), without allocating. */
  public abstract float readScalar(Tensor t);

  /** Waits for queued work (a no-op on the CPU). */
  public void synchronize() {}

  /** One line: kernels, compile time, memory. */
  public abstract String describe();

  @Override public abstract void close();
}
