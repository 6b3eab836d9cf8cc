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

  /** Every folder under generated/cuda: each family's fp32 and tf32 kernels, and GPT-2's bf16 ones. */
  static List<String> folders() {
    return java.util.stream.Stream.concat(ShippedModels.names().stream().flatMap(m -> java.util.stream.Stream.of(m, m + "-tf32")),
        java.util.stream.Stream.of("gpt2-bf16")).toList();
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.MethodSource("folders")
  void everyGeneratedKernelCompiles(String model, @TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    Path dir = Path.of("generated", "cuda", model).toAbsolutePath();
    List<Path> kernels;
    try (var files = Files.list(dir)) { kernels = files.filter(p -> p.toString().endsWith(".cu")).sorted().toList(); }
    assertTrue(kernels.size() > (model.endsWith("tf32") ? 2 : 20), "expected the " + model + " kernels under " + dir + ", found " + kernels.size());
    StringBuilder unit = new StringBuilder();
    for (Path k : kernels) unit.append("#include \"").append(k).append("\"\n");
    compiles(unit.toString(), tmp);
  }

  /**
   * The Hopper matmuls of generated/cuda/gpt2-sm90 (GPT-2's forward at TF32, each with its epilogue) and gpt2-bf16-sm90
   * (every matmul of two bf16 operands at BF16, the epilogues bias, bias + GELU, bias + residual and dGELU among them)
   * compile for sm_90a.
   */
  @ParameterizedTest
  @ValueSource(strings = {"gpt2-sm90", "gpt2-bf16-sm90"})
  void everyGeneratedWgmmaKernelCompiles(String folder, @TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    Path dir = Path.of("generated", "cuda", folder).toAbsolutePath();
    List<Path> kernels;
    try (var files = Files.list(dir)) { kernels = files.filter(p -> p.toString().endsWith(".cu")).sorted().toList(); }
    assertTrue(kernels.size() >= 4, "expected the wgmma kernels under " + dir + ", found " + kernels.size());
    StringBuilder unit = new StringBuilder();
    for (Path k : kernels) unit.append("#include \"").append(k).append("\"\n");
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  /**
   * A matmul with an epilogue compiles on every template the tuner may pick for it: GPT-2's fc (bias, then GELU:
   * two outputs) on the split-K TF32 points (the epilogue in the kernel that adds the splits), the default
   * mma.sync and SIMT tiles, and the default wgmma tile (sm_90a).
   */
  @org.junit.jupiter.api.Test
  void epiloguesCompileOnEveryTemplate(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    var p = kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
    List<kiln.dsl.Compute> fc = kiln.codegen.Epilogue.groups(Session.sections(p).get("forward")).stream()
        .filter(g -> kiln.codegen.Epilogue.fused(g) && g.getFirst().name().equals("h0.fc.out.r1")).findFirst().orElseThrow();
    var mm = kiln.codegen.MatmulMatch.of(fc.getFirst()).orElseThrow();
    var epilogue = new kiln.codegen.CudaRenderer.Fused(fc.subList(1, fc.size()), kiln.codegen.Epilogue.unstored(fc, new kiln.codegen.Epilogue.Readers(p.graph().computes())));
    kiln.codegen.CudaSchedule s = kiln.codegen.CudaSchedule.DEFAULT.withPrecision(kiln.codegen.CudaSchedule.Precision.TF32);
    StringBuilder unit = new StringBuilder();
    int splitK = 0;
    for (var tile : s.matmulSpace()) {
      if (!(tile instanceof kiln.codegen.CudaSchedule.MmaTile t) || t.splits() == 1) continue;
      String source = kiln.codegen.CudaRenderer.matmul(mm, tile, epilogue).source();
      assertTrue(source.contains("epilogue(m, n, s);"), "split-K applies the epilogue where the splits are added");
      unit.append(source).append('\n');
      splitK++;
    }
    assertTrue(splitK > 0, "the TF32 space has split-K points");
    unit.append(kiln.codegen.CudaRenderer.matmul(mm, s.matmul(), epilogue).source()).append('\n');
    unit.append(kiln.codegen.CudaRenderer.matmul(mm, kiln.codegen.CudaSchedule.SIMT_DEFAULT, epilogue).source()).append('\n');
    unit.append(kiln.codegen.CudaRenderer.matmul(mm, kiln.codegen.CudaSchedule.WGMMA_DEFAULT, epilogue).source()).append('\n');
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  /** Every point of the tuner's TF32 space compiles (split-K included), for a weight gradient (A m-contiguous, B n-contiguous). */
  @org.junit.jupiter.api.Test
  void everyTf32TunerVariantCompiles(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    kiln.codegen.CudaSchedule s = kiln.codegen.CudaSchedule.DEFAULT.withPrecision(kiln.codegen.CudaSchedule.Precision.TF32);
    StringBuilder unit = new StringBuilder();
    int n = 0;
    for (kiln.dsl.Compute c : kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA).graph().computes()) {
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
    for (kiln.dsl.Compute c : kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA).graph().computes()) {
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
    for (kiln.dsl.Compute c : kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA).graph().computes()) {
      var mm = kiln.codegen.MatmulMatch.of(c);
      boolean[] t = mm.isEmpty() ? null : kiln.codegen.CudaRenderer.wgmmaLayouts(mm.get());
      if (t == null || !(t[0] || t[1])) continue;
      var r = kiln.codegen.CudaRenderer.matmulTransposed(mm.get(), c.accumulate(), kiln.codegen.CudaSchedule.WGMMA_DEFAULT, new long[] {4096, 2}, null);
      for (var k : java.util.Arrays.asList(r, r.work() instanceof kiln.codegen.Work.Tiles x ? x.transposed().rest() : null)) {
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
    kiln.dsl.Compute dwte = kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA).graph().computes().stream()
        .filter(c -> c.out().name().equals("grads.wte") && kiln.codegen.MatmulMatch.of(c).isPresent()).findFirst().orElseThrow();
    var r = kiln.codegen.CudaRenderer.matmulTransposed(kiln.codegen.MatmulMatch.of(dwte).orElseThrow(), dwte.accumulate(),
        kiln.codegen.CudaSchedule.WGMMA_DEFAULT, new long[] {1664, 5, 8448, 6, 8064}, null);
    var x = ((kiln.codegen.Work.Tiles) r.work()).transposed();
    StringBuilder unit = new StringBuilder(r.source()).append('\n');
    for (var k : x.kernels()) unit.append(k.source()).append('\n');
    assertTrue(x.tail() != null && x.kernels().size() == (dwte.accumulate() ? 2 : 4), "transpose, tail (and the += twins): " + x.kernels().size());
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  /**
   * The bf16 wgmma kernels compile for sm_90a: every tile of the space at GPT-2's forward layout with bf16 C,
   * and the default tile at the other three layouts, fp32 C, accumulating.
   */
  @org.junit.jupiter.api.Test
  void everyBf16WgmmaTileCompiles(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    StringBuilder unit = new StringBuilder();
    var k = kiln.codegen.WgmmaBf16.Major.K;
    var mn = kiln.codegen.WgmmaBf16.Major.MN;
    for (var tile : kiln.codegen.WgmmaBf16.space()) {
      unit.append(kiln.codegen.WgmmaBf16.render(tile, k, k, kiln.codegen.WgmmaBf16.Out.BF16, false).source()).append('\n');
    }
    for (var ab : new kiln.codegen.WgmmaBf16.Major[][] {{k, mn}, {mn, k}, {mn, mn}}) {
      unit.append(kiln.codegen.WgmmaBf16.render(kiln.codegen.WgmmaBf16.DEFAULT, ab[0], ab[1], kiln.codegen.WgmmaBf16.Out.F32, true).source()).append('\n');
    }
    compiles(unit.toString(), tmp, "-gencode=arch=compute_90a,code=sm_90a");
  }

  /**
   * The split-K bf16 wgmma kernels and their _sum kernels compile for sm_90a without spills (-Xptxas -v): GPT-2's four weight
   * gradients that split at B=32, T=1024 (as a session renders them), and the standalone kernel at every layout, fp32 and
   * bf16 C, plain and accumulating.
   */
  @org.junit.jupiter.api.Test
  void splitKBf16WgmmaCompilesWithoutSpills(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    StringBuilder unit = new StringBuilder();
    int n = 0;
    for (var s : Bf16SplitKTest.gpt2(32, 1024).sections().values()) {
      for (var x : s.launches()) {
        if (x.kernel().work() instanceof kiln.codegen.Work.Bf16Tiles t && t.tile().splits() > 1 && unit.indexOf(x.kernel().function()) < 0) {
          unit.append(x.kernel().source()).append('\n');
          n++;
        }
      }
    }
    assertEquals(4, n, "the split weight gradients: attprojw's, qkvw's, fcw's and fcprojw's (one kernel each)");
    var k = kiln.codegen.WgmmaBf16.Major.K;
    var mn = kiln.codegen.WgmmaBf16.Major.MN;
    kiln.codegen.WgmmaBf16.Tile split = kiln.codegen.WgmmaBf16.DEFAULT.withTmaStore(false).withSplits(4);
    for (var ab : new kiln.codegen.WgmmaBf16.Major[][] {{k, k}, {k, mn}, {mn, k}, {mn, mn}}) {
      for (var out : kiln.codegen.WgmmaBf16.Out.values()) {
        for (boolean acc : new boolean[] {false, true}) unit.append(kiln.codegen.WgmmaBf16.render(split, ab[0], ab[1], out, acc).source()).append('\n');
      }
    }
    unit.append(kiln.codegen.WgmmaBf16.render(new kiln.codegen.WgmmaBf16.Tile(128, 128, 6, 2, true, 16, false, 3), mn, mn,
        kiln.codegen.WgmmaBf16.Out.F32, false).source()).append('\n');
    String log = ptxasLog(unit.toString(), tmp, "the split-K kernels");
    long functions = log.lines().filter(l -> l.contains("Compiling entry function")).count();
    assertEquals(2 * (4 + 17), functions, "each kernel and its _sum:\n" + log);
    assertTrue(log.lines().filter(l -> l.contains("spill")).allMatch(l -> l.contains("0 bytes spill stores, 0 bytes spill loads")), log);
  }

  /**
   * GPT-2's bf16 program at B=32, T=1024 with every unsplit bf16 matmul given WgmmaBf16.CLUSTERED (as a tuning cache would:
   * the epilogue launches too) compiles for sm_90a without spills, the two-block cluster's kernels at every layout GPT-2 has.
   */
  @org.junit.jupiter.api.Test
  void clusteredBf16ProgramCompilesWithoutSpills(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NVCC), "no nvcc at " + NVCC + " (set KILN_NVCC)");
    var l = Bf16WgmmaLoweringTest.lowered(Models.get("gpt2-d12"), 32, 1024,
        byDefault -> byDefault.work() instanceof kiln.codegen.Work.Bf16Tiles t && t.tile().splits() == 1 ? kiln.codegen.WgmmaBf16.CLUSTERED : null);
    StringBuilder unit = new StringBuilder();
    int n = 0;
    for (var s : l.sections().values()) {
      for (var x : s.launches()) {
        if (x.kernel().work() instanceof kiln.codegen.Work.Bf16Tiles t && t.tile().cluster() == 2 && unit.indexOf(x.kernel().function()) < 0) {
          unit.append(x.kernel().source()).append('\n');
          n++;
        }
      }
    }
    assertTrue(n >= 8, "the clustered kernels of GPT-2's bf16 program, found " + n);
    String log = ptxasLog(unit.toString(), tmp, "the clustered kernels");
    assertTrue(log.lines().filter(x -> x.contains("spill")).allMatch(x -> x.contains("0 bytes spill stores, 0 bytes spill loads")), log);
    assertTrue(!log.contains("C75"), "no serialized wgmma:\n" + log);
  }

  /** nvcc's ptxas report (-Xptxas -v) on unit compiled for sm_90a, which must succeed (what: the kernels, for the message). */
  private static String ptxasLog(String unit, Path tmp, String what) throws IOException, InterruptedException {
    Path all = tmp.resolve("all.cu");
    Files.writeString(all, unit);
    Process p = new ProcessBuilder(NVCC.toString(), "-cubin", "-gencode=arch=compute_90a,code=sm_90a", "-Xptxas", "-v", "-o", tmp.resolve("all.cubin").toString(),
        all.toString()).redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(600, TimeUnit.SECONDS), "nvcc timed out");
    assertEquals(0, p.exitValue(), "nvcc failed on " + what + ":\n" + log);
    return log;
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
