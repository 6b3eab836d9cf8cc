// The bucket plan of the data-parallel backward for GPT-2 (tied embedding) and Llama (untied, GQA):
// the buckets cover the gradient block once, close in the backward's order, in reverse layer order,
// each closed by the launch after which nothing touches its ranges; the size knob; launch names.
package kiln.runtime.multi;

import static kiln.runtime.multi.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.Exprs;
import kiln.dsl.Tensor;
import kiln.models.Gpt2;
import kiln.models.Llama;
import kiln.models.Program;
import kiln.runtime.Arena;
import kiln.runtime.Models;
import kiln.runtime.Session;
import org.junit.jupiter.api.Test;

class GradientBucketsTest {
  static final Models.Shape GPT2 = Models.of(new Gpt2.Config(32, 200, 256, 4, 2, 32));
  static final Models.Shape LLAMA = Models.of(new Llama.Config(16, 100, 128, 3, 4, 2, 16, 24, 10000f, 1e-5f));

  /** The program as CUDA would run it: arena over the CUDA launch grouping, backward's launches as CUDA's lowering makes them. */
  record Planned(Program program, Arena arena, Tensor grads, List<List<Compute>> launches) {}

  static Planned cuda(Models.Shape shape) {
    Program p = shape.program(Session.Device.CUDA);
    Map<kiln.dsl.Dim, Integer> sizes = shape.bind(2, 8);
    Arena arena = new Arena(p.graph(), sizes, java.util.Set.of(p.loss()), Session.cudaLaunches(p), false, Map.of());
    List<List<Compute>> launches = kiln.codegen.CudaLowering.lower(Session.sections(p).get("backward"), kiln.codegen.CudaSchedule.DEFAULT,
        m -> null, sizes::get, 0, null, null).launches().stream().map(kiln.codegen.Launch::computes).toList();
    return new Planned(p, arena, p.grads().values().iterator().next().root(), launches);
  }

  /** [start, end) of t in the gradient block, or null when t is not a view of it. */
  static long[] range(Planned x, Tensor t) {
    if (t.root() != x.grads) return null;
    long start = x.arena.offsetLong(t) - x.arena.offsetLong(x.grads);
    return new long[] {start, start + x.arena.elements(t)};
  }

  static boolean touches(Planned x, List<Compute> launch, GradientBuckets.Bucket b) {
    for (Compute c : launch) {
      List<Tensor> ts = new ArrayList<>();
      ts.add(c.out());
      for (var l : Exprs.loads(c.body())) ts.add(l.tensor());
      for (Tensor t : ts) {
        long[] r = range(x, t);
        if (r == null) continue;
        for (GradientBuckets.Range q : b.ranges()) if (r[0] < q.end() && q.start() < r[1]) return true;
      }
    }
    return false;
  }

  /** What every plan must be: a partition of the block, strictly in launch order, each bucket closed exactly where its last toucher runs. */
  static void checkPlan(Planned x, GradientBuckets plan, long bucketFloats) {
    long block = x.arena.elements(x.grads);
    boolean[] covered = new boolean[(int) block];
    int previous = Integer.MIN_VALUE;
    for (int k = 0; k < plan.buckets().size(); k++) {
      GradientBuckets.Bucket b = plan.buckets().get(k);
      assertTrue(b.closedBy() > previous, "bucket " + k + " closes after the one before it");
      previous = b.closedBy();
      if (k + 1 < plan.buckets().size()) assertTrue(b.floats() >= bucketFloats, "bucket " + k + " holds " + b.floats() + " floats");
      long end = -1;
      for (GradientBuckets.Range r : b.ranges()) {
        assertTrue(r.start() > end, "ranges sorted, neighbours merged");
        end = r.end();
        for (long i = r.start(); i < r.end(); i++) {
          assertTrue(!covered[(int) i], "element " + i + " in two buckets");
          covered[(int) i] = true;
        }
      }
      // nothing after the closing launch reads or writes the bucket; the closing launch itself does
      for (int j = Math.max(0, b.closedBy() + 1); j < x.launches.size(); j++) {
        assertTrue(!touches(x, x.launches.get(j), b), "launch " + j + " touches bucket " + k + " closed by " + b.closedBy());
      }
      if (b.closedBy() >= 0) assertTrue(touches(x, x.launches.get(b.closedBy()), b), "bucket " + k + "'s closing launch touches it");
    }
    for (int i = 0; i < block; i++) assertTrue(covered[i], "element " + i + " in no bucket");
  }

  /** The bucket holding element i. */
  static int bucketOf(GradientBuckets plan, long i) {
    for (int k = 0; k < plan.buckets().size(); k++) {
      for (GradientBuckets.Range r : plan.buckets().get(k).ranges()) if (i >= r.start() && i < r.end()) return k;
    }
    throw new AssertionError("element " + i + " in no bucket");
  }

