// What every trainable model shares around its forward: the params block with its gradient block,
// the token inputs, and after the loss: derived backward, the gradient norm, AdamW.
package kiln.models;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

final class Trainable {
  static final Dim HYPER = new Dim("HYPER");

  final Graph g = new Graph();
  final Map<String, Tensor> params, grads;
  final Tensor tokens, targets;

  /** Params laid out as shapes (the file's order), gradients mirrored; tokens and targets (B, T). */
  Trainable(LinkedHashMap<String, List<Dim>> shapes, Dim B, Dim T) {
    params = g.block("params", Role.PARAM, shapes);
    grads = g.mirrorBlock(params, "grads", Role.GRAD);
    g.gradientsOf(params, grads);
    tokens = g.input(Program.TOKENS, DType.I32, B, T);
    targets = g.input(Program.TARGETS, DType.I32, B, T);
  }

  /**
   * Appends backward, the squared gradient norm and AdamW (betas 0.9, 0.999, eps 1e-8) after the
   * forward. The norm and AdamW run over the slice [SHARD_START, SHARD_START + SHARD) of the flat
   * grads and params blocks, and m and v are SHARD floats: the whole block on one device, a rank's
   * shard under ZeRO-1 (Program.bindShard).
   */
  Program finish(String model, Tensor logits, Tensor loss) {
    int forwardEnd = g.computes().size();
    g.backward(loss);
    int backwardEnd = g.computes().size();
    g.layer("gradnorm");
    Tensor gradsRoot = grads.values().iterator().next().root();
    Tensor gradsShard = gradsRoot.window("grads.shard", Program.SHARD, Program.SHARD_START);
    Tensor norm2 = Layers.squaredNorm(g, gradsShard, Program.NORM_CHUNKS, Program.NORM_CHUNK);
    int normEnd = g.computes().size();
    g.layer("adamw");
    Tensor m = g.tensor(Program.ADAM_M, Role.STATE, DType.F32, Program.SHARD);
    Tensor v = g.tensor(Program.ADAM_V, Role.STATE, DType.F32, Program.SHARD);
    Tensor hyper = g.input(Program.HYPER, DType.F32, HYPER);
    Tensor paramsShard = params.values().iterator().next().root().window("params.shard", Program.SHARD, Program.SHARD_START);
    Layers.adamw(g, paramsShard, gradsShard, m, v, hyper, 0.9, 0.999, 1e-8);
    return new Program(model, g, params, grads, Map.of(Program.TOKENS, tokens, Program.TARGETS, targets, Program.HYPER, hyper),
        Map.of(Program.LOGITS, logits, Program.LOSS, loss, Program.GRAD_NORM2, norm2), Map.of(Program.ADAM_M, m, Program.ADAM_V, v),
        forwardEnd, backwardEnd, normEnd);
  }
}
