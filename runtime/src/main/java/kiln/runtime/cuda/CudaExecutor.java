// Runs a lowered program on one GPU: generated CUDA kernels compiled by NVRTC, one device arena
// (a single cuMemAlloc), every launch's grid, block and argument block prepared once.
package kiln.runtime.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;
import kiln.codegen.CudaLowering;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Lowering;
import kiln.codegen.Rendered;
import kiln.codegen.Work;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.Executor;
import kiln.runtime.TuningCache;

/** Each planned step is one compute group's launches (two for a split-K matmul or a column reduction: the partial sums, then their sum). */
public final class CudaExecutor extends Executor<List<Launch>> {
  private final Arena layout;
  private final Cuda cuda;
  private final DeviceArena memory;
  /** Split-K and column-reduction partial sums, transposed operands (a second allocation, made once; null when no launch needs one). */
  private final DeviceArena workspace;
  private final long intBase;
  private final Map<String, Cuda.Module> modules;
  private final CompileStats compile;
  /** The schedule as this device runs it (forDevice). */
  private final CudaSchedule schedule;
  private final String tunedNote;
  private final int kernelCount;
  private final float[] scalar = new float[1];
  private Cuda.Event[] events;
  /** KILN_CUDA_GRAPHS=0 launches every kernel from the host each step (for comparison). */
  private static final boolean GRAPHS = !"0".equals(System.getenv("KILN_CUDA_GRAPHS"));
  private final Map<String, Cuda.Graph> graphs = new java.util.HashMap<>();
  private final Map<String, Integer> runs = new java.util.HashMap<>();

  public CudaExecutor(Arena layout, Map<String, List<Compute>> program, Cuda cuda, CudaSchedule schedule) {
    this(layout, program, cuda, schedule, TuningCache.load(TuningCache.defaultFile()));
  }

