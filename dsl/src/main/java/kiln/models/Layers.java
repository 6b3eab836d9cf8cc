// The layers GPT-2 and friends are built from, each written once as forward computes; their
// backward is derived by kiln.dsl.Autodiff. Shapes in comments use the dims of the call site.
package kiln.models;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.lit;
import static kiln.dsl.Ops.select;
import static kiln.dsl.Ops.size;
import static kiln.dsl.Ops.sizeF;
import static kiln.dsl.Ops.sum;

import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public final class Layers {
  private Layers() {}

  /** Token + position embedding: (B, T) ids -> (B, T, C). wte is (Vp, C), wpe is (maxT, C). */
  public static Tensor encoder(Graph g, Tensor tokens, Tensor wte, Tensor wpe, Dim T) {
    Tensor positions = wpe.head(T);                                       // (T, C)
    var d = tokens.dims();
    return g.compute("encoded", dims(d.get(0), d.get(1), wte.dims().get(1)),
        (b, t, c) -> wte.at(tokens.at(b, t), c).add(positions.at(t, c)));
  }

  /** LayerNorm over the last dim C of a (B, T, C) tensor, biased variance, eps 1e-5. */
  public static Tensor layernorm(Graph g, Tensor x, Tensor w, Tensor bias) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2);
    Tensor mean = g.compute("mean", dims(B, T), (b, t) -> sum(C, c -> x.at(b, t, c)).div(sizeF(C)));
    Tensor rstd = g.compute("rstd", dims(B, T), (b, t) ->
        sum(C, c -> x.at(b, t, c).sub(mean.at(b, t)).square()).div(sizeF(C)).add(1e-5).rsqrt());
    return g.compute("out", dims(B, T, C), (b, t, c) ->
        x.at(b, t, c).sub(mean.at(b, t)).mul(rstd.at(b, t)).mul(w.at(c)).add(bias.at(c)));
  }

  /** x (B, T, C) times w (OC, C) transposed, plus bias (OC): nn.Linear. */
  public static Tensor linear(Graph g, Tensor x, Tensor w, Tensor bias) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2), OC = w.dims().get(0);
    return g.compute("out", dims(B, T, OC), (b, t, o) -> sum(C, c -> x.at(b, t, c).mul(w.at(o, c))).add(bias.at(o)));
  }

  /**
   * The qkv projection straight into (B, T, 3, NH, HS): w is (3, NH, HS, C), bias (3, NH, HS),
   * the same bytes as llm.c's (3C, C) and (3C).
   */
  public static Tensor qkv(Graph g, Tensor x, Tensor w, Tensor bias) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2);
    Dim THREE = w.dims().get(0), NH = w.dims().get(1), HS = w.dims().get(2);
    return g.compute("qkv", dims(B, T, THREE, NH, HS), (b, t, i, h, d) ->
        sum(C, c -> x.at(b, t, c).mul(w.at(i, h, d, c))).add(bias.at(i, h, d)));
  }

  /**
   * Causal self-attention over qkv (B, T, 3, NH, HS) -> (B, T, NH, HS): scores scaled by
   * 1/sqrt(HS), masked to s <= t, softmax with its max detached (a constant shift). An "attention"
   * region: on CUDA a backend pass puts the flash-attention extern in its place (kiln.codegen.Externs).
   */
  public static Tensor attention(Graph g, Tensor qkv) {
    return g.region("attention", java.util.List.of(qkv), () -> attentionDefinition(g, qkv));
  }

  private static Tensor attentionDefinition(Graph g, Tensor qkv) {
    Dim B = qkv.dims().get(0), T = qkv.dims().get(1), NH = qkv.dims().get(3), HS = qkv.dims().get(4);
    Expr q = lit(0, kiln.dsl.DType.I32), k = lit(1, kiln.dsl.DType.I32), v = lit(2, kiln.dsl.DType.I32);
    Expr scale = sizeF(HS).sqrt();
    Tensor scores = g.compute("scores", dims(B, NH, T, T), (b, h, t, s) ->
        sum(HS, d -> qkv.at(b, t, q, h, d).mul(qkv.at(b, s, k, h, d))).div(scale));
    Tensor max = g.detach(g.compute("max", dims(B, NH, T), (b, h, t) ->
        kiln.dsl.Ops.max(T, s -> select(s.le(t), scores.at(b, h, t, s), lit(Float.NEGATIVE_INFINITY)))));
    Tensor e = g.compute("exp", dims(B, NH, T, T), (b, h, t, s) ->
        select(s.le(t), scores.at(b, h, t, s).sub(max.at(b, h, t)).exp(), lit(0)));
    Tensor z = g.compute("norm", dims(B, NH, T), (b, h, t) -> sum(T, s -> e.at(b, h, t, s)));
    Tensor att = g.compute("att", dims(B, NH, T, T), (b, h, t, s) -> e.at(b, h, t, s).div(z.at(b, h, t)));
    return g.compute("y", dims(B, T, NH, HS), (b, t, h, d) ->
        sum(T, s -> att.at(b, h, t, s).mul(qkv.at(b, s, v, h, d))));
  }

  /**
   * One decoding step of causal attention with a KV cache: writes this step's k and v (from qkv
   * (B, 1, 3, NH, HS)) into the caches (B, maxT, NH, HS) at position pos, then attends over
   * positions 0..pos. Returns (B, 1, NH, HS).
   */
  public static Tensor cachedAttention(Graph g, Tensor qkv, Tensor kCache, Tensor vCache, Tensor pos) {
    Dim B = qkv.dims().get(0), ONE = qkv.dims().get(1), NH = qkv.dims().get(3), HS = qkv.dims().get(4);
    Dim MAXT = kCache.dims().get(1);
    Expr q = lit(0, kiln.dsl.DType.I32), k = lit(1, kiln.dsl.DType.I32), v = lit(2, kiln.dsl.DType.I32);
    Expr zero = lit(0, kiln.dsl.DType.I32);
    g.store("k_cache", kCache, dims(B, NH, HS), x -> java.util.List.of(x.get(0), pos.at(), x.get(1), x.get(2)),
        x -> qkv.at(x.get(0), zero, k, x.get(1), x.get(2)));
    g.store("v_cache", vCache, dims(B, NH, HS), x -> java.util.List.of(x.get(0), pos.at(), x.get(1), x.get(2)),
        x -> qkv.at(x.get(0), zero, v, x.get(1), x.get(2)));
    Expr scale = sizeF(HS).sqrt();
    Tensor scores = g.compute("scores", dims(B, NH, MAXT), (b, h, s) -> sum(HS, d -> qkv.at(b, zero, q, h, d).mul(kCache.at(b, s, h, d))));
    Tensor max = g.compute("max", dims(B, NH), (b, h) ->
        kiln.dsl.Ops.max(MAXT, s -> select(s.le(pos.at()), scores.at(b, h, s), lit(Float.NEGATIVE_INFINITY))));
    Tensor e = g.compute("exp", dims(B, NH, MAXT), (b, h, s) ->
        select(s.le(pos.at()), scores.at(b, h, s).sub(max.at(b, h)).div(scale).exp(), lit(0)));
    Tensor z = g.compute("norm", dims(B, NH), (b, h) -> sum(MAXT, s -> e.at(b, h, s)));
    return g.compute("y", dims(B, ONE, NH, HS), (b, one, h, d) -> sum(MAXT, s -> e.at(b, h, s).mul(vCache.at(b, s, h, d))).div(z.at(b, h)));
  }

  /** Heads (B, T, NH, HS) through w (C, NH, HS) plus bias (C). */
  public static Tensor headsProjection(Graph g, Tensor y, Tensor w, Tensor bias) {
    Dim B = y.dims().get(0), T = y.dims().get(1), NH = y.dims().get(2), HS = y.dims().get(3), C = w.dims().get(0);
    return g.compute("out", dims(B, T, C), (b, t, o) ->
        sum(NH, h -> sum(HS, d -> y.at(b, t, h, d).mul(w.at(o, h, d)))).add(bias.at(o)));
  }

  /** GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  public static Tensor gelu(Graph g, Tensor x) {
    Dim B = x.dims().get(0), T = x.dims().get(1), F = x.dims().get(2);
    double k = Math.sqrt(2 / Math.PI);
    return g.region("gelu", java.util.List.of(x), () -> g.compute("gelu", dims(B, T, F), (b, t, f) -> {
      Expr u = x.at(b, t, f);
      return u.mul(0.5).mul(u.mul(u).mul(u).mul(0.044715).add(u).mul(k).tanh().add(1));
    }));
  }

  public static Tensor residual(Graph g, Tensor a, Tensor x) {
    Dim B = a.dims().get(0), T = a.dims().get(1), C = a.dims().get(2);
    return g.compute("residual", dims(B, T, C), (b, t, c) -> a.at(b, t, c).add(x.at(b, t, c)));
  }

  /** Logits (B, T, Vp) from x (B, T, C) and the tied embedding wte (Vp, C). */
  public static Tensor logits(Graph g, Tensor x, Tensor wte) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2), Vp = wte.dims().get(0);
    return g.compute("logits", dims(B, T, Vp), (b, t, v) -> sum(C, c -> x.at(b, t, c).mul(wte.at(v, c))));
  }

  /**
   * Mean cross-entropy of logits (B, T, Vp) against targets (B, T), softmax over the first V
   * entries only (the rest is padding). Probabilities are never stored: the backward recomputes them.
   */
  public static Tensor crossEntropy(Graph g, Tensor logits, Tensor targets, Dim V) {
    Dim B = logits.dims().get(0), T = logits.dims().get(1), Vp = logits.dims().get(2);
    Tensor max = g.detach(g.compute("max", dims(B, T), (b, t) ->
        kiln.dsl.Ops.max(Vp, v -> select(v.lt(size(V)), logits.at(b, t, v), lit(Float.NEGATIVE_INFINITY)))));
    Tensor z = g.compute("norm", dims(B, T), (b, t) ->
        sum(Vp, v -> select(v.lt(size(V)), logits.at(b, t, v).sub(max.at(b, t)).exp(), lit(0))));
    Tensor losses = g.compute("losses", dims(B, T), (b, t) ->
        z.at(b, t).log().add(max.at(b, t)).sub(logits.at(b, t, targets.at(b, t))));
    return g.compute("loss", dims(), () ->
        sum(B, b -> sum(T, t -> losses.at(b, t))).div(sizeF(B)).div(sizeF(T)));
  }

  /**
   * Σ g² over a flat block of |P| elements in two stages: chunks of |CH| (parallel), then the
   * chunks. The index is clamped so no lane reads past the block; the select drops those lanes.
   */
  public static Tensor squaredNorm(Graph g, Tensor block, Dim chunks, Dim chunk) {
    Dim P = block.dims().get(0);
    Tensor partial = g.compute("partial", dims(chunks), k -> sum(chunk, j -> {
      Expr at = k.mul(size(chunk)).add(j);
      return select(at.lt(size(P)), block.at(at.min(size(P).sub(lit(1, kiln.dsl.DType.I32)))).square(), lit(0));
    }));
    return g.compute("total", dims(), () -> sum(chunks, k -> partial.at(k)));
  }

  /**
   * AdamW over whole blocks (params, grads, m, v: one flat dim each). hyper holds [lr, 1 - beta1^t,
   * 1 - beta2^t, weight decay, gradient scale] (Program's slots), written by the trainer each step;
   * the gradient scale is global-norm clipping.
   */
  public static void adamw(Graph g, Tensor p, Tensor grad, Tensor m, Tensor v, Tensor hyper,
                           double beta1, double beta2, double eps) {
    Expr zero = lit(0, kiln.dsl.DType.I32), one = lit(1, kiln.dsl.DType.I32);
    Expr two = lit(2, kiln.dsl.DType.I32), three = lit(3, kiln.dsl.DType.I32);
    Expr scale = hyper.at(lit(Program.GRAD_SCALE, kiln.dsl.DType.I32));
    g.update(m, i -> m.at(i).mul(beta1).add(grad.at(i).mul(scale).mul(1 - beta1)));
    g.update(v, i -> v.at(i).mul(beta2).add(grad.at(i).mul(scale).square().mul(1 - beta2)));
    g.update(p, i -> p.at(i).sub(hyper.at(zero).mul(
        m.at(i).div(hyper.at(one)).div(v.at(i).div(hyper.at(two)).sqrt().add(eps)).add(hyper.at(three).mul(p.at(i))))));
  }
}
