// The lowering pipeline, pass by pass: fuse -> classify (matmul or map) -> render -> dedupe.
// With KILN_DUMP_IR=1 it prints the IR after each pass.
package kiln.codegen;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import kiln.dsl.Compute;

public final class Lowering {
  /** The launches of a program in order, and the distinct kernels they use by function name (either backend). */
  public record Lowered(List<Launch> launches, Map<String, Rendered> kernels) {}

  private Lowering() {}

  /**
   * Picks the tile of one matmul launch (from a tuning cache), or null for the schedule's default. It sees the launch
   * rendered with the default tile (CUDA: its function name identifies the kernel; Java: Rendered.identity).
   */
  public interface Chooser<T extends Work.Tile> {
    T choose(Rendered byDefault);

    /**
     * CUDA, where the launch could also run on wgmma over transposed copies (overCopies: rendered so with the schedule's
     * wgmma tile). null takes overCopies (the rule: copies wherever they are planned), a WgmmaTile takes them with that
     * tile, any other tile keeps the launch off them.
     */
    default T choose(Rendered byDefault, Rendered overCopies) { return choose(byDefault); }
  }

  public static Lowered lower(List<Compute> computes, Schedule schedule) { return lower(computes, schedule, m -> null); }

  public static Lowered lower(List<Compute> computes, Schedule defaults, Chooser<Schedule> chooser) {
    boolean dump = "1".equals(System.getenv("KILN_DUMP_IR"));
    List<List<Compute>> groups = Fuse.groups(computes);
    if (dump) dumpGroups("fuse", groups);
    Map<String, Rendered> kernels = new LinkedHashMap<>();
    List<Launch> launches = new ArrayList<>();
    for (List<Compute> group : groups) {
      Optional<MatmulMatch> mm = group.size() == 1 ? MatmulMatch.of(group.getFirst()) : Optional.empty();
      Rendered rendered = mm.isPresent()
          ? JavaRenderer.matmul(mm.get(), group.getFirst().accumulate())
          : JavaRenderer.map(group);
      if (dump) System.err.println("classify: " + rendered.kind() + " <- " + group.getFirst().name());
      Schedule chosen = mm.isPresent() ? chooser.choose(rendered) : null;
      Schedule schedule = chosen != null ? chosen : defaults;
      Rendered k = JavaRenderer.toClass(rendered, schedule);
      kernels.putIfAbsent(k.function(), k);
      launches.add(new Launch(String.join("+", group.stream().map(Compute::name).toList()), k));
    }
    return new Lowered(launches, kernels);
  }

  private static void dumpGroups(String pass, List<List<Compute>> groups) {
    System.err.println("== after " + pass);
    for (List<Compute> g : groups) {
      for (Compute c : g) System.err.println((g.size() > 1 ? "  | " : "  ") + c.name() + ": " + c);
    }
  }
}
