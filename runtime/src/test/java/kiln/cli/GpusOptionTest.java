// `--gpus` of train and bench: every refusal one line, before anything is built. On a machine with
// two GPUs and NCCL the data-parallel runs themselves are DataParallelGpuTest's.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import kiln.runtime.cuda.Cuda;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class GpusOptionTest {
  private static void assertError(String expected, String... args) {
    TrainCommandTest.Result r = TrainCommandTest.run(List.of(args));
    assertEquals(1, r.code(), r.out());
    assertEquals(List.of(expected), r.errLines());
  }

  @Test
  void gpusOnTheCpuIsRefused() {
    assertError("kiln: --gpus 2 needs --device cuda: data parallelism runs over GPUs through NCCL (the device here is cpu)",
        "train", "--device", "cpu", "--gpus", "2", "--out", "never");
    assertError("kiln: --gpus 2 needs --device cuda: data parallelism runs over GPUs through NCCL (the device here is cpu)",
        "bench", "--device", "cpu", "--gpus", "2");
  }

  @Test
  void gpusMustBePositive() {
    assertError("kiln: --gpus must be positive, got 0", "train", "--device", "cpu", "--gpus", "0", "--out", "never");
    assertError("kiln: --gpus must be positive, got -1", "bench", "--device", "cpu", "--gpus", "-1");
  }

  @Test
  void moreGpusThanTheMachineHasIsRefused() {
    Assumptions.assumeTrue(Cuda.available(), "needs a CUDA device to count");
    int present = Cuda.deviceCount();
    assertError("kiln: --gpus " + (present + 1) + ": this machine has " + present + " CUDA device" + (present == 1 ? "" : "s"),
        "bench", "--device", "cuda", "--gpus", Integer.toString(present + 1));
  }

  @Test
  void zeroAndNodeOptionsAreChecked() {
    assertError("kiln: --zero must be 0 or 1 (ZeRO-1 shards AdamW's state over the GPUs), got 2",
        "train", "--device", "cpu", "--zero", "2", "--out", "never");
    assertError("kiln: --zero 1 shards AdamW's state over the GPUs of the run: it needs --gpus > 1 or --nodes > 1 (this run has one GPU)",
        "bench", "--device", "cpu", "--zero", "1");
    assertError("kiln: --nodes 2 needs --rendezvous file:DIR (a directory every node sees) or tcp:HOST:PORT (node 0's address)",
        "train", "--device", "cpu", "--nodes", "2", "--out", "never");
    assertError("kiln: --node-rank must be in [0, --nodes 2), got 2",
        "train", "--device", "cpu", "--nodes", "2", "--node-rank", "2", "--rendezvous", "tcp:127.0.0.1:29500", "--out", "never");
    assertError("kiln: --rendezvous is only used with --nodes > 1 (one node shares the NCCL id in memory), got tcp:127.0.0.1:29500",
        "train", "--device", "cpu", "--rendezvous", "tcp:127.0.0.1:29500", "--out", "never");
    assertError("kiln: --nodes 2 needs --device cuda: data parallelism runs over GPUs through NCCL (the device here is cpu)",
        "train", "--device", "cpu", "--nodes", "2", "--rendezvous", "tcp:127.0.0.1:29500", "--out", "never");
    // bench takes the same options, checked the same way
    assertError("kiln: --nodes 2 needs --rendezvous file:DIR (a directory every node sees) or tcp:HOST:PORT (node 0's address)",
        "bench", "--device", "cpu", "--nodes", "2");
    assertError("kiln: --node-rank must be in [0, --nodes 2), got 2",
        "bench", "--device", "cpu", "--nodes", "2", "--node-rank", "2", "--rendezvous", "tcp:127.0.0.1:29500");
    assertError("kiln: --nodes 2 needs --device cuda: data parallelism runs over GPUs through NCCL (the device here is cpu)",
        "bench", "--device", "cpu", "--nodes", "2", "--rendezvous", "tcp:127.0.0.1:29500");
  }
}
