// Where the reference fixtures are (written by reference/fixtures.sh, which ./kiln test runs first).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

final class Fixtures {
  private Fixtures() {}

  /** The fixture's folder; fails (never skips) when it is missing, naming the command that writes it. */
  static Path dir(String name) {
    Path dir = Path.of("build", "fixtures", name);
    assertTrue(Files.isRegularFile(dir.resolve("state.bin")) && Files.isRegularFile(dir.resolve("model.bin")),
        "fixture " + dir.toAbsolutePath() + " is missing: run reference/fixtures.sh (./kiln test does)");
    return dir;
  }
}
