// The bf16 wgmma tile's knobs (no GPU): every point of the space is valid and round-trips through its
// knobs text, invalid points fail with one line naming the rule, the rendered kernel carries the layouts'
// transpose bits and the sm_90a marker, bf16 rounding is to nearest even, and the bf16 tensor map refuses
// operands the copy engine cannot read before reaching the driver.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import kiln.codegen.WgmmaBf16;
import kiln.codegen.WgmmaBf16.Major;
import kiln.codegen.WgmmaBf16.Out;
import kiln.codegen.WgmmaBf16.Tile;
import org.junit.jupiter.api.Test;

class WgmmaBf16TileTest {
  @Test
  void everyPointOfTheSpaceIsValidAndRoundTrips() {
    assertTrue(WgmmaBf16.space().contains(WgmmaBf16.DEFAULT));
    for (Tile t : WgmmaBf16.space()) {
      assertEquals(t, Tile.parse(t.knobs()), t.knobs());
      assertTrue(t.sharedBytes() <= Tile.SHARED_LIMIT, t.knobs());
      assertEquals(128 * (t.consumers() + 1), t.threads());
    }
    assertEquals("bm=128 bn=128 stages=6 consumers=2 pingpong=1 group=16", new Tile(128, 128, 6, 2, true, 16).knobs());
    assertEquals("bm=128 bn=192 stages=4 consumers=2 group=16 tmastore=1", new Tile(128, 192, 4, 2, false, 16, true).knobs());
    assertNull(Tile.parse("bm=128 bn=256 stages=4"));
    assertNull(Tile.parse("bm=128 bn=256 stages=4 consumers=2 group=16 bk=64"));
    assertNull(Tile.parse("bm=128 bn=96 stages=4 consumers=2 group=16"));
    assertNull(Tile.parse("garbage"));
  }

