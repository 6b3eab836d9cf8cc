// The bf16 member of the Hopper matmul family (templates/cuda/matmul_wgmma_bf16.cu.ftl): its tile knobs
// as a typed config space, the operand layouts it reads in place (K-major or MN-major, through wgmma's
// transpose bits) and the rendering of one standalone kernel, which takes C, M, N, K, ldc and three tensor
// maps over device pointers (kiln.runtime.cuda.Bf16Matmul: MatmulBench, the GPU test). A matmul of the
// program's bf16 tensors renders the same template through CudaRenderer.matmul, with kiln's argument
// block and the epilogue (CudaLowering picks it at BF16 on sm_90).
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public final class WgmmaBf16 {
  private WgmmaBf16() {}

  /** How an operand is stored: rows x K with k contiguous, or K x rows with the rows (m or n) contiguous. */
  public enum Major { K, MN }

  /** The element type C is written in: fp32, or bf16 rounded to nearest even. */
  public enum Out { F32, BF16 }

  /** Elements along K of one stage: one 128-byte swizzle row of bf16. */
  public static final int BK = 64;

  /**
   * BM x BN per tile, a STAGES-deep ring of BK-deep stages shared by all consumers, CONSUMERS (1 to 3)
   * warpgroups that either split a tile's rows (cooperative) or take whole tiles in turn (pingpong, two
   * consumers), the persistent grid's raster in groups of GROUP tiles along M; tmaStore stages bf16 C in
   * shared memory for the copy engine to store (fp32 C and += keep the stores from registers). splits > 1
   * is split-K: each output tile's K range is cut into that many runs of whole 64-deep stages, each a unit of
   * work of its own whose fp32 partial sums go to a workspace, and a second kernel adds them into C in split
   * order (deterministic; no epilogue, no tmaStore). cluster 2: blocks in pairs (a thread-block cluster) that take two
   * M tiles at one N tile together, each copying its own A and half of B into both blocks' stages (the copy engine's
   * multicast), so a pair reads B from L2 once; cooperative, unsplit tiles only.
   */
  public record Tile(int bm, int bn, int stages, int consumers, boolean pingpong, int group, boolean tmaStore, int splits, int cluster)
      implements CudaSchedule.MatmulTile {
    /** Shared memory a block may opt in to on sm_90 (227 KiB). */
    public static final int SHARED_LIMIT = 227 * 1024;
    /** Accumulators a consumer thread may hold with one or two consumers (which get 232 registers each through setmaxnreg). */
    public static final int MAX_ACCUMULATORS = 128;
    /** The same with three consumers: 512 threads share the SM's 64K registers, the consumers get 152 each (the producer 40). */
    public static final int MAX_ACCUMULATORS_3 = 96;

    /** Registers setmaxnreg gives a consumer thread of a block of c consumers (the producer keeps 40): 232, or 152 for three. */
    public static int consumerRegisters(int c) { return c == 3 ? 152 : 232; }

    /** Most splits along K a tile may take. */
    public static final int MAX_SPLITS = 32;

    public Tile {
      String why = problem(bm, bn, stages, consumers, pingpong, group, tmaStore, splits, cluster);
      if (why != null) {
        throw new IllegalArgumentException("bf16 wgmma tile " + bm + "x" + bn + " stages " + stages + " consumers " + consumers
            + (pingpong ? " pingpong" : "") + " group " + group + (tmaStore ? " tmastore" : "") + (splits != 1 ? " splits " + splits : "")
            + (cluster != 1 ? " cluster " + cluster : "") + ": " + why);
      }
    }

    /** A tile of lone blocks (no cluster). */
    public Tile(int bm, int bn, int stages, int consumers, boolean pingpong, int group, boolean tmaStore, int splits) {
      this(bm, bn, stages, consumers, pingpong, group, tmaStore, splits, 1);
    }

    /** A tile without split-K. */
    public Tile(int bm, int bn, int stages, int consumers, boolean pingpong, int group, boolean tmaStore) {
      this(bm, bn, stages, consumers, pingpong, group, tmaStore, 1);
    }

    /** A tile that stores C from the registers. */
    public Tile(int bm, int bn, int stages, int consumers, boolean pingpong, int group) { this(bm, bn, stages, consumers, pingpong, group, false); }

    private static String problem(int bm, int bn, int stages, int consumers, boolean pingpong, int group, boolean tmaStore, int splits, int cluster) {
      if (splits < 1 || splits > MAX_SPLITS) return "1 to " + MAX_SPLITS + " splits along K, found " + splits;
      if (cluster != 1 && cluster != 2) return "clusters of 1 or 2 blocks, found " + cluster;
      if (cluster == 2 && (pingpong || splits != 1)) return "a cluster of 2 takes cooperative, unsplit tiles";
      if (consumers < 1 || consumers > 3) return "1 to 3 consumer warpgroups, found " + consumers;
      if (pingpong && consumers != 2) return "pingpong needs 2 consumers";
      int rows = pingpong ? bm : bm / Math.max(1, consumers);
      if (bm < 64 || bm > 256 || bm % 64 != 0 || rows % 64 != 0) return "BM a multiple of 64 up to 256, 64-row blocks per consumer";
      if (bn < 64 || bn > 256 || bn % 64 != 0) return "BN a multiple of 64 up to 256";
      if (stages < 2) return "at least 2 stages";
      int most = consumers == 3 ? MAX_ACCUMULATORS_3 : MAX_ACCUMULATORS;
      if (rows / 64 * bn / 2 > most) return "at most " + most + " accumulators per thread" + (consumers == 3 ? " with 3 consumers" : "") + ", found " + rows / 64 * bn / 2;
      if (group < 1 || group > 64) return "a raster group of 1 to 64 tiles";
      int shared = sharedBytes(bm, bn, stages, consumers, pingpong, tmaStore);
      if (shared > SHARED_LIMIT) return (tmaStore ? "the ring and C's staging need " : "the ring needs ") + shared + " bytes, over " + SHARED_LIMIT;
      return null;
    }

    private static int sharedBytes(int bm, int bn, int stages, int consumers, boolean pingpong, boolean tmaStore) {
      int staging = tmaStore ? (pingpong ? consumers : 1) * bm * bn * 2 : 0;
      return stages * (bm + bn) * BK * 2 + staging + 8 * (2 * stages + 2) + 1024;
    }

    /** This tile storing C from the registers (false) or through the copy engine where it can (true). */
    public Tile withTmaStore(boolean on) { return new Tile(bm, bn, stages, consumers, pingpong, group, on, splits, cluster); }

    /** This tile with K split `s` ways (1: no split-K; a clustered tile splits as lone blocks). */
    public Tile withSplits(int s) { return new Tile(bm, bn, stages, consumers, pingpong, group, tmaStore, s, s == 1 ? cluster : 1); }

    /** Output tiles of an M x N product. */
    public long outputTiles(long m, long n) { return ((m + bm - 1) / bm) * ((n + bn - 1) / bn); }

    /** Floats of workspace one launch needs: a dense fp32 M x N of partial sums per split (none without split-K). */
    public long workspaceFloats(long m, long n) { return splits == 1 ? 0 : splits * m * n; }

    /** Accumulators a consumer thread holds: its rows of a tile (all BM ping-pong, BM / consumers cooperative) x BN / 128 threads. */
    public int accumulators() { return (pingpong ? bm : bm / consumers) / 64 * bn / 2; }

    /** Producer warpgroup plus the consumers. */
    @Override public int threads() { return 128 * (consumers + 1); }

    /** The stage ring, C's staging (tmaStore), the full, empty and order barriers, and 1024 bytes to align the swizzled tiles. */
    @Override public int sharedBytes() { return sharedBytes(bm, bn, stages, consumers, pingpong, tmaStore); }

    /**
     * Rows of the copy engine's box of an operand: BM, or BN / cluster (each block of a pair copies its half of B) rows for a
     * K-major one, 64 (and BK deep) for an MN-major one.
     */
    public int boxRows(Major major, boolean a) { return major == Major.MN ? 64 : a ? bm : bn / cluster; }

    /** Persistent blocks for an M x N output on a GPU of `multiprocessors` SMs: one per SM, at most one per unit (tile x split). */
    public int blocks(long m, long n, int multiprocessors) {
      if (cluster == 2) return 2 * (int) Math.max(1, Math.min((m + 2L * bm - 1) / (2L * bm) * ((n + bn - 1) / bn), multiprocessors / 2));
      return (int) Math.max(1, Math.min(outputTiles(m, n) * splits, multiprocessors));
    }

    /** "bm=128 bn=256 stages=4 consumers=2 group=16" (and " pingpong"): the knobs as a table or cache writes them. */
    @Override public String knobs() {
      return "bm=" + bm + " bn=" + bn + " stages=" + stages + " consumers=" + consumers + (pingpong ? " pingpong=1" : "") + " group=" + group
          + (tmaStore ? " tmastore=1" : "") + (splits != 1 ? " splits=" + splits : "") + (cluster != 1 ? " cluster=" + cluster : "");
    }

    /** The inverse of knobs(); null when the text is no valid point. */
    public static Tile parse(String knobs) {
      Map<String, Integer> v = Schedule.knobValues(knobs);
      if (v == null || !v.keySet().containsAll(List.of("bm", "bn", "stages", "consumers", "group"))) return null;
      if (!java.util.Set.of("bm", "bn", "stages", "consumers", "group", "pingpong", "tmastore", "splits", "cluster").containsAll(v.keySet())) return null;
      try {
        return new Tile(v.get("bm"), v.get("bn"), v.get("stages"), v.get("consumers"), v.getOrDefault("pingpong", 0) == 1, v.get("group"),
            v.getOrDefault("tmastore", 0) == 1, v.getOrDefault("splits", 1), v.getOrDefault("cluster", 1));
      } catch (IllegalArgumentException e) {
        return null;
      }
    }
  }

  /**
   * Cooperative 128 x 192, bf16 C through the copy engine: best or within 2 % of best on six of GPT-2's seven
   * bf16 shapes on an H200 (docs/perf.md, "The bf16 Hopper matmul").
   */
  public static final Tile DEFAULT = new Tile(128, 192, 4, 2, false, 16, true);

  /**
   * Cooperative 128 x 256 with 3 stages, bf16 C through the copy engine: what `kiln tune` picked on the H200 for fc's input
   * gradient (32768 x 3072 x 768: 8 % under DEFAULT), fcproj (3 %) and dlnf (1 %) and within noise of DEFAULT on the other
   * N % 256 == 0 shapes (docs/perf.md, session 11); with KILN_WGMMA_BF16_WIDE=1 the untuned tile of a bf16-C matmul whose N
   * it divides (CudaLowering.bf16UntunedBare).
   */
  public static final Tile WIDE = new Tile(128, 256, 3, 2, false, 16, true);

  /** 192 x 128 with three consumers, C through the copy engine: the lm_head's untuned tile (CudaLowering.measuredBf16). */
  public static final Tile TALL_3 = new Tile(192, 128, 4, 3, false, 16, true);

  /** 192 x 192 with three consumers, 3 stages, C through the copy engine: a short-K input gradient's (CudaLowering.measuredBf16). */
  public static final Tile SQUARE_3 = new Tile(192, 192, 3, 3, false, 16, true);

  /** 128 x 256, 4 stages, C from the registers (in the tuner's space; the tied embedding's weight gradient's until session 14). */
  public static final Tile WIDE_4 = new Tile(128, 256, 4, 2, false, 16);

  /** SQUARE_3 in raster groups of 8 M tiles: fc's and fcproj's input gradient's (CudaLowering.measuredBf16). */
  public static final Tile SQUARE_3_G8 = new Tile(192, 192, 3, 3, false, 8, true);

  /** WIDE in raster groups of 8 M tiles: narrow outputs over a long K, and the tied embedding's weight gradient (CudaLowering.measuredBf16). */
  public static final Tile WIDE_G8 = new Tile(128, 256, 3, 2, false, 8, true);

  /** DEFAULT in clusters of two blocks that share B (a raster group of 8 pairs: the same 16 M tiles). */
  public static final Tile CLUSTERED = new Tile(128, 192, 4, 2, false, 16, true, 1, 2);

  /** The points the tuner (and MatmulBench) try: cooperative and ping-pong, wide and narrow in N, C from registers or the copy engine. */
  public static List<Tile> space() {
    List<Tile> space = new ArrayList<>();
    space.add(WIDE_4);
    space.add(new Tile(128, 192, 5, 2, false, 16));
    space.add(new Tile(128, 128, 6, 2, false, 16));
    space.add(new Tile(128, 128, 6, 2, true, 16));
    space.add(new Tile(64, 256, 5, 2, true, 16));
    space.add(new Tile(128, 128, 6, 1, false, 16));
    space.add(DEFAULT);
    space.add(new Tile(128, 256, 3, 2, false, 16, true));
    space.add(new Tile(128, 128, 5, 2, true, 16, true));
    space.add(new Tile(256, 128, 3, 2, false, 16, true));
    // three consumers, 64 rows each: 192 x 192 (a fifth fewer operand bytes per product than 128 x 192) and 192 x 128
    space.add(SQUARE_3);
    space.add(new Tile(192, 192, 4, 3, false, 16));
    space.add(TALL_3);
    // raster groups of 8 (the measured untuned tiles of CudaLowering.measuredBf16)
    space.add(SQUARE_3_G8);
    space.add(WIDE_G8);
    // pairs sharing B (each reads its A and half of B from L2): the default and the wide tile so
    space.add(CLUSTERED);
    space.add(new Tile(128, 256, 3, 2, false, 16, true, 1, 2));
    return space;
  }

  /** SMs the split-K choice plans for: an H200's 132. A constant, so the kernels and the order of the sums depend on the shape only. */
  public static final int PLAN_SMS = 132;
  /** Fewest 64-deep stages a split gets (shorter runs spend more on filling the ring and storing partial sums than they save). */
  public static final int MIN_SPLIT_STAGES = 16;
  /** Partial sums split-K may write (64 MB of workspace; the sums are read back once more by the second kernel). */
  public static final long MAX_SPLIT_FLOATS = 16L << 20;
  /** A unit's fixed cost in stage times: filling the ring, draining the last stage, storing its partial (or C) tile. */
  static final double UNIT_STAGES = 4;
  /**
   * Bytes the second kernel moves in one stage time of a 128 x 192 tile (about 0.45 us at about 3.5 TB/s), and the fixed cost
   * of a split (the second launch and its tail) in stage times: 10, fitted to 21 split-K timings of GPT-2's four weight
   * gradients on the H200 (2 to 10 splits; the model within 5 % on 19 of them; it was 4 before those measurements).
   */
  static final double BYTES_PER_STAGE = 1.6e6, SUM_LAUNCH_STAGES = 10;
  /**
   * How much faster than no split a split must be predicted to be: 0.9 (was 0.85). fcw and fcprojw at B x T = 32768 (96
   * tiles, predicted 0.89 at 4 splits) measured 3.3 to 2.8 ms a step with 4 splits, 0.85.
   */
  static final double SPLIT_GAIN = 0.9;

  /**
   * The splits along K for an M x N x K product on tile (its own splits ignored): 1 unless the output tiles leave
   * PLAN_SMS SMs idle and K is long. The predicted time of S splits is the persistent grid's rounds
   * (ceil(tiles x S / PLAN_SMS)) times a unit's stages (ceil(kStages / S) + UNIT_STAGES), scaled by the tile's area
   * against 128 x 192, plus the second kernel's traffic (S partial sums written and read, C written);
   * the fastest S wins where it beats no split by SPLIT_GAIN. GPT-2 124M at B x T = 32768: the attention projection's
   * weight gradient (768 x 768, 24 tiles of 128 x 192) gets 5 splits, fcw and fcprojw (96 tiles) 4.
   */
  public static int splitsFor(Tile tile, long m, long n, long k) {
    long tiles = tile.outputTiles(m, n), stages = (k + BK - 1) / BK;
    double area = tile.bm() * (double) tile.bn() / (128 * 192);
    double none = splitCost(tiles, stages, 1, area, m, n);
    int best = 1;
    double bestCost = none;
    for (int s = 2; s <= Tile.MAX_SPLITS && stages / s >= MIN_SPLIT_STAGES && s * m * n <= MAX_SPLIT_FLOATS; s++) {
      double c = splitCost(tiles, stages, s, area, m, n);
      if (c < bestCost) {
        best = s;
        bestCost = c;
      }
    }
    return bestCost <= SPLIT_GAIN * none ? best : 1;
  }

  /** splitsFor's predicted time of s splits, in stage times of a 128 x 192 tile. */
  static double splitCost(long tiles, long stages, int s, double area, long m, long n) {
    long rounds = (tiles * s + PLAN_SMS - 1) / PLAN_SMS;
    double main = rounds * ((stages + s - 1) / s + UNIT_STAGES) * area;
    return s == 1 ? main : main + (2.0 * s + 1) * 4 * m * n / BYTES_PER_STAGE + SUM_LAUNCH_STAGES;
  }

  /** One rendered kernel: its function name, CUDA source and what it was rendered for (tmaStore: C goes through the copy engine). */
  public record Kernel(String function, String source, Tile tile, Major a, Major b, Out out, boolean accumulate, boolean tmaStore) {}

  /** The kernel C (+)= A·Bᵀ for operands stored as a and b say, C written as out. */
  public static Kernel render(Tile tile, Major a, Major b, Out out, boolean accumulate) {
    boolean tmaStore = tmaStore(tile, out, accumulate);
    Map<String, Object> m = model(tile, a, b, out, accumulate, tmaStore);
    String kind = "wgmma_bf16" + (accumulate ? "_acc" : "");
    m.put("args", false);
    m.put("epilogue", "");
    m.put("epiPairs", false);
    m.put("bf16", true);
    m.put("nargs", 1);
    m.put("kind", kind);
    m.put("comment", "C[m, n] " + (accumulate ? "+=" : "=") + " sum_k A(m, k) * B(n, k) (bf16 wgmma, sm_90a), A " + a.name() + "-major, B "
        + b.name() + "-major, C " + out.name().toLowerCase() + ", " + tile.knobs());
    String placeholder = "k_" + kind + "_HASH";
    m.put("name", placeholder);
    String source = CudaRenderer.process("matmul_wgmma_bf16.cu.ftl", m);
    String function = "k_" + kind + "_" + Kernels.hash(source);
    return new Kernel(function, source.replace(placeholder, function), tile, a, b, out, accumulate, tmaStore);
  }

  /** Whether C goes through the copy engine: the tile asks for it, C is bf16 and assigned (no +=), no split-K. */
  static boolean tmaStore(Tile tile, Out out, boolean accumulate) { return tile.tmaStore() && out == Out.BF16 && !accumulate && tile.splits() == 1; }

  /** The template's knobs and layouts (the standalone kernel and CudaRenderer.matmul add the rest). */
  static Map<String, Object> model(Tile tile, Major a, Major b, Out out, boolean accumulate, boolean tmaStore) {
    Map<String, Object> m = new HashMap<>();
    m.put("bm", tile.bm());
    m.put("bn", tile.bn());
    m.put("stages", tile.stages());
    m.put("consumers", tile.consumers());
    m.put("consumerRegs", Tile.consumerRegisters(tile.consumers()));
    m.put("pingpong", tile.pingpong());
    m.put("group", tile.group());
    m.put("cluster", tile.cluster());
    m.put("aMN", a == Major.MN);
    m.put("bMN", b == Major.MN);
    m.put("outBf16", out == Out.BF16);
    m.put("accumulate", accumulate);
    m.put("tmaStore", tmaStore);
    m.put("splits", tile.splits());
    return m;
  }
}
