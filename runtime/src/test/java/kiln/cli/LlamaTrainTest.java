// Tests `kiln train` and `kiln sample` on a very small Llama (L=1, C=32, GQA 2:1): loss falls, the checkpoint holds a
// Llama file, resume is bit-exact, sampling recomputes the window, --init reads the Llama file.
package kiln.cli;

import kiln.runtime.format.FileKind;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import kiln.runtime.data.DefaultCorpus;
import kiln.models.Llama;
import kiln.runtime.format.ModelFile;
import kiln.runtime.train.TrainLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaTrainTest {
  @TempDir
  Path tmp;

  @Test
  void trainsResumesBitExactlyAndSamples() throws IOException {
    Path data = tmp.resolve("corpus");
    DefaultCorpus.ensurePrepared(data);
    Path run1 = tmp.resolve("run1");
    List<String> args = new ArrayList<>(List.of("train", "--model", "llama-tiny", "--layers", "1", "--heads", "2", "--kv-heads", "1",
        "--channels", "32", "--ffn", "64", "--data", data.toString(), "--batch", "4", "--seq", "32", "--steps", "10", "--lr", "1e-2",
        "--warmup", "2", "--val-every", "0", "--val-batches", "2", "--checkpoint-every", "5", "--sample-tokens", "6", "--threads", "2",
        "--device", "cpu", "--out", run1.toString()));
    TrainCommandTest.Result first = TrainCommandTest.run(args);
    assertEquals(0, first.code(), first.err());
    assertTrue(first.out().contains("train: llama-tiny (--layers 1 --heads 2 --channels 32 --kv-heads 1 --ffn 64): llama L=1 NH=2 NKV=1"
        + " C=32 FF=64 maxT=256, 3,228,768 parameters; cpu, 2 threads"), first.out());
    assertTrue(first.err().contains("recompute, window T=16"), first.err());
    List<TrainLog.Row> rows = TrainLog.read(run1.resolve("log.csv"));
    assertEquals(10, rows.size());
    assertTrue(rows.getFirst().loss() > 10.5, "an untrained Llama starts near ln(50257) = 10.8: " + rows.getFirst());
    assertTrue(rows.getLast().loss() < rows.getFirst().loss() - 1, "loss fell: " + rows.getFirst() + " -> " + rows.getLast());
    Path model = run1.resolve("ckpt_10").resolve("model.bin");
    assertTrue(FileKind.of(model) == FileKind.LLAMA_MODEL);
    assertEquals(new Llama.Config(256, 50257, 50304, 1, 2, 1, 32, 64, 10000f, 1e-5f), (Llama.Config) ModelFile.read(model, Llama.FAMILY).shape().config());

    Path run2 = tmp.resolve("run2");
    TrainCommandTest.Result resumed = TrainCommandTest.run(List.of("train", "--resume", run1.resolve("ckpt_5").toString(), "--out",
        run2.toString(), "--sample-tokens", "0", "--device", "cpu", "--threads", "2"));
    assertEquals(0, resumed.code(), resumed.err());
    assertEquals(Files.readAllLines(run1.resolve("log.csv")).stream().map(LlamaTrainTest::withoutTimings).toList(),
        Files.readAllLines(run2.resolve("log.csv")).stream().map(LlamaTrainTest::withoutTimings).toList());
    for (String f : List.of("model.bin", "state.bin")) {
      assertArrayEquals(Files.readAllBytes(run1.resolve("ckpt_10").resolve(f)), Files.readAllBytes(run2.resolve("ckpt_10").resolve(f)), f);
    }

    TrainCommandTest.Result sample = TrainCommandTest.run(List.of("sample", "--checkpoint", run2.toString(), "--prompt", "It was",
        "--tokens", "5", "--threads", "2", "--device", "cpu"));
    assertEquals(0, sample.code(), sample.err());
    assertTrue(sample.out().startsWith("It was"), sample.out());
    String last = sample.errLines().getLast();
    assertTrue(last.startsWith("sample: 5 tokens in ") && last.contains("recompute, window T=16, " + run2.resolve("ckpt_10/model.bin")),
        last);

    Path run3 = tmp.resolve("run3");
    TrainCommandTest.Result init = TrainCommandTest.run(List.of("train", "--init", model.toString(), "--data", data.toString(), "--batch",
        "2", "--seq", "16", "--steps", "2", "--warmup", "0", "--sample-tokens", "0", "--threads", "2", "--device", "cpu", "--out",
        run3.toString()));
    assertEquals(0, init.code(), init.err());
    assertTrue(init.out().contains("train: init:" + model.toAbsolutePath() + ": llama L=1 NH=2 NKV=1 C=32 FF=64"), init.out());
    assertTrue(TrainLog.read(run3.resolve("log.csv")).getFirst().loss() < 9, "starts from the trained weights");
  }

  /** A log.csv row's step, loss, val loss, lr and grad norm (ms and tok/s differ between runs). */
  private static String withoutTimings(String row) {
    String[] f = row.split(",");
    return String.join(",", List.of(f).subList(0, 5));
  }
}
