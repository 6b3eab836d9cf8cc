// Whole-file writes that either replace the target completely or leave it as it was, and removing what a failed one left.
package kiln.runtime.format;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

public final class AtomicFiles {
  private AtomicFiles() {}

  public interface IoWriter {
    void write(OutputStream out) throws IOException;
  }

  /**
   * Writes to a temp file in the same directory, fsyncs, renames over the target; on any failure deletes the
   * temp and leaves the target untouched. I/O failures surface as UncheckedIOException naming the file;
   * exceptions the body throws otherwise pass through unchanged.
   */
  public static void write(Path file, IoWriter body) {
    Path target = file.toAbsolutePath();
    Path dir = target.getParent();
    if (!Files.isDirectory(dir)) {
      throw new UncheckedIOException(
          file + ": cannot write: no directory " + dir, new NoSuchFileException(dir.toString()));
    }
    Path temp = null;
    boolean renamed = false;
    try {
      temp = createTemp(dir, target.getFileName().toString());
      try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
        OutputStream out = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 16) {
          @Override
          public void close() throws IOException {
            flush(); // the channel must stay open for the fsync below
          }
        };
        body.write(out);
        out.flush();
        channel.force(true);
      }
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      renamed = true;
      syncDirectory(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot write: " + FormatException.describe(e), e);
    } finally {
      if (!renamed && temp != null) {
        try {
          Files.deleteIfExists(temp);
        } catch (IOException ignored) {
          // the original failure is the one worth reporting
        }
      }
    }
  }

  private static Path createTemp(Path dir, String name) throws IOException {
    while (true) {
      Path temp = dir.resolve("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
      try {
        // createFile, unlike createTempFile, leaves permissions to the umask as any other output would get
        return Files.createFile(temp);
      } catch (FileAlreadyExistsException taken) {
        // another writer drew the same name; draw again
      }
    }
  }

  /** Deletes a directory and everything in it, or a file; nothing when there is none (what a failed or replaced write leaves). */
  public static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(f);
      }
    }
  }

  /** Makes the rename durable. Best effort: the target is already complete, and not every platform can fsync a directory. */
  private static void syncDirectory(Path dir) {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException ignored) {
      // see above
    }
  }
}
