#!/usr/bin/env bash
# A real out-of-memory kill, end to end (not part of CI: it needs ~4 GB free and about a minute
# of 2 cores). Ray's memory monitor is told that the node is full ~3 GB above what is used now
# (RAY_memory_usage_threshold), and two published-width trials at batch 1024 (~13 MB of
# activations per sequence) cross that line: Ray kills their workers. Expected: each trial is
# retried like a lost worker, then ends FAILED with "out of memory (peak ~N GB; try ...)"; the
# driver prints its summary and exits 1 ("no best model"), never a traceback of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/prixfixe-oom-XXXX)
py=.venv/bin/python
"$py" -c "from prixfixe_blocks.data.simulate.simulator import simulate
simulate('$work/data', 2000, seed=0, test_rows=50)" >/dev/null
threshold=$(awk '/MemTotal/ {t=$2} /MemAvailable/ {a=$2} END {printf "%.3f", (t - a + 3e6) / t}' \
    /proc/meminfo)
echo "==> memory threshold $threshold of this node's memory (used now + ~3 GB)"
set +e
RAY_memory_usage_threshold=$threshold "$py" -m search.cli run --data "$work/data" --name oom \
    --storage "$work/runs" --trials 2 --epochs 1 --scheduler none --width published \
    --fix strategy.batch_size=1024 --batches-per-epoch 2 --cpus-per-trial 1 --max-concurrent 1 \
    > "$work/run.log" 2>&1
rc=$?
set -e
grep -E "FAILED after|search 'oom' done|no best model" "$work/run.log" || true
failed=$(grep -c "FAILED after .* retries: out of memory (peak ~" "$work/run.log" || true)
if [ "$rc" = 1 ] && [ "$failed" = 2 ] && ! grep -q "^Traceback" "$work/run.log"; then
  echo "oom_check: passed (both trials FAILED for memory, exit 1, no driver traceback; log $work/run.log)"
else
  echo "oom_check: FAILED (exit $rc, $failed trials failed for memory; log $work/run.log)" >&2
  exit 1
fi
