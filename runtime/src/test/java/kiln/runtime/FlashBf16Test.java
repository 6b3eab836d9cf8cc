// The bf16 flash attention on the CPU side: which tensors the precision pass narrows for it, that the CUDA
// renderer picks it by storage, and that its kernels compile for sm_90a at the head sizes it takes without
// register spills (local nvcc; skips where absent). tests on the GPU: CudaVerifyTest's bf16 cases, and
// scripts/check-attnbf16.sh (against PyTorch's scaled_dot_product_attention).
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import kiln.codegen.Rendered;
import kiln.codegen.BackendPass;
import kiln.codegen.Bf16Storage;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.models.Program;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FlashBf16Test {
  private static Program bf16() { return Bf16Storage.apply(Gpt2.build(1, BackendPass.CUDA), true, Bf16Storage.Residual.FP32).program(); }

  private static List<Compute> externs(Program p) {
    return p.graph().computes().stream().filter(c -> c.body() instanceof Expr.Extern).toList();
  }

  @Test void attentionTensorsAreBf16ButLseAndD() {
    Program p = bf16();
    List<Compute> externs = externs(p);
    assertEquals(3, externs.size(), "forward, dq and dkdv of the one layer");
    for (Compute c : externs) {
      List<Tensor> args = ((Expr.Extern) c.body()).tensors().stream().map(Expr.Load::tensor).toList();
      String op = ((Expr.Extern) c.body()).op();
      for (int i = 0; i < args.size(); i++) {
        boolean stats = i == 4 || (i == 5 && !op.equals("attention"));   // lse; D (Externs.attention's order)
        assertEquals(stats ? DType.F32 : DType.BF16, args.get(i).storage(), op + " argument " + i + " (" + args.get(i).name() + ")");
      }
    }
  }

  @Test void theRendererPicksTheBf16KernelsByStorage() {
    for (Compute c : externs(bf16())) {
      Rendered r = kiln.codegen.Externs.render(c, CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16), d -> 64);
      assertTrue(r.kind().startsWith("attention_bf16"), r.kind());
      assertTrue(r.source().contains("#define HS 64"), "HS fixed at render time");
    }
    // fp32 storage (the pass without the bf16 kernels) keeps the fp32 kernels
    for (Compute c : externs(Bf16Storage.apply(Gpt2.build(1, BackendPass.CUDA), false, Bf16Storage.Residual.FP32).program())) {
      Rendered r = kiln.codegen.Externs.render(c, CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16), d -> 64);
      assertTrue(!r.kind().startsWith("attention_bf16"), r.kind());
    }
  }

  /** A session takes the bf16 kernels only where they take the head size (else the fp32 seam, as before). */
  @Test void theHeadSizeDecides() {
    Program p = Gpt2.build(1, BackendPass.CUDA);
    Map<kiln.dsl.Dim, Integer> hs64 = Gpt2.FAMILY.bind(new Gpt2.Config(64, 1000, 1024, 1, 2, 128), 2, 16);
    Map<kiln.dsl.Dim, Integer> hs24 = Gpt2.FAMILY.bind(new Gpt2.Config(64, 1000, 1024, 1, 2, 48), 2, 16);
    assertTrue(kiln.codegen.FlashBf16.takes(p, hs64::get), "HS = 64");
    assertTrue(!kiln.codegen.FlashBf16.takes(p, hs24::get), "HS = 24");
  }

  @Test void aHeadSizeOffSixteenIsRefused() {
    Compute forward = externs(bf16()).getFirst();
    var e = assertThrows(IllegalArgumentException.class,
        () -> kiln.codegen.Externs.render(forward, CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16), d -> 40));
    assertTrue(e.getMessage().contains("bf16 flash attention: a head size that is a multiple of 16, at most 128, found 40"), e.getMessage());
  }

  /** Forward, dq and dkdv ('=' and '+=') at HS 16, 64 and 128: one nvcc run each, -Xptxas -v, no spills. */
  @Test void kernelsCompileWithoutSpills(@TempDir Path tmp) throws IOException, InterruptedException {
    Assumptions.assumeTrue(Files.isExecutable(NvccCompileTest.NVCC), "no nvcc at " + NvccCompileTest.NVCC + " (set KILN_NVCC)");
    List<Compute> externs = externs(bf16());
    for (int hs : new int[] {16, 64, 128}) {
      StringBuilder unit = new StringBuilder();
      int kernels = 0;
      for (Compute c : externs) {
        for (boolean acc : new boolean[] {false, true}) {
          if (acc && ((Expr.Extern) c.body()).op().equals("attention")) continue;
          Compute k = new Compute(c.name(), c.layer(), c.out(), c.loopVars(), c.outIndex(), c.body(), acc);
          unit.append(kiln.codegen.Externs.render(k, CudaSchedule.DEFAULT.withPrecision(CudaSchedule.Precision.BF16), d -> hs).source()).append('\n');
          kernels++;
        }
      }
      Path cu = tmp.resolve("fab" + hs + ".cu");
      Files.writeString(cu, unit);
      Process p = new ProcessBuilder(NvccCompileTest.NVCC.toString(), "-cubin", "-arch=sm_90a", "-Xptxas", "-v",
          "-o", tmp.resolve("fab" + hs + ".cubin").toString(), cu.toString()).redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes());
      assertTrue(p.waitFor(600, TimeUnit.SECONDS), "nvcc timed out");
      assertEquals(0, p.exitValue(), "nvcc failed at HS=" + hs + ":\n" + log);
      long entries = log.lines().filter(l -> l.contains("Compiling entry function")).count();
      assertEquals(kernels, entries, log);
      assertTrue(log.lines().noneMatch(l -> l.matches(".*\\b[1-9][0-9]* bytes spill.*")), "register spills at HS=" + hs + ":\n" + log);
      // HS 64 asks NVRTC for sm_90a (the wgmma kernels); the other head sizes compile for the device's arch
      assertEquals(hs == 64, unit.toString().contains(kiln.runtime.cuda.Nvrtc.SM90A_MARKER), "the sm_90a marker at HS=" + hs);
      if (hs == 64) {
        // sm_90a takes the wgmma kernels, any other arch the mma.sync ones (here sm_80)
        // the forward 28 (S and PV of the 128-key tiles, 4 + 8, and of the 64-key unmasked and diagonal tiles, compiled
        // apart, 16), dq 12 (S, dP, dS K) and dkdv 16 (S^T, dP^T, P^T dy, dS^T q), dq and dkdv in both forms
        assertEquals(28 + 2 * 12 + 2 * 16, wgmmas(ptx(cu, "sm_90a", tmp)), "wgmma instructions at HS 64 on sm_90a");
        String other = ptx(cu, "sm_80", tmp);
        assertEquals(0, wgmmas(other), "no wgmma at HS 64 on sm_80");
        assertTrue(other.contains("mma.sync.aligned.m16n8k16"), "mma.sync at HS 64 on sm_80");
      }
    }
  }

  private static String ptx(Path cu, String arch, Path tmp) throws IOException, InterruptedException {
    Path out = tmp.resolve("fab-" + arch + ".ptx");
    Process p = new ProcessBuilder(NvccCompileTest.NVCC.toString(), "-ptx", "-arch=" + arch, "-o", out.toString(), cu.toString())
        .redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(600, TimeUnit.SECONDS), "nvcc timed out");
    assertEquals(0, p.exitValue(), "nvcc -ptx failed for " + arch + ":\n" + log);
    return Files.readString(out);
  }

  private static long wgmmas(String ptx) { return ptx.lines().filter(l -> l.contains("wgmma.mma_async")).count(); }
}
