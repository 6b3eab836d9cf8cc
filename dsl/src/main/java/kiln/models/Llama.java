// Llama written in the DSL, top to bottom like the architecture: embedding, then per layer
// rmsnorm → q, k, v → rope → grouped attention → out → residual → rmsnorm → SwiGLU → residual,
// then rmsnorm → untied lm_head → loss. Backward derived, AdamW appended.
package kiln.models;

import static kiln.models.Layers.crossEntropy;
import static kiln.models.Layers.residual;
import static kiln.models.LlamaLayers.groupedAttention;
import static kiln.models.LlamaLayers.outProjection;
import static kiln.models.LlamaLayers.project;
import static kiln.models.LlamaLayers.rmsnorm;
import static kiln.models.LlamaLayers.rope;
import static kiln.models.LlamaLayers.swiglu;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

public final class Llama {
  public static final Dim B = new Dim("B"), T = new Dim("T"), C = new Dim("C"), KV = new Dim("KV"), G = new Dim("G"), HS = new Dim("HS");
  public static final Dim ONE = new Dim("ONE"), L = new Dim("L"), V = new Dim("V"), VP = new Dim("VP"), FF = new Dim("FF");

  /** The shape of a Llama: heads = kvHeads · G query heads; theta and eps of RoPE and RMSNorm. */
  public record Config(int maxT, int vocab, int paddedVocab, int layers, int heads, int kvHeads, int channels, int ffn,
                       double theta, double eps) {}

  /** Our Llama file's parameter order (q as (L, KV, G, HS, C): the same bytes as (L, C, C)). */
  static LinkedHashMap<String, List<Dim>> parameterShapes() {
    var p = new LinkedHashMap<String, List<Dim>>();
    p.put("wte", List.of(VP, C));
    p.put("attn_norm", List.of(L, C));
    p.put("wq", List.of(L, KV, G, HS, C));
    p.put("wk", List.of(L, KV, ONE, HS, C));
    p.put("wv", List.of(L, KV, ONE, HS, C));
    p.put("wo", List.of(L, C, KV, G, HS));
    p.put("ffn_norm", List.of(L, C));
    p.put("w1", List.of(L, FF, C));
    p.put("w3", List.of(L, FF, C));
    p.put("w2", List.of(L, C, FF));
    p.put("norm", List.of(C));
    p.put("lm_head", List.of(VP, C));
    return p;
  }

  public static Map<Dim, Integer> bind(Config c, int batch, int seq) {
    if (c.channels() % c.heads() != 0) throw new IllegalArgumentException("channels " + c.channels() + " not divisible by heads " + c.heads());
    if (c.heads() % c.kvHeads() != 0) throw new IllegalArgumentException("heads " + c.heads() + " not divisible by kv heads " + c.kvHeads());
    if (seq > c.maxT()) throw new IllegalArgumentException("sequence length " + seq + " exceeds maxT " + c.maxT());
    Map<Dim, Integer> sizes = Map.ofEntries(Map.entry(B, batch), Map.entry(T, seq), Map.entry(C, c.channels()), Map.entry(KV, c.kvHeads()),
        Map.entry(G, c.heads() / c.kvHeads()), Map.entry(HS, c.channels() / c.heads()), Map.entry(ONE, 1), Map.entry(L, c.layers()),
        Map.entry(V, c.vocab()), Map.entry(VP, c.paddedVocab()), Map.entry(FF, c.ffn()));
    return Trainable.bindShared(sizes, parameterShapes());
  }

  public static Program build(Config cfg) {
    Trainable model = new Trainable(parameterShapes(), B, T);
    Graph g = model.g;
    Map<String, Tensor> w = model.params;
    Tensor tokens = model.tokens, targets = model.targets;
    Tensor wte = w.get("wte");

    g.layer("embed");
    Tensor x = g.compute("x", Graph.dims(B, T, C), (b, t, c) -> wte.at(tokens.at(b, t), c));
    for (int l = 0; l < cfg.layers(); l++) {
      g.layer("h" + l + ".attn_norm");
      Tensor xn = rmsnorm(g, x, w.get("attn_norm").slice(l), cfg.eps());
      g.layer("h" + l + ".attn");
      Tensor q = rope(g, "q", project(g, "q_proj", xn, w.get("wq").slice(l)), cfg.theta());
      Tensor k = rope(g, "k", project(g, "k_proj", xn, w.get("wk").slice(l)), cfg.theta());
      Tensor vv = project(g, "v", xn, w.get("wv").slice(l));
      Tensor y = groupedAttention(g, q, k, vv);
      Tensor h = residual(g, x, outProjection(g, y, w.get("wo").slice(l)));
      g.layer("h" + l + ".ffn_norm");
      Tensor hn = rmsnorm(g, h, w.get("ffn_norm").slice(l), cfg.eps());
      g.layer("h" + l + ".ffn");
      x = residual(g, h, swiglu(g, hn, w.get("w1").slice(l), w.get("w3").slice(l), w.get("w2").slice(l)));
    }
    g.layer("norm");
    Tensor xf = rmsnorm(g, x, w.get("norm"), cfg.eps());
    g.layer("head");
    Tensor lmHead = w.get("lm_head");
    Tensor logits = g.compute("logits", Graph.dims(B, T, VP), (b, t, o) -> kiln.dsl.Ops.sum(C, c -> xf.at(b, t, c).mul(lmHead.at(o, c))));
    Tensor loss = crossEntropy(g, logits, targets, V);
    return model.finish("llama", logits, loss);
  }
}
