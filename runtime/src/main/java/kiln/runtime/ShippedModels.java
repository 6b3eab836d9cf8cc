// The models whose generated kernels are committed under generated/, and how to emit them.
package kiln.runtime;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kiln.codegen.Emit;
import kiln.codegen.Schedule;
import kiln.dsl.Compute;
import kiln.models.Gpt2;

public final class ShippedModels {
  private ShippedModels() {}

  /** GPT-2's sections (its kernels do not depend on L; two layers show every one). */
  static Map<String, List<Compute>> gpt2Sections() { return Session.sections(Gpt2.build(2)); }

  /** Writes generated/java/gpt2 and generated/cuda/gpt2; returns the number of files. */
  public static int emit(Path root) throws IOException {
    Map<String, String> java = javaFiles(), cuda = cudaFiles();
    Emit.write(root.resolve("java").resolve("gpt2"), java);
    Emit.write(root.resolve("cuda").resolve("gpt2"), cuda);
    return java.size() + cuda.size();
  }

  public static Map<String, String> cudaFiles() {
    return Emit.cuda("gpt2", gpt2Sections(), kiln.codegen.CudaSchedule.DEFAULT);
  }

  public static Map<String, String> javaFiles() {
    return Emit.java("gpt2", gpt2Sections(), Schedule.cpuDefault(16));
  }
}
