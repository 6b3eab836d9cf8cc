// Launches of the bf16 Hopper matmul (kiln.codegen.WgmmaBf16, templates/cuda/matmul_wgmma_bf16.cu.ftl):
// the tensor maps of A and B (and C) in the layouts the kernel was rendered for, the persistent grid, and
// the argument list, prepared once. Standalone kernels over device pointers (MatmulBench, the GPU test,
// CudaExecutor.bf16Matmul), or a program's matmul over its arena (CudaExecutor.plan, Work.Bf16Tiles).
package kiln.runtime.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUdeviceptr;
import kiln.codegen.Work;
import kiln.codegen.WgmmaBf16;

public final class Bf16Matmul {
  private Bf16Matmul() {}

  /**
   * C (m x n, ldc elements per row, fp32 or bf16 as the kernel writes it) (+)= A·Bᵀ with A(i, p) at
   * a[i * lda + p] (K-major) or a[p * lda + i] (MN-major), B(j, p) likewise from b with ldb: one launch
   * of at most maxBlocks persistent blocks (0: one per SM of the device), of k's kernel in module (from load).
   */
  public static Launch launch(Cuda.Module module, WgmmaBf16.Kernel k, Cuda cuda, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c, long m, long n, long depth,
                              long lda, long ldb, long ldc, int maxBlocks) {
    if (k.tile().splits() > 1) throw new IllegalArgumentException(k.function() + ": a split-K kernel (" + k.tile().knobs() + ") needs a workspace: Bf16Matmul.launches");
    return launches(module, k, cuda, a, b, c, m, n, depth, lda, ldb, ldc, maxBlocks, null).getFirst();
  }

  /**
   * As launch, for any kernel: without split-K the one launch; with it (k.tile().splits() > 1) the partial sums into
   * workspace (at least k.tile().workspaceFloats(m, n) floats), then the module's function_sum adding them into C.
   */
  public static List<Launch> launches(Cuda.Module module, WgmmaBf16.Kernel k, Cuda cuda, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c, long m,
                                      long n, long depth, long lda, long ldb, long ldc, int maxBlocks, DeviceArena workspace) {
    Kernel kernel = module.kernel(k.function()), sum = k.tile().splits() > 1 ? module.kernel(k.function() + "_sum") : null;
    int pair = k.out() == WgmmaBf16.Out.BF16 ? 4 : 8;
    if (kiln.runtime.multi.Nccl.address(c) % pair != 0 || ldc < n) {
      throw new IllegalArgumentException(kernel + ": C needs a " + pair + "-byte aligned base and ldc >= N, found address "
          + kiln.runtime.multi.Nccl.address(c) + " and ldc " + ldc + " for N " + n);
    }
    int sms = cuda.multiprocessors();
    // C's map only where the kernel stores through the copy engine (a bf16 map: 64 x 64 boxes); else an unused zero block
    return launches(kernel, sum, k.tile(), k.a(), k.b(), a, b, k.tmaStore() ? c : null, m, n, depth, lda, ldb, ldc,
        maxBlocks > 0 ? Math.min(maxBlocks, sms) : sms, List.of(c, (int) m, (int) n, (int) depth, ldc), List.of(c, (int) m, (int) n, ldc), workspace);
  }

  /**
   * A program's bf16 matmul over the arena (Work.Bf16Tiles): A, B and C dense at their offsets in bf16 elements from F,
   * the kernel's and the sum's arguments lead (F, I and the argument block) then the maps and the workspace.
   */
  static List<Launch> launches(Kernel kernel, Kernel sum, Work.Bf16Tiles t, Cuda cuda, kiln.runtime.Arena layout, DeviceArena memory,
                               List<Object> lead, DeviceArena workspace) {
    long m = layout.product(t.m()), n = layout.product(t.n()), k = layout.product(t.k());
    return launches(kernel, sum, t.tile().withTmaStore(t.tmaStore()), t.aMajor(), t.bMajor(), memory.pointer(2 * layout.offsetLong(t.a())),
        memory.pointer(2 * layout.offsetLong(t.b())), t.tmaStore() ? memory.pointer(2 * layout.offsetLong(t.c())) : null, m, n, k,
        t.aMajor() == WgmmaBf16.Major.K ? k : m, t.bMajor() == WgmmaBf16.Major.K ? k : n, n, cuda.multiprocessors(), lead, lead, workspace);
  }

