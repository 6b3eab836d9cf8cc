// Pass "precision" (for --precision bf16): assigns a storage type to every tensor of a training program
// and rewrites the same DSL graph to match; no layer is written twice. What it decides:
//   - parameters: the params block stays the fp32 master (what AdamW updates, checkpoints save and
//     files load); a bf16 copy beside it (params_bf16, role PARAM) is what the forward and backward read;
//   - AdamW's m and v, parameter gradients, inputs: fp32 (gradients fp32 keep the global norm and the
//     update exact; they are one block, written by matmuls and column reductions in fp32);
//   - activations and activation gradients: bf16, except statistics: the output of a reduction that is
//     not a matmul (layernorm sums, softmax max and sum, the loss), an element-wise tensor read only by
//     such reductions (the per-position losses), an element-wise tensor computed from statistics alone
//     (mean = Σ/C, rstd, the loss gradient's per-position shares), and every tensor an extern kernel
//     touches (the fp32 flash attention reads and writes fp32), except where the caller has the bf16
//     attention kernels (FlashBf16: CUDA): then qkv, y, dy and dqkv are bf16 and only lse and D fp32.
//   - the residual stream's gradients (the tensors a layernorm backward's last pass `+=`s into): fp32 by default.
//     Every branch and every norm of every layer adds into them; summed in bf16 those adds lose the small terms
//     and GPT-2 124M's 10-step loss drifted 0.14 from the fp64 reference by step 9 (docs/perf.md, "bf16 loss
//     trajectory", CPU, 124M shape at T=128); as fp32 sums, within 0.014. Residual.BF16 keeps them bf16 (llm.c's choice; KILN_BF16_DRES=bf16).
// Every kernel accumulates in fp32 whatever the storage (loads widen, stores round to nearest even).
// The update ends with params_bf16[i] = bf16_sr(params[i], i, step): the master rounded stochastically
// (Expr.RoundBf16: 16 random bits from a hash of the element index and the AdamW step t, hyper[STEP];
// deterministic, the same on every device and replica). A separate "cast" section rounds the master into
// the copy the same way (seed: the session's step): a session runs it before the first forward after the
// params are written (a load or a resume), so a resumed run continues bit for bit. Under ZeRO-1 the runtime drops
// adamw.bf16_copy from the update (a rank updates only its shard; the rest arrives with the all-gather) and runs the
// cast before the next forward instead (kiln.runtime.Session, docs/multi-gpu.md "bf16 with ZeRO-1").
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Graph;
import kiln.dsl.Ops;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import kiln.dsl.Var;
import kiln.models.Program;

public final class Bf16Storage {
  /** The rewritten program, its bf16 parameter copy, and the computes of the "cast" section (copy = master, rounded to nearest). */
  public record Stored(Program program, Tensor copy, List<Compute> cast) {}

  private Bf16Storage() {}

  /** The storage of the residual stream's gradients (the `+=` targets of the layernorm backwards). */
  public enum Residual {
    /** fp32: the loss trajectory tracks fp32 training (the default). */
    FP32,
    /** bf16 like every other activation gradient (llm.c's choice): 2 bytes an element less, the backward matmuls reading them take two bf16 operands. */
    BF16;

    /** KILN_BF16_DRES=bf16 picks BF16; unset or fp32, FP32; anything else is refused with one line naming the variable. */
    public static Residual fromEnvironment() {
      String v = System.getenv("KILN_BF16_DRES");
      if (v == null || v.isEmpty() || v.equals("fp32")) return FP32;
      if (v.equals("bf16")) return BF16;
      throw new IllegalArgumentException("KILN_BF16_DRES: expected fp32 or bf16, found '" + v + "'");
    }
  }

  /**
   * The storage pass; bf16Attention: the attention externs run FlashBf16's kernels, so their tensors but lse and D are bf16;
   * residual: the storage of the residual stream's gradients.
   */
  public static Stored apply(Program p, boolean bf16Attention, Residual residual) {
    Graph g = p.graph();
    List<Compute> computes = g.computes();
    Tensor master = p.params().values().iterator().next().root();
    Set<Tensor> fp32 = statistics(computes, bf16Attention, residual);
    // the narrowed roots, and every tensor (root or view) over one of them
    Map<Tensor, Tensor> narrowed = new HashMap<>();
    List<Tensor> roots = new ArrayList<>();
    Tensor copy = master.restored("params_bf16", Role.PARAM, DType.BF16);
    for (Tensor t : g.roots()) {
      boolean activation = t.role() == Role.ACT || t.role() == Role.ACT_GRAD;
      if (activation && t.dtype() == DType.F32 && !fp32.contains(t) && t != p.loss()) {
        Tensor n = t.restored(t.name(), t.role(), DType.BF16);
        narrowed.put(t, n);
        roots.add(n);
      } else {
        roots.add(t);
      }
      if (t == master) roots.add(copy);
    }
    Map<Tensor, Tensor> views = new HashMap<>();
    java.util.function.Function<Tensor, Tensor> storage = t -> views.computeIfAbsent(t, x -> {
      Tensor n = narrowed.get(x.root());
      return n == null ? x : x.onRoot(n, "");
    });
    java.util.function.Function<Tensor, Tensor> readsCopy = t -> t.root() == master
        ? views.computeIfAbsent(t, x -> x.onRoot(copy, "bf16.")) : storage.apply(t);
    List<Compute> out = new ArrayList<>();
    for (int i = 0; i < computes.size(); i++) {
      // forward and backward read the bf16 copy; the norm and the update read and write the master
      out.add(substitute(computes.get(i), i < p.backwardEnd() ? readsCopy : storage));
    }
    Var e = Ops.var(master.dims().getFirst());
    Expr seed = new Expr.Cast(DType.I32, p.hyper().at(Ops.lit(Program.STEP, DType.I32)));
    out.add(new Compute("adamw.bf16_copy", "adamw", copy, List.of(e), List.of(e), new Expr.RoundBf16(master.at(e), e, seed), false));
    // the same rounding as the last update's (seed: the session's step t, 0 before any update), so a run resumed
    // from its master weights has the copy the uninterrupted run had, bit for bit
    Var c = Ops.var(master.dims().getFirst());
    List<Compute> cast = List.of(new Compute("cast.bf16_copy", "cast", copy, List.of(c), List.of(c), new Expr.RoundBf16(master.at(c), c, seed), false));
    Set<Tensor> kept = new HashSet<>();
    for (Tensor t : p.outputs().values()) kept.add(storage.apply(t).root());
    List<Integer> copies = CopyElision.apply(out, roots, kept);
    List<Integer> adds = AddInlining.ON ? AddInlining.apply(out, roots, kept) : List.of();
    java.util.function.IntUnaryOperator moved = end -> {
      int left = end - (int) copies.stream().filter(i -> i < end).count();
      return left - (int) adds.stream().filter(i -> i < left).count();
    };
    Graph rewritten = g.rewritten(roots, out);
    Map<String, Tensor> outputs = new LinkedHashMap<>(p.outputs());
    outputs.replaceAll((name, t) -> storage.apply(t));
    Program q = new Program(p.model(), rewritten, p.params(), p.grads(), p.inputs(), outputs, p.state(),
        moved.applyAsInt(p.forwardEnd()), moved.applyAsInt(p.backwardEnd()), moved.applyAsInt(p.normEnd()));
    return new Stored(q, copy, cast);
  }

