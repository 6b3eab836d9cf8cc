// Pass "rows" (CUDA): groups a reduction along the last dim of a row and the computes that consume it along
// the same rows (per-row values, element maps over the row, a write at a computed place in the row) into one
// row kernel (templates/cuda/row.cu.ftl): layernorm and RMSNorm forward and backward, softmax, the classifier; and the
// element maps along the row that feed such a reduction (the bias and residual adds before a norm, the residual
// gradient's first term before the norm backward's sums), and the sums over every row of a value at the row's element
// (COLSUM: a norm's weight and bias gradients and the bias gradient of the residual it feeds, summed where the row is in
// registers instead of read again by a column reduction).
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

public final class RowFusion {
  private RowFusion() {}

  /**
   * What a stage of a row kernel computes for one row p (the rows vars) of `extent` elements (the var r):
   * ROW a value per row (out[p] = or += f(p)), REDUCE a sum or max along the row (out[p] = or += reduce_r f(p, r)),
   * MAP an element of the row (out[p, r] = or += f(p, r)), SCATTER an add at a computed place in the row
   * (out[p, g(p)] += f(p): the classifier's -1 at the target), COLSUM a sum over every row of a value at the row's
   * element (out[r] = or += sum over rows of f(p, r): a norm's weight or bias gradient), complete only after the launch.
   */
  public enum Kind { ROW, REDUCE, MAP, SCATTER, COLSUM }

  /** A stage: its compute with its vars renamed to the plan's (rows vars, then r). */
  public record Stage(Kind kind, Compute compute) {}

  /** A row kernel: rows vars (one block per combination), the row var r (over r.dim()), the stages in order. */
  public record Plan(List<Var> rows, Var r, List<Stage> stages) {
    public Dim extent() { return r.dim(); }

    /** The COLSUM stages' computes, in order. */
    public List<Compute> columnSums() {
      return stages.stream().filter(s -> s.kind() == Kind.COLSUM).map(Stage::compute).toList();
    }

    /** This plan without its COLSUM stages (their computes then run as column reductions after the row kernel). */
    public Plan withoutColumnSums() {
      return new Plan(rows, r, stages.stream().filter(s -> s.kind() != Kind.COLSUM).toList());
    }
  }

  /**
   * Whether row groups take the column sums over their rows (COLSUM stages): off by default (measured slower on the H200,
   * docs/perf.md "Column sums in the row kernels"); KILN_ROW_COLSUM=1 turns them on, =norms keeps them to groups with a
   * reduction along the row (no element map becomes a row kernel for a sum).
   */
  public static boolean columnSums() {
    Boolean o = columnSumsOverride;
    return o != null ? o : "1".equals(COLUMN_SUMS) || "norms".equals(COLUMN_SUMS);
  }

  private static final String COLUMN_SUMS = System.getenv("KILN_ROW_COLSUM") == null ? "" : System.getenv("KILN_ROW_COLSUM").strip();

  /** Whether an element map with a column sum and no reduction along the row is a row group (not under KILN_ROW_COLSUM=norms). */
  private static boolean mapSums() { return columnSums() && !"norms".equals(COLUMN_SUMS); }

  /** Tests: force column sums in row groups on or off (null: the environment decides). */
  public static volatile Boolean columnSumsOverride;

  /**
   * The computes in launch groups: row groups (plan(group) != null) where the pass finds them, the rest
   * grouped by Fuse. A compute with a persistent output (a parameter gradient: a bias or norm weight)
   * that sits between two stages of a row group and shares no tensor with the stages before it runs
   * just before the group (layernorm's weight gradients lie between its backward's row sums).
   */
  public static List<List<Compute>> groups(List<Compute> computes) { return launches(computes).groups(); }

  /** Whether a group may start at an element map (Builder.startMap); KILN_ROW_MAPS=0 turns it off, to measure it. */
  static final boolean MAPS_FIRST = !"0".equals(System.getenv("KILN_ROW_MAPS"));

  /** Launch groups in order, and for each compute of the input (by position) the number of the group that runs it. */
  public record Launches(List<List<Compute>> groups, int[] step) {}

