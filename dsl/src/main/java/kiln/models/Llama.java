// Llama written in the DSL, top to bottom like the architecture: embedding, then per layer
// rmsnorm → q, k, v → rope → grouped attention → out → residual → rmsnorm → SwiGLU → residual,
// then rmsnorm → untied lm_head → loss. Backward derived, AdamW appended.
package kiln.models;

import static kiln.models.Layers.crossEntropy;
import static kiln.models.Layers.logits;
import static kiln.models.LlamaLayers.rmsnorm;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public final class Llama {
  public static final Dim B = new Dim("B"), T = new Dim("T"), C = new Dim("C"), KV = new Dim("KV"), G = new Dim("G"), HS = new Dim("HS");
  public static final Dim ONE = new Dim("ONE"), L = new Dim("L"), V = new Dim("V"), VP = new Dim("VP"), FF = new Dim("FF");

  /** The shape of a Llama: heads = kvHeads · G query heads of C/heads; theta and eps of RoPE and RMSNorm (float32, as the file holds them). */
  public record Config(int maxT, int vocab, int paddedVocab, int layers, int heads, int kvHeads, int channels, int ffn,
                       float theta, float eps) {}

  public static final float DEFAULT_THETA = 10000f, DEFAULT_EPS = 1e-5f;

  /** SwiGLU's weights in the file's order: w1 (gate) and w3 (up), then w2 (down). */
  static final List<String> FFN = List.of("w1", "w3", "w2");

  /** Llama as a family: kiln's Llama file (reference/README.md), presets and init; the forward below. */
  public static final ModelFamily<Config> FAMILY = new ModelFamily<>() {
    public String name() { return "llama"; }
    public Class<Config> configType() { return Config.class; }
    public Dim batchDim() { return B; }
    public Dim seqDim() { return T; }
    public String reference() { return "reference/llama_reference.py"; }

    public Map<Dim, Integer> dims(Config c) {
      return Map.of(C, c.channels(), KV, c.kvHeads(), G, c.heads() / c.kvHeads(), HS, c.channels() / c.heads(), ONE, 1,
          L, c.layers(), V, c.vocab(), VP, c.paddedVocab(), FF, c.ffn());
    }

    /** Our Llama file's parameter order: SwiGLU's w1, w3, w2, then the untied lm_head after the final norm. */
    public LinkedHashMap<String, List<Dim>> parameters() {
      var p = LlamaLayers.parameters(FFN, VP, C, L, KV, G, HS, ONE, FF);
      p.put("lm_head", List.of(VP, C));
      return p;
    }

    public Outputs forward(Graph g, Map<String, Tensor> w, Tensor tokens, Tensor targets, Config c) {
      Tensor wte = w.get("wte");
      g.layer("embed");
      Tensor x = g.compute("x", Graph.dims(B, T, C), (b, t, ch) -> wte.at(tokens.at(b, t), ch));
      for (int l = 0; l < c.layers(); l++) {
        x = LlamaLayers.decoderLayer(g, l, x, w, 0, c.eps(), c.theta(), LlamaLayers::swiglu, FFN);
      }
      g.layer("norm");
      Tensor xf = rmsnorm(g, x, w.get("norm"), c.eps(), 0);
      g.layer("head");
      Tensor logits = logits(g, xf, w.get("lm_head"));   // untied: the head's own weights
      return new Outputs(logits, crossEntropy(g, logits, targets, V));
    }

    public FileFormat file() {
      return new FileFormat(20261123, 1, 0, "a kiln Llama model", List.of(new Field("maxT", "maxT"), new Field("vocab", "V"),
          new Field("layers", "L"), new Field("heads", "NH"), new Field("kvHeads", "NKV"), new Field("channels", "C"),
          new Field("ffn", "FF"), new Field("paddedVocab", "Vp"), new Field("theta", "theta"), new Field("eps", "eps")));
    }

    public Violation constraints(Config c) {
      if (c.heads() % c.kvHeads() != 0) return new Violation("NKV", "a divisor of NH (" + c.heads() + ")", Integer.toString(c.kvHeads()));
      if (c.channels() % c.heads() != 0) return new Violation("C", "a multiple of NH (" + c.heads() + ")", Integer.toString(c.channels()));
      int hs = c.channels() / c.heads();
      if (hs % 2 != 0) {
        return new Violation("C", "an even head size C/NH for RoPE (NH = " + c.heads() + ")", c.channels() + " (head size " + hs + ")");
      }
      if (c.paddedVocab() < c.vocab()) return new Violation("Vp", "at least V (" + c.vocab() + ")", Integer.toString(c.paddedVocab()));
      if (!(Float.isFinite(c.theta()) && c.theta() > 0)) return new Violation("theta", "a finite float32 > 0", floatFound(c.theta()));
      if (!(Float.isFinite(c.eps()) && c.eps() >= 0)) return new Violation("eps", "a finite float32 >= 0", floatFound(c.eps()));
      return null;
    }

    public Map<String, Config> presets() {
      var p = new LinkedHashMap<String, Config>();
      p.put("llama-tiny", new Config(256, 50257, 50304, 2, 4, 2, 128, 352, DEFAULT_THETA, DEFAULT_EPS));
      p.put("llama-d12", new Config(1024, 50257, 50304, 12, 12, 4, 768, 2048, DEFAULT_THETA, DEFAULT_EPS));
      return p;
    }

    /** Linear weights and both embeddings N(0, 0.02) (padding rows 0), norm weights 1. */
    public void init(Config c, long seed, float[] dst, int base) {
      LlamaLayers.init(layout(c), seed, 1f, c.vocab() * c.channels(), dst, base);
    }
  };

  /** The value and its bits, since the header stores Float.floatToIntBits and a NaN has many. */
  static String floatFound(float f) {
    return f + " (bits 0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")";
  }
}
