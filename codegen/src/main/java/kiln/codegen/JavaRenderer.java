// Renders lowered kernels as Java classes (templates/java/kernel.java.ftl): element-wise/reduction maps as loop nests
// over a flattened parallel range, matmuls as packed, register-tiled Vector API loops.
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

public final class JavaRenderer {
  /** The package of the generated classes. */
  public static final String PACKAGE = "kiln.generated";

  private JavaRenderer() {}

  // ---------------------------------------------------------------- maps (and scatters)

  /**
   * Statements of a group share loop vars. Parallel vars are the loop vars every statement writes
   * at a plain position (so items never race); the rest loop serially inside an item.
   */
  public static Rendered map(List<Compute> group) {
    ExprRenderer r = new ExprRenderer(new JavaDialect());
    Compute first = group.getFirst();
    List<Var> parallel = first.loopVars().stream().filter(v -> group.stream().allMatch(c -> c.outIndex().contains(v))).toList();
    List<Var> serial = first.loopVars().stream().filter(v -> !parallel.contains(v)).toList();
    // name outputs first, then loop vars in order, so the source is canonical
    for (Compute c : group) r.offset(c.out());
    for (Var v : first.loopVars()) r.var(v);

    String vector = parallel.isEmpty() ? null
        : JavaVector.group(r, group, parallel.getLast(), "  ".repeat(serial.size() + 2), null);
    String tail = vector == null ? null : JavaVector.group(r, group, parallel.getLast(), "  ".repeat(serial.size() + 2), "tm");
    Map<String, Object> m = new HashMap<>();
    if (vector == null) {
      m.put("decompose", decompose(r, parallel, parallel.size()));
      for (Var v : serial) r.dim(v.dim());   // named in the order the loops meet them, as the header binds them
      StringBuilder body = new StringBuilder();
      for (Compute c : group) statement(r, c, body, "  ".repeat(serial.size() + 1));
      m.put("statements", serialLoops(r, serial, body.toString(), "  "));
    } else {
      Var x = parallel.getLast();
      m.put("x", r.var(x));
      m.put("xd", r.dim(x.dim()));
      m.put("decompose", decompose(r, parallel, parallel.size() - 1));
      m.put("vector", serialLoops(r, serial, vector, "    "));
      m.put("tail", serialLoops(r, serial, tail, "    "));
    }
    String kind = first.accumulate() && !first.isFullCover() && !isSlice(first) ? "scatter" : "map";
    m.put("comments", group.stream().map(c -> canonical(r, c)).toList());
    m.put("header", header(r));
    String body = Templates.process("java/map.java.ftl", m);
    return new Rendered(kind, null, body, r.dims(), r.tensors(), new Work.Threads(Kernels.dims(parallel)));
  }

  /** Declarations of vars [0, n) from the item index r, the innermost first (it varies fastest). */
  private static List<String> decompose(ExprRenderer r, List<Var> vars, int n) {
    List<String> lines = new ArrayList<>();
    for (int i = n - 1; i >= 0; i--) {
      Var v = vars.get(i);
      lines.add("final int " + r.var(v) + (i == 0 ? " = r;" : " = r % " + r.dim(v.dim()) + "; r /= " + r.dim(v.dim()) + ";"));
    }
    return lines;
  }

  /** body (indented for its depth) inside loops over the serial vars, the outermost at indent. */
  private static String serialLoops(ExprRenderer r, List<Var> serial, String body, String indent) {
    StringBuilder loop = new StringBuilder();
    Statements.openLoops(r, serial, loop, indent);
    loop.append(body);
    Statements.closeLoops(serial.size(), loop, indent);
    return loop.toString();
  }

  /** One statement; a root reduction along a contiguous innermost var runs L lanes at a time. */
  private static void statement(ExprRenderer r, Compute c, StringBuilder out, String indent) {
    String reduction = c.rootReductions().isEmpty() ? null : JavaVector.reduction(r, c, indent);
    if (reduction == null) Statements.serial(r, c, out, indent, false);
    else Statements.reduce(r, c, reduction, Statements.target(r, c), out, indent, false);
  }

  private static boolean isSlice(Compute c) {
    return c.outIndex().stream().allMatch(e -> e instanceof Var || e instanceof Expr.Const);
  }

  private static String canonical(ExprRenderer r, Compute c) {
    return "t" + r.offset(c.out()).substring(1) + c.outIndex().stream().map(e -> e instanceof Var v ? r.var(v) : e.toString()).toList()
        + (c.accumulate() ? " += " : " = ") + "...";
  }