  @Test
  void invalidPointsSayWhichRuleTheyBreak() {
    assertEquals("bf16 wgmma tile 256x256 stages 2 consumers 4 group 16: 1 to 3 consumer warpgroups, found 4",
        assertThrows(IllegalArgumentException.class, () -> new Tile(256, 256, 2, 4, false, 16)).getMessage());
    assertEquals("bf16 wgmma tile 128x256 stages 4 consumers 3 group 16: BM a multiple of 64 up to 256, 64-row blocks per consumer",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 256, 4, 3, false, 16)).getMessage());
    // three consumers share the registers of 512 threads: 152 a consumer thread, at most 96 accumulators
    assertEquals("bf16 wgmma tile 192x256 stages 3 consumers 3 group 16: at most 96 accumulators per thread with 3 consumers, found 128",
        assertThrows(IllegalArgumentException.class, () -> new Tile(192, 256, 3, 3, false, 16)).getMessage());
    assertEquals(152, Tile.consumerRegisters(3));
    assertEquals(232, Tile.consumerRegisters(2));
    assertTrue(128 * 40 + 3 * 128 * Tile.consumerRegisters(3) <= 65536, "the producer's 40 and three consumers' registers fit an SM");
    assertEquals("bf16 wgmma tile 128x128 stages 4 consumers 1 pingpong group 16: pingpong needs 2 consumers",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 128, 4, 1, true, 16)).getMessage());
    assertEquals("bf16 wgmma tile 128x96 stages 4 consumers 2 group 16: BN a multiple of 64 up to 256",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 96, 4, 2, false, 16)).getMessage());
    assertEquals("bf16 wgmma tile 64x128 stages 4 consumers 2 group 16: BM a multiple of 64 up to 256, 64-row blocks per consumer",
        assertThrows(IllegalArgumentException.class, () -> new Tile(64, 128, 4, 2, false, 16)).getMessage());
    assertEquals("bf16 wgmma tile 128x256 stages 4 consumers 2 pingpong group 16: at most 128 accumulators per thread, found 256",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 256, 4, 2, true, 16)).getMessage());
    assertEquals("bf16 wgmma tile 128x256 stages 5 consumers 2 group 16: the ring needs 246880 bytes, over 232448",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 256, 5, 2, false, 16)).getMessage());
    assertEquals("bf16 wgmma tile 128x192 stages 5 consumers 2 group 16 tmastore: the ring and C's staging need 255072 bytes, over 232448",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 192, 5, 2, false, 16, true)).getMessage());
    assertEquals("bf16 wgmma tile 128x256 stages 1 consumers 2 group 16: at least 2 stages",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 256, 1, 2, false, 16)).getMessage());
    assertEquals("bf16 wgmma tile 128x256 stages 4 consumers 2 group 0: a raster group of 1 to 64 tiles",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 256, 4, 2, false, 0)).getMessage());
  }

  @Test
  void clustersOfTwoShareBAndLaunchInPairs() {
    Tile c = WgmmaBf16.CLUSTERED;
    assertEquals("bm=128 bn=192 stages=4 consumers=2 group=16 tmastore=1 cluster=2", c.knobs());
    assertEquals(c, Tile.parse(c.knobs()));
    assertEquals(96, c.boxRows(WgmmaBf16.Major.K, false), "each block of a pair copies half of a K-major B");
    assertEquals(128, c.boxRows(WgmmaBf16.Major.K, true));
    assertEquals(64, c.boxRows(WgmmaBf16.Major.MN, false));
    // 32768 x 768: 256 x 4 tiles, 128 pair units: 66 clusters on 132 SMs; 3 x 2 tiles: 4 pair units, 8 blocks
    assertEquals(132, c.blocks(32768, 768, 132));
    assertEquals(8, c.blocks(328, 200, 132));
    assertEquals(2, c.blocks(328, 200, 2));
    assertEquals(2, c.blocks(328, 200, 3), "a grid of whole clusters");
    assertEquals(c.withSplits(1), c);
    assertEquals(1, c.withSplits(4).cluster(), "split-K runs on lone blocks");
    assertEquals("bf16 wgmma tile 128x128 stages 6 consumers 2 pingpong group 16 cluster 2: a cluster of 2 takes cooperative, unsplit tiles",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 128, 6, 2, true, 16, false, 1, 2)).getMessage());
    assertEquals("bf16 wgmma tile 128x192 stages 4 consumers 2 group 16 cluster 4: clusters of 1 or 2 blocks, found 4",
        assertThrows(IllegalArgumentException.class, () -> new Tile(128, 192, 4, 2, false, 16, false, 1, 4)).getMessage());
  }

  @Test
  void persistentGridIsOneBlockPerSmAtMostOnePerTile() {
    assertEquals(132, WgmmaBf16.DEFAULT.blocks(8192, 768, 132));   // 64 x 4 tiles of 128 x 192
    assertEquals(6, WgmmaBf16.DEFAULT.blocks(300, 200, 132));      // 3 x 2 tiles
  }

  @Test
  void renderedKernelCarriesTheLayoutsAndTheOutputType() {
    Tile wide = new Tile(128, 256, 4, 2, false, 16);
    WgmmaBf16.Kernel kk = WgmmaBf16.render(wide, Major.K, Major.K, Out.F32, false);
    WgmmaBf16.Kernel mn = WgmmaBf16.render(wide, Major.MN, Major.MN, Out.BF16, true);
    assertTrue(kk.source().contains(Nvrtc.SM90A_MARKER));
    assertTrue(kk.source().contains("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16"), "the bf16 instruction");
    assertTrue(kk.source().contains("p, 1, 1, 0, 0; }"), "K-major: no transpose bits");
    assertTrue(mn.source().contains("p, 1, 1, 1, 1; }"), "MN-major: both transpose bits");
    assertTrue(mn.source().contains("cvt.rn.bf16x2.f32") && !kk.source().contains("cvt.rn.bf16x2.f32"), "bf16 C rounds, fp32 C does not");
    assertTrue(mn.function().startsWith("k_wgmma_bf16_acc_") && kk.function().startsWith("k_wgmma_bf16_"));
    Tile staged = new Tile(128, 192, 4, 2, false, 16, true);
    assertTrue(WgmmaBf16.render(staged, Major.K, Major.K, Out.BF16, false).tmaStore(), "bf16 C through the copy engine");
    assertTrue(WgmmaBf16.render(staged, Major.K, Major.K, Out.BF16, false).source().contains("cp.async.bulk.tensor.2d.global.shared::cta"));
    assertTrue(!WgmmaBf16.render(staged, Major.K, Major.K, Out.F32, false).tmaStore(), "fp32 C from the registers");
    assertTrue(!WgmmaBf16.render(staged, Major.K, Major.K, Out.BF16, true).tmaStore(), "+= from the registers");
    assertNotEquals(kk.function(), WgmmaBf16.render(wide, Major.K, Major.MN, Out.F32, false).function());
  }

  @Test
  void bf16RoundsToNearestEven() {
    float ulp = Math.scalb(1f, -7);   // bf16 keeps 7 fraction bits
    assertEquals(1f, Bf16Matmul.toFloat(Bf16Matmul.bf16(1f + ulp / 2)), "a tie goes to the even neighbour (1)");
    assertEquals(1f + 2 * ulp, Bf16Matmul.toFloat(Bf16Matmul.bf16(1f + 1.5f * ulp)), "a tie goes to the even neighbour (1 + 2 ulp)");
    assertEquals(1f + ulp, Bf16Matmul.toFloat(Bf16Matmul.bf16(1f + 0.75f * ulp)));
    assertEquals(-3f, Bf16Matmul.toFloat(Bf16Matmul.bf16(-3f)));
    assertTrue(Float.isNaN(Bf16Matmul.toFloat(Bf16Matmul.bf16(Float.NaN))));
    short[] v = {1, -2, 3, 0x7F80, (short) 0x8000};
    // element 2i in the low half of int i
    assertEquals(java.util.Arrays.toString(new int[] {0xFFFE0001, 0x7F800003, 0x8000}), java.util.Arrays.toString(Bf16Matmul.pack(v)));
  }

  @Test
  void bf16TensorMapRefusesUnalignedOperands() {
    assertEquals("tensor map: the copy engine needs a 16-byte aligned base and row pitch, found address 1032 and 1536 bytes per row",
        assertThrows(CudaException.class, () -> TensorMaps.bf16(1024 + 8, 768, 300, 768, 128)).getMessage());
    assertEquals("tensor map: the copy engine needs a 16-byte aligned base and row pitch, found address 1024 and 1540 bytes per row",
        assertThrows(CudaException.class, () -> TensorMaps.bf16(1024, 770, 300, 770, 128)).getMessage());
    assertEquals("tensor map: the inner size must be 1..768 (the row pitch), found 800",
        assertThrows(IllegalArgumentException.class, () -> TensorMaps.bf16(1024, 800, 300, 768, 128)).getMessage());
  }
}
