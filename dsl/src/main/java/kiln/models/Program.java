// A model built for training or decoding: its graph, where params and their gradients live, the
// tensors a caller feeds (inputs) and reads (outputs) by their declared names, and its sections:
// [0, forwardEnd) forward, [forwardEnd, backwardEnd) backward, [backwardEnd, normEnd) the squared
// gradient norm, the rest the optimizer (both over the slice of the flat blocks bound to SHARD /
// SHARD_START: all of it, or a ZeRO-1 rank's shard). A forward-only program (the decoder) has all
// three ends at its last compute and no targets, loss or optimizer tensors: absent from the maps, never null.
package kiln.models;

import java.util.Map;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public record Program(String model, Graph graph, Map<String, Tensor> params, Map<String, Tensor> grads, Map<String, Tensor> inputs,
                      Map<String, Tensor> outputs, Map<String, Tensor> state, int forwardEnd, int backwardEnd, int normEnd) {
  /**
   * hyper's slots, written by the trainer before each update. STEP is the AdamW step t (1, 2, ...) as a
   * float (exact to 2^24): the seed of the bf16 weight copy's stochastic rounding (codegen's Bf16Storage).
   */
  public static final int LR = 0, BIAS1 = 1, BIAS2 = 2, WEIGHT_DECAY = 3, GRAD_SCALE = 4, STEP = 5, HYPER_SLOTS = 6;

  /**
   * The slice of the flat params/grads blocks that the norm and AdamW sections cover: |SHARD| floats
   * from |SHARD_START|. AdamW's m and v are |SHARD| floats. One device (and plain data parallelism)
   * binds the whole block (SHARD = the block's size, SHARD_START = 0); ZeRO-1 rank r of N binds its
   * slice ({@link #bindShard}), so every rank runs the same kernels with other arguments.
   */
  public static final Dim SHARD = new Dim("SHARD"), SHARD_START = new Dim("SHARD_START");
  /** The squared norm's two stages: NORM_CHUNKS chunks of |NORM_CHUNK| = 65536 floats over the shard. */
  public static final Dim NORM_CHUNK = new Dim("NORM_CHUNK"), NORM_CHUNKS = new Dim("NORM_CHUNKS");
  static final int CHUNK = 1 << 16;

  /** sizes with the optimizer's slice set to [start, start + shard) of the block (and the norm's chunks to match). */
  public static Map<Dim, Integer> bindShard(Map<Dim, Integer> sizes, long shard, long start) {
    Map<Dim, Integer> out = new java.util.HashMap<>(sizes);
    out.put(SHARD, Math.toIntExact(shard));
    out.put(SHARD_START, Math.toIntExact(start));
    out.put(NORM_CHUNK, CHUNK);
    out.put(NORM_CHUNKS, Math.toIntExact((shard + CHUNK - 1) / CHUNK));
    return Map.copyOf(out);
  }

  /** Input names: token ids (B, T), next-token targets (B, T), AdamW's hyper slots, the decoder's position (a scalar). */
  public static final String TOKENS = "tokens", TARGETS = "targets", HYPER = "hyper", POS = "pos";
  /** Output names: logits (B, T, Vp), the mean loss (a scalar), the squared gradient norm (a scalar). */
  public static final String LOGITS = "logits", LOSS = "loss", GRAD_NORM2 = "grad_norm2";
  /** State names: AdamW's first and second moments (SHARD floats each). */
  public static final String ADAM_M = "adam_m", ADAM_V = "adam_v";

  public Program {
    params = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(params));
    grads = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(grads));
    inputs = Map.copyOf(inputs);
    outputs = Map.copyOf(outputs);
    state = Map.copyOf(state);
  }

  /** The one block holding every parameter (llm.c's params memory), in the family's file order. */
  public Tensor paramsBlock() { return params.values().iterator().next().root(); }

  public boolean hasOutput(String name) { return outputs.containsKey(name); }

  public Tensor input(String name) { return named(inputs, name, "input"); }

  public Tensor output(String name) { return named(outputs, name, "output"); }

  public Tensor state(String name) { return named(state, name, "state tensor"); }

  public Tensor tokens() { return input(TOKENS); }
  public Tensor targets() { return input(TARGETS); }
  public Tensor hyper() { return input(HYPER); }
  public Tensor logits() { return output(LOGITS); }
  public Tensor loss() { return output(LOSS); }
  public Tensor gradNormSquared() { return output(GRAD_NORM2); }

  private Tensor named(Map<String, Tensor> m, String name, String what) {
    Tensor t = m.get(name);
    if (t == null) throw new IllegalStateException("the " + model + " program has no " + what + " '" + name + "'; it has " + m.keySet());
    return t;
  }
}
