// The CUDA lowering pipeline: fuse -> classify (matmul, reduce, map/scatter) -> schedule -> render -> dedupe.
package kiln.codegen;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import kiln.dsl.Compute;

public final class CudaLowering {
  /** A launch: the rendered kernel (shared by launches with the same source) and its bindings. */
  public record CudaLaunch(String name, CudaRenderer.Rendered kernel) {}

  public record Lowered(List<CudaLaunch> launches, Map<String, CudaRenderer.Rendered> kernels) {}

  /**
   * Picks the tile of one matmul launch (from a tuning cache), or null for the schedule's default
   * (CudaSchedule.matmulFor). It sees the launch rendered with the default tile: its function name
   * identifies the kernel.
   */
  public interface Chooser {
    CudaSchedule.MatmulTile choose(CudaRenderer.Rendered byDefault);
  }

  private CudaLowering() {}

  public static Lowered lower(List<Compute> computes, CudaSchedule schedule) { return lower(computes, schedule, m -> null, null); }

  /** size binds the dims an extern kernel fixes at compile time (the head size); null when there are no externs. */
  public static Lowered lower(List<Compute> computes, CudaSchedule schedule, Chooser chooser, java.util.function.ToIntFunction<kiln.dsl.Dim> size) {
    Map<String, CudaRenderer.Rendered> kernels = new LinkedHashMap<>();
    List<CudaLaunch> launches = new ArrayList<>();
    for (List<Compute> group : Fuse.groups(computes)) {
      Compute first = group.getFirst();
      Optional<MatmulMatch> mm = group.size() == 1 ? MatmulMatch.of(first) : Optional.empty();
      CudaRenderer.Rendered k;
      if (group.size() == 1 && first.body() instanceof kiln.dsl.Expr.Extern) {
        if (size == null) throw new IllegalArgumentException(first.name() + ": an extern needs its sizes bound to render");
        k = CudaRenderer.extern(first, schedule, size);
      } else if (mm.isPresent()) {
        CudaSchedule.MatmulTile byDefault = schedule.matmulFor(mm.get());
        k = CudaRenderer.matmul(mm.get(), first.accumulate(), byDefault);
        CudaSchedule.MatmulTile chosen = chooser.choose(k);
        if (chosen != null && !chosen.equals(byDefault)) k = CudaRenderer.matmul(mm.get(), first.accumulate(), chosen);
      } else if (group.size() == 1 && !first.rootReductions().isEmpty()) {
        k = CudaRenderer.reduce(first, schedule);
      } else {
        k = CudaRenderer.map(group, schedule);
      }
      kernels.putIfAbsent(k.function(), k);
      launches.add(new CudaLaunch(String.join("+", group.stream().map(Compute::name).toList()), k));
    }
    return new Lowered(launches, kernels);
  }
}
