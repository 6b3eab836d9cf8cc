// A model under construction: tensors declared once, computes in program order, then backward
// derived by autodiff. Layers are Java methods that add computes; they never see the runtime.
package kiln.dsl;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

public final class Graph {
  /** A derived dim whose size is a sum of products of other dims (a block's total size). */
  public record DerivedDim(Dim dim, List<Tensor.Term> size) {}

  private final List<Tensor> roots = new ArrayList<>();
  private final List<Compute> computes = new ArrayList<>();
  private final List<DerivedDim> derived = new ArrayList<>();
  private final Map<Tensor, Compute> producer = new HashMap<>();
  private final java.util.Set<Tensor> detached = new java.util.HashSet<>();
  private final Map<String, Integer> hoisted = new HashMap<>();
  private final Map<Tensor, Tensor> gradientRoots = new HashMap<>();
  private String layer = "model";

  /** Declares that the gradients of the params in block `params` live in block `grads` (same layout). */
  public void gradientsOf(Map<String, Tensor> params, Map<String, Tensor> grads) {
    gradientRoots.put(params.values().iterator().next().root(), grads.values().iterator().next().root());
  }

  Map<Tensor, Tensor> gradientRoots() { return gradientRoots; }

  public List<Tensor> roots() { return Collections.unmodifiableList(roots); }
  public List<Compute> computes() { return Collections.unmodifiableList(computes); }
  public List<DerivedDim> derivedDims() { return Collections.unmodifiableList(derived); }
  public boolean isDetached(Tensor t) { return detached.contains(t); }
  public Compute producer(Tensor t) { return producer.get(t); }

  /** Sets the layer name used to prefix tensor names and error messages; returns the previous one. */
  public String layer(String name) {
    String previous = layer;
    layer = name;
    return previous;
  }

  public String layer() { return layer; }

  public Tensor tensor(String name, Role role, DType dtype, Dim... dims) {
    Tensor t = new Tensor(name, List.of(dims), dtype, role, null, List.of());
    roots.add(t);
    return t;
  }

  public Tensor input(String name, DType dtype, Dim... dims) { return tensor(name, Role.INPUT, dtype, dims); }

  /**
   * One root tensor holding several members back to back (llm.c's one params block): members are
   * views at offsets summed from the earlier members' dims. The block's single dim is derived.
   */
  public Map<String, Tensor> block(String name, Role role, LinkedHashMap<String, List<Dim>> members) {
    Dim total = new Dim(name.toUpperCase() + "_SIZE");
    List<Tensor.Term> size = new ArrayList<>();
    for (List<Dim> dims : members.values()) size.add(new Tensor.Term(1, dims));
    derived.add(new DerivedDim(total, size));
    Tensor root = tensor(name, role, DType.F32, total);
    Map<String, Tensor> views = new LinkedHashMap<>();
    List<Tensor.Term> at = new ArrayList<>();
    for (var e : members.entrySet()) {
      views.put(e.getKey(), new Tensor(e.getKey(), e.getValue(), DType.F32, role, root, at));
      at = new ArrayList<>(at);
      at.add(new Tensor.Term(1, e.getValue()));
    }
    return views;
  }

  /** A block with the same member layout as another (grads, Adam m and v mirror the params). */
  public Map<String, Tensor> mirrorBlock(Map<String, Tensor> of, String name, Role role) {
    Tensor source = of.values().iterator().next().root();
    Tensor root = tensor(name, role, DType.F32, source.dims().toArray(Dim[]::new));
    Map<String, Tensor> views = new LinkedHashMap<>();
    for (var e : of.entrySet()) views.put(e.getKey(), e.getValue().onRoot(root, name + "."));
    return views;
  }

  // ---- computes: out[vars] = f(vars), one overload per rank so a layer names its vars ----
  public interface F0 { Expr f(); }
  public interface F1 { Expr f(Var a); }
  public interface F2 { Expr f(Var a, Var b); }
  public interface F3 { Expr f(Var a, Var b, Var c); }
  public interface F4 { Expr f(Var a, Var b, Var c, Var d); }
  public interface F5 { Expr f(Var a, Var b, Var c, Var d, Var e); }

  public Tensor compute(String name, List<Dim> dims, F0 f) { return define(name, dims, v -> f.f()); }
  public Tensor compute(String name, List<Dim> dims, F1 f) { return define(name, dims, v -> f.f(v.get(0))); }
  public Tensor compute(String name, List<Dim> dims, F2 f) { return define(name, dims, v -> f.f(v.get(0), v.get(1))); }
  public Tensor compute(String name, List<Dim> dims, F3 f) { return define(name, dims, v -> f.f(v.get(0), v.get(1), v.get(2))); }
  public Tensor compute(String name, List<Dim> dims, F4 f) {
    return define(name, dims, v -> f.f(v.get(0), v.get(1), v.get(2), v.get(3)));
  }
  public Tensor compute(String name, List<Dim> dims, F5 f) {
    return define(name, dims, v -> f.f(v.get(0), v.get(1), v.get(2), v.get(3), v.get(4)));
  }

