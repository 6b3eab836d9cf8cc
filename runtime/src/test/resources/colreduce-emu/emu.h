// Just enough of CUDA to run a generated colreduce kernel on the host, one thread at a time: shared memory is
// static, and each kernel's one __syncthreads() ends phase 1 (every thread of the block up to the barrier); phase 2
// runs each thread again from the top (rewriting the same partial) and on past it.
#include <cmath>
#include <cstring>
#include <cstdio>
#include <vector>
#include <random>
#include <cstdlib>
#include <algorithm>
#include "cuda-host.h"
static U3 threadIdx, blockIdx, gridDim, blockDim;
static int PHASE;
#define __syncthreads() if (PHASE == 1) return
static long long plan_splits, plan_chunk;
// {items, extent, splits, chunk} from CudaSchedule.ColumnTile.plan, as -DPLANS="{{...}, ...}"
static const long long PLAN_TABLE[][4] = PLANS;
static void plan(long long items, long long extent) {
  for (const auto& p : PLAN_TABLE) if (p[0] == items && p[1] == extent) { plan_splits = p[2]; plan_chunk = p[3]; return; }
  fprintf(stderr, "no plan for %lld x %lld\n", items, extent);
  exit(2);
}
template <class A, class K1, class K2>
static void launch(K1 k1, K2 k2, float* F, A a, long long items, long long extent, float* W, unsigned outs = 1) {
  plan(items, extent);
  gridDim = {(unsigned) ((items + 32 * LANES - 1) / (32 * LANES)), (unsigned) plan_splits, 1};
  for (unsigned bx = 0; bx < gridDim.x; bx++) for (unsigned by = 0; by < gridDim.y; by++) {
    blockIdx = {bx, by, 0};
    for (PHASE = 1; PHASE <= 2; PHASE++)
      for (unsigned ty = 0; ty < TILE_ROWS; ty++) for (unsigned tx = 0; tx < 32; tx++) { threadIdx = {tx, ty, 0}; k1(F, nullptr, a, W, plan_chunk); }
  }
  // the sum: blocks of 32 outputs x 8 runs of splits, blockIdx.y the sibling reduction
  gridDim = {(unsigned) ((items + 31) / 32), outs, 1};
  for (unsigned bx = 0; bx < gridDim.x; bx++) for (unsigned by = 0; by < outs; by++) {
    blockIdx = {bx, by, 0};
    for (PHASE = 1; PHASE <= 2; PHASE++)
      for (unsigned ty = 0; ty < 8; ty++) for (unsigned tx = 0; tx < 32; tx++) { threadIdx = {tx, ty, 0}; k2(F, nullptr, a, W, (int) plan_splits); }
  }
}
