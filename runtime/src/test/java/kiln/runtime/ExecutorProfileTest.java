// The profile of the Executor base, on the CPU and (tagged gpu: skips where no CUDA device is present, and must run
// where one is) on CUDA, whose launches are timed between events.
package kiln.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import kiln.runtime.cuda.Cuda;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

class ExecutorProfileTest {
  private static String fold(String name) { return name.replaceAll("h\\d+\\.", "h*.").replaceAll("\\[\\d+\\]", "[*]"); }

  @Test
  void aCpuProfileTimesEachLaunchOfTheSectionThatRan() { check(Session.Device.CPU); }

  @Test
  @Tag("gpu")
  void aCudaProfileTimesEachLaunchOfTheSectionThatRan() {
    Assumptions.assumeTrue(Cuda.available(), "no CUDA device: " + Cuda.unavailableReason());
    check(Session.Device.CUDA);
  }

  /**
   * Every launch is timed under its own number in the program: after a forward alone, each forward launch has time,
   * no launch of another section has any, and the times add up to no more than the forward took (launches sharing a
   * number would each report their sum).
   */
  private static void check(Session.Device device) {
    Models.Shape shape = Models.get("gpt2-tiny");
    try (Session s = shape.open(1, 64, device, 1)) {
      s.loadParams(shape.randomInit(1));
      s.setBatch(new int[64], new int[64]);
      s.executor.enableProfile();
      long start = System.nanoTime();
      s.forward();
      s.executor.synchronize();
      long wall = System.nanoTime() - start;
      Set<String> forward = s.executor.launchNames("forward").stream().map(ExecutorProfileTest::fold).collect(Collectors.toSet());
      int timed = 0;
      long sum = 0;
      for (Map.Entry<String, Long> e : s.executor.profile()) {
        String name = e.getKey().substring(e.getKey().indexOf(' ') + 1);
        if (forward.contains(name)) {
          assertTrue(e.getValue() > 0, "forward launch " + e.getKey() + " has no time");
          timed++;
          sum += e.getValue();
        } else {
          assertEquals(0L, e.getValue(), "launch " + e.getKey() + " did not run but has time");
        }
      }
      assertEquals(forward.size(), timed, "every forward launch appears in the profile");
      assertTrue(sum <= wall, "the launches' times add up to " + sum + " ns, more than the forward's " + wall + " ns");
    }
  }
}
