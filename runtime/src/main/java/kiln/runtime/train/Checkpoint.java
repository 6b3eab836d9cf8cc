// A training checkpoint: directory ckpt_<step>/ with model.bin (the family's format), state.bin (AdamW) and train.txt.
package kiln.runtime.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import kiln.runtime.Models;
import kiln.runtime.data.DataLoader;
import kiln.runtime.format.AtomicFiles;
import kiln.runtime.format.Finite;
import kiln.runtime.format.FormatException;
import kiln.runtime.format.ModelFile;
import kiln.runtime.format.StateFile;

/**
 * Layout of {@code ckpt_<step>/}, where step counts the finished training steps:
 * <ul>
 *   <li>{@code model.bin}: the parameters in the model family's file ({@link ModelFiles}): an llm.c
 *       version 3 (fp32) file for GPT-2, so llm.c, {@code kiln verify} and {@code kiln sample} read
 *       it as is; kiln's Llama file for Llama. Its magic says which, so resuming needs no flag;
 *   <li>{@code state.bin}: AdamW's step and moments m and v ({@link StateFile});
 *   <li>{@code train.txt}: {@code key = value} lines: the run's {@link TrainOptions}, then where it
 *       stands ({@link Position}), then the CRC32C of model.bin and state.bin ({@code crc32c-model.bin},
 *       {@code crc32c-state.bin}, 8 hex digits), which every load checks first. Checkpoints written
 *       before kiln recorded checksums have none and load without that check.
 * </ul>
 * Each file is written atomically into a temporary sibling directory, which is renamed to
 * {@code ckpt_<step>} last: a crash leaves either the whole checkpoint or none, and a failed write
 * (a full disk) removes the temporary directory. Loaded parameters and AdamW moments must be finite
 * (and v >= 0); the first bad value is named by tensor and byte offset.
 */
public final class Checkpoint {
  static final int HEADER_INTS = 256;
  static final String MODEL = "model.bin";
  static final String STATE = "state.bin";
  static final String TRAIN = "train.txt";
  private static final Pattern NAME = Pattern.compile("ckpt_(\\d+)");
  private static final String CRC = "crc32c-";
  /** train.txt keys no resume may change: two checkpoints that differ in one come from different runs. */
  private static final List<String> RUN_IDENTITY = List.of("model", "data", "batch", "seq", "lr", "min-lr-frac", "weight-decay",
      "grad-clip", "seed");

  private Checkpoint() {}

  /**
   * Where a run stands after {@code step} finished steps: AdamW's t (steps that updated), the data
   * loader's next batch, and the guardrail's memory.
   */
  public record Position(int step, int adamT, DataLoader.Position data, int skippedInARow, double[] recentNorms) {}

  /** A checkpoint read back whole. */
  public record Loaded(Path dir, Models.Shape shape, float[] params, float[] m, float[] v, TrainOptions options, Position position) {}

  /** What a checkpoint saves from the session: parameters and AdamW's m and v, all in the family's parameter order. */
  public record State(float[] params, float[] m, float[] v) {}

  public static Path dir(Path runDir, int step) {
    return runDir.resolve("ckpt_" + step);
  }

