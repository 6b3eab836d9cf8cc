// Trainer on the CPU: a step whose gradient norm is not finite is skipped before AdamW runs (weights, m, v and t stay
// exactly as they were), and requestStop() ends a run after the step in progress with a checkpoint of it.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import kiln.dsl.Tensor;
import kiln.runtime.Models;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.data.DataLoader;
import kiln.models.Gpt2;
import kiln.runtime.format.TokenShard;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
  /** V = 64 of Vp = 128: wte rows 64..127 are padding, which the loss never reads but the backward multiplies by 0. */
  static final Gpt2.Config C = new Gpt2.Config(16, 64, 128, 1, 2, 16);

  @TempDir
  Path tmp;

  private Path data() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("data"));
    Random r = new Random(3);
    TokenShard.write(dir.resolve("train_000000.bin"), r.ints(4000, 0, C.vocab()).toArray());
    return dir;
  }

  private Trainer trainer(int steps) throws IOException {
    TrainOptions o = new TrainOptions("test", data(), 2, 8, steps, 1e-2, 0, 0.1, 0.0, 1.0, 0, 1, 0, 1, 1, 0);
    return new Trainer(Models.of(C), o, Models.of(C).open(2, 8, Session.Device.CPU, 1), DataLoader.open(o.data(), DataLoader.Split.TRAIN, 2, 8),
        null);
  }

  private static float[] read(Trainer t, String root) {
    Tensor tensor = t.session.program().graph().roots().stream().filter(x -> x.name().equals(root)).findFirst().orElseThrow();
    return t.session.read(tensor);
  }

  private static Trainer.Outcome run(Trainer t, Path runDir, StringWriter out) throws IOException {
    Files.createDirectories(runDir);
    try (TrainLog log = TrainLog.create(runDir.resolve("log.csv"));
         Progress bar = Progress.steps(t.step(), 100, new PrintWriter(new StringWriter()))) {
      return t.run(runDir, log, bar, new PrintWriter(out, true));
    }
  }

  private static double[] losses(Path runDir) throws IOException {
    return TrainLog.read(runDir.resolve("log.csv")).stream().mapToDouble(TrainLog.Row::loss).toArray();
  }

  @Test
  void aNonFiniteGradientNormSkipsTheUpdateBeforeItTouchesWeightsOrAdamState() throws IOException {
    float[] init = Models.of(C).randomInit(7);
    init[C.vocab() * C.channels()] = Float.NaN; // wte[64][0], padding: the loss stays finite, d(ln_f out) = 0 * NaN
    StringWriter out = new StringWriter();
    try (Trainer t = trainer(10)) {
      t.init(init);
      Trainer.Outcome done = run(t, tmp.resolve("nan"), out);
      assertEquals("3 steps in a row skipped (last: gradient norm is NaN)", done.stopped(), out.toString());
      assertTrue(Double.isFinite(done.firstLoss()) && Double.isFinite(done.lastLoss()), "only the gradient is poisoned: " + done);
      assertTrue(out.toString().contains("step 1: skipped the update: gradient norm is NaN (1 in a row)"), out.toString());
      assertTrue(Arrays.equals(init, t.params()), "weights untouched, bit for bit");
      assertArrayEquals(new float[init.length], read(t, "adam_m"), "AdamW m untouched");
      assertArrayEquals(new float[init.length], read(t, "adam_v"), "AdamW v untouched");
      assertEquals(0, t.session.stepCount(), "AdamW t untouched");
    }

    // the same step from finite weights does update: the checks above can fail
    init[C.vocab() * C.channels()] = 0;
    try (Trainer t = trainer(1)) {
      t.init(init);
      Trainer.Outcome done = run(t, tmp.resolve("ok"), new StringWriter());
      assertNull(done.stopped());
      assertFalse(Arrays.equals(init, t.params()));
      assertEquals(1, t.session.stepCount());
    }
  }

  @Test
  void requestStopEndsTheRunAfterTheStepInProgressWithACheckpointOfIt() throws Exception {
    try (Trainer t = trainer(50)) {
      t.init(Models.of(C).randomInit(8));
      t.requestStop(); // as a signal arriving before the first step: nothing ran, nothing to save
      Trainer.Outcome none = run(t, tmp.resolve("stop0"), new StringWriter());
      assertTrue(none.interrupted());
      assertEquals(0, none.steps());
      assertNull(none.savedAt());
      assertEquals(java.util.List.of(), Checkpoint.list(tmp.resolve("stop0")));
    }
    try (Trainer t = trainer(100_000)) {
      t.init(Models.of(C).randomInit(8));
      Path runDir = tmp.resolve("stop");
      // as the signal thread would: from another thread, in the middle of some step after the second
      Thread signal = Thread.ofPlatform().start(() -> {
        try {
          while (!Files.exists(runDir.resolve("log.csv")) || Files.readAllLines(runDir.resolve("log.csv")).size() < 3) {
            Thread.sleep(1);
          }
        } catch (IOException | InterruptedException e) {
          throw new RuntimeException(e);
        }
        t.requestStop();
      });
      Trainer.Outcome done = run(t, runDir, new StringWriter());
      signal.join();
      assertTrue(done.interrupted());
      assertTrue(done.steps() >= 2 && done.steps() < 100_000, "stopped at step " + done.steps());
      assertEquals(runDir.resolve("ckpt_" + done.steps()).toAbsolutePath(), done.savedAt());
      assertEquals(done.steps(), TrainLog.read(runDir.resolve("log.csv")).size(), "the checkpoint is of the last logged step");
      Checkpoint.Loaded c = Checkpoint.read(done.savedAt());
      assertEquals(done.steps(), c.position().step());
      assertEquals(done.steps(), c.position().adamT());
      assertArrayEquals(t.params(), c.params(), "weights as the last finished step left them");
      assertArrayEquals(read(t, "adam_m"), c.m());
    }
  }

  /**
   * Checkpoints of ZeRO-1 replicas are whole (the m and v shards gathered) and resume with another
   * replica count: 8 steps on 2 ZeRO-1 replicas (a checkpoint at 4), then from that checkpoint
   * steps 5..8 again on 3 ZeRO-1 replicas and on one session; the same global batch of 6 throughout.
   */
  @Test
  void aZeroCheckpointResumesWithAnotherReplicaCount() throws IOException {
    Models.Shape shape = Models.of(C);
    TrainOptions o = new TrainOptions("test", data(), 6, 8, 8, 1e-2, 0, 0.1, 0.0, 1.0, 0, 1, 4, 2, 1, 0);
    Path runDir = tmp.resolve("zero2");
    double[] two;
    try (Trainer t = new Trainer(shape, o, kiln.runtime.multi.DataParallel.onCpu(shape, 3, 8, 2, 1, true),
        DataLoader.open(o.data(), DataLoader.Split.TRAIN, 6, 8), null)) {
      t.init(shape.randomInit(9));
      run(t, runDir, new StringWriter());
      two = losses(runDir);
    }
    Checkpoint.Loaded c = Checkpoint.read(runDir.resolve("ckpt_4"));
    assertEquals(shape.paramCount(), c.m().length, "the checkpoint holds the whole m, gathered from the shards");
    kiln.runtime.Learner[] resumed = {kiln.runtime.multi.DataParallel.onCpu(shape, 2, 8, 3, 1, true), shape.open(6, 8, Session.Device.CPU, 1)};
    String[] names = {"3 ZeRO-1 replicas", "one session"};
    for (int k = 0; k < resumed.length; k++) {
      kiln.runtime.Learner l = resumed[k];
      String name = names[k];
      Path dir = tmp.resolve("resumed-" + k);
      try (Trainer t = new Trainer(shape, o, l, DataLoader.open(o.data(), DataLoader.Split.TRAIN, 6, 8), null)) {
        t.restore(c);
        run(t, dir, new StringWriter());
      }
      double[] again = losses(dir);
      assertEquals(4, again.length);
      for (int s = 0; s < 4; s++) {
        System.out.printf("%s: step %d: %.7f, uninterrupted on 2 ZeRO-1 replicas %.7f%n", name, s + 5, again[s], two[s + 4]);
        assertTrue(Math.abs(again[s] - two[s + 4]) < 1e-5, name + ", step " + (s + 5) + ": " + again[s] + " vs " + two[s + 4]);
      }
    }
  }

  /**
   * bf16 with ZeRO-1 through the trainer and the checkpoint files: 8 steps on 2 bf16 ZeRO-1 replicas with a checkpoint at
   * step 4 (the fp32 master and the gathered m and v; the bf16 copy is not saved), steps 5..8 resumed from it on 2 fresh
   * bf16 ZeRO-1 replicas log the uninterrupted run's losses bit for bit: the resumed ranks' cast rounds the master with
   * seed t = 4, as the uninterrupted ranks' cast after the step-4 all-gather did.
   */
  @Test
  void aBf16ZeroCheckpointResumesBitForBit() throws IOException {
    Models.Shape shape = Models.of(C);
    TrainOptions o = new TrainOptions("test", data(), 6, 8, 8, 1e-2, 0, 0.1, 0.0, 1.0, 0, 1, 4, 2, 1, 0);
    var bf16 = kiln.codegen.CudaSchedule.Precision.BF16;
    Path runDir = tmp.resolve("bf16zero");
    double[] uninterrupted;
    try (Trainer t = new Trainer(shape, o, kiln.runtime.multi.DataParallel.onCpu(shape, 3, 8, 2, 1, true, 2_000, bf16),
        DataLoader.open(o.data(), DataLoader.Split.TRAIN, 6, 8), null)) {
      t.init(shape.randomInit(9));
      run(t, runDir, new StringWriter());
      uninterrupted = losses(runDir);
    }
    Checkpoint.Loaded c = Checkpoint.read(runDir.resolve("ckpt_4"));
    Path dir = tmp.resolve("bf16zero-resumed");
    try (Trainer t = new Trainer(shape, o, kiln.runtime.multi.DataParallel.onCpu(shape, 3, 8, 2, 1, true, 2_000, bf16),
        DataLoader.open(o.data(), DataLoader.Split.TRAIN, 6, 8), null)) {
      t.restore(c);
      run(t, dir, new StringWriter());
    }
    double[] again = losses(dir);
    assertEquals(4, again.length);
    for (int s = 0; s < 4; s++) {
      System.out.printf("bf16 ZeRO-1 resumed: step %d: %.7f, uninterrupted %.7f%n", s + 5, again[s], uninterrupted[s + 4]);
      assertEquals(uninterrupted[s + 4], again[s], 0.0, "step " + (s + 5));
    }
  }
}
