// Tests the CLI's contract: usage + exit 2 on bad options, one "kiln: ..." line + exit 1 on user errors.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import kiln.runtime.data.Corpus;
import kiln.runtime.format.TokenShard;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class MainTest {
  @TempDir
  Path tmp;

  record Result(int code, String out, String err) {
    List<String> errLines() {
      return err.lines().toList();
    }
  }

  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = Main.commandLine();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void unknownOptionExits2WithTheUsage() {
    Result r = run("prepare", "--bogus", "--out", tmp.toString());
    assertEquals(2, r.code());
    assertEquals("kiln: Unknown option: '--bogus'", r.errLines().getFirst());
    assertTrue(r.err().contains("Usage: kiln prepare"), r.err());
    assertEquals("", r.out());
  }

  @Test
  void missingCommandOrRequiredOptionExits2() {
    Result none = run();
    assertEquals(2, none.code());
    assertEquals("kiln: a command is required", none.errLines().getFirst());
    assertTrue(none.err().contains("Usage: kiln [-hV] [COMMAND]"), none.err());
    Result noOut = run("prepare");
    assertEquals(2, noOut.code());
    assertEquals("kiln: Missing required option: '--out=DIR'", noOut.errLines().getFirst());
  }

  @Test
  void userErrorsAreOneLineAndExit1() throws IOException {
    Files.writeString(tmp.resolve("keep.txt"), "x");
    Result busy = run("prepare", "--out", tmp.toString());
    assertEquals(1, busy.code());
    assertEquals(List.of("kiln: --out " + tmp + " is not empty; pass --force to replace its shards"), busy.errLines());

    Result missing = run("prepare", "--text", tmp.resolve("nope.txt").toString(), "--out", tmp.resolve("o").toString());
    assertEquals(1, missing.code());
    assertEquals(List.of("kiln: --text " + tmp.resolve("nope.txt") + ": no such file"), missing.errLines());

    Result fraction = run("prepare", "--val-fraction", "2", "--out", tmp.resolve("o").toString());
    assertEquals(List.of("kiln: --val-fraction must be in [0, 1), got 2.0"), fraction.errLines());
  }

  @Test
  void userMessagesAndBugs() {
    StringWriter err = new StringWriter();
    assertEquals(1, Main.failed(new IllegalArgumentException("bad\n  value"), new PrintWriter(err), false));
    assertEquals("kiln: bad value\n", err.toString().replace(System.lineSeparator(), "\n"));
    assertEquals("no such file: /x", Main.userMessage(new java.io.UncheckedIOException(new java.nio.file.NoSuchFileException("/x"))));

    StringWriter trace = new StringWriter();
    assertEquals(1, Main.failed(new IllegalStateException("a bug"), new PrintWriter(trace), false));
    assertTrue(trace.toString().startsWith("java.lang.IllegalStateException: a bug"), trace.toString());
    StringWriter debug = new StringWriter();
    Main.failed(new UserError("shown with its trace"), new PrintWriter(debug), true);
    assertTrue(debug.toString().contains("\tat kiln.cli.MainTest"), debug.toString());
  }

  @Test
  void prepareWritesShardsAndASummary() throws IOException {
    Path a = Files.writeString(tmp.resolve("a.txt"), "The first document.\nIt has two lines.\n");
    Path b = Files.writeString(tmp.resolve("b.txt"), "And a second one, with <|endoftext|> inside.");
    Path out = tmp.resolve("shards");
    Result r = run("prepare", "--text", a.toString(), b.toString(), "--out", out.toString(), "--val-fraction", "0.2");
    assertEquals(0, r.code(), r.err());
    long chars = Files.readString(a).length() + Files.readString(b).length();
    assertTrue(r.out().startsWith("prepared 2 documents (" + chars + " chars) into " + out), r.out());
    assertTrue(r.err().contains("tokenize 100%"), r.err());
    int[] val = TokenShard.read(out.resolve("val_000000.bin"), Corpus.VOCAB);
    int[] train = TokenShard.read(out.resolve("train_000000.bin"), Corpus.VOCAB);
    assertEquals(Corpus.EOT, val[0]);
    assertTrue(r.out().contains(String.format("train %,12d tokens  train_000000.bin", train.length)), r.out());

    Result again = run("prepare", "--text", a.toString(), "--out", out.toString(), "--force");
    assertEquals(0, again.code(), again.err());
  }

  @Test
  void infoDescribesTheMachine() {
    Result r = run("info");
    assertEquals(0, r.code(), r.err());
    for (String key : List.of("java", "cpu", "heap", "vector", "cuda", "nvrtc", "cache")) {
      assertTrue(r.out().lines().anyMatch(l -> l.startsWith(key + " ")), key + " missing from\n" + r.out());
    }
  }

  @Test
  void versionAndHelp() {
    Result v = run("--version");
    assertEquals(0, v.code());
    assertTrue(v.out().startsWith("kiln " + Main.VERSION), v.out());
    Result h = run("--help");
    assertTrue(h.out().contains("prepare") && h.out().contains("info"), h.out());
  }
}
