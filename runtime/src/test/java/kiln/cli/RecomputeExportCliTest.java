// The CLI side of issue 13's last pieces: --recompute on train, bench, verify and tune (a run with gelu logs the losses of a
// run with none, bit for bit; bad values and a model without GELU get one line), --precision's defaults (bf16 on CUDA for
// train and bench, fp32 elsewhere), and `kiln export` writing llm.c v3/v5 files atomically, read back as the bf16 rounding.
package kiln.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.format.ModelFile;
import kiln.runtime.format.TokenShard;
import kiln.runtime.train.TrainLog;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class RecomputeExportCliTest {
  @TempDir
  static Path tmp;
  static Path data;
  static Path runNone;
  static Path runGelu;

  @BeforeAll
  static void trainTwice() throws IOException {
    data = Files.createDirectories(tmp.resolve("data"));
    Random random = new Random(5);
    TokenShard.write(data.resolve("train_000000.bin"), random.ints(3000, 0, 50257).toArray());
    TokenShard.write(data.resolve("val_000000.bin"), random.ints(300, 0, 50257).toArray());
    runNone = tmp.resolve("none");
    runGelu = tmp.resolve("gelu");
    for (Path out : List.of(runNone, runGelu)) {
      var r = TrainCommandTest.run(train("--out", out.toString(), "--recompute", out.getFileName().toString()));
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains("train: --precision fp32, --recompute " + out.getFileName() + "\n"), r.out());
    }
  }

  private static List<String> train(String... extra) { return TrainCommandTest.trainArgs(data, BadInputTest.SMALL, extra); }

  private static void assertError(String expected, List<String> args) {
    var r = TrainCommandTest.run(args);
    assertEquals(1, r.code(), r.out());
    assertEquals(List.of(expected), r.errLines());
  }

  @Test void geluRecomputeLogsTheLossesOfNoneBitForBit() throws IOException {
    List<TrainLog.Row> none = TrainLog.read(runNone.resolve("log.csv")), gelu = TrainLog.read(runGelu.resolve("log.csv"));
    assertEquals(4, none.size());
    for (int i = 0; i < none.size(); i++) {
      assertEquals(none.get(i).loss(), gelu.get(i).loss(), "step " + i);
      assertEquals(none.get(i).gradNorm(), gelu.get(i).gradNorm(), "step " + i);
    }
    assertArrayEquals(Files.readAllBytes(runNone.resolve("ckpt_4").resolve("model.bin")), Files.readAllBytes(runGelu.resolve("ckpt_4").resolve("model.bin")));
  }

  /** --recompute may change on --resume: the none run resumed at step 2 with gelu repeats steps 3 and 4 bit for bit. */
  @Test void resumeMayChangeThePolicy() throws IOException {
    Path resumed = tmp.resolve("resumed");
    var r = TrainCommandTest.run(List.of("train", "--resume", runNone.resolve("ckpt_2").toString(), "--out", resumed.toString(),
        "--recompute", "gelu", "--threads", "1"));
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("train: --precision fp32, --recompute gelu\n"), r.out());
    List<TrainLog.Row> none = TrainLog.read(runNone.resolve("log.csv")), again = TrainLog.read(resumed.resolve("log.csv"));
    assertEquals(none.size(), again.size());
    for (int i = 0; i < none.size(); i++) assertEquals(none.get(i).loss(), again.get(i).loss(), "step " + i);
  }

  @Test void badRecomputeValuesGetOneLine() {
    String line = "kiln: --recompute all: expected none or gelu";
    assertError(line, train("--out", tmp.resolve("bad").toString(), "--recompute", "all"));
    assertError(line, List.of("bench", "--device", "cpu", "--recompute", "all"));
    assertError(line, List.of("tune", "--device", "cpu", "--recompute", "all"));
    assertError(line, List.of("verify", "--model", "m.bin", "--state", "s.bin", "--recompute", "all"));
    String llama = "kiln: --recompute gelu: a llama model has no gelu activation to recompute; expected none for it (accepted: none, gelu)";
    assertError(llama, List.of("bench", "--device", "cpu", "--model", "llama-tiny", "--recompute", "gelu"));
    assertError(llama, train("--out", tmp.resolve("llama").toString(), "--model", "llama-tiny", "--recompute", "gelu"));
    assertFalse(Files.exists(tmp.resolve("llama")), "refused before the run directory is made");
  }

  @Test void precisionDefaults() {
    BenchCommand bench = new BenchCommand();
    new CommandLine(bench).parseArgs();
    assertEquals(CudaSchedule.Precision.BF16, bench.precision.on(Session.Device.CUDA));
    assertEquals(CudaSchedule.Precision.FP32, bench.precision.on(Session.Device.CPU));
    TrainCommand train = new TrainCommand();
    new CommandLine(train).parseArgs();
    assertEquals(CudaSchedule.Precision.BF16, train.precision.on(Session.Device.CUDA));
    assertEquals(CudaSchedule.Precision.FP32, train.precision.on(Session.Device.CPU));
    new CommandLine(train).parseArgs("--precision", "tf32");
    assertEquals(CudaSchedule.Precision.TF32, train.precision.on(Session.Device.CUDA));
    VerifyCommand verify = new VerifyCommand();
    new CommandLine(verify).parseArgs("--model", "m", "--state", "s");
    assertEquals(CudaSchedule.Precision.FP32, verify.precision.on(Session.Device.CUDA));
    TuneCommand tune = new TuneCommand();
    new CommandLine(tune).parseArgs();
    assertEquals(CudaSchedule.Precision.FP32, tune.precision.on(Session.Device.CUDA));
  }

  /** bf16 of x, rounded to nearest, ties to even (finite x): what a v5 file holds. */
  private static float bf16(float x) {
    int bits = Float.floatToRawIntBits(x);
    int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
    return Float.intBitsToFloat(rounded & 0xFFFF0000);
  }

  @Test void exportWritesV5ThatLoadsAsTheBf16RoundingOfTheCheckpoint() throws IOException {
    Path v5 = tmp.resolve("model_v5.bin"), v3 = tmp.resolve("model_v3.bin");
    var r = TrainCommandTest.run(List.of("export", "--checkpoint", runNone.toString(), "--out", v5.toString(), "--dtype", "bf16"));
    assertEquals(0, r.code(), r.err());
    Path source = runNone.resolve("ckpt_4").resolve("model.bin");
    ModelFile.Loaded original = ModelFile.read(source);
    ModelFile.Loaded back = ModelFile.read(v5);
    assertEquals(3, original.version());
    assertEquals(5, back.version());
    assertEquals(original.shape(), back.shape());
    assertEquals(1024 + 2L * original.params().length, Files.size(v5), "header, then 2 bytes a value");
    float[] want = original.params().clone();
    int changed = 0;
    for (int i = 0; i < want.length; i++) {
      want[i] = bf16(want[i]);
      if (want[i] != original.params()[i]) changed++;
    }
    assertTrue(changed > want.length / 2, "trained fp32 values mostly need rounding: " + changed);
    assertArrayEquals(want, back.params());
    assertEquals("export: " + source + " (" + original.shape().describe() + ", " + String.format("%,d", original.shape().paramCount())
        + " parameters) -> " + v5 + ": an llm.c GPT-2 model, version 5 (bf16), " + String.format("%,d", Files.size(v5)) + " bytes\n", r.out());

    // v5 back to v3: the bf16 values exactly, in fp32
    r = TrainCommandTest.run(List.of("export", "--checkpoint", v5.toString(), "--out", v3.toString()));
    assertEquals(0, r.code(), r.err());
    assertEquals(3, ModelFile.read(v3).version());
    assertArrayEquals(want, ModelFile.read(v3).params());
  }

  @Test void exportRefusesBadInputWithOneLineAndWritesNothing() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("refused"));
    Path out = dir.resolve("x.bin");
    String ckpt = runNone.toString();
    assertError("kiln: --dtype fp16: expected fp32 or bf16", List.of("export", "--checkpoint", ckpt, "--out", out.toString(), "--dtype", "fp16"));
    assertError("kiln: --checkpoint " + dir.resolve("nope") + ": no such file or directory",
        List.of("export", "--checkpoint", dir.resolve("nope").toString(), "--out", out.toString()));
    assertError("kiln: --out " + dir + ": is a directory; expected a file to write", List.of("export", "--checkpoint", ckpt, "--out", dir.toString()));
    Files.writeString(out, "mine");
    assertError("kiln: --out " + out + ": exists; pass --force to replace it", List.of("export", "--checkpoint", ckpt, "--out", out.toString()));
    assertEquals("mine", Files.readString(out));
    Files.delete(out);

    // a kiln Llama file has no bf16 version
    Models.Shape llama = Models.get("llama-tiny");
    Path llamaFile = dir.resolve("llama.bin");
    ModelFile.write(llamaFile, llama, llama.randomInit(1));
    assertError("kiln: --dtype bf16: a kiln Llama model has no bf16 version (only version 1, fp32); expected --dtype fp32 for " + llamaFile,
        List.of("export", "--checkpoint", llamaFile.toString(), "--out", out.toString(), "--dtype", "bf16"));

    // a finite value past bf16's range: refused naming the tensor, the old --out untouched and no temp file left
    Models.Shape gpt2 = ModelFile.read(runNone.resolve("ckpt_4").resolve("model.bin")).shape();
    float[] p = gpt2.randomInit(2);
    p[5] = Float.intBitsToFloat(0x7F7F8000);   // halfway between bf16's largest finite value and 2^128: rounds to infinity
    Path huge = dir.resolve("huge.bin");
    ModelFile.write(huge, gpt2, p);
    Files.writeString(out, "old");
    assertError("kiln: " + out + ": wte[5]: expected a value bf16 holds (|x| < 3.39e38), found " + p[5],
        List.of("export", "--checkpoint", huge.toString(), "--out", out.toString(), "--dtype", "bf16", "--force"));
    assertEquals("old", Files.readString(out));
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of("huge.bin", "llama.bin", "x.bin"), files.map(f -> f.getFileName().toString()).sorted().toList());
    }
  }
}
