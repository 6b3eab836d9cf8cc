// The NCCL binding against a stub libnccl built here with gcc: the id passed by value, the argument
// order of every collective, JCuda pointers and streams turned into addresses, error and refusal
// messages. The stub is one rank with host memory, so it runs without a GPU; skips without gcc.
package kiln.runtime.multi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static kiln.runtime.multi.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import kiln.runtime.cuda.CudaException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NcclBindingTest {
  /** One rank over host memory, with knobs: fail the next call, report an async error, read back the last arguments. */
  static final String STUB = """
      #include <stdlib.h>
      #include <string.h>
      #include <stdint.h>
      typedef struct { char internal[128]; } ncclUniqueId;
      typedef struct { int nranks, rank, pending; } *ncclComm_t;
      typedef struct { size_t size; unsigned int magic, version; int blocking, cgaClusterSize; } ncclConfig_t;

      static int fail_next, async_error, inits, destroys, aborts, group_depth, last_init[2];
      static unsigned char last_id[128];
      static int64_t last_args[7]; /* send, recv, count, type, op, comm, stream */
      static char last_error[256];
      static int init_polls, collective_polls, last_root, polls; /* non-blocking: polls before a call completes (-1: never) */
      static ncclConfig_t last_config;

      static const char *names[] = {"no error", "unhandled cuda error (run with NCCL_DEBUG=INFO for details)",
          "unhandled system error (run with NCCL_DEBUG=INFO for details)", "internal error - please report this issue to the NCCL developers",
          "invalid argument (run with NCCL_DEBUG=WARN for details)", "invalid usage (run with NCCL_DEBUG=WARN for details)",
          "remote process exited or there was a network error", "NCCL operation in progress"};
      const char *ncclGetErrorString(int r) { return r >= 0 && r < 8 ? names[r] : "unknown result code"; }
      #ifndef NO_LAST_ERROR
      const char *ncclGetLastError(ncclComm_t comm) { return last_error; }
      #endif
      static int take(void) { int r = fail_next; fail_next = 0; return r; }
      static size_t width(int type) { static const size_t w[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2}; return w[type]; }
      static void record(const void *s, void *r, size_t n, int type, int op, ncclComm_t c, void *stream) {
        last_args[0] = (int64_t) (intptr_t) s; last_args[1] = (int64_t) (intptr_t) r; last_args[2] = (int64_t) n;
        last_args[3] = type; last_args[4] = op; last_args[5] = (int64_t) (intptr_t) c; last_args[6] = (int64_t) (intptr_t) stream;
      }

      int ncclGetVersion(int *version) { *version = 22304; return 0; }
      int ncclGetUniqueId(ncclUniqueId *id) {
        int r = take(); if (r) return r;
        for (int i = 0; i < 128; i++) id->internal[i] = (char) (i * 7 + 3);
        return 0;
      }
      int ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
        int r = take(); if (r) return r;
        memcpy(last_id, id.internal, 128); last_init[0] = nranks; last_init[1] = rank;
        ncclComm_t c = malloc(sizeof *c); c->nranks = nranks; c->rank = rank; c->pending = 0; *comm = c; inits++;
        return 0;
      }
      #ifndef NO_INIT_CONFIG
      int ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank, ncclConfig_t *config) {
        int r = take(); if (r) return r;
        memcpy(&last_config, config, sizeof last_config);
        memcpy(last_id, id.internal, 128); last_init[0] = nranks; last_init[1] = rank;
        ncclComm_t c = malloc(sizeof *c); c->nranks = nranks; c->rank = rank; c->pending = init_polls; *comm = c; inits++;
        return config->blocking == 0 && init_polls != 0 ? 7 : 0;
      }
      #endif
      int ncclCommDestroy(ncclComm_t comm) { free(comm); destroys++; return take(); }
      #ifndef NO_ABORT
      int ncclCommAbort(ncclComm_t comm) { free(comm); aborts++; return take(); }
      #endif
      int ncclAllReduce(const void *s, void *r, size_t n, int type, int op, ncclComm_t c, void *stream) {
        record(s, r, n, type, op, c, stream);
        int f = take(); if (f) return f;
        memmove(r, s, n * width(type)); /* any op over one rank is the identity */
        return 0;
      }
      int ncclReduce(const void *s, void *r, size_t n, int type, int op, int root, ncclComm_t c, void *stream) {
        record(s, r, n, type, op, c, stream); last_root = root;
        int f = take(); if (f) return f;
        if (c->rank == root) memmove(r, s, n * width(type));
        if (collective_polls) { c->pending = collective_polls; return 7; }
        return 0;
      }
      #ifndef NO_ALL_GATHER
      int ncclAllGather(const void *s, void *r, size_t n, int type, ncclComm_t c, void *stream) {
        record(s, r, n, type, -1, c, stream);
        int f = take(); if (f) return f;
        memmove((char *) r + (size_t) c->rank * n * width(type), s, n * width(type));
        return 0;
      }
      #endif
      int ncclGroupStart(void) { int r = take(); if (!r) group_depth++; return r; }
      int ncclGroupEnd(void) { int r = take(); if (!r) group_depth--; return r; }
      int ncclCommGetAsyncError(ncclComm_t comm, int *result) {
        polls++;
        if (comm->pending != 0) { if (comm->pending > 0) comm->pending--; *result = 7; return take(); }
        *result = async_error; return take();
      }
      void stub_polls(int init, int collective) { init_polls = init; collective_polls = collective; polls = 0; }
      void stub_last_config(int64_t *out) { out[0] = (int64_t) last_config.size; out[1] = last_config.magic; out[2] = last_config.version;
        out[3] = last_config.blocking; out[4] = last_root; out[5] = polls; }

      void stub_fail_next(int r, const char *error) { fail_next = r; strncpy(last_error, error, sizeof last_error - 1); }
      void stub_async_error(int r) { async_error = r; }
      void stub_last_args(int64_t *out) { memcpy(out, last_args, sizeof last_args); }
      void stub_last_init(int *out, unsigned char *id) { out[0] = last_init[0]; out[1] = last_init[1]; memcpy(id, last_id, 128); }
      void stub_counters(int *out) { out[0] = inits; out[1] = destroys; out[2] = group_depth; out[3] = aborts; }
      """;

  static final Map<String, String> NVLS_OFF = Map.of("NCCL_NVLS_ENABLE", "0");

  @TempDir static Path build;
  static Path stub;
  static String skip;
  static MethodHandle failNext, asyncError, lastArgs, lastInit, counters, polls, lastConfig;

  @BeforeAll
  static void compileStub() throws Exception {
    stub = compile("libnccl-stub.so");
    if (stub == null) return;
    SymbolLookup lookup = SymbolLookup.libraryLookup(stub, Arena.global()); // the same handle the binding gets: one copy of the globals
    Linker linker = Linker.nativeLinker();
    failNext = linker.downcallHandle(lookup.findOrThrow("stub_fail_next"), FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS));
    asyncError = linker.downcallHandle(lookup.findOrThrow("stub_async_error"), FunctionDescriptor.ofVoid(JAVA_INT));
    lastArgs = linker.downcallHandle(lookup.findOrThrow("stub_last_args"), FunctionDescriptor.ofVoid(ADDRESS));
    lastInit = linker.downcallHandle(lookup.findOrThrow("stub_last_init"),
        FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
    counters = linker.downcallHandle(lookup.findOrThrow("stub_counters"), FunctionDescriptor.ofVoid(ADDRESS));
    polls = linker.downcallHandle(lookup.findOrThrow("stub_polls"), FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT));
    lastConfig = linker.downcallHandle(lookup.findOrThrow("stub_last_config"), FunctionDescriptor.ofVoid(ADDRESS));
  }

  /** The stub built with extra -D flags into build/name; null (and skip set) when there is no working gcc. */
  static Path compile(String name, String... defines) throws IOException, InterruptedException {
    Path source = build.resolve("stub.c");
    Files.writeString(source, STUB);
    Path out = build.resolve(name);
    List<String> command = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O1", "-o", out.toString()));
    command.addAll(List.of(defines));
    command.add(source.toString());
    Process gcc;
    try {
      gcc = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      skip = "no gcc to build the stub libnccl: " + e.getMessage();
      return null;
    }
    String log = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!gcc.waitFor(60, TimeUnit.SECONDS) || gcc.exitValue() != 0) throw new AssertionError("gcc failed on the stub:\n" + log);
    return out;
  }

  @BeforeEach
  void needStub() { Assumptions.assumeTrue(stub != null, () -> skip); }

  static Nccl nccl() throws Throwable { return new Nccl(stub.toString(), NVLS_OFF); }

  static void failNext(int result, String error) throws Throwable {
    try (Arena arena = Arena.ofConfined()) {
      failNext.invokeExact(result, arena.allocateFrom(error));
    }
  }

  static long[] lastArgs() throws Throwable {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_LONG, 7);
      lastArgs.invokeExact(out);
      return out.toArray(JAVA_LONG);
    }
  }

  static int[] counters() throws Throwable {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_INT, 4);
      counters.invokeExact(out);
      return out.toArray(JAVA_INT);
    }
  }

  /** A CUstream whose handle is h (JCuda's CUstream(long) is package-private). */
  static CUstream stream(long h) throws ReflectiveOperationException {
    Constructor<CUstream> c = CUstream.class.getDeclaredConstructor(long.class);
    c.setAccessible(true);
    return c.newInstance(h);
  }

  /** A CUdeviceptr holding a host address, which the one-rank stub reads and writes directly. */
  static CUdeviceptr at(MemorySegment host) { return new CUdeviceptr().withByteOffset(host.address()); }

  @Test
  void versionAndLibrary() throws Throwable {
    Nccl nccl = nccl();
    assertEquals(new Nccl.Version(2, 23, 4), nccl.version());
    assertEquals("2.23.4", nccl.version().toString());
    assertEquals(stub.toString(), nccl.libraryPath());
    assertEquals(new Nccl.Version(2, 8, 4), Nccl.decodeVersion(2804));
    assertEquals(new Nccl.Version(2, 18, 5), Nccl.decodeVersion(21805));
  }

  @Test
  void uniqueIdTravelsByValueIntoInit() throws Throwable {
    Nccl nccl = nccl();
    byte[] id = nccl.uniqueId();
    assertEquals(128, id.length);
    for (int i = 0; i < 128; i++) assertEquals((byte) (i * 7 + 3), id[i]);
    byte[] mine = new byte[128];
    for (int i = 0; i < 128; i++) mine[i] = (byte) (255 - i);
    int before = counters()[0];
    try (Nccl.Communicator comm = nccl.init(3, mine, 2, Long.MAX_VALUE)) {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment init = arena.allocate(JAVA_INT, 2), seen = arena.allocate(128);
        lastInit.invokeExact(init, seen);
        assertArrayEquals(new int[] {3, 2}, init.toArray(JAVA_INT));
        assertArrayEquals(mine, seen.toArray(JAVA_BYTE), "the 128-byte struct arrives whole, by value");
      }
      assertEquals("NCCL communicator, rank 2 of 3 (" + stub + ", NCCL 2.23.4)", comm.toString());
    }
    assertEquals(before + 1, counters()[0]);
  }

  @Test
  void collectivesPassTheirArgumentsInOrder() throws Throwable {
    Nccl nccl = nccl();
    try (Arena arena = Arena.ofConfined(); Nccl.Communicator comm = nccl.init(1, nccl.uniqueId(), 0, Long.MAX_VALUE)) {
      float[] values = {1.5f, -2f, 3.25f, 0f, 7f, 8f, 9f, 10f};
      MemorySegment send = arena.allocateFrom(JAVA_FLOAT, values), recv = arena.allocate(JAVA_FLOAT, values.length);
      CUstream s = stream(0x5eed);
      comm.allReduce(at(send), at(recv), values.length, Nccl.DataType.FLOAT32, Nccl.Op.SUM, s);
      assertArrayEquals(values, recv.toArray(JAVA_FLOAT));
      long[] args = lastArgs();
      assertEquals(send.address(), args[0]);
      assertEquals(recv.address(), args[1]);
      assertEquals(values.length, args[2]);
      assertEquals(7, args[3], "ncclFloat32");
      assertEquals(0, args[4], "ncclSum");
      assertTrue(args[5] != 0, "the communicator");
      assertEquals(0x5eed, args[6], "the stream handle");
      long commAddress = args[5];

      // in place, at a byte offset inside the buffer, bf16 max
      comm.allReduce(at(send).withByteOffset(8), at(send).withByteOffset(8), 3, Nccl.DataType.BFLOAT16, Nccl.Op.MAX, new CUstream());
      assertArrayEquals(new long[] {send.address() + 8, send.address() + 8, 3, 9, 2, commAddress, 0}, lastArgs());

      MemorySegment slice = arena.allocate(JAVA_FLOAT, 4);
      comm.reduce(at(send), at(slice), 4, Nccl.DataType.FLOAT32, Nccl.Op.AVG, 0, s);
      assertArrayEquals(new long[] {send.address(), slice.address(), 4, 7, 4, commAddress, 0x5eed}, lastArgs());
      assertArrayEquals(new float[] {1.5f, -2f, 3.25f, 0f}, slice.toArray(JAVA_FLOAT));

      MemorySegment gathered = arena.allocate(JAVA_FLOAT, 4);
      comm.allGather(at(slice), at(gathered), 4, Nccl.DataType.FLOAT32, s);
      assertArrayEquals(new long[] {slice.address(), gathered.address(), 4, 7, -1, commAddress, 0x5eed}, lastArgs());
      assertArrayEquals(new float[] {1.5f, -2f, 3.25f, 0f}, gathered.toArray(JAVA_FLOAT));

      nccl.groupStart();
      assertEquals(1, counters()[2]);
      nccl.groupEnd();
      assertEquals(0, counters()[2]);
      comm.checkAsyncError();
    }
  }

  @Test
  void failuresNameTheCallAndNcclsText() throws Throwable {
    Nccl nccl = nccl();
    failNext(2, "socket: connection refused\n");
    assertMessage(CudaException.class, "ncclGetUniqueId failed: unhandled system error (run with NCCL_DEBUG=INFO for details)"
        + " (NCCL: socket: connection refused)", nccl::uniqueId);
    failNext(6, "peer 3 is gone");
    assertMessage(CudaException.class, "ncclCommInitRank (rank 1 of 4) failed: remote process exited or there was a network error"
        + " (NCCL: peer 3 is gone)", () -> nccl.init(4, new byte[128], 1, Long.MAX_VALUE));
    try (Arena arena = Arena.ofConfined(); Nccl.Communicator comm = nccl.init(1, new byte[128], 0, Long.MAX_VALUE)) {
      MemorySegment buffer = arena.allocate(JAVA_FLOAT, 4);
      failNext(4, "count too large");
      assertMessage(CudaException.class, "ncclAllReduce (rank 0 of 1, 4 x float32) failed: invalid argument (run with NCCL_DEBUG=WARN"
          + " for details) (NCCL: count too large)",
          () -> comm.allReduce(at(buffer), at(buffer), 4, Nccl.DataType.FLOAT32, Nccl.Op.SUM, new CUstream()));
      failNext(1, "");
      assertMessage(CudaException.class, "ncclReduce (rank 0 of 1, 4 x float16) failed: unhandled cuda error (run with"
          + " NCCL_DEBUG=INFO for details)",
          () -> comm.reduce(at(buffer), at(buffer), 4, Nccl.DataType.FLOAT16, Nccl.Op.SUM, 0, new CUstream()));
      failNext(5, "not in a group");
      assertMessage(CudaException.class, "ncclGroupEnd failed: invalid usage (run with NCCL_DEBUG=WARN for details) (NCCL: not in a group)",
          nccl::groupEnd);
      failNext(0, "");
      asyncError.invokeExact(6);
      try {
        assertMessage(CudaException.class, "NCCL communicator (rank 0 of 1) has an asynchronous error: remote process exited or there"
            + " was a network error", comm::checkAsyncError);
      } finally {
        asyncError.invokeExact(0);
      }
      assertMessage(IllegalArgumentException.class, "ncclAllGather (rank 0 of 1): count must be >= 0, got -1",
          () -> comm.allGather(at(buffer), at(buffer), -1, Nccl.DataType.FLOAT32, new CUstream()));
    }
  }

  @Test
  void closedCommunicator() throws Throwable {
    Nccl nccl = nccl();
    Nccl.Communicator comm = nccl.init(1, new byte[128], 0, Long.MAX_VALUE);
    int destroys = counters()[1];
    comm.close();
    comm.close();
    assertEquals(destroys + 1, counters()[1], "destroyed once");
    assertMessage(IllegalStateException.class, "ncclAllReduce (rank 0 of 1) after the communicator was closed",
        () -> comm.allReduce(new CUdeviceptr(), new CUdeviceptr(), 1, Nccl.DataType.FLOAT32, Nccl.Op.SUM, new CUstream()));
    assertMessage(IllegalStateException.class, "ncclCommGetAsyncError (rank 0 of 1) after the communicator was closed", comm::checkAsyncError);
  }

  /** ncclCommAbort (the watchdog's call after a timeout): frees without destroying, once; the communicator is closed after it. */
  @Test
  void abortFreesTheCommunicatorOnceAndClosesIt() throws Throwable {
    Nccl nccl = nccl();
    Nccl.Communicator comm = nccl.init(1, new byte[128], 0, Long.MAX_VALUE);
    int[] before = counters();
    assertTrue(comm.abort());
    assertFalse(comm.abort(), "a second abort does nothing");
    comm.close();
    int[] after = counters();
    assertEquals(before[3] + 1, after[3], "aborted once");
    assertEquals(before[1], after[1], "never destroyed after the abort");
    assertMessage(IllegalStateException.class, "ncclAllReduce (rank 0 of 1) after the communicator was closed",
        () -> comm.allReduce(new CUdeviceptr(), new CUdeviceptr(), 1, Nccl.DataType.FLOAT32, Nccl.Op.SUM, new CUstream()));
    Nccl.Communicator failing = nccl.init(1, new byte[128], 0, Long.MAX_VALUE);
    failNext(3, "abort failed");
    assertFalse(failing.abort(), "a failed abort says so (the run is ending anyway)");
  }

  @Test
  void initChecksItsArgumentsAndNvlsFirst() throws Throwable {
    Nccl nccl = nccl();
    assertMessage(IllegalArgumentException.class, "NCCL communicator: ranks must be positive, got 0", () -> nccl.init(0, new byte[128], 0, Long.MAX_VALUE));
    assertMessage(IllegalArgumentException.class, "NCCL communicator: rank must be in [0, 2), got 2", () -> nccl.init(2, new byte[128], 2, Long.MAX_VALUE));
    assertMessage(IllegalArgumentException.class, "NCCL unique id must be 128 bytes, got 127", () -> nccl.init(2, new byte[127], 0, Long.MAX_VALUE));
    int inits = counters()[0];
    Nccl withNvls = new Nccl(stub.toString(), Map.of());
    assertMessage(CudaException.class, "NCCL_NVLS_ENABLE must be 0 before NCCL starts (it is not set): NVLS makes NCCL create multicast"
        + " objects (cuMulticastCreate), which these machines do not allow. The JVM cannot change its own environment: run"
        + " `export NCCL_NVLS_ENABLE=0` before starting kiln.", () -> withNvls.init(1, new byte[128], 0, Long.MAX_VALUE));
    Nccl nvlsOn = new Nccl(stub.toString(), Map.of("NCCL_NVLS_ENABLE", "1"));
    CudaException e = assertThrows(CudaException.class, () -> nvlsOn.init(1, new byte[128], 0, Long.MAX_VALUE));
    assertTrue(e.getMessage().startsWith("NCCL_NVLS_ENABLE must be 0 before NCCL starts (it is '1'): "), e.getMessage());
    assertEquals(inits, counters()[0], "NCCL was never asked for a communicator");
  }

  /** size, magic, version, blocking of the last ncclConfig_t; the last reduce's root; polls since stub_polls. */
  static long[] lastConfig() throws Throwable {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_LONG, 6);
      lastConfig.invokeExact(out);
      return out.toArray(JAVA_LONG);
    }
  }

  @Test
  void aBoundedInitIsNonBlockingAndPolledUntilEveryRankJoined() throws Throwable {
    Nccl nccl = nccl();
    polls.invokeExact(3, 0);   // the stub's init answers ncclInProgress, then completes on the third poll
    try (Nccl.Communicator comm = nccl.init(1, nccl.uniqueId(), 0, 5_000_000_000L)) {
      long[] c = lastConfig();
      assertArrayEquals(new long[] {24, 0xcafebeefL, 21400, 0}, java.util.Arrays.copyOf(c, 4), "size, magic, NCCL_VERSION(2,14,0), blocking = 0");
      assertTrue(c[5] >= 4, "polled until done: " + c[5]);
      assertTrue(comm.nonBlocking());
      // a collective of a non-blocking communicator may answer ncclInProgress: waited for the same way
      polls.invokeExact(0, 2);
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment buf = arena.allocateFrom(JAVA_FLOAT, 1f, 2f, 3f);
        comm.reduce(at(buf), at(buf), 3, Nccl.DataType.FLOAT32, Nccl.Op.SUM, 0, stream(7));
        assertArrayEquals(new long[] {buf.address(), buf.address(), 3, 7, 0, lastArgs()[5], 7}, lastArgs());
        assertEquals(0, lastConfig()[4], "root");
        assertEquals(3, lastConfig()[5], "two ncclInProgress polls, then done");
        assertMessage(IllegalArgumentException.class, "ncclReduce (rank 0 of 1): root must be in [0, 1), got 1",
            () -> comm.reduce(at(buf), at(buf), 3, Nccl.DataType.FLOAT32, Nccl.Op.SUM, 1, stream(7)));
      }
      comm.checkAsyncError();   // ncclInProgress is not an error
    } finally {
      polls.invokeExact(0, 0);
    }
    // without a timeout: the blocking ncclCommInitRank, as before
    try (Nccl.Communicator comm = nccl.init(1, nccl.uniqueId(), 0, Long.MAX_VALUE)) {
      assertFalse(comm.nonBlocking());
    }
  }

  @Test
  void aRankThatNeverJoinsEndsTheInitWithOneLineWithinTheTimeout() throws Throwable {
    Nccl nccl = nccl();
    int aborts = counters()[3];
    polls.invokeExact(-1, 0);   // never completes: a peer that died after the id exchange
    try {
      long t0 = System.nanoTime();
      assertMessage(CudaException.class, "ncclCommInitRank (rank 0 of 1) did not complete within 1 s: a rank never joined (a process that died"
          + " after the id exchange, or never started); KILN_STEP_TIMEOUT_S sets the limit", () -> nccl.init(1, nccl.uniqueId(), 0, 1_000_000_000L));
      double seconds = (System.nanoTime() - t0) / 1e9;
      assertTrue(seconds >= 1 && seconds < 3, "gave up after " + seconds + " s");
      assertEquals(aborts + 1, counters()[3], "the half-made communicator is aborted");
    } finally {
      polls.invokeExact(0, 0);
    }
  }

  @Test
  void withoutInitConfigTheBoundedInitFallsBackToBlocking() throws Throwable {
    Path old = compile("libnccl-213.so", "-DNO_INIT_CONFIG");
    Nccl nccl = new Nccl(old.toString(), NVLS_OFF);
    try (Nccl.Communicator comm = nccl.init(1, nccl.uniqueId(), 0, 1_000_000_000L)) {
      assertFalse(comm.nonBlocking());
    }
    Nccl forced = new Nccl(stub.toString(), Map.of("NCCL_NVLS_ENABLE", "0", "KILN_NCCL_BLOCKING_INIT", "1"));
    try (Nccl.Communicator comm = forced.init(1, forced.uniqueId(), 0, 1_000_000_000L)) {
      assertFalse(comm.nonBlocking(), "KILN_NCCL_BLOCKING_INIT=1");
    }
  }

  @Test
  void optionalAndMissingSymbols() throws Throwable {
    Path noLastError = compile("libnccl-old.so", "-DNO_LAST_ERROR", "-DNO_ABORT");
    Nccl old = new Nccl(noLastError.toString(), NVLS_OFF);
    try (Arena arena = Arena.ofConfined()) {
      SymbolLookup lookup = SymbolLookup.libraryLookup(noLastError, arena);
      MethodHandle fail = Linker.nativeLinker().downcallHandle(lookup.findOrThrow("stub_fail_next"),
          FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS));
      fail.invokeExact(4, arena.allocateFrom("not shown"));
    }
    assertMessage(CudaException.class, "ncclGetUniqueId failed: invalid argument (run with NCCL_DEBUG=WARN for details)", old::uniqueId);
    assertFalse(old.init(1, new byte[128], 0, Long.MAX_VALUE).abort(), "without ncclCommAbort, abort() reports it did nothing");

    Path noAllGather = compile("libnccl-broken.so", "-DNO_ALL_GATHER");
    assertMessage(IllegalStateException.class, "no symbol ncclAllGather", () -> new Nccl(noAllGather.toString(), NVLS_OFF));
  }

  @Test
  void jcudaObjectsToAddresses() throws ReflectiveOperationException {
    assertEquals(0, Nccl.address(new CUdeviceptr()));
    assertEquals(72, Nccl.address(new CUdeviceptr().withByteOffset(64).withByteOffset(8)));
    assertEquals(0, Nccl.address(new CUstream()));
    assertEquals(0x7f00_0000_1000L, Nccl.address(stream(0x7f00_0000_1000L)));
  }

  // ---- the default library (none on the build machines) ----

  @Test
  void candidatesPutTheConfiguredPathFirst() {
    String previous = System.getProperty("kiln.nccl");
    try {
      System.setProperty("kiln.nccl", "/opt/nccl/lib/libnccl.so.2");
      assertEquals(List.of("/opt/nccl/lib/libnccl.so.2", "libnccl.so.2", "libnccl.so"), Nccl.candidates());
    } finally {
      if (previous == null) System.clearProperty("kiln.nccl");
      else System.setProperty("kiln.nccl", previous);
    }
  }

  @Test
  void withoutLibncclTheReasonListsWhatWasTried() {
    Assumptions.assumeFalse(Nccl.available(), "a libnccl is installed here");
    String reason = Nccl.unavailableReason();
    assertTrue(reason.startsWith("tried "), reason);
    assertTrue(reason.contains("libnccl.so.2 ("), reason);
    assertTrue(reason.contains("; libnccl.so ("), reason);
    assertTrue(reason.endsWith(" (set -Dkiln.nccl or KILN_NCCL to the library's path)"), reason);
    assertMessage(CudaException.class, "NCCL is not available: " + reason, Nccl::get);
  }
}
