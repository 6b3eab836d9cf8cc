// The one tree walk shared by every backend: renders an Expr through a Dialect table, naming
// vars, dims and tensors canonically (so kernels that differ only in which tensors they touch
// get identical source), and binding repeated subexpressions to locals (CSE).
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

public final class ExprRenderer {
  private final Dialect d;
  private final Map<Var, String> vars = new HashMap<>();
  private final Map<String, Integer> varNameUse = new HashMap<>();
  private final LinkedHashMap<Dim, String> dims = new LinkedHashMap<>();
  private final LinkedHashMap<Tensor, Integer> tensors = new LinkedHashMap<>();
  private int locals;
  private boolean readOnly;

  public ExprRenderer(Dialect dialect) { this.d = dialect; }

  public List<Dim> dims() { return new ArrayList<>(dims.keySet()); }
  public List<Tensor> tensors() { return new ArrayList<>(tensors.keySet()); }

  /** Names the kernels' own locals use (matmul sizes, strides, the arenas): a dim so named gets a suffix. */
  private static final java.util.Set<String> RESERVED = java.util.Set.of("M", "N", "K", "L", "S", "NB", "MB", "KB", "BM", "BN", "BK",
      "TM", "TN", "F", "I", "P", "ACCUMULATE", "INFINITY", "NAN");

  public String dim(Dim dim) {
    return dims.computeIfAbsent(dim, k -> {
      String name = k.name().replaceAll("[^A-Za-z0-9_]", "_");
      if (Character.isDigit(name.charAt(0))) name = "D" + name;
      return RESERVED.contains(name) ? name + "_dim" : name;
    });
  }

  /** Canonical local name of a var: its dim in lower case, numbered when repeated (t, t2). */
  public String var(Var v) {
    return vars.computeIfAbsent(v, k -> {
      String base = dim(k.dim()).toLowerCase();
      int n = varNameUse.merge(base, 1, Integer::sum);
      return n == 1 ? base + "_" : base + n + "_";
    });
  }

  /** From now on spells loads as the dialect's readOnlyLoad (true) or load (false, the default; store targets need it). */
  public void readOnlyLoads(boolean on) { readOnly = on; }

  /** Names v as given (a local of the template, such as a matmul epilogue's flat row m), not after its dim. */
  public void bind(Var v, String name) { vars.put(v, name); }

  public String offset(Tensor t) { return "o" + tensors.computeIfAbsent(t, k -> tensors.size()); }

  public String arena(Tensor t) { return t.dtype() == DType.I32 ? "I" : d.arena(t.storage()); }

  /** Whether any tensor this kernel touches is stored as bf16 (the CUDA prologue then declares H and the conversions). */
  public boolean usesBf16() { return tensors.keySet().stream().anyMatch(t -> t.storage() == DType.BF16); }

  /** l as a store target: the element itself, not widened. */
  public String lvalue(Expr.Load l) { return element(l, new HashMap<>(), Map.of(), null, true); }

  /** l as a store target, its index rendered as renderWithLocals renders it (repeats bound to locals, `bound` spelled as given). */
  public String lvalue(Expr.Load l, List<String> prelude, Map<Expr, String> bound) {
    return element(l, new HashMap<>(bound), counts(l), prelude, true);
  }

  public String stride(Tensor t, int position) {
    List<Dim> after = t.dims().subList(position + 1, t.rank());
    return after.isEmpty() ? "1" : "(" + Kernels.product(after, this::dim, "") + ")";
  }

  public String type(DType t) { return d.type(t); }

  public Dialect dialect() { return d; }

  /**
   * Renders e; non-trivial subexpressions that occur more than once become locals, whose
   * declarations are appended to `prelude` in dependency order.
   */
  public String renderWithLocals(Expr e, List<String> prelude) { return renderWithLocals(e, prelude, Map.of()); }

  /**
   * As above, where each subexpression in `bound` is spelled as the local it maps to and is not bound again
   * (a matmul epilogue's accumulator; a row kernel's per-row values, lanes of a vector load).
   */
  public String renderWithLocals(Expr e, List<String> prelude, Map<Expr, String> bound) {
    return render(e, new HashMap<>(bound), counts(e), prelude);
  }

  /** How often each non-trivial subexpression of e occurs (a var, constant or size is never bound to a local). */
  private static Map<Expr, Integer> counts(Expr e) {
    Map<Expr, Integer> counts = new HashMap<>();
    Exprs.visit(e, x -> { if (!(x instanceof Var || x instanceof Expr.Const || x instanceof Expr.SizeOf)) counts.merge(x, 1, Integer::sum); });
    return counts;
  }

  String render(Expr e, Map<Expr, String> cse) { return render(e, cse, Map.of(), null); }

  /** The element a load reads, in its arena: arena[offset + linear index]; a store target (target) is never a read-only load. */
  private String element(Expr.Load l, Map<Expr, String> cse, Map<Expr, Integer> counts, List<String> prelude, boolean target) {
    String lin = null;
    for (int i = 0; i < l.index().size(); i++) {
      String x = render(l.index().get(i), cse, counts, prelude);
      lin = (lin == null || lin.equals("0")) ? x : "(" + lin + ") * " + dim(l.tensor().dims().get(i)) + " + " + x;
    }
    String arena = arena(l.tensor()), offset = offset(l.tensor()), index = lin == null ? "0" : lin;
    return readOnly && !target ? d.readOnlyLoad(arena, offset, index) : d.load(arena, offset, index);
  }

  private String render(Expr e, Map<Expr, String> cse, Map<Expr, Integer> counts, List<String> prelude) {
    String bound = cse.get(e);
    if (bound != null) return bound;
    java.util.function.Function<Expr, String> sub = x -> render(x, cse, counts, prelude);
    String text = switch (e) {
      case Var v -> var(v);
      case Expr.Const c -> c.type() == DType.I32 ? d.i32((int) c.value()) : d.f32((float) c.value());
      case Expr.SizeOf s -> dim(s.dim());
      case Expr.Extern x -> throw new IllegalArgumentException("extern " + x.op() + " has no element expression; it is rendered as its own kernel");
      case Expr.Load l -> d.widen(element(l, cse, counts, prelude, false), l.tensor().storage());
      case Expr.RoundBf16 b -> d.roundBf16(sub.apply(b.x()), sub.apply(b.index()), sub.apply(b.seed()));
      case Expr.Unary u -> d.unary(u.op(), sub.apply(u.x()));
      case Expr.Binary b -> d.binary(b.op(), sub.apply(b.a()), sub.apply(b.b()), b.type() == DType.I32);
      case Expr.Compare c -> d.compare(c.op(), sub.apply(c.a()), sub.apply(c.b()));
      case Expr.Select s -> d.select(sub.apply(s.cond()), sub.apply(s.then()), sub.apply(s.otherwise()));
      case Expr.Cast c -> c.to() == DType.F32 ? d.toF32(sub.apply(c.x())) : "(int) " + sub.apply(c.x());
      case Expr.Reduce r -> throw new IllegalStateException("reduction inside an expression reached the renderer: " + r);
    };
    if (prelude != null && counts.getOrDefault(e, 0) > 1) {
      String name = "x" + (locals++);
      prelude.add(d.constant() + " " + d.type(e.type()) + " " + name + " = " + text + ";");
      cse.put(e, name);
      return name;
    }
    return text;
  }
}
