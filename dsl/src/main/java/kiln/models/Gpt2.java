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

  public static Map<Dim, Integer> bind(Config c, int batch, int seq) {
    if (c.channels() % c.heads() != 0) throw new IllegalArgumentException("channels " + c.channels() + " not divisible by heads " + c.heads());
    if (seq > c.maxT()) throw new IllegalArgumentException("sequence length " + seq + " exceeds maxT " + c.maxT());
    Map<Dim, Integer> sizes = Map.ofEntries(Map.entry(B, batch), Map.entry(T, seq), Map.entry(C, c.channels()), Map.entry(NH, c.heads()),
        Map.entry(HS, c.channels() / c.heads()), Map.entry(L, c.layers()), Map.entry(MAXT, c.maxT()),
        Map.entry(V, c.vocab()), Map.entry(VP, c.paddedVocab()), Map.entry(THREE, 3), Map.entry(FF, 4 * c.channels()),
        Map.entry(ONE, 1));
    return Trainable.bindShared(sizes, parameterShapes());
  }

  /**
   * Generation with a KV cache: one new token per sequence per run, at position pos (an input),
   * attending over the cached keys and values of positions 0..pos. Forward only; logits (B, 1, Vp).
   */
  public static Program buildDecoder(int layers) {
    Graph g = new Graph();
    Map<String, Tensor> w = g.block("params", Role.PARAM, parameterShapes());
    Tensor tokens = g.input("tokens", DType.I32, B, ONE);
    Tensor pos = g.input("pos", DType.I32);
    Tensor kCache = g.tensor("k_cache", Role.STATE, DType.F32, L, B, MAXT, NH, HS);
    Tensor vCache = g.tensor("v_cache", Role.STATE, DType.F32, L, B, MAXT, NH, HS);

    g.layer("encoder");
    Tensor wte = w.get("wte"), wpe = w.get("wpe");
    Tensor x = g.compute("encoded", Graph.dims(B, ONE, C), (b, one, c) -> wte.at(tokens.at(b, one), c).add(wpe.at(pos.at(), c)));
    Tensor logits = blocksAndHead(g, w, layers, x, (l, qkv) -> Layers.cachedAttention(g, qkv, kCache.slice(l), vCache.slice(l), pos), false);
    int end = g.computes().size();
    return new Program("gpt2-decoder", g, w, Map.of(), tokens, null, logits, null, null, null, end, end, end);
  }

  /** The training program with attention as its DSL definition (every backend can run it). */
  public static Program build(int layers) { return build(layers, false); }

  /**
   * forDevice: the program a GPU runs, where memory is what binds: attention as the flash-attention
   * extern (Layers.fusedAttention: no T x T tensor in memory) and GELU recomputed in the backward
   * instead of kept (1.1 GB less at 124M, B=8, T=1024). Otherwise the DSL definition of attention
   * and GELU kept: what the CPU runs, where the extra pass costs ~4% of a step for 2% of the memory.
   */
  public static Program build(int layers, boolean forDevice) {
    Trainable model = new Trainable(parameterShapes(), B, T);
    Graph g = model.g;
    Map<String, Tensor> w = model.params;
    Tensor tokens = model.tokens, targets = model.targets;

    g.layer("encoder");
    Tensor x = encoder(g, tokens, w.get("wte"), w.get("wpe"), T);
    Tensor logits = blocksAndHead(g, w, layers, x, (l, qkv) -> forDevice ? Layers.fusedAttention(g, qkv) : attention(g, qkv), forDevice);
    Tensor loss = crossEntropy(g, logits, targets, V);
    return model.finish("gpt2", logits, loss);
  }

  /**
   * The L transformer blocks, then the head: per layer ln1 → qkv → attention → proj → residual →
   * ln2 → fc → gelu → proj → residual; then ln_f → logits through the tied wte. attention maps
   * (layer, qkv) to the heads: full causal attention when training, the KV cache when decoding.
   * recomputeGelu: the GELU output is recomputed in the backward rather than kept.
   */
  private static Tensor blocksAndHead(Graph g, Map<String, Tensor> w, int layers, Tensor x,
                                      java.util.function.BiFunction<Integer, Tensor, Tensor> attention, boolean recomputeGelu) {
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
      if (recomputeGelu) g.recompute(fc);
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
