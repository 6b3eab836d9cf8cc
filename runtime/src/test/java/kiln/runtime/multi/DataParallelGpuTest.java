// Two GPUs through NCCL against one: 10 fp32 steps of gpt2-tiny on GPUs 0 and 1 at batch B each
// against GPU 0 alone at 2B (same init, same batches), and the replicas staying bit-identical; the
// same with ZeRO-1 (reduce-scatter, sharded AdamW, all-gather).
// Skips without two CUDA devices, libnccl or NCCL_NVLS_ENABLE=0 exported.
package kiln.runtime.multi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import kiln.codegen.CudaSchedule;
import kiln.dsl.Tensor;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.cuda.Cuda;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;

@Tag("gpu")
class DataParallelGpuTest {
  static final int B = 4, T = 64, STEPS = 10;

  @BeforeEach
  void needTwoGpusAndNccl() {
    Assumptions.assumeTrue(Cuda.deviceCount() >= 2, () -> "needs 2 CUDA devices, found " + Cuda.deviceCount());
    Assumptions.assumeTrue(Nccl.available(), () -> "no libnccl: " + Nccl.unavailableReason());
    Assumptions.assumeTrue("0".equals(System.getenv("NCCL_NVLS_ENABLE")), "run with NCCL_NVLS_ENABLE=0 exported (kiln refuses NCCL otherwise)");
  }

  @org.junit.jupiter.params.ParameterizedTest(name = "zero = {0}")
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void twoGpusTrainLikeOneAtTwiceTheBatch(boolean zero) {
    Models.Shape shape = Models.get("gpt2-tiny");
    ParityTrace one, two;
    try (Session s = shape.open(2 * B, T, Session.Device.CUDA, 1, CudaSchedule.Precision.FP32, 0, Session.Zero.NONE)) {
      one = ParityTrace.record(s, shape, 50257, STEPS, 3e-3f, 7, 1);
    }
    try (DataParallel dp = DataParallel.open(shape, B, T, CudaSchedule.Precision.FP32, null, new Rendezvous(2, 1, 0, null), zero)) {
      two = ParityTrace.record(dp, shape, 50257, STEPS, 3e-3f, 7, 2);
      // NCCL hands both ranks the same sums (or the same gathered slices): the parameters never diverge
      Tensor params = dp.paramsTensor();
      assertArrayEquals(dp.read(0, params), dp.read(1, params));
      if (zero) {
        Tensor m = dp.program().graph().roots().stream().filter(t -> t.name().equals("adam_m")).findFirst().orElseThrow();
        org.junit.jupiter.api.Assertions.assertEquals(ZeroShards.of(shape.paramCount(), 2).shardSize(), dp.read(1, m).length, "rank 1 keeps its shard of m");
        org.junit.jupiter.api.Assertions.assertEquals(shape.paramCount(), dp.read(m).length, "read gathers the whole m");
      }
    }
    System.out.print(ParityTrace.table(one, two));
    double grad = ParityTrace.relativeMaxDiff(one.firstGradient(), two.firstGradient());
    double loss = ParityTrace.maxLossDiff(one, two), norm = ParityTrace.maxNormRelDiff(one, two);
    double params = ParityTrace.relativeMaxDiff(one.params(), two.params());
    System.out.printf("GPU parity" + (zero ? " (ZeRO-1)" : "") + ": first gradient %.2e (rel. to max), losses %.2e, norms %.2e (rel.), params after %d steps %.2e%n", grad,
        loss, norm, STEPS, params);
    // measured on two H200s (2026-11-30): 1.6e-7, 6.1e-7, 9.5e-7 (one ulp of a loss near 10.8);
    // the tolerances and why: docs/multi-gpu.md, "Parity"
    assertTrue(grad < 1e-5, "first gradient differs by " + grad);
    assertTrue(norm < 1e-5, "gradient norms differ by " + norm);
    assertTrue(loss < 1e-5, "losses differ by " + loss);
  }

  /**
   * bf16 with ZeRO-1 on two GPUs against one GPU at 2B: the ranks' fp32 masters and bf16 copies bit-identical (each rank
   * rounds the same gathered master with seed t), the trace within the bf16 tolerances of DataParallelTest (docs/multi-gpu.md,
   * "bf16 with ZeRO-1"). Not run yet on two GPUs when written.
   */
  @org.junit.jupiter.api.Test
  void bf16ZeroOnTwoGpusTrainsLikeOneAtTwiceTheBatch() {
    Models.Shape shape = Models.get("gpt2-tiny");
    ParityTrace one, two;
    try (Session s = shape.open(2 * B, T, Session.Device.CUDA, 1, CudaSchedule.Precision.BF16, 0, Session.Zero.NONE)) {
      one = ParityTrace.record(s, shape, 50257, STEPS, 3e-3f, 7, 1);
    }
    try (DataParallel dp = DataParallel.open(shape, B, T, CudaSchedule.Precision.BF16, null, new Rendezvous(2, 1, 0, null), true)) {
      two = ParityTrace.record(dp, shape, 50257, STEPS, 3e-3f, 7, 2);
      assertArrayEquals(dp.read(0, dp.paramsTensor()), dp.read(1, dp.paramsTensor()), "the masters after the all-gather");
      dp.forward();   // the copy of the last update's master is made before the next forward
      Tensor copy = dp.program().graph().roots().stream().filter(t -> t.name().equals("params_bf16")).findFirst().orElseThrow();
      assertArrayEquals(dp.read(0, copy), dp.read(1, copy), "the ranks' bf16 copies");
    }
    System.out.print(ParityTrace.table(one, two));
    double grad = ParityTrace.relativeMaxDiff(one.firstGradient(), two.firstGradient());
    double loss = ParityTrace.maxLossDiff(one, two), norm = ParityTrace.maxNormRelDiff(one, two);
    System.out.printf("GPU parity (bf16, ZeRO-1): first gradient %.2e (rel. to max), losses %.2e, norms %.2e (rel.)%n", grad, loss, norm);
    assertTrue(grad < 5e-2, "first gradient differs by " + grad);
    assertTrue(norm < 5e-2, "gradient norms differ by " + norm);
    assertTrue(loss < 5e-3, "losses differ by " + loss);
  }
}
