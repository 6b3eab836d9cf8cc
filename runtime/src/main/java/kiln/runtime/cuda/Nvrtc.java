// NVRTC bound through java.lang.foreign (JCuda's JNvrtc needs libnvrtc.so.12 and CUDA 13 ships .so.13):
// compiles CUDA C++ to a cubin for one sm_XX, caches cubins on disk by content hash, and turns a
// compile error into a message holding NVRTC's log and the offending source lines.
package kiln.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import kiln.runtime.format.AtomicFiles;

public final class Nvrtc {
  /** Options every compile gets; no --use_fast_math: results are checked against PyTorch. */
  public static final List<String> DEFAULT_OPTIONS = List.of("-default-device", "--std=c++17", "-lineinfo");

  /** Source lines shown on each side of an error line. */
  static final int CONTEXT_LINES = 2;

  private static final int NVRTC_SUCCESS = 0;

  public record Version(int major, int minor) {
    @Override
    public String toString() { return major + "." + minor; }
  }

  private final Path cacheDir; // null: no disk cache
  private int cold, warm;
  private long coldNanos, warmNanos;

  /** A compiler whose cubins are cached under cacheDir (created on first write); null disables the cache. */
  public Nvrtc(Path cacheDir) { this.cacheDir = cacheDir; }

  /** Cubins under $KILN_CACHE/cubin, or ~/.cache/kiln/cubin. */
  public static Nvrtc defaultCache() { return new Nvrtc(defaultCacheDir()); }

  public static Path defaultCacheDir() { return kiln.runtime.TuningCache.cacheRoot().resolve("cubin"); }

  /** True when a libnvrtc was found and bound; never throws. */
  public static boolean available() { return Lib.FOUND.bound() != null; }

  /** Why NVRTC is not available: every path tried and what failed; empty when it is. */
  public static String unavailableReason() { return Lib.FOUND.failure(); }

  /** The library that was loaded, as it was named to dlopen. */
  public static String libraryPath() { return lib().path; }

  public static Version version() { return lib().version; }

  /** The full option list NVRTC gets for arch (e.g. "sm_90"), then KILN_NVRTC_OPTIONS (space-separated, for experiments). */
  public static List<String> options(String arch) {
    if (!arch.matches("sm_\\d+[a-z]?")) throw new IllegalArgumentException("arch must look like sm_90, found '" + arch + "'");
    List<String> options = new ArrayList<>();
    options.add("--gpu-architecture=" + arch);
    options.addAll(DEFAULT_OPTIONS);
    String env = System.getenv("KILN_NVRTC_OPTIONS");
    if (env != null && !env.isBlank()) options.addAll(List.of(env.strip().split("\\s+")));
    return options;
  }

  /** A source marks itself with this line when it uses sm_90a-only instructions (wgmma, setmaxnreg). */
  public static final String SM90A_MARKER = "// kiln: sm_90a";

  /** The architecture a source compiles for on a device of arch: sm_90a for marked sources on sm_90, else arch. */
  static String archFor(String source, String arch) {
    return arch.equals("sm_90") && source.contains(SM90A_MARKER) ? "sm_90a" : arch;
  }

  public synchronized CompileStats stats() {
    return new CompileStats(cold, coldNanos / 1e6, warm, warmNanos / 1e6);
  }

  /**
   * A cubin for source, from the cache when an identical compile (source, name, options, arch, NVRTC
   * version) was done before. A compile error throws CudaException with the log and the lines it names.
   */
  public byte[] compile(String source, String name, String arch) {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(name, "name");
    List<String> options = options(archFor(source, arch));
    Lib lib = lib();
    long start = System.nanoTime();
    Path cached = cacheDir == null ? null : cacheDir.resolve(cacheKey(source, name, options, lib.version) + ".cubin");
    if (cached != null) {
      byte[] hit = readCached(cached);
      if (hit != null) {
        record(false, System.nanoTime() - start);
        return hit;
      }
    }
    byte[] cubin = lib.compile(source, name, options);
    if (cached != null) writeCached(cached, cubin);
    record(true, System.nanoTime() - start);
    return cubin;
  }

