// How a rendered kernel's launch covers its work, for either backend: the CPU runs Threads items
// (maps) and Tiles (matmuls) on its pool, the GPU shapes its grid by every kind.
package kiln.codegen;

import java.util.List;
import java.util.Objects;
import java.util.function.ToIntFunction;
import java.util.stream.Stream;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;

public sealed interface Work {
  /** A matmul's tile: the outputs of one work item (a block on the GPU), its knobs as the tuning cache writes them. */
  interface Tile {
    int bm();
    int bn();
    /** "bm=64 bn=64 bk=16 tm=4 tn=4": the knobs as the tuning cache and its table write them. */
    String knobs();
  }

  /** "batch x M x N x K" at the given sizes: the shape part of a tuning key. */
  static String shape(List<Dim> batch, List<Dim> m, List<Dim> n, List<Dim> k, ToIntFunction<Dim> size) {
    return product(batch, size) + "x" + product(m, size) + "x" + product(n, size) + "x" + product(k, size);
  }

  /** The product of the dims' sizes (1 for none). */
  static long product(List<Dim> dims, ToIntFunction<Dim> size) {
    long p = 1;
    for (Dim d : dims) p *= size.applyAsInt(d);
    return p;
  }

  /**
   * One thread per item; with lanes > 1 an item is a vector of that many consecutive elements along the last
   * item dim (a map over contiguous rows, CudaRenderer.map), so the launch covers that dim rounded up to lanes.
   */
  public record Threads(List<Dim> items, int lanes) implements Work {
    public Threads(List<Dim> items) { this(items, 1); }

    /** Threads the launch needs, with each dim's size from `size`. */
    public long count(java.util.function.ToLongFunction<Dim> size) {
      long n = 1;
      for (int i = 0; i < items.size(); i++) {
        long d = size.applyAsLong(items.get(i));
        n *= i == items.size() - 1 ? (d + lanes - 1) / lanes : d;
      }
      return n;
    }
  }
  /** One block per item; the block strides a reduction of `extent` elements. */
  public record Blocks(List<Dim> items, List<Dim> extent) implements Work {}
  /**
   * One block per (n tile, m tile, batch) of the given tile (for a WgmmaTile: per (m tile, n tile), with
   * the tensor maps of a and b, each a dense [rows..., k...] tensor, as launch arguments).
   */
  public record Tiles(List<Dim> batch, List<Dim> m, List<Dim> n, List<Dim> k, Tile tile, Tensor a, Tensor b, Transposed transposed)
      implements Work {
    /** "BxMxNxK" with the sizes bound (the tuning cache's shape key). */
    public String shape(ToIntFunction<Dim> size) { return Work.shape(batch, m, n, k, size); }

    /** The same matmul under another tile (the Java renderer's body is the same under every schedule). */
    public Tiles withTile(Tile t) { return new Tiles(batch, m, n, k, t, a, b, transposed); }

    /** Tiles of bm x bn outputs over the batch: a CPU launch's work items (a CUDA grid of one block per tile). */
    public long count(ToIntFunction<Dim> size) {
      return product(batch, size) * ((product(n, size) + tile.bn() - 1) / tile.bn()) * ((product(m, size) + tile.bm() - 1) / tile.bm());
    }
  }

  /**
   * A wgmma matmul that reads an operand stored [k..., rows...] through a K-major copy (Transposes.plan):
   * per chunk of kChunk along K, the transpose kernel copies each such operand's chunk into the
   * workspace (A's at float 0, B's after M x kChunk floats), then the matmul kernel (the Rendered
   * this Tiles belongs to for chunk 0, `rest` for the later chunks: its `+=` twin, or null where chunk
   * 0's kernel already accumulates or there is one chunk) runs over that chunk.
   */
  public record Transposed(boolean a, boolean b, long kChunk, int chunks, Rendered transpose, Rendered rest,
                           long mChunk, int mChunks, Rendered tail, Rendered tailRest) {
    /**
     * Chunked along M too (mChunks > 1, A copied): per K chunk B's slice is copied once, then per M chunk
     * of mChunk rows (a multiple of 256) A's slice is copied and the launch writes those rows of C; the last
     * M chunk (fewer rows) runs `tail` for K chunk 0 and `tailRest` (its `+=` twin, or null as for rest) after.
     */
    public boolean byRows() { return mChunks > 1; }

    /** The kernels the launch runs besides its own: the transpose, then rest, tail and tailRest where present. */
    public List<Rendered> kernels() { return Stream.of(transpose, rest, tail, tailRest).filter(Objects::nonNull).toList(); }

    /** Workspace floats this launch needs: each copied operand's rows (A's M chunk) x kChunk. */
    public long workspaceFloats(long m, long n) { return ((a ? (byRows() ? mChunk : m) : 0) + (b ? n : 0)) * kChunk; }
  }

