// Renders lowered kernels as CUDA C from the FreeMarker templates in templates/cuda (one per
// schedule kind), with bodies from the shared ExprRenderer walk over the CUDA dialect table.
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;
import kiln.dsl.Var;
import kiln.codegen.Work.Blocks;
import kiln.codegen.Work.Bf16Tiles;
import kiln.codegen.Work.Columns;
import kiln.codegen.Work.Threads;
import kiln.codegen.Work.Tiles;
import kiln.codegen.Work.Transposed;

public final class CudaRenderer {
  private CudaRenderer() {}

  /** Element-wise group, or a scatter (parallel over every loop var, atomic adds). */
  public static Rendered map(List<Compute> group, CudaSchedule s) {
    ExprRenderer r = new ExprRenderer(new CudaDialect());
    Compute first = group.getFirst();
    boolean scatter = group.size() == 1 && first.accumulate()
        && !first.outIndex().stream().allMatch(e -> e instanceof Var || e instanceof Expr.Const);
    List<Var> parallel = new ArrayList<>();
    for (Var v : first.loopVars()) {
      if (scatter || group.stream().allMatch(c -> c.outIndex().contains(v))) parallel.add(v);
    }
    List<Var> serial = new ArrayList<>(first.loopVars());
    serial.removeAll(parallel);
    for (Compute c : group) r.offset(c.out());
    for (Var v : first.loopVars()) r.var(v);
    int lanes = scatter || !serial.isEmpty() ? 1 : lanes(group, parallel);
    if (lanes > 1) return vectorMap(group, s, r, parallel, lanes);
    StringBuilder body = new StringBuilder();
    String indent = "    ";
    for (Var v : serial) {
      body.append(indent).append("for (int ").append(r.var(v)).append(" = 0; ").append(r.var(v)).append(" < ").append(r.dim(v.dim()))
          .append("; ").append(r.var(v)).append("++) {\n");
      indent += "  ";
    }
    for (Compute c : group) Statements.serial(r, c, body, indent, scatter);
    for (int i = serial.size(); i > 0; i--) body.append("    ").append("  ".repeat(i - 1)).append("}\n");
    String decode = decode(r, parallel, "p", "r", "    ");
    Map<String, Object> m = new HashMap<>();
    m.put("items", items(r, parallel));
    m.put("decode", decode);
    m.put("decode32", decodeU32(r, parallel, "p", "r", "    "));
    m.put("statements", body.toString().stripTrailing());
    m.put("block", s.mapBlock());
    m.put("lanes", 1);
    String kind = scatter ? "scatter" : "map";
    return render("map.cu.ftl", kind, r, m, comment(group), new Threads(Kernels.dims(parallel)));
  }

  /**
   * Whether fp32-only maps move float4s too (KILN_MAP_FLOAT4=0: off, one element a thread as before); maps that touch
   * a bf16 tensor always move 8-element vectors where they can. On: tf32 gpt2-d12 B=8 50.5 -> 48.1 ms/step (docs/perf.md).
   */
  static boolean float4Maps() {
    Boolean o = float4MapsOverride;
    return o != null ? o : !"0".equals(System.getenv("KILN_MAP_FLOAT4"));
  }

  /** Tests: force fp32 maps in float4s on or off (null: the environment decides). */
  public static volatile Boolean float4MapsOverride;

  /**
   * Elements a thread of this map group moves at once: 8 where it touches a bf16 tensor (16 bytes of bf16 a load or
   * store), 4 for fp32 (float4s; KILN_MAP_FLOAT4=0: 1), else 1; always 1 unless every statement is an F32 map with no
   * reduction over the same loop vars, writing its output contiguously along the last parallel var.
   */
  private static int lanes(List<Compute> group, List<Var> parallel) {
    if (parallel.isEmpty()) return 1;
    Var v = parallel.getLast();
    boolean bf16 = false;
    for (Compute c : group) {
      if (!c.rootReductions().isEmpty() || !c.loopVars().equals(group.getFirst().loopVars()) || c.out().dtype() != kiln.dsl.DType.F32) return 1;
      if (!contiguous(new Expr.Load(c.out(), c.outIndex()), v)) return 1;
      if (c.out().storage() == kiln.dsl.DType.BF16) bf16 = true;
      for (Expr.Load l : kiln.dsl.Exprs.loads(c.body())) if (l.tensor().storage() == kiln.dsl.DType.BF16) bf16 = true;
    }
    return bf16 ? 8 : float4Maps() ? 4 : 1;
  }

  /** A float load whose last index is v over a last dim of v's extent, v nowhere else: consecutive v, consecutive addresses. */
  private static boolean contiguous(Expr.Load l, Var v) {
    if (l.tensor().dtype() != kiln.dsl.DType.F32 || l.index().isEmpty() || !l.index().getLast().equals(v)) return false;
    if (!l.tensor().dims().getLast().equals(v.dim())) return false;
    for (int i = 0; i < l.index().size() - 1; i++) if (kiln.dsl.Exprs.uses(l.index().get(i), v)) return false;
    return true;
  }

  /**
   * A map group in vectors of `lanes` along the last parallel var v: a thread takes lanes consecutive v. Where v's
   * dim is a multiple of lanes and every tensor read or written contiguously along v starts 16-byte aligned, each
   * statement loads its contiguous inputs whole (kiln_load8/4), computes the lanes and stores them whole (bf16
   * rounds to nearest even, as Dialect.store); loads that do not vary with v and read no tensor the group writes
   * are hoisted once. Otherwise the thread runs the scalar statements for each of its elements in turn.
   */
  private static Rendered vectorMap(List<Compute> group, CudaSchedule s, ExprRenderer r, List<Var> parallel, int lanes) {
    Var v = parallel.getLast();
    String vn = r.var(v), q = vn.substring(0, vn.length() - 1) + "q_", extent = r.dim(v.dim());
    String groups = "((" + extent + " + " + (lanes - 1) + ") / " + lanes + ")";
    Var first = new Var(v.name() + "_lane0", v.dim());
    r.bind(first, "(" + lanes + " * " + q + ")");
    java.util.Set<Tensor> written = new java.util.HashSet<>();
    for (Compute c : group) written.add(c.out().root());
    // hoisted: loads that do not vary with v of tensors the group does not write
    Map<Expr, String> hoisted = new java.util.LinkedHashMap<>();
    StringBuilder vec = new StringBuilder();
    int names = 0;
    for (Compute c : group) {
      for (Expr.Load l : kiln.dsl.Exprs.loads(c.inner())) {
        if (hoisted.containsKey(l) || kiln.dsl.Exprs.uses(l, v) || written.contains(l.tensor().root())) continue;
        String h = "h" + names++;
        List<String> lets = new ArrayList<>();
        String load = r.renderWithLocals(l, lets);
        for (String let : lets) vec.append("      ").append(let).append('\n');
        vec.append("      const ").append(r.type(l.type())).append(' ').append(h).append(" = ").append(load).append(";\n");
        hoisted.put(l, h);
      }
    }
    List<String> aligned = new ArrayList<>();
    for (Compute c : group) {
      List<Expr.Load> rowLoads = new ArrayList<>();
      for (Expr.Load l : kiln.dsl.Exprs.loads(c.inner())) if (!hoisted.containsKey(l) && contiguous(l, v) && !rowLoads.contains(l)) rowLoads.add(l);
      vec.append("      {\n");
      List<String> vectors = new ArrayList<>();
      for (Expr.Load l : rowLoads) {
        String name = "v" + names++;
        vectors.add(name);
        vec.append("        float ").append(name).append('[').append(lanes).append("]; kiln_load").append(lanes).append('(').append(name).append(", &")
            .append(r.lvalue((Expr.Load) kiln.dsl.Exprs.replace(l, v, first))).append(");\n");
        aligned.add(alignment(r, l.tensor()));
      }
      aligned.add(alignment(r, c.out()));
      boolean usesVar = kiln.dsl.Exprs.usesOutside(c.inner(), v, rowLoads);   // v outside the vector loads: an index, a gather
      vec.append("        float w[").append(lanes).append("];\n");
      for (int j = 0; j < lanes; j++) {
        Map<Expr, String> bound = new HashMap<>(hoisted);
        for (int k = 0; k < rowLoads.size(); k++) bound.put(rowLoads.get(k), vectors.get(k) + "[" + j + "]");
        List<String> lets = new ArrayList<>();
        String value = r.renderWithLocals(c.inner(), lets, bound);
        vec.append("        {\n");
        if (usesVar) vec.append("          const int ").append(vn).append(" = ").append(lanes).append(" * ").append(q).append(" + ").append(j).append(";\n");
        for (String l : lets) vec.append("          ").append(l).append('\n');
        vec.append("          w[").append(j).append("] = ").append(value).append(";\n        }\n");
      }
      vec.append("        kiln_").append(c.accumulate() ? "add" : "store").append(lanes).append("(&")
          .append(r.lvalue(new Expr.Load(c.out(), c.outIndex().stream().map(e -> kiln.dsl.Exprs.replace(e, v, first)).toList()))).append(", w);\n");
      vec.append("      }\n");
    }
    StringBuilder scalar = new StringBuilder();
    for (Compute c : group) Statements.serial(r, c, scalar, "          ", false);
    String body = "    if (vec) {\n" + vec + "    } else {\n"
        + "      for (int j = 0; j < " + lanes + "; j++) {\n"
        + "        const int " + vn + " = " + lanes + " * " + q + " + j;\n"
        + "        if (" + vn + " < " + extent + ") {\n" + scalar + "        }\n      }\n    }";
    List<Var> outer = parallel.subList(0, parallel.size() - 1);
    String decode = "    const int " + q + " = (int) (p % " + groups + ");" + (outer.isEmpty() ? "" : "\n" + decode(r, outer, "p / " + groups, "r", "    "));
    Map<String, Object> m = new HashMap<>();
    m.put("items", (outer.isEmpty() ? "(long long) " : items(r, outer) + " * ") + groups);
    m.put("decode", decode);
    m.put("decode32", "    const int " + q + " = (int) (p % (unsigned) " + groups + ");"
        + (outer.isEmpty() ? "" : "\n" + decodeU32(r, outer, "p / (unsigned) " + groups, "r", "    ")));
    // a map that moves bf16 (8 lanes) takes the epilogues' tanh: its outputs are rounded to bf16 anyway; the kernel defines
    // kiln_tanh where its statements call it
    String statements = lanes == 8 ? fastTanh(body) : body;
    m.put("statements", statements);
    m.put("fastTanh", statements.contains("kiln_tanh("));
    m.put("block", s.mapBlock());
    m.put("lanes", lanes);
    m.put("aligned", "(" + extent + " & " + (lanes - 1) + ") == 0 && (" + String.join(" | ", aligned.stream().distinct().toList()) + ") == 0");
    return render("map.cu.ftl", "map", r, m, comment(group) + " (vectors of " + lanes + " along " + v.dim().name() + ")",
        new Threads(Kernels.dims(parallel), lanes));
  }

