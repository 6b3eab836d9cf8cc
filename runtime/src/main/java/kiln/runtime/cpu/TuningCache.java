// The tuning cache: winning schedule knobs per (device, kernel, shape), kept as JSON at
// $KILN_CACHE/tuning.json (default ~/.cache/kiln/tuning.json). Written atomically by `kiln tune`,
// read by every CPU session.
package kiln.runtime.cpu;

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
import kiln.codegen.Schedule;
import kiln.runtime.format.AtomicFiles;

public final class TuningCache {
  /** One winner: its knobs, and the median times of the winner and of the default, in ms. */
  public record Entry(String device, String kernel, String shape, int nr, int mb, int kb, double ms, double defaultMs) {
    String key() { return key(device, kernel, shape); }

    static String key(String device, String kernel, String shape) { return device + "|" + kernel + "|" + shape; }

    Schedule schedule(int lanes) { return new Schedule(4, nr, mb, kb, lanes); }
  }

  private static final Pattern ENTRY = Pattern.compile(
      "\\{\"device\": \"([^\"]*)\", \"kernel\": \"([^\"]*)\", \"shape\": \"([^\"]*)\", \"nr\": (\\d+), \"mb\": (\\d+), \"kb\": (\\d+), "
          + "\"ms\": ([0-9.eE+-]+), \"default_ms\": ([0-9.eE+-]+)\\}");

  private final Path file;
  private final Map<String, Entry> entries = new LinkedHashMap<>();

  private TuningCache(Path file) { this.file = file; }

  public static Path defaultFile() {
    String base = System.getenv().getOrDefault("KILN_CACHE", System.getProperty("user.home") + "/.cache/kiln");
    return Path.of(base, "tuning.json");
  }

  /** Reads the cache; a missing file is an empty cache, an unreadable one is reported and ignored. */
  public static TuningCache load(Path file) {
    TuningCache c = new TuningCache(file);
    if (!Files.isRegularFile(file)) return c;
    try {
      Matcher m = ENTRY.matcher(Files.readString(file, StandardCharsets.UTF_8));
      while (m.find()) {
        Entry e = new Entry(m.group(1), m.group(2), m.group(3), Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)),
            Integer.parseInt(m.group(6)), Double.parseDouble(m.group(7)), Double.parseDouble(m.group(8)));
        c.entries.put(e.key(), e);
      }
    } catch (IOException | NumberFormatException e) {
      System.err.println("kiln: tuning cache " + file + " unreadable (" + e.getMessage() + "); using default schedules");
    }
    return c;
  }

  public Path file() { return file; }

  public int size() { return entries.size(); }

  public Schedule find(String device, String kernel, String shape, int lanes) {
    Entry e = entries.get(Entry.key(device, kernel, shape));
    return e == null ? null : e.schedule(lanes);
  }

  public void put(Entry e) { entries.put(e.key(), e); }

  public void save() {
    List<String> lines = new ArrayList<>();
    for (Entry e : entries.values()) {
      lines.add(String.format(java.util.Locale.ROOT,
          "  {\"device\": \"%s\", \"kernel\": \"%s\", \"shape\": \"%s\", \"nr\": %d, \"mb\": %d, \"kb\": %d, \"ms\": %.4f, \"default_ms\": %.4f}",
          e.device(), e.kernel(), e.shape(), e.nr(), e.mb(), e.kb(), e.ms(), e.defaultMs()));
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
