// What every trainable model shares around its forward: the params block with its gradient block,
// the token inputs, and after the loss: derived backward, the gradient norm, AdamW.
package kiln.models;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Role;
import kiln.dsl.Tensor;

final class Trainable {
  static final Dim HYPER = new Dim("HYPER"), NORM_CHUNK = new Dim("NORM_CHUNK"), NORM_CHUNKS = new Dim("NORM_CHUNKS");
  private static final int CHUNK = 1 << 16;

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

  /** Appends backward, the squared gradient norm and AdamW (betas 0.9, 0.999, eps 1e-8) after the forward. */
  Program finish(String model, Tensor logits, Tensor loss) {
    int forwardEnd = g.computes().size();
    g.backward(loss);
    int backwardEnd = g.computes().size();
    g.layer("gradnorm");
    Tensor gradsRoot = grads.values().iterator().next().root();
    Tensor norm2 = Layers.squaredNorm(g, gradsRoot, NORM_CHUNKS, NORM_CHUNK);
    int normEnd = g.computes().size();
    g.layer("adamw");
    Tensor m = g.mirrorBlock(params, Program.ADAM_M, Role.STATE).values().iterator().next().root();
    Tensor v = g.mirrorBlock(params, Program.ADAM_V, Role.STATE).values().iterator().next().root();
    Tensor hyper = g.input(Program.HYPER, DType.F32, HYPER);
    Layers.adamw(g, params.values().iterator().next().root(), gradsRoot, m, v, hyper, 0.9, 0.999, 1e-8);
    return new Program(model, g, params, grads, Map.of(Program.TOKENS, tokens, Program.TARGETS, targets, Program.HYPER, hyper),
        Map.of(Program.LOGITS, logits, Program.LOSS, loss, Program.GRAD_NORM2, norm2), Map.of(Program.ADAM_M, m, Program.ADAM_V, v),
        forwardEnd, backwardEnd, normEnd);
  }

  /** Adds the trainer's dims to a model's sizes: hyper slots and the norm's chunking (|CH| = 65536). */
  static Map<Dim, Integer> bindShared(Map<Dim, Integer> modelSizes, Map<String, List<Dim>> shapes) {
    Map<Dim, Integer> sizes = new HashMap<>(modelSizes);
    long p = 0;
    for (List<Dim> dims : shapes.values()) {
      long n = 1;
      for (Dim d : dims) n *= sizes.get(d);
      p += n;
    }
    sizes.put(HYPER, Program.HYPER_SLOTS);
    sizes.put(NORM_CHUNK, CHUNK);
    sizes.put(NORM_CHUNKS, Math.toIntExact((p + CHUNK - 1) / CHUNK));
    return Map.copyOf(sizes);
  }
}
