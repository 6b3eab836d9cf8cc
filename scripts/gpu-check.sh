#!/usr/bin/env bash
# The GPU checks of issue 4, run on the CUDA machine from the project root after ../shared/gpu/pack.sh:
# fixtures, GPU tests, verify on a GPT-2 124M state at T=1024 and T=64, then the bench with a profile.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
export NCCL_NVLS_ENABLE=0   # NVLink multicast stays off on these machines
[ -n "${KILN_NCCL:-}" ] || KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null) || true
export KILN_NCCL
bash reference/fixtures.sh
LOG=${OUT:-/tmp}/gpu-tests.log
bash .gpu/run.sh test --include-tag gpu --details=tree > "$LOG" 2>&1
grep -E 'verify: (cuda|OK|FAIL)|cuda vs cpu|^[a-z_0-9]+ +[0-9.e+-]+ +[0-9.e+-]+$|tests (successful|failed|skipped|aborted)|✘' "$LOG" | tail -${TEST_TAIL:-80}
for T in ${VERIFY_SEQS:-1024 64}; do
  out=/tmp/kiln-d12-T$T
  [ -f $out/state.bin ] || python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 \
      --batch 4 --seq $T --seed 3 --out $out --device cuda --dtype float64 > /dev/null
  bash .gpu/run.sh kiln.cli.Main verify --device cuda --model $out/model.bin --state $out/state.bin --losses $out/losses.txt 2>&1 | grep -v WARNING
done
bash .gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps ${BENCH_STEPS:-30} --profile 2>&1 \
  | grep -vE 'WARNING|^step ([2-9]|[1-2][0-9]):'
