// The registry of extern ops (hand-scheduled kernels standing in for DSL regions): for each op, what
// puts it in a graph with its backward rule (a backend pass calls that), and the CUDA kernels that
// render it, each with its layout check and launch geometry. CudaRenderer asks this class, nothing else.
package kiln.codegen;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

public final class Externs {
  private Externs() {}

  /** A CUDA kernel family for some extern ops. */
  public interface Entry {
    /** The extern ops it renders. */
    List<String> ops();

    /** Why it cannot render c at these sizes and schedule (one line naming what was expected and found), or null if it can. */
    String unsupported(Compute c, CudaSchedule s, ToIntFunction<Dim> size);

    /** The kernel for c (supported) with its launch geometry. */
    Rendered render(Compute c, CudaSchedule s, ToIntFunction<Dim> size);
  }

  /**
   * Every CUDA kernel of an extern op, in order of preference: the first entry that supports a compute
   * renders it; the storage type of the tensors picks between the bf16 and the fp32 attention kernels.
   */
  static final List<Entry> CUDA = List.of(FlashBf16.ENTRY, FlashAttention.ENTRY);

  /** The kernel of an extern compute; throws IllegalArgumentException saying why no entry serves it. */
  public static Rendered render(Compute c, CudaSchedule s, ToIntFunction<Dim> size) {
    Expr.Extern x = (Expr.Extern) c.body();
    List<String> why = new ArrayList<>();
    for (Entry e : CUDA) {
      if (!e.ops().contains(x.op())) continue;
      String u = e.unsupported(c, s, size);
      if (u == null) return e.render(c, s, size);
      why.add(u);
    }
    throw new IllegalArgumentException(c.name() + ": " + (why.isEmpty() ? "no CUDA kernel for extern " + x.op() : String.join("; ", why.stream().distinct().toList())));
  }

  // ---- attention: "attention" (forward), "attention_dq", "attention_dkdv" (backward) ----

  public static final String ATTENTION = "attention", ATTENTION_DQ = "attention_dq", ATTENTION_DKDV = "attention_dkdv";

  /** The kernel headers' macro infix of each attention op's kernel (FA_FWD_NT, FAB_DKV_ROWS, ...). */
  static final java.util.Map<String, String> MACRO = java.util.Map.of(ATTENTION, "FWD", ATTENTION_DQ, "DQ", ATTENTION_DKDV, "DKV");

