#!/usr/bin/env bash
# Continue the pretraining runs below in turn, one process at a time on one thread, until
# stopped: `kill -TERM <pid of this script>` ends the step under way, reports, saves
# state.pt and exits (every run also saves at each report, every 5 training minutes).
# Usage, from anywhere, with `wlearn-mitra` on PATH:
#   nohup spec/pretraining/continue.sh [RUN MINUTES]... > spec/pretraining/continue.log 2>&1 &
# To free the cores for a while, stop it (TERM) and start it again later: a step's time is
# wall-clock, so a process paused with SIGSTOP counts the pause as training minutes.
# Default schedule: regressor-bins 50, classifier-v2prior 50, repeated.
set -u
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ $# -eq 0 ]; then set -- regressor-bins 50 classifier-v2prior 50; fi
schedule=("$@")
child=
stop() {
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi
    exit 0
}
trap stop TERM INT
while true; do
    for ((i = 0; i < ${#schedule[@]}; i += 2)); do
        echo "$(date -u +%FT%TZ) ${schedule[i]} +${schedule[i+1]} min"
        wlearn-mitra pretrain --run "${schedule[i]}" --minutes "${schedule[i+1]}" &
        child=$!
        wait "$child"
        child=
    done
done
