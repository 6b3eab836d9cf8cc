// A model built for training: its graph, where params and their gradients live, the tensors a
// trainer feeds and reads, and its sections: [0, forwardEnd) forward, [forwardEnd, backwardEnd)
// backward, [backwardEnd, normEnd) the squared gradient norm, the rest the optimizer (both over the
// slice of the flat blocks bound to SHARD / SHARD_START: all of it, or a ZeRO-1 rank's shard).
package kiln.models;

import java.util.Map;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public record Program(String model, Graph graph, Map<String, Tensor> params, Map<String, Tensor> grads, Tensor tokens, Tensor targets,
                      Tensor logits, Tensor loss, Tensor hyper, Tensor gradNormSquared, int forwardEnd, int backwardEnd,
                      int normEnd) {
  /** hyper's slots, written by the trainer before each update. */
  public static final int LR = 0, BIAS1 = 1, BIAS2 = 2, WEIGHT_DECAY = 3, GRAD_SCALE = 4, HYPER_SLOTS = 5;

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
}
