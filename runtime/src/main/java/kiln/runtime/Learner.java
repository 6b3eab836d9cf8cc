// What a trainer steps: one model on one device (Session), or replicas on several GPUs that act as
// one model over the global batch (multi.DataParallel).
package kiln.runtime;

import kiln.dsl.Tensor;
import kiln.models.Program;

public interface Learner extends AutoCloseable {
  Program program();

  /** Sequences per step in all (for DataParallel: GPUs x the per-GPU batch). */
  int batch();

  int seq();

  Tensor paramsTensor();

  void loadParams(float[] params);

  /** A step's inputs and targets, batch() x seq() tokens each. */
  void setBatch(int[] inputs, int[] targets);

  void forward();

  /** Backward; afterwards the gradient block holds the gradient of the loss over the whole batch. */
  void backward();

  /** forward() then backward() (a training step); a learner may run them as one section, after which the logits are not readable. */
  default void forwardBackward() {
    forward();
    backward();
  }

  /** The mean loss over the whole batch of the last forward. */
  float loss();

  /** The global norm of the gradient of the last backward. */
  double gradNorm();

  /** One AdamW update with the gradients scaled by gradScale first (global-norm clipping). */
  void update(float lr, float weightDecay, float gradScale);

  int stepCount();

  void setStepCount(int t);

  /** A copy of a float tensor (identical on every replica). */
  float[] read(Tensor t);

  /** Writes a float tensor (on every replica). */
  void write(Tensor t, float[] values);

  /** Whether this process writes the run's files (checkpoints): false on the other nodes of a multi-process run. */
  default boolean writesFiles() { return true; }

  @Override void close();
}