  public static Launches launches(List<Compute> computes) {
    List<List<Compute>> out = new ArrayList<>();
    int[] step = new int[computes.size()];
    List<Integer> pending = new ArrayList<>();
    int i = 0;
    while (i < computes.size()) {
      Grown g = grow(computes, i, Builder.start(computes.get(i)));
      if (g == null && MAPS_FIRST) g = grow(computes, i, Builder.startMap(computes.get(i)));
      if (g == null) {
        pending.add(i++);
        continue;
      }
      fuse(computes, pending, out, step);
      final int end = g.last;
      fuse(computes, g.hoisted.stream().filter(k -> k < end).toList(), out, step);
      for (int k = i; k <= g.last; k++) if (!g.hoisted.contains(k)) step[k] = out.size();
      out.add(g.builder.renamed());
      i = g.last + 1;
    }
    fuse(computes, pending, out, step);
    return new Launches(out, step);
  }

  /** Whether a training step may run the forward and the backward as one joined section (joined); KILN_ROW_JOIN=0 turns it off. */
  public static final boolean JOIN = !"0".equals(System.getenv("KILN_ROW_JOIN"));

  /**
   * The computes of `first` then `second` (a forward and the backward run right after it, a training step) in an order
   * where the last row group of first and the first row group of second are one row group, or null where they cannot
   * be (or JOIN is off). The classifier: its forward (max, Σ exp, loss per row) ends the forward, and its backward (the
   * per-row factor, dlogits, −1 at the target) begins the backward; joined, the logits are read once for both. The
   * order is first's computes before its last row group G1, then second's computes before its first row group G2
   * (the loss-gradient seeds, which read nothing of the forward), G1, G2, then first's computes after G1 (the mean
   * loss, which reads G1's losses), then the rest of second. The moves are legal when the seeds read nothing that G1 or
   * the mean loss writes and write nothing they touch, and the mean loss neither reads what G2 writes nor writes what
   * G2 touches; the result is kept only where launches() then finds G1 and G2 in one group. Storage: the arena plans
   * over both orders (the sections apart, for a forward alone, and this one).
   */
  public static List<Compute> joined(List<Compute> first, List<Compute> second) {
    if (!JOIN || first.isEmpty() || second.isEmpty()) return null;
    Launches a = launches(first), b = launches(second);
    int g1 = -1, g2 = -1;
    for (int k = a.groups().size() - 1; k >= 0 && g1 < 0; k--) if (plan(a.groups().get(k)) != null) g1 = k;
    for (int k = 0; k < b.groups().size() && g2 < 0; k++) if (plan(b.groups().get(k)) != null) g2 = k;
    if (g1 < 0 || g2 < 0) return null;
    List<Compute> before = new ArrayList<>(), rowsA = new ArrayList<>(), tail = new ArrayList<>();
    for (int k = 0; k < first.size(); k++) (a.step()[k] < g1 ? before : a.step()[k] == g1 ? rowsA : tail).add(first.get(k));
    List<Compute> seeds = new ArrayList<>(), rowsB = new ArrayList<>(), rest = new ArrayList<>();
    for (int k = 0; k < second.size(); k++) (b.step()[k] < g2 ? seeds : b.step()[k] == g2 ? rowsB : rest).add(second.get(k));
    List<Compute> movedPast = new ArrayList<>(rowsA);
    movedPast.addAll(tail);
    if (!independent(seeds, movedPast) || !independent(tail, rowsB)) return null;
    List<Compute> order = new ArrayList<>(before);
    order.addAll(seeds);
    order.addAll(rowsA);
    order.addAll(rowsB);
    order.addAll(tail);
    order.addAll(rest);
    // kept only where the joined rows are one launch, as the lowering groups them (the matmul epilogues first)
    Launches joined = launches(order);
    int at = order.indexOf(rowsA.getFirst());
    for (Compute c : rowsB) if (joined.step()[order.indexOf(c)] != joined.step()[at]) return null;
    List<List<Compute>> lowered = Epilogue.groups(order);
    Tensor firstOut = rowsA.getFirst().out(), lastOut = rowsB.getLast().out();
    boolean together = lowered.stream().anyMatch(g -> g.stream().anyMatch(c -> c.out().equals(firstOut)) && g.stream().anyMatch(c -> c.out().equals(lastOut)));
    return together ? order : null;
  }

  /** Whether the computes of x and of y may run in either order: neither reads what the other writes, nor do both write one tensor. */
  private static boolean independent(List<Compute> x, List<Compute> y) {
    java.util.Set<Tensor> wx = new java.util.HashSet<>(), wy = new java.util.HashSet<>(), rx = new java.util.HashSet<>(), ry = new java.util.HashSet<>();
    for (Compute c : x) { wx.add(c.out().root()); for (Expr.Load l : loadsOf(c)) rx.add(l.tensor().root()); }
    for (Compute c : y) { wy.add(c.out().root()); for (Expr.Load l : loadsOf(c)) ry.add(l.tensor().root()); }
    for (Tensor t : wx) if (wy.contains(t) || ry.contains(t)) return false;
    for (Tensor t : wy) if (rx.contains(t)) return false;
    return true;
  }

