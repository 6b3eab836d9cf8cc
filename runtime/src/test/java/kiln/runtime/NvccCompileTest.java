// Every emitted CUDA kernel compiles with the local nvcc for sm_90 (no GPU needed); skips where
// nvcc is absent. One translation unit includes them all, so this is one nvcc run.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

class NvccCompileTest {
  static final Path NVCC = Path.of(System.getenv().getOrDefault("KILN_NVCC", "/usr/local/cuda/bin/nvcc"));

  @ParameterizedTest
  @ValueSource(strings = {"gpt2", "gpt2-tf32", "gpt2-bf16", "llama"})
  void everyGeneratedKernelCompiles(String model, @TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    Path dir = Path.of("generated", "cuda", model).toAbsolutePath();
    List<Path> kernels;
    try (var files = Files.list(dir)) { kernels = files.filter(p -> p.toString().endsWith(".cu")).sorted().toList(); }
    assertTrue(kernels.size() > (model.endsWith("tf32") ? 3 : 20), "expected the " + model + " kernels under " + dir + ", found " + kernels.size());
    StringBuilder unit = new StringBuilder();
    for (Path k : kernels) unit.append("#include \"").append(k).append("\"\n");
    compiles(unit.toString(), tmp);
  }

  /** Every point of the tuner's TF32 space compiles (split-K included), for a weight gradient (A m-contiguous, B n-contiguous). */
  @org.junit.jupiter.api.Test
  void everyTf32TunerVariantCompiles(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    kiln.codegen.CudaSchedule s = kiln.codegen.CudaSchedule.DEFAULT.withPrecision(kiln.codegen.CudaSchedule.Precision.TF32);
    StringBuilder unit = new StringBuilder();
    int n = 0;
    for (kiln.dsl.Compute c : kiln.models.Gpt2.build(1, true).graph().computes()) {
      if (!c.name().startsWith("dr1/grads.fcw")) continue;
      var mm = kiln.codegen.MatmulMatch.of(c).orElseThrow();
      for (var tile : s.matmulSpace()) {
        unit.append(kiln.codegen.CudaRenderer.matmul(mm, c.accumulate(), tile).source()).append('\n');
        n++;
      }
    }
    assertEquals(s.matmulSpace().size(), n, "the weight gradient found");
    compiles(unit.toString(), tmp);
  }

  /**
   * Every wgmma point of the tuner's space compiles for sm_90a, plain and accumulating, for each of GPT-2's
   * forward matmuls that fit it (the four per-layer ones and the classifier); no backward matmul fits.
   */
  @org.junit.jupiter.api.Test
  void everyWgmmaVariantCompiles(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    StringBuilder unit = new StringBuilder();
    java.util.Set<String> fitting = new java.util.TreeSet<>();
    int n = 0;
    for (kiln.dsl.Compute c : kiln.models.Gpt2.build(1, true).graph().computes()) {
      var mm = kiln.codegen.MatmulMatch.of(c);
      if (mm.isEmpty() || !kiln.codegen.CudaRenderer.wgmmaFits(mm.get())) continue;
      fitting.add(c.name());
      if (n > 0) continue;   // the template sees only M, N, K, strides and offsets: one matmul covers the space
      for (var tile : kiln.codegen.CudaSchedule.wgmmaSpace()) {
        for (boolean acc : new boolean[] {false, true}) {
          String source = kiln.codegen.CudaRenderer.matmul(mm.get(), acc, tile).source();
          assertTrue(source.contains(kiln.runtime.cuda.Nvrtc.SM90A_MARKER), "a wgmma source asks for sm_90a");
          unit.append(source).append('\n');
          n++;
        }
      }
    }
    assertEquals(2 * kiln.codegen.CudaSchedule.wgmmaSpace().size(), n);
    assertEquals(5, fitting.size(), "qkv, attproj, fc, fcproj per layer and the classifier fit wgmma: " + fitting);
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  /**
   * The transpose kernel and the wgmma kernels that read transposed copies (chunked along K, plain and
   * `+=`) compile for sm_90a, for each of GPT-2's backward matmuls that take them.
   */
  @org.junit.jupiter.api.Test
  void transposeAndTransposedWgmmaCompile(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    StringBuilder unit = new StringBuilder(kiln.codegen.CudaRenderer.transpose(64).source()).append('\n');
    java.util.Set<String> functions = new java.util.HashSet<>();
    int n = 0;
    for (kiln.dsl.Compute c : kiln.models.Gpt2.build(1, true).graph().computes()) {
      var mm = kiln.codegen.MatmulMatch.of(c);
      boolean[] t = mm.isEmpty() ? null : kiln.codegen.CudaRenderer.wgmmaLayouts(mm.get());
      if (t == null || !(t[0] || t[1])) continue;
      var r = kiln.codegen.CudaRenderer.matmulTransposed(mm.get(), c.accumulate(), kiln.codegen.CudaSchedule.WGMMA_DEFAULT, 4096, 2);
      for (var k : java.util.Arrays.asList(r, r.work() instanceof kiln.codegen.CudaRenderer.Tiles x ? x.transposed().rest() : null)) {
        if (k != null && functions.add(k.function())) {
          unit.append(k.source()).append('\n');
          n++;
        }
      }
    }
    assertTrue(n >= 8, "GPT-2's backward matmuls over copies: " + n);
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  /**
   * The kernels of a launch over copies chunked along M (GPT-2's dwte plan: 1664 deep, 8448 rows a launch,
   * the last 8064): chunk 0's, its `+=` twin and the last rows' pair compile for sm_90a.
   */
  @org.junit.jupiter.api.Test
  void rowChunkedWgmmaCompiles(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    kiln.dsl.Compute dwte = kiln.models.Gpt2.build(1, true).graph().computes().stream()
        .filter(c -> c.out().name().equals("grads.wte") && kiln.codegen.MatmulMatch.of(c).isPresent()).findFirst().orElseThrow();
    var r = kiln.codegen.CudaRenderer.matmulTransposed(kiln.codegen.MatmulMatch.of(dwte).orElseThrow(), dwte.accumulate(),
        kiln.codegen.CudaSchedule.WGMMA_DEFAULT, new long[] {1664, 5, 8448, 6, 8064});
    var x = ((kiln.codegen.CudaRenderer.Tiles) r.work()).transposed();
    StringBuilder unit = new StringBuilder(r.source()).append('\n');
    for (var k : x.kernels()) unit.append(k.source()).append('\n');
    assertTrue(x.tail() != null && x.kernels().size() == (dwte.accumulate() ? 2 : 4), "transpose, tail (and the += twins): " + x.kernels().size());
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  private static void compiles(String unit, Path tmp) throws IOException, InterruptedException { compiles(unit, tmp, "-arch=sm_90"); }

  private static void compiles(String unit, Path tmp, String arch) throws IOException, InterruptedException {
    Path all = tmp.resolve("all.cu");
    Files.writeString(all, unit);
    Process p = new ProcessBuilder(NVCC.toString(), "-cubin", arch, "-o", tmp.resolve("all.cubin").toString(), all.toString())
        .redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(600, TimeUnit.SECONDS), "nvcc timed out");
    assertEquals(0, p.exitValue(), "nvcc failed on the generated kernels:\n" + log);
    assertTrue(!log.contains("error"), log);
  }
}