  /** The misalignment of a tensor's start for 16-byte vectors: its offset mod 8 (bf16 elements) or mod 4 (floats). */
  private static String alignment(ExprRenderer r, Tensor t) {
    return "(" + r.offset(t) + " & " + (t.storage() == kiln.dsl.DType.BF16 ? 7 : 3) + ")";
  }

  /** A compute with root reductions and no matmul shape: a block per output element. */
  public static Rendered reduce(Compute c, CudaSchedule s) {
    Reduction x = Reduction.of(c);
    x.model().put("reduceDecode", decode(x.r(), x.reduced(), "q", "rr", "      "));
    x.model().put("lets", x.lets("      "));
    x.model().put("type", x.r().type(c.body().type()));
    x.model().put("block", s.reduceBlock());
    return render("reduce.cu.ftl", "reduce", x.r(), x.model(), comment(List.of(c)),
        new Blocks(Kernels.dims(x.parallel()), Kernels.dims(x.reduced())));
  }

  /**
   * What reduce.cu.ftl and colreduce.cu.ftl share: the renderer with the output's loop vars and the
   * reduced vars bound, the rendered value and its let-bound locals, and the model's sizes, output
   * decode, initial value, combine and store.
   */
  private record Reduction(ExprRenderer r, List<Var> parallel, List<Var> reduced, List<String> locals, Map<String, Object> model) {
    static Reduction of(Compute c) {
      ExprRenderer r = new ExprRenderer(new CudaDialect());
      r.offset(c.out());
      List<Var> parallel = c.loopVars();
      for (Var v : parallel) r.var(v);
      List<Var> reduced = c.rootReductions().stream().map(Expr.Reduce::var).toList();
      for (Var v : reduced) r.var(v);
      boolean max = c.rootReductions().getFirst().op() == Expr.RedOp.MAX;
      List<String> locals = new ArrayList<>();
      Map<String, Object> m = new HashMap<>();
      m.put("value", r.renderWithLocals(c.inner(), locals));
      m.put("items", items(r, parallel));
      m.put("extent", items(r, reduced));
      m.put("decode", decode(r, parallel, "p", "r", "    "));
      m.put("init", r.dialect().f32(max ? Float.NEGATIVE_INFINITY : 0f));
      m.put("combine", max ? r.dialect().function(Expr.BinOp.MAX, "x", "y", false) : "x + y");
      m.put("store", Statements.store(r, c, Statements.target(r, c), "acc", false));
      return new Reduction(r, parallel, reduced, locals, m);
    }

    String lets(String indent) {
      return String.join("\n", locals.stream().map(l -> indent + l).toList());
    }
  }

  /**
   * Whether a reduction is a column reduction that the split-row schedule serves (colreduce.cu.ftl): a
   * float SUM or MAX over reduced vars Q into outputs over loop vars P, where every load that varies with
   * Q reads its innermost (contiguous) index at exactly the last var of P, uses P nowhere else, and
   * leaves Q out of that index (neighbouring outputs read neighbouring addresses of one row), or uses
   * no var of P at all (a per-row value such as a layernorm's mean); and at least one load is of the
   * first kind. GPT-2's bias and layernorm-weight gradients (sum over b, t of dout[b, t, c]...) are;
   * a reduction along the contiguous index (layernorm rows, softmax) is not and keeps reduce.cu.ftl.
   */
  public static boolean columnar(Compute c) {
    List<Expr.Reduce> reductions = c.rootReductions();
    if (c.loopVars().isEmpty() || reductions.isEmpty() || c.body().type() != kiln.dsl.DType.F32) return false;
    if (reductions.stream().anyMatch(x -> x.op() != reductions.getFirst().op())) return false;
    Var last = c.loopVars().getLast();
    List<Var> reduced = reductions.stream().map(Expr.Reduce::var).toList();
    boolean column = false;
    for (Expr.Load l : kiln.dsl.Exprs.loads(c.inner())) {
      if (l.index().stream().noneMatch(e -> reduced.stream().anyMatch(v -> kiln.dsl.Exprs.uses(e, v)))) continue;
      boolean usesP = l.index().stream().anyMatch(e -> c.loopVars().stream().anyMatch(v -> kiln.dsl.Exprs.uses(e, v)));
      if (!usesP) continue;
      List<Expr> lead = l.index().subList(0, l.index().size() - 1);
      if (!l.index().getLast().equals(last) || lead.stream().anyMatch(e -> kiln.dsl.Exprs.uses(e, last))) return false;
      column = true;
    }
    return column;
  }

  /** A column reduction (columnar): split along the rows, then the splits added in order (colreduce.cu.ftl). */
  public static Rendered columns(Compute c, CudaSchedule s) { return columns(List.of(c), s); }

  /**
   * Sibling column reductions (the first and each later one siblings) in one launch: every thread sums its rows for
   * each of them from the same row loads (a layernorm's weight and bias gradients read dy once), each output's partials
   * in its own run of the workspace, the splits then added per output in the order a lone reduction adds them: the same
   * sums, bit for bit, as one launch each.
   */
  public static Rendered columns(List<Compute> group, CudaSchedule s) {
    CudaSchedule.ColumnTile tile = s.columns();
    Compute first = group.getFirst();
    for (Compute c : group) {
      if (tile == null || !columnar(c) || c != first && !siblings(first, c)) {
        throw new IllegalArgumentException(c.name() + ": not a column reduction the split-row schedule serves" + (c == first ? "" : " beside " + first.name()));
      }
    }
    List<Compute> computes = group.stream().map(c -> rebase(c, first)).toList();
    Reduction x = Reduction.of(first);
    ExprRenderer r = x.r();
    Map<String, Object> m = x.model();
    List<Map<String, Object>> outs = new ArrayList<>();
    for (int k = 0; k < computes.size(); k++) {
      Compute c = computes.get(k);
      List<String> locals = k == 0 ? x.locals() : new ArrayList<>();
      String value = k == 0 ? (String) m.get("value") : r.renderWithLocals(c.inner(), locals);
      String store = k == 0 ? (String) m.get("store") : Statements.store(r, c, Statements.target(r, c), "acc", false);
      outs.add(Map.of("value", value, "lets", String.join("\n", locals.stream().map(l -> "            " + l).toList()), "store", store));
    }
    m.put("outs", outs);
    m.put("sumDecode", decode(r, x.parallel(), "p", "r", "    "));
    m.put("reduceDecode", decode(r, x.reduced(), "q0", "rr", "    ").replace("const int ", "int "));
    m.put("step", odometer(r, x.reduced(), "      "));
    m.put("type", "float");
    m.put("rows", tile.rows());
    m.put("unroll", tile.unroll());
    int lanes = tile.lanes() == 8 && columnLanes(computes, r, x.reduced(), m) ? 8 : 1;
    m.put("lanes", lanes);
    String what = computes.size() == 1 ? "" : ", " + computes.size() + " sibling sums";
    return render("colreduce.cu.ftl", "colreduce", r, m, comment(group) + " (column reduction, split along the rows" + what + ")",
        new Columns(Kernels.dims(x.parallel()), Kernels.dims(x.reduced()), tile.withLanes(lanes), computes.size()));
  }

