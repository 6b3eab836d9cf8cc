// ZeRO-1 (llm.c's -z 1) arithmetic over the flat parameter block: which contiguous slice each rank
// owns, and the AdamW state a rank keeps.
package kiln.runtime.multi;

/**
 * The block of {@code params} floats (all parameters back to back, as in the arena) padded to
 * {@link #paddedSize()}, a multiple of {@code ranks × align}, and cut into {@code ranks} equal slices
 * of {@link #shardSize()} floats: rank r owns [r·shard, (r+1)·shard). Equal slices are what
 * ncclAllGather needs (one count for every rank), and a shard that is a multiple
 * of align keeps every slice start aligned (32 floats = 128 bytes past the block's start, which the arena
 * must itself align).
 *
 * <p>One step with ZeRO-1, per rank, on the padded grads and params blocks (the padding is zero and
 * stays zero: its gradient is never written, so AdamW moves it by lr·(0/(0+eps) + wd·0) = 0):
 * <ol>
 *   <li>backward on the rank's share of the global batch writes its local gradient block;
 *   <li>each part of a gradient bucket that lies in rank q's slice ncclReduce'd (SUM) onto q, in place, as
 *       the backward closes the bucket: the rank's slice now holds the SUM over ranks of the local gradients,
 *       as after a reduce-scatter (docs/multi-gpu.md, "Gradient buckets");
 *   <li>the global norm: the rank's sum of squares over its slice, ncclAllReduce(SUM) of that one float,
 *       then sqrt(sum) / N — the norm of the mean gradient, what one GPU would see;
 *   <li>AdamW over the rank's slice only, with m and v of shardSize floats each.
 *       <b>The division by N happens here</b>: the update kernel already multiplies each gradient by the
 *       gradient-scale slot (global-norm clipping), so that slot gets clip / N and
 *       the mean costs no extra pass over memory. For N a power of two, sum × (clip / N) is bit-identical
 *       to (sum / N) × clip; otherwise it may differ by one rounding from a literal sum / N;
 *   <li>ncclAllGather(params + start(rank), params, shardSize, float32), in place: every rank holds the
 *       whole updated block again.
 * </ol>
 * ncclAvg is not used for the mean: NCCL pre-scales each rank's input by 1/N, another rounding order,
 * and the scale slot makes it free anyway.
 */
public record ZeroShards(long params, int ranks, int align) {
  /** Floats per alignment unit: 32 floats = 128 bytes, so every slice starts on a 128-byte boundary. */
  public static final int DEFAULT_ALIGN = 32;

  public ZeroShards {
    if (params < 1) throw new IllegalArgumentException("ZeRO shards: the parameter block must hold at least 1 float, got " + params);
    if (ranks < 1) throw new IllegalArgumentException("ZeRO shards: ranks must be positive, got " + ranks);
    if (align < 1) throw new IllegalArgumentException("ZeRO shards: align must be positive, got " + align);
    long unit = (long) ranks * align;
    if (params > Long.MAX_VALUE - unit) throw new IllegalArgumentException("ZeRO shards: " + params + " floats cannot be padded");
  }

  public static ZeroShards of(long params, int ranks) { return new ZeroShards(params, ranks, DEFAULT_ALIGN); }

  /** params rounded up to a multiple of ranks × align; the grads and params blocks are allocated this long. */
  public long paddedSize() {
    long unit = (long) ranks * align;
    return (params + unit - 1) / unit * unit;
  }

  /** Floats per rank: every rank's slice, and the count of each all-gather. */
  public long shardSize() { return paddedSize() / ranks; }

  /** First float of rank's slice. */
  public long start(int rank) { return checkRank(rank) * shardSize(); }

  /** One past the last float of rank's slice. */
  public long end(int rank) { return start(rank) + shardSize(); }

  public long startBytes(int rank) { return start(rank) * Float.BYTES; }

  private long checkRank(int rank) {
    if (rank < 0 || rank >= ranks) throw new IndexOutOfBoundsException("ZeRO shards: rank must be in [0, " + ranks + "), got " + rank);
    return rank;
  }

  /** e.g. "124475904 params over 4 ranks: 31118976 floats each (padded to 124475904), AdamW state 62237952 floats per rank". */
  @Override
  public String toString() {
    return params + " params over " + ranks + " ranks: " + shardSize() + " floats each (padded to " + paddedSize() + "), AdamW state "
        + 2 * shardSize() + " floats per rank";
  }
}