  /**
   * Matmul launches take their tile from the tuning cache where it has one for this device, else the
   * schedule's (forDevice: the wgmma tile for the TF32 matmuls that fit it on sm_90).
   */
  public CudaExecutor(Arena layout, Map<String, List<Compute>> program, Cuda cuda, CudaSchedule requested, TuningCache tuning) {
    CudaSchedule schedule = forDevice(requested, cuda);
    this.schedule = schedule;
    this.layout = layout;
    this.cuda = cuda;
    String device = tuningDevice(cuda);
    int[] tuned = {0};   // matmul launches whose tile the tuning cache gave
    Lowering.Chooser<CudaSchedule.MatmulTile> chooser = new Lowering.Chooser<>() {
      @Override public CudaSchedule.MatmulTile choose(Rendered byDefault) {
        if (!(byDefault.work() instanceof Work.Bf16Tiles work)) return choose(byDefault, null);
        // the lowering sends a matmul here only where it runs on the bf16 tile; a tuned bf16 tile replaces the default
        String knobs = tuning.find(device, byDefault.function(), work.shape(layout::size));
        CudaSchedule.MatmulTile tile = knobs == null ? null : CudaSchedule.MatmulTile.parse(knobs);
        if (!(tile instanceof kiln.codegen.WgmmaBf16.Tile)) return null;
        tuned[0]++;
        return tile;
      }

      @Override public CudaSchedule.MatmulTile choose(Rendered byDefault, Rendered overCopies) {
        Work.Tiles work = (Work.Tiles) byDefault.work();
        // copies only where the operands read in place meet the copy engine's rules
        boolean copies = overCopies != null && tmaAligned((Work.Tiles) overCopies.work(), layout);
        // where copies are planned the tuner raced them too and keyed its pick by their kernel (CudaTuner): an entry from
        // before (mma.sync tiles only, keyed by byDefault) does not apply
        String key = overCopies != null ? overCopies.function() : byDefault.function();
        String knobs = tuning.find(device, key, work.shape(layout::size));
        CudaSchedule.MatmulTile tile = knobs == null ? null : CudaSchedule.MatmulTile.parse(knobs);
        // a tuned tile of this precision's kinds; a wgmma one only where the default is one (the launch fits it) or copies serve it
        boolean usable = tile != null && (tile.getClass() == schedule.matmul().getClass()
            || tile instanceof CudaSchedule.WgmmaTile && (work.tile() instanceof CudaSchedule.WgmmaTile || copies));
        CudaSchedule.MatmulTile chosen = usable ? tile : null;
        if (usable) tuned[0]++;
        // over copies where they meet the rules and no other kind of tile was picked; else the pick, or the general tile
        if (overCopies != null && copies && (chosen == null || chosen instanceof CudaSchedule.WgmmaTile)) return chosen;
        if (overCopies != null) return chosen != null ? chosen : schedule.matmul();
        CudaSchedule.MatmulTile effective = chosen != null ? chosen : (CudaSchedule.MatmulTile) work.tile();
        // the copy engine needs 16-byte aligned operands: otherwise this launch stays on mma.sync
        return effective instanceof CudaSchedule.WgmmaTile && !tmaAligned(work, layout) ? schedule.matmul() : chosen;
      }
    };
    Map<String, Lowering.Lowered> lowered = new LinkedHashMap<>();
    Map<String, String> sources = new LinkedHashMap<>();
    // who reads each tensor over the whole step: an epilogue leaves unstored what only its own group reads
    kiln.codegen.Epilogue.Readers readers = new kiln.codegen.Epilogue.Readers(program.values().stream().flatMap(List::stream).toList());
    // a training step's sections (the joined one instead of forward and backward where there is one): what the note counts
    java.util.function.Predicate<String> ofStep = name -> !program.containsKey(kiln.runtime.Session.STEP) || !name.equals("forward") && !name.equals("backward");
    int stepTuned = 0;
    for (var e : program.entrySet()) {
      int before = tuned[0];
      Lowering.Lowered l = CudaLowering.lower(e.getValue(), schedule, chooser, layout::size, transposeFloats(schedule), readers, layout::offsetLong);
      if (ofStep.test(e.getKey())) stepTuned += tuned[0] - before;
      lowered.put(e.getKey(), l);
      for (var k : l.kernels().values()) sources.putIfAbsent(k.function(), k.source());
    }
    this.kernelCount = sources.size();
    // what the launches came to, counted by their work
    java.util.function.ToLongFunction<java.util.function.Predicate<Rendered>> count = p -> lowered.entrySet().stream().filter(e -> ofStep.test(e.getKey()))
        .flatMap(e -> e.getValue().launches().stream()).map(kiln.codegen.Launch::kernel).filter(p).count();
    long matmuls = count.applyAsLong(k -> k.work() instanceof Work.Tiles || k.work() instanceof Work.Bf16Tiles);
    long copies = count.applyAsLong(k -> k.work() instanceof Work.Tiles t && t.transposed() != null);
    long byRows = count.applyAsLong(k -> k.work() instanceof Work.Tiles t && t.transposed() != null && t.transposed().byRows());
    long wgmma = count.applyAsLong(k -> k.work() instanceof Work.Tiles t && t.tile() instanceof CudaSchedule.WgmmaTile);
    long epilogues = count.applyAsLong(k -> (k.work() instanceof Work.Tiles || k.work() instanceof Work.Bf16Tiles) && k.source().contains("auto epilogue"));
    this.tunedNote = stepTuned + " of " + matmuls + " matmul launches tuned"
        + (stepTuned < matmuls ? " (the rest use the default tile; run ./kiln tune --device cuda)" : "") + " from " + tuning.file()
        + (schedule.wgmma() != null ? "; " + wgmma + " of " + matmuls + " on sm_90a wgmma (" + copies + " over transposed copies"
        + (transposeFloats(schedule) > 0 ? "" : ", KILN_WGMMA_T=0") + ")"
        + (byRows > 0 ? ", " + byRows + " of them chunked along M (KILN_WGMMA_MCHUNK=0 turns it off)" : "") : "")
        + (schedule.wgmmaBf16() != null ? "; " + count.applyAsLong(k -> k.work() instanceof Work.Bf16Tiles) + " of " + matmuls
        + " on sm_90a bf16 wgmma (KILN_DUMP_IR=1 says why the rest are not)" : "")
        + "; " + count.applyAsLong(k -> k.work() instanceof Work.Columns) + " column reductions split along the rows"
        + (schedule.columns() == null ? " (KILN_COLREDUCE=0)" : "")
        + "; " + epilogues + " matmul launches with an epilogue" + " (KILN_EPILOGUE: " + kiln.codegen.Epilogue.mode().name().toLowerCase() + ")";
    Nvrtc nvrtc = Nvrtc.defaultCache();
    this.modules = nvrtc.load(sources, cuda);
    this.compile = nvrtc.stats();
    this.intBase = 4 * layout.floatCount();
    this.memory = cuda.allocate(4 * (layout.floatCount() + layout.intCount()));
    memory.memsetZero();
    long workspaceFloats = 0;
    for (Lowering.Lowered l : lowered.values()) {
      for (kiln.codegen.Launch x : l.launches()) workspaceFloats = Math.max(workspaceFloats, workspaceFloats(x.kernel(), layout));
    }
    this.workspace = workspaceFloats > 0 ? cuda.allocate(4 * workspaceFloats) : null;
    plan(lowered, l -> launches(l.kernel(), modules::get, workspace));
  }

