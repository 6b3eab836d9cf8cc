// The training loop on any model's session, CPU or CUDA: batch, forward, backward, norm, guardrail, clipped AdamW; val, log, checkpoints.
package kiln.runtime.train;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import kiln.dsl.Tensor;
import kiln.runtime.Learner;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.data.DataLoader;

/**
 * One step reads the loop of llm.c's {@code train_gpt2.c}: next batch, forward, backward, global
 * gradient norm, {@link GradGuard}, clip, AdamW at the schedule's rate. Everything touching the
 * model goes through {@link Session} (the norm is a reduction on the device, clipping a scale the
 * AdamW kernel applies), so the same loop runs a GPT-2 or a Llama, on the CPU or on CUDA; per
 * step only the loss and the norm come back to the host. The step loop allocates nothing of its
 * own; logging and checkpoints happen between steps.
 *
 * <p>Weight decay is one number for every parameter: the AdamW update is a single fused kernel
 * over the whole parameter block, so biases and layernorm weights decay too (llm.c decays only
 * the 2-D weights). The default is 0.
 */
public final class Trainer implements AutoCloseable {
  /**
   * How a run ended: finished, stopped by the guardrail with the reason, or interrupted ({@link #requestStop}) after
   * {@code steps}, which {@code savedAt} then holds (null when no step ran since the start or the resumed checkpoint).
   */
  public record Outcome(int steps, double firstLoss, double lastLoss, double lastValLoss, double seconds, long tokens,
                        String stopped, boolean interrupted, Path savedAt) {
    public double tokPerS() {
      return tokens / seconds;
    }
  }

  /** One Session, or multi.DataParallel replicas on several GPUs. */
  public final Learner session;
  private final Models.Shape shape;
  private final TrainOptions o;
  private final LrSchedule schedule;
  private final DataLoader train;
  private final DataLoader val;
  private final GradGuard guard = new GradGuard();
  private final int[] x;
  private final int[] y;
  private final Tensor adamM, adamV;
  private int step;
  private volatile boolean stopRequested;

  /**
   * Steps a learner (a Session, or DataParallel replicas) of batch o.batch() and closes it; {@code val} may be null (no
   * validation split). Parameters start at zero: call {@link #init}, {@link #randomInit} or {@link #restore}.
   */
  public Trainer(Models.Shape shape, TrainOptions o, Learner learner, DataLoader train, DataLoader val) {
    if (learner.batch() != o.batch() || learner.seq() != o.seq()) {
      throw new IllegalArgumentException("the learner steps " + learner.batch() + " x " + learner.seq() + " tokens, the options "
          + o.batch() + " x " + o.seq());
    }
    this.shape = shape;
    this.o = o;
    this.schedule = o.schedule();
    this.train = train;
    this.val = val;
    this.session = learner;
    this.x = new int[o.batch() * o.seq()];
    this.y = new int[o.batch() * o.seq()];
    this.adamM = session.program().state(kiln.models.Program.ADAM_M);
    this.adamV = session.program().state(kiln.models.Program.ADAM_V);
  }

  public void init(float[] params) {
    session.loadParams(params);
  }

  /** The shape's seeded random init; on the CPU straight into the arena, with no temporary copy. */
  public void randomInit(long seed) {
    if (session instanceof Session s && s.arena.f != null) {
      shape.randomInit(seed, s.arena.f, s.arena.offset(s.paramsTensor()));
    } else {
      session.loadParams(shape.randomInit(seed));
    }
  }

  /** Continues from a checkpoint: parameters, AdamW state and t, data position, guardrail memory. */
  public void restore(Checkpoint.Loaded c) {
    if (!c.shape().equals(shape)) {
      throw new IllegalArgumentException(c.dir() + ": model " + c.shape().describe() + " differs from this run's "
          + shape.describe());
    }
    session.loadParams(c.params());
    session.write(adamM, c.m());
    session.write(adamV, c.v());
    Checkpoint.Position p = c.position();
    step = p.step();
    session.setStepCount(p.adamT());
    train.seek(p.data());
    guard.restore(p.recentNorms(), p.skippedInARow());
  }

  /**
   * Asks {@link #run} to stop after the step in progress and checkpoint it (a signal handler's call: safe from any
   * thread). The step is finished first, so the checkpoint holds a consistent step: weights, AdamW and data position.
   */
  public void requestStop() {
    stopRequested = true;
  }

