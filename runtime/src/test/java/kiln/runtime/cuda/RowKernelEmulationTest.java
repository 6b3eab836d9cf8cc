// The generated row kernels run without a GPU: every row group of GPT-2's and Llama's step (layernorm and
// RMSNorm forward and backward, the classifier's forward and backward, apart and joined as the training step runs them
// (Session.STEP: logits read once, dlogits in their place where laid out by launch), Llama's softmax) is rendered for the
// CUDA backend, compiled with g++ under a host emulation of CUDA (resources row-emu: an OS thread per CUDA
// thread, barriers for __syncthreads, __syncwarp and the warp shuffles) and run on random inputs laid out as on
// the device; every tensor the group writes must match the Java CPU kernels run on the same inputs. The shapes
// take each path: float4 and scalar (rows a multiple of 4 floats, 64-byte aligned tensors, or not), a block a
// row and a warp a row (GPT-2 at C = 768, VP = 1024: blocks, float4; C = 126, VP = 101, HS = 63: warps,
// scalar; C = 522, VP = 1030: blocks, scalar; Llama at C = 64: warps, float4). The -bf16 cases run the same
// models after the bf16 storage pass (Bf16Storage), bf16 tensors packed two a slot as on the device: lanes of 8
// (GPT-2 at C = 768: a warp a row, at VP = 2048: blocks; Llama at C = 64: warps), scalar (C = 126), all laid out as a
// CUDA session lays them out; a bf16 output
// must round as the CPU kernel's store rounds (at most 1 in 200 elements one bf16 step apart, where the fp32
// value before rounding differs in its last bits: a sum's order). Skips where g++ is absent.
package kiln.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import kiln.codegen.Work;
import kiln.codegen.Rendered;
import kiln.codegen.CudaLowering;
import kiln.codegen.Lowering;
import kiln.codegen.CudaRenderer;
import kiln.codegen.CudaSchedule;
import kiln.codegen.RowFusion;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;
import kiln.models.Program;
import kiln.runtime.Arena;
import kiln.runtime.Session;
import kiln.runtime.cpu.CpuExecutor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RowKernelEmulationTest {
  static final Path GXX = Path.of("/usr/bin/g++");

  @ParameterizedTest
  @ValueSource(strings = {"gpt2-124m", "gpt2-vector", "gpt2-scalar", "gpt2-scalar-blocks", "llama", "gpt2-lanes8-bf16", "gpt2-scalar-bf16",
      "llama-bf16"})
  void rowKernelsMatchTheCpuKernels(String which, @TempDir Path tmp) throws Exception {
    boolean bf16 = which.endsWith("-bf16");
    if (bf16) which = which.substring(0, which.length() - "-bf16".length());
    // with the column sums in the rows (KILN_ROW_COLSUM=1; off by default) where the rows are resident
    RowFusion.columnSumsOverride = true;
    try {
      rowKernels(which, bf16, tmp);
    } finally {
      RowFusion.columnSumsOverride = null;
    }
  }

  private void rowKernels(String which, boolean bf16, Path tmp) throws Exception {
    Setup x = setup(which, bf16, tmp);
    Program p = x.p();
    Arena host = x.host(), device = x.device();
    int groups = 0, bf16Groups = 0, mapFirst = 0, partWarp = 0, joined = 0;
    residentRuns = 0;
    fusedSums = 0;
    splitSums = 0;
    // laid out by launch: the row groups of those launches (a group the layout was not planned on may find a tensor it
    // writes sharing the place of one it read: the fp32 bias and residual adds are matmul epilogues there, not row stages)
    Map<String, List<List<Compute>>> sections = new java.util.LinkedHashMap<>();
    if (x.byLaunch()) {
      Arena.Launches launches = Session.cudaLaunches(p);
      sections.put("launch", launches.groups());
      // the training step's joined order (Session.STEP): its groups that the sections apart do not have (the joined classifier)
      java.util.Set<List<String>> apart = new java.util.HashSet<>();
      for (List<Compute> g : launches.groups()) apart.add(signature(g));
      for (List<List<Compute>> order : launches.alternatives()) sections.put("step", order.stream().filter(g -> !apart.contains(signature(g))).toList());
    } else {
      for (var section : Session.cudaSections(p, null, null).entrySet()) sections.put(section.getKey(), RowFusion.groups(section.getValue()));
    }
    for (var section : sections.entrySet()) {
      for (List<Compute> group : section.getValue()) {
        RowFusion.Plan plan = RowFusion.plan(group);
        if (plan == null) continue;
        groups++;
        int before = fusedSums;
        if (check(section.getKey() + " group " + group.stream().map(Compute::name).toList(), p, host, device, group, plan, tmp) < 32) partWarp++;
        if (fusedSums > before) {
          // the column sums again with one block striding over every row (its threads' partials then span rows)
          Work.Rows.columnSumBlocksOverride = 1;
          try {
            check(section.getKey() + " group (one block) " + group.stream().map(Compute::name).toList(), p, host, device, group, plan, tmp);
          } finally {
            Work.Rows.columnSumBlocksOverride = null;
          }
        }
        if (plan.stages().stream().anyMatch(s -> touchesBf16(s.compute()))) bf16Groups++;
        if (plan.stages().getFirst().kind() == RowFusion.Kind.MAP) mapFirst++;
        if (plan.stages().getFirst().kind() == RowFusion.Kind.REDUCE && plan.stages().getLast().kind() == RowFusion.Kind.SCATTER) {
          joined++;
          // and with the row cache (KILN_ROW_CACHE=1: the bf16 logits row kept in shared memory between its two passes)
          if (bf16) {
            CudaLowering.rowCacheOverride = true;
            try {
              check(section.getKey() + " group (row cache) " + group.stream().map(Compute::name).toList(), p, host, device, group, plan, tmp);
            } finally {
              CudaLowering.rowCacheOverride = null;
            }
          }
        }
      }
    }
    // the classifier's forward and backward in one kernel (the training step's, RowFusion.joined)
    assertEquals(1, joined, which + ": joined classifier row groups");
    // every model has norms fed by an element map (a residual add, the residual gradient's first term) along their rows
    assertTrue(mapFirst >= 2, which + ": row groups led by an element map: " + mapFirst);
    assertTrue(groups >= 8, which + ": row groups found: " + groups);
    // rows of at most 16 vectors take part of a warp (attention's dyy at HS = 64; Llama's softmax rows of T = 5), several rows a warp,
    // and their row counts leave the last block's warps part-filled
    if (which.equals("gpt2-124m") || which.equals("llama")) assertTrue(partWarp >= 1, which + ": row groups on part of a warp: " + partWarp);
    if (bf16) assertTrue(bf16Groups >= 4, which + ": row groups touching bf16 tensors: " + bf16Groups);
    // at C = 768 every layernorm's groups, forward and backward, keep their rows in registers (3 vectors a thread)
    if (which.equals("gpt2-124m") || which.equals("gpt2-vector") || which.equals("gpt2-lanes8")) {
      assertTrue(residentRuns >= 4, which + ": row groups on the resident path: " + residentRuns);
      // and their backward rows take the norm's weight and bias gradients and the residual's bias gradient (column sums)
      assertTrue(fusedSums >= 2, which + ": row kernels with column sums: " + fusedSums);
    }
    // rows not resident (C = 126, 522: not a multiple of the vector) leave the sums to column reductions after the row kernel
    // (the GELU gradient's rows, 4C long, may be)
    if (which.equals("gpt2-scalar") || which.equals("gpt2-scalar-blocks")) assertTrue(splitSums >= 2, which + ": " + splitSums + " split, " + fusedSums + " fused");
  }

  /** Row kernels of the current case that ran their resident path (CudaRows: rows kept in registers). */
  private static int residentRuns;

  /** Row kernels of the current case run with column sums (COLSUM stages), and row groups whose sums ran apart. */
  private static int fusedSums, splitSums;

  /** A model at one of the named shapes (after the bf16 storage pass where asked), the host arena, the device layout, the emulation files in tmp. */
  private record Setup(Program p, Arena host, Arena device, boolean byLaunch) {}

  private Setup setup(String which, boolean bf16, Path tmp) throws IOException {
    Assumptions.assumeTrue(Files.isExecutable(GXX), "no g++ at " + GXX);
    Program p;
    Map<Dim, Integer> bound;
    int batch = which.equals("gpt2-124m") ? 1 : 2, seq = which.equals("gpt2-124m") ? 6 : 5;
    if (which.startsWith("gpt2")) {
      var cfg = switch (which) {
        case "gpt2-vector" -> new kiln.models.Gpt2.Config(16, 1000, 1024, 1, 4, 768);
        case "gpt2-scalar" -> new kiln.models.Gpt2.Config(16, 97, 101, 1, 2, 126);
        case "gpt2-124m" -> new kiln.models.Gpt2.Config(1024, 50257, 50304, 1, 12, 768);
        case "gpt2-lanes8" -> new kiln.models.Gpt2.Config(16, 2000, 2048, 1, 4, 768);
        default -> new kiln.models.Gpt2.Config(16, 1025, 1030, 1, 2, 522);
      };
      p = kiln.models.Gpt2.build(1, kiln.codegen.BackendPass.CUDA);
      bound = kiln.models.Gpt2.FAMILY.bind(cfg, batch, seq);
    } else {
      var cfg = new kiln.models.Llama.Config(16, 97, 100, 1, 4, 2, 64, 96, 10000f, 1e-5f);
      p = kiln.models.Llama.FAMILY.build(cfg);
      bound = kiln.models.Llama.FAMILY.bind(cfg, batch, seq);
    }
    if (bf16) p = kiln.codegen.Bf16Storage.apply(p, false, kiln.codegen.Bf16Storage.Residual.FP32).program();
    for (String resource : new String[] {"/row-emu/emu.h", "/row-emu/main.cpp", "/cuda-emu/cuda-host.h"}) {
      try (var in = getClass().getResourceAsStream(resource)) { Files.write(tmp.resolve(Path.of(resource).getFileName().toString()), in.readAllBytes()); }
    }
    Arena host = new Arena(p.graph(), bound);
    // GPT-2 124M's shapes and the bf16 cases laid out as a CUDA session lays them out (sharing by launch, dlogits in place); the rest
    // one tensor a place
    boolean byLaunch = which.equals("gpt2-124m") || bf16;
    Arena device = byLaunch
        ? new Arena(p.graph(), bound, java.util.Set.of(p.loss()), Session.cudaLaunches(p), false, Map.of())
        : new Arena(p.graph(), bound, java.util.Set.of(), null, false, Map.of());
    return new Setup(p, host, device, byLaunch);
  }

  /**
   * The map kernels that move vectors (CudaRenderer.map: 8 elements where a bf16 tensor moves, float4s for fp32 unless
   * KILN_MAP_FLOAT4=0), every distinct one of a training step as the CUDA session launches it (the update and the bf16
   * copy included), against the CPU kernels: the vector path (C = 768, 64) and the per-element fallback (C = 126, not a
   * multiple of 8). A bf16 store must be the CPU's bits up to the same 1-in-200 allowance as the row kernels'.
   */
  @ParameterizedTest
  @ValueSource(strings = {"gpt2-lanes8-bf16", "gpt2-scalar-bf16", "llama-bf16", "gpt2-vector"})
  void vectorMapKernelsMatchTheCpuKernels(String which, @TempDir Path tmp) throws Exception {
    boolean bf16 = which.endsWith("-bf16");
    if (bf16) which = which.substring(0, which.length() - "-bf16".length());
    Setup x = setup(which, bf16, tmp);
    Boolean before = CudaRenderer.float4MapsOverride;
    CudaRenderer.float4MapsOverride = !bf16;   // the fp32 case: the float4 maps
    try {
      java.util.Set<String> seen = new java.util.HashSet<>();
      int maps = 0;
      for (List<Compute> group : Session.cudaLaunches(x.p()).groups()) {
        if (group.getFirst().body() instanceof Expr.Extern) continue;
        Lowering.Lowered lowered = CudaLowering.lower(group, CudaSchedule.DEFAULT, m -> null, x.host()::size, 0, null, null);
        if (lowered.launches().size() != 1) continue;
        Rendered k = lowered.launches().getFirst().kernel();
        if (!k.kind().equals("map") || ((Work.Threads) k.work()).lanes() == 1 || !seen.add(k.function())) continue;
        maps++;
        check("map " + group.stream().map(Compute::name).toList(), x.host(), x.device(), group, group, "map", tmp);
      }
      // (fp32: the update and the bf16-free maps left once the residual gradients joined the norm backwards' rows)
      assertTrue(maps >= 2, which + ": vector map kernels found: " + maps);
    } finally {
      CudaRenderer.float4MapsOverride = before;
    }
  }

  private static int check(String what, Program p, Arena host, Arena device, List<Compute> group, RowFusion.Plan plan, Path tmp) throws Exception {
    return check(what, host, device, group, plan.stages().stream().map(RowFusion.Stage::compute).toList(), "row", tmp);
  }

  /**
   * Runs the group's one kernel (of kind `kind`) under the emulation and compares each of outs' outputs with the CPU kernels';
   * returns the threads a row (blockDim.x).
   */
  private static int check(String what, Arena host, Arena device, List<Compute> group, List<Compute> outs, String kind, Path tmp) throws Exception {
    Random random = new Random(what.hashCode());
    int vocab = host.sizes().entrySet().stream().filter(e -> e.getKey().name().equals("V")).findFirst().orElseThrow().getValue();
    for (int k = 0; k < host.f.length; k++) host.f[k] = 0.5f + random.nextFloat();
    for (int k = 0; k < host.i.length; k++) host.i[k] = random.nextInt(vocab);
    // the float region as the device holds it: fp32 tensors at 4 x offset, bf16 ones (2 bytes an element) at 2 x offset
    int nF = Math.toIntExact(device.floatCount());
    ByteBuffer f = ByteBuffer.allocate(4 * nF).order(ByteOrder.LITTLE_ENDIAN);
    int[] ints = new int[Math.toIntExact(device.intCount())];
    // only the tensors the group touches (others may share their storage: dead here): what it writes first, then
    // what it only reads, so that an input a written tensor takes in place (dlogits over the logits) keeps its values
    java.util.Set<Tensor> touched = new java.util.LinkedHashSet<>();
    for (Compute c : group) touched.add(c.out().root());
    java.util.Set<Tensor> inputs = new java.util.LinkedHashSet<>();
    for (Compute c : group) {
      for (Expr e : c.outIndex()) for (Expr.Load l : Exprs.loads(e)) inputs.add(l.tensor().root());
      for (Expr.Load l : Exprs.loads(c.body())) inputs.add(l.tensor().root());
    }
    inputs.removeAll(touched);
    touched.addAll(inputs);
    for (Tensor t : touched) {
      int n = Math.toIntExact(host.elements(t));
      if (t.dtype() == DType.I32) {
        System.arraycopy(host.i, host.offset(t), ints, device.offset(t), n);
      } else if (t.storage() == DType.BF16) {
        for (int e = 0; e < n; e++) {
          float x = kiln.codegen.Bf16.round(host.f[host.offset(t) + e]);   // a bf16 tensor holds bf16 values on both sides
          host.f[host.offset(t) + e] = x;
          f.putShort(2 * (device.offset(t) + e), (short) (Float.floatToRawIntBits(x) >>> 16));
        }
      } else {
        for (int e = 0; e < n; e++) f.putFloat(4 * (device.offset(t) + e), host.f[host.offset(t) + e]);
      }
    }
    // placed as the device arena places them (a row kernel takes its column sums only where every row tensor starts 16-byte aligned)
    Lowering.Lowered lowered = CudaLowering.lower(group, CudaSchedule.DEFAULT, m -> null, host::size, 0, null, device::offsetLong);
    Rendered k = lowered.launches().getFirst().kernel();
    assertEquals(kind, k.kind(), what);
    if (lowered.launches().size() > 1) {
      // a row group whose column sums its kernel cannot take at this size (not resident): the row kernel without them, then
      // the sums as column reductions (checked by the column-reduction tests); here the row kernel's outputs
      RowFusion.Plan plan = RowFusion.plan(group);
      assertTrue(kind.equals("row") && plan != null && !plan.columnSums().isEmpty(), what + ": one launch");
      List<Compute> sums = plan.columnSums();
      for (var l : lowered.launches().subList(1, lowered.launches().size())) {
        assertTrue(sums.containsAll(l.computes()) && l.kernel().kind().contains("reduce"), what + ": " + l.kernel().kind() + " after the row kernel");
      }
      outs = outs.stream().filter(c -> !sums.contains(c)).toList();
      splitSums++;
    }
    long[] args = device.launchArgsLong(k.dims(), k.tensors());
    long grid;
    int block, per, sums = 0, extent = 0;
    if (k.work() instanceof Work.Rows work) {
      long rows = device.product(work.rows());
      extent = device.size(work.extent());
      block = work.threads(extent);
      per = work.rowsPerBlock(extent);
      grid = work.blocks(rows, extent);
      sums = work.columnSums();
      if (sums > 0) fusedSums++;
      // the resident path (rows in registers) runs where the kernel's R is the row's vectors over its threads at this launch
      var resident = java.util.regex.Pattern.compile("resident: (\\d+) vectors a thread").matcher(k.source());
      if (resident.find()) {
        int r = Integer.parseInt(resident.group(1)), vectors = device.size(work.extent()) / work.lanes();
        assertTrue(device.size(work.extent()) % work.lanes() == 0 && vectors > (r - 1) * block && vectors <= r * block,
            what + ": rendered for " + r + " vectors a thread, launched with " + vectors + " vectors on " + block + " threads");
        residentRuns++;
      }
    } else {
      // a map: grid-stride, so a few blocks of two warps cover any size (OS threads are dear here)
      long threads = ((Work.Threads) k.work()).count(device::size);
      block = 64;
      per = 1;
      grid = Math.min(8, (threads + block - 1) / block);
    }
    Files.writeString(tmp.resolve("kernel.cu"), k.source());
    ByteBuffer b = ByteBuffer.allocate(8 * (8 + args.length) + 4 * (nF + ints.length)).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(args.length).putLong(grid).putLong(block).putLong(per).putLong(nF).putLong(ints.length).putLong(sums).putLong(extent);
    for (long a : args) b.putLong(a);
    b.put(f.array());
    for (int x : ints) b.putInt(x);
    Files.write(tmp.resolve("state.bin"), b.array());
    try (CpuExecutor cpu = new CpuExecutor(host, Map.of("g", group), 1)) { cpu.run("g"); }
    List<String> cmd = new ArrayList<>(List.of(GXX.toString(), "-O1", "-std=c++20", "-pthread", "-w", "-DKFILE=\"kernel.cu\"", "-DKERNEL=" + k.function(),
        "-o", tmp.resolve("emu").toString(), tmp.resolve("main.cpp").toString()));
    if (sums > 0) cmd.add("-DCOLSUMS");
    run(cmd, tmp);
    assertTrue(run(List.of(tmp.resolve("emu").toString()), tmp).strip().endsWith("OK"), what);
    ByteBuffer out = ByteBuffer.wrap(Files.readAllBytes(tmp.resolve("out.bin"))).order(ByteOrder.LITTLE_ENDIAN);
    List<String> report = new ArrayList<>();
    RowFusion.Plan rowPlan = kind.equals("row") ? RowFusion.plan(group) : null;
    List<Compute> columnSums = rowPlan == null ? List.of() : rowPlan.columnSums();
    for (Compute s : outs) {
      Tensor t = s.out();
      float[] want = host.read(t);
      // a column sum adds its rows in another order than the CPU kernel: its error scales with its terms, which cancel, so it is
      // measured against the largest sum of the vector (fp32 rounding of terms that size, not of the result)
      double scale = 1.0;
      if (columnSums.contains(s)) for (float w : want) scale = Math.max(scale, Math.abs(w));
      // a sum of bf16 terms: a term may be one bf16 step off the CPU's (the stores it reads round as the CPU's up to 1 in 200)
      boolean bf16Terms = columnSums.contains(s) && Exprs.loads(s.body()).stream().anyMatch(l -> l.tensor().storage() == DType.BF16);
      int off = device.offset(t);
      boolean narrow = t.storage() == DType.BF16;
      double worst = 0;
      int steps = 0;   // bf16 elements that are not the CPU's bits
      String at = "";
      for (int e = 0; e < want.length; e++) {
        float got = narrow ? Float.intBitsToFloat((out.getShort(2 * (off + e)) & 0xffff) << 16) : out.getFloat(4 * (off + e));
        if (narrow && Float.floatToRawIntBits(got) != Float.floatToRawIntBits(want[e])) steps++;
        double d = Math.abs(got - want[e]) / Math.max(scale, Math.abs(want[e]));
        if (!(d <= worst)) {
          worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
          at = " at " + e + ": " + got + " for " + want[e];
        }
      }
      report.add(s.name() + (narrow ? " (bf16, " + steps + " of " + want.length + " differ)" : "") + " " + worst + at);
      // bf16: one step of the 8-bit mantissa (2^-7 relative to max(1, |want|)) where the sums' order tips the rounding
      double tolerance = narrow || bf16Terms ? 0x1p-7 * 1.001 : 2e-5;
      if (narrow) System.out.println(what + ": " + report.getLast());
      assertTrue(worst <= tolerance && steps <= want.length / 200, what + ": " + s.name() + " differs from the CPU kernel by " + worst
          + " (relative)" + (narrow ? ", " + steps + " bf16 elements of " + want.length + " differ" : "") + "\n" + report);
    }
    return block;
  }

  /** A launch group by its computes' names and outputs (the same group in two orders has the same signature). */
  private static List<String> signature(List<Compute> group) { return group.stream().map(c -> c.name() + " " + c.out().name()).toList(); }

  private static boolean touchesBf16(Compute c) {
    if (c.out().storage() == DType.BF16) return true;
    for (Expr.Load l : Exprs.loads(c.body())) if (l.tensor().storage() == DType.BF16) return true;
    return false;
  }

  private static String run(List<String> cmd, Path dir) throws IOException, InterruptedException {
    Process proc = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String log = new String(proc.getInputStream().readAllBytes());
    assertTrue(proc.waitFor(300, TimeUnit.SECONDS), String.join(" ", cmd) + " timed out");
    assertEquals(0, proc.exitValue(), String.join(" ", cmd) + ":\n" + log);
    return log;
  }
}
