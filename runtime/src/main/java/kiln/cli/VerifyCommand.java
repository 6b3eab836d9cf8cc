// `kiln verify`: forward + backward (+ AdamW steps) against a PyTorch debug state, tensor by tensor.
package kiln.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import kiln.runtime.Verify;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "verify", mixinStandardHelpOptions = true,
    description = "Checks kiln's forward, backward and AdamW against a PyTorch reference (llm.c debug state).",
    footer = {"", "Example:", "  ./kiln verify --model build/fixtures/tiny/model.bin --state build/fixtures/tiny/state.bin \\",
        "      --losses build/fixtures/tiny/losses.txt",
        "Prints max abs / max rel diff per tensor (rel = abs / reference max abs); last line verify: OK or verify: FAIL."})
public final class VerifyCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "llm.c model file (v3 or v5)") Path model;
  @Option(names = "--state", required = true, description = "llm.c debug state (v2) for a batch") Path state;
  @Option(names = "--losses", description = "text file of 10 reference losses, one per AdamW step") Path losses;
  @Mixin SharedOptions.CpuDevice device;
  @Mixin SharedOptions.Fp32Precision precision;
  @Mixin SharedOptions.Recompute recompute;

  @Override public Integer call() {
    var d = device.device();
    int n = device.threads();
    var p = precision.on(d);
    var r = recompute.requested();
    return Verify.run(model, state, losses, d, p, r, n, Verify.Tolerances.of(d, p), System.out) ? 0 : 1;
  }
}
