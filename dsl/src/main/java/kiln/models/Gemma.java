// A Gemma-style decoder written in the DSL, top to bottom like the architecture: embedding scaled by
// √C, then per layer rmsnorm(1+w) → q, k, v (head size HS apart from C/NH, kvHeads shared key/value
// heads: multi-query at 1) → rope → grouped attention → out → residual → rmsnorm(1+w) → GeGLU →
// residual; then rmsnorm(1+w) → logits through the tied embedding → loss. Backward derived.
package kiln.models;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sizeF;
import static kiln.dsl.Ops.sum;
import static kiln.models.Layers.crossEntropy;
import static kiln.models.Layers.gelu;
import static kiln.models.Layers.logits;
import static kiln.models.LlamaLayers.rmsnorm;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public final class Gemma {
  public static final Dim B = new Dim("B"), T = new Dim("T"), C = new Dim("C"), KV = new Dim("KV"), G = new Dim("G"), HS = new Dim("HS");
  public static final Dim ONE = new Dim("ONE"), L = new Dim("L"), V = new Dim("V"), VP = new Dim("VP"), FF = new Dim("FF");

  /** heads = kvHeads · G query heads of headSize each (not C/heads); theta and eps of RoPE and RMSNorm. */
  public record Config(int maxT, int vocab, int paddedVocab, int layers, int heads, int kvHeads, int headSize, int channels, int ffn,
                       float theta, float eps) {}

  /** GeGLU's weights in the file's order: w_gate, w_up, then w_down. */
  static final List<String> FFN = List.of("w_gate", "w_up", "w_down");

  public static final ModelFamily<Config> FAMILY = new ModelFamily<>() {
    public String name() { return "gemma"; }
    public Class<Config> configType() { return Config.class; }
    public Dim batchDim() { return B; }
    public Dim seqDim() { return T; }
    public String reference() { return "reference/gemma_reference.py"; }

    /** The file's order, GeGLU's w_gate, w_up, w_down; q as (L, KV, G, HS, C) is the same bytes as (L, NH·HS, C). No lm_head: tied to wte. */
    public LinkedHashMap<String, List<Dim>> parameters() {
      return LlamaLayers.parameters(FFN, VP, C, L, KV, G, HS, ONE, FF);
    }

    public Map<Dim, Integer> dims(Config c) {
      return Map.of(C, c.channels(), KV, c.kvHeads(), G, c.heads() / c.kvHeads(), HS, c.headSize(), ONE, 1, L, c.layers(),
          V, c.vocab(), VP, c.paddedVocab(), FF, c.ffn());
    }

    public Outputs forward(Graph g, Map<String, Tensor> w, Tensor tokens, Tensor targets, Config c) {
      Tensor wte = w.get("wte");
      g.layer("embed");
      Tensor x = g.compute("x", Graph.dims(B, T, C), (b, t, ch) -> wte.at(tokens.at(b, t), ch).mul(sizeF(C).sqrt()));
      for (int l = 0; l < c.layers(); l++) {
        x = LlamaLayers.decoderLayer(g, l, x, w, 1, c.eps(), c.theta(), Gemma::geglu, FFN);
      }
      g.layer("norm");
      Tensor xf = rmsnorm(g, x, w.get("norm"), c.eps(), 1);   // a scale of 1 + w
      g.layer("head");
      Tensor out = logits(g, xf, wte);
      return new Outputs(out, crossEntropy(g, out, targets, V));
    }

    public FileFormat file() {
      return new FileFormat(20261130, 1, 0, "a kiln Gemma model", List.of(new Field("maxT", "maxT"), new Field("vocab", "V"),
          new Field("layers", "L"), new Field("heads", "NH"), new Field("kvHeads", "NKV"), new Field("headSize", "HS"),
          new Field("channels", "C"), new Field("ffn", "FF"), new Field("paddedVocab", "Vp"), new Field("theta", "theta"),
          new Field("eps", "eps")));
    }

    public Violation constraints(Config c) {
      if (c.heads() % c.kvHeads() != 0) return new Violation("NKV", "a divisor of NH (" + c.heads() + ")", Integer.toString(c.kvHeads()));
      if (c.headSize() % 2 != 0) return new Violation("HS", "an even head size for RoPE", Integer.toString(c.headSize()));
      if (c.paddedVocab() < c.vocab()) return new Violation("Vp", "at least V (" + c.vocab() + ")", Integer.toString(c.paddedVocab()));
      if (!(Float.isFinite(c.theta()) && c.theta() > 0)) return new Violation("theta", "a finite float32 > 0", Float.toString(c.theta()));
      if (!(Float.isFinite(c.eps()) && c.eps() >= 0)) return new Violation("eps", "a finite float32 >= 0", Float.toString(c.eps()));
      return null;
    }

    /** Multi-query (one key/value head, as Gemma 2B), heads of 64 at C = 128 and of 128 at C = 768: NH·HS is not C. */
    public Map<String, Config> presets() {
      var p = new LinkedHashMap<String, Config>();
      p.put("gemma-tiny", new Config(256, 50257, 50304, 2, 4, 1, 64, 128, 512, 10000f, 1e-6f));
      p.put("gemma-d12", new Config(1024, 50257, 50304, 12, 8, 1, 128, 768, 2048, 10000f, 1e-6f));
      return p;
    }

    /** Linear weights and the embedding N(0, 0.02) (padding rows 0); norm weights 0, a scale of 1 + 0. */
    public void init(Config c, long seed, float[] dst, int base) {
      LlamaLayers.init(layout(c), seed, 0f, c.vocab() * c.channels(), dst, base);
    }
  };

  /** GeGLU feed-forward: (gelu_tanh(x W_gateᵀ) ⊙ x W_upᵀ) W_downᵀ, no biases. */
  static Tensor geglu(Graph g, Tensor x, Tensor wGate, Tensor wUp, Tensor wDown) {
    Dim b0 = x.dims().get(0), t0 = x.dims().get(1), c0 = x.dims().get(2), f0 = wGate.dims().get(0);
    Tensor gate = gelu(g, g.compute("gate", dims(b0, t0, f0), (b, t, f) -> sum(c0, c -> x.at(b, t, c).mul(wGate.at(f, c)))));
    Tensor up = g.compute("up", dims(b0, t0, f0), (b, t, f) -> sum(c0, c -> x.at(b, t, c).mul(wUp.at(f, c))));
    Tensor h = g.compute("hidden", dims(b0, t0, f0), (b, t, f) -> gate.at(b, t, f).mul(up.at(b, t, f)));
    return g.compute("down", dims(b0, t0, c0), (b, t, c) -> sum(f0, f -> h.at(b, t, f).mul(wDown.at(c, f))));
  }
}
