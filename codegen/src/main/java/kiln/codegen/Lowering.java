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
  /** The launches of a program in order, and the distinct kernel classes they use. */
  public record Lowered(List<Launch> launches, Map<String, KernelSource> kernels) {}

  private Lowering() {}

  /** Picks the knobs of a matmul launch (from a tuning cache), or null for the defaults. */
  public interface Chooser {
    Schedule choose(JavaRenderer.Rendered matmul);
  }

  public static Lowered lower(List<Compute> computes, Schedule schedule) { return lower(computes, schedule, m -> null); }

  public static Lowered lower(List<Compute> computes, Schedule defaults, Chooser chooser) {
    boolean dump = "1".equals(System.getenv("KILN_DUMP_IR"));
    List<List<Compute>> groups = Fuse.groups(computes);
    if (dump) dumpGroups("fuse", groups);
    Map<String, KernelSource> kernels = new LinkedHashMap<>();
    List<Launch> launches = new ArrayList<>();
    for (List<Compute> group : groups) {
      Optional<MatmulMatch> mm = group.size() == 1 ? MatmulMatch.of(group.getFirst()) : Optional.empty();
      JavaRenderer.Rendered rendered = mm.isPresent()
          ? JavaRenderer.matmul(mm.get(), group.getFirst().accumulate())
          : JavaRenderer.map(group);
      if (dump) System.err.println("classify: " + rendered.kind() + " <- " + group.getFirst().name());
      Schedule chosen = mm.isPresent() ? chooser.choose(rendered) : null;
      Schedule schedule = chosen != null ? chosen : defaults;
      KernelSource k = JavaRenderer.toClass(rendered, schedule);
      kernels.putIfAbsent(k.className(), k);
      String name = String.join("+", group.stream().map(Compute::name).toList());
      launches.add(new Launch(name, kernels.get(k.className()), rendered.dims(), rendered.tensors(), rendered.work(), schedule));
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
