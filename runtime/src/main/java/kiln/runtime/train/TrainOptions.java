// What a training run was asked to do: the options `kiln train` takes, checked, and their train.txt lines.
package kiln.runtime.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Every field is named after its {@code kiln train} option, and so is its key in a checkpoint's
 * {@code train.txt}; the checks name the option too, since that is what the user typed.
 * {@code steps} is the run's total, not the steps left; the learning rate follows
 * {@link #schedule()} over it.
 */
public record TrainOptions(String model, Path data, int batch, int seq, int steps, double lr, int warmup,
                           double minLrFrac, double weightDecay, double gradClip, int valEvery, int valBatches,
                           int checkpointEvery, int keep, long seed, int sampleTokens) {
  public TrainOptions {
    positive("--batch", batch);
    positive("--seq", seq);
    positive("--steps", steps);
    if (!(lr > 0) || Double.isInfinite(lr)) {
      throw new IllegalArgumentException("--lr must be positive and finite, got " + lr);
    }
    if (warmup < 0 || warmup > steps) {
      throw new IllegalArgumentException("--warmup must be in [0, --steps " + steps + "], got " + warmup);
    }
    if (!(minLrFrac >= 0 && minLrFrac <= 1)) {
      throw new IllegalArgumentException("--min-lr-frac must be in [0, 1], got " + minLrFrac);
    }
    if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
      throw new IllegalArgumentException("--weight-decay must be >= 0 and finite, got " + weightDecay);
    }
    if (!(gradClip >= 0) || Double.isInfinite(gradClip)) {
      throw new IllegalArgumentException("--grad-clip must be >= 0 and finite (0 turns clipping off), got " + gradClip);
    }
    atLeast("--val-every", valEvery, 0);
    positive("--val-batches", valBatches);
    atLeast("--checkpoint-every", checkpointEvery, 0);
    positive("--keep", keep);
    atLeast("--sample-tokens", sampleTokens, 0);
  }

  private static void positive(String option, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(option + " must be positive, got " + value);
    }
  }

  private static void atLeast(String option, int value, int min) {
    if (value < min) {
      throw new IllegalArgumentException(option + " must be >= " + min + ", got " + value);
    }
  }

  public LrSchedule schedule() {
    return new LrSchedule(lr, warmup, steps, minLrFrac);
  }

  public long tokensPerStep() {
    return (long) batch * seq;
  }

  /** The options as {@code train.txt} keys (doubles in Java's shortest round-trip form, so they read back exactly). */
  public Map<String, String> toMap() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("model", model);
    m.put("data", data.toString());
    m.put("batch", Integer.toString(batch));
    m.put("seq", Integer.toString(seq));
    m.put("steps", Integer.toString(steps));
    m.put("lr", Double.toString(lr));
    m.put("warmup", Integer.toString(warmup));
    m.put("min-lr-frac", Double.toString(minLrFrac));
    m.put("weight-decay", Double.toString(weightDecay));
    m.put("grad-clip", Double.toString(gradClip));
    m.put("val-every", Integer.toString(valEvery));
    m.put("val-batches", Integer.toString(valBatches));
    m.put("checkpoint-every", Integer.toString(checkpointEvery));
    m.put("keep", Integer.toString(keep));
    m.put("seed", Long.toString(seed));
    m.put("sample-tokens", Integer.toString(sampleTokens));
    return m;
  }

  /** Reads {@link #toMap()}'s keys back; {@code where} names the file in error messages. */
  public static TrainOptions fromMap(Map<String, String> m, String where) {
    KeyValues kv = new KeyValues(m, where);
    return new TrainOptions(kv.string("model"), Path.of(kv.string("data")), kv.integer("batch"), kv.integer("seq"),
        kv.integer("steps"), kv.real("lr"), kv.integer("warmup"), kv.real("min-lr-frac"), kv.real("weight-decay"),
        kv.real("grad-clip"), kv.integer("val-every"), kv.integer("val-batches"), kv.integer("checkpoint-every"),
        kv.integer("keep"), kv.longInteger("seed"), kv.integer("sample-tokens"));
  }

  /**
   * These options with some changed, by train.txt key (a resumed run's steps, keep, ...; values as typed); a
   * warmup longer than the new steps shrinks to them. {@code where} names the source in error messages.
   */
  public TrainOptions with(Map<String, String> changed, String where) {
    Map<String, String> m = toMap();
    m.putAll(changed);
    int total = new KeyValues(m, where).integer("steps");
    if (total > 0 && warmup > total) {
      m.put("warmup", Integer.toString(total));
    }
    return fromMap(m, where);
  }

  /** One line for the start of a run. */
  public String summary() {
    return String.format(Locale.ROOT, "B=%d T=%d, %d steps, lr %.2e (warmup %d, cosine to %.2f of it), wd %s, clip %s",
        batch, seq, steps, lr, warmup, minLrFrac, weightDecay == 0 ? "0" : Double.toString(weightDecay),
        gradClip == 0 ? "off" : Double.toString(gradClip));
  }

  /** Typed lookups in a key=value map, failing with the file and key named. */
  record KeyValues(Map<String, String> m, String where) {
    String string(String key) {
      String v = m.get(key);
      if (v == null) {
        throw new IllegalArgumentException(where + ": missing key '" + key + "'");
      }
      return v;
    }

    int integer(String key) {
      return parsed(key, Integer::parseInt, "an integer");
    }

    long longInteger(String key) {
      return parsed(key, Long::parseLong, "an integer");
    }

    double real(String key) {
      return parsed(key, Double::parseDouble, "a number");
    }

    private <T> T parsed(String key, java.util.function.Function<String, T> parse, String what) {
      try {
        return parse.apply(string(key));
      } catch (NumberFormatException e) {
        throw bad(key, what);
      }
    }

    private IllegalArgumentException bad(String key, String what) {
      return new IllegalArgumentException(where + ": key '" + key + "': expected " + what + ", found '" + m.get(key) + "'");
    }
  }
}
