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

  /** Llama's sections at the registry's llama-tiny shape (theta is a constant in the RoPE kernels). */
  static Map<String, List<Compute>> llamaSections() {
    var shape = (Models.LlamaShape) Models.get("llama-tiny");
    return Session.sections(kiln.models.Llama.build(LlamaSessions.config(shape.config())));
  }

  /** Writes generated/{java,cuda}/{gpt2,llama}; returns the number of files. */
  public static int emit(Path root) throws IOException {
    int n = 0;
    for (String model : List.of("gpt2", "llama")) {
      Map<String, String> java = javaFiles(model), cuda = cudaFiles(model);
      Emit.write(root.resolve("java").resolve(model), java);
      Emit.write(root.resolve("cuda").resolve(model), cuda);
      n += java.size() + cuda.size();
    }
    return n;
  }

  private static Map<String, List<Compute>> sections(String model) {
    return model.equals("gpt2") ? gpt2Sections() : llamaSections();
  }

  public static Map<String, String> javaFiles(String model) { return Emit.java(model, sections(model), Schedule.cpuDefault(16)); }

  public static Map<String, String> cudaFiles(String model) {
    return Emit.cuda(model, sections(model), kiln.codegen.CudaSchedule.DEFAULT);
  }

}
