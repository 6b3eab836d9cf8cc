// One CUDA device through JCuda's driver API: its primary context (current on the opening thread),
// one stream every launch and copy is ordered on, the single device allocation (DeviceArena), cubin
// modules, launches, events for timing and CUDA graphs of captured launch sequences.
package kiln.runtime.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuProfilerStart;
import static jcuda.driver.JCudaDriver.cuProfilerStop;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.JCudaDriver;

public final class Cuda implements AutoCloseable {
  private final int ordinal;
  private final CUdevice device = new CUdevice();
  private final CUcontext context = new CUcontext();
  private final CUstream stream = new CUstream();
  private final String name;
  private final int major, minor;
  private final long totalBytes;
  private int allocations;
  private boolean closed;

  /** True only when the driver library loads and at least one device exists; never throws. */
  public static boolean available() { return Probe.FAILURE.isEmpty(); }

  /** Why available() is false (driver missing, no device, ...); empty when it is true. */
  public static String unavailableReason() { return Probe.FAILURE; }

  private static final class Probe {
    static final String FAILURE;
    static final int[] COUNT = new int[1];

    static {
      String failure;
      try {
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        cuDeviceGetCount(COUNT);
        failure = COUNT[0] > 0 ? "" : "the CUDA driver reports no device";
      } catch (Throwable t) {
        failure = reason(t);
      }
      FAILURE = failure;
    }
  }

  /** CUDA devices the driver sees (0 without a usable driver); never throws. */
  public static int deviceCount() { return Probe.COUNT[0]; }

  /**
   * One short line for why the driver did not load: JCuda's UnsatisfiedLinkError carries ~3 KB of nested stack
   * traces in its message, of which the user needs one fact (usually: libcuda.so.1, the driver, is not installed).
   */
  static String reason(Throwable t) {
    String message = t.getMessage() == null ? "" : t.getMessage();
    if (t instanceof UnsatisfiedLinkError && message.contains("libcuda.so")) {
      return "the NVIDIA driver library libcuda.so.1 is not installed";
    }
    int nested = message.indexOf("---(start of nested stack traces)");
    String first = (nested >= 0 ? message.substring(0, nested) : message).lines().map(String::strip)
        .filter(l -> !l.isEmpty()).findFirst().orElse("");
    if (first.length() > 160) {
      first = first.substring(0, 157) + "...";
    }
    return "CUDA driver not usable: " + t.getClass().getSimpleName() + (first.isEmpty() ? "" : ": " + first);
  }

  public static Cuda open() { return open(0); }

  /** Device ordinal's primary context, made current on the calling thread, and a fresh stream. */
  public static Cuda open(int ordinal) {
    if (!available()) throw new CudaException("no CUDA device: " + unavailableReason());
    return new Cuda(ordinal);
  }

  private Cuda(int ordinal) {
    this.ordinal = ordinal;
    cuDeviceGet(device, ordinal);
    byte[] raw = new byte[256];
    cuDeviceGetName(raw, raw.length, device);
    int end = 0;
    while (end < raw.length && raw[end] != 0) end++;
    this.name = new String(raw, 0, end, StandardCharsets.UTF_8);
    this.major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
    this.minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    long[] total = new long[1];
    cuDeviceTotalMem(total, device);
    this.totalBytes = total[0];
    cuDevicePrimaryCtxRetain(context, device);
    cuCtxSetCurrent(context);
    // flags 0: a blocking stream, ordered with the legacy default stream the synchronous copies use
    cuStreamCreate(stream, 0);
  }

  public int ordinal() { return ordinal; }

  public String name() { return name; }

  public int major() { return major; }

  public int minor() { return minor; }

  /** The NVRTC architecture for this device, e.g. "sm_90" for an H100. */
  public String arch() { return "sm_" + major + minor; }