  /**
   * Compiles every source in parallel over the host's cores; the result keeps the input's order.
   * If any fail, throws one CudaException holding every failure's message.
   */
  public Map<String, byte[]> compileAll(Map<String, String> nameToSource, String arch) {
    List<String> options = options(arch); // reject a bad arch before starting threads
    long uncached = !available() ? 0 : nameToSource.entrySet().stream().filter(e -> cacheDir == null
        || !Files.isRegularFile(cacheDir.resolve(cacheKey(e.getValue(), e.getKey(), options, lib().version) + ".cubin"))).count();
    if (uncached > 0) {
      // NVRTC takes seconds per kernel, once per change: say so rather than sit silent
      System.err.printf("kiln: compiling %d CUDA kernel%s with NVRTC for %s (once%s)...%n", uncached, uncached == 1 ? "" : "s", arch,
          cacheDir == null ? "" : "; cached in " + cacheDir);
    }
    Map<String, Future<byte[]>> futures = new LinkedHashMap<>();
    int threads = Math.max(1, Math.min(nameToSource.size(), Runtime.getRuntime().availableProcessors()));
    try (ExecutorService pool = Executors.newFixedThreadPool(threads, Thread.ofPlatform().daemon().name("kiln-nvrtc").factory())) {
      nameToSource.forEach((name, source) -> futures.put(name, pool.submit(() -> compile(source, name, arch))));
    }
    Map<String, byte[]> cubins = new LinkedHashMap<>();
    List<Throwable> failures = new ArrayList<>();
    futures.forEach((name, future) -> {
      try {
        cubins.put(name, future.get());
      } catch (ExecutionException e) {
        failures.add(e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CudaException("interrupted while compiling " + name, e);
      }
    });
    if (failures.size() == 1 && failures.getFirst() instanceof CudaException e) throw e;
    if (!failures.isEmpty()) {
      StringBuilder message = new StringBuilder(failures.size() + " of " + nameToSource.size() + " kernels failed to compile");
      for (Throwable t : failures) message.append("\n\n").append(t.getMessage());
      CudaException all = new CudaException(message.toString());
      failures.forEach(all::addSuppressed);
      throw all;
    }
    return cubins;
  }

  /** compileAll for cuda's arch, then each cubin loaded on cuda: function name to its module, in the input's order. */
  public Map<String, Cuda.Module> load(Map<String, String> nameToSource, Cuda cuda) {
    Map<String, Cuda.Module> modules = new LinkedHashMap<>();
    compileAll(nameToSource, cuda.arch()).forEach((name, cubin) -> modules.put(name, cuda.load(name, cubin)));
    return modules;
  }

  private synchronized void record(boolean compiled, long nanos) {
    if (compiled) { cold++; coldNanos += nanos; }
    else { warm++; warmNanos += nanos; }
  }

  static String cacheKey(String source, String name, List<String> options, Version version) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(("nvrtc " + version + "\0" + name + "\0" + String.join("\0", options) + "\0").getBytes(StandardCharsets.UTF_8));
      sha.update(source.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError("every JDK has SHA-256", e);
    }
  }

  private static byte[] readCached(Path file) {
    try {
      if (!Files.isRegularFile(file)) return null;
      byte[] bytes = Files.readAllBytes(file);
      return bytes.length == 0 ? null : bytes;
    } catch (IOException e) {
      return null;
    }
  }

  /** Written atomically: a reader sees the whole cubin or none. A cache that can't be written is skipped. */
  private static void writeCached(Path file, byte[] cubin) {
    try {
      Files.createDirectories(file.getParent());
      AtomicFiles.write(file, out -> out.write(cubin));
    } catch (IOException | UncheckedIOException e) {
      System.err.println("kiln: cubin cache " + file.getParent() + " not writable (" + e.getMessage() + "); continuing without it");
    }
  }