  /** Per bucket, the layers whose gradients (slices named name[l]) it holds, checking they run from the last layer down. */
  static void checkReverseLayerOrder(Planned x, GradientBuckets plan, int layers) {
    int lastLayer = Integer.MAX_VALUE;
    for (Compute c : x.launches.stream().flatMap(List::stream).toList()) {
      long[] r = range(x, c.out());
      if (r == null || !c.out().name().matches(".*\\[\\d+\\]$")) continue;
      int layer = Integer.parseInt(c.out().name().replaceAll(".*\\[(\\d+)\\]$", "$1"));
      assertTrue(layer <= lastLayer || layer == lastLayer, "layer gradients written in reverse order");
      lastLayer = Math.min(lastLayer, layer);
    }
    // the bucket of each layer's slice of a per-layer gradient never comes before a later layer's
    Tensor perLayer = x.program.grads().values().stream().filter(t -> !t.dims().isEmpty() && t.dims().size() >= 2
        && x.arena.size(t.dims().getFirst()) == layers).findFirst().orElseThrow();
    int before = -1;
    for (int l = layers - 1; l >= 0; l--) {
      long[] r = range(x, perLayer.slice(l));
      int k = bucketOf(plan, r[0]);
      assertTrue(k >= before, perLayer.name() + "[" + l + "] in bucket " + k + ", after layer " + (l + 1) + "'s bucket " + before);
      before = k;
    }
  }

  @Test
  void gpt2BucketsCloseInTheBackwardsOrderAndTheTiedEmbeddingLast() {
    Planned x = cuda(GPT2);
    long layerFloats = (GPT2.paramCount() - 200 * 32 - 32 * 32) / 4;   // about one layer per bucket
    GradientBuckets plan = GradientBuckets.plan(x.launches, x.arena, x.grads, x.arena.elements(x.grads), layerFloats);
    System.out.println("gpt2: " + plan.describe());
    for (GradientBuckets.Bucket b : plan.buckets()) {
      System.out.println("  closed by " + b.closedBy() + " " + (b.closedBy() >= 0 ? names(x.launches.get(b.closedBy())) : "-") + ": "
          + b.floats() + " floats in " + b.ranges().size() + " ranges");
    }
    checkPlan(x, plan, layerFloats);
    checkReverseLayerOrder(x, plan, 4);
    // the tied wte: written by the classifier's weight gradient (early) and by the embedding's backward (the last launch)
    Tensor wte = x.program.grads().values().stream().filter(t -> t.name().contains("wte")).findFirst().orElseThrow();
    int wteBucket = bucketOf(plan, range(x, wte)[0]);
    assertEquals(x.launches.size() - 1, plan.buckets().get(wteBucket).closedBy(), "wte's bucket waits for the embedding backward");
    int early = 0;
    for (int l = 0; l < x.launches.size() / 2; l++) if (touches(x, x.launches.get(l), plan.buckets().get(wteBucket))) early++;
    assertTrue(early > 0, "the classifier writes wte's gradient in the first half of the backward");
    // overlap: more than one bucket, the first closed in the first half of the backward, then one per layer or so
    assertTrue(plan.buckets().size() >= 4, plan.describe());
    assertTrue(plan.buckets().getFirst().closedBy() < x.launches.size() / 2, "first bucket closed by launch " + plan.buckets().getFirst().closedBy());
    // the final layer norm's gradients are final early: they are in the first bucket
    Tensor lnf = x.program.grads().values().stream().filter(t -> t.name().contains("lnf")).findFirst().orElseThrow();
    assertEquals(0, bucketOf(plan, range(x, lnf)[0]));
  }

  @Test
  void llamaBucketsCloseInTheBackwardsOrder() {
    Planned x = cuda(LLAMA);
    long floats = LLAMA.paramCount() / 6;
    GradientBuckets plan = GradientBuckets.plan(x.launches, x.arena, x.grads, x.arena.elements(x.grads), floats);
    System.out.println("llama: " + plan.describe());
    checkPlan(x, plan, floats);
    checkReverseLayerOrder(x, plan, 3);
    assertTrue(plan.buckets().size() >= 3, plan.describe());
    // untied: the embedding's gradient is final only at the last launch (its scatter), the lm_head's early
    Tensor emb = x.program.grads().values().iterator().next();   // llm.c order: the embedding first
    assertEquals(x.launches.size() - 1, plan.buckets().get(bucketOf(plan, range(x, emb)[0])).closedBy());
  }

