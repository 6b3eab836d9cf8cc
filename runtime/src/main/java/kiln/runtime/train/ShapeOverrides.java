// `kiln train`'s shape options (--layers, --heads, --channels, --kv-heads, --ffn) applied to a registry preset.
package kiln.runtime.train;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import kiln.models.ModelFamily;
import kiln.runtime.Models;

/** Each value null where its option was not given. */
public record ShapeOverrides(Integer layers, Integer heads, Integer channels, Integer kvHeads, Integer ffn) {
  private static final String[] FLAGS = {"--layers", "--heads", "--channels", "--kv-heads", "--ffn"};
  /** The config component each option sets, and the label a family's check names it by. */
  private static final String[] COMPONENTS = {"layers", "heads", "channels", "kvHeads", "ffn"};
  private static final String[] LABELS = {"L", "NH", "C", "NKV", "FF"};

  private Integer[] values() {
    return new Integer[] {layers, heads, channels, kvHeads, ffn};
  }

  public boolean any() {
    return Arrays.stream(values()).anyMatch(Objects::nonNull);
  }

  /** The options given, as typed: {@code --layers 1 --channels 32}. */
  public String describe() {
    StringBuilder sb = new StringBuilder();
    Integer[] values = values();
    for (int i = 0; i < FLAGS.length; i++) {
      if (values[i] != null) {
        sb.append(sb.isEmpty() ? "" : " ").append(FLAGS[i]).append(' ').append(values[i]);
      }
    }
    return sb.toString();
  }

  /**
   * The preset (registry model {@code name}) with each option applied to the config component of its name; the
   * family's own check then names the option whose value breaks a constraint.
   */
  public Models.Shape apply(Models.Shape preset, String name) {
    Integer[] values = values();
    Map<String, Integer> overrides = new LinkedHashMap<>();
    for (int i = 0; i < FLAGS.length; i++) {
      if (values[i] == null) continue;
      if (!preset.family().hasComponent(COMPONENTS[i])) {
        throw new IllegalArgumentException(FLAGS[i] + " does not apply to --model " + name + ": a " + preset.family().name()
            + " config has no " + COMPONENTS[i]);
      }
      overrides.put(COMPONENTS[i], values[i]);
    }
    if (overrides.isEmpty()) return preset;
    Models.Shape shape = preset.with(overrides);
    ModelFamily.Violation v = shape.check();
    if (v != null) {
      String flag = "--model " + name;
      for (int i = 0; i < LABELS.length; i++) if (LABELS[i].equals(v.field())) flag = FLAGS[i];
      throw new IllegalArgumentException(flag + " " + v.found() + ": expected " + v.expected() + " (" + shape.describe() + ")");
    }
    return shape;
  }
}
