// A model built for training: its graph, where params and their gradients live, the tensors a
// trainer feeds and reads, and its sections: [0, forwardEnd) forward, [forwardEnd, backwardEnd)
// backward, [backwardEnd, normEnd) the squared gradient norm, the rest the optimizer.
package kiln.models;

import java.util.Map;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public record Program(String model, Graph graph, Map<String, Tensor> params, Map<String, Tensor> grads, Tensor tokens, Tensor targets,
                      Tensor logits, Tensor loss, Tensor hyper, Tensor gradNormSquared, int forwardEnd, int backwardEnd,
                      int normEnd) {
  /**
   * hyper's slots, written by the trainer before each update. STEP is the AdamW step t (1, 2, ...) as a
   * float (exact to 2^24): the seed of the bf16 weight copy's stochastic rounding (codegen's Bf16Storage).
   */
  public static final int LR = 0, BIAS1 = 1, BIAS2 = 2, WEIGHT_DECAY = 3, GRAD_SCALE = 4, STEP = 5, HYPER_SLOTS = 6;
}