  /**
   * Whether b can run in a's column-reduction launch (columns): both columnar with the same combine, outputs over the same
   * dims reduced over the same dims, neither reading or writing what the other writes, and a row load in common once b's vars
   * are a's (the tensor a single launch then reads once). GPT-2's lnw and lnb gradients (sum dy * xhat, sum dy) are siblings.
   */
  public static boolean siblings(Compute a, Compute b) {
    if (!columnar(a) || !columnar(b) || a.out().equals(b.out())) return false;
    List<Expr.Reduce> ra = a.rootReductions(), rb = b.rootReductions();
    if (ra.getFirst().op() != rb.getFirst().op() || ra.size() != rb.size() || a.loopVars().size() != b.loopVars().size()) return false;
    for (int i = 0; i < ra.size(); i++) if (!ra.get(i).var().dim().equals(rb.get(i).var().dim())) return false;
    for (int i = 0; i < a.loopVars().size(); i++) if (!a.loopVars().get(i).dim().equals(b.loopVars().get(i).dim())) return false;
    for (Expr.Load l : kiln.dsl.Exprs.loads(a.body())) if (l.tensor().root().equals(b.out().root())) return false;
    for (Expr.Load l : kiln.dsl.Exprs.loads(b.body())) if (l.tensor().root().equals(a.out().root())) return false;
    List<Expr.Load> mine = kiln.dsl.Exprs.loads(a.inner());
    Compute c = rebase(b, a);
    Var last = a.loopVars().getLast();
    return kiln.dsl.Exprs.loads(c.inner()).stream().anyMatch(l -> l.index().getLast().equals(last) && mine.contains(l));
  }

  /** c over onto's loop vars and reduced vars (position for position: their dims are the same). */
  static Compute rebase(Compute c, Compute onto) {
    if (c == onto) return c;
    Map<Expr, Expr> to = new HashMap<>();
    for (int i = 0; i < c.loopVars().size(); i++) to.put(c.loopVars().get(i), onto.loopVars().get(i));
    List<Expr.Reduce> rc = c.rootReductions(), ro = onto.rootReductions();
    for (int i = 0; i < rc.size(); i++) to.put(rc.get(i).var(), ro.get(i).var());
    Expr body = kiln.dsl.Exprs.replace(c.inner(), to);
    for (int i = ro.size() - 1; i >= 0; i--) body = new Expr.Reduce(rc.get(i).op(), ro.get(i).var(), body);
    List<Expr> index = c.outIndex().stream().map(e -> kiln.dsl.Exprs.replace(e, to)).toList();
    return new Compute(c.name(), c.layer(), c.out(), onto.loopVars(), index, body, c.accumulate());
  }

  /**
   * The vector path of a column reduction (8 neighbouring outputs a thread): the row loads (those that vary along
   * the rows and read the outputs' last var as their contiguous index) of every sibling, each once, as one 16-byte load
   * each of the 8 elements, each sibling's lane j value with the last output var + j, the runtime test that the lanes share
   * the other output vars and each row load's rows are 16-byte aligned. False (no vector path) where a row load is not of
   * floats (bf16 or fp32).
   */
  private static boolean columnLanes(List<Compute> computes, ExprRenderer r, List<Var> reduced, Map<String, Object> m) {
    Var last = computes.getFirst().loopVars().getLast();
    List<Expr.Load> row = new ArrayList<>();
    for (Compute c : computes) {
      for (Expr.Load l : kiln.dsl.Exprs.loads(c.inner())) {
        if (row.contains(l) || !l.index().getLast().equals(last) || reduced.stream().noneMatch(v -> kiln.dsl.Exprs.uses(l, v))) continue;
        if (l.tensor().dtype() != kiln.dsl.DType.F32) return false;
        row.add(l);
      }
    }
    if (row.isEmpty()) return false;
    List<String> dims = new ArrayList<>(List.of("(" + r.dim(last.dim()) + " & 7) == 0"));
    List<String> pointers = new ArrayList<>(), loads = new ArrayList<>(), names = new ArrayList<>();
    for (Expr.Load l : row) {
      String d = "(" + r.dim(l.tensor().dims().getLast()) + " & 7) == 0";
      if (!dims.contains(d)) dims.add(d);
      String address = "&" + r.lvalue(l), name = "cv" + names.size();
      pointers.add("(unsigned long long) " + address);
      names.add(name);
      loads.add("float " + name + "[8]; kiln_load8(" + name + ", " + address + ");");
    }
    List<List<Map<String, Object>>> outs = new ArrayList<>();
    for (Compute c : computes) {
      List<Map<String, Object>> lanes = new ArrayList<>();
      for (int j = 0; j < 8; j++) {
        Expr shifted = new Expr.Binary(Expr.BinOp.ADD, last, new Expr.Const(j, kiln.dsl.DType.I32));
        Map<Expr, String> bind = new HashMap<>();
        for (int k = 0; k < row.size(); k++) bind.put(kiln.dsl.Exprs.replace(row.get(k), last, shifted), names.get(k) + "[" + j + "]");
        List<String> lets = new ArrayList<>();
        String value = r.renderWithLocals(kiln.dsl.Exprs.replace(c.inner(), last, shifted), lets, bind);
        lanes.add(Map.of("lets", lets, "value", value));
      }
      outs.add(lanes);
    }
    m.put("vectorDims", String.join(" && ", dims));
    m.put("aligned", "(" + String.join(" | ", pointers) + ") & 15");
    m.put("vecLoads", loads);
    m.put("laneValues", outs);
    return true;
  }

  /** Steps the reduced vars to the next row, last fastest, with carries and no branch: v++; wraps at its dim into the var before. */
  private static String odometer(ExprRenderer r, List<Var> vars, String indent) {
    StringBuilder b = new StringBuilder();
    for (int i = vars.size() - 1; i >= 0; i--) {
      String v = r.var(vars.get(i));
      if (i == vars.size() - 1) b.append(indent).append(v).append("++;");
      if (i == 0) break;
      String carry = "carry" + i;
      b.append(" { const int ").append(carry).append(" = ").append(v).append(" == ").append(r.dim(vars.get(i).dim())).append("; ")
          .append(v).append(" = ").append(carry).append(" ? 0 : ").append(v).append("; ").append(r.var(vars.get(i - 1))).append(" += ").append(carry).append("; }");
    }
    return b.toString();
  }

  /**
   * Whether the Hopper template can run mm: no batch, A indexed exactly [m..., k...] and B exactly
   * [n..., k...] (both K-major and dense, as the copy engine's 2-D maps describe them), C [m..., n...].
   * GPT-2's forward x·Wᵀ fits; the backward dx = dy·W and dW = dyᵀ·x do not (TF32 wgmma has no transpose).
   */
  public static boolean wgmmaFits(MatmulMatch mm) {
    boolean[] t = wgmmaLayouts(mm);
    return t != null && !t[0] && !t[1];
  }

  /**
   * Whether the Hopper template can run mm once its non-K-major operands are copied transposed: null
   * where not (a batch dim, C not [m..., n...], an operand indexed other than exactly [rows..., k...]
   * or [k..., rows...] over all its dims), else {A needs a copy, B needs a copy}. GPT-2's dx = dy·W
   * copies W ([k, n]); dW = dyᵀ·x copies both ([k..., m] and [k..., n]).
   */
  public static boolean[] wgmmaLayouts(MatmulMatch mm) {
    if (!mm.batch().isEmpty()) return null;
    List<Expr> cIndex = new ArrayList<>(mm.m());
    cIndex.addAll(mm.n());
    if (!mm.compute().outIndex().equals(cIndex)) return null;
    Boolean a = layout(mm.a(), mm.m(), mm.k()), b = layout(mm.b(), mm.n(), mm.k());
    return a == null || b == null ? null : new boolean[] {a, b};
  }

  /**
   * The operands' layouts for the bf16 wgmma tile, {A's, B's} (an operand indexed [k..., rows...] MN-major, read in place
   * through wgmma's transpose bits), or null where it cannot run mm: A or B not stored as bf16, or wgmmaLayouts refuses
   * (a batch dim, C not [m..., n...], an operand indexed other than exactly over its dims). GPT-2's forward is (K, K), its dX
   * = dY·W (K, MN), its dW = dYᵀ·X (MN, MN).
   */
  public static WgmmaBf16.Major[] bf16Majors(MatmulMatch mm) {
    if (mm.a().tensor().storage() != kiln.dsl.DType.BF16 || mm.b().tensor().storage() != kiln.dsl.DType.BF16) return null;
    boolean[] t = wgmmaLayouts(mm);
    if (t == null) return null;
    return new WgmmaBf16.Major[] {t[0] ? WgmmaBf16.Major.MN : WgmmaBf16.Major.K, t[1] ? WgmmaBf16.Major.MN : WgmmaBf16.Major.K};
  }

  /** false: x indexed exactly [rows..., k...]; true: exactly [k..., rows...]; null: neither (or not all of its dims). */
  private static Boolean layout(Expr.Load x, List<Var> rows, List<Var> k) {
    if (x.tensor().rank() != rows.size() + k.size()) return null;
    List<Expr> kMajor = new ArrayList<>(rows), rowMajor = new ArrayList<>(k);
    kMajor.addAll(k);
    rowMajor.addAll(rows);
    if (x.index().equals(kMajor)) return false;
    return x.index().equals(rowMajor) ? true : null;
  }