  /**
   * Causal attention over q, k, v (one tensor three times for a packed qkv) as the flash-attention
   * extern writing y (the output of the attention region it replaces) and the log-sum-exp of each
   * softmax row, lse (B, heads..., T); no T x T tensor. Arguments, in the kernels' order:
   * attention [q, k, v, y, lse]; attention_dq [q, k, v, dy, lse, D, dq]; attention_dkdv [q, k, v, dy,
   * lse, D, dk, dv]. The backward rule: D = Σ_d dy·y per row (a DSL compute), then dq and dk, dv, each
   * `=` where the gradient has no contribution yet and `+=` after one. The DSL definition of the region
   * stays the specification (CudaVerifyTest checks the two agree). perQueryHead (multi-query: one
   * key/value head would give dkdv one block per key tile): dkdv writes one dk, dv partial per query
   * head, (B, heads..., T, HS) as q, and a DSL sum over the group adds them in order into dk, dv.
   */
  public static Tensor attention(Graph g, Tensor q, Tensor k, Tensor v, Tensor y, boolean perQueryHead) {
    AttentionLayout l = AttentionLayout.of(q, k, v, y);
    List<Dim> rows = new ArrayList<>(List.of(l.batch()));
    rows.addAll(l.heads());
    rows.add(l.seq());
    Tensor lse = g.tensor(g.layer() + ".lse", Role.ACT, DType.F32, rows.toArray(Dim[]::new));
    return g.extern("y", y, ATTENTION, List.of(q, k, v, y, lse), false, (gb, dy, grads) -> {
      Tensor d = dyy(gb, l, dy, y);
      List<Tensor> in = List.of(q, k, v, dy, lse, d);
      if (l.packed()) {
        Tensor dqkv = grads.of(q);
        boolean accumulate = !grads.first(q);
        gb.extern("dq", dqkv, ATTENTION_DQ, plus(in, dqkv), accumulate, null);
        gb.extern("dkdv", dqkv, ATTENTION_DKDV, plus(in, dqkv, dqkv), accumulate, null);
        return;
      }
      Tensor dq = grads.of(q), dk = grads.of(k), dv = grads.of(v);
      gb.extern("dq", dq, ATTENTION_DQ, plus(in, dq), !grads.first(q), null);
      boolean firstK = grads.first(k), firstV = grads.first(v);
      if (firstK != firstV) {
        throw new IllegalArgumentException("attention: the gradients of k (" + k.name() + ") and v (" + v.name()
            + ") must both be first or both accumulated, found " + (firstK ? "k first, v accumulated" : "v first, k accumulated"));
      }
      List<Dim> group = l.heads().stream().filter(x -> !l.kvHeads().contains(x)).toList();
      if (perQueryHead && firstK && group.size() == 1) {
        Tensor dkh = gb.tensor(gb.layer() + ".dk_heads", Role.ACT_GRAD, DType.F32, q.dims().toArray(Dim[]::new));
        Tensor dvh = gb.tensor(gb.layer() + ".dv_heads", Role.ACT_GRAD, DType.F32, q.dims().toArray(Dim[]::new));
        gb.extern("dkdv", dkh, ATTENTION_DKDV, plus(in, dkh, dvh), false, null);
        sumGroup(gb, "dk", dk, dkh, group.getFirst());
        sumGroup(gb, "dv", dv, dvh, group.getFirst());
        return;
      }
      gb.extern("dkdv", dk, ATTENTION_DKDV, plus(in, dk, dv), !firstK, null);
    });
  }

  /**
   * out[i] = Σ_g heads[i with the group axis at g]: the per-query-head partials of dk or dv (dims as q)
   * summed over the query heads of each key/value head, in order, into out (dims as k or v).
   */
  private static void sumGroup(Graph g, String name, Tensor out, Tensor heads, Dim group) {
    List<Dim> od = out.dims(), hd = heads.dims();
    g.store(name, out, od, vars -> new ArrayList<Expr>(vars), vars -> sum(group, j -> {
      List<Expr> at = new ArrayList<>();
      for (Dim d : hd) at.add(d.equals(group) ? j : vars.get(od.indexOf(d)));
      return heads.at(at);
    }));
  }

  /** D[b, heads, t] = Σ_d dy·y: the row term of softmax's backward (a row kernel on CUDA). */
  private static Tensor dyy(Graph g, AttentionLayout l, Tensor dy, Tensor y) {
    Dim B = l.batch(), T = l.seq(), HS = l.headSize();
    return switch (l.heads().size()) {
      case 1 -> g.compute("dyy", dims(B, l.heads().getFirst(), T), (b, h, t) -> sum(HS, e -> dy.at(b, t, h, e).mul(y.at(b, t, h, e))));
      case 2 -> g.compute("dyy", dims(B, l.heads().get(0), l.heads().get(1), T), (b, h, j, t) ->
          sum(HS, e -> dy.at(b, t, h, j, e).mul(y.at(b, t, h, j, e))));
      default -> throw new IllegalArgumentException("attention: y with one or two head dims, found " + y);
    };
  }

  private static List<Tensor> plus(List<Tensor> a, Tensor... more) {
    List<Tensor> all = new ArrayList<>(a);
    all.addAll(List.of(more));
    return all;
  }

