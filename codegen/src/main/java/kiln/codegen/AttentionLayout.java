// Where causal attention's operands lie in memory, as every attention kernel reads them: for q, k, v
// and the output y, an element offset and the element strides of (batch, position, head), the head
// dim contiguous; query head h reads key/value head h / G. Derived from the tensors' dims, so GPT-2's
// packed qkv and Llama/Gemma's RoPE'd heads are two stride sets of one kernel family (kiln.codegen.Externs).
package kiln.codegen;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;

/**
 * The layout of one attention: q, k, v (B, T, heads, HS) read and y written; gradients share their
 * operand's layout (dq as q, dy as y). batch, seq and headSize are y's first, second and last dims,
 * heads its dims between (query heads, outer first); kvHeads the leading ones of them that k and v
 * carry: G = |heads| / |kvHeads| query heads share a key/value head.
 */
public record AttentionLayout(Operand q, Operand k, Operand v, Operand y, Dim batch, Dim seq, List<Dim> heads, List<Dim> kvHeads,
                              Dim headSize) {
  public AttentionLayout {
    heads = List.copyOf(heads);
    kvHeads = List.copyOf(kvHeads);
  }

  /**
   * One operand: element (b, t, h, d) of tensor lies at offset + b·batch + t·position + h·head + d
   * elements from the tensor's own start (each term a coefficient times a product of dims, bound at run time).
   */
  public record Operand(Tensor tensor, Tensor.Term offset, Tensor.Term batch, Tensor.Term position, Tensor.Term head) {
    /** The same layout over another tensor of the same dims (an operand's gradient). */
    public Operand on(Tensor other) {
      if (!other.dims().equals(tensor.dims())) {
        throw new IllegalArgumentException("attention: " + other.name() + other.dims() + " cannot share the layout of " + tensor);
      }
      return new Operand(other, offset, batch, position, head);
    }

    /** "base + offset, batch, position, head" as C expressions: the fields of a kernel's operand struct. */
    public String cudaFields(String base, Function<Dim, String> name) {
      return base + " + " + cuda(offset, name) + ", " + cuda(batch, name) + ", " + cuda(position, name) + ", " + cuda(head, name);
    }
  }

  /** The number of key/value heads. */
  public long kvHeadCount(ToIntFunction<Dim> size) { return Work.product(kvHeads, size); }

  /** G: query heads per key/value head (1: multi-head, NH: multi-query). */
  public long groups(ToIntFunction<Dim> size) { return Work.product(heads, size) / kvHeadCount(size); }

  /** True when q, k and v are slices of one tensor (GPT-2's (B, T, 3, NH, HS)). */
  public boolean packed() { return q.tensor() == k.tensor() && k.tensor() == v.tensor(); }

  /** A term as a C expression of 64-bit ints, dims spelled by name (a dim fixed at render time may be a literal). */
  public static String cuda(Tensor.Term t, Function<Dim, String> name) {
    if (t.coefficient() == 0) return "0LL";
    if (t.dims().isEmpty()) return t.coefficient() + "LL";
    String dims = Kernels.product(t.dims(), name, "(long long) ");
    return t.coefficient() == 1 ? dims : t.coefficient() + "LL * " + dims;
  }

  /**
   * The layout of attention over q, k and v (the same tensor three times for a packed qkv) writing y
   * (B, T, heads..., HS). Every operand's axes are found by dim: y's batch and sequence dims, the
   * head dims (all of y's for q; for k and v the same leading part of them), the head size last; any
   * other axis is a selector, indexed by the operand's place (q 0, k 1, v 2) when q, k and v are one
   * tensor and 0 otherwise (its size is checked when sizes are bound: Externs). Throws
   * IllegalArgumentException naming the operand and what was expected and found.
   */
  public static AttentionLayout of(Tensor q, Tensor k, Tensor v, Tensor y) {
    if (y.rank() < 4) throw new IllegalArgumentException("attention: y must be (B, T, heads..., HS), found " + y);
    List<Dim> yd = y.dims();
    Dim batch = yd.getFirst(), seq = yd.get(1), hs = yd.getLast();
    List<Dim> heads = yd.subList(2, yd.size() - 1);
    boolean packed = q == k && k == v;
    if (!packed && (q == k || k == v || q == v)) throw new IllegalArgumentException("attention: q, k and v must be one tensor or three, found " + q + ", " + k + ", " + v);
    Operand oq = operand("q", q, 0, batch, seq, heads, hs, true);
    Operand ok = operand("k", k, packed ? 1 : 0, batch, seq, heads, hs, false);
    Operand ov = operand("v", v, packed ? 2 : 0, batch, seq, heads, hs, false);
    List<Dim> kvk = headDims(k, heads), kvv = headDims(v, heads);
    if (!kvk.equals(kvv)) throw new IllegalArgumentException("attention: k and v must carry the same heads, found " + kvk + " and " + kvv);
    Operand oy = operand("y", y, 0, batch, seq, heads, hs, true);
    return new AttentionLayout(oq, ok, ov, oy, batch, seq, heads, kvk, hs);
  }

  private static List<Dim> headDims(Tensor t, List<Dim> heads) {
    return t.dims().stream().filter(heads::contains).toList();
  }

  private static Operand operand(String role, Tensor t, int slot, Dim batch, Dim seq, List<Dim> heads, Dim hs, boolean allHeads) {
    List<Dim> d = t.dims();
    String want = role + " " + (allHeads ? "(B, T, " + heads + ", HS)" : "(B, T, leading dims of " + heads + ", HS)") + " in any order, HS last";
    if (d.isEmpty() || !d.getLast().equals(hs)) throw new IllegalArgumentException("attention: " + want + ": head size " + hs + " last, found " + t);
    int b = d.indexOf(batch), s = d.indexOf(seq);
    if (b < 0 || s < 0 || d.lastIndexOf(batch) != b || d.lastIndexOf(seq) != s) {
      throw new IllegalArgumentException("attention: " + want + ": one " + batch + " and one " + seq + " axis, found " + t);
    }
    List<Integer> headAxes = new ArrayList<>();
    for (int i = 0; i < d.size(); i++) if (heads.contains(d.get(i))) headAxes.add(i);
    List<Dim> carried = headAxes.stream().map(d::get).toList();
    boolean prefix = carried.equals(heads.subList(0, carried.size()));
    boolean adjacent = headAxes.isEmpty() || headAxes.getLast() - headAxes.getFirst() == headAxes.size() - 1;
    if (!prefix || !adjacent || (allHeads && carried.size() != heads.size())) {
      throw new IllegalArgumentException("attention: " + want + ": head axes " + (allHeads ? heads : "a leading part of " + heads)
          + " adjacent and in that order, found " + t);
    }
    long coefficient = 0;
    List<Dim> offsetDims = List.of();
    for (int i = 0; i < d.size() - 1; i++) {
      if (slot == 0 || i == b || i == s || headAxes.contains(i)) continue;
      if (coefficient != 0) throw new IllegalArgumentException("attention: " + want + ": at most one selector axis, found " + t);
      coefficient = slot;
      offsetDims = d.subList(i + 1, d.size());
    }
    Tensor.Term head = headAxes.isEmpty() ? new Tensor.Term(0, List.of()) : stride(d, headAxes.getLast());  // no head axis: one kv head for all
    return new Operand(t, new Tensor.Term(coefficient, List.copyOf(offsetDims)), stride(d, b), stride(d, s), head);
  }

  /** The row-major stride of axis i: the product of the dims after it. */
  private static Tensor.Term stride(List<Dim> d, int i) { return new Tensor.Term(1, List.copyOf(d.subList(i + 1, d.size()))); }
}