  /**
   * Marks t (an element-wise compute's output) to be recomputed where the backward reads it, instead
   * of being kept from the forward (llm.c's -r 1 for GELU): less memory for one more element-wise pass.
   */
  public Tensor recompute(Tensor t) {
    Compute c = producer.get(t);
    if (c == null || !c.isFullCover() || !c.rootReductions().isEmpty() || c.body() instanceof Expr.Extern) {
      throw new DslException("layer " + layer + ": recompute " + t.name() + ": only an element-wise compute's output can be recomputed");
    }
    recomputed.add(t);
    return t;
  }

  public boolean isRecomputed(Tensor t) { return recomputed.contains(t); }

  private final java.util.Set<Tensor> recomputed = new java.util.HashSet<>();

  /** Marks a computed tensor as a constant for autodiff (softmax's running max). */
  public Tensor detach(Tensor t) {
    detached.add(t);
    return t;
  }

  /** In-place or into an existing tensor: target[vars] = f(vars), full cover (optimizer updates). */
  public void update(Tensor target, F1 f) {
    List<Var> vars = freshVars(target.dims());
    add(new Compute(target.name(), layer, target, vars, List.copyOf(vars), checked(target.name(), () -> f.f(vars.get(0))), false));
  }

  /**
   * target[index(vars)] = value(vars) for every value of vars over dims: a write into an existing
   * tensor at computed positions (a KV cache at the current position). Not differentiated.
   */
  public void store(String name, Tensor target, List<Dim> dims, Function<List<Var>, List<Expr>> index,
                    Function<List<Var>, Expr> value) {
    List<Var> vars = freshVars(dims);
    String full = layer + "." + name;
    List<Expr> at = index.apply(vars);
    Expr checkedIndex = checked(full, () -> target.at(at));
    Expr body = checked(full, () -> value.apply(vars));
    add(new Compute(full, layer, target, vars, ((Expr.Load) checkedIndex).index(), body, false));
  }

  public static List<Dim> dims(Dim... dims) { return List.of(dims); }

  private Tensor define(String name, List<Dim> dims, Function<List<Var>, Expr> f) {
    String full = layer + "." + name;
    List<Var> vars = freshVars(dims);
    Expr body = checked(full, () -> f.apply(vars));
    if (body.type() == DType.BOOL) throw new DslException("layer " + layer + ", compute " + name + ": body is BOOL, expected F32 or I32");
    Tensor out = tensor(full, Role.ACT, body.type(), dims.toArray(Dim[]::new));
    body = hoist(full, vars, body, true);
    add(new Compute(full, layer, out, vars, List.copyOf(vars), body, false));
    return out;
  }

  private Expr checked(String where, java.util.function.Supplier<Expr> body) {
    try {
      return body.get();
    } catch (DslException e) {
      throw new DslException("layer " + layer + ", compute " + where.substring(where.lastIndexOf('.') + 1) + ": " + e.getMessage());
    }
  }

  private static List<Var> freshVars(List<Dim> dims) {
    List<Var> vars = new ArrayList<>();
    for (Dim d : dims) vars.add(Ops.var(d));
    return vars;
  }

  private final Map<Compute, ExternBackward> externBackward = new java.util.IdentityHashMap<>();

  private void add(Compute c) {
    computes.add(c);
    producer.put(c.out(), c);
  }

  /**
   * Canonical form: reductions only at a compute's root. A reduction nested inside an expression
   * becomes its own compute over the enclosing vars it uses, so autodiff and schedules see
   * out[i] = R_k f(i, k) or out[i] = f(i) only.
   */
  private Expr hoist(String name, List<Var> vars, Expr e, boolean atRoot) {
    return switch (e) {
      case Expr.Reduce r when atRoot -> new Expr.Reduce(r.op(), r.var(), hoist(name, append(vars, r.var()), r.body(), true));
      case Expr.Reduce r -> {
        List<Var> used = new ArrayList<>();
        for (Var v : vars) if (Exprs.uses(r, v)) used.add(v);
        String tmpName = name + ".r" + hoisted.merge(name, 1, Integer::sum);
        Tensor tmp = tensor(tmpName, Role.ACT, r.type(), used.stream().map(Var::dim).toArray(Dim[]::new));
        Expr body = hoist(tmpName, used, r, true);
        add(new Compute(tmpName, layer, tmp, used, List.copyOf(used), body, false));
        yield new Expr.Load(tmp, List.copyOf(used));
      }
      default -> Exprs.mapChildren(e, c -> hoist(name, vars, c, false));
    };
  }

  private static List<Var> append(List<Var> vars, Var v) {
    List<Var> all = new ArrayList<>(vars);
    all.add(v);
    return all;
  }

  /** What an extern's backward rule may ask autodiff for. */
  public interface Gradients {
    /** The gradient tensor of x (created on first use). */
    Tensor of(Tensor x);