  /**
   * The schedule as this device runs it. The wgmma tile runs at TF32 on sm_90: WGMMA_DEFAULT unless the
   * schedule names a tile (KILN_CUDA_TILE with five numbers, tests, MatmulBench); KILN_WGMMA=0 turns it
   * off (docs/perf.md, "GPU: Hopper matmul": 114.1 -> 99.2 ms/step on an H200). At BF16 on sm_90 the bf16 wgmma tile
   * (WgmmaBf16.DEFAULT unless the schedule names one) takes the matmuls of two bf16 operands; KILN_WGMMA=0 or
   * KILN_WGMMA_BF16=0 leaves them on the SIMT tile. KILN_COLREDUCE=0 turns the
   * split-row column reduction off (docs/perf.md, "GPU: column reductions split along the rows").
   */
  public static CudaSchedule forDevice(CudaSchedule s, Cuda cuda) {
    // KILN_COLREDUCE=0: every reduction a block per output (the split-row column reduction off)
    if ("0".equals(System.getenv("KILN_COLREDUCE"))) s = s.withColumns(null);
    boolean hopper = cuda.major() == 9 && cuda.minor() == 0;
    String env = System.getenv("KILN_WGMMA");
    boolean bf16 = hopper && s.precision() == CudaSchedule.Precision.BF16 && !"0".equals(env) && !"0".equals(System.getenv("KILN_WGMMA_BF16"));
    s = s.withWgmmaBf16(bf16 ? (s.wgmmaBf16() != null ? s.wgmmaBf16() : kiln.codegen.WgmmaBf16.DEFAULT) : null);
    if (!hopper || s.precision() != CudaSchedule.Precision.TF32 || "0".equals(env)) return s.withWgmma(null);
    if (s.wgmma() != null) return s;
    return s.withWgmma(CudaSchedule.WGMMA_DEFAULT);
  }

  /**
   * Whether a wgmma launch's operands meet the copy engine's rules: 16-byte aligned bases and row pitches
   * (an operand read through a transposed copy meets them whatever its own layout).
   */
  static boolean tmaAligned(Work.Tiles t, Arena layout) {
    Work.Transposed x = t.transposed();
    boolean a = x != null && x.a(), b = x != null && x.b();
    boolean kOk = layout.product(t.k()) % 4 == 0 || a && b;
    return (a || layout.offsetLong(t.a()) % 4 == 0) && (b || layout.offsetLong(t.b()) % 4 == 0) && kOk;
  }

