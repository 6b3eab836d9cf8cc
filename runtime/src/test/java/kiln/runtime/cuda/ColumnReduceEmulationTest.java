// The generated column reductions run without a GPU: GPT-2's layernorm weight+bias gradient (sibling sums in one
// launch; rendered here with the row kernels' column sums off, since by default the norm backward's row kernel takes them)
// and qkv bias kernels
// (generated/cuda/gpt2) compiled with g++ under a host emulation of CUDA (resources colreduce-emu: every block,
// every thread, in turn), against double sums at odd shapes (rows 111 and 2095, 100 and 105 columns, an
// innermost output dim of 7) and GPT-2's (8192 rows, 768 and 2304 columns), with the plans that
// CudaSchedule.ColumnTile gives. Skips where g++ is absent.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import kiln.codegen.CudaSchedule;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ColumnReduceEmulationTest {
  static final Path GXX = Path.of("/usr/bin/g++");

  @Test
  void generatedKernelsSumEveryRowOnce(@TempDir Path tmp) throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(GXX), "no g++ at " + GXX);
    Path dir = Path.of("generated", "cuda", "gpt2").toAbsolutePath();
    String index = Files.readString(dir.resolve("INDEX.md"));
    String qkv = kernel(index, "dqkv/grads.qkvb[0]");
    String ln = lnSiblings(tmp);
    for (String resource : new String[] {"/colreduce-emu/emu.h", "/colreduce-emu/main.cpp", "/cuda-emu/cuda-host.h"}) {
      try (var in = getClass().getResourceAsStream(resource)) { Files.write(tmp.resolve(Path.of(resource).getFileName().toString()), in.readAllBytes()); }
    }
    CudaSchedule.ColumnTile tile = CudaSchedule.COLUMNS_DEFAULT;
    // the shapes main.cpp runs: (B, T, C) and qkv's THREE x NH x HS
    long[][] shapes = {{3, 37, 100, 3 * 5 * 7}, {5, 419, 100, 3 * 5 * 7}, {8, 1024, 768, 3 * 12 * 64}};
    List<String> plans = new ArrayList<>();
    for (long[] s : shapes) {
      for (long items : new long[] {s[2], s[3]}) {
        long[] p = tile.plan(items, s[0] * s[1]);
        plans.add("{" + items + "," + s[0] * s[1] + "," + p[0] + "," + p[1] + "}");
      }
    }
    List<String> cmd = List.of(GXX.toString(), "-O1", "-std=c++17", "-w", "-DTILE_ROWS=" + tile.rows(), "-DLANES=" + tile.lanes(), "-DPLANS={" + String.join(",", plans) + "}",
        "-DLN_FILE=\"" + tmp.resolve(ln + ".cu") + "\"", "-DQKV_FILE=\"" + dir.resolve(qkv + ".cu") + "\"", "-DLN=" + ln, "-DQKV=" + qkv,
        "-o", tmp.resolve("emu").toString(), tmp.resolve("main.cpp").toString());
    assertEquals("", run(cmd, tmp, 0), "g++ builds the emulation");
    String out = run(List.of(tmp.resolve("emu").toString()), tmp, 0);
    assertTrue(out.strip().endsWith("OK") && out.lines().count() == 7, out);
  }

  /** GPT-2's ln1 weight and bias sums of layer 0 as one column reduction (RowFusion's column sums off), written to dir; its function. */
  private static String lnSiblings(Path dir) throws Exception {
    kiln.models.Program p = kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
    java.util.Map<kiln.dsl.Dim, Integer> sizes = kiln.models.Gpt2.FAMILY.bind(new kiln.models.Gpt2.Config(1024, 50257, 50304, 1, 12, 768), 8, 1024);
    kiln.codegen.RowFusion.columnSumsOverride = false;
    try {
      for (kiln.codegen.Launch l : kiln.codegen.CudaLowering.lower(p.graph().computes(), CudaSchedule.DEFAULT, m -> null, sizes::get, 0, null, null).launches()) {
        if (!l.name().equals("dout/grads.ln1w[0]+dout/grads.ln1b[0]")) continue;
        assertEquals("colreduce", l.kernel().kind(), l.name());
        Files.writeString(dir.resolve(l.kernel().function() + ".cu"), l.kernel().source());
        return l.kernel().function();
      }
    } finally {
      kiln.codegen.RowFusion.columnSumsOverride = null;
    }
    throw new AssertionError("no launch of the ln1 weight and bias sums");
  }

  private static String kernel(String index, String compute) {
    Matcher m = Pattern.compile("- colreduce `(k_colreduce_[0-9a-f]+)` " + Pattern.quote(compute) + "\n").matcher(index);
    assertTrue(m.find(), compute + " runs as a column reduction in generated/cuda/gpt2/INDEX.md");
    return m.group(1);
  }

  private static String run(List<String> cmd, Path dir, int want) throws Exception {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), String.join(" ", cmd) + " timed out");
    assertEquals(want, p.exitValue(), String.join(" ", cmd) + ":\n" + log);
    return log;
  }
}
