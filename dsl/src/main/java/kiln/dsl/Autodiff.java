// Reverse-mode autodiff over the IR. For out[i] = R_k f(i, k) and each load X[m(i, k)] in f:
//   gather  (m is distinct vars and constants): dX[m] (+)= Σ_{vars not in m} dOut[i] · ∂f/∂X[m]
//   scatter (m has a computed/data-dependent entry): dX[m(i,k)] += dOut[i] · ∂f/∂X, over all (i, k)
// The first full-cover contribution to a gradient assigns and later ones accumulate. Partial
// contributions (slice or scatter) that come before any full-cover one wait: if a full-cover one
// arrives they follow it (no zero-fill; the full-cover one can then overwrite its input in place,
// as the classifier's dlogits does its logits), otherwise they are emitted after a zero-fill when
// the gradient is first read, or at the end.
package kiln.dsl;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Expr.BinOp;
import kiln.dsl.Expr.Load;

public final class Autodiff {
  private final Graph graph;
  private final Map<Tensor, Tensor> grads = new LinkedHashMap<>();
  private final Set<Tensor> initialized = new HashSet<>();
  private final Map<Tensor, List<Compute>> pending = new LinkedHashMap<>();
  private final Map<Tensor, Tensor> recomputedCopies = new HashMap<>();

  Autodiff(Graph graph) { this.graph = graph; }

  void run(Tensor loss) {
    if (loss.rank() != 0 || loss.dtype() != DType.F32) {
      throw new DslException("backward: loss " + loss + " must be an F32 scalar (no dims)");
    }
    Set<Tensor> needsGrad = tensorsNeedingGrad();
    List<Compute> forward = new ArrayList<>(graph.computes());
    String savedLayer = graph.layer("backward");
    Tensor dLoss = gradOf(loss);
    graph.addDerived(new Compute("d" + loss.name(), "backward", dLoss, List.of(), List.of(), Ops.lit(1), false));
    initialized.add(dLoss);
    for (int i = forward.size() - 1; i >= 0; i--) {
      Compute c = forward.get(i);
      Tensor dOut = grads.get(c.out());
      if (dOut == null || graph.isDetached(c.out())) continue;
      settle(dOut);
      if (!initialized.contains(dOut)) continue;
      graph.layer("backward." + c.layer());
      differentiate(c, needsGrad);
    }
    for (Tensor dx : List.copyOf(pending.keySet())) settle(dx);
    graph.layer(savedLayer);
  }

  /** Params, and every tensor computed from a param, except through detached tensors. */
  private Set<Tensor> tensorsNeedingGrad() {
    Set<Tensor> need = new HashSet<>();
    for (Compute c : graph.computes()) {
      if (graph.isDetached(c.out())) continue;
      for (Load l : Exprs.loads(c.body())) {
        Tensor t = l.tensor();
        if (t.dtype() == DType.F32 && (t.role() == Role.PARAM || need.contains(t))) { need.add(c.out()); break; }
      }
    }
    return need;
  }

  private Tensor gradOf(Tensor t) {
    return grads.computeIfAbsent(t, k -> {
      if (k.role() == Role.PARAM) {
        Tensor gradRoot = graph.gradientRoots().get(k.root());
        if (gradRoot == null) throw new DslException("backward: param " + k.name() + " has no gradient storage bound");
        return k.onRoot(gradRoot, gradRoot.name() + ".");
      }
      if (k.isView()) throw new DslException("backward: view " + k.name() + " of a non-param tensor needs a gradient");
      return graph.tensor("d" + k.name(), Role.ACT_GRAD, DType.F32, k.dims().toArray(Dim[]::new));
    });
  }

