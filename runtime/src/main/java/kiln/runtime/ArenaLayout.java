// The arena's layout, a pure plan: for every tensor of a program an offset in one region per element
// type, derived from the declarations and the bound dim sizes, never written by hand (llm.c's
// TENSOR_SPEC, computed). Params, grads, optimizer state, inputs and pinned outputs live all step;
// every other tensor lives from the first to the last launch that touches it, tensors whose lifetimes
// do not overlap share space (first fit, largest first), and an output may take an input's place
// (in-place). It holds no memory: Arena (host) and the CUDA executor (device) store what it plans.
package kiln.runtime;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

public class ArenaLayout {
  private final Map<Dim, Integer> sizes;
  private final Map<Tensor, Long> rootOffsets = new HashMap<>();
  private final Map<Role, Long> bytesByRole = new LinkedHashMap<>();

  /**
   * The computes of one step as the launches that run them, in order: computes that one kernel runs
   * together (a matmul and its epilogue, kiln.codegen.Epilogue.groups) share one time step, so a tensor any
   * of them touches lives through the whole launch.
   */
  public record Launches(List<List<kiln.dsl.Compute>> groups, List<List<List<kiln.dsl.Compute>>> alternatives) {
    public Launches(List<List<kiln.dsl.Compute>> groups) { this(groups, List.of()); }

    public static Launches each(List<kiln.dsl.Compute> order) { return new Launches(order.stream().map(List::of).toList()); }

    /**
     * groups, then each alternative: other orders the same computes may run in (a training step's forward and backward as
     * one joined section, kiln.codegen.RowFusion.joined, beside the sections apart). The layout holds for every order: two
     * tensors share storage only where their lifetimes are apart in each, and an output takes an input's place only where
     * each order allows it.
     */
    public List<List<List<kiln.dsl.Compute>>> orders() {
      List<List<List<kiln.dsl.Compute>>> all = new java.util.ArrayList<>();
      all.add(groups);
      all.addAll(alternatives);
      return all;
    }
  }

