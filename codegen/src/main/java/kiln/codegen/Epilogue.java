// Pass "epilogue": a matmul takes the element-wise computes that read its output at the output's own
// index (bias add, GELU, residual add; dGELU in the backward) as its epilogue, one launch instead of a
// matmul and a map. Decided from the graph alone, for every model: no op or layer is named here.
package kiln.codegen;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

public final class Epilogue {
  private Epilogue() {}

  /** How far past a matmul (in computes) its consumers are looked for. */
  static final int WINDOW = 8;

  /**
   * The launches of a section in the order they run: RowFusion's (or Fuse's) groups, except that a matmul which assigns
   * every element of its output C (no accumulate) heads a group with its epilogue: the element-wise
   * computes over C's dims that read C, or a tensor the epilogue already reads or writes, only at the
   * output's own index (any other load is free: a broadcast bias, a per-row statistic), none writing the
   * storage of an operand of the matmul (reading one is safe: the arena keeps it live through the group), each moved up past the computes between them and the matmul where it neither
   * reads what those write nor writes what those read or write. They run in their original order, renamed
   * to the matmul's loop vars. The arena (runtime) plans lifetimes over these same groups.
   */
  public static List<List<Compute>> groups(List<Compute> computes) {
    if (mode() == Mode.NONE) return base(computes);
    List<Compute> rest = new ArrayList<>(computes);
    List<List<Compute>> out = new ArrayList<>();
    List<Compute> pending = new ArrayList<>();
    for (int i = 0; i < rest.size(); i++) {
      Compute c = rest.get(i);
      List<Compute> epilogue = head(c) ? absorb(rest, i) : List.of();
      if (epilogue.isEmpty()) {
        pending.add(c);
        continue;
      }
      out.addAll(base(pending));
      pending.clear();
      List<Compute> group = new ArrayList<>();
      group.add(c);
      group.addAll(epilogue);
      out.add(group);
    }
    out.addAll(base(pending));
    return out;
  }

  /** The groups of computes no matmul takes: row kernels where CudaLowering.rows() (RowFusion), else Fuse's. */
  private static List<List<Compute>> base(List<Compute> computes) {
    return CudaLowering.rows() ? RowFusion.groups(computes) : Fuse.groups(computes);
  }

  /**
   * Which epilogues matmuls take. By default (KILN_EPILOGUE unset) every epilogue of a matmul whose output is not stored
   * bf16, and of one that is only an epilogue whose every compute is light (light(): bias and residual adds): on the bf16
   * wgmma kernel the main loop is fast enough that a GELU or its derivative run after it, tensor cores idle, costs more than
   * the same computes as a row or map kernel at memory speed (docs/perf.md, "Epilogues off for bf16 matmuls", "Light
   * epilogues on bf16").
   * KILN_EPILOGUE=1 fuses every matmul's, KILN_EPILOGUE=0 none (for comparison); tests may override.
   */
  public enum Mode { NONE, AUTO, ALL }

  public static Mode mode() {
    Mode o = override;
    if (o != null) return o;
    String e = System.getenv("KILN_EPILOGUE");
    return e == null || e.isEmpty() ? Mode.AUTO : "0".equals(e) ? Mode.NONE : Mode.ALL;
  }

  /** Tests: force a mode (null: the environment decides). */
  public static volatile Mode override;

  /** Whether a group from groups() is a matmul with an epilogue (its first compute the matmul, the rest element-wise). */
  public static boolean fused(List<Compute> group) {
    return group.size() > 1 && head(group.getFirst());
  }