  /** Workspace for transposed wgmma operands: 16 M floats (64 MB), so GPT-2 124M at B=8, T=1024 stays within 8 GB. */
  public static final long TRANSPOSE_FLOATS = 16L << 20;

  /**
   * Floats of workspace a wgmma launch may fill with transposed operands (CudaLowering.lower): TRANSPOSE_FLOATS
   * where the wgmma tile is on, 0 (none over copies, the backward stays on mma.sync) with KILN_WGMMA_T=0.
   */
  static long transposeFloats(CudaSchedule s) {
    return s.wgmma() == null || "0".equals(System.getenv("KILN_WGMMA_T")) ? 0 : transposeFloatsOverride > 0 ? transposeFloatsOverride : TRANSPOSE_FLOATS;
  }

  /** Tests: a smaller cap than TRANSPOSE_FLOATS, to split small matmuls into chunks along K (0: none). */
  static volatile long transposeFloatsOverride;

  /** What a CUDA tuning result depends on: the GPU, its compute capability and the NVRTC that compiled the variants. */
  public static String tuningDevice(Cuda cuda) {
    return cuda.name().replace('"', '\'') + ", " + cuda.arch() + ", NVRTC " + Nvrtc.version();
  }

  /**
   * Floats of workspace a launch needs: split-K partial sums (mma or bf16 wgmma) or transposed operands of a matmul, the splits'
   * partial sums of a column reduction, a row kernel's blocks' partial column sums (0 for every other launch). Launches run one after another, so one
   * workspace of the largest need serves them all.
   */
  static long workspaceFloats(Rendered r, Arena layout) {
    if (r.work() instanceof Work.Columns c) return c.outputs() * c.tile().workspaceFloats(layout.product(c.items()), layout.product(c.extent()));
    if (r.work() instanceof Work.Rows w) return w.workspaceFloats(layout.product(w.rows()), layout.size(w.extent()));
    if (r.work() instanceof Work.Bf16Tiles b) return b.tile().workspaceFloats(layout.product(b.m()), layout.product(b.n()));
    if (!(r.work() instanceof Work.Tiles t)) return 0;
    if (t.transposed() != null) return t.transposed().workspaceFloats(layout.product(t.m()), layout.product(t.n()));
    if (!(t.tile() instanceof CudaSchedule.MmaTile mma)) return 0;
    return mma.workspaceFloats(layout.product(t.batch()), layout.product(t.m()), layout.product(t.n()));
  }

