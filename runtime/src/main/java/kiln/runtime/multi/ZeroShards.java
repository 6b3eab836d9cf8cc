// ZeRO-1 (llm.c's -z 1) arithmetic over the flat parameter block: which contiguous slice each rank
// owns, the tensors and in-tensor ranges a slice covers, and the AdamW state a rank keeps.
package kiln.runtime.multi;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The block of {@code params} floats (all parameters back to back, as in the arena) padded to
 * {@link #paddedSize()}, a multiple of {@code ranks × align}, and cut into {@code ranks} equal slices
 * of {@link #shardSize()} floats: rank r owns [r·shard, (r+1)·shard). Equal slices are what
 * ncclReduceScatter / ncclAllGather need (one count for every rank), and a shard that is a multiple
 * of align keeps every slice start aligned (32 floats = 128 bytes past the block's start, which the arena
 * must itself align).
 *
 * <p>One step with ZeRO-1, per rank, on the padded grads and params blocks (the padding is zero and
 * stays zero: its gradient is never written, so AdamW moves it by lr·(0/(0+eps) + wd·0) = 0):
 * <ol>
 *   <li>backward on the rank's share of the global batch writes its local gradient block;
 *   <li>ncclReduceScatter(grads, grads + start(rank), shardSize, float32, SUM), in place: the rank's slice
 *       now holds the SUM over ranks of the local gradients (docs/multi-gpu.md: overlapping it with backward);
 *   <li>the global norm: the rank's sum of squares over its slice, ncclAllReduce(SUM) of that one float,
 *       then {@link #meanGradNorm(double)} — the norm of the mean gradient, what one GPU would see;
 *   <li>AdamW over the rank's slice only, with m and v of shardSize floats each ({@link #optimizerFloats()}).
 *       <b>The division by N happens here</b>: the update kernel already multiplies each gradient by the
 *       gradient-scale slot (global-norm clipping), so that slot gets {@link #gradScale(float) clip / N} and
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

  /** One parameter tensor of the block, in block order. */
  public record Tensor(String name, long size) {
    public Tensor {
      Objects.requireNonNull(name, "name");
      if (size < 1) throw new IllegalArgumentException("ZeRO shards: tensor '" + name + "' must have at least 1 element, got " + size);
    }
  }

  /**
   * The part of tensor {@code tensor} (its index in the list) inside a rank's slice: elements
   * [from, to) of the tensor, which sit at [blockOffset, blockOffset + (to - from)) of the block.
   */
  public record Span(String name, int tensor, long from, long to, long blockOffset) {
    public long count() { return to - from; }
  }

  /** params rounded up to a multiple of ranks × align; the grads and params blocks are allocated this long. */
  public long paddedSize() {
    long unit = (long) ranks * align;
    return (params + unit - 1) / unit * unit;
  }

  /** Floats per rank: every rank's slice, and the count of each reduce-scatter and all-gather. */
  public long shardSize() { return paddedSize() / ranks; }

  /** First float of rank's slice. */
  public long start(int rank) { return checkRank(rank) * shardSize(); }

  /** One past the last float of rank's slice. */
  public long end(int rank) { return start(rank) + shardSize(); }

  public long count(int rank) {
    checkRank(rank);
    return shardSize();
  }

  /** Floats of rank's slice that are real parameters (the rest is padding, at the end of the last slices). */
  public long ownedParams(int rank) {
    long from = Math.min(start(rank), params), to = Math.min(end(rank), params);
    return to - from;
  }

  public long startBytes(int rank) { return start(rank) * Float.BYTES; }

  /** AdamW state one rank keeps: m and v of its slice. One GPU without ZeRO keeps 2·params. */
  public long optimizerFloats() { return 2 * shardSize(); }

  /** The AdamW gradient-scale slot for a step: global-norm clipping times 1/N, which turns the summed gradient into the mean. */
  public float gradScale(float clipScale) { return clipScale / ranks; }

  /** The global norm of the mean gradient, from the all-reduced sum of squares of the summed gradient's slices. */
  public double meanGradNorm(double summedSquares) { return Math.sqrt(summedSquares) / ranks; }

  /**
   * The tensors rank's slice overlaps, in block order, each with its in-tensor range. tensors must
   * fill the block exactly (their sizes add up to params); padding belongs to no tensor.
   */
  public List<Span> overlaps(int rank, List<Tensor> tensors) {
    long from = start(rank), to = end(rank);
    checkTensors(tensors);
    List<Span> spans = new ArrayList<>();
    long offset = 0;
    for (int i = 0; i < tensors.size(); i++) {
      Tensor t = tensors.get(i);
      long lo = Math.max(from, offset), hi = Math.min(to, offset + t.size());
      if (lo < hi) spans.add(new Span(t.name(), i, lo - offset, hi - offset, lo));
      offset += t.size();
      if (offset >= to) break;
    }
    return spans;
  }

  private void checkTensors(List<Tensor> tensors) {
    long total = 0;
    for (Tensor t : tensors) total += t.size();
    if (total != params) {
      throw new IllegalArgumentException("ZeRO shards: the " + tensors.size() + " tensors hold " + total + " floats, the block has " + params);
    }
  }

  private long checkRank(int rank) {
    if (rank < 0 || rank >= ranks) throw new IndexOutOfBoundsException("ZeRO shards: rank must be in [0, " + ranks + "), got " + rank);
    return rank;
  }

  /** e.g. "124475904 params over 4 ranks: 31118976 floats each (padded to 124475904), AdamW state 62237952 floats per rank". */
  @Override
  public String toString() {
    return params + " params over " + ranks + " ranks: " + shardSize() + " floats each (padded to " + paddedSize() + "), AdamW state "
        + optimizerFloats() + " floats per rank";
  }
}
