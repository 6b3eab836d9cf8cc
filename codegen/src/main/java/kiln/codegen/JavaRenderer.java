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
    List<Var> parallel = new ArrayList<>();
    for (Var v : first.loopVars()) {
      if (group.stream().allMatch(c -> c.outIndex().contains(v))) parallel.add(v);
    }
    List<Var> serial = new ArrayList<>(first.loopVars());
    serial.removeAll(parallel);
    // name outputs first, then loop vars in order, so the source is canonical
    for (Compute c : group) r.offset(c.out());
    for (Var v : first.loopVars()) r.var(v);

    String vector = parallel.isEmpty() ? null
        : JavaVector.group(r, group, parallel.getLast(), "  ".repeat(serial.size() + 2), null);
    String tail = vector == null ? null : JavaVector.group(r, group, parallel.getLast(), "  ".repeat(serial.size() + 2), "tm");
    StringBuilder loop = new StringBuilder();
    String indent = "  ";
    if (vector == null) {
      loop.append("for (int p = lo; p < hi; p++) {\n");
      decompose(r, parallel, parallel.size(), loop, indent);
      statements(r, group, serial, loop, indent);
      loop.append("}\n");
    } else {
      // items are flattened over the parallel vars; x, the innermost, runs in segments of a row:
      // L lanes at a time, then one masked chunk, so every element takes the same arithmetic
      // wherever the pool's split falls (results do not depend on the thread count)
      Var x = parallel.getLast();
      String xv = r.var(x), xd = r.dim(x.dim());
      loop.append("for (int p = lo; p < hi; ) {\n");
      loop.append(indent).append("int r = p;\n");
      loop.append(indent).append("final int xs = r % ").append(xd).append("; r /= ").append(xd).append(";\n");
      decompose(r, parallel, parallel.size() - 1, loop, indent);
      loop.append(indent).append("final int xe = Math.min(").append(xd).append(", xs + (hi - p));\n");
      loop.append(indent).append("int xv = xs;\n");
      loop.append(indent).append("for (; xv + L <= xe; xv += L) {\n");
      loop.append(indent).append("  final int ").append(xv).append(" = xv;\n");
      serialLoops(r, serial, vector, loop, indent + "  ");
      loop.append(indent).append("}\n");
      loop.append(indent).append("if (xv < xe) {\n");
      loop.append(indent).append("  final int ").append(xv).append(" = xv;\n");
      loop.append(indent).append("  final VectorMask<Float> tm = S.indexInRange(0, xe - xv);\n");
      serialLoops(r, serial, tail, loop, indent + "  ");
      loop.append(indent).append("}\n");
      loop.append(indent).append("p += xe - xs;\n");
      loop.append("}\n");
    }
    String kind = first.accumulate() && !first.isFullCover() && !isSlice(first) ? "scatter" : "map";
    StringBuilder comment = new StringBuilder();
    for (Compute c : group) comment.append("// ").append(canonical(r, c)).append('\n');
    String body = header(r) + loop;
    return new Rendered(kind, null, comment + body, r.dims(), r.tensors(), new Work.Threads(Kernels.dims(parallel)));
  }

  /** Declares parallel vars [0, n) from the item index r (the innermost varies fastest). */
  private static void decompose(ExprRenderer r, List<Var> parallel, int n, StringBuilder loop, String indent) {
    if (n == 0) return;
    if (n == parallel.size()) loop.append(indent).append("int r = p;\n");
    for (int i = n - 1; i >= 0; i--) {
      Var v = parallel.get(i);
      if (i == 0) loop.append(indent).append("final int ").append(r.var(v)).append(" = r;\n");
      else loop.append(indent).append("final int ").append(r.var(v)).append(" = r % ").append(r.dim(v.dim()))
          .append("; r /= ").append(r.dim(v.dim())).append(";\n");
    }
  }

  /** The group's statements, scalar in the map's vars, inside loops over its serial vars. */
  private static void statements(ExprRenderer r, List<Compute> group, List<Var> serial, StringBuilder loop, String indent) {
    for (Var v : serial) r.dim(v.dim());   // named in the order the loops meet them, as the header binds them
    StringBuilder body = new StringBuilder();
    for (Compute c : group) statement(r, c, body, indent + "  ".repeat(serial.size()));
    serialLoops(r, serial, body.toString(), loop, indent);
  }

  /** body (indented for its depth) inside loops over the serial vars, the outermost at indent. */
  private static void serialLoops(ExprRenderer r, List<Var> serial, String body, StringBuilder loop, String indent) {
    Statements.openLoops(r, serial, loop, indent);
    loop.append(body);
    Statements.closeLoops(serial.size(), loop, indent);
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
  static String header(ExprRenderer r) {
    StringBuilder h = new StringBuilder();
    int i = 0;
    for (Dim d : r.dims()) h.append("final int ").append(r.dim(d)).append(" = a[").append(i++).append("];\n");
    for (Tensor t : r.tensors()) h.append("final int ").append(r.offset(t)).append(" = a[").append(i++).append("];\n");
    return h.toString();
  }

  // ---------------------------------------------------------------- matmul

  public static Rendered matmul(MatmulMatch mm, boolean accumulate) {
    ExprRenderer r = new ExprRenderer(new JavaDialect());
    Compute c = mm.compute();
    Tensor tc = c.out(), ta = mm.a().tensor(), tb = mm.b().tensor();
    String oc = r.offset(tc), oa = r.offset(ta), ob = r.offset(tb);
    StringBuilder s = new StringBuilder();
    s.append("final int M = ").append(Kernels.product(r, mm.m())).append(", N = ").append(Kernels.product(r, mm.n()))
        .append(", K = ").append(Kernels.product(r, mm.k())).append(";\n");
    s.append("final int am = ").append(Kernels.groupStride(r, ta, mm.a().index(), mm.m())).append(", ak = ")
        .append(Kernels.groupStride(r, ta, mm.a().index(), mm.k())).append(";\n");
    s.append("final int bk = ").append(Kernels.groupStride(r, tb, mm.b().index(), mm.k())).append(", bn = ")
        .append(Kernels.groupStride(r, tb, mm.b().index(), mm.n())).append(";\n");
    s.append("final int cm = ").append(Kernels.groupStride(r, tc, c.outIndex(), mm.m())).append(";\n");
    s.append("final int nPanels = (N + NB - 1) / NB, mChunks = (M + MB - 1) / MB;\n");
    s.append("int packed = -1;   // (batch, panel) whose B the scratch holds, when K fits one block\n");
    s.append("for (int u = lo; u < hi; u++) {\n");
    s.append("  int r = u;\n  final int mc = r % mChunks; r /= mChunks;\n  final int np = r % nPanels; r /= nPanels;\n");
    for (int i = mm.batch().size() - 1; i >= 0; i--) {
      Var v = mm.batch().get(i);
      s.append("  final int ").append(r.var(v)).append(i == 0 ? " = r;\n" : " = r % " + r.dim(v.dim()) + "; r /= " + r.dim(v.dim()) + ";\n");
    }
    s.append("  final int baseA = ").append(oa).append(Kernels.base(r, ta, mm.a().index(), mm.batch())).append(";\n");
    s.append("  final int baseB = ").append(ob).append(Kernels.base(r, tb, mm.b().index(), mm.batch())).append(";\n");
    s.append("  final int baseC = ").append(oc).append(Kernels.base(r, tc, c.outIndex(), mm.batch())).append(";\n");
    // a bf16 C (emulated: floats in F) holds fp32 partial sums between K blocks and is rounded once at the end,
    // as the GPU rounds its fp32 accumulators once on store
    String roundC = tc.storage() != DType.BF16 ? "" : """
          for (int m = m0; m < m1; m++) {
            for (int j = 0; j < nw; j++) F[baseC + m * cm + n0 + j] = %s(F[baseC + m * cm + n0 + j]);
          }
        """.formatted(JavaDialect.ROUND);
    boolean pack = !Kernels.groupStride(r, tb, mm.b().index(), mm.n()).equals("1");
    boolean dot = pack && Kernels.groupStride(r, ta, mm.a().index(), mm.k()).equals("1") && Kernels.groupStride(r, tb, mm.b().index(), mm.k()).equals("1");
    s.append("""
          final int n0 = np * NB, nw = Math.min(NB, N - n0);
          final int m0 = mc * MB, m1 = Math.min(M, m0 + MB);
        """);
    if (dot) {
      // A and B both run along k: with fewer rows than a tile, packing B would cost as much as the
      // product (one row per token when sampling), so take dot products along k instead
      s.append("""
            if (M < 4) {
              for (int m = m0; m < m1; m++) {
                for (int j = 0; j < nw; j++) dot(F, baseA + m * am, baseB + (n0 + j) * bn, K, baseC + m * cm + n0 + j);
              }
          """ + roundC + """
              continue;
            }
          """);
    }
    s.append("""
          for (int k0 = 0; k0 < K; k0 += KB) {
            final int kw = Math.min(KB, K - k0);
            final boolean first = k0 == 0 && !ACCUMULATE;
        """);
    if (pack) {
      // consecutive items of one (batch, panel) differ only in their rows: with K in one block
      // the panel packed for the first serves the rest
      s.append("""
                if (K > KB || u / mChunks != packed) {
                  for (int j = 0; j < nw; j++) {
                    final int src = baseB + (n0 + j) * bn + k0 * bk;
                    for (int k = 0; k < kw; k++) P[k * NB + j] = F[src + k * bk];
                  }
                  packed = u / mChunks;
                }
                final float[] Bv = P;
                final int bBase = 0, bStride = NB;
            """);
    } else {
      s.append("""
                final float[] Bv = F;
                final int bBase = baseB + k0 * bk + n0, bStride = bk;
            """);
    }
    s.append("""
            int m = m0;
            if (nw == NB) {
              for (; m + 4 <= m1; m += 4) tile4(F, Bv, bBase, bStride, baseA + m * am + k0 * ak, am, ak, kw, baseC + m * cm + n0, cm, first);
            } else {
              for (; m + 4 <= m1; m += 4) tile4m(F, Bv, bBase, bStride, baseA + m * am + k0 * ak, am, ak, kw, baseC + m * cm + n0, cm, first, nw);
            }
            for (; m < m1; m++) row(F, Bv, bBase, bStride, baseA + m * am + k0 * ak, ak, kw, baseC + m * cm + n0, nw, first);
          }
        """ + roundC + """
        }
        """);
    String body = "// matmul: C[batch, m, n] " + (accumulate ? "+=" : "=") + " sum_k A[m, k] * B[k, n]"
        + (pack ? ", B packed per panel" : ", B read in place") + "\n" + header(r) + s;
    return new Rendered("matmul" + (accumulate ? "+" : ""), null, body, r.dims(), r.tensors(),
        new Work.Tiles(Kernels.dims(mm.batch()), Kernels.dims(mm.m()), Kernels.dims(mm.n()), Kernels.dims(mm.k()), null, ta, tb));
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
    model.put("body", indent(rendered.source(), "    "));
    model.put("matmul", mm);
    model.put("vectorised", !mm && rendered.source().contains("FloatVector"));
    if (mm) {
      model.put("nr", schedule.nrVectors());
      model.put("mb", schedule.mb());
      model.put("kb", schedule.kb());
      model.put("accumulate", rendered.kind().endsWith("+"));
    }
    String src = Templates.process("java/kernel.java.ftl", model);
    String className = prefix + Kernels.hash(src);
    Work work = rendered.work() instanceof Work.Tiles t ? t.withTile(schedule) : rendered.work();
    return new Rendered(rendered.kind(), className, src.replace(placeholder, className), rendered.dims(), rendered.tensors(), work);
  }

  private static String indent(String text, String by) {
    StringBuilder b = new StringBuilder();
    for (String line : text.split("\n", -1)) b.append(line.isEmpty() ? "" : by + line).append('\n');
    return b.toString().stripTrailing() + "\n";
  }

}