  /**
   * The transposed-operand plan of a wgmma launch (Transposed's chunks): the chunk along K is the
   * longest (a multiple of 32 floats) whose copies fit in capFloats of workspace, K split evenly; null
   * where no operand needs a copy, or more than maxChunks chunks would be needed (each chunk rereads and
   * rewrites C: GPT-2's dwte = dlogitsᵀ·lnf, 51 072 copied rows x K = 8192, stays on mma.sync).
   */
  public static long[] transposePlan(boolean a, boolean b, long m, long n, long k, long capFloats, int maxChunks) {
    long rows = (a ? m : 0) + (b ? n : 0);
    if (rows == 0 || k < 1 || capFloats <= 0) return null;
    for (int chunks = 1; chunks <= maxChunks; chunks++) {
      long kc = ((k + chunks - 1) / chunks + 31) / 32 * 32;
      if (rows * kc <= capFloats) return new long[] {kc, (k + kc - 1) / kc};
    }
    return null;
  }

  /** SMs the chunk plan's cost model fills (an H100/H200 SXM has 132). */
  static final int PLAN_SMS = 132;
  /** Rows of an M chunk are a multiple of this (every wgmma BM divides it, so only the last chunk has a partial tile). */
  public static final int M_CHUNK_ROWS = 256;

  /**
   * transposePlan, or where no plan along K alone fits and A is copied, a plan chunked along M as well:
   * {kChunk, kChunks, mChunk, mChunks, rows of the last M chunk} with kChunks <= maxRowChunksK, B's copy (n x kChunk) and one M chunk
   * of A's (mChunk x kChunk) within capFloats, picked by a cost model: per launch ceil(tiles / 132) waves of
   * a bm x bn tile kChunk deep, plus C reread and rewritten once per later K chunk (at ~100 flops per byte).
   * null where neither fits. GPT-2's dwte (50 304 x 768 x 8192, both copied) gets 5 x 6 chunks.
   */
  public static long[] transposePlan(boolean a, boolean b, long m, long n, long k, long capFloats, int maxChunks, int maxRowChunksK,
                                     int bm, int bn) {
    long[] byK = transposePlan(a, b, m, n, k, capFloats, maxChunks);
    if (byK != null || !a || k < 1 || capFloats <= 0) return byK;
    long[] best = null;
    double bestCost = Double.MAX_VALUE;
    long nTiles = (n + bn - 1) / bn;
    for (int chunks = 1; chunks <= maxRowChunksK; chunks++) {
      long kc = ((k + chunks - 1) / chunks + 31) / 32 * 32, kChunks = (k + kc - 1) / kc;
      long rows = (capFloats - (b ? n : 0) * kc) / kc / M_CHUNK_ROWS * M_CHUNK_ROWS;
      if (rows < M_CHUNK_ROWS) continue;
      long mChunks = (m + rows - 1) / rows;
      if (mChunks < 2) continue;   // the K-only plan would have fitted
      long mc = ((m + mChunks - 1) / mChunks + M_CHUNK_ROWS - 1) / M_CHUNK_ROWS * M_CHUNK_ROWS;   // balanced
      mChunks = (m + mc - 1) / mc;
      double cost = 0;   // in flop-equivalents of one SM
      for (long j = 0; j < mChunks; j++) {
        long tiles = (Math.min(mc, m - j * mc) + bm - 1) / bm * nTiles;
        cost += kChunks * (double) ((tiles + PLAN_SMS - 1) / PLAN_SMS) * 2.0 * bm * bn * kc;
      }
      cost += (2 * kChunks - 1) * (double) m * n * 4 * 100 / PLAN_SMS;   // C's traffic, ~300 TFLOP/s against ~3 TB/s
      if (cost < bestCost) {
        bestCost = cost;
        best = new long[] {kc, kChunks, mc, mChunks, m - (mChunks - 1) * mc};
      }
    }
    return best;
  }

  /** The transpose kernel (templates/cuda/transpose.cu.ftl): TILE x TILE tiles, 256 threads. */
  public static Rendered transpose(int tile) {
    Map<String, Object> m = new HashMap<>();
    m.put("tile", tile);
    m.put("threads", 256);
    m.put("kind", "transpose");
    m.put("comment", "dst[c, r] = src[r, c] (fp32), " + tile + " x " + tile + " tiles");
    String placeholder = "k_transpose_HASH";
    m.put("name", placeholder);
    String source = process("transpose.cu.ftl", m);
    String function = "k_transpose_" + Kernels.hash(source);
    return new Rendered("transpose", function, source.replace(placeholder, function), List.of(), List.of(), new Threads(List.of()));
  }

  /** Whether a plan from transposePlan runs as one launch of the matmul (one K chunk, no M chunks): only then may it take an epilogue. */
  public static boolean oneLaunch(long[] plan) { return plan[1] == 1 && !(plan.length > 2 && plan[3] > 1); }

  /**
   * The wgmma matmul over K-major copies (wgmmaLayouts), K rendered as kChunk: chunk 0's kernel
   * (accumulating as the compute does) carrying the plan in its Tiles, with the transpose kernel and,
   * where later chunks must add to chunk 0's result, the `+=` twin. The plan comes from transposePlan: {kChunk, kChunks},
   * or {kChunk, kChunks, mChunk, mChunks, tail rows} chunked along M too (A copied): the kernels then render M as mChunk
   * rows (C's rows shifted per launch), and the last M chunk's rows get their own kernels (Transposed.tail, tailRest).
   * epilogue (null: none) only where the plan is oneLaunch.
   */
  public static Rendered matmulTransposed(MatmulMatch mm, boolean accumulate, CudaSchedule.WgmmaTile tile, long[] plan, Fused epilogue) {
    boolean[] t = wgmmaLayouts(mm);
    if (t == null || !(t[0] || t[1])) throw new IllegalArgumentException(mm.compute().name() + ": no operand to transpose for wgmma");
    long kChunk = plan[0];
    int chunks = (int) plan[1];
    boolean rows = plan.length > 2 && plan[3] > 1;
    if (rows && !t[0]) throw new IllegalArgumentException(mm.compute().name() + ": chunks along M need A copied");
    long mChunk = rows ? plan[2] : 0, tailRows = 0;
    int mChunks = rows ? (int) plan[3] : 1;
    Rendered tail = null, tailRest = null;
    Rendered rest = chunks > 1 && !accumulate ? matmul(mm, true, tile, kChunk, null, mChunk, null) : null;
    if (rows) {
      tailRows = plan.length > 4 ? plan[4] : 0;
      if (tailRows <= 0 || tailRows > mChunk) throw new IllegalArgumentException(mm.compute().name() + ": an M-chunked plan needs its tail rows");
      if (tailRows != mChunk) {
        tail = matmul(mm, accumulate, tile, kChunk, null, tailRows, null);
        tailRest = chunks > 1 && !accumulate ? matmul(mm, true, tile, kChunk, null, tailRows, null) : null;
      }
    }
    Transposed x = new Transposed(t[0], t[1], kChunk, chunks, transpose(64), rest, mChunk, mChunks, tail, tailRest);
    return matmul(mm, accumulate, tile, kChunk, x, mChunk, epilogue);
  }

  /**
   * A matmul with the given tile: the CUDA-core template for a SimtTile, the TF32 tensor-core one for an
   * MmaTile, the Hopper one for a WgmmaTile (only where wgmmaFits).
   */
  public static Rendered matmul(MatmulMatch mm, boolean accumulate, CudaSchedule.MatmulTile tile) { return matmul(mm, accumulate, tile, 0, null, 0, null); }

  /** As above, with epilogue (null: none) applied to each element of C before it is stored (split-K: in the kernel that adds the splits). */
  public static Rendered matmul(MatmulMatch mm, CudaSchedule.MatmulTile tile, Fused epilogue) { return matmul(mm, false, tile, 0, null, 0, epilogue); }

  /**
   * A matmul's epilogue (Epilogue.groups): the element-wise computes, renamed to the matmul's loop vars,
   * that run on each element v = C[.., m, n] once it is complete, and the tensors (C among them) that
   * need not be stored (Epilogue.unstored).
   */
  public record Fused(List<Compute> computes, java.util.Set<Tensor> unstored, Tensor staged) {
    public Fused {
      computes = List.copyOf(computes);
      unstored = java.util.Set.copyOf(unstored);
      if (staged != null && !stageable(computes, unstored).contains(staged)) {
        throw new IllegalArgumentException(staged.name() + ": not an epilogue output that can be staged (CudaRenderer.Fused.stageable)");
      }
    }

    public Fused(List<Compute> computes, java.util.Set<Tensor> unstored) { this(computes, unstored, null); }

    /**
     * This epilogue with `staged` (one of stageable()) returned by the lambda instead of stored: the bf16 wgmma template
     * stages it in shared memory and the copy engine stores it (null: every output stored from the lambda).
     */
    public Fused withStaged(Tensor staged) { return new Fused(computes, unstored, staged); }

