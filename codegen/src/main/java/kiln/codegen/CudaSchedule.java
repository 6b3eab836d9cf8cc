// The knobs of the CUDA schedules (STYLE rule 5): block sizes, the matmul precision and the matmul
// tile of each precision, each tile kind with its config space for the autotuner. On Hopper (sm_90)
// TF32 matmuls whose operands are both K-major may use the wgmma tile instead of the mma one.
package kiln.codegen;

import java.util.ArrayList;
import java.util.List;

/**
 * wgmma: the Hopper tile for TF32 matmuls that fit it (CudaRenderer.wgmmaFits), or null where it is off (CudaExecutor.forDevice decides).
 * columns: the split-row column reduction for reductions over rows into contiguous outputs (CudaRenderer.columnar), or null where off.
 * wgmmaBf16: the Hopper tile for BF16 matmuls whose operands are both bf16 (CudaLowering.bf16Refusal), or null where it is off.
 */
public record CudaSchedule(int mapBlock, int reduceBlock, Precision precision, SimtTile simt, MmaTile mma, WgmmaTile wgmma, ColumnTile columns,
                           WgmmaBf16.Tile wgmmaBf16) {
  /**
   * FP32: exact fp32 FMAs on CUDA cores. TF32: tensor cores, inputs rounded to 10 mantissa bits, fp32 sums.
   * BF16: parameters (a copy of the fp32 master) and activations stored as bf16 (codegen's Bf16Storage pass,
   * on the CPU emulated), fp32 accumulation everywhere; on sm_90 a matmul of two bf16 operands runs on the
   * bf16 wgmma tile (wgmmaBf16), any other on the SIMT tile reading bf16.
   */
  public enum Precision { FP32, TF32, BF16 }

  /** A matmul's tile: what the launch needs (grid tiling, threads, dynamic shared memory) and its knobs as text. */
  public sealed interface MatmulTile extends Work.Tile permits SimtTile, MmaTile, WgmmaTile, WgmmaBf16.Tile {
    int threads();
    int sharedBytes();

    /** The inverse of knobs() for either tile kind; null when the text is neither (or an invalid point). */
    static MatmulTile parse(String knobs) {
      java.util.Map<String, Integer> v = Schedule.knobValues(knobs);
      if (v == null) return null;
      try {
        if (v.keySet().equals(java.util.Set.of("bm", "bn", "bk", "tm", "tn"))) return new SimtTile(v.get("bm"), v.get("bn"), v.get("bk"), v.get("tm"), v.get("tn"));
        if (v.keySet().equals(java.util.Set.of("bm", "bn", "bk", "wm", "wn", "stages"))) {
          return new MmaTile(v.get("bm"), v.get("bn"), v.get("bk"), v.get("wm"), v.get("wn"), v.get("stages"));
        }
        if (v.keySet().equals(java.util.Set.of("bm", "bn", "bk", "stages", "consumers"))) {
          return new WgmmaTile(v.get("bm"), v.get("bn"), v.get("bk"), v.get("stages"), v.get("consumers"));
        }
        if (v.keySet().equals(java.util.Set.of("bm", "bn", "bk", "wm", "wn", "stages", "splits"))) {
          return new MmaTile(v.get("bm"), v.get("bn"), v.get("bk"), v.get("wm"), v.get("wn"), v.get("stages"), v.get("splits"));
        }
        if (v.containsKey("group")) return WgmmaBf16.Tile.parse(knobs);
      } catch (IllegalArgumentException e) {
        return null;
      }
      return null;
    }
  }

  /** CUDA-core tile: BM x BN per block through shared memory, TM x TN outputs per thread. */
  public record SimtTile(int bm, int bn, int bk, int tm, int tn) implements MatmulTile {
    public SimtTile {
      if (bm % tm != 0 || bn % tn != 0 || (bm / tm) * (bn / tn) > 1024 || (bm / tm) * (bn / tn) < 32) {
        throw new IllegalArgumentException("SIMT tile " + bm + "x" + bn + " with " + tm + "x" + tn + " per thread: BM/TM x BN/TN must divide evenly into 32..1024 threads");
      }
    }

    @Override public int threads() { return (bm / tm) * (bn / tn); }
    @Override public int sharedBytes() { return 0; }   // static shared arrays
    @Override public String knobs() { return "bm=" + bm + " bn=" + bn + " bk=" + bk + " tm=" + tm + " tn=" + tn; }
  }

  /**
   * Tensor-core tile: BM x BN per block, WM x WN per warp (mma m16n8k8), BK-deep stages in a STAGES
   * ring; splits > 1 divides K among that many blocks per tile (split-K: partial sums in a workspace,
   * then a second kernel adds them in order).
   */
  public record MmaTile(int bm, int bn, int bk, int wm, int wn, int stages, int splits) implements MatmulTile {
    public MmaTile {
      if (bm % wm != 0 || bn % wn != 0 || wm % 16 != 0 || wn % 8 != 0 || bk % 8 != 0 || stages < 2
          || (bm / wm) * (bn / wn) * 32 > 1024 || bm % 32 != 0 || bn % 32 != 0 || splits < 1 || splits > 16) {
        throw new IllegalArgumentException("mma tile " + bm + "x" + bn + "x" + bk + " warp " + wm + "x" + wn + " stages " + stages
            + " splits " + splits + ": BM, BN multiples of 32 and of the warp tile (WM % 16, WN % 8), BK % 8, at least 2 stages,"
            + " at most 32 warps, 1 to 16 splits");
      }
    }

    public MmaTile(int bm, int bn, int bk, int wm, int wn, int stages) { this(bm, bn, bk, wm, wn, stages, 1); }

    /** Floats of workspace one launch needs: a partial C per split (none without split-K). */
    public long workspaceFloats(long batch, long m, long n) { return splits == 1 ? 0 : batch * splits * m * n; }

    @Override public int threads() { return (bm / wm) * (bn / wn) * 32; }

    /** The stage ring, at its largest padding (either layout of A and B). */
    @Override public int sharedBytes() { return 4 * stages * (Math.max(bm * (bk + 4), bk * (bm + 8)) + Math.max(bn * (bk + 4), bk * (bn + 8))); }

    @Override public String knobs() {
      return "bm=" + bm + " bn=" + bn + " bk=" + bk + " wm=" + wm + " wn=" + wn + " stages=" + stages + (splits > 1 ? " splits=" + splits : "");
    }
  }

  /**
   * Hopper tensor-core tile (sm_90a, TF32 wgmma m64nNk8, both operands K-major): BM x BN per block, BK-deep
   * stages (whole 32-float swizzle rows) in a STAGES ring filled by the copy engine, one producer
   * warpgroup and CONSUMERS (1 or 2) warpgroups of 128 threads, each multiplying BM / CONSUMERS rows.
   */
  public record WgmmaTile(int bm, int bn, int bk, int stages, int consumers) implements MatmulTile {
    /** Shared memory a block may opt in to on sm_90 (227 KiB). */
    public static final int SHARED_LIMIT = 227 * 1024;

    public WgmmaTile {
      if (consumers < 1 || consumers > 2 || bm % (64 * consumers) != 0 || bm > 256 || bn % 8 != 0 || bn < 8 || bn > 256 || bk % 32 != 0
          || bk < 32 || stages < 2 || (bm / consumers / 64) * bn / 2 > 128 || stageRing(bm, bn, bk, stages) > SHARED_LIMIT) {
        throw new IllegalArgumentException("wgmma tile " + bm + "x" + bn + "x" + bk + " stages " + stages + " consumers " + consumers
            + ": 1 or 2 consumer warpgroups of 64-row multiples, BM <= 256, BN a multiple of 8 up to 256, BK a multiple of 32,"
            + " at least 2 stages, at most 128 accumulators per thread, the ring within " + SHARED_LIMIT + " bytes");
      }
    }

    private static int stageRing(int bm, int bn, int bk, int stages) { return stages * bk * (bm + bn) * 4 + 16 * stages + 1024; }

    @Override public int threads() { return 128 * (consumers + 1); }

    /** The stage ring, its full and empty barriers, and 1024 bytes to align the swizzled tiles. */
    @Override public int sharedBytes() { return stageRing(bm, bn, bk, stages); }

    @Override public String knobs() { return "bm=" + bm + " bn=" + bn + " bk=" + bk + " stages=" + stages + " consumers=" + consumers; }
  }

  /**
   * The split-row column reduction (templates/cuda/colreduce.cu.ftl): blocks of 32 x `rows` threads, each thread
   * `lanes` neighbouring outputs (8: one 16-byte load of each row load where the shape allows, 1: an element a
   * row) over a contiguous chunk of rows, `unroll` rows at a time, the grid split along the rows until it has
   * about `blocks` blocks but no thread gets fewer than `minRows` rows; the splits' partial sums go to the
   * workspace and a second kernel adds them in a fixed order (deterministic).
   */
  public record ColumnTile(int rows, int unroll, int blocks, int minRows, int lanes) {
    public ColumnTile {
      if (rows < 1 || 32 * rows > 1024 || unroll < 1 || unroll > 8 || blocks < 1 || minRows < 1 || lanes != 1 && lanes != 8) {
        throw new IllegalArgumentException("column tile " + rows + " rows unroll " + unroll + " blocks " + blocks + " minRows " + minRows
            + " lanes " + lanes + ": 1 to 32 rows of 32 threads, unroll 1 to 8, positive block target and minimum rows, 1 or 8 lanes");
      }
    }

    /** The same tile with `lanes` outputs a thread (the renderer drops to 1 where a reduction has no vector path). */
    public ColumnTile withLanes(int lanes) { return new ColumnTile(rows, unroll, blocks, minRows, lanes); }

    /** Outputs a block covers (blockIdx.x steps over tiles of this many). */
    public int columns() { return 32 * lanes; }

    /**
     * {splits, chunk}: the grid's splits along the reduced extent (blockIdx.y) and the rows each thread sums
     * (the last ones may get fewer, or none), for `items` outputs reduced over `extent` rows. A function
     * of the shape only, so the order of the sums (and the result) is the same on every GPU.
     */
    public long[] plan(long items, long extent) {
      long tiles = Math.max(1, (items + columns() - 1) / columns()), rowsTotal = Math.max(1, extent);
      long splits = Math.max(1, Math.min((blocks + tiles - 1) / tiles, rowsTotal / ((long) rows * minRows)));
      splits = Math.min(splits, 65535);
      long chunk = (rowsTotal + splits * rows - 1) / (splits * rows);
      splits = (rowsTotal + chunk * rows - 1) / (chunk * rows);   // no split left without rows
      return new long[] {splits, chunk};
    }

    /** Floats of workspace one launch needs: a partial result per output per split. */
    public long workspaceFloats(long items, long extent) { return plan(items, extent)[0] * items; }
  }

  public static final ColumnTile COLUMNS_DEFAULT = new ColumnTile(8, 4, 512, 32, 8);
  public static final SimtTile SIMT_DEFAULT = new SimtTile(64, 64, 16, 4, 4);
  public static final MmaTile MMA_DEFAULT = new MmaTile(128, 128, 32, 64, 32, 3);
  /** Best or within 15% of best on GPT-2's five forward shapes on an H200 (docs/perf.md, "GPU: Hopper matmul"). */
  public static final WgmmaTile WGMMA_DEFAULT = new WgmmaTile(128, 192, 32, 5, 2);
  public static final CudaSchedule DEFAULT = new CudaSchedule(256, 256, Precision.FP32, SIMT_DEFAULT, MMA_DEFAULT, null, COLUMNS_DEFAULT, null);

  /** The precision's general matmul tile (every layout, every GPU). */
  public MatmulTile matmul() { return precision == Precision.TF32 ? mma : simt; }

  /**
   * The tile a matmul gets by default: the wgmma tile where it is on and the matmul fits it, else matmul(). (At BF16 the
   * lowering first offers a matmul of two bf16 operands to wgmmaBf16: CudaLowering.bf16Wgmma.)
   */
  public MatmulTile matmulFor(MatmulMatch mm) {
    return precision == Precision.TF32 && wgmma != null && CudaRenderer.wgmmaFits(mm) ? wgmma : matmul();
  }

  public CudaSchedule withPrecision(Precision p) { return new CudaSchedule(mapBlock, reduceBlock, p, simt, mma, wgmma, columns, wgmmaBf16); }

  /** This schedule with the Hopper tile on (a tile) or off (null). */
  public CudaSchedule withWgmma(WgmmaTile tile) { return new CudaSchedule(mapBlock, reduceBlock, precision, simt, mma, tile, columns, wgmmaBf16); }

  /** This schedule with the split-row column reduction on (a tile) or off (null: every reduction a block per output). */
  public CudaSchedule withColumns(ColumnTile tile) { return new CudaSchedule(mapBlock, reduceBlock, precision, simt, mma, wgmma, tile, wgmmaBf16); }

  /** This schedule with the bf16 Hopper tile on (a tile: BF16 matmuls of two bf16 operands on sm_90) or off (null). */
  public CudaSchedule withWgmmaBf16(WgmmaBf16.Tile tile) { return new CudaSchedule(mapBlock, reduceBlock, precision, simt, mma, wgmma, columns, tile); }

  /** The tuner's space for one matmul: matmulSpace(), plus the wgmma tiles where they are on and the matmul fits them. */
  public List<MatmulTile> matmulSpace(MatmulMatch mm) {
    List<MatmulTile> space = matmulSpace();
    if (matmulFor(mm) instanceof WgmmaTile) space.addAll(0, wgmmaSpace());
    if (!space.contains(matmulFor(mm))) space.addFirst(matmulFor(mm));
    return space;
  }

  /** The wgmma points the tuner tries (each within the shared-memory limit). */
  public static List<MatmulTile> wgmmaSpace() {
    List<MatmulTile> space = new ArrayList<>();
    for (int[] t : new int[][] {{128, 256, 32, 4, 2}, {128, 256, 32, 3, 2}, {128, 192, 32, 5, 2}, {128, 128, 32, 6, 2}, {128, 128, 64, 3, 1},
        {256, 128, 32, 4, 2}, {64, 256, 32, 5, 1}, {128, 96, 32, 8, 2}, {128, 64, 32, 8, 2}, {64, 128, 32, 8, 1}}) {
      space.add(new WgmmaTile(t[0], t[1], t[2], t[3], t[4]));
    }
    return space;
  }

  /** The tuner's space for this precision's matmul tile (BF16: the SIMT tiles, which read bf16 operands). */
  public List<MatmulTile> matmulSpace() {
    List<MatmulTile> space = new ArrayList<>();
    if (precision == Precision.FP32 || precision == Precision.BF16) {
      for (int[] t : new int[][] {{64, 64, 16, 4, 4}, {64, 64, 8, 4, 4}, {128, 64, 16, 8, 4}, {64, 128, 16, 4, 8}, {128, 128, 16, 8, 8},
          {128, 128, 8, 8, 8}, {32, 64, 16, 2, 4}, {64, 32, 16, 4, 2}, {32, 32, 16, 2, 2}}) {
        space.add(new SimtTile(t[0], t[1], t[2], t[3], t[4]));
      }
      return space;
    }
    for (int[] t : new int[][] {{128, 128, 64, 32}, {128, 128, 32, 64}, {128, 64, 64, 32}, {64, 128, 32, 64}, {64, 64, 32, 32},
        {128, 256, 64, 64}, {256, 128, 64, 64}, {64, 256, 32, 64}}) {
      for (int bk : new int[] {16, 32}) {
        for (int stages : new int[] {2, 3, 4}) {
          MmaTile m = new MmaTile(t[0], t[1], bk, t[2], t[3], stages);
          if (m.sharedBytes() <= 200 * 1024) space.add(m);
        }
      }
      for (int splits : new int[] {2, 4}) {   // split-K for small M x N over a long K (weight gradients)
        space.add(new MmaTile(t[0], t[1], 32, t[2], t[3], 3, splits));
      }
    }
    return space;
  }

  /**
   * DEFAULT at the given precision, with the matmul tile from KILN_CUDA_TILE when set:
   * "BM,BN,BK,TM,TN" (fp32), "BM,BN,BK,WM,WN,STAGES" (tf32 mma) or "BM,BN,BK,STAGES,CONSUMERS" (tf32 wgmma,
   * used on sm_90 only), for trying points by hand.
   */
  public static CudaSchedule fromEnvironment(Precision precision) {
    CudaSchedule s = DEFAULT.withPrecision(precision);
    // bf16 wgmma (sm_90 only): the tile as knobs text, "bm=128 bn=128 stages=6 consumers=2 pingpong=1 group=16"
    String bf16 = System.getenv("KILN_WGMMA_BF16_TILE");
    if (precision == Precision.BF16 && bf16 != null && !bf16.isBlank()) {
      WgmmaBf16.Tile t = WgmmaBf16.Tile.parse(bf16);
      if (t == null) {
        throw new IllegalArgumentException("KILN_WGMMA_BF16_TILE=" + bf16 + ": expected bf16 wgmma knobs such as \"" + WgmmaBf16.DEFAULT.knobs()
            + "\" (bm, bn multiples of 64 up to 256, stages, consumers 1 to 3, pingpong=1 with 2, group, tmastore=1, splits, cluster=2)");
      }
      s = s.withWgmmaBf16(t);
    }
    String tile = System.getenv("KILN_CUDA_TILE");
    if (tile == null || tile.isBlank()) return s;
    String[] f = tile.split(",");
    try {
      int[] v = java.util.Arrays.stream(f).mapToInt(x -> Integer.parseInt(x.strip())).toArray();
      if (precision == Precision.FP32 && v.length == 5) return new CudaSchedule(s.mapBlock, s.reduceBlock, precision, new SimtTile(v[0], v[1], v[2], v[3], v[4]), s.mma, s.wgmma, s.columns, s.wgmmaBf16);
      if (precision == Precision.TF32 && v.length == 5) return s.withWgmma(new WgmmaTile(v[0], v[1], v[2], v[3], v[4]));
      if (precision == Precision.TF32 && v.length == 6) return new CudaSchedule(s.mapBlock, s.reduceBlock, precision, s.simt, new MmaTile(v[0], v[1], v[2], v[3], v[4], v[5]), s.wgmma, s.columns, s.wgmmaBf16);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("KILN_CUDA_TILE=" + tile + ": " + e.getMessage());
    }
    throw new IllegalArgumentException("KILN_CUDA_TILE=" + tile + ": expected BM,BN,BK,TM,TN for fp32, BM,BN,BK,WM,WN,STAGES (mma) or BM,BN,BK,STAGES,CONSUMERS (wgmma, sm_90) for tf32, found "
        + f.length + " numbers at " + precision.name().toLowerCase());
  }
}
