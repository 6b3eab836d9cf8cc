// Where the backward's gradients become final, and the buckets a data-parallel step reduces while the
// rest of the backward runs: ranges of the flat gradient block grouped by the launch that last
// touches them, in the backward's order, each bucket closed by one launch.
package kiln.runtime.multi;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import kiln.dsl.Compute;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;

/**
 * The gradient block cut into buckets reduced in a fixed order as the backward produces them.
 *
 * <p><b>When a gradient is final.</b> An element of the block is final after the last launch of the
 * backward section that writes or reads it (its writers: a weight gradient's matmul, a bias's column
 * reduction, the embedding's scatter-add; a tied embedding is written early by the classifier's
 * matmul and again by the embedding's backward, the very last launch, so it is final only there).
 * Elements no launch touches (ZeRO padding, a parameter without a gradient) are final from the start.
 *
 * <p><b>Buckets.</b> The block's elements are ordered by that closing launch (then by offset), and
 * consecutive launches' elements are gathered until a bucket holds at least {@code bucketFloats};
 * all elements closed by one launch stay in one bucket (two buckets closing at the same launch would
 * only add a collective). A bucket is a list of disjoint, sorted ranges of the block (llm.c's order
 * keeps each kind of parameter for all layers together, so one layer's gradients are a dozen
 * ranges; the same kind of two neighbouring layers merges into one range). The last bucket takes
 * what is left, whatever its size. The plan depends only on the program, the grouping of its
 * launches and the sizes, so every rank reduces the same buckets in the same order.
 */
public record GradientBuckets(List<Bucket> buckets, int launches) {
  /** [start, start + count) floats of the gradient block. */
  public record Range(long start, long count) {
    public long end() { return start + count; }
  }

  /** Ranges reduced together, once launch {@code closedBy} of the backward section (its index) has run; -1: before any. */
  public record Bucket(int closedBy, List<Range> ranges) {
    public long floats() { return ranges.stream().mapToLong(Range::count).sum(); }
  }

  /** KILN_BUCKET_MB: the bucket size in MB (10^6 bytes) of fp32 gradients; default 25 (PyTorch DDP's default). */
  public static final String BUCKET_VARIABLE = "KILN_BUCKET_MB";
  public static final double DEFAULT_BUCKET_MB = 25;

  /**
   * Floats per bucket from KILN_BUCKET_MB's value (null or blank: the default; 0: buckets off, one
   * bucket of the whole block reduced after the backward); one clear line for a bad value.
   */
  public static long bucketFloats(String value) {
    double mb = DEFAULT_BUCKET_MB;
    if (value != null && !value.isBlank()) {
      try {
        mb = Double.parseDouble(value.strip());
      } catch (NumberFormatException e) {
        mb = -1;
      }
      if (mb == 0) return 0;
      if (!(mb > 0) || Double.isInfinite(mb)) {
        throw new IllegalArgumentException(BUCKET_VARIABLE + "=" + value + ": expected a size in MB (e.g. 25; 0 turns the buckets off)");
      }
    }
    return Math.max(1, (long) (mb * 1e6 / 4));
  }

  /** The launch indices that close at least one bucket, ascending (a bucket final before any launch goes with launch 0). */
  public int[] cuts() {
    return buckets.stream().mapToInt(b -> Math.max(0, b.closedBy())).distinct().sorted().toArray();
  }