  /**
   * Writes {@code runDir/ckpt_<step>}, replacing one already there. Returns its path. On failure nothing of the new
   * checkpoint stays behind (an older one of the same step is left as it was) and the message names the path.
   */
  public static Path write(Path runDir, Models.Shape shape, State s, TrainOptions options, Position p) {
    Path target = dir(runDir, p.step()).toAbsolutePath();
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    boolean done = false;
    try {
      AtomicFiles.deleteTree(tmp);
      Files.createDirectories(tmp);
      ModelFile.write(tmp.resolve(MODEL), shape, s.params());
      writeState(tmp.resolve(STATE), s, p.adamT());
      Map<String, String> kv = new LinkedHashMap<>(options.toMap());
      kv.putAll(positionMap(p));
      for (String name : List.of(MODEL, STATE)) {
        kv.put(CRC + name, crc32c(tmp.resolve(name)));
      }
      AtomicFiles.write(tmp.resolve(TRAIN), out -> out.write(lines(kv).getBytes(StandardCharsets.UTF_8)));
      if (Files.exists(target)) {
        Path old = target.resolveSibling(target.getFileName() + ".old");
        AtomicFiles.deleteTree(old);
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        try {
          Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
          Files.move(old, target, StandardCopyOption.ATOMIC_MOVE); // the one it was to replace stays
          throw e;
        }
        AtomicFiles.deleteTree(old);
      } else {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      }
      done = true;
      return target;
    } catch (IOException | UncheckedIOException e) {
      IOException cause = e instanceof UncheckedIOException u ? u.getCause() : (IOException) e;
      String why = e instanceof UncheckedIOException ? e.getMessage() : FormatException.describe(cause);
      throw new UncheckedIOException(target + ": cannot write the checkpoint (" + why + "); nothing of it was kept: free space"
          + " on that disk or pass another --out", cause);
    } finally {
      if (!done) {
        try {
          AtomicFiles.deleteTree(tmp);
        } catch (IOException | UncheckedIOException ignored) {
          // the write's own failure is the one to report
        }
      }
    }
  }

