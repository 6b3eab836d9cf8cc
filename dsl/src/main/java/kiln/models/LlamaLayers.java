// The layers Llama adds, written once as forward computes (backward derived): RMSNorm, rotary
// position embedding, grouped-query attention and the SwiGLU MLP. Only existing primitives are used.
package kiln.models;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.lit;
import static kiln.dsl.Ops.select;
import static kiln.dsl.Ops.size;
import static kiln.dsl.Ops.sizeF;
import static kiln.dsl.Ops.sum;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public final class LlamaLayers {
  private LlamaLayers() {}

  /**
   * RMSNorm over the last dim of (B, T, C): x · rsqrt(mean(x²) + eps) · (w + offset). Llama's offset is 0; Gemma's is 1,
   * a scale of 1 + w (its norm weights start at 0).
   */
  public static Tensor rmsnorm(Graph g, Tensor x, Tensor w, double eps, double offset) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2);
    Tensor rstd = g.compute("rstd", dims(B, T), (b, t) -> sum(C, c -> x.at(b, t, c).square()).div(sizeF(C)).add(eps).rsqrt());
    return g.compute("out", dims(B, T, C), (b, t, c) -> x.at(b, t, c).mul(rstd.at(b, t)).mul(w.at(c).add(offset)));
  }

  /**
   * Rotary position embedding over the last dim (HS) of a (B, T, KV, G, HS) projection, with the
   * half-split pairing of Hugging Face / Meta's reference: element d pairs with d ± HS/2, the pair
   * (x[i], x[i + HS/2]) rotates by angle t · theta^(-2i/HS). The result is laid out heads-first,
   * (B, KV, G, T, HS), so that attention's products (and their gradients, which sum over the G
   * query heads of a group and over t) are contiguous matmuls.
   */
  public static Tensor rope(Graph g, String name, Tensor x, double theta) {
    if (x.rank() != 5) throw new kiln.dsl.DslException("rope: expected (B, T, KV, G, HS) or (B, T, KV, 1, HS), found " + x);
    Dim B = x.dims().get(0), T = x.dims().get(1), H1 = x.dims().get(2), H2 = x.dims().get(3), HS = x.dims().get(4);
    double logTheta = Math.log(theta);
    return g.compute(name, dims(B, H1, H2, T, HS), (b, h1, h2, t, d) -> {
      Expr half = size(HS).div(lit(2, DType.I32));
      Expr i = d.mod(half);                                   // frequency index of d's pair
      Expr partner = d.add(half).mod(size(HS));
      Expr angle = t.toF32().mul(i.toF32().mul(-2 * logTheta).div(sizeF(HS)).exp());
      Expr sign = select(d.lt(half), lit(-1), lit(1));
      return x.at(b, t, h1, h2, d).mul(angle.cos()).add(sign.mul(x.at(b, t, h1, h2, partner)).mul(angle.sin()));
    });
  }

  /**
   * Causal grouped-query attention: q (B, KV, G, T, HS) — query head kv·G + g — and k (B, KV, 1, T, HS)
   * from rope, v (B, T, KV, 1, HS) from its projection; the G query heads of a group share k and v.
   * Returns (B, T, KV, G, HS), ready for the output projection. An "attention" region: on CUDA a backend
   * pass puts the flash-attention extern in its place (kiln.codegen.Externs), reading these layouts as they are.
   */
  public static Tensor groupedAttention(Graph g, Tensor q, Tensor k, Tensor v) {
    return g.region("attention", java.util.List.of(q, k, v), () -> groupedAttentionDefinition(g, q, k, v));
  }

  private static Tensor groupedAttentionDefinition(Graph g, Tensor q, Tensor k, Tensor v) {
    Dim B = q.dims().get(0), KV = q.dims().get(1), G = q.dims().get(2), T = q.dims().get(3), HS = q.dims().get(4);
    Expr zero = lit(0, DType.I32);
    Tensor scores = g.compute("scores", dims(B, KV, G, T, T), (b, h, j, t, s) ->
        sum(HS, d -> q.at(b, h, j, t, d).mul(k.at(b, h, zero, s, d))).div(sizeF(HS).sqrt()));
    Tensor max = g.detach(g.compute("max", dims(B, KV, G, T), (b, h, j, t) ->
        kiln.dsl.Ops.max(T, s -> select(s.le(t), scores.at(b, h, j, t, s), lit(Float.NEGATIVE_INFINITY)))));
    Tensor e = g.compute("exp", dims(B, KV, G, T, T), (b, h, j, t, s) ->
        select(s.le(t), scores.at(b, h, j, t, s).sub(max.at(b, h, j, t)).exp(), lit(0)));
    Tensor z = g.compute("norm", dims(B, KV, G, T), (b, h, j, t) -> sum(T, s -> e.at(b, h, j, t, s)));
    Tensor att = g.compute("att", dims(B, KV, G, T, T), (b, h, j, t, s) -> e.at(b, h, j, t, s).div(z.at(b, h, j, t)));
    Tensor y = g.compute("y", dims(B, KV, G, T, HS), (b, h, j, t, d) -> sum(T, s -> att.at(b, h, j, t, s).mul(v.at(b, s, h, zero, d))));
    return g.compute("y_bt", dims(B, T, KV, G, HS), (b, t, h, j, d) -> y.at(b, h, j, t, d));
  }

  /** x (B, T, C) through w (heads..., HS, C): the q, k or v projection, no bias. */
  public static Tensor project(Graph g, String name, Tensor x, Tensor w) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2);
    Dim H1 = w.dims().get(0), H2 = w.dims().get(1), HS = w.dims().get(2);
    return g.compute(name, dims(B, T, H1, H2, HS), (b, t, h, j, d) -> sum(C, c -> x.at(b, t, c).mul(w.at(h, j, d, c))));
  }

  /** Heads (B, T, KV, G, HS) through wo (C, KV, G, HS), no bias. */
  public static Tensor outProjection(Graph g, Tensor y, Tensor w) {
    Dim B = y.dims().get(0), T = y.dims().get(1), KV = y.dims().get(2), G = y.dims().get(3), HS = y.dims().get(4);
    Dim C = w.dims().get(0);
    return g.compute("out", dims(B, T, C), (b, t, o) ->
        sum(KV, h -> sum(G, j -> sum(HS, d -> y.at(b, t, h, j, d).mul(w.at(o, h, j, d))))));
  }

  /** SwiGLU MLP: (silu(x W1ᵀ) ⊙ x W3ᵀ) W2ᵀ with silu(a) = a / (1 + exp(-a)); no biases. */
  public static Tensor swiglu(Graph g, Tensor x, Tensor w1, Tensor w3, Tensor w2) {
    Dim B = x.dims().get(0), T = x.dims().get(1), C = x.dims().get(2), FF = w1.dims().get(0);
    Tensor a = g.compute("gate", dims(B, T, FF), (b, t, f) -> sum(C, c -> x.at(b, t, c).mul(w1.at(f, c))));
    Tensor u = g.compute("up", dims(B, T, FF), (b, t, f) -> sum(C, c -> x.at(b, t, c).mul(w3.at(f, c))));
    Tensor h = g.compute("hidden", dims(B, T, FF), (b, t, f) ->
        a.at(b, t, f).div(a.at(b, t, f).neg().exp().add(1)).mul(u.at(b, t, f)));
    return g.compute("down", dims(B, T, C), (b, t, c) -> sum(FF, f -> h.at(b, t, f).mul(w2.at(c, f))));
  }

  /** A gated feed-forward over (B, T, C) from its three weights: the two (FF, C) inputs, then the (C, FF) output. */
  interface GatedFfn {
    Tensor apply(Graph g, Tensor x, Tensor in1, Tensor in2, Tensor out);
  }

  /**
   * Layer l of a Llama-style decoder, as layers h<l>.attn_norm, .attn, .ffn_norm, .ffn: rmsnorm → q, k, v → rope → grouped
   * attention → out → residual → rmsnorm → gated FFN → residual. normOffset is {@link #rmsnorm}'s offset; ffnWeights names
   * the FFN's weights in the order ffn takes them (the order of {@link #parameters}).
   */
  static Tensor decoderLayer(Graph g, int l, Tensor x, Map<String, Tensor> w, double normOffset, double eps, double theta,
      GatedFfn ffn, List<String> ffnWeights) {
    g.layer("h" + l + ".attn_norm");
    Tensor xn = rmsnorm(g, x, w.get("attn_norm").slice(l), eps, normOffset);
    g.layer("h" + l + ".attn");
    Tensor q = rope(g, "q", project(g, "q_proj", xn, w.get("wq").slice(l)), theta);
    Tensor k = rope(g, "k", project(g, "k_proj", xn, w.get("wk").slice(l)), theta);
    Tensor v = project(g, "v", xn, w.get("wv").slice(l));
    Tensor h = Layers.residual(g, x, outProjection(g, groupedAttention(g, q, k, v), w.get("wo").slice(l)));
    g.layer("h" + l + ".ffn_norm");
    Tensor hn = rmsnorm(g, h, w.get("ffn_norm").slice(l), eps, normOffset);
    g.layer("h" + l + ".ffn");
    Tensor in1 = w.get(ffnWeights.get(0)).slice(l);
    Tensor in2 = w.get(ffnWeights.get(1)).slice(l);
    Tensor out = w.get(ffnWeights.get(2)).slice(l);
    return Layers.residual(g, h, ffn.apply(g, hn, in1, in2, out));
  }

  /**
   * A Llama-style file's parameter order: wte, per layer the attention's norm, wq, wk, wv, wo, the FFN's norm and its
   * three weights (named by ffn: the two (L, FF, C) inputs, then the (L, C, FF) output), then the final norm. q is
   * (L, KV, G, HS, C): the same bytes as (L, NH·HS, C); k and v (L, KV, ONE, HS, C).
   */
  static LinkedHashMap<String, List<Dim>> parameters(List<String> ffn, Dim vp, Dim c, Dim l, Dim kv, Dim g, Dim hs, Dim one, Dim ff) {
    var p = new LinkedHashMap<String, List<Dim>>();
    p.put("wte", List.of(vp, c));
    p.put("attn_norm", List.of(l, c));
    p.put("wq", List.of(l, kv, g, hs, c));
    p.put("wk", List.of(l, kv, one, hs, c));
    p.put("wv", List.of(l, kv, one, hs, c));
    p.put("wo", List.of(l, c, kv, g, hs));
    p.put("ffn_norm", List.of(l, c));
    p.put(ffn.get(0), List.of(l, ff, c));
    p.put(ffn.get(1), List.of(l, ff, c));
    p.put(ffn.get(2), List.of(l, c, ff));
    p.put("norm", List.of(c));
    return p;
  }

  /**
   * A Llama-style init into dst from base, tensor by tensor in file order from one seeded stream: the norm weights all
   * {@code norm}, every other tensor N(0, 0.02), of the embedding (wte) and the head (lm_head) only the first
   * {@code vocabValues} = V·C (the padding rows stay 0).
   */
  static void init(ModelFamily.Layout layout, long seed, float norm, int vocabValues, float[] dst, int base) {
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
    int off = base;
    for (int i = 0; i < layout.sizes().length; i++) {
      String name = layout.names().get(i);
      int n = (int) layout.sizes()[i];
      java.util.Arrays.fill(dst, off, off + n, name.endsWith("norm") ? norm : 0f);
      int drawn = name.endsWith("norm") ? 0 : name.equals("wte") || name.equals("lm_head") ? vocabValues : n;
      for (int j = 0; j < drawn; j++) {
        dst[off + j] = (float) (rnd.nextGaussian() * 0.02);
      }
      off += n;
    }
  }
}