  /**
   * The launches of one rendered kernel over this arena: its grid, block and arguments, written once per kind of work.
   * Kernels come from modules (by function name); split-K and column partial sums and transposed operands go to workspace
   * (the executor's own, or the tuner's when it races variants).
   */
  List<Launch> launches(Rendered r, Function<String, Cuda.Module> modules, DeviceArena workspace) {
    String function = r.function();
    Kernel kernel = modules.apply(function).kernel(function);
    Supplier<Kernel> sum = () -> modules.apply(function).kernel(function + "_sum");
    long[] args = layout.launchArgsLong(r.dims(), r.tensors());
    return switch (r.work()) {
      case Work.Threads t -> List.of(over(kernel, Launch.cover(t.count(layout::size), schedule.mapBlock()), Launch.Dim3.of(schedule.mapBlock()), 0, args));
      case Work.Blocks b -> {
        long items = layout.product(b.items()), extent = layout.product(b.extent());
        int block = (int) Math.min(schedule.reduceBlock(), Math.max(32, Long.highestOneBit(Math.max(1, extent - 1)) << 1));
        yield List.of(over(kernel, Launch.Dim3.of((int) Math.min(items, Integer.MAX_VALUE)), Launch.Dim3.of(block), 0, args));
      }
      case Work.Rows w -> {
        int extent = layout.size(w.extent()), per = w.rowsPerBlock(extent);
        long rows = layout.product(w.rows()), blocks = w.blocks(rows, extent);
        Launch.Dim3 grid = Launch.Dim3.of((int) Math.min(blocks, Integer.MAX_VALUE)), block = Launch.Dim3.of(w.threads(extent), per);
        if (w.columnSums() == 0) yield List.of(over(kernel, grid, block, w.sharedBytes(extent), args));
        // column sums: each block's partials into the workspace, then function_sum adds them in order into the outputs
        requireWorkspace(workspace, w.workspaceFloats(rows, extent), kernel.name(), "the row kernel's column sums need");
        yield List.of(over(kernel, grid, block, w.sharedBytes(extent), args, workspace.pointer(0)),
            over(sum.get(), Launch.Dim3.of((extent + 31) / 32, w.columnSums()), Launch.Dim3.of(32, 32), 0, args, workspace.pointer(0), (int) blocks));
      }
      case Work.Columns c -> columns(kernel, sum.get(), c, workspace, args);
      case Work.RowTiles t -> List.of(over(kernel,
          Launch.Dim3.of((int) layout.product(t.rows()), (int) ((layout.size(t.t()) + t.tileRows() - 1) / t.tileRows())),
          Launch.Dim3.of(t.threads()), t.sharedBytes(), args));
      case Work.Bf16Tiles t -> Bf16Matmul.launches(kernel, t.tile().splits() > 1 ? sum.get() : null, t, cuda, layout, memory,
          List.of(memory.pointer(0), memory.pointer(intBase), args), workspace);
      case Work.Tiles t when t.transposed() != null -> transposedTiles(y -> modules.apply(y.function()).kernel(y.function()), kernel, t, workspace, args);
      case Work.Tiles t -> tiles(kernel, sum, t, workspace, args);
    };
  }

  /** A launch of kernel over the arena: F, I and the argument block, then any extra arguments (workspace, maps, a plan). */
  private Launch over(Kernel kernel, Launch.Dim3 grid, Launch.Dim3 block, int sharedBytes, long[] args, Object... extra) {
    return Launch.of(kernel, grid, block, sharedBytes, Stream.concat(Stream.of(memory.pointer(0), memory.pointer(intBase), args), Stream.of(extra)).toArray());
  }

  /** Fails unless the workspace has room for the floats the launches of function need (what: who needs them, for the message). */
  private static void requireWorkspace(DeviceArena workspace, long floats, String function, String what) {
    if (workspace == null || workspace.bytes() < 4 * floats) throw new IllegalStateException(function + ": " + what + " " + 4 * floats + " bytes of workspace");
  }

  /**
   * A column reduction's launches: blocks of 32 x tile.rows() threads over (tiles of tile.columns() outputs) x
   * (splits along the rows, ColumnTile.plan) writing each split's partial sums to the workspace, then function_sum
   * (blocks of 32 outputs x 8 runs of splits, blockIdx.y the sibling) adding them in a fixed order into the outputs.
   */
  private List<Launch> columns(Kernel kernel, Kernel sum, Work.Columns c, DeviceArena workspace, long[] args) {
    long items = layout.product(c.items()), extent = layout.product(c.extent());
    long[] plan = c.tile().plan(items, extent);
    requireWorkspace(workspace, c.outputs() * c.tile().workspaceFloats(items, extent), kernel.name(), "the column reduction needs");
    int columns = c.tile().columns();
    Launch.Dim3 grid = Launch.Dim3.of(Math.toIntExact((items + columns - 1) / columns), Math.toIntExact(plan[0]));
    return List.of(over(kernel, grid, Launch.Dim3.of(32, c.tile().rows()), 0, args, workspace.pointer(0), plan[1]),
        over(sum, Launch.Dim3.of(Math.toIntExact((items + 31) / 32), c.outputs()), Launch.Dim3.of(32, 8), 0, args, workspace.pointer(0),
            Math.toIntExact(plan[0])));
  }