    /**
     * The outputs the bf16 wgmma template can stage for the copy engine, in order: stored bf16 tensors with C's dims, each
     * written by exactly one compute of the epilogue (an assignment, at C's loop vars, as every epilogue compute is).
     */
    public static List<Tensor> stageable(List<Compute> computes, java.util.Set<Tensor> unstored) {
      Map<Tensor, Integer> writes = new HashMap<>();
      for (Compute x : computes) writes.merge(x.out(), 1, Integer::sum);
      List<Tensor> out = new ArrayList<>();
      for (Compute x : computes) {
        Tensor t = x.out();
        if (t.storage() == kiln.dsl.DType.BF16 && !unstored.contains(t) && writes.get(t) == 1 && !x.accumulate() && !out.contains(t)
            && x.outIndex().equals(new ArrayList<Expr>(x.loopVars()))) {
          out.add(t);
        }
      }
      return out;
    }
  }

  /**
   * The epilogue as a lambda the templates call per element: `epilogue(m, n, v)` with m and n C's flat row
   * and column (within the batch, whose vars the kernel has decoded) and v the finished sum. Its statements
   * are the computes' bodies through the shared walk and the CUDA table, C[.., m, n] spelled v and each
   * earlier output its local; a load whose index holds the whole M (or N) group in order, over the same
   * dims, indexes by m (n) directly, and the group's vars are decoded from m and n (32-bit) for any other use.
   */
  /**
   * What both epilogue renderings index by: m and n bound as C's flat row and column (epilogue.m, epilogue.n), an expression
   * over C's loop vars flattened to them (flat), and a tensor's element at C's index so flattened (element).
   */
  private record EpiIndex(MatmulMatch mm, List<Expr> at, Var mv, Var nv) {
    static EpiIndex of(ExprRenderer r, MatmulMatch mm) {
      Var mv = new Var("epilogue.m", new Dim("M")), nv = new Var("epilogue.n", new Dim("N"));
      r.bind(mv, "m");
      r.bind(nv, "n");
      return new EpiIndex(mm, new ArrayList<>(mm.compute().loopVars()), mv, nv);
    }

    Expr flat(Expr e) { return CudaRenderer.flat(e, mm, mv, nv); }

    Expr element(Tensor t) { return flat(new Expr.Load(t, at)); }
  }

  private static String epilogue(ExprRenderer r, MatmulMatch mm, Fused f) {
    Compute c = mm.compute();
    EpiIndex ix = EpiIndex.of(r, mm);
    String in = "    ";
    StringBuilder b = new StringBuilder("  // epilogue: the element-wise consumers of C at its own index, from v = C[m, n]; outputs\n  // ")
        .append(String.join(", ", f.computes().stream().map(x -> x.out().dims().toString()).toList()))
        .append(f.unstored().contains(c.out()) ? " (C itself not stored)" : "")
        .append(f.staged() == null ? "" : "; " + f.staged().dims() + " returned, for the copy engine to store")
        .append("\n  auto epilogue = [&](const int m, const int n, const float v)").append(f.staged() == null ? "" : " -> float").append(" {\n");
    // the group's vars, only where a statement uses one after the flat indexing
    b.append(decodeFor(r, mm, f.computes().stream().map(x -> ix.flat(x.body())).toList(), in));
    Map<Expr, String> bound = new HashMap<>();
    Expr cLoad = ix.element(c.out());
    bound.put(cLoad, "v");
    // a bf16 C or output: stored rounded (the dialect's store), and read by later statements as stored, as they would be unfused
    if (!f.unstored().contains(c.out())) b.append(in).append(storeTo(r, (Expr.Load) cLoad, "v")).append(";\n");
    if (c.out().storage() == kiln.dsl.DType.BF16) {
      b.append(in).append("const float vs = ").append(r.dialect().asStored("v", c.out().storage())).append(";\n");
      bound.put(cLoad, "vs");
    }
    statements(r, f, ix, bound, code -> code, (t, y) -> f.unstored().contains(t.tensor()) ? null : storeTo(r, t, y), b, in);
    return b.append("  };").toString();
  }

  /**
   * Both epilogues' statements, one a compute: its value as a local y0, y1, ... (its text through `code`), bound for the
   * later ones; for an output that is not the staged one, the line `keep` gives (null: none); at the end the return of the
   * staged local, if any.
   */
  private static void statements(ExprRenderer r, Fused f, EpiIndex ix, Map<Expr, String> bound, java.util.function.UnaryOperator<String> code,
                                 java.util.function.BiFunction<Expr.Load, String, String> keep, StringBuilder b, String in) {
    int k = 0;
    String staged = null;
    for (Compute x : f.computes()) {
      if (!x.loopVars().equals(ix.mm().compute().loopVars())) throw new IllegalArgumentException(x.name() + ": an epilogue compute must use its matmul's loop vars");
      List<String> prelude = new ArrayList<>();
      // what an epilogue loads, no thread of the launch writes (its outputs it reads as locals; the arena keeps the rest
      // apart): read-only loads, which the compiler issues ahead of the previous elements' stores
      r.readOnlyLoads(true);
      String value = code.apply(r.renderWithLocals(ix.flat(x.body()), prelude, bound));
      r.readOnlyLoads(false);
      for (String p : prelude) b.append(in).append(code.apply(p)).append('\n');
      String y = "y" + k++;
      if (x.out().equals(f.staged()) && x.body().type() == kiln.dsl.DType.F32) {
        // the staged output is returned unrounded: the template packs it with kiln_bf16x2, the same round to nearest even
        // (its rounded value, for any later statement, the compiler drops where none reads it)
        b.append(in).append("const float ").append(y).append("r = ").append(value).append(";\n");
        value = y + "r";
        staged = value;
      }
      b.append(in).append("const ").append(r.type(x.body().type())).append(' ').append(y).append(" = ")
          .append(r.dialect().asStored(value, x.out().storage())).append(";\n");
      Expr.Load target = (Expr.Load) ix.element(x.out());
      bound.put(target, y);
      String line = keep.apply(target, y);
      if (x.out().equals(f.staged())) { if (staged == null) staged = y; }
      else if (line != null) b.append(in).append(line).append(";\n");
    }
    if (staged != null) b.append(in).append("return ").append(staged).append(";\n");
  }

  /** Whether epiloguePairs takes this epilogue: every value a float, every tensor it loads or stores held as bf16 or fp32. */
  private static boolean pairable(MatmulMatch mm, Fused f) {
    java.util.function.Predicate<Tensor> held = t -> t.dtype() == kiln.dsl.DType.F32
        && (t.storage() == kiln.dsl.DType.BF16 || t.storage() == kiln.dsl.DType.F32);
    if (!held.test(mm.compute().out())) return false;
    for (Compute x : f.computes()) {
      if (!held.test(x.out()) || x.body().type() != kiln.dsl.DType.F32) return false;
      for (Expr.Load l : kiln.dsl.Exprs.loads(x.body())) if (!held.test(l.tensor())) return false;
    }
    return true;
  }

