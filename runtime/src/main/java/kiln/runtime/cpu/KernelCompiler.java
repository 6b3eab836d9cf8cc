// Compiles generated kernel sources in memory with javax.tools, caching class bytes on disk by
// class name (a hash of the source) under ~/.cache/kiln/java/<java version>/.
package kiln.runtime.cpu;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.tools.DiagnosticCollector;
import javax.tools.FileObject;
import javax.tools.ForwardingJavaFileManager;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileManager;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;
import kiln.codegen.CpuKernel;
import kiln.codegen.JavaRenderer;
import kiln.codegen.Rendered;
import kiln.runtime.format.AtomicFiles;

public final class KernelCompiler {
  private final Path cacheDir;

  public KernelCompiler(Path cacheDir) { this.cacheDir = cacheDir; }

  public static KernelCompiler defaultCache() { return new KernelCompiler(kiln.runtime.TuningCache.cacheRoot().resolve("java/" + Runtime.version().feature())); }

  /** Result: an instance per class name, and how many had to be compiled (the rest came from the cache). */
  public record Compiled(Map<String, CpuKernel> kernels, int compiled, long millis) {}

  public Compiled compile(Collection<Rendered> sources) {
    long start = System.nanoTime();
    Map<String, byte[]> bytes = new HashMap<>();
    List<Rendered> missing = new ArrayList<>();
    for (Rendered k : sources) {
      Path cached = cacheDir.resolve(k.function() + ".class");
      try {
        if (Files.isRegularFile(cached)) bytes.put(qualifiedName(k), Files.readAllBytes(cached));
        else missing.add(k);
      } catch (IOException e) {
        missing.add(k);
      }
    }
    if (!missing.isEmpty()) {
      // javac takes seconds for a model's kernels, once per change: say so rather than sit silent
      System.err.printf("kiln: compiling %d Java kernel%s (once; cached in %s)...%n", missing.size(),
          missing.size() == 1 ? "" : "s", cacheDir);
      Map<String, byte[]> fresh = javac(missing);
      bytes.putAll(fresh);
      try {
        Files.createDirectories(cacheDir);
        for (Rendered k : missing) AtomicFiles.write(cacheDir.resolve(k.function() + ".class"), out -> out.write(fresh.get(qualifiedName(k))));
      } catch (IOException | java.io.UncheckedIOException e) {
        System.err.println("kiln: kernel cache " + cacheDir + " not writable (" + e.getMessage() + "); continuing without it");
      }
    }
    ClassLoader loader = new ClassLoader(KernelCompiler.class.getClassLoader()) {
      @Override protected Class<?> findClass(String name) throws ClassNotFoundException {
        byte[] b = bytes.get(name);
        if (b == null) throw new ClassNotFoundException(name);
        return defineClass(name, b, 0, b.length);
      }
    };
    Map<String, CpuKernel> kernels = new HashMap<>();
    for (Rendered k : sources) {
      try {
        kernels.put(k.function(), (CpuKernel) loader.loadClass(qualifiedName(k)).getDeclaredConstructor().newInstance());
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("cannot load generated kernel " + qualifiedName(k) + ": " + e, e);
      }
    }
    return new Compiled(kernels, missing.size(), (System.nanoTime() - start) / 1_000_000);
  }

  /**
   * The generated sources need kiln.codegen.CpuKernel: take it from where that class was loaded
   * (a test launcher's class loader need not be the JVM's class path), plus java.class.path.
   */
  static String classpath() {
    String own = "";
    try {
      var source = CpuKernel.class.getProtectionDomain().getCodeSource();
      if (source != null) own = Path.of(source.getLocation().toURI()).toString();
    } catch (java.net.URISyntaxException | SecurityException | IllegalArgumentException e) {
      own = "";
    }
    String cp = System.getProperty("java.class.path", "");
    return own.isEmpty() ? cp : own + java.io.File.pathSeparator + cp;
  }

  private static Map<String, byte[]> javac(List<Rendered> sources) {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    if (javac == null) throw new IllegalStateException("no Java compiler in this runtime (needs the jdk.compiler module)");
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    Map<String, ByteArrayOutputStream> out = new HashMap<>();
    JavaFileManager std = javac.getStandardFileManager(diagnostics, null, null);
    JavaFileManager fm = new ForwardingJavaFileManager<>(std) {
      @Override public JavaFileObject getJavaFileForOutput(Location location, String className, JavaFileObject.Kind kind, FileObject sibling) {
        return new SimpleJavaFileObject(URI.create("mem:///" + className.replace('.', '/') + kind.extension), kind) {
          @Override public OutputStream openOutputStream() { return out.computeIfAbsent(className, c -> new ByteArrayOutputStream()); }
        };
      }
    };
    List<JavaFileObject> units = new ArrayList<>();
    for (Rendered k : sources) {
      units.add(new SimpleJavaFileObject(URI.create("string:///" + qualifiedName(k).replace('.', '/') + ".java"), JavaFileObject.Kind.SOURCE) {
        @Override public CharSequence getCharContent(boolean ignore) { return k.source(); }
      });
    }
    List<String> options = List.of("--add-modules", "jdk.incubator.vector", "-classpath", classpath(),
        "-proc:none", "-nowarn", "-XDsuppressNotes", "-Xlint:none");
    boolean ok = javac.getTask(null, fm, diagnostics, options, null, units).call();
    if (!ok) {
      StringBuilder msg = new StringBuilder("generated Java kernels failed to compile:\n");
      for (var d : diagnostics.getDiagnostics()) {
        if (d.getKind() != javax.tools.Diagnostic.Kind.ERROR) continue;
        msg.append(d.getSource() == null ? "?" : d.getSource().getName()).append(':').append(d.getLineNumber()).append(": ")
            .append(d.getMessage(null)).append('\n');
        if (d.getSource() != null) {
          try {
            String[] lines = d.getSource().getCharContent(true).toString().split("\n");
            long n = d.getLineNumber();
            if (n >= 1 && n <= lines.length) msg.append("    ").append(lines[(int) n - 1].strip()).append('\n');
          } catch (IOException ignored) { }
        }
      }
      throw new IllegalStateException(msg.toString());
    }
    Map<String, byte[]> bytes = new HashMap<>();
    out.forEach((k, v) -> bytes.put(k, v.toByteArray()));
    return bytes;
  }

  private static String qualifiedName(Rendered k) { return JavaRenderer.PACKAGE + "." + k.function(); }
}
