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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliProcessTest {
  @TempDir
  Path tmp;

  record Run(int code, String out, String err) {}

  private Run kiln(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xmx1g",
        "-cp", System.getProperty("java.class.path"), "kiln.cli.Main"));
    cmd.addAll(List.of(args));
    Path out = tmp.resolve("out.txt"), err = tmp.resolve("err.txt");
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "kiln " + String.join(" ", args) + " timed out");
    String e = Files.readString(err, StandardCharsets.UTF_8).lines()
        .filter(l -> !l.startsWith("WARNING: Using incubator modules")).reduce("", (a, b) -> a + b + "\n");
    return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), e);
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
