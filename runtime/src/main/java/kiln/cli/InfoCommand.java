// `kiln info`: the JVM, CPU, Vector API width, CUDA driver and devices, NVRTC and cache dirs this machine offers.
package kiln.cli;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import kiln.runtime.data.DefaultCorpus;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "info", mixinStandardHelpOptions = true,
    description = {"Print what this machine offers kiln.", "JDK, CPU cores, heap, Vector API width, CUDA driver and devices, NVRTC, cache dirs."},
    footer = {"", "Example:", "  ./kiln info"})
final class InfoCommand implements Callable<Integer> {
  /** NVRTC sonames, newest first; dlopen searches LD_LIBRARY_PATH and the ld.so cache. */
  static final List<String> NVRTC_NAMES = List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so");
  static final int ATTR_CC_MAJOR = 75;
  static final int ATTR_CC_MINOR = 76;
  static final int ATTR_SM_COUNT = 16;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Runtime rt = Runtime.getRuntime();
    row(out, "kiln", Main.VERSION);
    row(out, "java", Runtime.version() + " (" + System.getProperty("java.vendor") + ", " + System.getProperty("java.vm.name") + ")");
    row(out, "os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
    row(out, "cpu", rt.availableProcessors() + " cores" + cpuModel().map(m -> " (" + m + ")").orElse(""));
    row(out, "heap", "max " + gib(rt.maxMemory()));
    row(out, "vector", vector());
    List<String> cuda = cuda();
    row(out, "cuda", cuda.getFirst());
    cuda.stream().skip(1).forEach(line -> row(out, "", line));
    row(out, "nvrtc", nvrtc());
    Path cache = cacheDir();
    List<String> caches = caches(cache);
    row(out, "cache", cache + (caches.isEmpty() ? (Files.isDirectory(cache) ? " (empty)" : " (not created yet)") : ""));
    caches.forEach(line -> row(out, "", line));
    row(out, "corpus", DefaultCorpus.defaultDir() + (isPrepared() ? " (prepared)" : " (prepared on first `kiln train`)"));
    out.flush();
    return 0;
  }

  static Path cacheDir() {
    return Path.of(System.getProperty("user.home"), ".cache", "kiln");
  }

  private static void row(PrintWriter out, String key, String value) {
    out.printf("%-8s %s%n", key, value);
  }

