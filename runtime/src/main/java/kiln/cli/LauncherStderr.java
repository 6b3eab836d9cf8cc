// Undoes the launcher's boot-time stderr filter: ./kiln starts the JVM with stderr through a filter
// that drops the JDK's incubator notice, and the real stderr as -Dkiln.stderr.fd.
package kiln.cli;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

/**
 * The JDK prints "WARNING: Using incubator modules: jdk.incubator.vector" while it boots, before
 * any of kiln runs, and has no option to leave it out; so the launcher filters that one line. Once
 * booted, {@link #restore} moves the real stderr back onto fd 2 (dup2), so the filter ends and
 * everything after, native output included, goes straight to the terminal or file: nothing waits
 * in a pipe when the JVM exits.
 */
final class LauncherStderr {
  static final String PROPERTY = "kiln.stderr.fd";

  private LauncherStderr() {}

  /** Without the property (tests, a plain {@code java} command) does nothing; if dup2 fails, the filter simply stays. */
  static void restore() {
    String fd = System.getProperty(PROPERTY);
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
      if ((int) dup2.invokeExact(saved, 2) == 2) {
        int ignored = (int) close.invokeExact(saved);
      }
    } catch (Throwable e) {
      // stderr keeps going through the launcher's filter, which passes everything on
    }
  }
}