  /**
   * A compute cheap enough for a bf16 matmul's epilogue under AUTO: adds, multiplies, selects, no transcendental or
   * division (a bias or residual add), so the epilogue stays short beside the main loop.
   */
  static boolean light(Compute c) {
    boolean[] heavy = {false};
    Exprs.visit(c.body(), e -> {
      if (e instanceof Expr.Unary u && u.op() != Expr.UnOp.NEG && u.op() != Expr.UnOp.ABS && u.op() != Expr.UnOp.BF16) heavy[0] = true;
      if (e instanceof Expr.Binary b && (b.op() == Expr.BinOp.DIV || b.op() == Expr.BinOp.POW || b.op() == Expr.BinOp.MOD)) heavy[0] = true;
      if (e instanceof Expr.Reduce || e instanceof Expr.Extern) heavy[0] = true;
    });
    return !heavy[0];
  }

  /**
   * Whether bf16 matmuls take residual epilogues under AUTO: not by default (the add leads the next norm's resident row kernel,
   * measured 0.4-0.9 ms a step faster at B=32 on the H200, perf.md session 11); KILN_EPI_RESIDUAL=1 fuses them again.
   */
  static final boolean RESIDUAL = "1".equals(System.getenv("KILN_EPI_RESIDUAL"));

  /** Whether an epilogue reads, at C's index, a tensor that is neither C nor one of its own outputs. */
  private static boolean readsResidual(List<Compute> epilogue, Tensor c, List<Var> at) {
    Set<Tensor> own = new HashSet<>(List.of(c.root()));
    for (Compute e : epilogue) own.add(e.out().root());
    for (Compute e : epilogue) {
      for (Expr.Load l : Exprs.loads(e.body())) if (l.index().equals(at) && !own.contains(l.tensor().root())) return true;
    }
    return false;
  }

  /** A matmul that can take an epilogue: it assigns every element of its output (a root or view, at the identity index). */
  private static boolean head(Compute c) {
    return !c.accumulate() && c.isFullCover() && MatmulMatch.of(c).isPresent();
  }

  /** Finds, removes from rest and returns (renamed, in order) the epilogue of the matmul at rest[i]. */
  private static List<Compute> absorb(List<Compute> rest, int i) {
    Compute mm = rest.get(i);
    MatmulMatch match = MatmulMatch.of(mm).orElseThrow();
    List<Var> at = mm.loopVars();
    List<Dim> dims = at.stream().map(Var::dim).toList();
    Set<Tensor> operands = new HashSet<>(List.of(match.a().tensor().root(), match.b().tensor().root()));
    Set<Tensor> shared = new HashSet<>(List.of(mm.out()));   // read or written at the identity index by the group
    Map<Integer, Compute> taken = new java.util.TreeMap<>();
    boolean changed = true;
    while (changed) {
      changed = false;
      for (int j = i + 1; j < Math.min(rest.size(), i + 1 + WINDOW); j++) {
        if (taken.containsKey(j)) continue;
        Compute x = rest.get(j);
        if (!Fuse.elementwise(x) || !x.loopVars().stream().map(Var::dim).toList().equals(dims)) continue;
        Compute renamed = Fuse.rename(x, at);
        if (!joins(renamed, mm, taken.values(), shared, operands)) continue;
        if (!movable(x, rest, i, j, taken.keySet())) continue;
        taken.put(j, renamed);
        shared.add(renamed.out());
        for (Expr.Load l : Exprs.loads(renamed.body())) if (l.index().equals(at)) shared.add(l.tensor());
        changed = true;
      }
    }
    List<Compute> epilogue = new ArrayList<>(taken.values());
    // AUTO, a matmul storing bf16: the epilogue only where every compute of it is light; with a GELU among them the whole
    // chain stays a map (fc + bias fused, then a GELU map, measured 0.2 ms a step slower than the bare fc and one bias + GELU map)
    if (mode() == Mode.AUTO && mm.out().storage() == kiln.dsl.DType.BF16 && !epilogue.stream().allMatch(Epilogue::light)) return List.of();
    // AUTO without residual epilogues (the default; KILN_EPI_RESIDUAL=1 keeps them): a bf16 matmul whose epilogue reads another tensor of C's shape
    // (a residual) keeps none; the add then leads the next norm's row kernel
    if (mode() == Mode.AUTO && !RESIDUAL && mm.out().storage() == kiln.dsl.DType.BF16 && readsResidual(epilogue, mm.out(), at)) return List.of();
    List<Integer> positions = new ArrayList<>(taken.keySet());
    for (int k = positions.size() - 1; k >= 0; k--) rest.remove((int) positions.get(k));
    return epilogue;
  }