  /**
   * A matmul's launches: one block per (n tile, m tile, batch x splits) of its tile; with split-K the
   * partial sums go to the workspace and function_sum adds them into C. A wgmma tile: one block per
   * (m tile, n tile), with the copy engine's maps of A and B after the argument block.
   */
  private List<Launch> tiles(Kernel kernel, Supplier<Kernel> sum, Work.Tiles t, DeviceArena workspace, long[] args) {
    var tile = (CudaSchedule.MatmulTile) t.tile();
    if (tile instanceof CudaSchedule.WgmmaTile w) {
      if (!tmaAligned(t, layout)) throw new CudaException(kernel + ": wgmma operands must be 16-byte aligned (offsets and K multiples of 4 floats)");
      long m = layout.product(t.m()), n = layout.product(t.n()), k = layout.product(t.k());
      long[] mapA = TensorMaps.kMajorTf32(memory.pointer(4 * layout.offsetLong(t.a())), m, k, k, w.bm());
      long[] mapB = TensorMaps.kMajorTf32(memory.pointer(4 * layout.offsetLong(t.b())), n, k, k, w.bn());
      return List.of(over(kernel, wgmmaGrid(w, m, n), Launch.Dim3.of(w.threads()), w.sharedBytes(), args, mapA, mapB));
    }
    int splits = tile instanceof CudaSchedule.MmaTile mma ? mma.splits() : 1;
    long batch = layout.product(t.batch());
    Launch.Dim3 grid = Launch.Dim3.of((int) ((layout.product(t.n()) + tile.bn() - 1) / tile.bn()),
        (int) ((layout.product(t.m()) + tile.bm() - 1) / tile.bm()), Math.toIntExact(batch * splits));
    if (splits == 1) return List.of(over(kernel, grid, Launch.Dim3.of(tile.threads()), tile.sharedBytes(), args));
    long outputs = batch * layout.product(t.m()) * layout.product(t.n());
    requireWorkspace(workspace, outputs * splits, kernel.name(), "split-K needs");
    return List.of(over(kernel, grid, Launch.Dim3.of(tile.threads()), tile.sharedBytes(), args, workspace.pointer(0)),
        over(sum.get(), Launch.Dim3.of((int) Math.min(4096, (outputs + 255) / 256)), Launch.Dim3.of(256), 0, args, workspace.pointer(0)));
  }

  /** One block per (m tile, n tile) of a wgmma tile. */
  private static Launch.Dim3 wgmmaGrid(CudaSchedule.WgmmaTile w, long rows, long n) {
    return Launch.Dim3.of(Math.toIntExact((rows + w.bm() - 1) / w.bm()), Math.toIntExact((n + w.bn() - 1) / w.bn()));
  }

