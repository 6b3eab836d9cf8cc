// The CLI as a user meets it: a separate JVM running kiln.cli.Main, its exit status, and what it
// prints on stderr for bad input (one "kiln: ..." line, never a stack trace).
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import kiln.runtime.format.TokenShard;
import kiln.runtime.train.Checkpoint;
import kiln.runtime.train.TrainLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliProcessTest {
  @TempDir
  Path tmp;

  record Run(int code, String out, String err) {}

  private static List<String> java(String... args) {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xmx1g",
        "-cp", System.getProperty("java.class.path"), "kiln.cli.Main"));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private Run kiln(String... args) throws IOException, InterruptedException {
    return finish(start(java(args)), args);
  }

  private Process start(List<String> cmd) throws IOException {
    return new ProcessBuilder(cmd).redirectOutput(tmp.resolve("out.txt").toFile()).redirectError(tmp.resolve("err.txt").toFile()).start();
  }

  private Run finish(Process p, String... args) throws IOException, InterruptedException {
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "kiln " + String.join(" ", args) + " timed out");
    String e = Files.readString(tmp.resolve("err.txt"), StandardCharsets.UTF_8).lines()
        .filter(l -> !l.startsWith("WARNING: Using incubator modules")).reduce("", (a, b) -> a + b + "\n");
    return new Run(p.exitValue(), Files.readString(tmp.resolve("out.txt"), StandardCharsets.UTF_8), e);
  }

  /** Random token shards (train and val) for a tiny run. */
  private Path data() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("data"));
    Random random = new Random(5);
    TokenShard.write(dir.resolve("train_000000.bin"), random.ints(3000, 0, 50257).toArray());
    TokenShard.write(dir.resolve("val_000000.bin"), random.ints(300, 0, 50257).toArray());
    return dir;
  }

  private String[] train(Path out, String... extra) throws IOException {
    List<String> args = new ArrayList<>(List.of("train", "--data", data().toString(), "--out", out.toString(), "--layers", "1",
        "--heads", "2", "--channels", "32", "--batch", "2", "--seq", "16", "--lr", "1e-2", "--warmup", "1", "--val-batches", "1",
        "--sample-tokens", "0", "--threads", "1"));
    args.addAll(List.of(extra));
    return args.toArray(String[]::new);
  }

  @Test void ctrlCCheckpointsTheLastFinishedStepSaysWhereAndExits130() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("env", "--default-signal=INT", "true").start().waitFor() == 0,
        "env --default-signal (coreutils 8.31+) is missing");
    Path out = tmp.resolve("run");
    String[] args = train(out, "--steps", "1000000", "--checkpoint-every", "0", "--val-every", "0");
    // a job started from a script inherits SIGINT ignored, and the JVM then leaves it so: give the child the default back
    List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT"));
    cmd.addAll(java(args));
    Process p = start(cmd);
    Path log = out.resolve("log.csv");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!Files.exists(log) || Files.readAllLines(log).size() < 3) { // header + 2 steps
      assertTrue(p.isAlive(), "kiln train ended early: " + Files.readString(tmp.resolve("err.txt")));
      assertTrue(System.nanoTime() < deadline, "no step in 120 s");
      Thread.sleep(20);
    }
    assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor());
    Run r = finish(p, args);
    assertEquals(130, r.code(), r.err());
    int steps = TrainLog.read(log).size();
    Path ckpt = out.resolve("ckpt_" + steps).toAbsolutePath();
    assertEquals("train: interrupted (SIGINT) at step " + steps + "/1000000: wrote " + ckpt + "; continue with  ./kiln train --resume "
        + ckpt, r.out().lines().toList().getLast());
    assertTrue(r.err().contains("train: SIGINT: finishing the current step, then writing a checkpoint"), r.err());
    assertEquals(steps, Checkpoint.read(ckpt).position().step(), "the checkpoint is of the last logged step");
    try (var files = Files.list(out)) {
      assertEquals(List.of("ckpt_" + steps, "log.csv", "loss.png"), files.map(f -> f.getFileName().toString()).sorted().toList());
    }
  }

  @Test void aCheckpointWriteThatFailsNamesThePathAndLeavesNoTemporaryDirectory() throws Exception {
    // a full disk, simulated in a way that works as root: a 1 MB file-size limit (the JVM ignores SIGXFSZ, so the
    // write fails with EFBIG) lets log.csv through and stops the first checkpoint's model.bin (6.5 MB)
    Path out = tmp.resolve("full");
    String[] args = train(out, "--steps", "2", "--checkpoint-every", "1");
    List<String> cmd = new ArrayList<>(List.of("bash", "-c", "ulimit -f 1024 && exec \"$@\"", "kiln"));
    cmd.addAll(java(args));
    Run r = finish(start(cmd), args);
    assertEquals(1, r.code(), r.err());
    Path ckpt = out.resolve("ckpt_1").toAbsolutePath();
    assertEquals("kiln: " + ckpt + ": cannot write the checkpoint (" + out.toAbsolutePath().resolve("ckpt_1.tmp").resolve("model.bin")
        + ": cannot write: File too large); nothing of it was kept: free space on that disk or pass another --out",
        r.err().lines().filter(l -> l.startsWith("kiln: ")).findFirst().orElse(r.err()));
    try (var files = Files.list(out)) {
      assertEquals(List.of("log.csv"), files.map(f -> f.getFileName().toString()).toList(), "no ckpt_1.tmp/ left behind");
    }
    assertEquals(1, TrainLog.read(out.resolve("log.csv")).size(), "the step's log row was written before the checkpoint");
  }

  @Test void helpListsEveryCommand() throws Exception {
    Run r = kiln("--help");
    assertEquals(0, r.code(), r.err());
    for (String c : List.of("train", "sample", "prepare", "emit", "verify", "bench", "tune", "info")) {
      assertTrue(r.out().contains("  " + c + " "), c + " missing from --help:\n" + r.out());
    }
  }

  @Test void unknownOptionIsAUsageError() throws Exception {
    Run r = kiln("bench", "--bogus");
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("kiln: Unknown option: '--bogus'"), r.err());
    assertTrue(r.err().contains("Usage: kiln bench"), r.err());
  }

  @Test void missingModelFileIsOneLine() throws Exception {
    Path state = tmp.resolve("state.bin");
    Run r = kiln("verify", "--model", tmp.resolve("nope.bin").toString(), "--state", state.toString());
    assertEquals(1, r.code());
    assertEquals("kiln: " + tmp.resolve("nope.bin") + ": file: expected a readable file, found no such file\n", r.err());
  }

  @Test void badValueNamesWhatIsAllowed() throws Exception {
    Run r = kiln("bench", "--model", "gpt2-huge");
    assertEquals(1, r.code());
    assertTrue(r.err().startsWith("kiln: --model gpt2-huge: unknown; expected one of [gpt2-tiny,"), r.err());
    assertFalse(r.err().contains("\tat "), "no stack trace:\n" + r.err());
  }

  @Test void nonEmptyOutputNeedsForce() throws Exception {
    Path dir = tmp.resolve("data");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("keep.txt"), "mine");
    Path text = tmp.resolve("t.txt");
    Files.writeString(text, "Hello there.");
    Run r = kiln("prepare", "--text", text.toString(), "--out", dir.toString());
    assertEquals(1, r.code());
    assertEquals("kiln: --out " + dir + " is not empty; pass --force to replace its shards\n", r.err());
    assertEquals("mine", Files.readString(dir.resolve("keep.txt")));
  }
}