  /** x (renamed to the matmul's vars) may run in the epilogue after the computes already taken. */
  private static boolean joins(Compute x, Compute mm, Collection<Compute> taken, Set<Tensor> shared, Set<Tensor> operands) {
    List<Var> at = mm.loopVars();
    Tensor out = x.out().root();
    if (operands.contains(out) || out.equals(mm.out().root())) return false;
    boolean linked = false;
    for (Expr.Load l : Exprs.loads(x.body())) {
      Tensor root = l.tensor().root();
      boolean identity = l.index().equals(at);
      if (root.equals(mm.out().root()) && !(identity && l.tensor().equals(mm.out()))) return false;
      if (identity && shared.contains(l.tensor())) linked = true;
    }
    if (!linked) return false;
    for (Compute g : taken) {
      // as in Fuse: each reads what the other writes only element by element
      if (!Fuse.readsOnlyAt(x.body(), g.out(), at) || !Fuse.readsOnlyAt(g.body(), x.out(), at)) return false;
      if (g.out().root().equals(out)) return false;
    }
    return true;
  }

  /** The compute at rest[j] may move up to just after rest[i]: no compute between (not taken) conflicts with it. */
  private static boolean movable(Compute x, List<Compute> rest, int i, int j, Set<Integer> taken) {
    Set<Tensor> reads = reads(x);
    Tensor out = x.out().root();
    for (int k = i + 1; k < j; k++) {
      if (taken.contains(k)) continue;
      Compute y = rest.get(k);
      Tensor yOut = y.out().root();
      if (reads.contains(yOut) || yOut.equals(out) || reads(y).contains(out)) return false;
    }
    return true;
  }

  /** Roots a compute reads (in its body and its output index; an accumulating compute reads its output). */
  static Set<Tensor> reads(Compute c) {
    Set<Tensor> r = new HashSet<>();
    for (Expr.Load l : Exprs.loads(c.body())) r.add(l.tensor().root());
    for (Expr e : c.outIndex()) for (Expr.Load l : Exprs.loads(e)) r.add(l.tensor().root());
    if (c.accumulate()) r.add(c.out().root());
    return r;
  }

  /**
   * Tensors a fused group need not store: activations (or their gradients) that are whole roots, read by
   * a compute of the group, and read by no compute of the program outside it (the matmul's bare product
   * under a bias add, a bias-added value only a residual reads). null program: every output is stored.
   */
  public static Set<Tensor> unstored(List<Compute> group, Readers program) {
    Set<Tensor> none = new HashSet<>();
    if (program == null) return none;
    Set<Compute> inside = new HashSet<>(group);
    Set<Tensor> readInside = new HashSet<>();
    for (Compute c : group) readInside.addAll(reads(c));
    for (Compute c : group) {
      Tensor t = c.out();
      if (t.isView() || !(t.role() == Role.ACT || t.role() == Role.ACT_GRAD) || !readInside.contains(t)) continue;
      if (program.of(t).stream().allMatch(r -> inside.contains(r) || group.stream().anyMatch(g -> g.name().equals(r.name()) && g.out().equals(r.out())))) {
        none.add(t);
      }
    }
    return none;
  }

  /** Which computes of a whole program read each root tensor (Epilogue.unstored). */
  public static final class Readers {
    private final Map<Tensor, List<Compute>> readers = new HashMap<>();

    public Readers(Collection<Compute> program) {
      for (Compute c : program) for (Tensor t : reads(c)) readers.computeIfAbsent(t, k -> new ArrayList<>()).add(c);
    }

    List<Compute> of(Tensor root) { return readers.getOrDefault(root, List.of()); }
  }
}