  /** Finished steps. */
  public int step() {
    return step;
  }

  /**
   * Runs steps until {@code o.steps()}: one log row and one progress update each, validation every
   * {@code valEvery} steps and at the end, a checkpoint every {@code checkpointEvery} steps and at
   * the end (keeping the last {@code keep}). Notes (skips, val losses, checkpoints) go to {@code out}. After
   * {@link #requestStop} it ends at the next step boundary with a checkpoint of the last finished step.
   */
  public Outcome run(Path runDir, TrainLog log, Progress bar, PrintWriter out) throws IOException {
    double first = Double.NaN, last = Double.NaN, lastVal = Double.NaN, seconds = 0;
    int startStep = step;
    int saved = step;
    String stopped = null;
    while (step < o.steps() && !stopRequested) {
      long t0 = System.nanoTime();
      train.next(x, y);
      session.setBatch(x, y);
      session.forwardBackward();
      float loss = session.loss();
      double norm = session.gradNorm();
      double lr = schedule.lr(step);
      String skip = guard.check(loss, norm);
      if (skip == null) {
        session.update((float) lr, (float) o.weightDecay(), GradGuard.clipScale(norm, o.gradClip()));
      }
      step++;
      double ms = (System.nanoTime() - t0) / 1e6;
      seconds += ms / 1000;
      double tokPerS = o.tokensPerStep() / (ms / 1000);
      if (Double.isNaN(first)) {
        first = loss;
      }
      last = loss;
      if (skip != null) {
        out.printf(Locale.ROOT, "step %d: skipped the update: %s (%d in a row)%n", step, skip, guard.skippedInARow());
        out.flush();
      }
      double valLoss = Double.NaN;
      if (val != null && ((o.valEvery() > 0 && step % o.valEvery() == 0) || step == o.steps())) {
        valLoss = validate();
        lastVal = valLoss;
        out.printf(Locale.ROOT, "step %d/%d: train loss %.4f, val loss %.4f, lr %.2e, %,.0f tok/s%n", step, o.steps(), loss,
            valLoss, lr, tokPerS);
        out.flush();
      }
      log.write(step, loss, valLoss, lr, norm, ms, tokPerS);
      bar.update(step, loss, tokPerS);
      if (guard.exhausted()) {
        stopped = GradGuard.MAX_SKIPS + " steps in a row skipped (last: " + skip + ")";
        break;
      }
      if ((o.checkpointEvery() > 0 && step % o.checkpointEvery() == 0) || step == o.steps()) {
        checkpoint(runDir);
        saved = step;
      }
    }
    boolean interrupted = stopRequested && stopped == null;
    Path savedAt = null;
    if (interrupted && step > startStep) {
      savedAt = saved == step ? Checkpoint.dir(runDir, step).toAbsolutePath() : checkpoint(runDir);
    }
    return new Outcome(step, first, last, lastVal, seconds, (step - startStep) * o.tokensPerStep(), stopped, interrupted, savedAt);
  }

  /** Mean loss over {@code valBatches} batches from the start of the val split; leaves the gradients alone. */
  public double validate() {
    val.reset();
    double sum = 0;
    for (int i = 0; i < o.valBatches(); i++) {
      val.next(x, y);
      session.setBatch(x, y);
      session.forward();
      sum += session.loss();
    }
    return sum / o.valBatches();
  }

  /**
   * Writes {@code runDir/ckpt_<step>} and prunes to the last {@code keep}. On a node other than 0 of
   * a multi-process run the state is still gathered (the gathers are collectives) but not written.
   */
  public Path checkpoint(Path runDir) throws IOException {
    Checkpoint.Position p = new Checkpoint.Position(step, session.stepCount(), train.position(), guard.skippedInARow(), guard.recent());
    Checkpoint.State state = new Checkpoint.State(params(), session.read(adamM), session.read(adamV));
    if (!session.writesFiles()) return Checkpoint.dir(runDir, step);
    Path dir = Checkpoint.write(runDir, shape, state, o, p);
    Checkpoint.prune(runDir, o.keep(), step);
    return dir;
  }

  /** A copy of the current parameters (the family's file order). */
  public float[] params() {
    return session.read(session.paramsTensor());
  }

  @Override
  public void close() {
    session.close();
  }
}