  /**
   * A wgmma launch over transposed copies: per chunk of K, the transpose kernel copies each operand
   * stored [k..., rows...] (a K x rows matrix) into the workspace as rows x kChunk, then the matmul
   * reads the copies (and any K-major operand in place, kChunk floats of its row) through its maps.
   * Chunked along M (Transposed.byRows, A copied): per K chunk, B's slice once (copied, or read in place),
   * then per M chunk A's slice [k0:k1, m0:m1] copied as (m1 - m0) x kChunk after B's copy and a launch
   * whose F is shifted by m0 rows of C (C is dense [m..., n...], the kernel writes only C through F); the
   * last M chunk's kernels are rendered with its own row count (tail, tailRest). K chunk 0 assigns or adds
   * as the compute does, later ones (rest) add.
   */
  private List<Launch> transposedTiles(Function<Rendered, Kernel> kernels, Kernel first, Work.Tiles t, DeviceArena workspace, long[] args) {
    Work.Transposed x = t.transposed();
    CudaSchedule.WgmmaTile w = (CudaSchedule.WgmmaTile) t.tile();
    if (!tmaAligned(t, layout)) throw new CudaException(first + ": wgmma operands read in place must be 16-byte aligned (offsets and K multiples of 4 floats)");
    long m = layout.product(t.m()), n = layout.product(t.n()), k = layout.product(t.k()), kc = x.kChunk();
    requireWorkspace(workspace, x.workspaceFloats(m, n), first.name(), "transposed operands need");
    Kernel transpose = kernels.apply(x.transpose());
    Kernel rest = x.rest() == null ? first : kernels.apply(x.rest());
    // rows chunked along M: the last chunk's own kernels (or the general ones where M divides evenly)
    boolean byRows = x.byRows();
    Kernel tail = !byRows || x.tail() == null ? first : kernels.apply(x.tail());
    Kernel tailRest = !byRows || x.tail() == null ? rest : x.tailRest() == null ? tail : kernels.apply(x.tailRest());
    long mc = byRows ? x.mChunk() : m, mChunks = byRows ? x.mChunks() : 1;
    // byte offsets of A and B from F; where copied, A's copy sits after B's when both are, B's after A's when not chunked along M
    long aBase = 4 * layout.offsetLong(t.a()), bBase = 4 * layout.offsetLong(t.b());
    long aCopy = byRows && x.b() ? 4 * n * kc : 0, bCopy = !byRows && x.a() ? 4 * m * kc : 0;
    List<Launch> launches = new ArrayList<>();
    for (int c = 0; c < x.chunks(); c++) {
      long k0 = c * kc, len = Math.min(kc, k - k0);
      long[] mapB = chunkMap(x.b(), transpose, launches, bBase, workspace, bCopy, k0, len, k, kc, n, n, w.bn());
      for (int j = 0; j < mChunks; j++) {
        long m0 = j * mc, rows = Math.min(mc, m - m0);
        long[] mapA = chunkMap(x.a(), transpose, launches, aBase + 4 * m0, workspace, aCopy, k0, len, k, kc, rows, m, w.bm());
        boolean last = j == mChunks - 1;
        Kernel kernel = c == 0 ? (last ? tail : first) : (last ? tailRest : rest);
        launches.add(Launch.of(kernel, wgmmaGrid(w, rows, n), Launch.Dim3.of(w.threads()), w.sharedBytes(), memory.pointer(4 * m0 * n),
            memory.pointer(intBase), args, mapA, mapB));
      }
    }
    return launches;
  }

  /**
   * The map of one operand (rows x K, at byte offset base from F) over the K chunk [k0, k0 + len): copied
   * transposed into the workspace at byte offset copyAt as rows x kc (the copy's launch added first) when
   * the operand is stored [k..., rows...] (stride floats a row of k), else read in place, len floats of each row k apart.
   */
  private long[] chunkMap(boolean copied, Kernel transpose, List<Launch> launches, long base, DeviceArena workspace, long copyAt, long k0, long len,
                          long k, long kc, long rows, long stride, int boxRows) {
    if (!copied) return TensorMaps.kMajorTf32(memory.pointer(base + 4 * k0), rows, len, k, boxRows);
    // dst (rows x kc) = the transpose of src (len x rows, stride floats apart): one 64 x 64 tile per block of 256 threads
    launches.add(Launch.of(transpose, Launch.Dim3.of(Math.toIntExact((rows + 63) / 64), Math.toIntExact((len + 63) / 64)), Launch.Dim3.of(256), 0,
        memory.pointer(base + 4 * k0 * stride), workspace.pointer(copyAt), Math.toIntExact(len), Math.toIntExact(rows), stride, kc));
    return TensorMaps.kMajorTf32(workspace.pointer(copyAt), rows, len, kc, boxRows);
  }

  public Cuda cuda() { return cuda; }
  public Arena layout() { return layout; }
  DeviceArena memory() { return memory; }
  /** Device memory in use by this process's context (arena, modules, CUDA's own), from cuMemGetInfo. */
  public long deviceBytesInUse() { return cuda.totalBytes() - cuda.freeBytes(); }

  private void launchAll(List<Step<List<Launch>>> part) {
    for (Step<List<Launch>> s : part) for (Launch x : s.planned()) cuda.launch(x);
  }