  private void differentiate(Compute c, Set<Tensor> needsGrad) {
    if (c.body() instanceof Expr.Extern) {
      graph.externBackward(c).emit(graph, grads.get(c.out()), new Graph.Gradients() {
        @Override public Tensor of(Tensor x) { return gradOf(x); }
        @Override public boolean first(Tensor x) {
          settle(gradOf(x));
          return initialized.add(gradOf(x));
        }
      });
      return;
    }
    List<Expr.Reduce> reductions = c.rootReductions();
    for (Expr.Reduce r : reductions) {
      if (r.op() != Expr.RedOp.SUM) {
        throw new DslException("layer " + c.layer() + ", compute " + c.name() + ": gradient of a " + r.op()
            + " reduction is not derived; detach it (it is a constant shift, as in softmax)");
      }
    }
    List<Var> iterVars = new ArrayList<>(c.loopVars());
    for (Expr.Reduce r : reductions) iterVars.add(r.var());
    Expr dOut = new Load(grads.get(c.out()), c.outIndex());
    Expr inner = c.inner();
    for (Load load : Exprs.loads(inner)) {
      Tensor x = load.tensor();
      if (x.dtype() != DType.F32 || !(x.role() == Role.PARAM || needsGrad.contains(x))) continue;
      Expr partial = Derivative.of(inner, load);
      if (Ops.isConst(partial, 0)) continue;
      // d exp(x) = exp(x): where the partial is the forward value itself, read the saved output
      // instead of recomputing it (and instead of keeping the input alive for the backward)
      if (reductions.isEmpty() && c.isFullCover()) partial = Exprs.replace(partial, inner, new Load(c.out(), c.outIndex()));
      Expr contribution = withRecomputed(Ops.bin(BinOp.MUL, dOut, partial));
      Tensor dx = gradOf(x);
      if (isGather(load)) {
        List<Var> fixed = new ArrayList<>();
        for (Expr e : load.index()) if (e instanceof Var v) fixed.add(v);
        Expr body = contribution;
        for (int k = iterVars.size() - 1; k >= 0; k--) {
          Var v = iterVars.get(k);
          if (!fixed.contains(v)) body = new Expr.Reduce(Expr.RedOp.SUM, v, body);
        }
        boolean full = fixed.size() == load.index().size();
        emit(c, dx, fixed, load.index(), body, full);
      } else {
        emit(c, dx, iterVars, load.index(), contribution, false);
      }
    }
  }

  private void emit(Compute from, Tensor dx, List<Var> loopVars, List<Expr> outIndex, Expr body, boolean fullCover) {
    String name = "d" + from.name().substring(from.name().lastIndexOf('.') + 1) + "/" + dx.name();
    if (!initialized.contains(dx)) {
      if (!fullCover) {
        pending.computeIfAbsent(dx, k -> new ArrayList<>()).add(new Compute(name, graph.layer(), dx, loopVars, outIndex, body, true));
        return;
      }
      initialized.add(dx);
      graph.addDerived(new Compute(name, graph.layer(), dx, loopVars, outIndex, body, false));
      List<Compute> waiting = pending.remove(dx);
      if (waiting != null) waiting.forEach(graph::addDerived);
      return;
    }
    graph.addDerived(new Compute(name, graph.layer(), dx, loopVars, outIndex, body, true));
  }

  /** Reads of recompute-marked tensors go to a copy recomputed in the backward (once, where first needed). */
  private Expr withRecomputed(Expr e) {
    for (Load l : Exprs.loads(e)) {
      Tensor t = l.tensor();
      if (!graph.isRecomputed(t)) continue;
      Tensor copy = recomputedCopies.computeIfAbsent(t, k -> {
        Compute c = graph.producer(k);
        Tensor out = graph.tensor("re." + k.name(), Role.ACT, k.dtype(), k.dims().toArray(Dim[]::new));
        graph.addDerived(new Compute("recompute/" + k.name(), graph.layer(), out, c.loopVars(), c.outIndex(), c.body(), false));
        return out;
      });
      e = Exprs.replace(e, l, new Load(copy, l.index()));
    }
    return e;
  }

  /** Emits the partial contributions still waiting for dx, after a zero-fill. */
  private void settle(Tensor dx) {
    List<Compute> waiting = pending.remove(dx);
    if (waiting == null) return;
    initialized.add(dx);
    List<Var> all = new ArrayList<>();
    for (Dim d : dx.dims()) all.add(Ops.var(d));
    graph.addDerived(new Compute("zero/" + dx.name(), waiting.getFirst().layer(), dx, all, new ArrayList<>(all), Ops.lit(0), false));
    waiting.forEach(graph::addDerived);
  }

  /** Every index entry is a distinct var or a constant. */
  private static boolean isGather(Load load) {
    Set<Var> seen = new HashSet<>();
    for (Expr e : load.index()) {
      if (e instanceof Var v) { if (!seen.add(v)) return false; }
      else if (!(e instanceof Expr.Const)) return false;
    }
    return true;
  }
}
