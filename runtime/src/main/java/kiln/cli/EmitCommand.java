// `kiln emit`: regenerates generated/ (the kernels of the shipped models) from the DSL.
package kiln.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import kiln.runtime.ShippedModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "emit", mixinStandardHelpOptions = true,
    description = "Writes the generated kernels of the shipped models to generated/ (committed; a test diffs them).",
    footer = {"", "Example:", "  ./kiln emit            # rewrites generated/java", "  ./kiln emit --out /tmp/gen"})
public final class EmitCommand implements Callable<Integer> {
  @Option(names = "--out", defaultValue = "generated", description = "output folder (default: ${DEFAULT-VALUE})") Path out;

  @Override public Integer call() throws Exception {
    var files = ShippedModels.emit(out);
    System.out.printf("emit: %d files under %s%n", files, out);
    return 0;
  }
}