    /** True when x's gradient has no contribution yet; either way, marks it as written from here on. */
    boolean first(Tensor x);
  }

  /** Emits the backward of one extern compute, given the gradient of its out. */
  public interface ExternBackward {
    void emit(Graph g, Tensor dOut, Gradients grads);
  }

  /**
   * An extern stage: out (which must also appear among args, with every other tensor the kernel
   * writes) is produced by the hand-scheduled kernel op from args, in the kernel's argument order.
   * backward (null for a backward-only extern) emits its gradient computes.
   */
  public Tensor extern(String name, Tensor out, String op, List<Tensor> args, boolean accumulate, ExternBackward backward) {
    if (!args.contains(out)) throw new DslException("layer " + layer + ", extern " + name + ": out " + out.name() + " must be one of its args");
    List<Var> vars = freshVars(out.dims());
    List<Expr.Load> loads = args.stream().map(t -> new Expr.Load(t, List.of())).toList();
    Compute c = new Compute(layer + "." + name, layer, out, vars, List.copyOf(vars), new Expr.Extern(op, loads), accumulate);
    add(c);
    if (backward != null) externBackward.put(c, backward);
    return out;
  }

  ExternBackward externBackward(Compute c) {
    ExternBackward b = externBackward.get(c);
    if (b == null) throw new DslException("backward: extern " + c.name() + " (" + ((Expr.Extern) c.body()).op() + ") has no backward rule");
    return b;
  }

  /**
   * A graph over other roots and computes with this one's derived dims: what a storage pass (codegen's
   * precision pass) returns after it substituted tensors and added computes. Autodiff's marks (detached,
   * recomputed, extern rules) stay behind: the rewritten graph is for lowering, not for another backward.
   */
  public Graph rewritten(List<Tensor> newRoots, List<Compute> newComputes) {
    Graph g = new Graph();
    g.roots.addAll(newRoots);
    g.derived.addAll(derived);
    for (Compute c : newComputes) g.add(c);
    g.layer = layer;
    return g;
  }

  /**
   * A named group of consecutive forward computes a layer added (op "attention", "gelu"): its inputs,
   * the one tensor later computes read (output) and its span in the compute list. Backend passes
   * (kiln.codegen.BackendPass) find regions by op and may replace them before the backward exists.
   */
  public static final class Region {
    public final String op, layer;
    public final List<Tensor> inputs;
    public final Tensor output;
    int start, end;

    Region(String op, String layer, List<Tensor> inputs, Tensor output, int start, int end) {
      this.op = op;
      this.layer = layer;
      this.inputs = List.copyOf(inputs);
      this.output = output;
      this.start = start;
      this.end = end;
    }
  }

  private final List<Region> regions = new ArrayList<>();
  private boolean differentiated;

  /** Runs body (which adds computes) as a region named op over inputs; returns its output. */
  public Tensor region(String op, List<Tensor> inputs, java.util.function.Supplier<Tensor> body) {
    int start = computes.size();
    Tensor out = body.get();
    regions.add(new Region(op, layer, inputs, out, start, computes.size()));
    return out;
  }

  public List<Region> regions(String op) { return regions.stream().filter(r -> r.op.equals(op)).toList(); }

  /**
   * Replaces a region's computes by what substitute adds in their place (under the region's layer
   * name). The region's output tensor stays (its readers are unchanged) and the substitute must
   * write it; the region's other tensors are dropped. Only before backward: autodiff then derives
   * the gradient of whatever the graph holds.
   */
  public void replace(Region r, java.util.function.Consumer<Graph> substitute) {
    if (differentiated) throw new DslException("replace " + r.op + " in layer " + r.layer + ": the backward is already derived");
    List<Compute> cut = new ArrayList<>(computes.subList(r.start, r.end));
    List<Compute> tail = new ArrayList<>(computes.subList(r.end, computes.size()));
    computes.subList(r.start, computes.size()).clear();
    java.util.Set<Tensor> dropped = new java.util.HashSet<>();
    for (Compute c : cut) {
      producer.remove(c.out());
      if (c.out() != r.output) dropped.add(c.out());
    }
    roots.removeAll(dropped);
    detached.removeAll(dropped);
    recomputed.removeAll(dropped);
    recomputed.remove(r.output);
    String previous = layer(r.layer);
    substitute.accept(this);
    layer(previous);
    if (producer.get(r.output) == null) {
      throw new DslException("replace " + r.op + " in layer " + r.layer + ": the substitute does not write " + r.output.name());
    }
    int added = computes.size() - r.start, shift = added - (r.end - r.start);
    computes.addAll(tail);
    for (Region o : regions) {
      if (o != r && o.start >= r.end) {
        o.start += shift;
        o.end += shift;
      }
    }
    r.end = r.start + added;
  }

  /** Appends the derived backward of the computes so far, seeded with d(loss) = 1. */
  public void backward(Tensor loss) {
    differentiated = true;
    new Autodiff(this).run(loss);
  }

  void addDerived(Compute c) { add(c); }
}
