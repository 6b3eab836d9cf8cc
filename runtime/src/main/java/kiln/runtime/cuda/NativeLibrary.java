// How Nvrtc and Nccl find their library: the path a system property or environment variable names,
// then the usual names, the first that binds kept (once, when the class that asks is first used).
package kiln.runtime.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/** A bound library, or null and why none was: every path tried and what failed. */
public record NativeLibrary<T>(T bound, String failure) {
  /** Binds the library at path (a file path, or a bare name for the loader's search); throws when it cannot. */
  public interface Binder<T> {
    T bind(String path) throws Throwable;
  }

  /** Where to look, in order: -Dproperty, then $env, then names. */
  public static List<String> candidates(String property, String env, String... names) {
    List<String> paths = new ArrayList<>();
    String configured = System.getProperty(property, System.getenv(env));
    if (configured != null && !configured.isBlank()) paths.add(configured);
    paths.addAll(List.of(names));
    return paths;
  }

  /** The first of candidates (from candidates(property, env, ...)) that binds. */
  public static <T> NativeLibrary<T> first(List<String> candidates, Binder<T> binder, String property, String env) {
    StringBuilder tried = new StringBuilder();
    for (String path : candidates) {
      try {
        return new NativeLibrary<>(binder.bind(path), "");
      } catch (Throwable t) {
        tried.append(tried.isEmpty() ? "tried " : "; ").append(path).append(" (").append(t.getMessage()).append(')');
      }
    }
    return new NativeLibrary<>(null, tried + " (set -D" + property + " or " + env + " to the library's path)");
  }

  /** What a library's error-string function (const char* f(int)) says of status; the type's name and the bare number where it says nothing. */
  public static String errorString(MethodHandle function, int status, String type) {
    try {
      MemorySegment s = (MemorySegment) function.invokeExact(status);
      return s.equals(MemorySegment.NULL) ? type + " " + status : s.reinterpret(4096).getString(0);
    } catch (Throwable t) {
      return type + " " + status;
    }
  }

  /** The bound library; without one a CudaException saying what (NVRTC, NCCL) is not available and why. */
  public T get(String what) {
    if (bound == null) throw new CudaException(what + " is not available: " + failure);
    return bound;
  }
}
