// Generation with a KV cache: the GPT-2 decoder program (one new token per run, attending over
// cached keys and values) on a device; each step costs O(maxT) attention instead of a full forward.
package kiln.runtime;

import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.runtime.format.GptConfig;

public final class KvDecoder implements AutoCloseable {
  private final Session session;
  private final Tensor pos;
  private final int[] token = new int[1], position = new int[1];
  public final GptConfig config;

  public KvDecoder(GptConfig c, float[] params, Session.Device device, int threads) {
    this.config = c;
    Gpt2.Config g = Gpt2Session.gpt2(c);
    this.session = new Session(Gpt2.buildDecoder(c.layers()), Gpt2.bind(g, 1, c.maxT()), 1, 1, device, threads);
    this.pos = session.program.graph().roots().stream().filter(t -> t.name().equals("pos")).findFirst().orElseThrow();
    session.loadParams(params);
  }

  /** Feeds token at position p (0-based, below maxT) and returns the next-token logits (Vp wide). */
  public float[] step(int tokenId, int p) {
    if (p < 0 || p >= config.maxT()) throw new IllegalArgumentException("position " + p + " outside 0.." + (config.maxT() - 1));
    token[0] = tokenId;
    position[0] = p;
    session.executor.write(session.program.tokens(), token);
    session.executor.write(pos, position);
    session.forward();
    return session.read(session.program.logits());
  }

  public String describe() { return session.executor.describe(); }

  @Override public void close() { session.close(); }
}
