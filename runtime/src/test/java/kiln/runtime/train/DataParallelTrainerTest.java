// The trainer over data-parallel replicas (two CPU replicas, host-summed gradients, the GPU path's
// arithmetic): the same log as one session at the same global batch, checkpoints written from
// rank 0, and a replicas' checkpoint resumed by a single session continuing like the uninterrupted run.
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import kiln.runtime.Learner;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.data.DataLoader;
import kiln.runtime.data.DefaultCorpus;
import kiln.models.Gpt2;
import kiln.runtime.multi.DataParallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataParallelTrainerTest {
  static final Models.Shape SHAPE = Models.of(new Gpt2.Config(64, 50257, 50304, 1, 2, 32));
  static final int BATCH = 4, SEQ = 32, STEPS = 8;

  @TempDir Path tmp;

  private List<TrainLog.Row> train(String name, Learner learner, Path data, TrainOptions o, Path resumeFrom) throws IOException {
    Path run = tmp.resolve(name);
    DataLoader train = DataLoader.open(data, DataLoader.Split.TRAIN, o.batch(), o.seq());
    DataLoader val = DataLoader.open(data, DataLoader.Split.VAL, o.batch(), o.seq());
    StringWriter notes = new StringWriter();
    try (Trainer t = new Trainer(SHAPE, o, learner, train, val);
         PrintWriter out = new PrintWriter(notes)) {
      if (resumeFrom == null) t.randomInit(o.seed());
      else t.restore(Checkpoint.read(resumeFrom));
      try (TrainLog log = TrainLog.create(run.resolve("log.csv")); Progress bar = Progress.steps(t.step(), o.steps(), out)) {
        t.run(run, log, bar, out);
      }
    }
    return TrainLog.read(run.resolve("log.csv"));
  }

  @Test
  void replicasTrainAndCheckpointLikeOneSessionAndResumeOnOne() throws IOException {
    Path data = tmp.resolve("corpus");
    DefaultCorpus.ensurePrepared(data);
    TrainOptions o = new TrainOptions("test", data, BATCH, SEQ, STEPS, 1e-2, 2, 0.1, 0, 1.0, 4, 2, 4, 3, 1337, 0);
    List<TrainLog.Row> one = train("one", SHAPE.open(BATCH, SEQ, Session.Device.CPU, 1), data, o, null);
    List<TrainLog.Row> two = train("two", DataParallel.onCpu(SHAPE, BATCH / 2, SEQ, 2, 1), data, o, null);
    // the replicas' checkpoint at step 4, resumed by one session at the same global batch
    List<TrainLog.Row> resumed = train("resumed", SHAPE.open(BATCH, SEQ, Session.Device.CPU, 1), data, o,
        tmp.resolve("two").resolve("ckpt_4"));
    assertEquals(STEPS, one.size());
    assertEquals(STEPS, two.size());
    assertEquals(STEPS - 4, resumed.size());
    for (int i = 0; i < STEPS; i++) {
      TrainLog.Row a = one.get(i), b = two.get(i);
      System.out.printf("step %d: one %.6f, replicas %.6f%s, val %.6f / %.6f%n", a.step(), a.loss(), b.loss(),
          i >= 4 ? String.format(", resumed on one %.6f", resumed.get(i - 4).loss()) : "", a.valLoss(), b.valLoss());
      assertEquals(a.step(), b.step());
      assertEquals(a.loss(), b.loss(), 1e-5, "step " + a.step());
      assertEquals(a.gradNorm(), b.gradNorm(), 1e-5 * a.gradNorm(), "norm at step " + a.step());
      if (i >= 4) {
        TrainLog.Row c = resumed.get(i - 4);
        assertEquals(a.step(), c.step());
        assertEquals(a.loss(), c.loss(), 1e-5, "resumed, step " + a.step());
      }
    }
    assertTrue(one.getLast().loss() < one.getFirst().loss(), "the loss falls");
    assertEquals(one.getLast().valLoss(), two.getLast().valLoss(), 1e-5);
    assertEquals(one.getLast().valLoss(), resumed.getLast().valLoss(), 1e-5);
  }
}
