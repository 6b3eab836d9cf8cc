// The tuning cache: winning schedule knobs per (device, kernel, shape), kept as JSON at
// $KILN_CACHE/tuning.json (default ~/.cache/kiln/tuning.json). Written atomically by `kiln tune`,
// read by every session (CPU and CUDA). Knobs are kept as text ("nr=3 mb=64 kb=256",
// "bm=128 bn=128 bk=32 wm=64 wn=32 stages=3"); each backend parses its own.
package kiln.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import kiln.runtime.format.AtomicFiles;

public final class TuningCache {
  /** One winner: its knobs, and the median times of the winner and of the default, in ms. */
  public record Entry(String device, String kernel, String shape, String knobs, double ms, double defaultMs) {
    String key() { return key(device, kernel, shape); }

    static String key(String device, String kernel, String shape) { return device + "|" + kernel + "|" + shape; }
  }

  private static final Pattern ENTRY = Pattern.compile(
      "\\{\"device\": \"([^\"]*)\", \"kernel\": \"([^\"]*)\", \"shape\": \"([^\"]*)\", \"knobs\": \"([^\"]*)\", "
          + "\"ms\": ([0-9.eE+-]+), \"default_ms\": ([0-9.eE+-]+)\\}");

  private final Path file;
  private final Map<String, Entry> entries = new LinkedHashMap<>();

  private TuningCache(Path file) { this.file = file; }

  public static Path defaultFile() { return cacheRoot().resolve("tuning.json"); }

  /** Where kiln caches what it compiles and tunes: $KILN_CACHE, or ~/.cache/kiln. */
  public static Path cacheRoot() { return Path.of(System.getenv().getOrDefault("KILN_CACHE", System.getProperty("user.home") + "/.cache/kiln")); }

  /** Reads the cache; a missing file is an empty cache, an unreadable one is reported and ignored. */
  public static TuningCache load(Path file) {
    TuningCache c = new TuningCache(file);
    if (!Files.isRegularFile(file)) return c;
    try {
      Matcher m = ENTRY.matcher(Files.readString(file, StandardCharsets.UTF_8));
      while (m.find()) {
        Entry e = new Entry(m.group(1), m.group(2), m.group(3), m.group(4), Double.parseDouble(m.group(5)), Double.parseDouble(m.group(6)));
        c.entries.put(e.key(), e);
      }
    } catch (IOException | NumberFormatException e) {
      System.err.println("kiln: tuning cache " + file + " unreadable (" + e.getMessage() + "); using default schedules");
    }
    return c;
  }

  public Path file() { return file; }

  public int size() { return entries.size(); }

  /** The winning knobs for (device, kernel, shape), or null when that was never tuned. */
  public String find(String device, String kernel, String shape) {
    Entry e = entries.get(Entry.key(device, kernel, shape));
    return e == null ? null : e.knobs();
  }

  public void put(Entry e) { entries.put(e.key(), e); }

  public void save() {
    List<String> lines = new ArrayList<>();
    for (Entry e : entries.values()) {
      lines.add(String.format(java.util.Locale.ROOT,
          "  {\"device\": \"%s\", \"kernel\": \"%s\", \"shape\": \"%s\", \"knobs\": \"%s\", \"ms\": %.4f, \"default_ms\": %.4f}",
          e.device(), e.kernel(), e.shape(), e.knobs(), e.ms(), e.defaultMs()));
    }
    String json = "{\"entries\": [\n" + String.join(",\n", lines) + "\n]}\n";
    try {
      Files.createDirectories(file.getParent());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(file + ": cannot write: " + e.getMessage(), e);
    }
    AtomicFiles.write(file, out -> out.write(json.getBytes(StandardCharsets.UTF_8)));
  }

  /** What a CPU tuning result depends on: the processor, the vector width and the thread count. */
  public static String cpuDevice(int threads) {
    String model = "cpu";
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) { model = line.substring(line.indexOf(':') + 1).strip(); break; }
      }
    } catch (IOException e) {
      model = System.getProperty("os.arch");
    }
    return "cpu " + model.replace('"', '\'') + ", " + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() + " lanes, "
        + threads + " threads";
  }
}
