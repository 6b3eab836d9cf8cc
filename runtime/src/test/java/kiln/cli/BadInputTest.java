// Bad input to train / sample / verify / prepare gets one "kiln: ..." line naming the file or flag, exit 1, and nothing
// lost: damaged checkpoints, a stale or mixed run directory, --force, --threads, --device cuda without a GPU, short runs.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import kiln.runtime.Models;
import kiln.runtime.cuda.Cuda;
import kiln.runtime.data.DataLoader;
import kiln.models.Llama;
import kiln.runtime.format.TokenShard;
import kiln.runtime.train.Checkpoint;
import kiln.runtime.train.TrainLog;
import kiln.runtime.train.TrainOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BadInputTest {
  /** 4 steps of a 1.6M-parameter GPT-2 on random tokens, checkpoints at 2 and 4: a few seconds. */
  static final List<String> SMALL = List.of("--layers", "1", "--heads", "2", "--channels", "32", "--batch", "2", "--seq", "16",
      "--steps", "4", "--lr", "1e-2", "--warmup", "1", "--val-batches", "1", "--checkpoint-every", "2", "--sample-tokens", "0",
      "--threads", "1");

  @TempDir
  static Path tmp;
  static Path data;
  static Path run1;

  record Result(int code, String out, List<String> err) {}

  static Result run(List<String> args) {
    TrainCommandTest.Result r = TrainCommandTest.run(args);
    // the progress bar redraws with \r; keep the lines a user reads
    List<String> lines = r.err().lines().filter(l -> !l.startsWith("WARNING") && !l.contains("\r") && !l.startsWith("train "))
        .toList();
    return new Result(r.code(), r.out(), lines);
  }

  /** `train` with SMALL's options, those named in {@code extra} replaced. */
  static List<String> train(String... extra) {
    return TrainCommandTest.trainArgs(data, SMALL, extra);
  }

  static void assertError(String expected, List<String> args) {
    Result r = run(args);
    assertEquals(1, r.code(), r.out());
    assertEquals(List.of(expected), r.err());
  }

  @BeforeAll
  static void trainOnce() throws IOException {
    data = Files.createDirectories(tmp.resolve("data"));
    Random random = new Random(11);
    TokenShard.write(data.resolve("train_000000.bin"), random.ints(3000, 0, 50257).toArray());
    TokenShard.write(data.resolve("val_000000.bin"), random.ints(300, 0, 50257).toArray());
    run1 = tmp.resolve("run1");
    Result r = run(train("--out", run1.toString()));
    assertEquals(0, r.code(), String.join("\n", r.err()));
  }

  private static Path copy(Path from, Path to) throws IOException {
    try (Stream<Path> files = Files.walk(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, to.resolve(from.relativize(f).toString()));
      }
    }
    return to;
  }

  private static String crc32c(Path file) throws IOException {
    CRC32C crc = new CRC32C();
    crc.update(Files.readAllBytes(file));
    return String.format("%08x", crc.getValue());
  }

  @Test
  void aStateBinWithBytesOverwrittenInTheMiddleDoesNotResume() throws IOException {
    Path ckpt = copy(run1.resolve("ckpt_2"), tmp.resolve("damaged"));
    Path state = ckpt.resolve("state.bin");
    String recorded = crc32c(state);
    byte[] bytes = Files.readAllBytes(state);
    for (int i = 0; i < 64; i++) {
      bytes[bytes.length / 2 + i] = (byte) 0xff; // NaN bit patterns in AdamW's moments
    }
    Files.write(state, bytes);
    assertError("kiln: " + state + ": CRC32C: expected " + recorded + " (as " + ckpt.resolve("train.txt") + " records), found "
        + crc32c(state) + "; the file changed after it was written (a disk error or an edit): use another checkpoint of the run",
        List.of("train", "--resume", ckpt.toString(), "--steps", "6"));
    try (Stream<Path> files = Files.list(ckpt)) {
      assertEquals(3, files.count(), "nothing written next to the damaged checkpoint");
    }
  }

  @Test
  void aStatefulVerifyOfACheckpointsStateNamesBothFormats() {
    Path ckpt = run1.resolve("ckpt_4");
    assertError("kiln: " + ckpt.resolve("state.bin") + ": header[0] magic: expected 20240327 (an llm.c debug state: a PyTorch reference"
        + " batch, what `kiln verify --state` reads), found 20261123 (a kiln checkpoint's optimizer state: AdamW m and v, what"
        + " `kiln train --resume` reads)", List.of("verify", "--model", ckpt.resolve("model.bin").toString(), "--state",
        ckpt.resolve("state.bin").toString()));
    // every registered family's model magic is listed: 20240326 (an llm.c GPT-2 model) or 20261123 (a kiln Llama model) or ...
    String families = String.join(" or ", kiln.runtime.Models.FAMILIES.stream().map(f -> f.file().magic() + " (" + f.file().label() + ")").toList());
    assertTrue(families.startsWith("20240326 (an llm.c GPT-2 model) or 20261123 (a kiln Llama model)"), families);
    assertError("kiln: " + ckpt.resolve("state.bin") + ": header[0] magic: expected " + families
        + ", found 20261123 (a kiln checkpoint's optimizer state: AdamW m and v, what `kiln train --resume` reads)",
        List.of("sample", "--checkpoint", ckpt.resolve("state.bin").toString()));
  }

  @Test
  void forceClearsThePreviousRunSoNothingStaleIsTakenForTheLatest() throws IOException {
    Path reused = copy(run1, tmp.resolve("reused"));
    Files.writeString(reused.resolve("notes.txt"), "mine");
    Result r = run(train("--out", reused.toString(), "--force", "--steps", "2", "--checkpoint-every", "0"));
    assertEquals(0, r.code(), String.join("\n", r.err()));
    assertTrue(r.out().contains("train: --force: removed the previous run's ckpt_2, ckpt_4, log.csv, loss.png from " + reused), r.out());
    try (Stream<Path> files = Files.list(reused)) {
      assertEquals(List.of("ckpt_2", "log.csv", "loss.png", "notes.txt"), files.map(f -> f.getFileName().toString()).sorted().toList());
    }
    assertEquals(2, TrainLog.read(reused.resolve("log.csv")).size());
    Result sampled = run(List.of("sample", "--checkpoint", reused.toString(), "--tokens", "2", "--threads", "1"));
    assertEquals(0, sampled.code(), String.join("\n", sampled.err()));
    assertTrue(sampled.err().getLast().contains(reused.resolve("ckpt_2").resolve("model.bin").toString()), sampled.err().getLast());
  }

  @Test
  void aRunDirectoryMixingTwoRunsIsRefusedBySampleAndResume() throws IOException {
    Path mixed = Files.createDirectories(tmp.resolve("mixed"));
    copy(run1.resolve("ckpt_4"), mixed.resolve("ckpt_4"));
    // a stale checkpoint of another family, numbered past this run's: what a reused directory used to hand out
    Models.Shape llama = Models.of(new Llama.Config(8, 10, 16, 1, 2, 1, 4, 6, 10000f, 1e-5f));
    int n = Math.toIntExact(llama.paramCount());
    Checkpoint.write(mixed, llama, new Checkpoint.State(new float[n], new float[n], new float[n]),
        new TrainOptions("llama-old", data, 2, 4, 100, 3e-3, 10, 0.1, 0.0, 1.0, 10, 2, 10, 2, 42, 0),
        new Checkpoint.Position(9, 9, new DataLoader.Position(0, 0), 0, new double[0]));
    String expected = "kiln: " + mixed + ": holds checkpoints of different runs (ckpt_9: model = llama-old; ckpt_4: model = gpt2-tiny"
        + " (--layers 1 --heads 2 --channels 32)); pass the checkpoint directory you mean, e.g. " + mixed.resolve("ckpt_9");
    assertError(expected, List.of("sample", "--checkpoint", mixed.toString()));
    assertError(expected, List.of("train", "--resume", mixed.toString(), "--steps", "8"));
  }

  @Test
  void theCudaProfilerRangeIsRefusedOnTheCpu() {
    assertError("kiln: --cuda-profiler-range is for --device cuda on one GPU",
        List.of("bench", "--device", "cpu", "--model", "gpt2-tiny", "--seq", "16", "--batch", "1", "--cuda-profiler-range"));
  }

  @Test
  void moreThreadsThanCoresIsRefused() {
    int cores = Runtime.getRuntime().availableProcessors();
    String expected = "kiln: --threads 1000: this machine has " + cores + " cores for kiln; the CPU workers spin-wait, so more threads"
        + " than cores only slow every step down: pass at most " + cores + " (or leave --threads out)";
    assertError(expected, train("--out", tmp.resolve("never").toString(), "--threads", "1000"));
    assertError(expected, List.of("sample", "--model", "gpt2-tiny", "--threads", "1000"));
    assertError("kiln: --threads must be positive, got 0", List.of("bench", "--device", "cpu", "--threads", "0"));
    assertFalse(Files.exists(tmp.resolve("never")));
  }

  @Test
  void aShortRunClampsTheDefaultWarmup() throws IOException {
    int warmup = Integer.parseInt(new CommandLine(new TrainCommand()).getCommandSpec().findOption("--warmup").defaultValue());
    assumeTrue(warmup > 2, "the default warmup fits in 2 steps: nothing to clamp");
    List<String> args = new ArrayList<>(train("--out", tmp.resolve("short").toString(), "--steps", "2"));
    int at = args.indexOf("--warmup");
    args.subList(at, at + 2).clear();
    Result r = run(args);
    assertEquals(0, r.code(), String.join("\n", r.err()));
    assertTrue(r.err().contains("train: note: the default warmup " + warmup + " is longer than --steps 2: warming up over all 2 steps"),
        String.join("\n", r.err()));
    assertEquals(2, TrainLog.read(tmp.resolve("short").resolve("log.csv")).size());
    assertError("kiln: --warmup must be in [0, --steps 2], got 30", train("--out", tmp.resolve("never").toString(), "--steps", "2",
        "--warmup", "30"));
  }

  @Test
  void cudaWithoutADeviceIsOneLine() {
    assumeFalse(Cuda.available(), "this machine has a CUDA device");
    String expected = "kiln: --device cuda: no CUDA device here (" + Cuda.unavailableReason() + "); use --device cpu, or auto (CUDA"
        + " when present)";
    assertTrue(Cuda.unavailableReason().length() < 200 && !Cuda.unavailableReason().contains("\tat "), Cuda.unavailableReason());
    assertError(expected, train("--out", tmp.resolve("never").toString(), "--device", "cuda"));
    assertError(expected, List.of("sample", "--model", "gpt2-tiny", "--device", "cuda"));
  }

  @Test
  void prepareNamesTheEmptyFileAndTheShardFlag() throws IOException {
    Path empty = Files.writeString(tmp.resolve("empty.txt"), "");
    Path out = tmp.resolve("prepared");
    assertError("kiln: --text " + empty + ": the file is empty; expected UTF-8 text to tokenize",
        List.of("prepare", "--text", empty.toString(), "--out", out.toString()));
    Path text = Files.writeString(tmp.resolve("text.txt"), "It was the best of times.");
    assertError("kiln: --shard-tokens must be at least 2 (a token and the next one, its target), got 0",
        List.of("prepare", "--text", text.toString(), "--out", out.toString(), "--shard-tokens", "0"));
    assertFalse(Files.exists(out));
  }

  @Test
  void tuneRefusesBf16ByName() {
    assertError("kiln: --precision bf16: tune races bf16 kernels on --device cuda only; the cpu emulates bf16 on its fp32 kernels (tune at fp32)",
        List.of("tune", "--device", "cpu", "--precision", "bf16"));
  }

  @Test
  void zeroWithBf16IsAccepted() {
    // --zero 1 --precision bf16 passes the option checks (docs/multi-gpu.md, "bf16 with ZeRO-1"): on the CPU the one line
    // left is the device's, as for any precision
    String line = "kiln: --gpus 2 needs --device cuda: data parallelism runs over GPUs through NCCL (the device here is cpu)";
    assertError(line, List.of("bench", "--device", "cpu", "--gpus", "2", "--zero", "1", "--precision", "bf16"));
    assertError(line, List.of("train", "--data", data.toString(), "--device", "cpu", "--gpus", "2", "--zero", "1", "--precision", "bf16",
        "--out", tmp.resolve("zero-bf16").toString()));
  }
}