  /**
   * @param pinned   tensors read after a step (logits, loss) that must keep their own space
   * @param launches the step's launches in order (null: no sharing, every tensor its own space)
   * @param host     a host layout (bf16 emulated as floats, no padding) or a device one (bf16 packed two a
   *                 slot, every root on a 64-byte boundary)
   * @param storage  room for at least storage.get(t) elements behind each root t named there (zero, never
   *                 read as the tensor): ZeRO-1 pads the params and grads blocks to equal shards per rank
   */
  public ArenaLayout(Graph graph, Map<Dim, Integer> bound, java.util.Set<Tensor> pinned, Launches launches, boolean host,
                     Map<Tensor, Long> storage) {
    List<List<List<kiln.dsl.Compute>>> orders = launches == null ? null : launches.orders();
    this.host = host;
    this.sizes = new HashMap<>(bound);
    this.granule = host ? 1 : DEVICE_GRANULE;
    for (Graph.DerivedDim d : graph.derivedDims()) {
      long n = 0;
      for (Tensor.Term t : d.size()) n += t.coefficient() * product(t.dims());
      sizes.put(d.dim(), checkedInt(n, d.dim().name()));
    }
    List<Map<Tensor, int[]>> lives = orders == null ? List.of(Map.of()) : orders.stream().map(ArenaLayout::lifetimes).toList();
    Map<Tensor, int[]> lifetimes = lives.getFirst();
    long floats = 0, ints = 0;
    List<Tensor> shared = new java.util.ArrayList<>();
    for (Tensor t : graph.roots()) {
      long n = slots(t);
      bytesByRole.merge(t.role(), bytesPerElement(t) * elements(t), Long::sum);
      boolean transientTensor = (t.role() == Role.ACT || t.role() == Role.ACT_GRAD) && !pinned.contains(t) && lifetimes.containsKey(t);
      if (t.dtype() == DType.I32) { rootOffsets.put(t, ints); ints += n; }
      else if (transientTensor) shared.add(t);
      else { rootOffsets.put(t, floats); floats += padded(Math.max(n, storage.getOrDefault(t, 0L))); }
    }
    // an in-place pair holds where every order finds it
    Map<Tensor, Tensor> inPlace = new HashMap<>();
    if (orders != null) {
      inPlace.putAll(inPlace(orders.getFirst(), lifetimes, new java.util.HashSet<>(shared)));
      for (int o = 1; o < orders.size(); o++) {
        Map<Tensor, Tensor> other = inPlace(orders.get(o), lives.get(o), new java.util.HashSet<>(shared));
        inPlace.entrySet().removeIf(e -> !e.getValue().equals(other.get(e.getKey())));
      }
    }
    List<Tensor> units = shared.stream().filter(t -> !inPlace.containsKey(t)).toList();
    List<Map<Tensor, int[]>> unitLives = new java.util.ArrayList<>();
    for (Map<Tensor, int[]> life : lives) {
      Map<Tensor, int[]> unitLife = new HashMap<>(life);
      for (var e : inPlace.entrySet()) {
        Tensor u = representative(e.getValue(), inPlace);
        int[] a = unitLife.get(u), b = life.get(e.getKey());
        if (a == null || b == null) continue;
        unitLife.put(u, new int[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
      }
      unitLives.add(unitLife);
    }
    sharedFloats = place(units, unitLives, floats);
    for (Tensor t : inPlace.keySet()) rootOffsets.put(t, rootOffsets.get(representative(t, inPlace)));
    floats += sharedFloats;
    this.floatCount = floats;
    this.intCount = ints;
  }

  /** Device arenas start every root tensor on a 64-byte boundary (vector loads, cp.async 16-byte copies). */
  static final int DEVICE_GRANULE = 16;
  private final int granule;
  /** A host layout (the CPU's fused loops), not a device one (CUDA's row kernels). */
  private final boolean host;

  private long padded(long n) { return (n + granule - 1) / granule * granule; }

  private long sharedFloats;
  private final long floatCount, intCount;

  public long floatCount() { return floatCount; }
  public long intCount() { return intCount; }

  private static Tensor representative(Tensor t, Map<Tensor, Tensor> inPlace) {
    Tensor r = t;
    while (inPlace.containsKey(r)) r = inPlace.get(r);
    return r;
  }

  /**
   * In-place pairs out -> input: a compute that assigns every element of a transient root `out`
   * (no reduction, no accumulate) and reads a transient root `input` of the same size only at the
   * same index, where that compute is out's first touch and input's last, may write out over input:
   * each element is read before it is overwritten, by the same thread. (The classifier's dlogits
   * takes the logits' storage this way.)
   */
  private Map<Tensor, Tensor> inPlace(List<List<kiln.dsl.Compute>> order, Map<Tensor, int[]> life, java.util.Set<Tensor> transients) {
    Map<Tensor, Tensor> pairs = new HashMap<>();
    java.util.Set<Tensor> taken = new java.util.HashSet<>();
    for (int k = 0; k < order.size(); k++) {
      List<kiln.dsl.Compute> launch = order.get(k);
      boolean epilogue = kiln.codegen.Epilogue.fused(launch);
      for (int at = 0; at < launch.size(); at++) {
        kiln.dsl.Compute c = launch.get(at);
        Tensor out = c.out();
        if (c.accumulate() || !c.isFullCover() || !c.rootReductions().isEmpty() || c.body() instanceof kiln.dsl.Expr.Extern) continue;
        if (out.isView() || !transients.contains(out) || life.get(out)[0] != k || touched(launch.subList(0, at), out)) continue;
        Tensor candidate = null;
        boolean ok = true;
        for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) {
          Tensor u = l.tensor();
          if (u.root().equals(out)) { ok = false; break; }
          if (u.isView() || !transients.contains(u) || life.get(u)[1] != k || u.dtype() != out.dtype() || u.storage() != out.storage() || elements(u) != elements(out)) continue;
          if (!l.index().equals(c.outIndex())) { candidate = null; ok = false; break; }
          // within the launch nothing after c touches u; before c, a matmul's epilogue may touch u only at its own
          // index, while a row kernel's or fused loop's statements interleave across threads: none may touch u at all
          List<kiln.dsl.Compute> before = launch.subList(0, at);
          boolean beforeOk = epilogue ? onlyElementwise(before, u) : !touched(before, u) || !host && rowReadsFirst(launch, at, u);
          if (candidate == null && !taken.contains(u) && beforeOk && !touched(launch.subList(at + 1, launch.size()), u)) candidate = u;
        }
        if (!ok || candidate == null) continue;   // the loop above saw every read of the candidate at the output's index
        pairs.put(out, candidate);
        taken.add(candidate);
      }
    }
    return pairs;
  }

  /**
   * Whether launch is a CUDA row kernel (kiln.codegen.RowFusion) whose stages before stage at only read t, each where no
   * element of t is overwritten by stage at before the read: a reduction or element map along the row at its own element
   * (a thread touches the same elements in every stage), a per-row value anywhere in the row (every thread reads it and
   * thread 0's store waits for the row, CudaRows' row_sync after a read from global memory), a write at a computed place
   * (between two barriers); never a tensor a column sum before it reads (it may run after the kernel). The joined classifier: the forward's max, Σ exp and loss read the logits that its backward's
   * dlogits then take in place.
   */
  private static boolean rowReadsFirst(List<kiln.dsl.Compute> launch, int at, Tensor t) {
    kiln.codegen.RowFusion.Plan plan = kiln.codegen.RowFusion.plan(launch);
    if (plan == null || t.dtype() != DType.F32) return false;
    List<kiln.dsl.Expr> element = new java.util.ArrayList<>(plan.rows());
    element.add(plan.r());
    for (int k = 0; k < at; k++) {
      kiln.codegen.RowFusion.Stage s = plan.stages().get(k);
      kiln.dsl.Compute c = s.compute();
      if (c.out().root().equals(t.root())) return false;
      for (kiln.dsl.Expr e : c.outIndex()) for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(e)) if (l.tensor().root().equals(t.root())) return false;
      // a column sum may run after the row kernel (CudaLowering.rowsThenColumnSums): what it reads is never taken in place
      if (s.kind() == kiln.codegen.RowFusion.Kind.COLSUM && touched(List.of(c), t)) return false;
      boolean alongRow = s.kind() == kiln.codegen.RowFusion.Kind.REDUCE || s.kind() == kiln.codegen.RowFusion.Kind.MAP;
      for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) {
        if (l.tensor().root().equals(t.root()) && alongRow && !(l.tensor().equals(t) && l.index().equals(element))) return false;
      }
    }
    return true;
  }

  private static boolean touched(List<kiln.dsl.Compute> computes, Tensor t) {
    for (kiln.dsl.Compute c : computes) {
      if (c.out().root().equals(t.root())) return true;
      for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) if (l.tensor().root().equals(t.root())) return true;
      for (kiln.dsl.Expr e : c.outIndex()) for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(e)) if (l.tensor().root().equals(t.root())) return true;
    }
    return false;
  }

  /** Every compute that touches t writes it whole at its own index, or reads it (exactly t) at that index. */
  private static boolean onlyElementwise(List<kiln.dsl.Compute> computes, Tensor t) {
    for (kiln.dsl.Compute c : computes) {
      if (c.out().root().equals(t.root()) && !(c.out().equals(t) && c.isFullCover() && !c.accumulate())) return false;
      for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) {
        if (l.tensor().root().equals(t.root()) && !(l.tensor().equals(t) && l.index().equals(c.outIndex()))) return false;
      }
      for (kiln.dsl.Expr e : c.outIndex()) for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(e)) if (l.tensor().root().equals(t.root())) return false;
    }
    return true;
  }

  /** [first, last] index of the launches whose computes write or read each root tensor. */
  private static Map<Tensor, int[]> lifetimes(List<List<kiln.dsl.Compute>> order) {
    Map<Tensor, int[]> life = new HashMap<>();
    for (int k = 0; k < order.size(); k++) {
      final int at = k;
      java.util.function.Consumer<Tensor> touch = t -> life.merge(t.root(), new int[] {at, at},
          (a, b) -> new int[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
      for (kiln.dsl.Compute c : order.get(k)) {
        touch.accept(c.out());
        for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) touch.accept(l.tensor());
        for (kiln.dsl.Expr e : c.outIndex()) for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(e)) touch.accept(l.tensor());
      }
    }
    return life;
  }

  /** First-fit, largest first: each tensor at the lowest offset clear of every placed tensor it overlaps in time. */
  private long place(List<Tensor> tensors, List<Map<Tensor, int[]>> lives, long base) {
    List<Tensor> bySize = new java.util.ArrayList<>(tensors);
    bySize.sort((a, b) -> Long.compare(slots(b), slots(a)));
    List<long[]> placed = new java.util.ArrayList<>();   // {offset, size}
    List<Tensor> order = new java.util.ArrayList<>();     // the tensor of each
    long end = 0;
    for (Tensor t : bySize) {
      long n = padded(slots(t));
      List<long[]> clash = new java.util.ArrayList<>();
      for (int q = 0; q < placed.size(); q++) if (overlap(lives, t, order.get(q))) clash.add(placed.get(q));
      clash.sort((a, b) -> Long.compare(a[0], b[0]));
      long off = 0;
      for (long[] p : clash) {
        if (off + n <= p[0]) break;
        off = Math.max(off, p[0] + p[1]);
      }
      placed.add(new long[] {off, n});
      order.add(t);
      rootOffsets.put(t, base + off);
      end = Math.max(end, off + n);
    }
    return end;
  }

  /** Whether a's and b's lifetimes overlap in some order (one that touches only one of them keeps them apart). */
  private static boolean overlap(List<Map<Tensor, int[]>> lives, Tensor a, Tensor b) {
    for (Map<Tensor, int[]> life : lives) {
      int[] x = life.get(a), y = life.get(b);
      if (x != null && y != null && x[0] <= y[1] && y[0] <= x[1]) return true;
    }
    return false;
  }

  /** Bytes of the region that transient tensors share. */
  public long sharedBytes() { return 4 * sharedFloats; }

  public int size(Dim d) {
    Integer n = sizes.get(d);
    if (n == null) throw new IllegalArgumentException("dim " + d + " is not bound");
    return n;
  }

  public Map<Dim, Integer> sizes() { return sizes; }

  public long product(List<Dim> dims) {
    long n = 1;
    for (Dim d : dims) n *= size(d);
    return n;
  }

  public long elements(Tensor t) { return product(t.dims()); }

  /** Fails unless a copy of values values fits t: one per element. */
  public void requireElements(Tensor t, int values) {
    if (values != elements(t)) throw new IllegalArgumentException(t.name() + ": expected " + elements(t) + " values, found " + values);
  }

  /**
   * 4-byte slots a root takes in the float region: one per element, except bf16 tensors in a device
   * layout, which pack two elements a slot (host arenas emulate bf16 as floats holding bf16 values).
   */
  private long slots(Tensor t) { return bf16Packed(t) ? (elements(t) + 1) / 2 : elements(t); }

  private boolean bf16Packed(Tensor t) { return granule != 1 && t.storage() == DType.BF16; }

  /** Bytes of one element of t as this layout stores it. */
  public long bytesPerElement(Tensor t) { return bf16Packed(t) ? 2 : 4; }

  /** A kernel's argument block: the sizes of its dims, then the offsets of its tensors (host arenas: ints). */
  public int[] launchArgs(List<Dim> dims, List<Tensor> tensors) {
    long[] wide = launchArgsLong(dims, tensors);
    int[] a = new int[dims.size() + tensors.size()];
    for (int k = 0; k < a.length; k++) a[k] = checkedInt(wide[k], k < dims.size() ? dims.get(k).name() : tensors.get(k - dims.size()).name());
    return a;
  }

  /** The same block with 64-bit offsets (device arenas); at least one slot, as a struct needs one. */
  public long[] launchArgsLong(List<Dim> dims, List<Tensor> tensors) {
    long[] a = new long[Math.max(1, dims.size() + tensors.size())];
    int k = 0;
    for (Dim d : dims) a[k++] = size(d);
    for (Tensor t : tensors) a[k++] = offsetLong(t);
    return a;
  }

  /** Offset of a tensor (root or view) in its arena, in elements; host arenas fit an int. */
  public int offset(Tensor t) { return checkedInt(offsetLong(t), t.name()); }

  /**
   * Offset of a tensor in elements of its storage from the start of its region: floats, ints, or in a
   * device layout bf16 elements (2 bytes) from the float region's start, so a kernel addresses it as
   * ((bf16*) F)[offset + i].
   */
  public long offsetLong(Tensor t) {
    long off = rootOffsets.get(t.root()) * (bf16Packed(t) ? 2 : 1);
    for (Tensor.Term term : t.rootOffset()) off += term.coefficient() * product(term.dims());
    return off;
  }

  public long bytes() { return 4L * floatCount + 4L * intCount; }

  public Map<Role, Long> bytesByRole() { return bytesByRole; }

  static int checkedInt(long n, String what) {
    if (n > Integer.MAX_VALUE) throw new IllegalArgumentException(what + " has " + n + " elements, more than an int index");
    return (int) n;
  }
}