  /** Unpacks the argument array: dim sizes, then tensor offsets. Rendered after the body so all are known. */
  private static List<String> header(ExprRenderer r) {
    List<String> lines = new ArrayList<>();
    for (Dim d : r.dims()) lines.add("final int " + r.dim(d) + " = a[" + lines.size() + "];");
    for (Tensor t : r.tensors()) lines.add("final int " + r.offset(t) + " = a[" + lines.size() + "];");
    return lines;
  }

  // ---------------------------------------------------------------- matmul

  /** A matmul (templates/java/matmul.java.ftl): the sizes, strides and batch offsets of its var groups bound into the template. */
  public static Rendered matmul(MatmulMatch mm, boolean accumulate) {
    ExprRenderer r = new ExprRenderer(new JavaDialect());
    Compute c = mm.compute();
    Tensor tc = c.out(), ta = mm.a().tensor(), tb = mm.b().tensor();
    String oc = r.offset(tc), oa = r.offset(ta), ob = r.offset(tb);
    Map<String, Object> m = new HashMap<>();
    m.put("M", Kernels.product(r, mm.m()));
    m.put("N", Kernels.product(r, mm.n()));
    m.put("K", Kernels.product(r, mm.k()));
    m.put("am", Kernels.groupStride(r, ta, mm.a().index(), mm.m()));
    m.put("ak", Kernels.groupStride(r, ta, mm.a().index(), mm.k()));
    m.put("bk", Kernels.groupStride(r, tb, mm.b().index(), mm.k()));
    m.put("bn", Kernels.groupStride(r, tb, mm.b().index(), mm.n()));
    m.put("cm", Kernels.groupStride(r, tc, c.outIndex(), mm.m()));
    m.put("batch", decompose(r, mm.batch(), mm.batch().size()));
    m.put("baseA", oa + Kernels.base(r, ta, mm.a().index(), mm.batch()));
    m.put("baseB", ob + Kernels.base(r, tb, mm.b().index(), mm.batch()));
    m.put("baseC", oc + Kernels.base(r, tc, c.outIndex(), mm.batch()));
    if (tc.storage() == DType.BF16) m.put("round", JavaDialect.ROUND);
    boolean pack = !m.get("bn").equals("1");
    m.put("pack", pack);
    m.put("dot", pack && m.get("ak").equals("1") && m.get("bk").equals("1"));
    m.put("accumulate", accumulate);
    m.put("header", header(r));
    String body = Templates.process("java/matmul.java.ftl", m);
    return new Rendered("matmul" + (accumulate ? "+" : ""), null, body, r.dims(), r.tensors(),
        new Work.Tiles(Kernels.dims(mm.batch()), Kernels.dims(mm.m()), Kernels.dims(mm.n()), Kernels.dims(mm.k()), null, ta, tb, null));
  }

  /**
   * How a rendered matmul kernel stores its operands: "mk" (A's rows run along k) or "km", then
   * "kn" (B's rows run along n) or "nk", e.g. "mk/nk" for x·Wᵀ. Read from the strides it binds.
   */
  public static String layout(Rendered kernel) {
    String src = kernel.source();
    return (src.contains("final int am = 1,") ? "km" : "mk") + "/" + (src.contains(", bn = 1;") ? "kn" : "nk");
  }

  // ---------------------------------------------------------------- classes

  /**
   * Wraps a rendered body into a named class implementing CpuKernel (templates/java/kernel.java.ftl), in package
   * PACKAGE; a matmul's work takes the schedule as its tile.
   */
  public static Rendered toClass(Rendered rendered, Schedule schedule) {
    boolean mm = rendered.kind().startsWith("matmul");
    String prefix = "K_" + rendered.kind().replace("+", "_acc") + "_";
    String placeholder = prefix + "HASH";
    Map<String, Object> model = new HashMap<>();
    model.put("name", placeholder);
    model.put("kind", rendered.kind());
    model.put("body", rendered.source().stripTrailing().replaceAll("(?m)^(?=.)", "    ") + "\n");   // non-empty lines indented into run()
    model.put("matmul", mm);
    model.put("vectorised", !mm && rendered.source().contains("FloatVector"));
    model.put("schedule", schedule);
    model.put("accumulate", rendered.kind().endsWith("+"));
    String src = Templates.process("java/kernel.java.ftl", model);
    String className = prefix + Kernels.hash(src);
    Work work = rendered.work() instanceof Work.Tiles t ? t.withTile(schedule) : rendered.work();
    return new Rendered(rendered.kind(), className, src.replace(placeholder, className), rendered.dims(), rendered.tensors(), work);
  }

}