  /** A row group grown from computes[i]: its builder, the last compute it takes, the computes hoisted before it. */
  private record Grown(Builder builder, int last, List<Integer> hoisted) {}

  /** The group b grows into from computes[i] on (b holds computes[i]), or null where there is no b or it does not qualify. */
  private static Grown grow(List<Compute> computes, int i, Builder b) {
    if (b == null) return null;
    List<Integer> hoisted = new ArrayList<>();
    int last = i;
    for (int j = i + 1; j < computes.size(); j++) {
      Compute d = computes.get(j);
      if (b.add(d)) {
        last = j;
      } else if (hoistable(d, b.originals)) {
        hoisted.add(j);
      } else {
        break;
      }
    }
    return b.qualifies() ? new Grown(b, last, hoisted) : null;
  }

  /** Fuse's groups of the computes at `at` (in order), appended to out with their launch numbers; clears at when it can. */
  private static void fuse(List<Compute> computes, List<Integer> at, List<List<Compute>> out, int[] step) {
    int k = 0;
    for (List<Compute> g : Fuse.groups(at.stream().map(computes::get).toList())) {
      for (int n = 0; n < g.size(); n++) step[at.get(k++)] = out.size();
      out.add(g);
    }
    if (at instanceof ArrayList<Integer> list) list.clear();
  }

  /** The row plan of a launch group, or null where it is not a row group. */
  public static Plan plan(List<Compute> group) {
    if (group.isEmpty()) return null;
    Plan p = plan(group, Builder.start(group.getFirst()));
    return p != null || !MAPS_FIRST ? p : plan(group, Builder.startMap(group.getFirst()));
  }

  private static Plan plan(List<Compute> group, Builder b) {
    if (b == null) return null;
    for (int k = 1; k < group.size(); k++) if (!b.add(group.get(k))) return null;
    return b.qualifies() ? b.plan() : null;
  }

  /** A compute that may run before a row group's stages: persistent output, no tensor shared with them, one statement. */
  private static boolean hoistable(Compute d, List<Compute> stages) {
    if (d.body() instanceof Expr.Extern || !persistent(d.out())) return false;
    for (Compute s : stages) {
      Tensor so = s.out().root();
      if (d.out().root().equals(so)) return false;
      for (Expr.Load l : loadsOf(s)) if (l.tensor().root().equals(d.out().root())) return false;
      for (Expr.Load l : loadsOf(d)) if (l.tensor().root().equals(so)) return false;
    }
    return true;
  }

  /** A tensor whose root outlives a step (a parameter gradient's buffer): not an activation, its gradient or an input. */
  private static boolean persistent(Tensor t) {
    Role role = t.root().role();
    return role != Role.ACT && role != Role.ACT_GRAD && role != Role.INPUT;
  }

  /** Every load of a compute: its body's and its store index's (a scatter's). */
  private static List<Expr.Load> loadsOf(Compute c) {
    List<Expr.Load> all = new ArrayList<>(Exprs.loads(c.body()));
    for (Expr e : c.outIndex()) all.addAll(Exprs.loads(e));
    return all;
  }

  /** Grows one row group stage by stage, checking that every stage reads the group's outputs only in its own row. */
  private static final class Builder {
    final List<Var> rows;
    final List<Dim> rowDims;
    Var r;
    final List<Stage> stages = new ArrayList<>();
    final List<Compute> originals = new ArrayList<>();

    private Builder(List<Var> rows) {
      this.rows = rows;
      this.rowDims = rows.stream().map(Var::dim).toList();
    }

    /** A group that starts at a per-row value or a reduction along the row. */
    static Builder start(Compute c) {
      if (!plain(c) || c.loopVars().isEmpty() || !c.outIndex().equals(c.loopVars()) || c.out().rank() != c.loopVars().size()) return null;
      List<Expr.Reduce> red = c.rootReductions();
      if (red.size() > 1) return null;
      Builder b = new Builder(c.loopVars());
      return b.add(c) ? b : null;
    }

