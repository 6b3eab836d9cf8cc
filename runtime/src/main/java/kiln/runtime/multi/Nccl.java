// NCCL bound through java.lang.foreign: unique ids, communicators (one per GPU rank), all-reduce,
// reduce and all-gather on JCuda device pointers and streams, every result checked.
package kiln.runtime.multi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import kiln.runtime.cuda.CudaException;
import kiln.runtime.cuda.NativeLibrary;

/**
 * One loaded libnccl. {@link #get()} is the library found on the default search ({@link #candidates()});
 * the package-private constructor binds another one (tests bind a stub library built from C).
 *
 * <p>NVLS (NVLink SHARP, which makes NCCL call cuMulticastCreate) must be off: the lending machines
 * forbid multicast objects. NCCL reads {@code NCCL_NVLS_ENABLE} from the process environment, which
 * Java cannot change, so the launcher must {@code export NCCL_NVLS_ENABLE=0}; {@link #init} refuses
 * to create a communicator otherwise. kiln itself never calls cuMulticastCreate.
 *
 * <p>A communicator is used by one thread, whose current CUDA context (from {@code Cuda.open(ordinal)}
 * or {@code makeCurrent()}) picks its device when it is created.
 */
public final class Nccl {
  /** sizeof(ncclUniqueId): an opaque {@code char internal[128]}. */
  public static final int UNIQUE_ID_BYTES = 128;

  static final String NVLS_VARIABLE = "NCCL_NVLS_ENABLE";

  private static final int NCCL_SUCCESS = 0;
  /** ncclInProgress: a non-blocking communicator's call still running (poll ncclCommGetAsyncError). */
  static final int NCCL_IN_PROGRESS = 7;

  /** ncclDataType_t, in NCCL's order: the ordinal is the code. */
  public enum DataType { INT8, UINT8, INT32, UINT32, INT64, UINT64, FLOAT16, FLOAT32, FLOAT64, BFLOAT16 }

  /** ncclRedOp_t (the built-in ones), in NCCL's order: the ordinal is the code. */
  public enum Op { SUM, PROD, MAX, MIN, AVG }

  /** NCCL's version, decoded from ncclGetVersion's code (X*10000 + Y*100 + Z since 2.9, X*1000 + Y*100 + Z before). */
  public record Version(int major, int minor, int patch) {
    @Override
    public String toString() { return major + "." + minor + "." + patch; }
  }

  private final String path;
  private final Map<String, String> environment;
  private final Version version;
  private final MethodHandle getUniqueId, commInitRank, commDestroy, allReduce, allGather, groupStart, groupEnd, errorString,
      asyncError, reduceTo;
  private final MethodHandle commInitRankConfig; // ncclCommInitRankConfig (NCCL >= 2.14), null where the library lacks it
  private final MethodHandle commAbort; // ncclCommAbort, null where the library lacks it
  private final MethodHandle lastError; // ncclGetLastError, NCCL >= 2.13; null when the library has none

  // ---- the default library ----

  /** True when a libnccl was found and bound; never throws. */
  public static boolean available() { return Default.FOUND.bound() != null; }

  /** Why NCCL is not available: every path tried and what failed; empty when it is. */
  public static String unavailableReason() { return Default.FOUND.failure(); }

  /** The library found on the default search; throws CudaException saying what was tried when there is none. */
  public static Nccl get() { return Default.FOUND.get("NCCL"); }

  /** Where to look for libnccl, in order: -Dkiln.nccl, $KILN_NCCL, then the loader's search path. */
  static List<String> candidates() { return NativeLibrary.candidates("kiln.nccl", "KILN_NCCL", "libnccl.so.2", "libnccl.so"); }

  private static final class Default {
    static final NativeLibrary<Nccl> FOUND = NativeLibrary.first(candidates(), path -> new Nccl(path, System.getenv()), "kiln.nccl", "KILN_NCCL");
  }

