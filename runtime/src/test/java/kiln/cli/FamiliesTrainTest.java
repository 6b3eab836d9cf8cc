// Every registered family trains and samples through the CLI: its first preset at one layer, a few
// steps on the bundled corpus (loss falls), the checkpoint reads back as that family, `kiln sample` runs.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import kiln.models.ModelFamily;
import kiln.runtime.Models;
import kiln.runtime.data.DefaultCorpus;
import kiln.runtime.train.ModelFiles;
import kiln.runtime.train.TrainLog;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class FamiliesTrainTest {
  @TempDir
  Path tmp;

  static List<String> families() { return Models.FAMILIES.stream().map(ModelFamily::name).toList(); }

  @ParameterizedTest
  @MethodSource("families")
  void trainsAndSamples(String name) throws IOException {
    ModelFamily<?> family = Models.FAMILIES.stream().filter(f -> f.name().equals(name)).findFirst().orElseThrow();
    String preset = family.presets().keySet().iterator().next();
    Path data = tmp.resolve("corpus");
    DefaultCorpus.ensurePrepared(data);
    Path run = tmp.resolve("run");
    TrainCommandTest.Result train = TrainCommandTest.run(List.of("train", "--model", preset, "--layers", "1", "--data", data.toString(),
        "--batch", "2", "--seq", "16", "--steps", "8", "--lr", "1e-2", "--warmup", "2", "--val-every", "0", "--sample-tokens", "0",
        "--threads", "2", "--device", "cpu", "--out", run.toString()));
    assertEquals(0, train.code(), train.err());
    List<TrainLog.Row> rows = TrainLog.read(run.resolve("log.csv"));
    assertEquals(8, rows.size());
    assertTrue(rows.getLast().loss() < rows.getFirst().loss() - 0.5, name + ": loss fell: " + rows.getFirst() + " -> " + rows.getLast());
    Models.Shape back = ModelFiles.read(run.resolve("ckpt_8").resolve("model.bin")).shape();
    assertSame(family, back.family());
    assertEquals(1, (int) (Integer) ModelFamily.component(back.config(), "layers"));

    TrainCommandTest.Result sample = TrainCommandTest.run(List.of("sample", "--checkpoint", run.toString(), "--prompt", "It was",
        "--tokens", "4", "--threads", "2", "--device", "cpu"));
    assertEquals(0, sample.code(), sample.err());
    assertTrue(sample.out().startsWith("It was"), sample.out());
    assertTrue(sample.errLines().getLast().startsWith("sample: 4 tokens in "), sample.err());
  }
}
