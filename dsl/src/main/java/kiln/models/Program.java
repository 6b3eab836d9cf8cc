// A model built for training: its graph, where params and their gradients live, the tensors a
// trainer feeds and reads, and where forward ends and backward ends (the rest is the optimizer).
package kiln.models;

import java.util.Map;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public record Program(String model, Graph graph, Map<String, Tensor> params, Map<String, Tensor> grads, Tensor tokens, Tensor targets,
                      Tensor logits, Tensor loss, Tensor hyper, int forwardEnd, int backwardEnd) {}