  /**
   * The bf16 Hopper matmul (matmul_wgmma_bf16.cu.ftl, WgmmaBf16) over the program's tensors: a persistent grid
   * of at most one block per SM, the maps of a and b (bf16, stored as aMajor and bMajor say, dense) and, where
   * tmaStore, of c (bf16, dense [m..., n...]: C, or the epilogue output the kernel stages) as launch arguments after the
   * argument block.
   */
  public record Bf16Tiles(List<Dim> m, List<Dim> n, List<Dim> k, WgmmaBf16.Tile tile, Tensor a, WgmmaBf16.Major aMajor, Tensor b,
                          WgmmaBf16.Major bMajor, Tensor c, WgmmaBf16.Out out, boolean tmaStore) implements Work {
    /** "1xMxNxK" with the sizes bound (the tuning cache's shape key). */
    public String shape(ToIntFunction<Dim> size) { return Work.shape(List.of(), m, n, k, size); }
  }

  /**
   * The split-row column reduction (colreduce.cu.ftl): blocks of 32 outputs x tile.rows() threads over
   * (tiles of items) x (splits along extent, ColumnTile.plan), partial sums in the workspace, then the
   * _sum kernel over items x outputs. outputs: the sibling reductions the launch takes at once (over the same
   * rows and items, sharing a row load: a layernorm's weight and bias gradients), each with its own partials.
   */
  public record Columns(List<Dim> items, List<Dim> extent, CudaSchedule.ColumnTile tile, int outputs) implements Work {
    public Columns {
      if (outputs < 1) throw new IllegalArgumentException("a column reduction of " + outputs + " outputs");
    }

    /** One reduction a launch. */
    public Columns(List<Dim> items, List<Dim> extent, CudaSchedule.ColumnTile tile) { this(items, extent, tile, 1); }
  }

  /** One block per (row, tile of `tileRows` along t): the attention externs (FlashAttention). */
  public record RowTiles(List<Dim> rows, Dim t, int tileRows, int threads, int sharedBytes) implements Work {}

