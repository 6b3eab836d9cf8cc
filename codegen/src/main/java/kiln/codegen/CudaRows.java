// Renders a row group (RowFusion.Plan) as CUDA C through templates/cuda/row.cu.ftl: each stage's statement
// from the shared ExprRenderer walk, with the group's per-row values bound to locals, loads that do not vary
// along the row hoisted out of its loops, and row loads read through per-row base pointers (float4 lanes
// where the row allows; lanes of 8 where a bf16 tensor moves along the row: one 16-byte uint4 of bf16, two
// float4s of fp32), so the loops over the row index with 32-bit ints only.
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

final class CudaRows {
  /**
   * Most threads of a row, float4s a thread takes per pass of a row (the launch sizes blocks from them), and
   * rows a block where a warp serves a row. At most 256 threads a row: a long row (the classifier's 50304 logits)
   * then takes ≈ 25 vectors a thread between its barriers, and 8 rows' blocks share an SM, so one block's
   * reductions and barriers hide behind the others' loads (1024 threads a row left 2 blocks an SM, stalled
   * together at each row's end: 1.8 TB/s on the H200).
   */
  static final int MAX_THREADS = 256, VECTORS_PER_THREAD = 4, WARP_ROWS = 4;

  /** Vectors a thread of an online max+sum loop has in flight (its unroll): KILN_ONLINE_UNROLL, 1 to 8, default ONLINE_UNROLL. */
  static int onlineUnroll() {
    String env = System.getenv("KILN_ONLINE_UNROLL");
    if (env == null || env.isBlank()) return ONLINE_UNROLL;
    try {
      int n = Integer.parseInt(env.strip());
      if (n >= 1 && n <= 8) return n;
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("KILN_ONLINE_UNROLL: expected 1 to 8 vectors, found '" + env + "'");
  }

  /**
   * Most vectors a thread keeps in registers per row tensor on the resident path (R: the row's vectors over its threads).
   * GPT-2's layernorms at C = 768 take 3 (96 vectors of 8 on a warp).
   */
  static final int MAX_RESIDENT = 4;

  /** Whether row kernels get the resident path; KILN_ROW_RESIDENT=0 turns it off, to measure it. */
  static final boolean RESIDENT = !"0".equals(System.getenv("KILN_ROW_RESIDENT"));

  /** 1: with the online sum's exps as exp2f, 1.5 ms for the classifier forward at B=32 against 1.6 with 2 or 4 (docs/perf.md). */
  static final int ONLINE_UNROLL = 1;

  private static final String[] FIELDS = {"x", "y", "z", "w"};

  private final RowFusion.Plan plan;
  /**
   * Elements a thread moves per vector step: 4 (float4s) where every tensor moving along the row is fp32, 8 where
   * one is stored as bf16 (16 bytes of bf16 a load or store; an fp32 tensor of the same kernel moves two float4s).
   */
  private final int lanes;
  private final CudaDialect dialect = new CudaDialect();
  private final ExprRenderer r = new ExprRenderer(dialect);
  private final Var rv;
  private final String var;
  /** Per-row values the group produced (out[rows]), and loads of tensors the group never writes hoisted once a row. */
  private final Map<Expr, String> perRow = new HashMap<>();
  /** Row bases: a row load with r set to 0 -> the name of its pointer. */
  private final Map<Expr, String> bases = new LinkedHashMap<>();
  private final Set<Tensor> written = new HashSet<>();
  /** Tensors some stage read from global memory at [rows] before the group wrote them (thread 0's store waits for the block). */
  private final Set<Tensor> readEarly = new HashSet<>();
  /**
   * Whether the row's threads have read a float from global memory into a per-row local since the last barrier:
   * a per-row store must then wait for them, since the arena may give its output the storage of an input read
   * only here (in place: the classifier backward's dnorm over the forward's norm).
   */
  private boolean readSinceBarrier;
  private int names;
  /** The COLSUM stages' register partials (acc) and stores of the finished sum (store, of a local acc at the var r). */
  private final List<Map<String, Object>> sums = new ArrayList<>();
  /**
   * The resident path (0: none): where the row's extent, known when rendering, gives each thread R = `resident` vectors
   * of the row, the row tensors that two or more stages touch stay in registers (`cached`: float c[R][lanes] a tensor)
   * from their first read to the group's end; a written one is stored once, after the last stage that writes it.
   */
  private final int resident;
  /** Row bases (keys as base() makes them) kept in registers on the resident path. */
  private final Set<Expr> cached = new HashSet<>();
  /** For each cached base, the last stage (index into plan.stages()) that writes it. */
  private final Map<Expr, Integer> lastWrite = new HashMap<>();
  /** Cached bases whose registers hold the row so far, as the stages render in order. */
  private final Set<Expr> filled = new HashSet<>();
  /** The bf16 row an online max+sum pass reads and a later element map reads again, kept in the row cache; null: none. */
  private final Expr.Load smemRow;

  private CudaRows(RowFusion.Plan plan, int extent) {
    this.plan = plan;
    this.rv = plan.r();
    for (RowFusion.Stage s : plan.stages()) {
      r.offset(s.compute().out());
      written.add(s.compute().out());
    }
    for (Var v : plan.rows()) r.var(v);
    this.var = r.var(rv);
    this.lanes = movesBf16(plan) ? 8 : 4;
    this.smemRow = lanes == 8 && cache() ? cachedRow() : null;
    this.resident = residentVectors(extent);
  }

  /** The launch's work: threads a row and rows a block from the extent at run time; the column sums' partials. */
  private Work.Rows work() {
    int sums = plan.columnSums().size();
    return smemRow != null ? new Work.Rows(Kernels.dims(plan.rows()), plan.extent(), CACHE_THREADS, VECTORS_PER_THREAD, WARP_ROWS, lanes, 2, sums)
        : new Work.Rows(Kernels.dims(plan.rows()), plan.extent(), MAX_THREADS, VECTORS_PER_THREAD, WARP_ROWS, lanes, 0, sums);
  }

  /**
   * Whether the row kernel of plan can take its column sums (COLSUM stages) at this extent (0: not known): only on the
   * resident path, where every thread keeps the same R vectors of every row it runs, so its partial column sums stay in
   * registers (cs<N>[R][lanes]) across the rows. Otherwise (CudaLowering) the sums run as column reductions after it.
   */
  static boolean sumsColumns(RowFusion.Plan plan, int extent) {
    return new CudaRows(plan, extent).resident > 0;
  }

  /**
   * R, the vectors of the row each thread takes at this extent, where the group gains by keeping rows in registers:
   * no scatter or online pass (the classifier's rows, 50304 long, are streamed), every vector full (extent a multiple of
   * lanes), R at most MAX_RESIDENT, and some row tensor that varies by row touched by two stages or more (a layernorm
   * backward's dy, x and residual gradient; its forward's residual sum). Fills `cached` and `lastWrite`; 0 for none.
   */
  private int residentVectors(int extent) {
    if (!RESIDENT || extent <= 0 || extent % lanes != 0) return 0;
    List<RowFusion.Stage> all = plan.stages();
    for (int i = 0; i < all.size(); i++) {
      if (all.get(i).kind() == RowFusion.Kind.SCATTER || i + 1 < all.size() && online(all.get(i), all.get(i + 1))) return 0;
    }
    int threads = work().threads(extent), r = (extent / lanes + threads - 1) / threads;
    if (r > MAX_RESIDENT) return 0;
    Map<Expr, Integer> stages = new HashMap<>();
    for (int i = 0; i < all.size(); i++) {
      Compute c = all.get(i).compute();
      Set<Expr> touched = new HashSet<>();
      for (Expr.Load l : Exprs.loads(c.inner())) if (rowLoad(l)) touched.add(baseKey(l));
      if (all.get(i).kind() == RowFusion.Kind.MAP) {
        Expr key = baseKey(new Expr.Load(c.out(), c.outIndex()));
        touched.add(key);
        lastWrite.put(key, i);
      }
      for (Expr k : touched) stages.merge(k, 1, Integer::sum);
    }
    for (var e : stages.entrySet()) {
      Expr.Load key = (Expr.Load) e.getKey();
      boolean byRow = key.index().stream().anyMatch(x -> plan.rows().stream().anyMatch(v -> Exprs.uses(x, v)));
      if (e.getValue() >= 2 && byRow) cached.add(key);   // a row shared by every row (a norm's weight) stays in L1
    }
    lastWrite.keySet().retainAll(cached);
    return cached.isEmpty() ? 0 : r;
  }

  /** Whether some stage loads a bf16 tensor along the row or writes a bf16 row (the kernel then takes lanes of 8). */
  private static boolean movesBf16(RowFusion.Plan plan) {
    for (RowFusion.Stage s : plan.stages()) {
      Compute c = s.compute();
      if (s.kind() == RowFusion.Kind.MAP && c.out().storage() == DType.BF16) return true;
      for (Expr.Load l : Exprs.loads(c.inner())) {
        if (l.tensor().storage() == DType.BF16 && !l.index().isEmpty() && l.index().getLast().equals(plan.r())) return true;
      }
    }
    return false;
  }

  /** The row kernel of plan; extent: the row's length where known when rendering (its resident path), else 0. */
  static Rendered render(RowFusion.Plan plan, int extent) { return new CudaRows(plan, extent).render(); }

  private Rendered render() {
    if (!plan.columnSums().isEmpty() && resident == 0) {
      throw new IllegalArgumentException(plan.columnSums().getFirst().name() + ": a row kernel takes column sums only where its rows stay in "
          + "registers (CudaRows.sumsColumns; the lowering runs them as column reductions elsewhere)");
    }
    List<Map<String, Object>> stages = new ArrayList<>();
    List<RowFusion.Stage> all = plan.stages();
    for (int i = 0; i < all.size(); i++) {
      if (i + 1 < all.size() && online(all.get(i), all.get(i + 1))) {
        // stage() renders the sum with the max's local, which the online pass keeps as the running max
        boolean fills = smemRow != null && cachedBy(all.get(i), all.get(i + 1));
        cacheReads = fills;
        Map<String, Object> max = stage(i, false), sum = stage(++i, true);
        cacheReads = false;
        Map<String, Object> online = new HashMap<>(Map.of("kind", "online", "max", max, "sum", sum));
        if (fills) online.put("cacheRow", base(smemRow));   // the template copies this row's vectors into the cache first
        stages.add(online);
      } else {
        stages.add(stage(i, false));
      }
    }
    Map<String, Object> m = new HashMap<>();
    m.put("rows", CudaRenderer.items(r, plan.rows()));
    m.put("extent", r.dim(plan.extent()));
    m.put("decode", CudaRenderer.decode(r, plan.rows(), "p", "rr", "    "));
    List<Map<String, Object>> b = new ArrayList<>();
    List<String> pointers = new ArrayList<>();
    for (var e : bases.entrySet()) {
      Expr.Load l = (Expr.Load) e.getKey();
      b.add(Map.of("name", e.getValue(), "address", "&" + r.lvalue(l), "type", l.tensor().storage() == DType.BF16 ? "kiln_bf16" : "float"));
      pointers.add("(unsigned long long) " + e.getValue());
    }
    m.put("bases", b);
    m.put("aligned", pointers.isEmpty() ? "0" : "(" + String.join(" | ", pointers) + ") & 15");
    m.put("stages", stages);
    m.put("lanes", lanes);
    m.put("shift", Integer.numberOfTrailingZeros(lanes));
    m.put("reduces", plan.stages().stream().anyMatch(s -> s.kind() == RowFusion.Kind.REDUCE));
    m.put("onlineUnroll", onlineUnroll());
    m.put("resident", resident);
    m.put("caches", cached.stream().map(k -> cache((Expr.Load) k)).sorted().toList());
    m.put("colsums", sums);
    m.put("var", var);
    if (smemRow != null) m.put("cache", true);
    String comment = plan.stages().size() + " stages along rows of " + plan.extent().name() + ": "
        + String.join("; ", plan.stages().stream().map(s -> s.kind().name().toLowerCase() + " " + s.compute().out().dims()
            + (s.compute().accumulate() ? " +=" : " =")).toList());
    if (resident > 0) comment += "; resident: " + resident + " vectors a thread, " + cached.size() + " row tensors in registers";
    if (!sums.isEmpty()) comment += "; " + sums.size() + " column sums over the rows";
    return CudaRenderer.render("row.cu.ftl", "row", r, m, comment, work());
  }

  /** A stage's model; online: the sum of an online pass (its exps spelled CudaDialect.fastExp). */
  private Map<String, Object> stage(int index, boolean online) {
    RowFusion.Stage st = plan.stages().get(index);
    Compute c = st.compute();
    boolean perRowOut = st.kind() == RowFusion.Kind.ROW || st.kind() == RowFusion.Kind.REDUCE;
    Expr.Load self = new Expr.Load(c.out(), perRowOut ? plan.rows().stream().map(v -> (Expr) v).toList() : c.outIndex());
    Map<String, Object> m = new HashMap<>();
    m.put("kind", st.kind().name().toLowerCase());
    m.put("comment", st.kind().name().toLowerCase() + " " + c.out().dims() + (c.accumulate() ? " +=" : " =")
        + (st.kind() == RowFusion.Kind.REDUCE ? " " + c.rootReductions().getFirst().op().name().toLowerCase() + " along the row" : ""));
    m.put("var", var);
    Expr value = c.inner();
    // what the stage reads: its value, and its own old value where a per-row stage adds to it
    List<Expr> reads = new ArrayList<>(List.of(value));
    if (perRowOut && c.accumulate()) reads.add(self);
    if (st.kind() == RowFusion.Kind.SCATTER) reads.addAll(c.outIndex());
    Map<Expr, String> bind = new HashMap<>(perRow);
    List<String> hoists = new ArrayList<>();
    hoist(reads, bind, hoists);
    m.put("hoists", hoists);
    String local = "s" + names++;
    m.put("local", local);
    boolean sync = readEarly.contains(c.out()) || perRowOut && readSinceBarrier;
    m.put("syncBefore", sync);
    if (sync || st.kind() == RowFusion.Kind.SCATTER) readSinceBarrier = false;   // a barrier (a warp's reduction has none: only shuffles)
    switch (st.kind()) {
      case ROW -> {
        List<String> lets = new ArrayList<>();
        Expr v = c.accumulate() ? new Expr.Binary(Expr.BinOp.ADD, self, value) : value;
        // later stages read the local: as stored (a bf16 per-row value rounds), as they would read it back
        m.put("value", r.dialect().asStored(r.renderWithLocals(v, lets, bind), c.out().storage()));
        m.put("lets", lets);
        m.put("store", storeRow(c, local));
        perRow.put(self, local);
      }
      case SCATTER -> {
        List<String> lets = new ArrayList<>();
        String v = r.renderWithLocals(value, lets, bind);
        String target = r.lvalue(new Expr.Load(c.out(), c.outIndex()), lets, bind);
        m.put("lets", lets);
        m.put("store", r.dialect().store(target, v, true, false, c.out().storage()));
      }
      case REDUCE -> {
        boolean max = c.rootReductions().getFirst().op() == Expr.RedOp.MAX;
        String acc = "a" + names++;
        m.put("acc", acc);
        m.put("init", r.dialect().f32(max ? Float.NEGATIVE_INFINITY : 0f));
        // folding a term (%s) into the accumulator, spelled by the dialect: fmaxf(acc, %s) or acc + (%s)
        m.put("combine", max ? r.dialect().function(Expr.BinOp.MAX, acc, "%s", false) : acc + " + (%s)");
        loops(m, value, bind, online);
        if (resident > 0) m.put("res", resident(c, st.kind(), index, value, bind));
        m.put("op", max ? "max" : "sum");
        m.put("prior", c.accumulate() ? r.renderWithLocals(self, new ArrayList<>(), bind) + " + " : "");
        // a bf16 per-row value: later stages read the local as stored (rounded), as they would read it back
        if (c.out().storage() == DType.BF16) m.put("rounded", r.dialect().asStored(local + "w", DType.BF16));
        m.put("store", storeRow(c, local));
        perRow.put(self, local);
      }
      case COLSUM -> {
        // this thread's partial sums of its columns over the rows it runs, in registers until the rows are done
        String acc = "cs" + names++;
        m.put("acc", acc);
        // (no streaming loops: a kernel with column sums runs the resident path only)
        m.put("usesVar", Exprs.usesOutside(value, rv, rowLoads(value, bind)));
        m.put("res", resident(c, st.kind(), index, value, bind));
        sums.add(Map.of("acc", acc, "store", Statements.store(r, c, Statements.target(r, c), "acc", false)));
      }
      case MAP -> {
        cacheReads = smemRow != null;
        loops(m, value, bind, false);
        cacheReads = false;   // (the online pass sets it around its two stages)
        String base = base(self);
        m.put("store", r.dialect().store(base + "[" + var + "]", (String) m.get("value"), c.accumulate(), false, c.out().storage()));
        if (lanes == 4) {
          m.put("vecStore", c.accumulate()
              ? "float4 u = reinterpret_cast<float4*>(" + base + ")[q]; u.x += w.x; u.y += w.y; u.z += w.z; u.w += w.w; reinterpret_cast<float4*>(" + base + ")[q] = u"
              : "reinterpret_cast<float4*>(" + base + ")[q] = w");
        } else {
          m.put("vecStore", "kiln_" + (c.accumulate() ? "add" : "store") + "8(" + base + " + 8 * q, w)");
        }
        if (resident > 0) m.put("res", resident(c, st.kind(), index, value, bind));
      }
    }
    return m;
  }

  /**
   * Whether a max along the row and the sum after it can run as one pass: both fp32 and stored (not +=), and each
   * term of the sum scales as exp(-max) (exp(a - max) times, or selected beside, terms free of the max: softmax's
   * and cross-entropy's normaliser), so a sum taken against a smaller running max is rescaled exactly by
   * exp(running - max).
   */
  private boolean online(RowFusion.Stage a, RowFusion.Stage b) {
    if (a.kind() != RowFusion.Kind.REDUCE || b.kind() != RowFusion.Kind.REDUCE) return false;
    Compute ca = a.compute(), cb = b.compute();
    if (ca.accumulate() || cb.accumulate() || ca.out().storage() != DType.F32 || cb.out().storage() != DType.F32) return false;
    if (ca.rootReductions().getFirst().op() != Expr.RedOp.MAX || cb.rootReductions().getFirst().op() != Expr.RedOp.SUM) return false;
    Expr max = new Expr.Load(ca.out(), plan.rows().stream().map(v -> (Expr) v).toList());
    return scaling(cb.inner(), max) == Scaling.EXP;
  }

  /** How a term depends on the max m: not at all (FREE, ZERO for the constant 0), as exp(-m) (EXP), otherwise (OTHER). */
  private enum Scaling { FREE, ZERO, EXP, OTHER }

  private static Scaling scaling(Expr e, Expr m) {
    if (!Exprs.uses(e, m)) return e instanceof Expr.Const k && k.value() == 0 ? Scaling.ZERO : Scaling.FREE;
    return switch (e) {
      case Expr.Unary u when u.op() == Expr.UnOp.EXP -> u.x() instanceof Expr.Binary d && d.op() == Expr.BinOp.SUB && d.b().equals(m)
          && !Exprs.uses(d.a(), m) ? Scaling.EXP : Scaling.OTHER;
      case Expr.Unary u when u.op() == Expr.UnOp.NEG -> scaling(u.x(), m) == Scaling.EXP ? Scaling.EXP : Scaling.OTHER;
      case Expr.Binary x when x.op() == Expr.BinOp.MUL -> {
        Scaling p = scaling(x.a(), m), q = scaling(x.b(), m);
        yield (p == Scaling.EXP) != (q == Scaling.EXP) && p != Scaling.OTHER && q != Scaling.OTHER ? Scaling.EXP : Scaling.OTHER;   // one factor
      }
      case Expr.Binary x when x.op() == Expr.BinOp.DIV -> scaling(x.a(), m) == Scaling.EXP && !Exprs.uses(x.b(), m) ? Scaling.EXP : Scaling.OTHER;
      case Expr.Binary x when x.op() == Expr.BinOp.ADD || x.op() == Expr.BinOp.SUB -> {
        Scaling p = scaling(x.a(), m), q = scaling(x.b(), m);
        yield (p == Scaling.EXP || p == Scaling.ZERO) && (q == Scaling.EXP || q == Scaling.ZERO) ? Scaling.EXP : Scaling.OTHER;
      }
      case Expr.Select s -> {
        Scaling p = scaling(s.then(), m), q = scaling(s.otherwise(), m);
        yield !Exprs.uses(s.cond(), m) && (p == Scaling.EXP || p == Scaling.ZERO) && (q == Scaling.EXP || q == Scaling.ZERO) ? Scaling.EXP : Scaling.OTHER;
      }
      default -> Scaling.OTHER;
    };
  }

  /**
   * The scalar loop's lets and value, and the vector loop's float4 loads and four lanes, of a statement along the row;
   * fastExp: each exp(x) in it spelled CudaDialect.fastExp (an online normaliser's terms).
   */
  private void loops(Map<String, Object> m, Expr value, Map<Expr, String> bind, boolean fastExp) {
    List<Expr.Load> row = rowLoads(value, bind);
    Map<Expr, String> scalar = new HashMap<>(bind);
    for (Expr.Load l : row) scalar.put(l, r.dialect().widen(base(l) + "[" + var + "]", l.tensor().storage()));
    List<String> lets = new ArrayList<>();
    m.put("value", r.renderWithLocals(value, lets, fastExp ? fastExp(value, scalar, lets) : scalar));
    m.put("lets", lets);
    List<String> vecLoads = new ArrayList<>();
    List<String> vecNames = new ArrayList<>();
    for (Expr.Load l : row) {
      String v = "v" + names++;
      vecNames.add(v);
      if (cacheReads && isCached(l)) {
        vecLoads.add(cacheLoad(v, l));
        continue;
      }
      vecLoads.add(vectorLoad(v, l));
    }
    List<Map<String, Object>> lanes = new ArrayList<>();
    for (int j = 0; j < this.lanes; j++) {
      Map<Expr, String> lane = new HashMap<>(bind);
      for (int k = 0; k < row.size(); k++) lane.put(row.get(k), vecNames.get(k) + field(j));
      List<String> laneLets = new ArrayList<>();
      String v = r.renderWithLocals(value, laneLets, fastExp ? fastExp(value, lane, laneLets) : lane);
      lanes.add(Map.of("lets", laneLets, "value", v, "field", field(j)));
    }
    m.put("usesVar", Exprs.usesOutside(value, rv, row));   // does the statement name r outside its row loads (a mask, an index)?
    m.put("vecLoads", vecLoads);
    m.put("lanes", lanes);
  }

  /** The loads of value along the row that bind does not hold, each once, in order. */
  private List<Expr.Load> rowLoads(Expr value, Map<Expr, String> bind) {
    List<Expr.Load> row = new ArrayList<>();
    for (Expr.Load l : Exprs.loads(value)) if (!bind.containsKey(l) && rowLoad(l) && !row.contains(l)) row.add(l);
    return row;
  }

  /** The statement that loads vector q of l's row into a local v: a float4, or float[8] through kiln_load8. */
  private String vectorLoad(String v, Expr.Load l) {
    return lanes == 4 ? "const float4 " + v + " = reinterpret_cast<const float4*>(" + base(l) + ")[q];"
        : "float " + v + "[8]; kiln_load8(" + v + ", " + base(l) + " + 8 * q);";
  }

  /** Lane j of a vector local: .x/.y/.z/.w of a float4, [j] of a float[8]. */
  private String field(int j) { return lanes == 4 ? "." + FIELDS[j] : "[" + j + "]"; }

  /** bind, and each exp(x) in value (x rendered with bind, its lets into lets) spelled CudaDialect.fastExp. */
  private Map<Expr, String> fastExp(Expr value, Map<Expr, String> bind, List<String> lets) {
    Map<Expr, String> out = new HashMap<>(bind);
    Exprs.visit(value, e -> {
      if (e instanceof Expr.Unary u && u.op() == Expr.UnOp.EXP && !out.containsKey(u)) out.put(u, dialect.fastExp(r.renderWithLocals(u.x(), lets, bind)));
    });
    return out;
  }

  /** A load along the row: an F32 tensor whose last dim is the row's, indexed by r last and nowhere else. */
  private boolean rowLoad(Expr.Load l) {
    if (l.tensor().dtype() != DType.F32 || l.index().isEmpty() || !l.index().getLast().equals(rv)) return false;
    if (!l.tensor().dims().getLast().equals(plan.extent())) return false;
    for (int i = 0; i < l.index().size() - 1; i++) if (Exprs.uses(l.index().get(i), rv)) return false;
    return true;
  }

  // ---- The row cache (KILN_ROW_CACHE=1; off by default: slower, see cache()): a long bf16 row read twice, once by an online
  // max+sum pass and again by an element map after it (the joined classifier: the logits for the loss, then for dlogits), is
  // copied whole into dynamic shared memory before the first pass (row.cu.ftl: cp.async, every vector of the thread's share of
  // the row in flight at once, where the pass's own loads keep one in flight) and both passes read it there,
  // instead of a second read from L2 or DRAM (a 50,304-logit row is 100 KB: two blocks an SM, Work.Rows.CACHE_LIMIT). The
  // kernel checks the size it was given (kiln_row_cache in the template), so a row too long for the cache, or an unaligned
  // one (the scalar loop), reads global memory as before. A thread copies and reads back only its own vectors, so the cache
  // needs no barrier (cp.async.wait_all is the thread's own).

  /**
   * Whether row kernels keep a row read twice in shared memory: off unless KILN_ROW_CACHE=1. Measured on the H200 (docs/perf.md,
   * "The classifier's forward and backward in one pass"): the joined classifier took 3.2 ms with the cache (filled as the
   * online pass loads, or whole by cp.async before it) against 2.8 ms reading the row again from global memory: the cache's
   * 100 KB a block leave two blocks of 512 threads an SM, where the kernel without it runs 8 blocks of 256 that hide each other's
   * latencies and reductions, and part of its second read hits L2.
   */
  static boolean cache() {
    Boolean o = CudaLowering.rowCacheOverride;
    return o != null ? o : CACHE;
  }

  private static final boolean CACHE = "1".equals(System.getenv("KILN_ROW_CACHE"));

  /**
   * Threads a row of a kernel with a row cache: two blocks an SM (the cache's size), so 512 threads a block for 1024 an
   * SM, at most 64 registers a thread.
   */
  static final int CACHE_THREADS = 512;

  /** Whether the stage being rendered (the online pass that fills the cache, the element map after it) reads the cached row from there. */
  private boolean cacheReads;

  /** The row load to cache: bf16, read along the row by an online pass's stages and by an element map after them; or null. */
  private Expr.Load cachedRow() {
    List<RowFusion.Stage> all = plan.stages();
    for (int i = 0; i + 1 < all.size(); i++) {
      if (!online(all.get(i), all.get(i + 1))) continue;
      for (Expr.Load l : Exprs.loads(all.get(i).compute().inner())) {
        if (!rowLoad(l) || l.tensor().storage() != DType.BF16) continue;
        for (int j = i + 2; j < all.size(); j++) {
          if (all.get(j).kind() == RowFusion.Kind.MAP && Exprs.loads(all.get(j).compute().inner()).contains(l)) return l;
        }
      }
      return null;
    }
    return null;
  }

  private boolean isCached(Expr.Load l) { return smemRow != null && l.equals(smemRow); }

  /** Whether the online pass of max and sum reads the cached row (the pass that fills the cache). */
  private boolean cachedBy(RowFusion.Stage max, RowFusion.Stage sum) {
    return Exprs.loads(max.compute().inner()).contains(smemRow) || Exprs.loads(sum.compute().inner()).contains(smemRow);
  }

  /** A load of vector q of the cached row (the online pass's, the element map's): from the cache where the row is cached, else global memory. */
  private String cacheLoad(String v, Expr.Load l) {
    return "float " + v + "[8]; if (cached) kiln_unpack8(" + v + ", kiln_cache[q]); else kiln_load8(" + v + ", " + base(l) + " + 8 * q);";
  }

  /** A per-row stage's store of its local (already as stored) into its output at the rows vars. */
  private String storeRow(Compute c, String local) {
    return r.dialect().store(Statements.target(r, c), local, false, false, c.out().storage());
  }

  /** The name of the pointer to element 0 of a row load's row (declared once per row). */
  private String base(Expr.Load l) { return bases.computeIfAbsent(baseKey(l), k -> "row" + bases.size()); }

  /** A row load's row: the load with the row var set to 0 (what base() names). */
  private static Expr.Load baseKey(Expr.Load l) {
    List<Expr> index = new ArrayList<>(l.index());
    index.set(index.size() - 1, new Expr.Const(0, DType.I32));
    return new Expr.Load(l.tensor(), index);
  }

  /** The registers of a cached row on the resident path: c<N>[R][lanes] for row<N>. */
  private String cache(Expr.Load l) { return "c" + base(l).substring("row".length()); }

  /**
   * A map or reduce stage on the resident path (row.cu.ftl's resident block, inside `for k < R`, q = threadIdx.x + k
   * blockDim.x): fills (a cached row's first read, loaded for every k before the stage's loop), loads (the vector loads
   * of rows not cached), lanes (each lane's statement over the registers), stores (a map's: into its registers, rounded as
   * stored, or straight to memory where no later stage reads it), flushes (a cached row stored after its last write).
   */
  private Map<String, Object> resident(Compute c, RowFusion.Kind kind, int index, Expr value, Map<Expr, String> bind) {
    List<Expr.Load> row = rowLoads(value, bind);
    List<String> fills = new ArrayList<>(), loads = new ArrayList<>();
    Map<Expr.Load, String> vectors = new HashMap<>();
    for (Expr.Load l : row) {
      Expr.Load key = baseKey(l);
      if (cached.contains(key)) {
        if (filled.add(key)) fills.add(fill(key));
      } else {
        String v = "v" + names++;
        vectors.put(l, v);
        loads.add(vectorLoad(v, l));
      }
    }
    Expr.Load self = kind == RowFusion.Kind.MAP ? baseKey(new Expr.Load(c.out(), c.outIndex())) : null;
    boolean keep = self != null && cached.contains(self);
    if (keep && c.accumulate() && filled.add(self)) fills.add(fill(self));
    List<Map<String, Object>> lanesOut = new ArrayList<>();
    List<String> stores = new ArrayList<>();
    for (int j = 0; j < lanes; j++) {
      Map<Expr, String> lane = new HashMap<>(bind);
      for (Expr.Load l : row) {
        lane.put(l, vectors.containsKey(l) ? vectors.get(l) + field(j) : cache(baseKey(l)) + "[k][" + j + "]");
      }
      List<String> laneLets = new ArrayList<>();
      String v = r.renderWithLocals(value, laneLets, lane);
      String field = field(j);
      lanesOut.add(Map.of("lets", laneLets, "value", v, "field", field));
      if (keep) {
        String reg = cache(self) + "[k][" + j + "]";
        stores.add(reg + " = " + r.dialect().asStored(c.accumulate() ? reg + " + w" + field : "w" + field, c.out().storage()) + ";");
      }
    }
    if (keep) filled.add(self);
    List<String> flushes = new ArrayList<>();
    if (keep && lastWrite.get(self) == index) {
      String reg = cache(self) + "[k]";
      flushes.add(lanes == 4
          ? "reinterpret_cast<float4*>(" + base(self) + ")[q] = make_float4(" + reg + "[0], " + reg + "[1], " + reg + "[2], " + reg + "[3]);"
          : "kiln_store8(" + base(self) + " + 8 * q, " + reg + ");");
    }
    Map<String, Object> m = new HashMap<>();
    m.put("fills", fills);
    m.put("loads", loads);
    m.put("lanes", lanesOut);
    m.put("stores", stores);
    m.put("direct", self != null && !keep);
    m.put("flushes", flushes);
    return m;
  }

  /** The statement that loads vector q of a cached row into its registers [k]. */
  private String fill(Expr.Load key) {
    String reg = cache(key) + "[k]", base = base(key);
    return lanes == 4
        ? "{ const float4 t = reinterpret_cast<const float4*>(" + base + ")[q]; " + reg + "[0] = t.x; " + reg + "[1] = t.y; " + reg + "[2] = t.z; " + reg + "[3] = t.w; }"
        : "kiln_load8(" + reg + ", " + base + " + 8 * q);";
  }

  /**
   * Loads in `reads` that do not vary along the row (and are not per-row values already bound) become locals
   * declared before the stage's loops, innermost first; those of tensors the group never writes are kept for
   * later stages of the same row.
   */
  private void hoist(List<Expr> reads, Map<Expr, String> bind, List<String> out) {
    List<Expr.Load> loads = new ArrayList<>();
    for (Expr e : reads) for (Expr.Load l : Exprs.loads(e)) if (!loads.contains(l)) loads.add(l);
    for (int i = loads.size() - 1; i >= 0; i--) {
      Expr.Load l = loads.get(i);
      if (bind.containsKey(l) || Exprs.uses(l, rv)) continue;
      String name = "h" + names++;
      out.add(r.dialect().constant() + " " + r.type(l.type()) + " " + name + " = " + r.renderWithLocals(l, new ArrayList<>(), bind) + ";");
      bind.put(l, name);
      if (written.contains(l.tensor())) readEarly.add(l.tensor());
      if (l.tensor().dtype() == DType.F32) readSinceBarrier = true;
      else perRow.put(l, name);
    }
  }
}