  /**
   * The epilogue for the bf16 wgmma template, over C's element pairs (n, n + 1) of a row (each thread's accumulator layout
   * holds such pairs) as four lambdas: epilogue_load(m, n, two, x) gathers every tensor the statements read at both elements
   * into x (a bf16 pair in one word, one 4-byte load where the two are adjacent and aligned; an fp32 element a word), which
   * the template calls for a whole row of pairs before it computes any; epilogue(m, n, e, v, x, y) computes element e (0 or 1,
   * at column n) from v and the gathered words, with each repeated load one value, and leaves the outputs it stores in y
   * (returning the staged one, if any); epilogue_store(m, n, two, y0, y1) stores them as pairs where it can (one 4-byte bf16x2
   * store, rounded once). epilogue_at and epilogue_to give the elements' addresses. The values are those of epilogue().
   */
  private static String epiloguePairs(ExprRenderer r, MatmulMatch mm, Fused f, Map<String, Object> model) {
    Compute c = mm.compute();
    EpiIndex ix = EpiIndex.of(r, mm);
    String in = "    ";
    Expr cLoad = ix.element(c.out());
    // the values the statements compute (C, each output): read as locals, never loaded
    java.util.Set<Expr> computed = new java.util.HashSet<>();
    computed.add(cLoad);
    for (Compute x : f.computes()) computed.add(ix.element(x.out()));
    // the loads, each once, in the order the statements read them (outermost only: an index's own loads go with its address)
    List<Expr.Load> loads = new ArrayList<>();
    for (Compute x : f.computes()) gather(ix.flat(x.body()), computed, loads);
    // the stored outputs in order: C unless unstored, then each output neither unstored nor staged
    List<Expr.Load> stores = new ArrayList<>();
    if (!f.unstored().contains(c.out())) stores.add((Expr.Load) cLoad);
    for (Compute x : f.computes()) {
      if (!x.out().equals(f.staged()) && !f.unstored().contains(x.out())) stores.add((Expr.Load) ix.element(x.out()));
    }
    StringBuilder b = new StringBuilder("  // epilogue: the element-wise consumers of C at its own index, from v = C[m, n], over element pairs; outputs\n  // ")
        .append(String.join(", ", f.computes().stream().map(x -> x.out().dims().toString()).toList()))
        .append(f.unstored().contains(c.out()) ? " (C itself not stored)" : "")
        .append(f.staged() == null ? "" : "; " + f.staged().dims() + " returned, for the copy engine to store").append('\n');
    // addresses of the loaded and stored elements at (m, n)
    r.readOnlyLoads(true);
    b.append("  auto epilogue_at = [&](const int m, const int n, const void** p) {\n").append(decodeFor(r, mm, loads, in));
    for (int i = 0; i < loads.size(); i++) b.append(in).append("p[").append(i).append("] = &").append(r.lvalue(loads.get(i))).append(";\n");
    b.append("  };\n");
    r.readOnlyLoads(false);
    b.append("  auto epilogue_to = [&](const int m, const int n, void** p) {\n").append(decodeFor(r, mm, stores, in));
    for (int i = 0; i < stores.size(); i++) b.append(in).append("p[").append(i).append("] = &").append(r.lvalue(stores.get(i))).append(";\n");
    b.append("  };\n");
    // gathering: word w of x per load (bf16: the pair packed, element n in the low half; fp32: two words)
    Map<Expr, String> bound = new HashMap<>();
    b.append("  auto epilogue_load = [&](const int m, const int n, const bool two, unsigned* x) {\n");
    int words = 0;
    Map<Expr.Load, Integer> wordOf = new HashMap<>();
    if (!loads.isEmpty()) {
      b.append(in).append("const void* p[").append(loads.size()).append("];\n").append(in).append("const void* q[").append(loads.size()).append("];\n")
          .append(in).append("epilogue_at(m, n, p);\n").append(in).append("epilogue_at(m, n + 1, q);\n");
    }
    for (int i = 0; i < loads.size(); i++) {
      Expr.Load l = loads.get(i);
      wordOf.put(l, words);
      if (l.tensor().storage() == kiln.dsl.DType.BF16) {
        b.append(in).append("x[").append(words).append("] = kiln_ldg_bf16x2((const kiln_bf16*) p[").append(i).append("], (const kiln_bf16*) q[").append(i)
            .append("], two);\n");
        bound.put(l, "__uint_as_float(e ? x[" + words + "] & 0xffff0000u : x[" + words + "] << 16)");
        words += 1;
      } else {
        b.append(in).append("kiln_ldg_f32x2((const float*) p[").append(i).append("], (const float*) q[").append(i).append("], two, x[").append(words)
            .append("], x[").append(words + 1).append("]);\n");
        bound.put(l, "__uint_as_float(x[" + words + " + e])");
        words += 2;
      }
    }
    b.append("  };\n");
    boolean rowLoads = !loads.isEmpty() && loads.stream().allMatch(l -> rowContiguous(l, ix.nv()));
    if (rowLoads) b.append(loadRow(loads, wordOf, ix, mm));
    // computing one element
    b.append("  auto epilogue = [&](const int m, const int n, const int e, const float v, const unsigned* x, float* y)")
        .append(f.staged() == null ? "" : " -> float").append(" {\n");
    b.append(decodeFor(r, mm, f.computes().stream().map(x -> ix.flat(x.body())).toList(), in));
    // each gathered value once, as a local named after its word (l0, l1, ...)
    for (Expr.Load l : loads) {
      String local = "l" + wordOf.get(l);
      b.append(in).append("const float ").append(local).append(" = ").append(bound.get(l)).append(";\n");
      bound.put(l, local);
    }
    bound.put(cLoad, "v");
    if (c.out().storage() == kiln.dsl.DType.BF16) {
      // the template passes v rounded to bf16 already (a pair in one cvt.rn.bf16x2: epiRound), as C would be stored
      b.append(in).append("const float vs = v;\n");
      bound.put(cLoad, "vs");
    }
    model.put("epiRound", c.out().storage() == kiln.dsl.DType.BF16);
    model.put("epiRowLoads", rowLoads);
    if (stores.contains(cLoad)) b.append(in).append("y[").append(stores.indexOf(cLoad)).append("] = ").append(bound.get(cLoad)).append(";\n");
    statements(r, f, ix, bound, CudaRenderer::fastTanh, (t, y) -> stores.contains(t) ? "y[" + stores.indexOf(t) + "] = " + y : null, b, in);
    b.append("  };\n");
    // storing a pair
    b.append("  auto epilogue_store = [&](const int m, const int n, const bool two, const float* y0, const float* y1) {\n");
    if (!stores.isEmpty()) {
      b.append(in).append("void* p[").append(stores.size()).append("];\n").append(in).append("void* q[").append(stores.size()).append("];\n")
          .append(in).append("epilogue_to(m, n, p);\n").append(in).append("epilogue_to(m, n + 1, q);\n");
    }
    for (int i = 0; i < stores.size(); i++) {
      boolean bf16 = stores.get(i).tensor().storage() == kiln.dsl.DType.BF16;
      String t = bf16 ? "kiln_bf16" : "float";
      b.append(in).append(bf16 ? "kiln_st_bf16x2" : "kiln_st_f32x2").append("((").append(t).append("*) p[").append(i).append("], (").append(t)
          .append("*) q[").append(i).append("], two, y0[").append(i).append("], y1[").append(i).append("]);\n");
    }
    b.append("  };");
    model.put("epiIn", Math.max(1, words));
    model.put("epiRowsAll", !"1".equals(System.getenv("KILN_EPI_ROWS")));
    model.put("epiOut", Math.max(1, stores.size()));
    return b.toString();
  }

  /**
   * Whether a gathered load reads consecutive elements along C's row: its flat index ends in the flat n and has it nowhere
   * else, so the element at n + k lies k elements past the one at n (every element is arena[offset + row-major index]).
   */
  private static boolean rowContiguous(Expr.Load l, Var nv) {
    List<Expr> index = l.index();
    if (index.isEmpty() || !index.getLast().equals(nv)) return false;
    for (int i = 0; i < index.size() - 1; i++) if (uses(index.get(i), nv)) return false;
    return true;
  }

  private static boolean uses(Expr e, Var v) {
    boolean[] found = {false};
    kiln.dsl.Exprs.visit(e, x -> { if (x.equals(v)) found[0] = true; });
    return found[0];
  }

  /**
   * epilogue_load_row(i, m, n, x): the gathered words of a whole row of a thread's pairs, x[i][j] at columns n + 8 j and
   * n + 8 j + 1 (j < BN / 8; n the thread's first column), where every load is rowContiguous: one address and one test a
   * load and row (the row inside C along N and the address aligned: straight 4- or 8-byte loads, no branch a pair), else
   * kiln_ldg_*x2 a pair as epilogue_load. A load that reads no M index (a bias) is read for the batch's first row only and
   * copied to the others (the template gathers rows in increasing m, so that row is inside C whenever another is).
   */
  private static String loadRow(List<Expr.Load> loads, Map<Expr.Load, Integer> wordOf, EpiIndex ix, MatmulMatch mm) {
    String in = "    ";
    StringBuilder b = new StringBuilder("  auto epilogue_load_row = [&](const int i, const int m, const int n, unsigned (*x)[BN / 8][EPI_IN]) {\n");
    b.append(in).append("const void* p[").append(loads.size()).append("];\n").append(in).append("epilogue_at(m, n, p);\n")
        .append(in).append("const bool full = n + BN - 7 < N;   // every pair of the row inside C\n");
    for (int k = 0; k < loads.size(); k++) {
      Expr.Load l = loads.get(k);
      int w = wordOf.get(l);
      boolean column = l.index().stream().noneMatch(e -> uses(e, ix.mv()) || mm.m().stream().anyMatch(v -> uses(e, v)));
      boolean bf16 = l.tensor().storage() == kiln.dsl.DType.BF16;
      String t = bf16 ? "kiln_bf16" : "float";
      b.append(in).append(column ? "if (i == 0) {\n" : "{\n");
      String in2 = in + "  ";
      b.append(in2).append("const ").append(t).append("* const b = (const ").append(t).append("*) p[").append(k).append("];\n")
          .append(in2).append("if (full && ((unsigned long long) b & ").append(bf16 ? 3 : 7).append(") == 0) {\n")
          .append("#pragma unroll\n");
      if (bf16) {
        b.append(in2).append("  for (int j = 0; j < BN / 8; j++) x[i][j][").append(w).append("] = __ldg((const unsigned*) (b + 8 * j));\n");
      } else {
        b.append(in2).append("  for (int j = 0; j < BN / 8; j++) {\n")
            .append(in2).append("    const float2 v = __ldg((const float2*) (b + 8 * j));\n")
            .append(in2).append("    x[i][j][").append(w).append("] = __float_as_uint(v.x);\n")
            .append(in2).append("    x[i][j][").append(w + 1).append("] = __float_as_uint(v.y);\n")
            .append(in2).append("  }\n");
      }
      b.append(in2).append("} else {\n").append("#pragma unroll\n")
          .append(in2).append("  for (int j = 0; j < BN / 8; j++) {\n")
          .append(in2).append("    if (n + 8 * j >= N) continue;\n");
      if (bf16) {
        b.append(in2).append("    x[i][j][").append(w).append("] = kiln_ldg_bf16x2(b + 8 * j, b + 8 * j + 1, n + 8 * j + 1 < N);\n");
      } else {
        b.append(in2).append("    kiln_ldg_f32x2(b + 8 * j, b + 8 * j + 1, n + 8 * j + 1 < N, x[i][j][").append(w).append("], x[i][j][").append(w + 1).append("]);\n");
      }
      b.append(in2).append("  }\n").append(in2).append("}\n").append(in).append("}");
      if (column) {
        b.append(" else {\n").append("#pragma unroll\n").append(in).append("  for (int j = 0; j < BN / 8; j++) {\n");
        for (int u = 0; u < (bf16 ? 1 : 2); u++) b.append(in).append("    x[i][j][").append(w + u).append("] = x[0][j][").append(w + u).append("];\n");
        b.append(in).append("  }\n").append(in).append("}");
      }
      b.append('\n');
    }
    return b.append("  };\n").toString();
  }

