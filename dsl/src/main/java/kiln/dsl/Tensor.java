// A tensor declared once: name, dims, dtype, role. A view (slice of a leading dim, or a member of a
// block) shares its base's storage at an offset derived from the dims, never written by hand.
package kiln.dsl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public final class Tensor {
  /** offset = Σ coefficient · Π dims, in elements of the root's storage. */
  public record Term(long coefficient, List<Dim> dims) {}

  private final String name;
  private final List<Dim> dims;
  private final DType dtype;
  private final Role role;
  private final Tensor base;               // null for a root
  private final List<Term> offset;         // relative to base
  private final Map<Integer, Tensor> slices = new HashMap<>();
  /** How a root's elements are stored (its dtype, or BF16 for an F32 tensor the precision pass narrows); views use their root's. */
  private final DType storage;

  Tensor(String name, List<Dim> dims, DType dtype, Role role, Tensor base, List<Term> offset) {
    this(name, dims, dtype, role, base, offset, dtype);
  }

  private Tensor(String name, List<Dim> dims, DType dtype, Role role, Tensor base, List<Term> offset, DType storage) {
    this.storage = storage;
    this.name = name;
    this.dims = List.copyOf(dims);
    this.dtype = dtype;
    this.role = role;
    this.base = base;
    this.offset = List.copyOf(offset);
  }

  public String name() { return name; }
  public List<Dim> dims() { return dims; }
  public int rank() { return dims.size(); }
  public DType dtype() { return dtype; }
  public Role role() { return role; }
  public Tensor base() { return base; }
  public boolean isView() { return base != null; }
  public Tensor root() { return base == null ? this : base.root(); }

  /** The element type in memory: the root's storage (F32 values may be stored as BF16; loads widen them to F32). */
  public DType storage() { return base == null ? storage : base.storage(); }

  /**
   * A new root like this one (a root) stored as storage, named name: what codegen's precision pass puts
   * in place of an activation it narrows, or beside the params as their bf16 copy. Only F32 narrows to BF16.
   */
  public Tensor restored(String newName, Role newRole, DType newStorage) {
    if (base != null) throw new DslException("tensor " + name + " is a view; restore its root " + root().name());
    if (newStorage != dtype && !(dtype == DType.F32 && newStorage == DType.BF16)) {
      throw new DslException("tensor " + name + " is " + dtype + ": it cannot be stored as " + newStorage);
    }
    return new Tensor(newName, dims, dtype, newRole, null, List.of(), newStorage);
  }

  /** This tensor (a root or a view of one) over newRoot instead of its root: the same view chain, names prefixed. */
  public Tensor onRoot(Tensor newRoot, String prefix) {
    if (base == null) return newRoot;
    return new Tensor(prefix + name, dims, dtype, newRoot.role(), base.onRoot(newRoot, prefix), offset);
  }

  /** This view's offset in its root's storage, as terms over dims. */
  public List<Term> rootOffset() {
    if (base == null) return List.of();
    List<Term> all = new ArrayList<>(base.rootOffset());
    all.addAll(offset);
    return all;
  }

  /** The view of index i along the leading dim (e.g. layer l of a (L, C) parameter). Memoized. */
  public Tensor slice(int i) {
    if (dims.isEmpty()) throw new DslException("tensor " + name + " has no dims to slice");
    return slices.computeIfAbsent(i, k -> new Tensor(name + "[" + k + "]", dims.subList(1, dims.size()), dtype, role,
        this, List.of(new Term(k, dims.subList(1, dims.size())))));
  }

  /** The view of the first |d| entries of the leading dim (positions 0..T-1 of a (maxT, C) table). */
  public Tensor head(Dim d) {
    List<Dim> viewDims = new ArrayList<>(dims);
    viewDims.set(0, d);
    return new Tensor(name + "[:" + d + "]", viewDims, dtype, role, this, List.of());
  }

  /**
   * The view of entries [|start|, |start| + |length|) of a 1-D tensor (a ZeRO shard of a flat block).
   * Both are dims, bound when a session is opened, so kernels over the view take them as arguments.
   * The root's storage must hold |start| + |length| entries; the arena pads it where that passes the
   * tensor's own size.
   */
  public Tensor window(String viewName, Dim length, Dim start) {
    if (dims.size() != 1) throw new DslException("tensor " + name + dims + ": a window is a view of a 1-D tensor");
    return new Tensor(viewName, List.of(length), dtype, role, this, List.of(new Term(1, List.of(start))));
  }

  /** tensor[index...]: checks rank, and that a plain var indexes the dim it ranges over. */
  public Expr at(Expr... index) {
    if (index.length != dims.size()) {
      throw new DslException("tensor " + name + dims + " indexed with " + index.length + " indices " + Arrays.toString(index)
          + ", expected " + dims.size());
    }
    for (int i = 0; i < index.length; i++) {
      if (index[i].type() != DType.I32) {
        throw new DslException("tensor " + name + ": index " + i + " (" + index[i] + ") is " + index[i].type() + ", expected I32");
      }
      if (index[i] instanceof Var v && !v.dim().equals(dims.get(i))) {
        throw new DslException("tensor " + name + dims + ": index " + i + " is a var over " + v.dim()
            + ", but dim " + i + " is " + dims.get(i));
      }
    }
    return new Expr.Load(this, List.of(index));
  }

  public Expr at(List<? extends Expr> index) { return at(index.toArray(Expr[]::new)); }

  @Override public String toString() { return name + dims; }
}