  /** CRC32C of a whole file, as 8 lowercase hex digits. */
  static String crc32c(Path file) throws IOException {
    CRC32C crc = new CRC32C();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
      while (ch.read(buf.clear()) >= 0) {
        crc.update(buf.flip());
      }
    }
    return String.format("%08x", crc.getValue());
  }

  /**
   * When {@code file} lies in a checkpoint whose train.txt records its CRC32C, checks it: a file changed after it was
   * written (a disk error, bytes overwritten) fails with one line instead of loading. Other files pass unchecked.
   */
  public static void verifyRecorded(Path file) {
    Path parent = file.toAbsolutePath().getParent();
    Path trainFile = parent == null ? null : parent.resolve(TRAIN);
    if (trainFile == null || !Files.isRegularFile(trainFile) || !Files.isRegularFile(file)) {
      return;
    }
    String recorded = readLines(trainFile).get(CRC + file.getFileName());
    if (recorded == null) {
      return;
    }
    String found;
    try {
      found = crc32c(file);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read: " + FormatException.describe(e), e);
    }
    if (!found.equals(recorded)) {
      throw new FormatException(file, "CRC32C", recorded + " (as " + trainFile + " records)", found + "; the file changed after"
          + " it was written (a disk error or an edit): use another checkpoint of the run");
    }
  }

  private static Map<String, String> positionMap(Position p) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("step", Integer.toString(p.step()));
    m.put("adam-t", Integer.toString(p.adamT()));
    m.put("data-shard", Integer.toString(p.data().shard()));
    m.put("data-offset", Integer.toString(p.data().offset()));
    m.put("skipped-in-a-row", Integer.toString(p.skippedInARow()));
    m.put("recent-grad-norms", String.join(" ", Arrays.stream(p.recentNorms()).mapToObj(Double::toString).toList()));
    return m;
  }

  private static String lines(Map<String, String> kv) {
    StringBuilder sb = new StringBuilder("# kiln training checkpoint: the run's options, then where it stands\n");
    kv.forEach((k, v) -> sb.append(k).append(" = ").append(v).append('\n'));
    return sb.toString();
  }

  private static void writeState(Path file, State s, int adamT) {
    if (s.m().length != s.params().length || s.v().length != s.params().length) {
      throw new IllegalArgumentException(file + ": m and v must have as many values as the params (" + s.params().length
          + "), got " + s.m().length + " and " + s.v().length);
    }
    StateFile.write(file, adamT, s.m(), s.v());
  }

  /**
   * Reads a checkpoint directory; every file must be present, match the checksum train.txt records, hold finite values
   * and be consistent with the others.
   */
  public static Loaded read(Path dir) {
    for (String name : List.of(MODEL, STATE, TRAIN)) {
      if (!Files.isRegularFile(dir.resolve(name))) {
        throw new IllegalArgumentException(dir + ": not a kiln checkpoint (no " + name + ")");
      }
    }
    Path trainFile = dir.resolve(TRAIN);
    Map<String, String> kv = readLines(trainFile);
    if (kv.containsKey(CRC + MODEL) != kv.containsKey(CRC + STATE)) {
      throw new IllegalArgumentException(trainFile + ": records the CRC32C of only one of " + MODEL + " and " + STATE
          + "; expected both (or, for a checkpoint written before checksums, neither)");
    }
    ModelFiles.Loaded model = ModelFiles.read(dir.resolve(MODEL));
    verifyRecorded(dir.resolve(STATE));
    int count = model.params().length;
    float[] m = new float[count];
    float[] v = new float[count];
    int adamT = StateFile.read(dir.resolve(STATE), m, v);
    requireFiniteMoments(dir.resolve(STATE), model.shape(), m, v);
    TrainOptions options = TrainOptions.fromMap(kv, trainFile.toString());
    TrainOptions.KeyValues k = new TrainOptions.KeyValues(kv, trainFile.toString());
    String norms = k.string("recent-grad-norms").strip();
    double[] recent;
    try {
      recent = norms.isEmpty() ? new double[0] : Arrays.stream(norms.split(" +")).mapToDouble(Double::parseDouble).toArray();
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(trainFile + ": key 'recent-grad-norms': expected numbers, found '" + norms + "'");
    }
    Position p = new Position(k.integer("step"), k.integer("adam-t"),
        new DataLoader.Position(k.integer("data-shard"), k.integer("data-offset")), k.integer("skipped-in-a-row"), recent);
    if (p.adamT() != adamT) {
      throw new FormatException(trainFile, "adam-t", adamT + " (as " + STATE + " says)", Integer.toString(p.adamT()));
    }
    return new Loaded(dir, model.shape(), model.params(), m, v, options, p);
  }

  /** m finite, v finite and >= 0 (a mean of squares): else AdamW would write NaN into every weight it touches. */
  private static void requireFiniteMoments(Path file, Models.Shape shape, float[] m, float[] v) {
    int bad = Finite.first(m, 0, m.length);
    if (bad >= 0) throw badMoment(file, shape, "m", bad, 0, m[bad], "a finite number");
    for (int i = 0; i < v.length; i++) {
      // NaN, infinite or negative
      if (!(v[i] >= 0 && v[i] < Float.POSITIVE_INFINITY)) throw badMoment(file, shape, "v", i, m.length, v[i], "a finite number >= 0");
    }
  }

  /** The refusal of moment what's value x at index i of its array, which state.bin holds after base floats of the payload. */
  private static FormatException badMoment(Path file, Models.Shape shape, String what, int i, int base, float x, String expected) {
    String where = Finite.where(shape.layout().names(), shape.layout().sizes(), i);
    return new FormatException(file, "AdamW " + what + " of " + where + " (byte " + (HEADER_INTS * 4L + 4L * (base + i)) + ")", expected,
        x + "; " + Finite.ADVICE);
  }

  private static Map<String, String> readLines(Path file) {
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read: " + e.getMessage(), e);
    }
    Map<String, String> kv = new LinkedHashMap<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int eq = line.indexOf('=');
      if (eq < 1) {
        throw new FormatException(file, "line " + (i + 1), "key = value", "'" + line + "'");
      }
      kv.put(line.substring(0, eq).strip(), line.substring(eq + 1).strip());
    }
    return kv;
  }

  /** The checkpoint directories of a run, by step, oldest first. */
  public static List<Path> list(Path runDir) throws IOException {
    if (!Files.isDirectory(runDir)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(runDir)) {
      return files.filter(f -> Files.isDirectory(f) && NAME.matcher(f.getFileName().toString()).matches())
          .sorted(Comparator.comparingLong(Checkpoint::step)).toList();
    }
  }

  /** The step in a {@code ckpt_<step>} name, or -1. */
  public static long step(Path dir) {
    Matcher m = NAME.matcher(dir.getFileName().toString());
    return m.matches() ? Long.parseLong(m.group(1)) : -1;
  }

  /** A checkpoint directory itself (it has train.txt), or the latest checkpoint of a run directory. */
  public static Path resolve(Path dirOrRun) throws IOException {
    if (Files.isRegularFile(dirOrRun.resolve(TRAIN))) {
      return dirOrRun;
    }
    if (!Files.isDirectory(dirOrRun)) {
      throw new IllegalArgumentException(dirOrRun + ": no such directory");
    }
    List<Path> all = list(dirOrRun);
    if (all.isEmpty()) {
      throw new IllegalArgumentException(dirOrRun + ": neither a checkpoint (no " + TRAIN + ") nor a run directory with ckpt_<step>/ in it");
    }
    Path latest = all.getLast();
    requireOneRun(dirOrRun, latest, all);
    return latest;
  }

  /**
   * The latest checkpoint of a run directory must come from the same run as the others (same model, data, batch,
   * lr, seed...): a directory that mixes two runs (reused before --force cleared it, or files copied in) would hand
   * out a stale checkpoint, maybe of another model family, as the run's latest.
   */
  private static void requireOneRun(Path runDir, Path latest, List<Path> all) {
    Map<String, String> mine = identity(latest);
    if (mine == null) {
      return;
    }
    for (Path other : all) {
      Map<String, String> theirs = other.equals(latest) ? null : identity(other);
      if (theirs == null) {
        continue;
      }
      for (String key : RUN_IDENTITY) {
        if (!java.util.Objects.equals(mine.get(key), theirs.get(key))) {
          throw new IllegalArgumentException(runDir + ": holds checkpoints of different runs (" + latest.getFileName() + ": " + key
              + " = " + mine.get(key) + "; " + other.getFileName() + ": " + key + " = " + theirs.get(key) + "); pass the checkpoint"
              + " directory you mean, e.g. " + latest);
        }
      }
    }
  }

  /** A checkpoint's {@link #RUN_IDENTITY} keys, or null when its train.txt is missing or unreadable (not this check's business). */
  private static Map<String, String> identity(Path ckpt) {
    try {
      Map<String, String> kv = readLines(ckpt.resolve(TRAIN));
      Map<String, String> id = new LinkedHashMap<>();
      RUN_IDENTITY.forEach(key -> id.put(key, kv.get(key)));
      return id;
    } catch (RuntimeException e) {
      return null;
    }
  }

  /**
   * Deletes all but the {@code keep} latest checkpoints at or before {@code step}. Later ones (left
   * by the run a resumed run replaces) are not counted and stay until overwritten.
   */
  public static List<Path> prune(Path runDir, int keep, int step) throws IOException {
    List<Path> upTo = new ArrayList<>(list(runDir).stream().filter(d -> step(d) <= step).toList());
    List<Path> removed = new ArrayList<>();
    while (upTo.size() > keep) {
      Path old = upTo.removeFirst();
      AtomicFiles.deleteTree(old);
      removed.add(old);
    }
    return removed;
  }

  /**
   * Removes what an earlier run left in {@code runDir} ({@code train --force}): every {@code ckpt_<step>/} (and
   * {@code .tmp}/{@code .old} leftovers of an interrupted write) and the named files, so nothing stale can pass for
   * this run's latest. Other files stay. Returns the names removed, sorted.
   */
  public static List<String> clearRun(Path runDir, List<String> runFiles) throws IOException {
    if (!Files.isDirectory(runDir)) {
      return List.of();
    }
    Pattern leftovers = Pattern.compile("ckpt_\\d+(\\.tmp|\\.old)?");
    List<Path> doomed;
    try (Stream<Path> files = Files.list(runDir)) {
      doomed = files.filter(f -> leftovers.matcher(f.getFileName().toString()).matches() && Files.isDirectory(f)
          || runFiles.contains(f.getFileName().toString()) && Files.isRegularFile(f)).toList();
    }
    List<String> removed = new ArrayList<>();
    for (Path f : doomed) {
      AtomicFiles.deleteTree(f);
      removed.add(f.getFileName().toString());
    }
    removed.sort(Comparator.naturalOrder());
    return removed;
  }
}