  /**
   * The bf16 kernels' tanh (the pair epilogues, the bf16 vector maps): kiln_tanh (tanh.ftl: 1 - 2 / (e^2u + 1) from one ex2.approx and one rcp.approx,
   * within ~1e-6 absolute everywhere, so GELU's 1 + tanh keeps its relative accuracy) in place of libm's tanhf (~17
   * instructions with the same two MUFU ops); KILN_EPI_TANH=libm keeps tanhf, for comparison.
   */
  private static String fastTanh(String code) {
    return "libm".equals(System.getenv("KILN_EPI_TANH")) ? code : code.replace("tanhf(", "kiln_tanh(");
  }

  /**
   * The loads of e in order, each once, none of `computed`, none inside another's index and none under a select's branch
   * (which may read only where its condition holds: those stay where they are, loaded as the element is computed).
   */
  private static void gather(Expr e, java.util.Set<Expr> computed, List<Expr.Load> loads) {
    if (e instanceof Expr.Load l) {
      if (!computed.contains(l) && !loads.contains(l)) loads.add(l);
      return;
    }
    if (e instanceof Expr.Select s) {
      gather(s.cond(), computed, loads);
      return;
    }
    kiln.dsl.Exprs.mapChildren(e, x -> {
      gather(x, computed, loads);
      return x;
    });
  }

  /** decode32 of M's and N's vars where the given expressions (loads, or statements, after flat) use one. */
  private static String decodeFor(ExprRenderer r, MatmulMatch mm, List<? extends Expr> exprs, String in) {
    java.util.Set<Var> used = new java.util.HashSet<>();
    for (Expr e : exprs) kiln.dsl.Exprs.visit(e, x -> { if (x instanceof Var v) used.add(v); });
    return (mm.m().stream().anyMatch(used::contains) ? decode32(r, mm.m(), "m", "rm", in) : "")
        + (mm.n().stream().anyMatch(used::contains) ? decode32(r, mm.n(), "n", "rn", in) : "");
  }

  /** value (F32) stored into the element target in its storage (bf16: rounded to nearest even). */
  private static String storeTo(ExprRenderer r, Expr.Load target, String value) {
    return r.dialect().store(r.lvalue(target), value, false, false, target.tensor().storage());
  }

  /** e with each load's whole M (N) group, where it sits in order over the same dims, replaced by zeros and the flat m (n). */
  private static Expr flat(Expr e, MatmulMatch mm, Var mv, Var nv) {
    if (e instanceof Expr.Load l) {
      List<Expr> index = new ArrayList<>(l.index().stream().map(x -> flat(x, mm, mv, nv)).toList());
      collapse(index, l.tensor(), mm.m(), mv);
      collapse(index, l.tensor(), mm.n(), nv);
      return new Expr.Load(l.tensor(), index);
    }
    return kiln.dsl.Exprs.mapChildren(e, x -> flat(x, mm, mv, nv));
  }

  private static void collapse(List<Expr> index, Tensor t, List<Var> group, Var flatVar) {
    int start = java.util.Collections.indexOfSubList(index, group);
    if (group.isEmpty() || start < 0) return;
    for (int j = 1; j < group.size(); j++) if (!t.dims().get(start + j).equals(group.get(j).dim())) return;
    for (int j = 0; j < group.size() - 1; j++) index.set(start + j, Expr.Const.i32(0));
    index.set(start + group.size() - 1, flatVar);
  }

  /** Splits the 32-bit flat index `source` into vars, last fastest (unused ones cost nothing: the compiler drops them). */
  private static String decode32(ExprRenderer r, List<Var> vars, String source, String from, String indent) {
    if (vars.isEmpty()) return "";
    StringBuilder b = new StringBuilder(indent).append("int ").append(from).append(" = ").append(source).append(";\n");
    for (int i = vars.size() - 1; i >= 0; i--) {
      Var v = vars.get(i);
      if (i == 0) b.append(indent).append("const int ").append(r.var(v)).append(" = ").append(from).append(";\n");
      else b.append(indent).append("const int ").append(r.var(v)).append(" = ").append(from).append(" % ").append(r.dim(v.dim()))
          .append("; ").append(from).append(" /= ").append(r.dim(v.dim())).append(";\n");
    }
    return b.toString();
  }

