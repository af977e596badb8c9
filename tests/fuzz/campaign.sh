#!/usr/bin/env bash
# A long fuzz campaign: libFuzzer (atheris) runs of fuzz.py until RUNS executions are done.
# Findings (an exception other than a wlearn error, a broken invariant, an allocation beyond
# the bound, more than 1 CPU second for one input) are kept in WORK/findings and do not stop
# the run (fuzz.py --findings). An input that does not return within 10 s of wall-clock time
# ends one libFuzzer run with a timeout-* file in WORK/artifacts; the next run starts from
# the corpus grown so far.
#
#   nohup nice -n 15 bash tests/fuzz/campaign.sh bundle 1000000 /tmp/fuzz-bundle > log 2>&1 &
#
# Extra arguments go to fuzz.py before the libFuzzer ones (e.g. --engine-every 8).
set -euo pipefail
target=$1 runs=$2 work=$3
shift 3
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$work/corpus" "$work/artifacts" "$work/findings"
done_runs=0
while [ "$done_runs" -lt "$runs" ]; do
    left=$((runs - done_runs))
    python "$here/fuzz.py" "$target" --findings "$work/findings" --as-headroom-mb 1024 "$@" \
        "$work/corpus" "$here/corpus/$target" -runs="$left" -timeout=10 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" > "$work/last.log" 2>&1 || true
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/last.log" | tail -1)
    if [ -z "$n" ] || [ "$n" -eq 0 ]; then
        echo "libFuzzer stopped without running (see $work/last.log)" >&2
        tail -20 "$work/last.log" >&2
        exit 1
    fi
    done_runs=$((done_runs + n))
    grep -E "^==|ERROR|timeout" "$work/last.log" | head -5 || true
    grep -E "DONE|#[0-9]+ +(pulse|NEW)" "$work/last.log" | tail -1 || true
    echo "executions so far: $done_runs of $runs"
done
echo "finished: $done_runs executions; findings: $(ls "$work/findings" | grep -c '\.txt$' || true);" \
    "hangs/crashes: $(ls "$work/artifacts" | wc -l)"