  /**
   * Both kinds of launch: the maps of A and B (and of C where c is not null: the kernel stores through the copy engine),
   * the persistent grid of at most maxBlocks blocks, lead then the three maps; with split-K (tile.splits() > 1) the
   * kernel writes its partial sums to the workspace (a dense fp32 M x N per split) and `sum` adds them into C in split
   * order, sumLead then the workspace: two launches.
   */
  private static List<Launch> launches(Kernel kernel, Kernel sum, WgmmaBf16.Tile tile, WgmmaBf16.Major aMajor, WgmmaBf16.Major bMajor, CUdeviceptr a,
                                       CUdeviceptr b, CUdeviceptr c, long m, long n, long depth, long lda, long ldb, long ldc, int maxBlocks,
                                       List<Object> lead, List<Object> sumLead, DeviceArena workspace) {
    if (kernel.maxThreadsPerBlock() < tile.threads()) {
      throw new CudaException(kernel + ": compiled to " + kernel.registers() + " registers a thread, which allow " + kernel.maxThreadsPerBlock()
          + " threads a block; the tile " + tile.knobs() + " needs " + tile.threads());
    }
    if (m < 1 || n < 1 || depth < 1 || m > Integer.MAX_VALUE || n > Integer.MAX_VALUE || depth > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(kernel + ": M, N and K must be 1.." + Integer.MAX_VALUE + ", found " + m + " x " + n + " x " + depth);
    }
    List<Object> args = new ArrayList<>(lead);
    args.add(operandMap(aMajor, a, m, depth, lda, tile.boxRows(aMajor, true)));
    args.add(operandMap(bMajor, b, n, depth, ldb, tile.boxRows(bMajor, false)));
    args.add(c != null ? TensorMaps.bf16(c, n, m, ldc, 64) : new long[16]);
    Launch.Dim3 grid = Launch.Dim3.of(tile.blocks(m, n, maxBlocks)), block = Launch.Dim3.of(tile.threads());
    if (tile.splits() == 1) return List.of(Launch.of(kernel, grid, block, tile.sharedBytes(), args.toArray()));
    long stages = (depth + WgmmaBf16.BK - 1) / WgmmaBf16.BK;
    if (tile.splits() > stages) {
      throw new IllegalArgumentException(kernel + ": " + tile.splits() + " splits along K need at least as many 64-deep stages, found K " + depth);
    }
    long need = 4 * tile.workspaceFloats(m, n);
    if (workspace == null || workspace.bytes() < need) {
      throw new IllegalStateException(kernel + ": split-K (" + tile.knobs() + ") needs " + need + " bytes of workspace, found "
          + (workspace == null ? "none" : workspace.bytes()));
    }
    args.add(workspace.pointer(0));
    List<Object> sumArgs = new ArrayList<>(sumLead);
    sumArgs.add(workspace.pointer(0));
    return List.of(Launch.of(kernel, grid, block, tile.sharedBytes(), args.toArray()),
        Launch.of(sum, sumGrid(m, n), Launch.Dim3.of(256), 0, sumArgs.toArray()));
  }

  /** The second kernel's grid: a thread per element of C, at most 8 blocks of 256 per SM's worth (132 SMs). */
  static Launch.Dim3 sumGrid(long m, long n) { return Launch.Dim3.of((int) Math.max(1, Math.min(8L * 132, (m * n + 255) / 256))); }

  /** The map of an operand with `rows` rows (M or N) and depth K, stored as its major says, pitch elements between stored rows. */
  static long[] operandMap(WgmmaBf16.Major major, CUdeviceptr base, long rows, long depth, long pitch, int boxRows) {
    return major == WgmmaBf16.Major.K ? TensorMaps.bf16(base, depth, rows, pitch, boxRows) : TensorMaps.bf16(base, rows, depth, pitch, boxRows);
  }

  /** Compiles (NVRTC, sm_90a, the disk cache) and loads each kernel: function name to its module. */
  public static Map<String, Cuda.Module> load(Cuda cuda, List<WgmmaBf16.Kernel> kernels) {
    if (cuda.major() != 9 || cuda.minor() != 0) throw new CudaException("the bf16 wgmma matmul needs an sm_90 GPU, found " + cuda.arch() + " (" + cuda.name() + ")");
    Map<String, String> sources = new LinkedHashMap<>();
    for (WgmmaBf16.Kernel k : kernels) sources.putIfAbsent(k.function(), k.source());
    return Nvrtc.defaultCache().load(sources, cuda);
  }

  /** float to bf16 bits, rounded to nearest even (NaN kept a quiet NaN): how inputs are made and how the kernel stores C. */
  public static short bf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
    return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
  }

  /** bf16 bits to float (exact). */
  public static float toFloat(short bf16) { return Float.intBitsToFloat((bf16 & 0xFFFF) << 16); }

  /** Pairs of bf16 as the ints that hold them in device memory (little-endian: element 2i in the low half). */
  public static int[] pack(short[] v) {
    int[] out = new int[(v.length + 1) / 2];
    for (int i = 0; i < v.length; i++) out[i / 2] |= (v[i] & 0xFFFF) << (16 * (i % 2));
    return out;
  }
}