  // ---- the message of a failed compile ----

  private static final Pattern ERROR_LINE = Pattern.compile("^(.*)\\((\\d+)\\): (?:catastrophic |fatal )?error\\b.*$", Pattern.MULTILINE);

  /** Line numbers (1-based) of the errors NVRTC's log reports in the file called name. */
  static SortedSet<Integer> errorLines(String log, String name) {
    SortedSet<Integer> lines = new TreeSet<>();
    Matcher m = ERROR_LINE.matcher(log);
    while (m.find()) {
      if (m.group(1).equals(name)) lines.add(Integer.parseInt(m.group(2)));
    }
    return lines;
  }

  /**
   * The source lines around each error line, numbered; error lines marked with '>', gaps with "...".
   * Empty when no line is in range.
   */
  static String excerpt(String source, SortedSet<Integer> errorLines, int context) {
    String[] lines = source.split("\n", -1);
    int width = String.valueOf(lines.length).length();
    StringBuilder out = new StringBuilder();
    int shownUpTo = 0; // last line number printed
    for (int error : errorLines) {
      if (error < 1 || error > lines.length) continue;
      int from = Math.max(Math.max(1, error - context), shownUpTo + 1);
      int to = Math.min(lines.length, error + context);
      if (shownUpTo > 0 && from > shownUpTo + 1) out.append("  ").append(" ".repeat(width)).append(" ...\n");
      for (int n = from; n <= to; n++) {
        String line = (errorLines.contains(n) ? "> " : "  ") + String.format("%" + width + "d", n) + " | " + lines[n - 1];
        out.append(line.stripTrailing()).append('\n');
      }
      shownUpTo = Math.max(shownUpTo, to);
    }
    return out.toString();
  }

  /** What a failed compile throws: status, options, NVRTC's log, then the offending source lines. */
  static String failureMessage(String name, String source, List<String> options, String status, String log) {
    StringBuilder m = new StringBuilder("NVRTC could not compile ").append(name).append(" (").append(status).append(")\n");
    m.append("options: ").append(String.join(" ", options)).append('\n');
    String trimmed = log.strip();
    m.append(trimmed.isEmpty() ? "(NVRTC wrote no log)" : trimmed).append('\n');
    String excerpt = excerpt(source, errorLines(log, name), CONTEXT_LINES);
    if (!excerpt.isEmpty()) m.append('\n').append(name).append(":\n").append(excerpt);
    return m.toString().stripTrailing();
  }

  // ---- the binding ----

  private static Lib lib() { return Lib.FOUND.get("NVRTC"); }

  /** Where to look for libnvrtc, in order: -Dkiln.nvrtc, $KILN_NVRTC, the loader's search path, then CUDA's default install. */
  static List<String> candidates() {
    return NativeLibrary.candidates("kiln.nvrtc", "KILN_NVRTC", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
        "/usr/local/cuda/lib64/libnvrtc.so.13", "/usr/local/cuda/lib64/libnvrtc.so.12", "/usr/local/cuda/lib64/libnvrtc.so");
  }

  private static final class Lib {
    static final NativeLibrary<Lib> FOUND = NativeLibrary.first(candidates(), Lib::new, "kiln.nvrtc", "KILN_NVRTC");

    final String path;
    final Version version;
    private final MethodHandle create, compileProgram, logSize, getLog, cubinSize, getCubin, errorString, destroy;

