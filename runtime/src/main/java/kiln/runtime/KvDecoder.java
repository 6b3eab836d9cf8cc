// Generation with a KV cache: a family's decoder program (one new token per run at position pos,
// attending over cached keys and values) on a device; each step costs O(maxT) attention instead of a
// full forward. The program names its inputs (tokens, pos) and output (logits).
package kiln.runtime;

import kiln.dsl.Tensor;
import kiln.models.Program;

public final class KvDecoder implements AutoCloseable {
  private final Session session;
  private final Tensor tokens, pos, logits;
  private final int[] token = new int[1], position = new int[1];
  public final Models.Shape shape;

  /** shape's family must have a decoder (Models.Shape.decoder()). */
  public KvDecoder(Models.Shape shape, float[] params, Session.Device device, int threads) {
    this.shape = shape;
    Program p = shape.decoder().orElseThrow(() -> new IllegalArgumentException("a " + shape.family().name() + " model has no KV-cache decoder"));
    this.session = new Session(p, shape.bind(1, shape.maxT()), 1, 1, device, threads, kiln.codegen.CudaSchedule.Precision.FP32, 0,
        Session.Zero.NONE, kiln.codegen.Recompute.NONE);
    this.tokens = p.tokens();
    this.pos = p.input(Program.POS);
    this.logits = p.logits();
    session.loadParams(params);
  }

  /** Feeds token at position p (0-based, below maxT) and returns the next-token logits (Vp wide). */
  public float[] step(int tokenId, int p) {
    if (p < 0 || p >= shape.maxT()) throw new IllegalArgumentException("position " + p + " outside 0.." + (shape.maxT() - 1));
    token[0] = tokenId;
    position[0] = p;
    session.executor.write(tokens, token);
    session.executor.write(pos, position);
    session.forward();
    return session.read(logits);
  }

  public String describe() { return session.executor.describe(); }

  @Override public void close() { session.close(); }
}
