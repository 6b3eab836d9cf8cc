// Undoes the launcher's boot-time stderr filter: ./kiln starts the JVM with stderr through a filter
// that drops the JDK's incubator notice, the real stderr as fd -Dkiln.stderr.fd, and the filter's
// pid as -Dkiln.stderr.filter.
package kiln.cli;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The JDK prints "WARNING: Using incubator modules: jdk.incubator.vector" while it boots, before
 * any of kiln runs, and has no option to leave it out; so the launcher filters that one line. Once
 * booted, {@link #restore} moves the real stderr back onto fd 2 (dup2): the filter reads end of
 * file, writes what it still holds and exits, and is reaped here (the launcher exec'd into this
 * JVM, so the filter is its child). Everything after, native output included, goes straight to
 * the terminal or file, after whatever the JVM printed while booting.
 */
final class LauncherStderr {
  static final String FD_PROPERTY = "kiln.stderr.fd";
  static final String FILTER_PROPERTY = "kiln.stderr.filter";
  private static final int WNOHANG = 1;
  private static final int WAIT_MS = 2000;

  private LauncherStderr() {}

  /**
   * Without the properties (tests, a plain {@code java} command) does nothing. If a call fails,
   * stderr simply keeps going through the filter, which passes everything on.
   */
  static void restore() {
    String fd = System.getProperty(FD_PROPERTY);
    if (fd == null) {
      return;
    }
    try {
      int saved = Integer.parseInt(fd);
      Linker linker = Linker.nativeLinker();
      MethodHandle dup2 = linker.downcallHandle(linker.defaultLookup().findOrThrow("dup2"),
          FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
      MethodHandle close = linker.downcallHandle(linker.defaultLookup().findOrThrow("close"),
          FunctionDescriptor.of(JAVA_INT, JAVA_INT));
      System.err.flush();
      if ((int) dup2.invokeExact(saved, 2) != 2) {
        return;
      }
      int closed = (int) close.invokeExact(saved);
      String filter = System.getProperty(FILTER_PROPERTY);
      if (filter != null) {
        MethodHandle waitpid = linker.downcallHandle(linker.defaultLookup().findOrThrow("waitpid"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        int pid = Integer.parseInt(filter);
        // it exits within milliseconds of its end of file; bounded in case something else holds the pipe
        for (long deadline = System.nanoTime() + WAIT_MS * 1_000_000L; System.nanoTime() < deadline; Thread.sleep(5)) {
          if ((int) waitpid.invokeExact(pid, MemorySegment.NULL, WNOHANG) != 0) {
            break;  // reaped, or not our child (-1)
          }
        }
      }
    } catch (Throwable e) {
      // stderr keeps going through the launcher's filter
    }
  }
}