    private Lib(String path) throws Throwable {
      SymbolLookup lookup;
      if (path.contains("/")) {
        preloadBuiltins(Path.of(path).toAbsolutePath().getParent());
        lookup = SymbolLookup.libraryLookup(Path.of(path), Arena.global());
      } else {
        lookup = SymbolLookup.libraryLookup(path, Arena.global());
      }
      Linker linker = Linker.nativeLinker();
      MethodHandle versionFn = bind(linker, lookup, "nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
      create = bind(linker, lookup, "nvrtcCreateProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
      compileProgram = bind(linker, lookup, "nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
      logSize = bind(linker, lookup, "nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
      getLog = bind(linker, lookup, "nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
      cubinSize = bind(linker, lookup, "nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
      getCubin = bind(linker, lookup, "nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
      errorString = bind(linker, lookup, "nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
      destroy = bind(linker, lookup, "nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
      this.path = path;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment major = arena.allocate(JAVA_INT), minor = arena.allocate(JAVA_INT);
        int status = (int) versionFn.invokeExact(major, minor);
        if (status != NVRTC_SUCCESS) throw new IllegalStateException("nvrtcVersion returned " + status);
        this.version = new Version(major.get(JAVA_INT, 0), minor.get(JAVA_INT, 0));
      }
    }

    /**
     * NVRTC dlopens libnvrtc-builtins.so.X.Y by name at compile time, which fails when the library was
     * found by path outside the search path. Loading the one beside it first makes that dlopen find it.
     */
    private static void preloadBuiltins(Path dir) {
      if (dir == null) return;
      try (var files = Files.newDirectoryStream(dir, "libnvrtc-builtins.so.*")) {
        for (Path builtins : files) {
          if (builtins.getFileName().toString().matches("libnvrtc-builtins\\.so\\.\\d+\\.\\d+")) {
            SymbolLookup.libraryLookup(builtins, Arena.global());
          }
        }
      } catch (IOException | RuntimeException ignored) {
        // NVRTC's own error names the missing library if it matters
      }
    }

    private static MethodHandle bind(Linker linker, SymbolLookup lookup, String symbol, FunctionDescriptor descriptor) {
      MemorySegment address = lookup.find(symbol).orElseThrow(() -> new IllegalStateException("no symbol " + symbol));
      return linker.downcallHandle(address, descriptor);
    }

    String errorString(int status) { return NativeLibrary.errorString(errorString, status, "nvrtcResult"); }

    private void check(int status, String what) {
      if (status != NVRTC_SUCCESS) throw new CudaException(what + " failed: " + errorString(status));
    }

    byte[] compile(String source, String name, List<String> options) {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment progOut = arena.allocate(ADDRESS);
        check((int) create.invokeExact(progOut, arena.allocateFrom(source), arena.allocateFrom(name), 0,
            MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram(" + name + ")");
        MemorySegment prog = progOut.get(ADDRESS, 0);
        try {
          MemorySegment optionArray = arena.allocate(ADDRESS, options.size());
          for (int i = 0; i < options.size(); i++) optionArray.setAtIndex(ADDRESS, i, arena.allocateFrom(options.get(i)));
          int status = (int) compileProgram.invokeExact(prog, options.size(), optionArray);
          if (status != NVRTC_SUCCESS) {
            throw new CudaException(failureMessage(name, source, options, errorString(status), log(arena, prog)));
          }
          MemorySegment size = arena.allocate(JAVA_LONG);
          check((int) cubinSize.invokeExact(prog, size), "nvrtcGetCUBINSize(" + name + ")");
          MemorySegment cubin = arena.allocate(size.get(JAVA_LONG, 0));
          check((int) getCubin.invokeExact(prog, cubin), "nvrtcGetCUBIN(" + name + ")");
          return cubin.toArray(JAVA_BYTE);
        } finally {
          int ignored = (int) destroy.invokeExact(progOut);
        }
      } catch (CudaException e) {
        throw e;
      } catch (Throwable t) {
        throw new CudaException("NVRTC call failed while compiling " + name + ": " + t, t);
      }
    }

    private String log(Arena arena, MemorySegment prog) throws Throwable {
      MemorySegment size = arena.allocate(JAVA_LONG);
      if ((int) logSize.invokeExact(prog, size) != NVRTC_SUCCESS) return "";
      long n = size.get(JAVA_LONG, 0);
      if (n <= 1) return "";
      MemorySegment text = arena.allocate(n);
      if ((int) getLog.invokeExact(prog, text) != NVRTC_SUCCESS) return "";
      return text.getString(0);
    }
  }
}
