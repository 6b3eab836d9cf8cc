// GPT-2 written in the DSL, top to bottom like the architecture; backward is derived, AdamW appended.
package kiln.models;

import static kiln.models.Layers.attention;
import static kiln.models.Layers.crossEntropy;
import static kiln.models.Layers.encoder;
import static kiln.models.Layers.gelu;
import static kiln.models.Layers.headsProjection;
import static kiln.models.Layers.layernorm;
import static kiln.models.Layers.linear;
import static kiln.models.Layers.logits;
import static kiln.models.Layers.qkv;
import static kiln.models.Layers.residual;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

public final class Gpt2 {
  public static final Dim B = new Dim("B"), T = new Dim("T"), C = new Dim("C"), NH = new Dim("NH"), HS = new Dim("HS");
  public static final Dim L = new Dim("L"), MAXT = new Dim("MAXT"), V = new Dim("V"), VP = new Dim("VP");
  public static final Dim THREE = new Dim("THREE"), FF = new Dim("FF"), ONE = new Dim("ONE");

  /** The shape of a GPT-2, as in llm.c's checkpoint header. */
  public record Config(int maxT, int vocab, int paddedVocab, int layers, int heads, int channels) {}

  /** GPT-2 as a family: llm.c's file (v3 fp32, v5 bf16), its presets and init; the forward below. */
  public static final ModelFamily<Config> FAMILY = new ModelFamily<>() {
    public String name() { return "gpt2"; }
    public Class<Config> configType() { return Config.class; }
    public LinkedHashMap<String, List<Dim>> parameters() { return parameterShapes(); }
    public Dim batchDim() { return B; }
    public Dim seqDim() { return T; }
    public String reference() { return "reference/gpt2_reference.py"; }

    public Map<Dim, Integer> dims(Config c) {
      return Map.of(C, c.channels(), NH, c.heads(), HS, c.channels() / c.heads(), L, c.layers(), MAXT, c.maxT(), V, c.vocab(),
          VP, c.paddedVocab(), THREE, 3, FF, 4 * c.channels(), ONE, 1);
    }

    public Outputs forward(Graph g, Map<String, Tensor> w, Tensor tokens, Tensor targets, Config c) {
      g.layer("encoder");
      Tensor x = encoder(g, tokens, w.get("wte"), w.get("wpe"), T);
      Tensor logits = blocksAndHead(g, w, c.layers(), x, (l, qkv) -> attention(g, qkv));
      return new Outputs(logits, crossEntropy(g, logits, targets, V));
    }

    /**
     * Generation with a KV cache: one new token per sequence per run, at position pos (an input),
     * attending over the cached keys and values of positions 0..pos. Forward only; logits (B, 1, Vp).
     */
    public java.util.Optional<Program> decoder(Config cfg) {
      Graph g = new Graph();
      Map<String, Tensor> w = g.block("params", Role.PARAM, parameterShapes());
      Tensor tokens = g.input(Program.TOKENS, DType.I32, B, ONE);
      Tensor pos = g.input(Program.POS, DType.I32);
      Tensor kCache = g.tensor("k_cache", Role.STATE, DType.F32, L, B, MAXT, NH, HS);
      Tensor vCache = g.tensor("v_cache", Role.STATE, DType.F32, L, B, MAXT, NH, HS);

      g.layer("encoder");
      Tensor wte = w.get("wte"), wpe = w.get("wpe");
      Tensor x = g.compute("encoded", Graph.dims(B, ONE, C), (b, one, c) -> wte.at(tokens.at(b, one), c).add(wpe.at(pos.at(), c)));
      Tensor logits = blocksAndHead(g, w, cfg.layers(), x, (l, qkv) -> Layers.cachedAttention(g, qkv, kCache.slice(l), vCache.slice(l), pos));
      int end = g.computes().size();
      return java.util.Optional.of(new Program("gpt2-decoder", g, w, Map.of(), Map.of(Program.TOKENS, tokens, Program.POS, pos),
          Map.of(Program.LOGITS, logits), Map.of("k_cache", kCache, "v_cache", vCache), end, end, end));
    }

    public FileFormat file() {
      return new FileFormat(20240326, 3, 5, "an llm.c GPT-2 model", List.of(new Field("maxT", "maxT"), new Field("vocab", "V"),
          new Field("layers", "L"), new Field("heads", "NH"), new Field("channels", "C"), new Field("paddedVocab", "Vp")));
    }

    public Violation constraints(Config c) {
      if (c.channels() % c.heads() != 0) return new Violation("C", "a multiple of NH (" + c.heads() + ")", Integer.toString(c.channels()));
      if (c.paddedVocab() < c.vocab()) return new Violation("Vp", "at least V (" + c.vocab() + ")", Integer.toString(c.paddedVocab()));
      return null;
    }

    /** V = 50257 padded to 50304 as llm.c does. */
    public Map<String, Config> presets() {
      var p = new LinkedHashMap<String, Config>();
      p.put("gpt2-tiny", new Config(256, 50257, 50304, 2, 4, 128));
      p.put("gpt2-d6", new Config(1024, 50257, 50304, 6, 6, 384));
      p.put("gpt2-d12", new Config(1024, 50257, 50304, 12, 12, 768));
      p.put("gpt2-d24", new Config(1024, 50257, 50304, 24, 16, 1024));
      return p;
    }

    /**
     * GPT-2's init: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0, layernorm
     * weight 1 and bias 0, padded vocab rows 0. Deterministic in the seed.
     */
    public void init(Config c, long seed, float[] p, int base) {
      Layout layout = layout(c);
      java.util.Arrays.fill(p, base, base + Math.toIntExact(layout.count()), 0f);
      java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
      int off = base;
      double residualStd = 0.02 / Math.sqrt(2.0 * c.layers());
      for (int i = 0; i < layout.sizes().length; i++) {
        String name = layout.names().get(i);
        int n = (int) layout.sizes()[i];
        switch (name) {
          case "ln1w", "ln2w", "lnfw" -> java.util.Arrays.fill(p, off, off + n, 1f);
          case "ln1b", "ln2b", "lnfb", "qkvb", "attprojb", "fcb", "fcprojb" -> { }
          case "wte" -> {
            int real = c.vocab() * c.channels();
            for (int j = 0; j < real; j++) p[off + j] = (float) (rnd.nextGaussian() * 0.02);
          }
          default -> {
            double std = name.equals("attprojw") || name.equals("fcprojw") ? residualStd : 0.02;
            for (int j = 0; j < n; j++) p[off + j] = (float) (rnd.nextGaussian() * std);
          }
        }
        off += n;
      }
    }
  };

