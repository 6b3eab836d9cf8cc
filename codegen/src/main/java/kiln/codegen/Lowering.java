// The lowering pipeline, one for both backends, pass by pass: fuse -> classify (row / extern / matmul /
// reduce / map) -> schedule -> render -> dedupe, over a Backend (the Java one here, CUDA's in CudaLowering)
// that says how it fuses and which kinds it renders, and renders them. KILN_DUMP_IR=1 prints the IR after each pass.
package kiln.codegen;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.Expr;

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

  /** What a group of computes lowers to: the classifier tries them in this order, each where the backend renders it. */
  public enum Kind { ROW, EXTERN, MATMUL, REDUCE, MAP }

  /** A backend as the pipeline sees it: how it fuses computes into launches, which kinds it renders, and how. */
  public interface Backend {
    /** fuse: the computes grouped into launches, in order. */
    List<List<Compute>> groups(List<Compute> computes);

    /** Whether it has a kernel kind of its own for kind (MATMUL and MAP: every backend; a group of another kind runs as a map). */
    boolean renders(Kind kind);

    /** Whether a group of several reductions runs as one REDUCE launch (CUDA's sibling column reductions). */
    default boolean reduces(List<Compute> group) { return false; }

    /** Whether the group is a matmul with an epilogue it runs in the matmul's launch (classified by the matmul alone). */
    default boolean epilogue(List<Compute> group) { return false; }

    /** schedule and render: the launches of one group (head: the group, or its matmul alone where it has an epilogue). */
    List<Launch> render(Kind kind, List<Compute> head, List<Compute> group);
  }

  /**
   * The lowering: fuse -> classify -> schedule -> render -> dedupe, over a backend. The kernels map holds every kernel the
   * launches run, by function name (a matmul over transposed copies brings the transpose's and its chunks' kernels too).
   */
  public static Lowered lower(List<Compute> computes, Backend backend) {
    boolean dump = "1".equals(System.getenv("KILN_DUMP_IR"));
    List<List<Compute>> groups = backend.groups(computes);
    if (dump) {
      System.err.println("== after fuse");
      for (List<Compute> g : groups) {
        for (Compute c : g) System.err.println((g.size() > 1 ? "  | " : "  ") + c.name() + ": " + c);
      }
    }
    Map<String, Rendered> kernels = new LinkedHashMap<>();
    List<Launch> launches = new ArrayList<>();
    for (List<Compute> group : groups) {
      List<Compute> head = backend.epilogue(group) ? group.subList(0, 1) : group;
      Kind kind = classify(head, backend);
      if (dump) System.err.println("classify: " + kind + " <- " + name(group));
      for (Launch l : backend.render(kind, head, group)) {
        if (l.kernel().work() instanceof Work.Tiles t && t.transposed() != null) {
          for (Rendered x : t.transposed().kernels()) kernels.putIfAbsent(x.function(), x);
        }
        kernels.putIfAbsent(l.kernel().function(), l.kernel());
        launches.add(l);
      }
    }
    return new Lowered(launches, kernels);
  }

  /** The one plan switch: a group's kind, the first of Kind's order that fits it and that the backend renders, else MAP. */
  static Kind classify(List<Compute> group, Backend backend) {
    Compute first = group.getFirst();
    boolean one = group.size() == 1;
    if (backend.renders(Kind.ROW) && RowFusion.plan(group) != null) return Kind.ROW;
    if (backend.renders(Kind.EXTERN) && one && first.body() instanceof Expr.Extern) return Kind.EXTERN;
    if (one && MatmulMatch.of(first).isPresent()) return Kind.MATMUL;
    if (backend.renders(Kind.REDUCE) && (one || backend.reduces(group)) && !first.rootReductions().isEmpty()) return Kind.REDUCE;
    return Kind.MAP;
  }

  /** A launch's name: its computes' joined with "+". */
  static String name(List<Compute> group) { return String.join("+", group.stream().map(Compute::name).toList()); }

  /** The Java backend: Fuse's groups, matmuls and maps (a reduction runs inside its map's loop), knobs from the chooser. */
  public static Lowered lower(List<Compute> computes, Schedule defaults, Chooser<Schedule> chooser) {
    return lower(computes, new Backend() {
      @Override public List<List<Compute>> groups(List<Compute> c) { return Fuse.groups(c); }

      @Override public boolean renders(Kind kind) { return kind == Kind.MATMUL || kind == Kind.MAP; }

      @Override public List<Launch> render(Kind kind, List<Compute> head, List<Compute> group) {
        Compute first = group.getFirst();
        Rendered r = kind == Kind.MATMUL ? JavaRenderer.matmul(MatmulMatch.of(first).orElseThrow(), first.accumulate()) : JavaRenderer.map(group);
        Schedule chosen = kind == Kind.MATMUL ? chooser.choose(r) : null;
        return List.of(new Launch(group, JavaRenderer.toClass(r, chosen != null ? chosen : defaults)));
      }
    });
  }
}