  /**
   * A part of a section (all of it, or the launches between two cuts, so a cut can queue work on another stream, an
   * event or NCCL, between parts): eager on the first run, then one captured graph replayed. While profiling every
   * launch eagerly, between two events.
   */
  @Override protected void runPart(String key, List<Step<List<Launch>>> part) {
    if (events != null) {
      for (Step<List<Launch>> s : part) {
        events[2 * s.index()].record();
        for (Launch x : s.planned()) cuda.launch(x);
        events[2 * s.index() + 1].record();
      }
      return;
    }
    if (!GRAPHS) {
      launchAll(part);
      return;
    }
    // the first run is eager (it surfaces a failing launch with its own name); the second captures
    // the launches as one CUDA graph, replayed from then on: one launch instead of hundreds
    Cuda.Graph graph = graphs.get(key);
    if (graph == null && runs.merge(key, 1, Integer::sum) >= 2) {
      graph = cuda.capture(() -> launchAll(part));
      graphs.put(key, graph);
    }
    if (graph != null) graph.launch();
    else launchAll(part);
  }

  private long byteOffset(Tensor t) {
    return t.dtype() == DType.I32 ? intBase + 4 * layout.offsetLong(t) : layout.bytesPerElement(t) * layout.offsetLong(t);
  }

  /** Where tensor t starts in the device arena (for NCCL collectives on a whole tensor). */
  public jcuda.driver.CUdeviceptr pointer(Tensor t) { return memory.pointer(byteOffset(t)); }

  @Override public void write(Tensor t, float[] values) {
    layout.requireElements(t, values.length);
    if (t.storage() == DType.BF16) memory.uploadBf16(values, byteOffset(t));
    else memory.upload(values, 0, byteOffset(t), values.length);
  }

  @Override public void write(Tensor t, int[] values) {
    layout.requireElements(t, values.length);
    memory.upload(values, 0, byteOffset(t), values.length);
  }

  @Override public float[] read(Tensor t) {
    if (t.storage() == DType.BF16) return memory.downloadBf16(byteOffset(t), (int) layout.elements(t));
    return memory.downloadFloats(byteOffset(t), (int) layout.elements(t));
  }

  @Override public float readScalar(Tensor t) {
    if (t.storage() == DType.BF16) return read(t)[0];
    memory.download(byteOffset(t), scalar, 0, 1);
    return scalar[0];
  }

  @Override public void synchronize() { cuda.synchronize(); }

  @Override public String describe() {
    return String.format("cuda: %s (%s), %s matmuls, %d launches, %d kernels (NVRTC %s: %d compiled in %.0f ms, %d from cache in %.0f ms), "
            + "device arena %.1f MB in %d allocation(s); %s; %s", cuda.name(), cuda.arch(), schedule.precision().name().toLowerCase(), stepLaunches(), kernelCount,
        Nvrtc.version(), compile.cold(), compile.coldMs(), compile.warm(), compile.warmMs(), memory.bytes() / 1e6, cuda.allocationCount(), tunedNote,
        GRAPHS ? "each section replayed as a CUDA graph from its second run" : "no CUDA graphs (KILN_CUDA_GRAPHS=0)");
  }

  /** Times every launch between two CUDA events (each launch eager, no graphs, while profiling). */
  @Override public void enableProfile() {
    super.enableProfile();
    events = new Cuda.Event[2 * all().size()];
    for (int i = 0; i < events.length; i++) events[i] = cuda.event();
  }

  /** Waits for the section, then adds each launch's time between its events. */
  @Override protected void profiled(List<Step<List<Launch>>> section) {
    cuda.synchronize();
    for (Step<List<Launch>> s : section) profileNanos[s.index()] += (long) (events[2 * s.index()].elapsedMs(events[2 * s.index() + 1]) * 1e6);
  }

  @Override public void close() {
    for (Cuda.Graph g : graphs.values()) g.close();
    if (events != null) for (Cuda.Event e : events) e.close();
    memory.close();
    if (workspace != null) workspace.close();
    for (Cuda.Module m : modules.values()) m.close();
  }
}
