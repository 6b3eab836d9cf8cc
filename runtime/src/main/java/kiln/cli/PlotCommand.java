// `kiln plot`: the losses of several training runs in one PNG (bf16 against tf32, one GPU against two).
package kiln.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import kiln.runtime.train.LossPlot;
import kiln.runtime.train.TrainLog;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "plot", mixinStandardHelpOptions = true,
    description = "Draws the training and validation losses of several runs in one PNG.",
    footer = {"", "Example:", "  ./kiln plot --out docs/bf16-vs-tf32.png --label bf16 --label tf32 runs/bf16 runs/tf32"})
public final class PlotCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", paramLabel = "RUN", description = "A run directory (its log.csv) or a training log (.csv).")
  List<Path> runs;

  @Option(names = "--label", paramLabel = "NAME", description = "The legend name of each RUN in order (default: the run's directory name).")
  List<String> labels = new ArrayList<>();

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "The PNG to write.")
  Path out;

  @Override public Integer call() throws IOException {
    if (!labels.isEmpty() && labels.size() != runs.size()) {
      throw new UserError("--label: one per RUN (" + runs.size() + "), found " + labels.size());
    }
    List<LossPlot.Run> series = new ArrayList<>();
    for (int i = 0; i < runs.size(); i++) {
      Path log = Files.isDirectory(runs.get(i)) ? runs.get(i).resolve("log.csv") : runs.get(i);
      if (!Files.isRegularFile(log)) throw new UserError(log + ": no training log (a run directory holds log.csv)");
      String label = labels.isEmpty() ? runName(runs.get(i)) : labels.get(i);
      series.add(LossPlot.run(label, TrainLog.read(log)));
    }
    LossPlot.writeRuns(out, series);
    System.out.println("plot: wrote " + out);
    return 0;
  }

  private static String runName(Path run) {
    Path p = Files.isDirectory(run) ? run : run.toAbsolutePath().getParent();
    return p == null || p.getFileName() == null ? run.toString() : p.getFileName().toString();
  }
}