  static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
  }

  private static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
  }

  private static boolean isPrepared() {
    try {
      return DefaultCorpus.isPrepared(DefaultCorpus.defaultDir());
    } catch (IOException e) {
      return false;
    }
  }

  private static Optional<String> cpuModel() {
    try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
      return lines.filter(l -> l.startsWith("model name")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).strip());
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  static String vector() {
    try {
      return VectorProbe.describe();
    } catch (LinkageError e) {
      return "unavailable (start the JVM with --add-modules jdk.incubator.vector)";
    }
  }

  /** Kept apart so that a JVM without jdk.incubator.vector fails here, inside vector()'s try. */
  private static final class VectorProbe {
    static String describe() {
      return "FloatVector.SPECIES_PREFERRED = " + FloatVector.SPECIES_PREFERRED.length() + " floats ("
          + FloatVector.SPECIES_PREFERRED.vectorBitSize() + " bits)";
    }
  }

  /** First line: driver and device count, or "none (...)"; then one line per device. */
  static List<String> cuda() {
    SymbolLookup lib;
    try {
      // Arena.global(): never dlclose the driver, which does not expect to be unloaded after cuInit.
      lib = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
    } catch (IllegalArgumentException e) {
      return List.of("none (no libcuda.so.1: no NVIDIA driver on this machine)");
    }
    try (Arena arena = Arena.ofConfined()) {
      MethodHandle cuGetErrorName = fn(lib, "cuGetErrorName", JAVA_INT, ADDRESS);
      int rc = (int) fn(lib, "cuInit", JAVA_INT).invokeExact(0);
      if (rc != 0) {
        return List.of("none (libcuda.so.1 found; cuInit: " + errorName(cuGetErrorName, rc, arena) + ")");
      }
      MemorySegment n = arena.allocate(JAVA_INT);
      check((int) fn(lib, "cuDriverGetVersion", ADDRESS).invokeExact(n), "cuDriverGetVersion");
      int version = n.get(JAVA_INT, 0);
      check((int) fn(lib, "cuDeviceGetCount", ADDRESS).invokeExact(n), "cuDeviceGetCount");
      int count = n.get(JAVA_INT, 0);
      List<String> lines = new ArrayList<>();
      lines.add(String.format("driver %d.%d, %d device%s", version / 1000, version % 1000 / 10, count, count == 1 ? "" : "s"));
      MethodHandle getDevice = fn(lib, "cuDeviceGet", ADDRESS, JAVA_INT);
      MethodHandle getName = fn(lib, "cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
      MethodHandle totalMem = fn(lib, "cuDeviceTotalMem_v2", ADDRESS, JAVA_INT);
      MethodHandle attribute = fn(lib, "cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
      MemorySegment name = arena.allocate(256);
      MemorySegment bytes = arena.allocate(JAVA_LONG);
      MemorySegment major = arena.allocate(JAVA_INT);
      MemorySegment minor = arena.allocate(JAVA_INT);
      MemorySegment sms = arena.allocate(JAVA_INT);
      for (int i = 0; i < count; i++) {
        check((int) getDevice.invokeExact(n, i), "cuDeviceGet");
        int dev = n.get(JAVA_INT, 0);
        check((int) getName.invokeExact(name, (int) name.byteSize(), dev), "cuDeviceGetName");
        check((int) totalMem.invokeExact(bytes, dev), "cuDeviceTotalMem");
        check((int) attribute.invokeExact(major, ATTR_CC_MAJOR, dev), "cuDeviceGetAttribute");
        check((int) attribute.invokeExact(minor, ATTR_CC_MINOR, dev), "cuDeviceGetAttribute");
        check((int) attribute.invokeExact(sms, ATTR_SM_COUNT, dev), "cuDeviceGetAttribute");
        lines.add(String.format("[%d] %s  sm_%d%d  %d SMs  %s", i, name.getString(0), major.get(JAVA_INT, 0),
            minor.get(JAVA_INT, 0), sms.get(JAVA_INT, 0), gib(bytes.get(JAVA_LONG, 0))));
      }
      return lines;
    } catch (Throwable t) {
      return List.of("none (libcuda.so.1 found, but probing it failed: " + t.getMessage() + ")");
    }
  }

  /** Which NVRTC library loads, with its version, or "none". */
  static String nvrtc() {
    List<Path> candidates = new ArrayList<>();
    NVRTC_NAMES.forEach(soname -> candidates.add(Path.of(soname)));
    List<String> homes = new ArrayList<>();
    Optional.ofNullable(System.getenv("CUDA_HOME")).ifPresent(homes::add);
    homes.add("/usr/local/cuda");
    for (String home : homes) {
      for (String dir : List.of("lib64", "lib")) {
        NVRTC_NAMES.forEach(soname -> candidates.add(Path.of(home, dir, soname)));
      }
    }
    for (Path candidate : candidates) {
      SymbolLookup lib;
      try {
        lib = candidate.isAbsolute()
            ? SymbolLookup.libraryLookup(candidate, Arena.global())
            : SymbolLookup.libraryLookup(candidate.toString(), Arena.global());
      } catch (IllegalArgumentException e) {
        continue;
      }
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment major = arena.allocate(JAVA_INT);
        MemorySegment minor = arena.allocate(JAVA_INT);
        int rc = (int) fn(lib, "nvrtcVersion", ADDRESS, ADDRESS).invokeExact(major, minor);
        return candidate + (rc == 0 ? " (NVRTC " + major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0) + ")" : "");
      } catch (Throwable t) {
        return candidate + " (nvrtcVersion failed: " + t.getMessage() + ")";
      }
    }
    return "none (tried " + String.join(", ", NVRTC_NAMES) + " and /usr/local/cuda/lib64)";
  }

  /** The subdirectories of the cache, each with its size. */
  private static List<String> caches(Path root) {
    if (!Files.isDirectory(root)) {
      return List.of();
    }
    try (Stream<Path> children = Files.list(root)) {
      return children.sorted().map(c -> String.format("  %-14s %s", c.getFileName(), mib(size(c)))).toList();
    } catch (IOException e) {
      return List.of("  (unreadable: " + e.getMessage() + ")");
    }
  }

  private static long size(Path p) {
    try (Stream<Path> files = Files.walk(p)) {
      return files.filter(Files::isRegularFile).mapToLong(f -> {
        try {
          return Files.size(f);
        } catch (IOException e) {
          return 0;
        }
      }).sum();
    } catch (IOException e) {
      return 0;
    }
  }

  private static MethodHandle fn(SymbolLookup lib, String name, MemoryLayout... args) {
    return Linker.nativeLinker().downcallHandle(lib.findOrThrow(name), FunctionDescriptor.of(JAVA_INT, args));
  }

  private static void check(int rc, String call) {
    if (rc != 0) {
      throw new IllegalStateException(call + " returned CUresult " + rc);
    }
  }

  private static String errorName(MethodHandle cuGetErrorName, int rc, Arena arena) throws Throwable {
    MemorySegment out = arena.allocate(ADDRESS);
    if ((int) cuGetErrorName.invokeExact(rc, out) != 0) {
      return "CUresult " + rc;
    }
    return out.get(ADDRESS, 0).reinterpret(256).getString(0) + " (" + rc + ")";
  }
}