  /**
   * Plans the buckets of the block of blockFloats floats (the grads root, padded under ZeRO) over the
   * backward section's launches, each the computes one launch runs, in the order they run.
   */
  public static GradientBuckets plan(List<List<Compute>> launches, Arena arena, Tensor grads, long blockFloats, long bucketFloats) {
    if (bucketFloats < 1) throw new IllegalArgumentException("bucket size must be positive, got " + bucketFloats + " floats");
    Tensor root = grads.root();
    long base = arena.offsetLong(root);
    // the last launch touching each element: boundaries of touched ranges -> the latest launch over the piece that starts there
    TreeMap<Long, Integer> last = new TreeMap<>();
    last.put(0L, -1);
    last.put(blockFloats, -1);
    for (int i = 0; i < launches.size(); i++) {
      for (Compute c : launches.get(i)) {
        touch(last, c.out(), root, arena, base, blockFloats, i);
        for (var load : Exprs.loads(c.body())) touch(last, load.tensor(), root, arena, base, blockFloats, i);
      }
    }
    // pieces [boundary, next boundary) with their closing launch, ordered by (closing launch, offset)
    List<long[]> pieces = new ArrayList<>();
    Long from = last.firstKey();
    while (from != null && from < blockFloats) {
      Long to = last.higherKey(from);
      pieces.add(new long[] {last.get(from), from, to});
      from = to;
    }
    pieces.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    List<Bucket> buckets = new ArrayList<>();
    List<long[]> open = new ArrayList<>();
    long size = 0;
    for (int k = 0; k < pieces.size(); k++) {
      long[] p = pieces.get(k);
      open.add(p);
      size += p[2] - p[1];
      boolean launchEnds = k + 1 == pieces.size() || pieces.get(k + 1)[0] != p[0];
      if (launchEnds && (size >= bucketFloats || k + 1 == pieces.size())) {
        buckets.add(new Bucket((int) p[0], merged(open)));
        open.clear();
        size = 0;
      }
    }
    return new GradientBuckets(List.copyOf(buckets), launches.size());
  }

  /** Marks [offset(t), offset(t) + elements(t)) of the block as touched by launch i (t a view of root, else ignored). */
  private static void touch(TreeMap<Long, Integer> last, Tensor t, Tensor root, Arena arena, long base, long blockFloats, int i) {
    if (t.root() != root) return;
    long start = arena.offsetLong(t) - base, end = Math.min(blockFloats, start + arena.elements(t));
    if (end <= start) return;
    split(last, start);
    split(last, end);
    for (var e : last.subMap(start, true, end, false).entrySet()) e.setValue(Math.max(e.getValue(), i));
  }

  /** A boundary at x, the piece starting there inheriting the closing launch of the piece it cuts. */
  private static void split(TreeMap<Long, Integer> last, long x) {
    if (!last.containsKey(x)) last.put(x, last.floorEntry(x).getValue());
  }

  /** The pieces' ranges sorted by offset, neighbours merged. */
  private static List<Range> merged(List<long[]> pieces) {
    List<long[]> sorted = new ArrayList<>(pieces);
    sorted.sort((a, b) -> Long.compare(a[1], b[1]));
    List<Range> out = new ArrayList<>();
    for (long[] p : sorted) {
      Range last = out.isEmpty() ? null : out.getLast();
      if (last != null && last.end() == p[1]) out.set(out.size() - 1, new Range(last.start(), p[2] - last.start()));
      else out.add(new Range(p[1], p[2] - p[1]));
    }
    return List.copyOf(out);
  }

  /** For each launch of the section, the buckets it closes (their indices, ascending); launch -1's go with launch 0's. */
  public int[][] closedAfter() {
    List<List<Integer>> at = new ArrayList<>();
    for (int i = 0; i < Math.max(1, launches); i++) at.add(new ArrayList<>());
    for (int b = 0; b < buckets.size(); b++) at.get(Math.max(0, buckets.get(b).closedBy())).add(b);
    int[][] out = new int[at.size()][];
    for (int i = 0; i < out.length; i++) out[i] = at.get(i).stream().mapToInt(Integer::intValue).toArray();
    return out;
  }

  /** One line: bucket count, sizes, how many close before the backward's last launch. */
  public String describe() {
    long early = buckets.stream().filter(b -> b.closedBy() < launches - 1).count();
    double mb = buckets.stream().mapToLong(Bucket::floats).max().orElse(0) * 4 / 1e6;
    return buckets.size() + " gradient bucket" + (buckets.size() == 1 ? "" : "s") + " (largest " + String.format("%.1f", mb) + " MB), " + early + " of them reduced while the backward runs";
  }
}
