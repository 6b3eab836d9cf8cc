// The CUDA lowering pipeline: fuse (rows, then element-wise; matmul epilogues) -> classify (row, matmul, column reduce, reduce, map/scatter) -> schedule -> render -> dedupe.
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

    /**
     * As above where the launch could also run on wgmma over transposed copies (overCopies: rendered so
     * with the schedule's wgmma tile). null takes overCopies (the rule: copies wherever they are
     * planned), a WgmmaTile takes them with that tile, any other tile keeps the launch off them.
     */
    default CudaSchedule.MatmulTile choose(CudaRenderer.Rendered byDefault, CudaRenderer.Rendered overCopies) { return choose(byDefault); }
  }

  private CudaLowering() {}

  public static Lowered lower(List<Compute> computes, CudaSchedule schedule) { return lower(computes, schedule, m -> null, null); }

  /** size binds the dims an extern kernel fixes at compile time (the head size); null when there are no externs. */
  public static Lowered lower(List<Compute> computes, CudaSchedule schedule, Chooser chooser, java.util.function.ToIntFunction<kiln.dsl.Dim> size) {
    return lower(computes, schedule, chooser, size, 0);
  }

  /** Most chunks along K a transposed-operand wgmma launch may take (each rereads and rewrites C). */
  public static final int MAX_TRANSPOSE_CHUNKS = 4;
  /** Most chunks along K of a launch chunked along M as well (CudaRenderer.transposePlan picks within it by cost). */
  public static final int MAX_ROW_PLAN_K_CHUNKS = 16;

  /** Whether plans may chunk along M (KILN_WGMMA_MCHUNK=0: off, such matmuls stay on mma.sync); tests may override. */
  public static boolean rowChunks() {
    Boolean o = rowChunksOverride;
    return o != null ? o : !"0".equals(System.getenv("KILN_WGMMA_MCHUNK"));
  }

  /** Whether reductions along rows and their consumers run as row kernels (RowFusion; KILN_ROWS=0: off); tests may override. */
  public static boolean rows() {
    Boolean o = rowsOverride;
    return o != null ? o : !"0".equals(System.getenv("KILN_ROWS"));
  }

  /** Tests: force row fusion on or off (null: the environment decides). */
  public static volatile Boolean rowsOverride;

  /** Tests: force chunking along M on or off (null: the environment decides). */
  public static volatile Boolean rowChunksOverride;

  /**
   * As above; with transposeFloats > 0 (and the wgmma tile on, sizes bound), a matmul with an operand
   * stored [k..., rows...] runs on wgmma over transposed copies in a workspace of at most that many
   * floats (CudaRenderer.matmulTransposed) wherever CudaRenderer.transposePlan finds chunks for it,
   * unless the chooser keeps it off them (Chooser.choose with overCopies).
   */
  public static Lowered lower(List<Compute> computes, CudaSchedule schedule, Chooser chooser, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                              long transposeFloats) {
    return lower(computes, schedule, chooser, size, transposeFloats, null);
  }

  /**
   * As above, over Epilogue.groups: a matmul with an epilogue runs it in its own launch (the chooser still
   * sees the bare matmul, the kernel the tuner times), except over copies in more than one launch (K or M
   * chunks), where the epilogue runs after as a map. program: the readers of every tensor in the whole
   * step, so outputs nothing outside the group reads are not stored (null: every output is stored).
   */
  public static Lowered lower(List<Compute> computes, CudaSchedule schedule, Chooser chooser, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                              long transposeFloats, Epilogue.Readers program) {
    Map<String, CudaRenderer.Rendered> kernels = new LinkedHashMap<>();
    List<CudaLaunch> launches = new ArrayList<>();
    boolean dump = "1".equals(System.getenv("KILN_DUMP_IR"));
    for (List<Compute> fusedGroup : Epilogue.groups(computes)) {
      List<Compute> group = fusedGroup;
      CudaRenderer.Fused epilogue = null;
      if (Epilogue.fused(fusedGroup)) {
        group = List.of(fusedGroup.getFirst());
        epilogue = new CudaRenderer.Fused(fusedGroup.subList(1, fusedGroup.size()), Epilogue.unstored(fusedGroup, program));
        if (dump) System.err.println("epilogue: " + String.join(" + ", fusedGroup.stream().map(Compute::name).toList()) + ", not stored: " + epilogue.unstored());
      }
      Compute first = group.getFirst();
      Optional<MatmulMatch> mm = group.size() == 1 ? MatmulMatch.of(first) : Optional.empty();
      RowFusion.Plan rowPlan = rows() ? RowFusion.plan(group) : null;
      CudaRenderer.Rendered k;
      if (rowPlan != null) {
        k = CudaRows.render(rowPlan);
      } else if (group.size() == 1 && first.body() instanceof kiln.dsl.Expr.Extern) {
        if (size == null) throw new IllegalArgumentException(first.name() + ": an extern needs its sizes bound to render");
        k = Externs.render(first, schedule, size);
      } else if (mm.isPresent()) {
        CudaSchedule.MatmulTile byDefault = schedule.matmulFor(mm.get());
        k = CudaRenderer.matmul(mm.get(), first.accumulate(), byDefault);
        long[] plan = transposePlan(mm.get(), schedule, size, transposeFloats);
        CudaRenderer.Rendered copies = plan == null ? null : CudaRenderer.matmulTransposed(mm.get(), first.accumulate(), schedule.wgmma(), plan);
        CudaSchedule.MatmulTile chosen = copies == null ? chooser.choose(k) : chooser.choose(k, copies);
        if (copies != null && (chosen == null || chosen instanceof CudaSchedule.WgmmaTile)) {
          CudaSchedule.WgmmaTile w = chosen == null ? schedule.wgmma() : (CudaSchedule.WgmmaTile) chosen;
          boolean fuse = epilogue != null && CudaRenderer.oneLaunch(plan);
          k = w.equals(schedule.wgmma()) && !fuse ? copies : CudaRenderer.matmulTransposed(mm.get(), first.accumulate(), w, plan, fuse ? epilogue : null);
          if (fuse) epilogue = null;
          CudaRenderer.Transposed t = ((CudaRenderer.Tiles) k.work()).transposed();
          for (CudaRenderer.Rendered x : t.kernels()) kernels.putIfAbsent(x.function(), x);
        } else if (epilogue != null) {
          k = CudaRenderer.matmul(mm.get(), chosen != null ? chosen : byDefault, epilogue);
          epilogue = null;
        } else if (chosen != null && !chosen.equals(byDefault)) {
          k = CudaRenderer.matmul(mm.get(), first.accumulate(), chosen);
        }
      } else if (group.size() == 1 && !first.rootReductions().isEmpty()) {
        // a column reduction (bias and norm-weight gradients) split along the rows where the schedule has it on
        k = schedule.columns() != null && CudaRenderer.columnar(first) ? CudaRenderer.columns(first, schedule) : CudaRenderer.reduce(first, schedule);
      } else {
        k = CudaRenderer.map(group, schedule);
      }
      kernels.putIfAbsent(k.function(), k);
      if (epilogue == null) {
        launches.add(new CudaLaunch(String.join("+", fusedGroup.stream().map(Compute::name).toList()), k));
      } else {
        // over copies in several launches: the epilogue's computes run after, as one map
        launches.add(new CudaLaunch(first.name(), k));
        CudaRenderer.Rendered map = CudaRenderer.map(epilogue.computes(), schedule);
        kernels.putIfAbsent(map.function(), map);
        launches.add(new CudaLaunch(String.join("+", epilogue.computes().stream().map(Compute::name).toList()), map));
      }
    }
    return new Lowered(launches, kernels);
  }

  /**
   * {kChunk, chunks} (or {kChunk, chunks, mChunk, mChunks, tail rows} chunked along M too, unless
   * KILN_WGMMA_MCHUNK=0) where mm can run on wgmma over transposed copies in transposeFloats of workspace
   * (the wgmma tile on at TF32, an operand stored [k..., rows...]), else null: it stays as it is.
   */
  public static long[] transposePlan(MatmulMatch mm, CudaSchedule schedule, java.util.function.ToIntFunction<kiln.dsl.Dim> size, long transposeFloats) {
    if (transposeFloats <= 0 || size == null || schedule.wgmma() == null || schedule.precision() != CudaSchedule.Precision.TF32) return null;
    boolean[] t = CudaRenderer.wgmmaLayouts(mm);
    if (t == null || !(t[0] || t[1])) return null;
    long m = product(mm.m(), size), n = product(mm.n(), size), k = product(mm.k(), size);
    if (!rowChunks()) return CudaRenderer.transposePlan(t[0], t[1], m, n, k, transposeFloats, MAX_TRANSPOSE_CHUNKS);
    return CudaRenderer.transposePlan(t[0], t[1], m, n, k, transposeFloats, MAX_TRANSPOSE_CHUNKS, MAX_ROW_PLAN_K_CHUNKS,
        schedule.wgmma().bm(), schedule.wgmma().bn());
  }

  private static long product(List<kiln.dsl.Var> vars, java.util.function.ToIntFunction<kiln.dsl.Dim> size) {
    long p = 1;
    for (kiln.dsl.Var v : vars) p *= size.applyAsInt(v.dim());
    return p;
  }
}