  /** mRows > 0 (over copies chunked along M): the kernel covers that many rows of C, from the base the launch passes as F. */
  private static Rendered matmul(MatmulMatch mm, boolean accumulate, CudaSchedule.MatmulTile tile, long kChunk, Transposed transposed, long mRows,
                                 Fused fused) {
    if (fused != null && (accumulate || mRows > 0 || transposed != null && (transposed.chunks() > 1 || transposed.byRows()))) {
      throw new IllegalArgumentException(mm.compute().name() + ": an epilogue needs C assigned in one launch (no +=, one K chunk, no M chunks)");
    }
    ExprRenderer r = new ExprRenderer(new CudaDialect());
    Compute c = mm.compute();
    Tensor tc = c.out(), ta = mm.a().tensor(), tb = mm.b().tensor();
    String oc = r.offset(tc), oa = r.offset(ta), ob = r.offset(tb);
    Map<String, Object> m = new HashMap<>();
    // the bf16 wgmma template takes the epilogue over element pairs, its loads first (epiloguePairs) where every value is a float
    boolean pairs = fused != null && tile instanceof WgmmaBf16.Tile && pairable(mm, fused);
    m.put("epilogue", fused == null ? "" : pairs ? epiloguePairs(r, mm, fused, m) : epilogue(r, mm, fused));
    m.put("epiPairs", pairs);
    m.put("M", Kernels.product(r, mm.m()));
    m.put("N", Kernels.product(r, mm.n()));
    m.put("K", Kernels.product(r, mm.k()));
    String am = Kernels.groupStride(r, ta, mm.a().index(), mm.m());
    String ak = Kernels.groupStride(r, ta, mm.a().index(), mm.k());
    String bk = Kernels.groupStride(r, tb, mm.b().index(), mm.k());
    String bn = Kernels.groupStride(r, tb, mm.b().index(), mm.n());
    m.put("am", am);
    m.put("ak", ak);
    m.put("bkStride", bk);
    m.put("bnStride", bn);
    m.put("cm", Kernels.groupStride(r, tc, c.outIndex(), mm.m()));
    m.put("aKMajor", ak.equals("1"));
    m.put("bNMajor", bn.equals("1"));
    m.put("batchDecode", decode(r, mm.batch(), tile instanceof CudaSchedule.MmaTile ? "zb" : "blockIdx.z", "r", "  "));
    m.put("sumBatchDecode", decode(r, mm.batch(), "zb", "r", "    "));
    m.put("batchItems", items(r, mm.batch()));
    m.put("baseA", oa + Kernels.base(r, ta, mm.a().index(), mm.batch()));
    m.put("baseB", ob + Kernels.base(r, tb, mm.b().index(), mm.batch()));
    m.put("baseC", oc + Kernels.base(r, tc, c.outIndex(), mm.batch()));
    m.put("accumulate", accumulate);
    // element reads of A and B in their storage (bf16 widened), and whether C is stored as bf16 (matmul.cu.ftl)
    m.put("loadA", r.dialect().widen(r.dialect().load(r.arena(ta), "baseA", "(m0 + mm) * am + (k0 + kk) * ak"), ta.storage()));
    m.put("loadB", r.dialect().widen(r.dialect().load(r.arena(tb), "baseB", "(k0 + kk) * bk + (n0 + nn) * bn"), tb.storage()));
    m.put("cBf16", tc.storage() == kiln.dsl.DType.BF16);
    WgmmaBf16.Major[] majors = tile instanceof WgmmaBf16.Tile ? bf16Majors(mm) : null;
    if (tile instanceof WgmmaBf16.Tile && majors == null) {
      throw new IllegalArgumentException(c.name() + ": the bf16 wgmma tile needs bf16 operands indexed [rows..., k...] or [k..., rows...], no batch dims (CudaRenderer.bf16Majors)");
    }
    if (!(tile instanceof CudaSchedule.SimtTile || tile instanceof WgmmaBf16.Tile) && r.usesBf16()) {
      // bf16 operands: the SIMT template, or the bf16 wgmma one where both are bf16 (CudaLowering.bf16Refusal)
      throw new IllegalArgumentException(c.name() + ": bf16 operands need the SIMT or bf16 wgmma tile (" + tile.knobs() + " reads fp32)");
    }
    WgmmaBf16.Out out = tc.storage() == kiln.dsl.DType.BF16 ? WgmmaBf16.Out.BF16 : WgmmaBf16.Out.F32;
    if (fused != null && tile instanceof WgmmaBf16.Tile t && t.splits() > 1) {
      throw new IllegalArgumentException(c.name() + ": an epilogue needs C in one pass, found split-K (" + t.knobs() + ")");
    }
    // C (or, with an epilogue, the output it stages) through the copy engine where the tile has the staging area
    boolean tmaStore = tile instanceof WgmmaBf16.Tile t && (fused == null ? WgmmaBf16.tmaStore(t, out, accumulate) : t.tmaStore() && fused.staged() != null);
    if (fused != null && fused.staged() != null && !(tile instanceof WgmmaBf16.Tile t && t.tmaStore())) {
      throw new IllegalArgumentException(c.name() + ": an epilogue output is staged only by a bf16 wgmma tile with tmaStore, found " + tile.knobs());
    }
    if (fused != null && fused.staged() != null && !(fused.staged().dims().equals(tc.dims()) && c.outIndex().equals(new ArrayList<Expr>(c.loopVars())))) {
      throw new IllegalArgumentException(c.name() + ": the staged " + fused.staged().name() + " must have C's dims " + tc.dims());
    }
    Tensor stored = fused != null && fused.staged() != null ? fused.staged() : tc;
    String template = switch (tile) {
      case CudaSchedule.SimtTile t -> {
        m.put("bm", t.bm());
        m.put("bn", t.bn());
        m.put("bk", t.bk());
        m.put("tm", t.tm());
        m.put("tn", t.tn());
        yield "matmul.cu.ftl";
      }
      case CudaSchedule.MmaTile t -> {
        m.put("bm", t.bm());
        m.put("bn", t.bn());
        m.put("bk", t.bk());
        m.put("wm", t.wm());
        m.put("wn", t.wn());
        m.put("stages", t.stages());
        m.put("splits", t.splits());
        yield "matmul_tf32.cu.ftl";
      }
      case CudaSchedule.WgmmaTile t -> {
        if (kChunk > 0 ? wgmmaLayouts(mm) == null : !wgmmaFits(mm)) {
          throw new IllegalArgumentException(c.name() + ": the wgmma tile needs K-major operands without batch dims (CudaRenderer.wgmmaFits)");
        }
        // over K-major copies in chunks: the kernel runs kChunk deep (the last chunk's maps zero-fill the rest)
        if (kChunk > 0) m.put("K", Long.toString(kChunk));
        // chunked along M: mRows rows of C from F (the launch shifts F to the chunk's first row)
        if (mRows > 0) m.put("M", Long.toString(mRows));
        m.put("bm", t.bm());
        m.put("bn", t.bn());
        m.put("bk", t.bk());
        m.put("stages", t.stages());
        m.put("consumers", t.consumers());
        yield "matmul_wgmma.cu.ftl";
      }
      case WgmmaBf16.Tile t -> {
        m.putAll(WgmmaBf16.model(t, majors[0], majors[1], out, accumulate, tmaStore));
        m.put("args", true);
        yield "matmul_wgmma_bf16.cu.ftl";
      }
    };
    String kind = switch (tile) {
      case CudaSchedule.SimtTile t -> "matmul";
      case CudaSchedule.MmaTile t -> "mma";
      case CudaSchedule.WgmmaTile t -> kChunk > 0 ? "wgmma_t" : "wgmma";
      case WgmmaBf16.Tile t -> "wgmma_bf16";
    } + (accumulate ? "_acc" : "");
    String engine = switch (tile) {
      case CudaSchedule.SimtTile t -> "";
      case CudaSchedule.MmaTile t -> " (TF32 tensor cores)";
      case CudaSchedule.WgmmaTile t -> " (TF32 wgmma, sm_90a" + (kChunk > 0 ? ", over K-major copies " + kChunk + " deep" : "")
          + (mRows > 0 ? ", " + mRows + " rows a launch" : "") + ")";
      case WgmmaBf16.Tile t -> " (bf16 wgmma, sm_90a, A " + majors[0] + "-major, B " + majors[1] + "-major, C " + out.name().toLowerCase()
          + (tmaStore ? (stored == tc ? "" : ", the epilogue's " + stored.name()) + " through the copy engine" : "") + ")";
    };
    String then = fused == null ? "" : ", then " + fused.computes().size() + " element-wise statement(s) as its epilogue";
    Work work = tile instanceof WgmmaBf16.Tile t
        ? new Bf16Tiles(Kernels.dims(mm.m()), Kernels.dims(mm.n()), Kernels.dims(mm.k()), t, ta, majors[0], tb, majors[1], stored, out, tmaStore)
        : new Tiles(Kernels.dims(mm.batch()), Kernels.dims(mm.m()), Kernels.dims(mm.n()), Kernels.dims(mm.k()), tile, ta, tb, transposed);
    return render(template, kind, r, m, "C[batch, m, n] " + (accumulate ? "+=" : "=") + " sum_k A[m, k] * B[k, n]" + engine + ", " + tile.knobs() + then,
        work);
  }

  static String items(ExprRenderer r, List<Var> vars) {
    if (vars.isEmpty()) return "1";
    return "(long long) " + String.join(" * ", vars.stream().map(v -> r.dim(v.dim())).toList());
  }

  /** Splits the flat index `source` into vars, last fastest, through a local named `from` (64-bit). */
  static String decode(ExprRenderer r, List<Var> vars, String source, String from, String indent) {
    return decode(r, vars, source, from, indent, "long long", "");
  }

  /**
   * decode over a 32-bit unsigned item index (map.cu.ftl's loop where the items and the grid's stride fit in 32 bits):
   * 32-bit divisions are a few instructions where 64-bit ones are a library call of ~70, as much as a GELU vector's math.
   */
  static String decodeU32(ExprRenderer r, List<Var> vars, String source, String from, String indent) {
    return decode(r, vars, source, from, indent, "unsigned", "(unsigned) ");
  }

  /**
   * decode through a local of C type `type`, each dim cast by `cast` before it divides. Each var is the remainder written as
   * from - quotient * dim (not from % dim): where the statements only re-flatten the vars into a contiguous address
   * ((b * T + t) * C ...), the compiler then folds quotient * dim + remainder back to `from` and drops the division
   * (nvcc 13: the bf16 GELU map's loop kept one 32-bit division of its two).
   */
  private static String decode(ExprRenderer r, List<Var> vars, String source, String from, String indent, String type, String cast) {
    StringBuilder b = new StringBuilder();
    if (!vars.isEmpty()) b.append(indent).append(type).append(' ').append(from).append(" = ").append(source).append(";\n");
    for (int i = vars.size() - 1; i >= 0; i--) {
      Var v = vars.get(i);
      if (i == 0) {
        b.append(indent).append("const int ").append(r.var(v)).append(" = (int) ").append(from).append(";\n");
        continue;
      }
      String q = from + "_" + i, dim = cast + r.dim(v.dim());
      b.append(indent).append("const ").append(type).append(' ').append(q).append(" = ").append(from).append(" / ").append(dim).append("; ")
          .append("const int ").append(r.var(v)).append(" = (int) (").append(from).append(" - ").append(q).append(" * ").append(dim).append("); ")
          .append(from).append(" = ").append(q).append(";\n");
    }
    return b.toString().stripTrailing();
  }

  private static String comment(List<Compute> group) {
    return group.size() + " statement(s): " + String.join("; ", group.stream().map(c -> c.out().dims() + (c.accumulate() ? " +=" : " =")).toList());
  }

  static Rendered render(String template, String kind, ExprRenderer r, Map<String, Object> model,
                                 String comment, Work work) {
    StringBuilder unpack = new StringBuilder();
    int i = 0;
    for (Dim d : r.dims()) unpack.append("  const int ").append(r.dim(d)).append(" = (int) a.v[").append(i++).append("];\n");
    for (Tensor t : r.tensors()) unpack.append("  const long long ").append(r.offset(t)).append(" = a.v[").append(i++).append("];\n");
    // bf16 tensors: 2-byte elements of the same allocation, their offsets counted in bf16 elements from F
    if (r.usesBf16()) unpack.append("  kiln_bf16* const H = (kiln_bf16*) F;\n");
    model.put("bf16", r.usesBf16());
    model.put("unpack", unpack.toString().stripTrailing());
    model.put("nargs", Math.max(1, i));
    model.put("kind", kind);
    model.put("comment", comment);
    String placeholder = "k_" + kind + "_HASH";
    model.put("name", placeholder);
    String source = process(template, model);
    String function = "k_" + kind + "_" + Kernels.hash(source);
    return new Rendered(kind, function, source.replace(placeholder, function), r.dims(), r.tensors(), work);
  }

  static String process(String template, Map<String, Object> model) {
    return Templates.process("cuda/" + template, model);
  }
}