    /**
     * An element map along the row followed by the per-row values its row feeds (startMap): the bias and residual adds
     * before a norm, the residual gradient's first term before the norm backward's sums. A map has no reduction of its own.
     */
    static Builder startMap(Compute c) {
      if (!plain(c) || c.loopVars().size() < 2 || !c.outIndex().equals(c.loopVars()) || c.out().rank() != c.loopVars().size()
          || !c.rootReductions().isEmpty()) {
        return null;
      }
      Builder b = new Builder(c.loopVars().subList(0, c.loopVars().size() - 1));
      return b.add(c) ? b : null;
    }

    /**
     * Two stages or more, or one reduction along the row (attention's dyy: a warp a row instead of a block of 64); a group
     * that starts with an element map holds a reduction along the row or a column sum (element maps alone are Fuse's; the
     * GELU gradient's map and the fc bias gradient, the sum of what it writes, are one row kernel).
     */
    boolean qualifies() {
      if (r == null || stages.size() < 2 && stages.getFirst().kind() != Kind.REDUCE) return false;
      return stages.getFirst().kind() != Kind.MAP || stages.stream().anyMatch(s -> s.kind() == Kind.REDUCE || mapSums() && s.kind() == Kind.COLSUM);
    }

    Plan plan() { return new Plan(rows, r, List.copyOf(stages)); }

    List<Compute> renamed() { return stages.stream().map(Stage::compute).toList(); }

    boolean add(Compute c) {
      if (!plain(c)) return false;
      if (columnSum(c)) return true;
      // no stage writes what an earlier column sum reads (where the sums run after the row kernel, they read the rows as
      // the kernel left them) or its output
      for (Stage s : stages) {
        if (s.kind() != Kind.COLSUM) continue;
        if (s.compute().out().root().equals(c.out().root())) return false;
        for (Expr.Load l : loadsOf(s.compute())) if (l.tensor().root().equals(c.out().root())) return false;
      }
      int n = rows.size();
      List<Expr.Reduce> red = c.rootReductions();
      Kind kind;
      Dim extent;
      if (MatmulMatch.of(c).isPresent()) {
        return false;
      } else if (red.size() == 1 && c.loopVars().size() == n && c.isFullCover()) {
        kind = Kind.REDUCE;
        extent = red.getFirst().var().dim();
        if (!alongRow(c.inner(), red.getFirst().var())) return false;
      } else if (!red.isEmpty()) {
        return false;
      } else if (c.loopVars().size() == n && c.isFullCover()) {
        kind = Kind.ROW;
        extent = null;
      } else if (c.loopVars().size() == n + 1 && c.isFullCover()) {
        kind = Kind.MAP;
        extent = c.loopVars().getLast().dim();
      } else if (c.accumulate() && c.loopVars().size() == n && c.out().rank() == n + 1 && c.outIndex().subList(0, n).equals(c.loopVars())) {
        kind = Kind.SCATTER;
        extent = c.out().dims().getLast();
      } else {
        return false;
      }
      if (!c.loopVars().subList(0, n).stream().map(Var::dim).toList().equals(rowDims)) return false;
      if ((kind == Kind.MAP || kind == Kind.SCATTER) && !(c.out().dims().subList(0, n).equals(rowDims) && c.out().dims().getLast().equals(extent))) return false;
      if (extent != null && r != null && !extent.equals(r.dim())) return false;
      Var row = r != null ? r : extent == null ? null : new Var("row_" + extent.name().toLowerCase(), extent);
      Compute renamed = rename(c, kind, row);
      if (!reads(renamed, row)) return false;
      r = row;
      stages.add(new Stage(kind, renamed));
      originals.add(c);
      return true;
    }

