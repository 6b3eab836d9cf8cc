// One allocation per element type for every tensor of a program; offsets derived from the
// declarations and the bound dim sizes, never written by hand (llm.c's TENSOR_SPEC, computed).
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

public final class Arena {
  private final Map<Dim, Integer> sizes;
  private final Map<Tensor, Long> rootOffsets = new HashMap<>();
  private final Map<Role, Long> bytesByRole = new LinkedHashMap<>();
  public final float[] f;
  public final int[] i;

  public Arena(Graph graph, Map<Dim, Integer> bound) {
    this.sizes = new HashMap<>(bound);
    for (Graph.DerivedDim d : graph.derivedDims()) {
      long n = 0;
      for (Tensor.Term t : d.size()) n += t.coefficient() * product(t.dims());
      sizes.put(d.dim(), checkedInt(n, d.dim().name()));
    }
    long floats = 0, ints = 0;
    for (Tensor t : graph.roots()) {
      long n = elements(t);
      if (t.dtype() == DType.I32) { rootOffsets.put(t, ints); ints += n; }
      else { rootOffsets.put(t, floats); floats += n; }
      bytesByRole.merge(t.role(), 4 * n, Long::sum);
    }
    if (floats > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("arena needs " + floats + " floats; Java arrays hold at most " + (Integer.MAX_VALUE - 16));
    }
    this.f = new float[(int) floats];
    this.i = new int[(int) ints];
  }

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

  /** Offset of a tensor (root or view) in its arena. */
  public int offset(Tensor t) {
    long off = rootOffsets.get(t.root());
    for (Tensor.Term term : t.rootOffset()) off += term.coefficient() * product(term.dims());
    return checkedInt(off, t.name());
  }

  public long bytes() { return 4L * f.length + 4L * i.length; }

  public Map<Role, Long> bytesByRole() { return bytesByRole; }

  /** Copies a float tensor out (for checks and checkpoints, never in the step loop). */
  public float[] read(Tensor t) {
    int off = offset(t);
    float[] out = new float[(int) elements(t)];
    System.arraycopy(f, off, out, 0, out.length);
    return out;
  }

  public void write(Tensor t, float[] values) {
    if (values.length != elements(t)) throw new IllegalArgumentException(t.name() + ": expected " + elements(t) + " values, found " + values.length);
    System.arraycopy(values, 0, f, offset(t), values.length);
  }

  public void write(Tensor t, int[] values) {
    if (values.length != elements(t)) throw new IllegalArgumentException(t.name() + ": expected " + elements(t) + " values, found " + values.length);
    System.arraycopy(values, 0, i, offset(t), values.length);
  }

  private static int checkedInt(long n, String what) {
    if (n > Integer.MAX_VALUE) throw new IllegalArgumentException(what + " has " + n + " elements, more than an int index");
    return (int) n;
  }
}