  /**
   * Binds the library at path (a file path, or a bare name for the loader's search); environment: what
   * the NVLS check reads (the process environment, or a test's map).
   */
  Nccl(String path, Map<String, String> environment) throws Throwable {
    SymbolLookup lookup = path.contains("/")
        ? SymbolLookup.libraryLookup(Path.of(path), Arena.global())
        : SymbolLookup.libraryLookup(path, Arena.global());
    MemoryLayout uniqueId = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE).withName("internal"));
    MethodHandle getVersion = bind(lookup, "ncclGetVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS), true);
    getUniqueId = bind(lookup, "ncclGetUniqueId", FunctionDescriptor.of(JAVA_INT, ADDRESS), true);
    // ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId (by value), int rank)
    commInitRank = bind(lookup, "ncclCommInitRank", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, uniqueId, JAVA_INT), true);
    commDestroy = bind(lookup, "ncclCommDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), true);
    // (sendbuff, recvbuff, size_t count, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t)
    allReduce = bind(lookup, "ncclAllReduce", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), true);
    // (sendbuff, recvbuff, size_t sendcount, ncclDataType_t, ncclComm_t, cudaStream_t)
    allGather = bind(lookup, "ncclAllGather", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS), true);
    // ncclReduce(sendbuff, recvbuff, size_t count, ncclDataType_t, ncclRedOp_t, int root, ncclComm_t, cudaStream_t)
    reduceTo = bind(lookup, "ncclReduce", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), true);
    // ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId commId (by value), int rank, ncclConfig_t* config)
    commInitRankConfig = bind(lookup, "ncclCommInitRankConfig", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, uniqueId, JAVA_INT, ADDRESS), false);
    groupStart = bind(lookup, "ncclGroupStart", FunctionDescriptor.of(JAVA_INT), true);
    groupEnd = bind(lookup, "ncclGroupEnd", FunctionDescriptor.of(JAVA_INT), true);
    errorString = bind(lookup, "ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT), true);
    asyncError = bind(lookup, "ncclCommGetAsyncError", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), true);
    commAbort = bind(lookup, "ncclCommAbort", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    lastError = bind(lookup, "ncclGetLastError", FunctionDescriptor.of(ADDRESS, ADDRESS), false);
    this.path = path;
    this.environment = Map.copyOf(environment);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment code = arena.allocate(JAVA_INT);
      int status = (int) getVersion.invokeExact(code);
      if (status != NCCL_SUCCESS) throw new IllegalStateException("ncclGetVersion returned " + status);
      this.version = decodeVersion(code.get(JAVA_INT, 0));
    }
  }

  /** The downcall of symbol; a library without it is refused when required, else the handle is null. */
  private static MethodHandle bind(SymbolLookup lookup, String symbol, FunctionDescriptor descriptor, boolean required) {
    var address = lookup.find(symbol);
    if (required && address.isEmpty()) throw new IllegalStateException("no symbol " + symbol);
    return address.map(a -> Linker.nativeLinker().downcallHandle(a, descriptor)).orElse(null);
  }

  /** A downcall answering an ncclResult_t. */
  private interface Call {
    int run() throws Throwable;
  }

  /** call's ncclResult_t; anything the binding itself throws (not an NCCL result) becomes a CudaException naming the call. */
  private static int invoke(String name, Call call) {
    try {
      return call.run();
    } catch (CudaException e) {
      throw e;
    } catch (Throwable t) {
      throw new CudaException(name + " failed: " + t, t);
    }
  }

  static Version decodeVersion(int code) {
    if (code >= 10000) return new Version(code / 10000, code % 10000 / 100, code % 100);
    return new Version(code / 1000, code % 1000 / 100, code % 100);
  }

  /** The library as it was named to dlopen. */
  public String libraryPath() { return path; }

  public Version version() { return version; }

  /** A fresh ncclUniqueId (128 bytes): made by rank 0, handed to every rank through {@link UniqueIdExchange}. */
  public byte[] uniqueId() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment id = arena.allocate(UNIQUE_ID_BYTES);
      check(invoke("ncclGetUniqueId", () -> (int) getUniqueId.invokeExact(id)), "ncclGetUniqueId", null);
      return id.toArray(JAVA_BYTE);
    }
  }

  /**
   * This thread's rank of a communicator of ranks GPUs, on the device of the thread's current CUDA
   * context. Blocks until all ranks have called it with the same id. Refuses, before touching NCCL,
   * unless NCCL_NVLS_ENABLE=0 is in the environment.
   *
   * <p>With a finite timeout (not Long.MAX_VALUE) the communicator is made non-blocking
   * (ncclCommInitRankConfig with blocking = 0) and its state polled through ncclCommGetAsyncError; a rank that has not joined within timeoutNanos (a peer process that died after the
   * id exchange, or never started) ends the wait with one error and the half-made communicator is
   * aborted. Collectives of a non-blocking communicator that answer ncclInProgress are waited for the
   * same way. Without ncclCommInitRankConfig (NCCL < 2.14), or with KILN_NCCL_BLOCKING_INIT=1, the
   * blocking init runs.
   */
  public Communicator init(int ranks, byte[] uniqueId, int rank, long timeoutNanos) {
    Objects.requireNonNull(uniqueId, "uniqueId");
    if (ranks < 1) throw new IllegalArgumentException("NCCL communicator: ranks must be positive, got " + ranks);
    if (rank < 0 || rank >= ranks) throw new IllegalArgumentException("NCCL communicator: rank must be in [0, " + ranks + "), got " + rank);
    if (uniqueId.length != UNIQUE_ID_BYTES) {
      throw new IllegalArgumentException("NCCL unique id must be " + UNIQUE_ID_BYTES + " bytes, got " + uniqueId.length);
    }
    requireNvlsDisabled(environment);
    String call = "ncclCommInitRank (rank " + rank + " of " + ranks + ")";
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment commOut = arena.allocate(ADDRESS);
      MemorySegment id = arena.allocateFrom(JAVA_BYTE, uniqueId);
      boolean bounded = timeoutNanos != Long.MAX_VALUE && commInitRankConfig != null && !"1".equals(environment.get(BLOCKING_INIT_VARIABLE));
      if (!bounded) {
        check(invoke(call, () -> (int) commInitRank.invokeExact(commOut, ranks, id, rank)), call, null);
        return new Communicator(commOut.get(ADDRESS, 0), rank, ranks, Long.MAX_VALUE);
      }
      MemorySegment config = nonBlockingConfig(arena);
      int result = invoke(call, () -> (int) commInitRankConfig.invokeExact(commOut, ranks, id, rank, config));
      if (result != NCCL_SUCCESS && result != NCCL_IN_PROGRESS) check(result, call, null);
      Communicator c = new Communicator(commOut.get(ADDRESS, 0), rank, ranks, timeoutNanos);
      c.settle(result, call, () -> "ncclCommInitRank (rank " + rank + " of " + ranks + ") did not complete within "
          + timeoutNanos / 1_000_000_000L + " s: a rank never joined (a process that died after the id exchange, or never started); "
          + "KILN_STEP_TIMEOUT_S sets the limit");
      return c;
    }
  }

  /** KILN_NCCL_BLOCKING_INIT=1: the blocking ncclCommInitRank even where a timeout is asked for (a fallback). */
  static final String BLOCKING_INIT_VARIABLE = "KILN_NCCL_BLOCKING_INIT";

  /**
   * An ncclConfig_t as NCCL 2.14 laid it out (size, magic, version, blocking, cgaClusterSize), with
   * blocking = 0 and the rest undefined: NCCL copies the first `size` bytes over its defaults and
   * takes later fields from the defaults for a config of an older version, so this short form stays
   * valid in every NCCL since 2.14.
   */
  static MemorySegment nonBlockingConfig(Arena arena) {
    MemorySegment c = arena.allocate(CONFIG_BYTES, 8);
    c.set(JAVA_LONG, 0, CONFIG_BYTES);            // size_t size
    c.set(JAVA_INT, 8, 0xcafebeef);               // NCCL_API_MAGIC
    c.set(JAVA_INT, 12, 21400);                   // NCCL_VERSION(2, 14, 0)
    c.set(JAVA_INT, 16, 0);                       // blocking = 0
    c.set(JAVA_INT, 20, Integer.MIN_VALUE);       // cgaClusterSize: NCCL_CONFIG_UNDEF_INT
    return c;
  }

  static final int CONFIG_BYTES = 24;

  /** The refusal {@link #init} makes unless env holds NCCL_NVLS_ENABLE=0. */
  static void requireNvlsDisabled(Map<String, String> env) {
    String value = env.get(NVLS_VARIABLE);
    if ("0".equals(value)) return;
    throw new CudaException("NCCL_NVLS_ENABLE must be 0 before NCCL starts ("
        + (value == null ? "it is not set" : "it is '" + value + "'")
        + "): NVLS makes NCCL create multicast objects (cuMulticastCreate), which these machines do not allow. "
        + "The JVM cannot change its own environment: run `export NCCL_NVLS_ENABLE=0` before starting kiln.");
  }

  /** Starts a group: collectives queued until {@link #groupEnd()} are launched together (one thread driving several ranks). */
  public void groupStart() { check(invoke("ncclGroupStart", () -> (int) groupStart.invokeExact()), "ncclGroupStart", null); }

  public void groupEnd() { groupEnd(null); }

  /** As above; a non-blocking communicator in the group (settle) is waited for when the group answers ncclInProgress. */
  public void groupEnd(Communicator settle) {
    int result = invoke("ncclGroupEnd", () -> (int) groupEnd.invokeExact());
    if (result == NCCL_IN_PROGRESS && settle != null) settle.settle(result, "ncclGroupEnd", null);
    else check(result, "ncclGroupEnd", null);
  }

  /** ncclGetErrorString, or the bare number if NCCL has no text for it. */
  String errorString(int result) { return NativeLibrary.errorString(errorString, result, "ncclResult_t"); }

  /** ncclGetLastError's text for comm (may be null for the calling thread's last error), or "" when it has none. */
  private String lastError(MemorySegment comm) {
    if (lastError == null) return "";
    try {
      MemorySegment which = comm == null ? MemorySegment.NULL : comm; // a local: a conditional argument of invokeExact types as Object
      MemorySegment s = (MemorySegment) lastError.invokeExact(which);
      return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(4096).getString(0).strip();
    } catch (Throwable t) {
      return "";
    }
  }

  private void check(int result, String call, MemorySegment comm) {
    if (result != NCCL_SUCCESS) throw new CudaException(call + " failed: " + explain(result, comm));
  }

  /** NCCL's text for result, and ncclGetLastError's for comm where it has one. */
  private String explain(int result, MemorySegment comm) {
    String detail = lastError(comm);
    return errorString(result) + (detail.isEmpty() ? "" : " (NCCL: " + detail + ")");
  }

  // ---- JCuda objects to addresses ----

  private static final MethodHandle NATIVE_POINTER, BYTE_OFFSET;

  static {
    try {
      // JCuda keeps the address in NativePointerObject.nativePointer, read by the protected getNativePointer();
      // a Pointer made by withByteOffset keeps the base and adds getByteOffset(). JCuda has no public
      // accessor, so the protected methods are reached through a private lookup (jcuda is an unnamed or
      // automatic module: its packages are open).
      NATIVE_POINTER = MethodHandles.privateLookupIn(NativePointerObject.class, MethodHandles.lookup())
          .findVirtual(NativePointerObject.class, "getNativePointer", MethodType.methodType(long.class));
      BYTE_OFFSET = MethodHandles.privateLookupIn(Pointer.class, MethodHandles.lookup())
          .findVirtual(Pointer.class, "getByteOffset", MethodType.methodType(long.class));
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError("JCuda's NativePointerObject.getNativePointer / Pointer.getByteOffset are not reachable: " + e);
    }
  }

  /**
   * The device address a CUdeviceptr (with its byte offset) stands for, or a CUstream's handle as NCCL's
   * cudaStream_t (the driver and runtime share the handle).
   */
  public static long address(NativePointerObject pointer) {
    Objects.requireNonNull(pointer, "device pointer or stream");
    try {
      long offset = pointer instanceof Pointer p ? (long) BYTE_OFFSET.invokeExact(p) : 0;
      return (long) NATIVE_POINTER.invokeExact(pointer) + offset;
    } catch (Throwable t) {
      throw new IllegalStateException("cannot read the address of " + pointer, t);
    }
  }

  private static MemorySegment segment(NativePointerObject pointer) { return MemorySegment.ofAddress(address(pointer)); }

  // ---- communicators ----

  /** One rank's ncclComm_t. Collectives are queued on the given stream and return at once. */
  public final class Communicator implements AutoCloseable {
    private final MemorySegment comm;
    private final int rank, ranks;
    /** Non-blocking communicators (a bounded init): how long a call answering ncclInProgress may take; MAX_VALUE: blocking. */
    private final long timeoutNanos;
    private volatile boolean closed;

    private Communicator(MemorySegment comm, int rank, int ranks, long timeoutNanos) {
      this.comm = comm;
      this.rank = rank;
      this.ranks = ranks;
      this.timeoutNanos = timeoutNanos;
    }

    /** Whether calls may answer ncclInProgress (made by a bounded init). */
    public boolean nonBlocking() { return timeoutNanos != Long.MAX_VALUE; }

    /**
     * A call that answered ncclInProgress: polls ncclCommGetAsyncError until the state leaves
     * ncclInProgress (a non-blocking communicator's every group and collective does: NCCL launches it
     * from a helper thread, and only then is the work on the stream, ordered with what follows); an error state throws; past the timeout the communicator is aborted and
     * the timeout's message (or a generic one) thrown.
     */
    void settle(int result, String call, java.util.function.Supplier<String> onTimeout) {
      if (result != NCCL_IN_PROGRESS) {
        check(result, call, comm);
        return;
      }
      long start = System.nanoTime();
      while (true) {
        int state = asyncState("ncclCommGetAsyncError" + where());
        if (state == NCCL_SUCCESS) return;
        if (state != NCCL_IN_PROGRESS) check(state, call, comm);
        if (System.nanoTime() - start > timeoutNanos) {
          abort();
          throw new CudaException(onTimeout != null ? onTimeout.get() : call + " did not complete within "
              + timeoutNanos / 1_000_000_000L + " s");
        }
        // a group's launch takes NCCL's helper thread tens of microseconds: spin for the first 2 ms, then poll each millisecond
        if (System.nanoTime() - start < 2_000_000) {
          Thread.onSpinWait();
          continue;
        }
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new CudaException(call + ": interrupted while waiting for NCCL", e);
        }
      }
    }

    /** ncclCommGetAsyncError: this communicator's state (ncclSuccess, ncclInProgress or the error that hit it). */
    private int asyncState(String call) {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment state = arena.allocate(JAVA_INT);
        check(invoke(call, () -> (int) asyncError.invokeExact(comm, state)), call, comm);
        return state.get(JAVA_INT, 0);
      }
    }

    /**
     * recv (on rank root) = op over ranks of send, count elements; in place when send == recv. Other
     * ranks' recv is not written.
     */
    public void reduce(CUdeviceptr send, CUdeviceptr recv, long count, DataType type, Op op, int root, CUstream stream) {
      MemorySegment s = segment(send), r = segment(recv), st = segment(stream);
      if (root < 0 || root >= ranks) throw new IllegalArgumentException("ncclReduce" + where() + ": root must be in [0, " + ranks + "), got " + root);
      collective("ncclReduce", count, type, () -> (int) reduceTo.invokeExact(s, r, count, type.ordinal(), op.ordinal(), root, comm, st));
    }

    /** recv[i] = op over ranks of send[i], count elements; send == recv is in place. */
    public void allReduce(CUdeviceptr send, CUdeviceptr recv, long count, DataType type, Op op, CUstream stream) {
      MemorySegment s = segment(send), r = segment(recv), st = segment(stream);
      collective("ncclAllReduce", count, type, () -> (int) allReduce.invokeExact(s, r, count, type.ordinal(), op.ordinal(), comm, st));
    }

    /**
     * recv[k * sendCount, (k + 1) * sendCount) = rank k's send, for every k. In place when send ==
     * recv + rank * sendCount elements.
     */
    public void allGather(CUdeviceptr send, CUdeviceptr recv, long sendCount, DataType type, CUstream stream) {
      MemorySegment s = segment(send), r = segment(recv), st = segment(stream);
      collective("ncclAllGather", sendCount, type, () -> (int) allGather.invokeExact(s, r, sendCount, type.ordinal(), comm, st));
    }

    /** Throws if an asynchronous error (a peer died, a network failure) has hit this communicator. */
    public void checkAsyncError() {
      String call = "ncclCommGetAsyncError" + where();
      if (closed) throw new IllegalStateException(call + " after the communicator was closed");
      int async = asyncState(call);
      if (async != NCCL_SUCCESS && async != NCCL_IN_PROGRESS) {
        throw new CudaException("NCCL communicator" + where() + " has an asynchronous error: " + explain(async, comm));
      }
    }

    private String where() { return " (rank " + rank + " of " + ranks + ")"; }

    private String where(long count, DataType type) {
      return " (rank " + rank + " of " + ranks + ", " + count + " x " + type.name().toLowerCase(Locale.ROOT) + ")";
    }

    /**
     * One collective: checked first (building no message unless one is thrown: collectives run every step), its
     * failure named with the rank, count and type; ncclInProgress of a non-blocking communicator is waited for.
     */
    private void collective(String call, long count, DataType type, Call downcall) {
      Objects.requireNonNull(type, "data type");
      if (closed) throw new IllegalStateException(call + where() + " after the communicator was closed");
      if (count < 0) throw new IllegalArgumentException(call + where() + ": count must be >= 0, got " + count);
      int result;
      try {
        result = downcall.run();
      } catch (Throwable t) {
        throw new CudaException(call + where(count, type) + " failed: " + t, t);
      }
      if (result == NCCL_SUCCESS) return;
      if (result == NCCL_IN_PROGRESS && nonBlocking()) settle(result, call + where(count, type), null);
      else check(result, call + where(count, type), comm);
    }

    /**
     * ncclCommAbort: stops this rank's pending collectives (a kernel spinning on a peer that is gone
     * returns) and frees the communicator without waiting for them. Callable from another thread
     * than the rank's (the watchdog's); false where the library has no ncclCommAbort. After it the
     * communicator is closed.
     */
    public boolean abort() {
      if (closed || commAbort == null) return false;
      closed = true;
      try {
        return (int) commAbort.invokeExact(comm) == NCCL_SUCCESS;
      } catch (Throwable t) {
        return false;
      }
    }

    /** ncclCommDestroy: waits for this rank's queued collectives, then frees the communicator. */
    @Override
    public void close() {
      if (closed) return;
      closed = true;
      int result = invoke("ncclCommDestroy" + where(), () -> (int) commDestroy.invokeExact(comm));
      // a non-blocking communicator may answer that its teardown goes on in NCCL's thread: the handle is gone either way
      if (result != NCCL_IN_PROGRESS || !nonBlocking()) check(result, "ncclCommDestroy" + where(), null);
    }

    @Override
    public String toString() { return "NCCL communicator, rank " + rank + " of " + ranks + " (" + path + ", NCCL " + version + ")"; }
  }
}