    /**
     * Takes c as a COLSUM stage where it is one: a sum over every row (its reduced vars over the rows' dims, in order) of a
     * value at the row's element, into an fp32 output over the row's extent (its one loop var) that no stage touches,
     * columnar (CudaRenderer.columnar: neighbouring outputs read neighbouring elements of a row), reading the group's
     * outputs only in its own row; renamed to the plan's vars (the loop var to r, the reduced vars to the rows').
     */
    private boolean columnSum(Compute c) {
      List<Expr.Reduce> red = c.rootReductions();
      if (!columnSums() || r == null || c.loopVars().size() != 1 || !c.isFullCover() || !c.loopVars().getFirst().dim().equals(r.dim())) return false;
      if (red.size() != rows.size() || red.stream().anyMatch(x -> x.op() != Expr.RedOp.SUM)) return false;
      for (int k = 0; k < red.size(); k++) if (!red.get(k).var().dim().equals(rowDims.get(k))) return false;
      if (!CudaRenderer.columnar(c)) return false;
      // its output: no stage's but another column sum's, of another view of a persistent buffer (the flat gradient buffer's
      // parameter slices, disjoint by its layout); read by none
      Tensor out = c.out();
      for (Stage s : stages) {
        Tensor so = s.compute().out();
        if (so.root().equals(out.root()) && (s.kind() != Kind.COLSUM || so.equals(out) || !persistent(out))) return false;
        for (Expr.Load l : loadsOf(s.compute())) if (l.tensor().root().equals(out.root())) return false;
      }
      Map<Var, Var> to = new HashMap<>();
      to.put(c.loopVars().getFirst(), r);
      for (int k = 0; k < red.size(); k++) to.put(red.get(k).var(), rows.get(k));
      Expr body = Exprs.replace(c.inner(), to);
      for (int k = red.size() - 1; k >= 0; k--) body = new Expr.Reduce(Expr.RedOp.SUM, rows.get(k), body);
      Compute renamed = new Compute(c.name(), c.layer(), c.out(), List.of(r), List.of(r), body, c.accumulate());
      // the value reads the group's outputs only in its own row, each as the stage wrote it (a view: that view)
      List<Expr> perRow = rows.stream().map(v -> (Expr) v).toList();
      List<Expr> element = new ArrayList<>(perRow);
      element.add(r);
      for (Expr.Load l : Exprs.loads(renamed.inner())) {
        for (Stage s : stages) {
          Tensor w = s.compute().out();
          if (!l.tensor().root().equals(w.root())) continue;
          if (s.kind() == Kind.COLSUM || !l.tensor().equals(w) || !(l.index().equals(perRow) || l.index().equals(element))) return false;
        }
      }
      stages.add(new Stage(Kind.COLSUM, renamed));
      originals.add(c);
      return true;
    }

    /** Every read and write of a tensor the group writes is of this row: at the rows vars (per-row) or at (rows, r). */
    private boolean reads(Compute c, Var row) {
      List<Expr> perRow = rows.stream().map(v -> (Expr) v).toList();
      List<Expr> element = new ArrayList<>(perRow);
      if (row != null) element.add(row);
      List<Compute> all = new ArrayList<>(renamed());
      for (Compute s : all) {
        if (s.out().root().equals(c.out().root()) && !s.out().equals(c.out())) return false;
      }
      all.add(c);
      for (Compute w : all) {
        for (Compute s : all) {
          for (Expr.Load l : loadsOf(s)) {
            if (!l.tensor().root().equals(w.out().root())) continue;
            if (!l.tensor().equals(w.out())) return false;
            if (!(l.index().equals(perRow) || row != null && l.index().equals(element))) return false;
          }
        }
      }
      return true;
    }

    /** c with its loop vars renamed to rows (then r for a MAP) and a reduction's var to r, all at once. */
    private Compute rename(Compute c, Kind kind, Var row) {
      List<Var> loop = new ArrayList<>(rows);
      if (kind == Kind.MAP) loop.add(row);
      Map<Var, Var> to = new HashMap<>();
      for (int k = 0; k < loop.size(); k++) to.put(c.loopVars().get(k), loop.get(k));
      Expr body = c.body();
      Expr.Reduce red = kind == Kind.REDUCE ? c.rootReductions().getFirst() : null;
      if (red != null) {
        to.put(red.var(), row);
        body = red.body();
      }
      body = Exprs.replace(body, to);
      if (red != null) body = new Expr.Reduce(red.op(), row, body);
      List<Expr> outIndex = c.outIndex().stream().map(e -> Exprs.replace(e, to)).toList();
      return new Compute(c.name(), c.layer(), c.out(), loop, outIndex, body, c.accumulate());
    }
  }

  /** Whether some load reads a row along v: v as its last index, over a last dim of v's extent (a column sum reads none). */
  private static boolean alongRow(Expr e, Var v) {
    for (Expr.Load l : Exprs.loads(e)) {
      if (!l.index().isEmpty() && l.index().getLast().equals(v) && l.tensor().dims().getLast().equals(v.dim())) return true;
    }
    return false;
  }

  /** An F32 statement with no extern and no reduction below its root ones. */
  private static boolean plain(Compute c) {
    if (c.body() instanceof Expr.Extern || c.out().dtype() != DType.F32 || c.body().type() != DType.F32) return false;
    boolean[] nested = {false};
    Exprs.visit(c.inner(), x -> { if (x instanceof Expr.Reduce) nested[0] = true; });
    return !nested[0];
  }
}