  /** llm.c's parameter order and shapes (qkv as (L, 3, NH, HS, C): the same bytes as (L, 3C, C)). */
  static LinkedHashMap<String, List<Dim>> parameterShapes() {
    var p = new LinkedHashMap<String, List<Dim>>();
    p.put("wte", List.of(VP, C));
    p.put("wpe", List.of(MAXT, C));
    p.put("ln1w", List.of(L, C));
    p.put("ln1b", List.of(L, C));
    p.put("qkvw", List.of(L, THREE, NH, HS, C));
    p.put("qkvb", List.of(L, THREE, NH, HS));
    p.put("attprojw", List.of(L, C, NH, HS));
    p.put("attprojb", List.of(L, C));
    p.put("ln2w", List.of(L, C));
    p.put("ln2b", List.of(L, C));
    p.put("fcw", List.of(L, FF, C));
    p.put("fcb", List.of(L, FF));
    p.put("fcprojw", List.of(L, C, FF));
    p.put("fcprojb", List.of(L, C));
    p.put("lnfw", List.of(C));
    p.put("lnfb", List.of(C));
    return p;
  }

  /** The training program of an L-layer GPT-2 as the DSL defines it (its kernels depend on L only). */
  public static Program build(int layers) { return build(layers, g -> { }); }

  /** The same with a backend pass applied before the backward (kiln.codegen.BackendPass.CUDA). */
  public static Program build(int layers, java.util.function.Consumer<Graph> pass) {
    return FAMILY.build(new Config(1024, 50257, 50304, layers, 12, 768), pass);
  }

  /**
   * The L transformer blocks, then the head: per layer ln1 → qkv → attention → proj → residual →
   * ln2 → fc → gelu → proj → residual; then ln_f → logits through the tied wte. attention maps
   * (layer, qkv) to the heads: full causal attention when training, the KV cache when decoding.
   */
  private static Tensor blocksAndHead(Graph g, Map<String, Tensor> w, int layers, Tensor x,
                                      java.util.function.BiFunction<Integer, Tensor, Tensor> attention) {
    for (int l = 0; l < layers; l++) {
      g.layer("h" + l + ".ln1");
      Tensor ln1 = layernorm(g, x, w.get("ln1w").slice(l), w.get("ln1b").slice(l));
      g.layer("h" + l + ".attn");
      Tensor qkv = qkv(g, ln1, w.get("qkvw").slice(l), w.get("qkvb").slice(l));
      Tensor heads = attention.apply(l, qkv);
      g.layer("h" + l + ".attproj");
      Tensor proj = headsProjection(g, heads, w.get("attprojw").slice(l), w.get("attprojb").slice(l));
      Tensor res1 = residual(g, x, proj);
      g.layer("h" + l + ".ln2");
      Tensor ln2 = layernorm(g, res1, w.get("ln2w").slice(l), w.get("ln2b").slice(l));
      g.layer("h" + l + ".fc");
      Tensor fc = gelu(g, linear(g, ln2, w.get("fcw").slice(l), w.get("fcb").slice(l)));
      g.layer("h" + l + ".fcproj");
      Tensor fcproj = linear(g, fc, w.get("fcprojw").slice(l), w.get("fcprojb").slice(l));
      x = residual(g, res1, fcproj);
    }
    g.layer("lnf");
    Tensor lnf = layernorm(g, x, w.get("lnfw"), w.get("lnfb"));
    g.layer("head");
    return logits(g, lnf, w.get("wte"));
  }
}
