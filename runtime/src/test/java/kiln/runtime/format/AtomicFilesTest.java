// AtomicFiles: a failed write leaves the old target and no temp file; a good one replaces the target.
package kiln.runtime.format;

import static kiln.runtime.format.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
  private static final byte[] OLD = {1, 2, 3};

  @TempDir Path dir;

  private Path target() throws IOException {
    Path target = dir.resolve("out.bin");
    Files.write(target, OLD);
    return target;
  }

  private List<Path> listing() throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.toList();
    }
  }

  @Test
  void replacesTarget() throws IOException {
    Path target = target();
    AtomicFiles.write(target, out -> {
      out.write(new byte[] {9, 8});
      out.close(); // a body may close its stream; the fsync must still happen
    });
    assertArrayEquals(new byte[] {9, 8}, Files.readAllBytes(target));
    assertEquals(List.of(target), listing());
  }

  @Test
  void failingBodyLeavesOldTargetAndNoTemp() throws IOException {
    Path target = target();
    assertMessage(UncheckedIOException.class, target + ": cannot write: disk full", () -> AtomicFiles.write(target, out -> {
      out.write(new byte[1 << 17]); // past the stream's buffer, so the temp file really holds bytes
      throw new IOException("disk full");
    }));
    assertArrayEquals(OLD, Files.readAllBytes(target));
    assertEquals(List.of(target), listing());
  }

  @Test
  void bodyRuntimeExceptionPassesThroughUnchanged() throws IOException {
    Path target = target();
    IllegalStateException thrown = new IllegalStateException("bug in body");
    assertSame(thrown, assertThrows(IllegalStateException.class, () -> AtomicFiles.write(target, out -> {
      out.write(7);
      throw thrown;
    })));
    assertArrayEquals(OLD, Files.readAllBytes(target));
    assertEquals(List.of(target), listing());
  }

  @Test
  void missingDirectory() {
    Path target = dir.resolve("nowhere").resolve("out.bin");
    assertMessage(UncheckedIOException.class, target + ": cannot write: no directory " + dir.resolve("nowhere"),
        () -> AtomicFiles.write(target, out -> out.write(1)));
  }
}
