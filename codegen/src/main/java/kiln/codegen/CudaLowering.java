// The CUDA backend of the lowering pipeline (Lowering): fuse (rows, then element-wise; matmul epilogues), every kind
// (row, extern, matmul, column reduce or reduce, map/scatter) scheduled and rendered by CudaRenderer and its kernels.
// At BF16 on sm_90 a matmul of two bf16 operands the copy engine can read goes to the bf16 wgmma kernel (bf16Refusal says why not).
package kiln.codegen;

import java.util.ArrayList;
import java.util.List;
import kiln.codegen.Lowering.Chooser;
import kiln.codegen.Lowering.Lowered;
import kiln.dsl.Compute;

/** The CUDA backend, with what lower's arguments say. */
public record CudaLowering(CudaSchedule schedule, Chooser<CudaSchedule.MatmulTile> chooser, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                           long transposeFloats, Epilogue.Readers program, java.util.function.ToLongFunction<kiln.dsl.Tensor> offsets)
    implements Lowering.Backend {
  private static final boolean DUMP = "1".equals(System.getenv("KILN_DUMP_IR"));

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

  /** Tests: force CudaRows' row cache on or off (null: the environment decides, KILN_ROW_CACHE=1 turns it on). */
  public static volatile Boolean rowCacheOverride;

  /** Tests: force chunking along M on or off (null: the environment decides). */
  public static volatile Boolean rowChunksOverride;

  /**
   * The lowering, over Epilogue.groups. size binds the dims an extern kernel fixes at compile time (the head size; null when
   * there are no externs). With transposeFloats > 0 (and the wgmma tile on, sizes bound), a matmul with an operand stored
   * [k..., rows...] runs on wgmma over transposed copies in a workspace of at most that many floats
   * (CudaRenderer.matmulTransposed) wherever CudaRenderer.transposePlan finds chunks for it, unless the chooser keeps it off
   * them (Chooser.choose with overCopies). A matmul with an epilogue runs it in its own launch (the chooser still sees the
   * bare matmul, the kernel the tuner times), except over copies in more than one launch (K or M chunks), where the
   * epilogue runs after as a map. program: the readers of every tensor in the whole step, so outputs nothing outside the
   * group reads are not stored (null: every output is stored). offsets places each tensor (Arena.offsetLong: elements of
   * its storage from its region's start), so a matmul of two bf16 operands runs on the schedule's bf16 wgmma tile only
   * where the copy engine can read them (bf16Refusal); null where the placement is not known (emit): every such matmul
   * counts as aligned.
   */
  public static Lowered lower(List<Compute> computes, CudaSchedule schedule, Chooser<CudaSchedule.MatmulTile> chooser,
                              java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                              long transposeFloats, Epilogue.Readers program, java.util.function.ToLongFunction<kiln.dsl.Tensor> offsets) {
    return Lowering.lower(computes, new CudaLowering(schedule, chooser, size, transposeFloats, program, offsets));
  }

  /**
   * Epilogue.groups, with each run of neighbouring lone column reductions that are siblings of the run's first
   * (CudaRenderer.siblings: a layernorm's weight and bias gradients) as one group, where the schedule has column
   * reductions on and KILN_COLSIBLINGS is not 0.
   */
  @Override public List<List<Compute>> groups(List<Compute> computes) {
    List<List<Compute>> groups = Epilogue.groups(computes);
    if (schedule.columns() == null || !siblings()) return groups;
    List<List<Compute>> out = new ArrayList<>();
    for (List<Compute> g : groups) {
      List<Compute> last = out.isEmpty() ? null : out.getLast();
      if (g.size() == 1 && last != null && reduces(append(last, g.getFirst()))) out.set(out.size() - 1, append(last, g.getFirst()));
      else out.add(g);
    }
    return out;
  }

  private static List<Compute> append(List<Compute> group, Compute c) {
    List<Compute> g = new ArrayList<>(group);
    g.add(c);
    return List.copyOf(g);
  }

  /** Sibling column reductions: two or more, each a sibling of the first (one launch, CudaRenderer.columns). */
  @Override public boolean reduces(List<Compute> group) {
    if (group.size() < 2 || schedule.columns() == null) return false;
    for (Compute c : group.subList(1, group.size())) if (!CudaRenderer.siblings(group.getFirst(), c)) return false;
    return true;
  }

  /** Whether sibling column reductions share a launch (KILN_COLSIBLINGS=0: one each); tests may override. */
  public static boolean siblings() {
    Boolean o = siblingsOverride;
    return o != null ? o : !"0".equals(System.getenv("KILN_COLSIBLINGS"));
  }

  /** Tests: force sibling column reductions together or apart (null: the environment decides). */
  public static volatile Boolean siblingsOverride;

  /** Every kind: row kernels where rows() is on. */
  @Override public boolean renders(Lowering.Kind kind) { return kind != Lowering.Kind.ROW || rows(); }

  @Override public boolean epilogue(List<Compute> group) { return Epilogue.fused(group); }

  @Override public List<Launch> render(Lowering.Kind kind, List<Compute> head, List<Compute> group) {
    Compute first = head.getFirst();
    CudaRenderer.Fused epilogue = null;
    if (head.size() < group.size()) {
      epilogue = new CudaRenderer.Fused(group.subList(1, group.size()), Epilogue.unstored(group, program));
      if (DUMP) System.err.println("epilogue: " + Lowering.name(group) + ", not stored: " + epilogue.unstored());
    }
    Rendered k = switch (kind) {
      case ROW -> {
        RowFusion.Plan plan = RowFusion.plan(head);
        int extent = size == null ? 0 : size.applyAsInt(plan.extent());
        if (!plan.columnSums().isEmpty() && !(CudaRows.sumsColumns(plan, extent) && aligned(head, plan.extent()))) yield null;
        yield CudaRows.render(plan, extent);
      }
      case EXTERN -> {
        if (size == null) throw new IllegalArgumentException(first.name() + ": an extern needs its sizes bound to render");
        yield Externs.render(first, schedule, size);
      }
      case MATMUL -> {
        Matmul m = matmul(MatmulMatch.of(first).orElseThrow(), epilogue);
        if (m.tookEpilogue()) epilogue = null;
        yield m.kernel();
      }
      // a column reduction (bias and norm-weight gradients) split along the rows where the schedule has it on
      case REDUCE -> head.size() > 1 ? CudaRenderer.columns(head, schedule)
          : schedule.columns() != null && CudaRenderer.columnar(first) ? CudaRenderer.columns(first, schedule) : CudaRenderer.reduce(first, schedule);
      case MAP -> CudaRenderer.map(head, schedule);
    };
    if (k == null) return rowsThenColumnSums(head);
    if (epilogue == null) return List.of(new Launch(group, k));
    // over copies in several launches: the epilogue's computes run after, as one map
    return List.of(new Launch(List.of(first), k), new Launch(epilogue.computes(), CudaRenderer.map(epilogue.computes(), schedule)));
  }

  /**
   * A row group whose column sums its kernel cannot take (CudaRows.sumsColumns: the row not resident at this size, or a
   * tensor it moves off 16 bytes): the row kernel without them, then the sums as column reductions (neighbouring siblings
   * in one launch), reading the rows as the kernel left them (RowFusion keeps any stage from writing what a sum reads).
   */
  private List<Launch> rowsThenColumnSums(List<Compute> head) {
    RowFusion.Plan whole = RowFusion.plan(head), plan = whole.withoutColumnSums();
    List<Compute> sums = whole.columnSums();
    List<Launch> out = new ArrayList<>();
    out.add(new Launch(head.stream().filter(c -> !sums.contains(c)).toList(), CudaRows.render(plan, size == null ? 0 : size.applyAsInt(plan.extent()))));
    // neighbouring siblings in one launch, as groups() joins them, each run lowered as any reduction is
    List<Compute> run = new ArrayList<>();
    for (Compute c : sums) {
      if (!run.isEmpty() && !(siblings() && reduces(append(run, c)))) {
        out.addAll(render(Lowering.Kind.REDUCE, List.copyOf(run), List.copyOf(run)));
        run.clear();
      }
      run.add(c);
    }
    if (!run.isEmpty()) out.addAll(render(Lowering.Kind.REDUCE, List.copyOf(run), List.copyOf(run)));
    return out;
  }

  /**
   * Whether every tensor along the row (last dim the extent) that a row group reads or writes starts 16 bytes aligned where
   * the placement is known (offsets: elements of its storage), so every row of it is (the extent a multiple of the vector):
   * the resident path's condition on every row, which a kernel with column sums needs.
   */
  private boolean aligned(List<Compute> group, kiln.dsl.Dim extent) {
    if (offsets == null) return true;
    for (Compute c : group) {
      List<kiln.dsl.Tensor> ts = new ArrayList<>(List.of(c.out()));
      for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) ts.add(l.tensor());
      for (kiln.dsl.Tensor t : ts) {
        long bytes = offsets.applyAsLong(t) * (t.storage() == kiln.dsl.DType.BF16 ? 2 : 4);
        if (t.dtype() != kiln.dsl.DType.I32 && t.rank() > 0 && t.dims().getLast().equals(extent) && bytes % 16 != 0) return false;
      }
    }
    return true;
  }

  /** A matmul's kernel, and whether it runs the epilogue it was offered. */
  private record Matmul(Rendered kernel, boolean tookEpilogue) {}

  /**
   * A matmul's kernel: on the bf16 wgmma tile, over transposed copies or on the schedule's tile, as the chooser picks (it
   * sees the bare matmul with the default tile: the tuner's key); with the epilogue (or null) where that launch can take it.
   */
  private Matmul matmul(MatmulMatch mm, CudaRenderer.Fused epilogue) {
    boolean acc = mm.compute().accumulate();
    if (bf16Wgmma(mm, schedule, size, offsets, DUMP)) {
      WgmmaBf16.Tile byDefault = bf16Tile(schedule.wgmmaBf16(), mm, size, offsets);
      Rendered k = CudaRenderer.matmul(mm, acc, byDefault);
      WgmmaBf16.Tile tuned = chooser.choose(k) instanceof WgmmaBf16.Tile t ? t : null;
      if (epilogue != null) {
        // the tuner times the bare matmul, and with an epilogue the tiles rank otherwise: qkv with its bias ran every tile
        // of the space but the default's shape slower in the step, 2.47-3.74 ms a step against 2.45 (192 x 192 c3 g8, the
        // tuner's pick at 96 accumulators a thread like the default's, +1.2 ms; docs/perf.md session 14), so such a launch
        // keeps the schedule's tile, or the tile measured for its shape in the step with its epilogue where there is one
        // (measuredBf16: the lm_head's input gradient), tuned or not; an epilogue takes C in one pass
        WgmmaBf16.Tile measured = size != null && schedule.wgmmaBf16().equals(WgmmaBf16.DEFAULT) ? measuredBf16(mm, size, true) : null;
        WgmmaBf16.Tile raw = (measured != null ? measured : schedule.wgmmaBf16()).withSplits(1);
        // an epilogue output the copy engine can store takes C's place in the staging area (the rest are stored by the lambda)
        kiln.dsl.Tensor staged = raw.tmaStore() ? stagedOutput(mm, epilogue, size, offsets) : null;
        if (DUMP && staged != null) {
          System.err.println("bf16 wgmma: " + mm.compute().name() + " stages its epilogue's " + staged.name() + " for the copy engine");
        }
        return new Matmul(CudaRenderer.matmul(mm, raw.withTmaStore(staged != null), staged == null ? epilogue : epilogue.withStaged(staged)), true);
      }
      // untuned: the tile measured for its shape, split-K where the output tiles leave SMs idle over a long K, or the wide
      // tile unsplit (bf16UntunedBare)
      WgmmaBf16.Tile tile = bf16Tile(tuned != null ? tuned : bf16UntunedBare(schedule.wgmmaBf16(), mm, size), mm, size, offsets);
      if (DUMP && tile.splits() > 1) System.err.println("bf16 wgmma: " + mm.compute().name() + " splits K " + tile.splits() + " ways");
      return new Matmul(tile.equals(byDefault) ? k : CudaRenderer.matmul(mm, acc, tile), false);
    }
    CudaSchedule.MatmulTile byDefault = schedule.matmulFor(mm);
    Rendered k = CudaRenderer.matmul(mm, acc, byDefault);
    long[] plan = transposePlan(mm, schedule, size, transposeFloats);
    Rendered copies = plan == null ? null : CudaRenderer.matmulTransposed(mm, acc, schedule.wgmma(), plan, null);
    CudaSchedule.MatmulTile chosen = copies == null ? chooser.choose(k) : chooser.choose(k, copies);
    if (copies != null && (chosen == null || chosen instanceof CudaSchedule.WgmmaTile)) {
      CudaSchedule.WgmmaTile w = chosen == null ? schedule.wgmma() : (CudaSchedule.WgmmaTile) chosen;
      boolean fuse = epilogue != null && CudaRenderer.oneLaunch(plan);
      return new Matmul(w.equals(schedule.wgmma()) && !fuse ? copies : CudaRenderer.matmulTransposed(mm, acc, w, plan, fuse ? epilogue : null), fuse);
    }
    if (epilogue != null) return new Matmul(CudaRenderer.matmul(mm, chosen != null ? chosen : byDefault, epilogue), true);
    return new Matmul(chosen != null && !chosen.equals(byDefault) ? CudaRenderer.matmul(mm, acc, chosen) : k, false);
  }

  /**
   * Whether mm runs on the bf16 wgmma tile: the schedule has it on (BF16 on sm_90) and bf16Refusal finds nothing against
   * it. With dump (KILN_DUMP_IR=1) a matmul that stays on the SIMT tile says why.
   */
  public static boolean bf16Wgmma(MatmulMatch mm, CudaSchedule schedule, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                                   java.util.function.ToLongFunction<kiln.dsl.Tensor> offsets, boolean dump) {
    if (schedule.wgmmaBf16() == null || schedule.precision() != CudaSchedule.Precision.BF16) return false;
    String why = bf16Refusal(mm, size, offsets);
    if (dump) {
      WgmmaBf16.Major[] majors = CudaRenderer.bf16Majors(mm);
      System.err.println("bf16 wgmma: " + mm.compute().name() + (why == null ? " (A " + majors[0] + "-major, B " + majors[1] + "-major, C "
          + (mm.compute().out().storage() == kiln.dsl.DType.BF16 ? "bf16" : "fp32") + ")" : " stays on the SIMT tile: " + why));
    }
    return why == null;
  }

  /**
   * Why the bf16 wgmma tile cannot run mm, or null where it can: both operands stored as bf16, no batch dims, C [m..., n...]
   * and each operand indexed exactly [rows..., k...] or [k..., rows...] (CudaRenderer.bf16Majors), and (where size and
   * offsets are known) what the copy engine asks of each operand: a 16-byte aligned base (offset a multiple of 8 bf16) and
   * row pitch (K for a K-major operand, M or N for an MN-major one), sizes within an int.
   */
  public static String bf16Refusal(MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                                   java.util.function.ToLongFunction<kiln.dsl.Tensor> offsets) {
    kiln.dsl.Tensor a = mm.a().tensor(), b = mm.b().tensor();
    if (a.storage() != kiln.dsl.DType.BF16 || b.storage() != kiln.dsl.DType.BF16) {
      return "A " + a.name() + " is " + a.storage().name().toLowerCase() + ", B " + b.name() + " is " + b.storage().name().toLowerCase() + " (both must be bf16)";
    }
    if (!mm.batch().isEmpty()) return "batch dims " + mm.batch().stream().map(v -> v.dim().name()).toList();
    WgmmaBf16.Major[] majors = CudaRenderer.bf16Majors(mm);
    if (majors == null) return "C or an operand is not indexed exactly [rows..., k...] or [k..., rows...] over its dims";
    if (size != null) {
      long m = product(mm.m(), size), n = product(mm.n(), size), k = product(mm.k(), size);
      if (m > Integer.MAX_VALUE || n > Integer.MAX_VALUE || k > Integer.MAX_VALUE) return "M x N x K " + m + " x " + n + " x " + k + " past an int";
      long pitchA = majors[0] == WgmmaBf16.Major.K ? k : m, pitchB = majors[1] == WgmmaBf16.Major.K ? k : n;
      if (pitchA % 8 != 0) return "A's rows are " + pitchA + " bf16 apart (the copy engine needs a multiple of 8: 16 bytes)";
      if (pitchB % 8 != 0) return "B's rows are " + pitchB + " bf16 apart (the copy engine needs a multiple of 8: 16 bytes)";
    }
    if (offsets != null) {
      if (offsets.applyAsLong(a) % 8 != 0) return "A " + a.name() + " starts at bf16 element " + offsets.applyAsLong(a) + " (the copy engine needs a multiple of 8)";
      if (offsets.applyAsLong(b) % 8 != 0) return "B " + b.name() + " starts at bf16 element " + offsets.applyAsLong(b) + " (the copy engine needs a multiple of 8)";
    }
    return null;
  }

  /**
   * The epilogue output the bf16 wgmma kernel stages for the copy engine: the last of Fused.stageable with C's dims and C
   * indexed by its loop vars, 16-byte aligned (offset a multiple of 8 bf16, N too); null where none is.
   */
  static kiln.dsl.Tensor stagedOutput(MatmulMatch mm, CudaRenderer.Fused f, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                                      java.util.function.ToLongFunction<kiln.dsl.Tensor> offsets) {
    Compute c = mm.compute();
    if (!c.outIndex().equals(new ArrayList<kiln.dsl.Expr>(c.loopVars())) || size != null && product(mm.n(), size) % 8 != 0) return null;
    kiln.dsl.Tensor staged = null;
    for (kiln.dsl.Tensor t : CudaRenderer.Fused.stageable(f.computes(), f.unstored())) {
      if (t.dims().equals(c.out().dims()) && (offsets == null || offsets.applyAsLong(t) % 8 == 0)) staged = t;
    }
    return staged;
  }

  /**
   * The tile a bf16 matmul without an epilogue runs untuned, before C's store is adapted (bf16Tile); the tuner's "default".
   * Sizes unknown: the schedule's. Where the schedule's tile is the default: the one measured faster for its shape
   * (measuredBf16), split along K where bf16Split splits it; else, with KILN_WGMMA_BF16_WIDE=1 (wide()), WgmmaBf16.WIDE unsplit
   * where C is bf16, N a multiple of 256 and its tiles at least four rounds of the SMs (the shapes it was measured on: GPT-2
   * 124M at B=32). Otherwise the schedule's, split where bf16Split splits it.
   */
  public static WgmmaBf16.Tile bf16UntunedBare(WgmmaBf16.Tile tile, MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size) {
    if (size == null) return tile;
    if (!tile.equals(WgmmaBf16.DEFAULT)) return bf16Split(tile, mm, size);
    WgmmaBf16.Tile measured = measuredBf16(mm, size, false);
    if (measured != null) return bf16Split(measured, mm, size);
    long m = product(mm.m(), size), n = product(mm.n(), size);
    boolean wide = wide() && mm.compute().out().storage() == kiln.dsl.DType.BF16 && n % WgmmaBf16.WIDE.bn() == 0
        && WgmmaBf16.WIDE.outputTiles(m, n) >= 4L * WgmmaBf16.PLAN_SMS;
    return wide ? WgmmaBf16.WIDE : bf16Split(tile, mm, size);
  }

  /**
   * tile for mm with the splits along K WgmmaBf16.splitsFor picks for its M x N x K, where tile has none (1) and
   * KILN_WGMMA_SPLITK is not 0 (a tile that names its splits keeps them); split-K kernels store C from the registers.
   */
  public static WgmmaBf16.Tile bf16Split(WgmmaBf16.Tile tile, MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size) {
    if (tile.splits() > 1) return tile.withTmaStore(false);
    if (!splitK()) return tile;
    int s = WgmmaBf16.splitsFor(tile, product(mm.m(), size), product(mm.n(), size), product(mm.k(), size));
    return s == 1 ? tile : tile.withTmaStore(false).withSplits(s);
  }

  /** Whether a bare bf16 matmul's untuned tile is one measured for its shape inside the step (measuredBf16): the tuner leaves it. */
  public static boolean measuredInStep(MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size) {
    return size != null && measuredBf16(mm, size, false) != null;
  }

  /**
   * The tile a shape like GPT-2 124M's at B=32 runs fastest on inside the training step, where that is not the default: every
   * bf16 matmul launch of one step timed by Nsight Compute on each tile of the tuner's space (docs/perf.md, "Every matmul of
   * the step on each tile", session 14, two sweeps; the tuner times bare matmuls alone, which ranked some of these otherwise):
   * <ul>
   *   <li>the lm_head (K-major A and B, bf16 C, N >= 16384, K <= 1024, M >= 16384) on WgmmaBf16.SQUARE_3: 3.60 ms against
   *       3.75 on TALL_3 (sessions 12 and 13's tuner pick) and on the default;</li>
   *   <li>a wide output over a short K (K-major A, bf16 C, N % 192 == 0, N >= 3072, K <= 1024, M >= 16384: fc, fcproj's input
   *       gradient) on SQUARE_3_G8: 2.73 / 2.73 ms against 2.85 on the default / 2.79 on SQUARE_3;</li>
   *   <li>a narrow output over a long K (K-major A, N % 256 == 0, N <= 1024, K >= 2048, M >= 16384: fcproj, and the input
   *       gradients of fc, qkv and the lm_head) on WgmmaBf16.WIDE_G8: 2.53 / 2.53 / 1.95 / 3.37 ms against 2.61 / 2.61 /
   *       2.00 / 3.67 on the default; the lm_head's input gradient with its epilogue (epilogue: only this rule applies);</li>
   *   <li>a weight gradient (A and B MN-major, fp32 C, K >= 16384, M and N < 16384, multiples of 192, M x N >= 2^20: qkv's,
   *       fc's, fcproj's; not attproj's 768 x 768) on SQUARE_3, split along K as bf16Split plans it: 2.19 / 2.54 / 2.52 ms
   *       against 2.23 / 2.72 / 2.68;</li>
   *   <li>the tied embedding's weight gradient (both MN-major, fp32 C, M and K >= 16384) on WIDE_G8 (C from the registers):
   *       3.22 ms against 3.35 on WIDE_4.</li>
   * </ul>
   * null elsewhere, or with KILN_WGMMA_BF16_SHAPES=0.
   */
  static WgmmaBf16.Tile measuredBf16(MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size, boolean epilogue) {
    if ("0".equals(System.getenv("KILN_WGMMA_BF16_SHAPES"))) return null;
    WgmmaBf16.Major[] majors = CudaRenderer.bf16Majors(mm);
    if (majors == null || mm.compute().accumulate()) return null;
    long m = product(mm.m(), size), n = product(mm.n(), size), k = product(mm.k(), size);
    boolean bf16 = mm.compute().out().storage() == kiln.dsl.DType.BF16, kk = majors[0] == WgmmaBf16.Major.K;
    boolean bMn = majors[1] == WgmmaBf16.Major.MN;
    if (kk && n % 256 == 0 && n <= 1024 && k >= 2048 && m >= 16384) return WgmmaBf16.WIDE_G8;
    if (epilogue) return null;
    if (bf16 && kk && !bMn && n >= 16384 && k <= 1024 && m >= 16384) return WgmmaBf16.SQUARE_3;
    if (bf16 && kk && n % 192 == 0 && n >= 3072 && n < 16384 && k <= 1024 && m >= 16384) return WgmmaBf16.SQUARE_3_G8;
    if (!bf16 && !kk && bMn && k >= 16384 && m < 16384 && n < 16384 && m % 192 == 0 && n % 192 == 0 && m * n >= 1 << 20) return WgmmaBf16.SQUARE_3;
    if (!bf16 && !kk && bMn && m >= 16384 && k >= 16384) return WgmmaBf16.WIDE_G8.withTmaStore(false);
    return null;
  }

  /**
   * Whether untuned bf16-C matmuls take WgmmaBf16.WIDE where N allows: off unless KILN_WGMMA_BF16_WIDE=1 (measured on the H200:
   * benches 0.3–0.4 ms a step faster, but the qkv matmul with its bias epilogue 1.1 ms slower in the profile; docs/perf.md,
   * session 11); tests may override.
   */
  public static boolean wide() {
    Boolean o = wideOverride;
    return o != null ? o : "1".equals(System.getenv("KILN_WGMMA_BF16_WIDE"));
  }

  /** Tests: force the wide untuned tile on or off (null: the environment decides). */
  public static volatile Boolean wideOverride;

  /** Whether untuned bf16 matmuls may split K (KILN_WGMMA_SPLITK=0: off); tests may override. */
  public static boolean splitK() {
    Boolean o = splitKOverride;
    return o != null ? o : !"0".equals(System.getenv("KILN_WGMMA_SPLITK"));
  }

  /** Tests: force split-K of untuned bf16 matmuls on or off (null: the environment decides). */
  public static volatile Boolean splitKOverride;

  /** tile for mm, storing C through the copy engine only where C is bf16 with a 16-byte aligned base and row (else from the registers). */
  public static WgmmaBf16.Tile bf16Tile(WgmmaBf16.Tile tile, MatmulMatch mm, java.util.function.ToIntFunction<kiln.dsl.Dim> size,
                                        java.util.function.ToLongFunction<kiln.dsl.Tensor> offsets) {
    kiln.dsl.Tensor c = mm.compute().out();
    boolean aligned = (size == null || product(mm.n(), size) % 8 == 0) && (offsets == null || offsets.applyAsLong(c) % 8 == 0);
    return tile.tmaStore() && !aligned ? tile.withTmaStore(false) : tile;
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