  public int multiprocessors() { return attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT); }

  public static String driverVersion() {
    int[] v = new int[1];
    cuDriverGetVersion(v);
    return v[0] / 1000 + "." + (v[0] % 1000) / 10;
  }

  public long totalBytes() { return totalBytes; }

  public long freeBytes() {
    long[] free = new long[1], total = new long[1];
    cuMemGetInfo(free, total);
    return free[0];
  }

  /**
   * Opens (true) or closes (false) the range a profiler started with `--profile-from-start off` records (Nsight Compute's
   * `ncu --profile-from-start off`), after waiting for the stream: the range holds exactly the launches queued inside it.
   */
  public void profilerRange(boolean open) {
    cuStreamSynchronize(stream);
    if (open) cuProfilerStart();
    else cuProfilerStop();
  }

  /** Makes this device's primary context current on the calling thread (the opening thread already has it). */
  public void makeCurrent() { cuCtxSetCurrent(context); }

  public CUstream stream() { return stream; }

  /** Device allocations made through this object; a running program holds exactly one, its arena. */
  public int allocationCount() { return allocations; }

  /**
   * The one device allocation of a program. Asking for more than the device has free throws a
   * CudaException saying how many bytes were needed and how many are free.
   */
  public DeviceArena allocate(long bytes) {
    if (bytes <= 0) throw new IllegalArgumentException("device arena: byte count must be positive, found " + bytes);
    if (bytes > freeBytes()) throw outOfMemory(bytes);
    CUdeviceptr base = new CUdeviceptr();
    try {
      cuMemAlloc(base, bytes);
    } catch (jcuda.CudaException e) {
      throw outOfMemory(bytes);
    }
    allocations++;
    return new DeviceArena(this, base, bytes);
  }

  private CudaException outOfMemory(long bytes) {
    long free = freeBytes();
    return new CudaException(String.format(Locale.ROOT, "device arena: cannot allocate %s (%d bytes) on %s: %s (%d bytes) free of %s",
        human(bytes), bytes, name, human(free), free, human(totalBytes)));
  }

  static String human(long bytes) {
    if (bytes < 1024) return bytes + " B";
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = bytes;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }

  /** Loads a cubin (from Nvrtc); what names it in error messages. */
  public Module load(String what, byte[] cubin) {
    CUmodule module = new CUmodule();
    try {
      cuModuleLoadData(module, cubin);
    } catch (jcuda.CudaException e) {
      throw new CudaException("cannot load module " + what + " (" + cubin.length + " bytes of cubin) on " + name + " (" + arch() + "): "
          + e.getMessage(), e);
    }
    return new Module(what, module);
  }

  /** A loaded cubin. Kernels are looked up by their extern "C" name. */
  public static final class Module implements AutoCloseable {
    private final String what;
    private final CUmodule module;

    private Module(String what, CUmodule module) { this.what = what; this.module = module; }

    public Kernel kernel(String kernelName) {
      CUfunction function = new CUfunction();
      try {
        cuModuleGetFunction(function, module, kernelName);
      } catch (jcuda.CudaException e) {
        throw new CudaException("module " + what + " has no kernel '" + kernelName + "' (kernels must be declared extern \"C\"): "
            + e.getMessage(), e);
      }
      return new Kernel(kernelName, function);
    }

    @Override
    public void close() { cuModuleUnload(module); }
  }

  /** Queues one prepared launch on the stream; allocates nothing on the Java side. */
  public void launch(Launch l) {
    Launch.Dim3 g = l.grid(), b = l.block();
    try {
      cuLaunchKernel(l.kernel().function(), g.x(), g.y(), g.z(), b.x(), b.y(), b.z(), l.sharedBytes(), stream, l.params(), null);
    } catch (jcuda.CudaException e) {
      throw new CudaException("launch of " + l + " failed: " + e.getMessage(), e);
    }
  }

  /** Median ms of `runs` event-timed runs of launches (all of them, in order, per run) after `warmup` untimed ones. */
  public double medianMs(java.util.List<Launch> launches, int warmup, int runs) { return medianMs(launches, warmup, runs, 1); }

  /**
   * The same with `batch` passes over the launches between the two events of a run, the median divided by batch: back to
   * back, the GPU does not wait for the host's next launch between passes, so the launch latency (a few µs) is not in the
   * time of a pass as it is with one.
   */
  public double medianMs(java.util.List<Launch> launches, int warmup, int runs, int batch) {
    for (int i = 0; i < warmup; i++) for (Launch l : launches) launch(l);
    double[] ms = new double[runs];
    try (Event start = event(); Event end = event()) {
      for (int i = 0; i < runs; i++) {
        start.record();
        for (int b = 0; b < batch; b++) for (Launch l : launches) launch(l);
        end.record();
        ms[i] = start.elapsedMs(end) / batch;
      }
    }
    java.util.Arrays.sort(ms);
    return ms[runs / 2];
  }

  /** Waits for everything queued on the stream; errors of earlier asynchronous launches surface here. */
  public void synchronize() {
    try {
      cuStreamSynchronize(stream);
    } catch (jcuda.CudaException e) {
      throw new CudaException("CUDA error while waiting for queued work on " + name + ": " + e.getMessage(), e);
    }
  }

  public Event event() { return new Event(0); }

  /** An event for ordering only (no timestamp: cheaper to record and wait on). */
  public Event marker() { return new Event(jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING); }

  /**
   * A second stream on this context (a data-parallel rank's communication stream), destroyed with the
   * context. Blocking like the main one: ordered with the legacy default stream the synchronous copies
   * use, concurrent with the main stream except where events order them. high: at the context's greatest priority,
   * so its kernels take SMs as soon as the main stream's blocks retire.
   */
  public CUstream sideStream(boolean high) {
    CUstream s = new CUstream();
    if (high) {
      int[] least = new int[1], greatest = new int[1];
      jcuda.driver.JCudaDriver.cuCtxGetStreamPriorityRange(least, greatest);
      jcuda.driver.JCudaDriver.cuStreamCreateWithPriority(s, 0, greatest[0]);
    } else {
      cuStreamCreate(s, 0);
    }
    sideStreams.add(s);
    return s;
  }

  private final java.util.List<CUstream> sideStreams = new java.util.ArrayList<>();

  /** Work queued on the main stream from now on waits until event (recorded on any stream of this context) has completed. */
  public void waitFor(Event event) { waitFor(stream, event); }

  /** Work queued on s from now on waits for event. */
  public void waitFor(CUstream s, Event event) { jcuda.driver.JCudaDriver.cuStreamWaitEvent(s, event.event, 0); }

  /** A point in the stream, for timing: {@code start.record(); ...; end.record(); start.elapsedMs(end)}. */
  public final class Event implements AutoCloseable {
    private final CUevent event = new CUevent();

    private Event(int flags) { cuEventCreate(event, flags); }

    public void record() { cuEventRecord(event, stream); }

    /** Records the event on another stream of this context (a side stream). */
    public void record(CUstream on) { cuEventRecord(event, on); }

    /** Milliseconds from this event to end, waiting for end to complete. */
    public float elapsedMs(Event end) {
      cuEventSynchronize(end.event);
      float[] ms = new float[1];
      cuEventElapsedTime(ms, event, end.event);
      return ms[0];
    }

    @Override
    public void close() { cuEventDestroy(event); }
  }

  /**
   * Records what launches does on the stream (kernel launches, DeviceArena.memsetZero) as a CUDA graph,
   * without running it. Kernel arguments are captured by value: a changed mutable cell has no effect
   * on the graph. Synchronous copies (upload, download) are not allowed inside.
   */
  public Graph capture(Runnable launches) {
    // thread-local: with one thread per GPU, another rank's thread may allocate or synchronize (NCCL
    // does) while this one captures; global mode would make those calls fail
    cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    CUgraph graph = new CUgraph();
    try {
      launches.run();
    } catch (RuntimeException | Error e) {
      try { cuStreamEndCapture(stream, graph); } catch (jcuda.CudaException ignored) { /* capture already invalid */ }
      throw e;
    }
    cuStreamEndCapture(stream, graph);
    CUgraphExec exec = new CUgraphExec();
    try {
      cuGraphInstantiate(exec, graph, 0);
    } finally {
      cuGraphDestroy(graph);
    }
    return new Graph(exec);
  }

  /** An instantiated graph; each launch() replays the captured launches on the stream. */
  public final class Graph implements AutoCloseable {
    private final CUgraphExec exec;

    private Graph(CUgraphExec exec) { this.exec = exec; }

    public void launch() { cuGraphLaunch(exec, stream); }

    @Override
    public void close() { cuGraphExecDestroy(exec); }
  }

  private int attribute(int attribute) {
    int[] v = new int[1];
    cuDeviceGetAttribute(v, attribute, device);
    return v[0];
  }

  /** Waits for the device, then destroys the stream and releases the primary context. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    cuCtxSynchronize();
    for (CUstream s : sideStreams) cuStreamDestroy(s);
    cuStreamDestroy(stream);
    cuDevicePrimaryCtxRelease(device);
  }

  @Override
  public String toString() {
    return name + " (" + arch() + ", " + human(totalBytes) + ")";
  }
}
