// GPT-2's five forward matmul shapes (B·T = 8192, C = 768, padded vocabulary 50304) through the CUDA
// tuner at TF32: every variant checked against the fp32 reference and timed; prints the default mma.sync
// tile, the default wgmma tile (sm_90) and the best variant in TFLOP/s, and writes "name ms" lines that
// scripts/cublas_matmuls.py --kiln sets beside cuBLAS. Nothing is stored in the tuning cache.
package kiln.runtime.cuda;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import kiln.codegen.CudaSchedule;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import kiln.runtime.Arena;
import kiln.runtime.TuningCache;

public final class MatmulBench {
  private MatmulBench() {}

  /** Args: the file for the best variant's "name ms" lines (default kiln-matmuls.txt). */
  public static void main(String[] args) throws IOException {
    Path out = Path.of(args.length > 0 ? args[0] : "kiln-matmuls.txt");
    Dim bt = new Dim("BT"), c = new Dim("C"), c3 = new Dim("C3"), c4 = new Dim("C4"), v = new Dim("V");
    Map<Dim, Integer> sizes = Map.of(bt, 8192, c, 768, c3, 2304, c4, 3072, v, 50304);
    Graph g = new Graph();
    String[][] shapes = {{"qkv", "C", "C3"}, {"attproj", "C", "C"}, {"fc", "C", "C4"}, {"fcproj", "C4", "C"}, {"lm_head", "C", "V"}};
    Map<String, Dim> byName = Map.of("C", c, "C3", c3, "C4", c4, "V", v);
    for (String[] s : shapes) {
      Dim k = byName.get(s[1]), n = byName.get(s[2]);
      Tensor x = g.input(s[0] + "_x", DType.F32, bt, k), w = g.input(s[0] + "_w", DType.F32, n, k);
      g.compute(s[0], dims(bt, n), (i, j) -> sum(k, p -> x.at(i, p).mul(w.at(j, p))));
    }
    Map<String, List<kiln.dsl.Compute>> program = Map.of("forward", g.computes());
    // the wgmma tile asked for explicitly (it runs where the device is sm_90 and KILN_WGMMA is not 0)
    CudaSchedule schedule = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32).withWgmma(CudaSchedule.WGMMA_DEFAULT);
    TuningCache scratch = TuningCache.load(Files.createTempDirectory("kiln-matmul-bench").resolve("tuning.json"));
    List<String> lines = new ArrayList<>();
    try (Cuda cuda = Cuda.open(); CudaExecutor ex = new CudaExecutor(new Arena(g, sizes), program, cuda, schedule, scratch)) {
      List<CudaTuner.Result> results = CudaTuner.tune(ex.layout(), program, ex, schedule, scratch, System.err);
      CudaSchedule onDevice = CudaExecutor.forDevice(schedule, cuda);
      Map<String, CudaTuner.Result> byLaunch = new LinkedHashMap<>();
      for (CudaTuner.Result r : results) byLaunch.put(r.launch().substring(r.launch().lastIndexOf('.') + 1), r);
      System.out.printf(Locale.ROOT, "# %s (%s), TF32, TFLOP/s of the median of %s runs per variant%n", cuda.name(), cuda.arch(), "15");
      System.out.printf(Locale.ROOT, "%-8s %-18s %12s %12s %12s  %s%n", "shape", "M x N x K", "mma default", "wgmma dflt", "best", "best tile");
      for (String[] s : shapes) {
        CudaTuner.Result r = byLaunch.get(s[0]);
        if (r == null) { System.out.printf("%-8s no valid variant%n", s[0]); continue; }
        System.out.printf(Locale.ROOT, "%-8s %-18s %12s %12s %12.1f  %s%n", s[0], r.shape().substring(2), rate(r, CudaSchedule.MMA_DEFAULT),
            onDevice.wgmma() == null ? "off" : rate(r, onDevice.wgmma()), r.bestTflops(), r.best().knobs());
        lines.add(s[0] + " " + String.format(Locale.ROOT, "%.5f", r.bestMs()));
      }
    }
    Files.write(out, lines);
  }

  private static String rate(CudaTuner.Result r, CudaSchedule.MatmulTile tile) {
    Double ms = r.msByTile().get(tile);
    return ms == null ? "-" : String.format(Locale.ROOT, "%.1f", r.flops() / ms / 1e9);
  }
}