  /**
   * Activations kept fp32: outputs of reductions that are not matmuls (statistics, sums, the loss), then
   * element-wise tensors whose every reader is such a reduction, and the tensors of externs (of the attention
   * externs only lse and D with bf16Attention; the extern then counts as a reader that is no reduction). With
   * Residual.FP32 a `+=` of statistics into a tensor (the residual stream's gradient) keeps that tensor fp32.
   */
  private static Set<Tensor> statistics(List<Compute> computes, boolean bf16Attention, Residual residual) {
    Set<Tensor> keep = new HashSet<>();
    Map<Tensor, List<Compute>> readers = new LinkedHashMap<>();
    for (Compute c : computes) {
      if (c.body() instanceof Expr.Extern x) {
        for (int i = 0; i < x.tensors().size(); i++) {
          Tensor t = x.tensors().get(i).tensor().root();
          if (bf16Attention && FlashBf16.bf16Argument(x, i)) readers.computeIfAbsent(t, k -> new ArrayList<>()).add(c);
          else keep.add(t);
        }
        continue;
      }
      if (!c.rootReductions().isEmpty() && MatmulMatch.of(c).isEmpty()) keep.add(c.out().root());
      for (Expr.Load l : Exprs.loads(c.body())) readers.computeIfAbsent(l.tensor().root(), k -> new ArrayList<>()).add(c);
    }
    for (var r : readers.entrySet()) {
      boolean onlyReduced = r.getValue().stream().allMatch(c -> !c.rootReductions().isEmpty() && MatmulMatch.of(c).isEmpty());
      if (onlyReduced) keep.add(r.getKey());
    }
    // element-wise results of statistics alone (mean = Σ/C, rstd = rsqrt(Σ/C + eps), the loss's gradient seed and its
    // per-position shares) are statistics too; with Residual.BF16 a `+=` of a statistic into a tensor that other
    // statements define (the layernorm backward's last pass into the residual stream's gradient) does not make it one
    // (llm.c keeps those bf16). With Residual.FP32 such a `+=` target (the residual stream's gradient) is kept fp32 too, but as a sum, not a
    // statistic: element-wise tensors computed from it (the branch gradients dout = dresidual that the backward matmuls
    // read) stay bf16, so those matmuls keep two bf16 operands and the rounding happens once, after the sum
    Set<Tensor> sums = new HashSet<>();
    for (Compute c : computes) {
      if (!c.rootReductions().isEmpty() || c.body() instanceof Expr.Extern || (c.accumulate() && residual == Residual.BF16)) continue;
      List<Expr.Load> floats = Exprs.loads(c.body()).stream().filter(l -> l.tensor().dtype() == DType.F32).toList();
      boolean fromKept = !floats.isEmpty() && floats.stream().allMatch(l -> keep.contains(l.tensor().root()));
      if (fromKept) (c.accumulate() ? sums : keep).add(c.out().root());
    }
    keep.addAll(sums);
    return keep;
  }

  static Compute substitute(Compute c, java.util.function.Function<Tensor, Tensor> f) {
    return new Compute(c.name(), c.layer(), f.apply(c.out()), c.loopVars(), c.outIndex().stream().map(x -> substitute(x, f)).toList(),
        substitute(c.body(), f), c.accumulate());
  }

  private static Expr substitute(Expr e, java.util.function.Function<Tensor, Tensor> f) {
    return switch (e) {
      case Expr.Load l -> new Expr.Load(f.apply(l.tensor()), l.index().stream().map(x -> substitute(x, f)).toList());
      case Expr.Extern x -> new Expr.Extern(x.op(), x.tensors().stream().map(l -> new Expr.Load(f.apply(l.tensor()), l.index())).toList());
      default -> Exprs.mapChildren(e, x -> substitute(x, f));
    };
  }
}
