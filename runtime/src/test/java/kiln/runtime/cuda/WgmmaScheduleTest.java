// The Hopper tile's knobs and choices without a GPU: its text round-trips through the tuning cache's
// parser, bad points say why, GPT-2's forward matmuls pick it and the backward ones keep mma.sync,
// only marked sources compile for sm_90a, and the tensor map refuses operands the copy engine cannot read.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.MatmulMatch;
import kiln.dsl.Compute;
import org.junit.jupiter.api.Test;

class WgmmaScheduleTest {
  @Test
  void knobsRoundTripAndBadPointsSayWhy() {
    for (CudaSchedule.MatmulTile t : CudaSchedule.wgmmaSpace()) {
      assertEquals(t, CudaSchedule.MatmulTile.parse(t.knobs()));
      assertTrue(t.sharedBytes() <= CudaSchedule.WgmmaTile.SHARED_LIMIT, t.knobs());
    }
    assertEquals("bm=128 bn=192 bk=32 stages=5 consumers=2", CudaSchedule.WGMMA_DEFAULT.knobs());
    assertEquals(384, CudaSchedule.WGMMA_DEFAULT.threads());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CudaSchedule.WgmmaTile(128, 256, 32, 6, 2));
    assertTrue(e.getMessage().startsWith("wgmma tile 128x256x32 stages 6 consumers 2: "), e.getMessage());
    assertEquals(null, CudaSchedule.MatmulTile.parse("bm=128 bn=256 bk=32 stages=6 consumers=2"), "an invalid point parses to null");
  }

  @Test
  void forwardMatmulsPickWgmmaBackwardOnesKeepMma() {
    CudaSchedule tf32 = CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.TF32);
    CudaSchedule hopper = tf32.withWgmma(CudaSchedule.WGMMA_DEFAULT);
    int fits = 0, others = 0;
    for (Compute c : kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA).graph().computes()) {
      var mm = MatmulMatch.of(c);
      if (mm.isEmpty()) continue;
      boolean fit = CudaRenderer.wgmmaFits(mm.get());
      if (fit) fits++; else others++;
      assertEquals(fit ? CudaSchedule.WGMMA_DEFAULT : tf32.mma(), hopper.matmulFor(mm.get()), c.name());
      assertEquals(tf32.mma(), tf32.matmulFor(mm.get()), "off without a wgmma tile: " + c.name());
      assertEquals(CudaSchedule.SIMT_DEFAULT, hopper.withPrecision(CudaSchedule.Precision.FP32).matmulFor(mm.get()), "fp32 stays on CUDA cores");
      if (fit) {
        assertTrue(hopper.matmulSpace(mm.get()).containsAll(CudaSchedule.wgmmaSpace()));
        assertEquals(CudaRenderer.matmul(mm.get(), false, CudaSchedule.WGMMA_DEFAULT).kind(), "wgmma");
      } else {
        assertFalse(hopper.matmulSpace(mm.get()).stream().anyMatch(t -> t instanceof CudaSchedule.WgmmaTile), c.name());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaRenderer.matmul(mm.get(), c.accumulate(), CudaSchedule.WGMMA_DEFAULT));
        assertTrue(e.getMessage().endsWith("the wgmma tile needs K-major operands without batch dims (CudaRenderer.wgmmaFits)"), e.getMessage());
      }
    }
    assertEquals(5, fits, "qkv, attproj, fc, fcproj and the classifier");
    assertTrue(others >= 8, "the backward matmuls: " + others);
  }

  @Test
  void onlyMarkedSourcesCompileForSm90a() {
    assertEquals("sm_90a", Nvrtc.archFor("x\n" + Nvrtc.SM90A_MARKER + "\ny", "sm_90"));
    assertEquals("sm_90", Nvrtc.archFor("plain", "sm_90"));
    assertEquals("sm_80", Nvrtc.archFor(Nvrtc.SM90A_MARKER, "sm_80"));
  }

  @Test
  void tensorMapRefusesUnalignedOperands() {
    CudaException e = assertThrows(CudaException.class, () -> TensorMaps.kMajorTf32(1024 + 4, 300, 260, 260, 128));
    assertEquals("tensor map: the copy engine needs a 16-byte aligned base and row pitch, found address 1028 and 1040 bytes per row", e.getMessage());
    assertThrows(CudaException.class, () -> TensorMaps.kMajorTf32(1024, 300, 258, 258, 128));
  }
}
