// Tests the launcher's stderr hand-back: a JVM booted with stderr going nowhere (where ./kiln puts
// its filter) and the real stderr as fd 3 prints kiln's own messages there once Main has started.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LauncherStderrTest {
  @TempDir
  Path tmp;

  record Run(int code, String err) {}

  /** bash runs the JVM as ./kiln does, but with the boot-time stderr sent to /dev/null instead of the filter. */
  private Run kiln(boolean handBack, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("bash", "-c", "exec \"$@\" 3>&2 2>/dev/null", "bash",
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xmx256m"));
    if (handBack) {
      cmd.add("-D" + LauncherStderr.FD_PROPERTY + "=3");
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "kiln.cli.Main"));
    cmd.addAll(List.of(args));
    Path err = tmp.resolve("err.txt");
    Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out");
    return new Run(p.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
  }

  @Test
  void messagesAfterBootReachTheRealStderr() throws Exception {
    Run r = kiln(true, "bench", "--bogus");
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("kiln: Unknown option: '--bogus'"), r.err());
    assertFalse(r.err().contains("WARNING"), "the boot-time notice went to the filter's side:\n" + r.err());
  }

  @Test
  void withoutTheHandBackEverythingStaysOnFd2() throws Exception {
    Run r = kiln(false, "bench", "--bogus");
    assertEquals(2, r.code());
    assertEquals("", r.err());
  }
}