  /**
   * What every attention kernel binds for one extern compute: its layout, its arguments, the operands in the
   * kernels' order (q, k, v, y or dy, then dq, or dk and dv), whether dkdv writes partials per query head
   * (Externs.attention's perQueryHead: dk, dv with q's dims, so they take q's layout and the grid runs over query
   * heads as if each had its own key/value head), and the grid's row dims.
   */
  public record AttentionLaunch(AttentionLayout layout, List<Tensor> args, List<AttentionLayout.Operand> operands, boolean perQueryHead) {
    public static AttentionLaunch of(Compute c) {
      Expr.Extern x = (Expr.Extern) c.body();
      List<Tensor> args = x.tensors().stream().map(Expr.Load::tensor).toList();
      AttentionLayout l = attentionLayout(c);
      List<AttentionLayout.Operand> operands = new ArrayList<>(List.of(l.q(), l.k(), l.v(), l.y().on(args.get(3))));
      boolean perHead = false;
      switch (x.op()) {
        case ATTENTION -> { }
        case ATTENTION_DQ -> operands.add(l.q().on(args.get(6)));
        case ATTENTION_DKDV -> {
          perHead = !l.packed() && args.get(6).dims().equals(l.q().tensor().dims()) && !args.get(6).dims().equals(l.k().tensor().dims());
          operands.add((perHead ? l.q() : l.k()).on(args.get(6)));
          operands.add((perHead ? l.q() : l.v()).on(args.get(7)));
        }
        default -> throw new IllegalArgumentException(c.name() + ": no attention kernel for extern " + x.op());
      }
      return new AttentionLaunch(l, args, List.copyOf(operands), perHead);
    }

    /** Batch, then the query heads (the key/value heads for dkdv unless it writes per-query-head partials). */
    public List<Dim> gridRows(String op) {
      List<Dim> rows = new ArrayList<>(List.of(layout.batch()));
      rows.addAll(op.equals(ATTENTION_DKDV) && !perQueryHead ? layout.kvHeads() : layout.heads());
      return rows;
    }

    /** The layout in words, for the kernel's comment. */
    public String describe() {
      return (layout.packed() ? "packed qkv" : "q, k, v apart, " + layout.heads() + " query heads over " + layout.kvHeads() + " key/value heads")
          + (perQueryHead ? ", dk and dv per query head" : "");
    }
  }

  /** The layout of an attention extern compute, from its first four arguments (q, k, v, then y or dy). */
  public static AttentionLayout attentionLayout(Compute c) {
    List<Tensor> args = ((Expr.Extern) c.body()).tensors().stream().map(Expr.Load::tensor).toList();
    if (args.size() < 5) throw new IllegalArgumentException(c.name() + ": attention extern with [q, k, v, y, ...], found " + args);
    return AttentionLayout.of(args.get(0), args.get(1), args.get(2), args.get(3));
  }

  /** Why attention extern c cannot run at these sizes on any kernel (its layout unreadable, or as below; one line), or null. */
  static String attentionUnsupported(Compute c, ToIntFunction<Dim> size) {
    try {
      return attentionUnsupported(attentionLayout(c), size::applyAsInt);
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
  }

  /**
   * Why attention of this layout cannot be the flash-attention extern at these sizes (one line), or
   * null if it can; what every attention kernel needs. size gives null for a dim not bound yet (that
   * check is left to render time).
   */
  public static String attentionUnsupported(AttentionLayout l, Function<Dim, Integer> size) {
    Integer hs = size.apply(l.headSize());
    if (hs != null && hs % 8 != 0) return "attention: head size " + l.headSize() + " a multiple of 8, found " + hs;
    if (l.heads().size() > 2) return "attention: one or two head dims, found " + l.heads();
    for (AttentionLayout.Operand o : List.of(l.q(), l.k(), l.v())) {
      for (Dim d : o.tensor().dims()) {
        if (d.equals(l.batch()) || d.equals(l.seq()) || d.equals(l.headSize()) || l.heads().contains(d)) continue;
        Integer n = size.apply(d);
        if (n != null && (l.packed() ? n < 3 : n != 1)) {
          return "attention: " + o.tensor().name() + "'s axis " + d + " of size " + (l.packed() ? "at least 3 (q, k, v)" : "1") + ", found " + n;
        }
      }
    }
    return null;
  }
}
