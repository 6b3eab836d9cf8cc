// `kiln info`: the JVM, CPU, Vector API width, CUDA driver and devices, NVRTC and cache dirs this machine offers.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;
import jdk.incubator.vector.FloatVector;
import kiln.runtime.cuda.Cuda;
import kiln.runtime.cuda.Nvrtc;
import kiln.runtime.data.DefaultCorpus;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "info", mixinStandardHelpOptions = true,
    description = {"Print what this machine offers kiln.", "JDK, CPU cores, heap, Vector API width, CUDA driver and devices, NVRTC, cache dirs."},
    footer = {"", "Example:", "  ./kiln info"})
final class InfoCommand implements Callable<Integer> {
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

  /** First line: driver and device count, or "none (...)"; then one line per device (no context is created). */
  static List<String> cuda() {
    if (!Cuda.available()) {
      return List.of("none (" + Cuda.unavailableReason() + ")");
    }
    try {
      int count = Cuda.deviceCount();
      List<String> lines = new ArrayList<>();
      lines.add(String.format("driver %s, %d device%s", Cuda.driverVersion(), count, count == 1 ? "" : "s"));
      for (int i = 0; i < count; i++) {
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, i);
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, dev);
        long[] bytes = new long[1];
        JCudaDriver.cuDeviceTotalMem(bytes, dev);
        lines.add(String.format("[%d] %s  sm_%d%d  %d SMs  %s", i, new String(name, StandardCharsets.UTF_8).split("\0")[0],
            attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), gib(bytes[0])));
      }
      return lines;
    } catch (RuntimeException e) {
      return List.of("none (the CUDA driver loaded, but probing it failed: " + e.getMessage() + ")");
    }
  }

  private static int attribute(CUdevice dev, int attribute) {
    int[] value = new int[1];
    JCudaDriver.cuDeviceGetAttribute(value, attribute, dev);
    return value[0];
  }

  /** The NVRTC library kiln compiles with (KILN_NVRTC, else the first soname or /usr/local/cuda path that loads), or "none". */
  static String nvrtc() {
    if (Nvrtc.available()) {
      return Nvrtc.libraryPath() + " (NVRTC " + Nvrtc.version() + ")";
    }
    return "none (no libnvrtc.so.13, .so.12 or .so loads, nor from /usr/local/cuda/lib64; KILN_NVRTC sets its path)";
  }

  /** The subdirectories of the cache, each with its size. */
  private static List<String> caches(Path root) {
    if (!Files.isDirectory(root)) {
      return List.of();
    }
    try (Stream<Path> children = Files.list(root)) {
      return children.sorted().map(c -> String.format(Locale.ROOT, "  %-14s %.1f MiB", c.getFileName(), size(c) / (double) (1L << 20))).toList();
    } catch (IOException e) {
      return List.of("  (unreadable: " + e.getMessage() + ")");
    }
  }

  /** The bytes of the regular files under p (File.length: 0 for one that cannot be read). */
  private static long size(Path p) {
    try (Stream<Path> files = Files.walk(p)) {
      return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
    } catch (IOException e) {
      return 0;
    }
  }
}