  /**
   * A row kernel (row.cu.ftl, RowFusion) over `rows`, each row `extent` long, moved in vectors of `lanes`
   * elements (4: float4s; 8: where bf16 rows move, 16 bytes of bf16): about extent / (lanes x
   * vectorsPerThread) threads a row, a power of two from 32 to maxThreads; a row of at most 16 vectors
   * gets a group of that many lanes of a warp (at least MIN_LANES), one vector each (attention's dyy: 64
   * bf16 a row, 8 lanes, 4 rows a warp); rows that one warp or less serves go warpRows warps to a block,
   * longer ones one to a block.
   */
  public record Rows(List<Dim> rows, Dim extent, int maxThreads, int vectorsPerThread, int warpRows, int lanes, int cacheBytes,
                     int columnSums) implements Work {
    public Rows(List<Dim> rows, Dim extent, int maxThreads, int vectorsPerThread, int warpRows, int lanes) {
      this(rows, extent, maxThreads, vectorsPerThread, warpRows, lanes, 0, 0);
    }

    /**
     * Most blocks of a row kernel with column sums (columnSums > 0: COLSUM stages): its blocks stride over the rows, and
     * each stores its partial sums (columnSums x extent floats) for function_sum to add; 8 blocks of 4 warps an SM on the
     * H200's 132; KILN_COLSUM_BLOCKS sets it (to measure), columnSumBlocksOverride where set (tests: several rows a block on few rows).
     */
    public static int columnSumBlocks() {
      Integer o = columnSumBlocksOverride;
      return o != null ? o : blocksFromEnv("KILN_COLSUM_BLOCKS", 1056, 1, "1 or more");
    }

    /** Tests: the column-sum kernels' most blocks (null: columnSumBlocks() from the environment). */
    public static volatile Integer columnSumBlocksOverride;

    /**
     * Most blocks of a row kernel whose rows take maxThreads threads each (the classifier's, 50,304 logits long), its blocks
     * striding over the rows: KILN_LONG_ROW_BLOCKS, 0 (the default) for a block a row. Fewer rows in flight keep a row in L2
     * between the kernel's two passes over it (8 blocks an SM hold ≈ 100 MB of logits rows, twice the L2), but every cap
     * measured slower (docs/perf.md, "The classifier's rows with a capped grid").
     */
    public static int longRowBlocks() { return blocksFromEnv("KILN_LONG_ROW_BLOCKS", 0, 0, "0: a block a row"); }

    /** A number of blocks from the environment variable name (unset or blank: otherwise), at least least; a clear error else. */
    private static int blocksFromEnv(String name, int otherwise, int least, String expected) {
      String env = System.getenv(name);
      if (env == null || env.isBlank()) return otherwise;
      try {
        int n = Integer.parseInt(env.strip());
        if (n >= least) return n;
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new IllegalArgumentException(name + ": expected a number of blocks (" + expected + "), found '" + env + "'");
    }

    /**
     * Blocks of the launch over `rows` rows of `extent`: one per rowsPerBlock rows, at most columnSumBlocks() with column sums,
     * at most longRowBlocks() (where set) for rows of maxThreads threads.
     */
    public long blocks(long rows, long extent) {
      int per = rowsPerBlock(extent);
      long blocks = Math.max(1, (rows + per - 1) / per);
      if (columnSums > 0) return Math.min(blocks, columnSumBlocks());
      int cap = threads(extent) >= maxThreads ? longRowBlocks() : 0;
      return cap > 0 ? Math.min(blocks, cap) : blocks;
    }

    /** Floats of workspace the launch needs: each block's partial column sums (0 without column sums). */
    public long workspaceFloats(long rows, long extent) {
      return columnSums > 0 ? blocks(rows, extent) * columnSums * extent : 0;
    }

    /** Fewest threads a row: shorter rows leave lanes idle. */
    static final int MIN_LANES = 4;

    /**
     * Most dynamic shared memory a block's row cache takes: two blocks an SM (228 KB on Hopper, 1 KB of it reserved a
     * block); a longer row is read again from global memory instead (the kernel checks the size it was given).
     */
    public static final int CACHE_LIMIT = 112 * 1024;

    /**
     * Bytes of dynamic shared memory a block takes for a row of `extent` elements: cacheBytes an element (the row kernel
     * keeps a row it reads twice there, CudaRows' row cache), rounded up to 16; 0 where there is no cache or it would
     * pass CACHE_LIMIT.
     */
    public int sharedBytes(long extent) {
      long n = (extent * cacheBytes + 15) / 16 * 16;
      return cacheBytes == 0 || n > CACHE_LIMIT ? 0 : (int) n;
    }

    /** Threads per row (blockDim.x) for a row of `extent` elements. */
    public int threads(long extent) {
      long vectors = (extent + lanes - 1) / lanes;
      if (vectors <= 16) {
        int t = MIN_LANES;
        while (t < vectors) t <<= 1;
        return t;
      }
      long step = (long) lanes * vectorsPerThread;
      long want = Math.max(1, (extent + step - 1) / step);
      int t = 32;
      while (t < want && t < maxThreads) t <<= 1;
      return t;
    }

    /** Rows a block (blockDim.y): warpRows warps' worth where a row takes a warp or less. */
    public int rowsPerBlock(long extent) {
      int t = threads(extent);
      return t <= 32 ? warpRows * (32 / t) : 1;
    }
  }
}
