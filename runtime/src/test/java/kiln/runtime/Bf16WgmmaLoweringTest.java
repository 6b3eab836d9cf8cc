// Which matmuls `--precision bf16` runs on the bf16 Hopper matmul, without a GPU: GPT-2 124M at B=8, T=1024
// lowered as an H200 session lowers it (the bf16 storage pass, the device arena's placement), and the
// fallbacks the lowering must take (an fp32 operand, a misaligned one).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import kiln.codegen.CudaLowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.MatmulMatch;
import kiln.codegen.WgmmaBf16;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Test;

class Bf16WgmmaLoweringTest {
  static final CudaSchedule HOPPER_BF16 = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16).withWgmmaBf16(WgmmaBf16.DEFAULT);

  record Lowered(Program program, Arena arena, Map<String, CudaLowering.Lowered> sections) {}

  static Lowered gpt2Small() {
    Program p = Gpt2.build(12, kiln.codegen.BackendPass.CUDA);
    kiln.codegen.Bf16Storage.Stored stored = kiln.codegen.Bf16Storage.apply(p);
    Program q = stored.program();
    Map<Dim, Integer> sizes = Gpt2.bind(new Gpt2.Config(1024, 50257, 50304, 12, 12, 768), 8, 1024);
    Arena arena = new Arena(q.graph(), sizes, java.util.Set.of(q.loss()), Session.cudaLaunches(q, stored.cast()), false, Map.of());
    Map<String, List<Compute>> sections = Session.sections(q, stored.cast());
    kiln.codegen.Epilogue.Readers readers = new kiln.codegen.Epilogue.Readers(sections.values().stream().flatMap(List::stream).toList());
    Map<String, CudaLowering.Lowered> lowered = new java.util.LinkedHashMap<>();
    for (var e : sections.entrySet()) {
      lowered.put(e.getKey(), CudaLowering.lower(e.getValue(), HOPPER_BF16, m -> null, arena::size, 0, readers, arena::offsetLong));
    }
    return new Lowered(q, arena, lowered);
  }

  @Test
  void gpt2MatmulsOfTwoBf16OperandsRunOnTheBf16Tile() {
    Lowered l = gpt2Small();
    Map<String, String> kinds = new TreeMap<>();
    for (CudaLowering.Lowered s : l.sections().values()) {
      for (CudaLowering.CudaLaunch x : s.launches()) {
        CudaRenderer.Rendered r = x.kernel();
        if (!(r.work() instanceof CudaRenderer.Tiles || r.work() instanceof CudaRenderer.Bf16Tiles)) continue;
        String name = x.name().split("\\+")[0];
        if (name.matches("(?s).*\\bh[1-9]\\d*\\..*")) continue;   // layer 0 stands for every layer
        String what = r.kind();
        if (r.work() instanceof CudaRenderer.Bf16Tiles t) what += " " + t.aMajor() + "," + t.bMajor() + " " + t.out() + (t.tmaStore() ? " tma" : "");
        kinds.put(name, what);
      }
    }
    kinds.forEach((k, v) -> System.out.println(k + " -> " + v));
    StringBuilder unit = new StringBuilder();
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (CudaLowering.Lowered s : l.sections().values()) {
      for (var e : s.kernels().entrySet()) if (e.getKey().startsWith("k_wgmma_bf16") && seen.add(e.getKey())) unit.append(e.getValue().source()).append('\n');
    }
    try { java.nio.file.Files.writeString(java.nio.file.Path.of("/tmp/bf16unit.cu"), unit); } catch (java.io.IOException x) { throw new RuntimeException(x); }
  }
}
