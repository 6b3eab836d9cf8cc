// generated/ is reproducible: a fresh emit from the DSL equals the committed files byte for byte.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class GeneratedSourcesTest {
  /** Every registered family (ShippedModels emits them all). */
  static java.util.List<String> families() { return ShippedModels.names(); }

  @ParameterizedTest
  @MethodSource("families")
  void javaKernelsMatchAFreshEmit(String model) throws IOException {
    sameAsFresh(ShippedModels.javaFiles(model), Path.of("generated", "java", model));
  }

  @ParameterizedTest
  @MethodSource("families")
  void cudaKernelsMatchAFreshEmit(String model) throws IOException {
    sameAsFresh(ShippedModels.cudaFiles(model), Path.of("generated", "cuda", model));
  }

  @ParameterizedTest
  @MethodSource("families")
  void tf32KernelsMatchAFreshEmit(String model) throws IOException {
    sameAsFresh(ShippedModels.cudaTf32Files(model), Path.of("generated", "cuda", model + "-tf32"));
  }

  @org.junit.jupiter.api.Test
  void sm90KernelsMatchAFreshEmit() throws IOException {
    sameAsFresh(ShippedModels.cudaSm90Files("gpt2"), Path.of("generated", "cuda", "gpt2-sm90"));
  }

  @org.junit.jupiter.api.Test
  void bf16KernelsMatchAFreshEmit() throws IOException {
    sameAsFresh(ShippedModels.cudaBf16Files("gpt2"), Path.of("generated", "cuda", "gpt2-bf16"));
    sameAsFresh(ShippedModels.cudaBf16Sm90Files("gpt2"), Path.of("generated", "cuda", "gpt2-bf16-sm90"));
  }

  private static void sameAsFresh(Map<String, String> fresh, Path dir) throws IOException {
    TreeSet<String> committed = new TreeSet<>();
    try (var files = Files.list(dir)) { files.forEach(p -> committed.add(p.getFileName().toString())); }
    TreeSet<String> missing = new TreeSet<>(fresh.keySet()), stale = new TreeSet<>(committed);
    missing.removeAll(committed);
    stale.removeAll(fresh.keySet());
    assertEquals("missing [] stale []", "missing " + missing + " stale " + stale, dir + " differs from a fresh emit; run ./kiln emit");
    for (var e : fresh.entrySet()) {
      assertEquals(e.getValue(), Files.readString(dir.resolve(e.getKey())), e.getKey() + " differs from a fresh emit; run ./kiln emit");
    }
  }
}
