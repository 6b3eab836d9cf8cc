// Tests `kiln train` and `kiln sample` end to end on a very small GPT-2 (L=1, C=32): loss falls, files appear,
// resume is bit-exact, misuse fails with one clear line.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import kiln.runtime.Models;
import kiln.runtime.data.DefaultCorpus;
import kiln.models.Gpt2;
import kiln.runtime.format.ModelFile;
import kiln.runtime.train.TrainLog;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class TrainCommandTest {
  /** 20 steps of a 1.6M-parameter GPT-2 (the lm head is most of it) on 4x32-token batches: a few seconds. */
  static final List<String> SMALL = List.of("--layers", "1", "--heads", "2", "--channels", "32", "--batch", "4", "--seq", "32",
      "--steps", "20", "--lr", "1e-2", "--warmup", "2", "--val-every", "10", "--val-batches", "2", "--checkpoint-every", "10",
      "--sample-tokens", "8", "--threads", "2");

  @TempDir
  static Path tmp;
  static Path data;
  static Path run1;
  static Result first;

  record Result(int code, String out, String err) {
    List<String> errLines() {
      return err.lines().filter(l -> !l.startsWith("WARNING")).toList();
    }
  }

  static Result run(List<String> args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = Main.commandLine();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args.toArray(String[]::new));
    return new Result(code, out.toString(), err.toString());
  }

  /** `train` on the test corpus with SMALL's options, those named in {@code extra} replaced (picocli takes each once). */
  static List<String> train(String... extra) {
    return trainArgs(data, SMALL, extra);
  }

  /** `train --data data` with the options in defaults (flag, value pairs), those named in extra replaced. */
  static List<String> trainArgs(Path data, List<String> defaults, String... extra) {
    List<String> args = new ArrayList<>(List.of("train", "--data", data.toString()));
    List<String> given = List.of(extra);
    for (int i = 0; i < defaults.size(); i += 2) {
      if (!given.contains(defaults.get(i))) {
        args.addAll(defaults.subList(i, i + 2));
      }
    }
    args.addAll(given);
    return args;
  }

  @BeforeAll
  static void trainOnce() throws IOException {
    data = tmp.resolve("corpus");
    DefaultCorpus.ensurePrepared(data);
    run1 = tmp.resolve("run1");
    first = run(train("--out", run1.toString()));
  }

  @Test
  void trainLowersTheLossAndWritesLogPlotCheckpointsAndASample() throws IOException {
    assertEquals(0, first.code(), first.err());
    List<TrainLog.Row> rows = TrainLog.read(run1.resolve("log.csv"));
    assertEquals(20, rows.size());
    assertEquals(1, rows.getFirst().step());
    assertTrue(rows.getFirst().loss() > 10.5, "an untrained GPT-2 starts near ln(50257) = 10.8: " + rows.getFirst());
    double head = rows.subList(0, 5).stream().mapToDouble(TrainLog.Row::loss).average().orElseThrow();
    double tail = rows.subList(15, 20).stream().mapToDouble(TrainLog.Row::loss).average().orElseThrow();
    assertTrue(tail < head - 1, "loss fell from " + head + " to " + tail);
    assertFalse(Double.isNaN(rows.get(9).valLoss()));
    assertTrue(Double.isNaN(rows.get(8).valLoss()));
    byte[] png = Files.readAllBytes(run1.resolve("loss.png"));
    assertEquals((byte) 0x89, png[0]);
    assertEquals("PNG", new String(png, 1, 3));
    for (String ckpt : List.of("ckpt_10", "ckpt_20")) {
      for (String f : List.of("model.bin", "state.bin", "train.txt")) {
        assertTrue(Files.isRegularFile(run1.resolve(ckpt).resolve(f)), ckpt + "/" + f);
      }
    }
    assertTrue(first.out().contains("train: done: step 20/20"), first.out());
    assertTrue(first.out().contains("train: sample (8 tokens after <|endoftext|>"), first.out());
    try (Stream<Path> files = Files.list(run1)) {
      assertEquals(List.of("ckpt_10", "ckpt_20", "log.csv", "loss.png"),
          files.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary files left");
    }
  }

  @Test
  void resumeFromStep10RepeatsSteps11To20Exactly() throws IOException {
    Path run2 = tmp.resolve("run2");
    Result r = run(List.of("train", "--resume", run1.resolve("ckpt_10").toString(), "--out", run2.toString(), "--sample-tokens", "0"));
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("resuming " + run1.resolve("ckpt_10") + " at step 10"), r.out());
    List<String> a = Files.readAllLines(run1.resolve("log.csv"));
    List<String> b = Files.readAllLines(run2.resolve("log.csv"));
    assertEquals(21, b.size());
    for (int i = 1; i <= 20; i++) {
      String[] x = a.get(i).split(","), y = b.get(i).split(",");
      assertEquals(x[0] + " " + x[1] + " " + x[2] + " " + x[4], y[0] + " " + y[1] + " " + y[2] + " " + y[4], "step, loss, val, grad norm");
    }
    for (String f : List.of("model.bin", "state.bin")) {
      assertArrayEquals(Files.readAllBytes(run1.resolve("ckpt_20").resolve(f)), Files.readAllBytes(run2.resolve("ckpt_20").resolve(f)), f);
    }

    Result more = run(List.of("train", "--resume", run2.toString(), "--steps", "22", "--keep", "1", "--sample-tokens", "0"));
    assertEquals(0, more.code(), more.err());
    assertEquals(22, TrainLog.read(run2.resolve("log.csv")).size());
    assertTrue(Files.isDirectory(run2.resolve("ckpt_22")));
    assertFalse(Files.exists(run2.resolve("ckpt_20")), "--keep 1");
  }

  @Test
  void sampleGeneratesTheRequestedTokens() {
    Result r = run(List.of("sample", "--checkpoint", run1.toString(), "--prompt", "It was", "--tokens", "12", "--threads", "2"));
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("It was"), r.out());
    assertTrue(r.out().length() > "It was".length() + 5, r.out());
    String last = r.errLines().getLast();
    assertTrue(last.startsWith("sample: 12 tokens in ") && last.contains("tok/s), KV cache (maxT 256), ") && last.endsWith("cpu 2 threads"),
        last);

    Result file = run(List.of("sample", "--checkpoint", run1.resolve("ckpt_10/model.bin").toString(), "--tokens", "3",
        "--temperature", "0"));
    assertEquals(0, file.code(), file.err());
  }

  @Test
  void theKvCacheAndTheRecomputedWindowDrawTheSameGreedyTokens() {
    List<String> greedy = List.of("sample", "--checkpoint", run1.toString(), "--prompt", "It was the best of", "--tokens", "24",
        "--temperature", "0", "--threads", "2");
    Result cached = run(greedy);
    List<String> args = new ArrayList<>(greedy);
    args.add("--no-kv-cache");
    Result recomputed = run(args);
    assertEquals(0, cached.code(), cached.err());
    assertEquals(0, recomputed.code(), recomputed.err());
    assertTrue(recomputed.errLines().getLast().contains("recompute, window T=32"), recomputed.err());
    assertEquals(recomputed.out(), cached.out());

    args.addAll(List.of("--max-seq", "8"));
    Result sliding = run(args);
    assertEquals(0, sliding.code(), sliding.err());
    assertTrue(sliding.errLines().getLast().contains("recompute, window T=8"), sliding.err());

    Result past = run(List.of("sample", "--checkpoint", run1.toString(), "--tokens", "300", "--threads", "2"));
    assertEquals(0, past.code(), past.err());
    assertTrue(past.errLines().getLast().startsWith("sample: 300 tokens in "), "past maxT the cache restarts: " + past.err());
  }

  @Test
  void samplesFromARandomInitOfARegistryShape() {
    Result r = run(List.of("sample", "--model", "gpt2-tiny", "--tokens", "4", "--threads", "2", "--device", "cpu"));
    assertEquals(0, r.code(), r.err());
    assertTrue(r.errLines().getLast().contains("KV cache (maxT 256), gpt2-tiny random init (seed 1337), cpu 2 threads"), r.err());
  }

  @Test
  void refusesANonEmptyOutWithoutForce() throws IOException {
    Path busy = Files.createDirectories(tmp.resolve("busy"));
    Files.writeString(busy.resolve("notes.txt"), "mine");
    Result r = run(train("--out", busy.toString()));
    assertEquals(1, r.code());
    assertEquals(List.of("kiln: --out " + busy + " is not empty; pass --force to write into it"), r.errLines());
    assertEquals(List.of(busy.resolve("notes.txt")), Files.list(busy).toList());
  }

  @Test
  void badValuesFailWithOneClearLine() {
    Path out = tmp.resolve("never");
    assertError("kiln: --batch must be positive, got 0", train("--out", out.toString(), "--batch", "0"));
    assertError("kiln: --lr must be positive and finite, got -1.0", train("--out", out.toString(), "--lr", "-1"));
    assertError("kiln: --warmup must be in [0, --steps 20], got 30", train("--out", out.toString(), "--warmup", "30"));
    assertError("kiln: --seq 512: at most the model's maxT, 256", train("--out", out.toString(), "--seq", "512"));
    assertError("kiln: --precision fp16: expected fp32, tf32 or bf16", train("--out", out.toString(), "--precision", "fp16"));
    assertError("kiln: --precision tf32: TF32 is a CUDA tensor-core mode; the cpu device computes in fp32",
        List.of("train", "--device", "cpu", "--precision", "tf32", "--out", out.toString()));
    assertError("kiln: --channels 30: expected a multiple of NH (4) (gpt2 L=2 NH=4 C=30 maxT=256)",
        List.of("train", "--heads", "4", "--channels", "30", "--out", out.toString()));
    assertTrue(kiln.runtime.Models.ALL.keySet().toString().startsWith("[gpt2-tiny, gpt2-d6, gpt2-d12, gpt2-d24, llama-tiny, llama-d12"));
    assertError("kiln: --model gpt2-huge: unknown; expected one of " + kiln.runtime.Models.ALL.keySet(),
        List.of("train", "--model", "gpt2-huge", "--out", out.toString()));
    assertError("kiln: --lr cannot change when resuming: the run's options come from " + run1.resolve("ckpt_20").resolve("train.txt")
        + "; only --steps, --device, --precision, --recompute, --threads, --val-every, --val-batches, --checkpoint-every, --keep, --sample-tokens, --gpus, --zero, --nodes, --node-rank, --rendezvous and --out may",
        List.of("train", "--resume", run1.toString(), "--lr", "1e-3"));
    assertError("kiln: --resume " + run1.resolve("ckpt_20") + ": already at step 20 of 20; pass a larger --steps to train on",
        List.of("train", "--resume", run1.toString()));
    assertError("kiln: --kv-heads does not apply to --model gpt2-tiny: a gpt2 config has no kvHeads",
        train("--out", out.toString(), "--kv-heads", "1"));
    assertError("kiln: --kv-heads 3: expected a divisor of NH (4) (llama L=2 NH=4 NKV=3 C=128 FF=352 maxT=256)",
        List.of("train", "--model", "llama-tiny", "--kv-heads", "3", "--out", out.toString()));
    assertError("kiln: --device gpu: expected cpu, cuda or auto", train("--out", out.toString(), "--device", "gpu"));
    assertError("kiln: --tokens must be positive, got 0", List.of("sample", "--checkpoint", run1.toString(), "--tokens", "0"));
    assertError("kiln: pass --checkpoint FILE_OR_DIR, or --model NAME for a random init", List.of("sample"));
    assertError("kiln: --checkpoint and --model: pass one (--model samples from a random init)",
        List.of("sample", "--checkpoint", run1.toString(), "--model", "gpt2-tiny"));
    assertError("kiln: --max-seq sets the recompute window; the KV cache holds maxT (256) positions: add --no-kv-cache to recompute",
        List.of("sample", "--checkpoint", run1.toString(), "--max-seq", "32"));
    assertFalse(Files.exists(out));
  }

  @Test
  void nanLossesSkipTheUpdateAndThreeInARowStopTheRun() throws IOException {
    Gpt2.Config c = new Gpt2.Config(256, 50257, 50304, 1, 2, 32);
    float[] params = Models.of(c).randomInit(1);
    params[c.paddedVocab() * c.channels()] = Float.NaN; // wpe[0][0]: every sequence's first position
    Path bad = tmp.resolve("nan.bin");
    ModelFile.write(bad, c, params, 3);
    Path out = tmp.resolve("nan");
    // a NaN in a model file is refused on load, naming the tensor (the whole file is checked, padding included)
    String refused = "kiln: " + bad + ": wpe[0] (byte " + (1024 + 4L * c.paddedVocab() * c.channels()) + "): expected a finite number,"
        + " found NaN; the file is damaged or holds a diverged model; use another copy or an earlier checkpoint";
    assertError(refused, train("--out", out.toString(), "--init", bad.toString()));
    assertError(refused, List.of("sample", "--checkpoint", bad.toString()));
    assertError(refused, List.of("verify", "--model", bad.toString(), "--state", bad.toString()));
    assertFalse(Files.exists(out));

    // a learning rate of 1e30 blows the weights up in one update: the losses after it are NaN
    Result r = run(train("--out", out.toString(), "--lr", "1e30"));
    assertEquals(1, r.code(), r.out());
    for (int step = 2; step <= 4; step++) {
      assertTrue(r.out().contains("step " + step + ": skipped the update: loss is NaN (" + (step - 1) + " in a row)"), r.out());
    }
    assertEquals(List.of("kiln: training stopped at step 4: 3 steps in a row skipped (last: loss is NaN); lower --lr or"
        + " --grad-clip, or resume from an earlier checkpoint; log: " + out.resolve("log.csv")), r.errLines().subList(r.errLines().size() - 1, r.errLines().size()));
    assertEquals(4, TrainLog.read(out.resolve("log.csv")).size());
  }

  private static void assertError(String expected, List<String> args) {
    Result r = run(args);
    assertEquals(1, r.code(), r.out());
    assertEquals(List.of(expected), r.errLines());
  }
}
