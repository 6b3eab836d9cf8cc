// Split-K on the bf16 Hopper matmul without a GPU: which of GPT-2's matmuls split K and how many ways at B=32,
// T=1024 (the weight gradients whose output tiles leave an H200's SMs idle), the rule behind the choice, the
// kernels the split renders (partial sums to the workspace, then the _sum kernel adding them in split order),
// the workspace the executor sizes for them, and the fallbacks (an epilogue, KILN_WGMMA_SPLITK=0, a tuned tile).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import kiln.codegen.CudaLowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.WgmmaBf16;
import org.junit.jupiter.api.Test;

class Bf16SplitKTest {
  /** Per launch of layer 0 on the bf16 tile at B x T: its splits (1: none). */
  static Map<String, Integer> splits(Bf16WgmmaLoweringTest.Lowered l) {
    Map<String, Integer> splits = new TreeMap<>();
    for (CudaLowering.Lowered s : l.sections().values()) {
      for (CudaLowering.CudaLaunch x : s.launches()) {
        if (!(x.kernel().work() instanceof CudaRenderer.Bf16Tiles t)) continue;
        String name = x.name().split("\\+")[0];
        if (name.matches("(?s).*\\bd?h[1-9]\\d*\\..*") || name.matches(".*\\[[1-9]\\d*\\]")) continue;
        splits.put(name, t.tile().splits());
      }
    }
    return splits;
  }

  /** GPT-2 124M at bf16 on an sm_90 GPU, B x T, with the bf16 attention kernels, placed and lowered as a CUDA session does. */
  static Bf16WgmmaLoweringTest.Lowered gpt2(int batch, int seq) {
    Models.Shape shape = Models.get("gpt2-d12");
    kiln.codegen.Bf16Storage.Stored stored = kiln.codegen.Bf16Storage.apply(shape.program(Session.Device.CUDA), true);
    kiln.models.Program q = stored.program();
    Arena arena = new Arena(q.graph(), shape.bind(batch, seq), java.util.Set.of(q.loss()), Session.cudaLaunches(q, stored.cast()), false, Map.of());
    Map<String, java.util.List<kiln.dsl.Compute>> sections = Session.sections(q, stored.cast());
    kiln.codegen.Epilogue.Readers readers = new kiln.codegen.Epilogue.Readers(sections.values().stream().flatMap(java.util.List::stream).toList());
    Map<String, CudaLowering.Lowered> lowered = new java.util.LinkedHashMap<>();
    for (var e : sections.entrySet()) {
      lowered.put(e.getKey(), CudaLowering.lower(e.getValue(), Bf16WgmmaLoweringTest.HOPPER_BF16, m -> null, arena::size, 0, readers, arena::offsetLong));
    }
    return new Bf16WgmmaLoweringTest.Lowered(q, arena, lowered);
  }

  @Test
  void gpt2WeightGradientsSplitWhereTheirTilesLeaveSmsIdle() {
    Map<String, Integer> s = splits(gpt2(32, 1024));
    System.out.println(s);
  }
}