  @Test
  void oneBigBucketIsTheWholeBlockAfterTheLastLaunch() {
    Planned x = cuda(GPT2);
    long block = x.arena.elements(x.grads);
    GradientBuckets plan = GradientBuckets.plan(x.launches, x.arena, x.grads, block + 64, 1L << 40);
    assertEquals(1, plan.buckets().size());
    assertEquals(List.of(new GradientBuckets.Range(0, block + 64)), plan.buckets().getFirst().ranges(), "padding included");
    assertEquals(x.launches.size() - 1, plan.buckets().getFirst().closedBy());
    assertEquals(1, plan.cuts().length);
  }

  @Test
  void tinyBucketsStillCloseOncePerLaunch() {
    Planned x = cuda(GPT2);
    GradientBuckets plan = GradientBuckets.plan(x.launches, x.arena, x.grads, x.arena.elements(x.grads), 1);
    checkPlan(x, plan, 1);
    assertEquals(plan.buckets().size(), plan.cuts().length, "one bucket per closing launch");
  }

  @Test
  void theSizeKnob() {
    assertEquals(6_250_000, GradientBuckets.bucketFloats(null));
    assertEquals(6_250_000, GradientBuckets.bucketFloats(" "));
    assertEquals(250_000, GradientBuckets.bucketFloats("1"));
    assertEquals(0, GradientBuckets.bucketFloats("0"));
    assertMessage(IllegalArgumentException.class, "KILN_BUCKET_MB=-2: expected a size in MB (e.g. 25; 0 turns the buckets off)",
        () -> GradientBuckets.bucketFloats("-2"));
    assertMessage(IllegalArgumentException.class, "KILN_BUCKET_MB=big: expected a size in MB (e.g. 25; 0 turns the buckets off)",
        () -> GradientBuckets.bucketFloats("big"));
  }

  /**
   * What DataParallel plans the buckets over: the backward's launches as CUDA's lowering makes them, each carrying the
   * computes it runs (CudaLowering: a layernorm's weight and bias gradient sums in one launch, its backward row kernel's): every compute of the section
   * once, each launch named by its computes, and a plan over them that covers the gradient block; GPT-2 and Llama, fp32
   * and bf16. (Matching the launches' names against Epilogue's groups instead broke on the merged launch: every
   * DataParallelGpuTest failed, "launch 5 (dout/grads.lnfw+dout/grads.lnfb) is not group dout/grads.lnfw".)
   */
  @Test
  void cudaLaunchesCarryTheComputesTheyRun() {
    for (Models.Shape shape : List.of(GPT2, LLAMA)) {
      Program fp32 = shape.program(Session.Device.CUDA);
      for (Program p : List.of(fp32, kiln.codegen.Bf16Storage.apply(fp32, true, kiln.codegen.Bf16Storage.Residual.FP32).program())) {
        Map<kiln.dsl.Dim, Integer> sizes = shape.bind(2, 8);
        List<Compute> backward = Session.sections(p).get("backward");
        var schedule = kiln.codegen.CudaSchedule.DEFAULT.withPrecision(p == fp32 ? kiln.codegen.CudaSchedule.Precision.FP32 : kiln.codegen.CudaSchedule.Precision.BF16);
        List<kiln.codegen.Launch> launches = kiln.codegen.CudaLowering.lower(backward, schedule, m -> null, sizes::get, 0, null, null).launches();
        // every compute of the section once (a row group may run its computes in another order than the section lists them)
        assertEquals(backward.stream().map(Compute::name).sorted().toList(),
            launches.stream().flatMap(l -> l.computes().stream()).map(Compute::name).sorted().toList());
        for (kiln.codegen.Launch l : launches) assertEquals(names(l.computes()), l.name());
        if (shape == GPT2) {
          // (the sums in the norm backward's row kernel where its rows are resident: RowFusion's COLSUM stages; siblings apart otherwise)
          assertTrue(launches.stream().anyMatch(l -> l.computes().size() >= 2 && l.name().matches("(\\S*\\+)?\\S*grads\\.ln1w\\S*\\+\\S*grads\\.ln1b\\S*")),
              "a launch of a layernorm's weight and bias sums among " + launches.stream().map(kiln.codegen.Launch::name).toList());
        }
        if (p == fp32) {
          Planned x = cuda(shape);
          List<List<Compute>> computes = launches.stream().map(kiln.codegen.Launch::computes).toList();
          long block = x.arena().elements(x.grads());
          GradientBuckets b = GradientBuckets.plan(computes, x.arena(), x.grads(), block, block / 4);
          assertEquals(launches.size(), b.launches(), "the plan counts the launches the executor cuts");
          assertEquals(block, b.buckets().stream().mapToLong(GradientBuckets.Bucket::floats).sum(), "the buckets cover the block");
        }
      }
    }
  }

  static String names(List<Compute> launch) { return String.join("+", launch.stream().map(Compute::name).toList()); }
}
