#!/usr/bin/env bash
# jobman benchmarks: three comparisons in one run, printed as a table of figures and
# ratios (jobman / baseline). Prints figures only: it never passes or fails on time.
#
#   bench/bench.sh            full run (50 enqueues, 10 runs each side, 100-job batch)
#   BENCH_N_ENQUEUE=10 BENCH_N_RUN=3 BENCH_N_JOBS=10 bench/bench.sh     quick run
#   bench/bench.sh --purge    remove the private podman store (and its image), then exit
#
# Other knobs: see bench/common.sh and bench/README.md.
set -uo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ ${1:-} == --purge ]]; then
  bench_purge_store
  exit 0
fi
[[ $# -eq 0 ]] || bench_die "usage: bench/bench.sh [--purge]"

N_ENQUEUE=${BENCH_N_ENQUEUE:-50}
N_RUN=${BENCH_N_RUN:-10}
N_JOBS=${BENCH_N_JOBS:-100}
BATCH_ROUNDS=${BENCH_BATCH_ROUNDS:-1}
MAX_RUNNING=${BENCH_MAX_RUNNING:-2}
IMAGE_NAME=${BENCH_IMAGE##*/}
IMAGE_NAME=${IMAGE_NAME%%:*} # "bench": the catalogue name jobman knows it by

bench_init
# The source tree JOBMAN_BUILD_DIR was configured from, as the run starts (the binaries are
# whatever that build dir last built).
rev=$BENCH_SOURCE_REV
S=$BENCH_TMP/samples
mkdir -p "$S"
ROWS=() # "metric|jobman|baseline|ratio"
NOTES=()
row() { ROWS+=("$1|$2|$3|$4"); }

bench_start_daemon "$MAX_RUNNING"

# ---------------------------------------------------------------- warm-up (not measured)
bench_log "warm-up: catalogue, one job, one raw run"
bench_jobman images >/dev/null || bench_die "jobman images failed: $(tail -3 "$BENCH_TMP/jobmand.log")"
bench_jobman submit -i "$IMAGE_NAME" --wait -- true >/dev/null ||
  bench_die "a trivial job failed; daemon log: $(tail -5 "$BENCH_TMP/jobmand.log")"
bench_raw_run >/dev/null || bench_die "raw podman run failed"
# A second baseline with jobman's own sandbox flags (--network none, --init, --read-only,
# --cap-drop ALL, ...): the exact argv jobman would run, from `submit --dry-run`, minus
# --name/--label, plus --rm. Against it, the ratio is jobman's orchestration cost alone.
bench_flags_argv "$IMAGE_NAME" true
bench_flags_run() { "${FLAGS_ARGV[@]}"; }
bench_flags_run >/dev/null 2>&1 || bench_die "podman run with jobman's flags failed: ${FLAGS_ARGV[*]}"
bench_reset_daemon

# ---------------------------------------------------------------- (a) enqueue latency
# Both queues are saturated first by MAX_RUNNING long-running blockers, so every measured
# submit only enqueues (nothing starts while we measure). Blockers are cancelled after.
bench_log "(a) enqueue: tsp -n true x $N_ENQUEUE"
for ((i = 0; i < MAX_RUNNING; i++)); do bench_tsp -n sleep 600 >/dev/null; done
bench_tsp -n true >/dev/null # warm-up
for ((i = 0; i < N_ENQUEUE; i++)); do bench_time_into "$S/tsp_enqueue" bench_tsp -n true; done
bench_stop_tsp

bench_log "(a) enqueue: jobman submit x $N_ENQUEUE (behind $MAX_RUNNING running blockers)"
for ((i = 0; i < MAX_RUNNING; i++)); do bench_jobman submit -i "$IMAGE_NAME" -- 'sleep 600' >/dev/null; done
bench_wait_running "$MAX_RUNNING"
bench_jobman submit -i "$IMAGE_NAME" -- true >/dev/null # warm-up
failed=0
for ((i = 0; i < N_ENQUEUE; i++)); do
  bench_time_into "$S/jobman_enqueue" bench_jobman submit -i "$IMAGE_NAME" -- true || ((failed++))
done
((failed)) && NOTES+=("(a) $failed jobman submits failed")
bench_reset_daemon

# Same, but with free slots: the daemon starts containers while the submits arrive, as it
# would in real use. Informational; tsp's jobs (`true`) cost it nothing to run.
bench_log "(a') enqueue with free slots: tsp and jobman x $N_ENQUEUE"
bench_tsp -n true >/dev/null
for ((i = 0; i < N_ENQUEUE; i++)); do bench_time_into "$S/tsp_enqueue_free" bench_tsp -n true; done
bench_stop_tsp
failed=0
for ((i = 0; i < N_ENQUEUE; i++)); do
  bench_time_into "$S/jobman_enqueue_free" bench_jobman submit -i "$IMAGE_NAME" -- true || ((failed++))
done
((failed)) && NOTES+=("(a') $failed jobman submits failed")
bench_wait_idle 600
bench_reset_daemon

# ---------------------------------------------------------------- (b) one job, end to end
# Interleaved, rotating which side goes first, so drift hits all three alike.
bench_log "(b) submit --wait vs raw podman run --rm (plain, and with jobman's flags), $N_RUN each, interleaved"
fail_j=0 fail_r=0 fail_f=0
run_j() { bench_time_into "$S/jobman_run" bench_jobman submit -i "$IMAGE_NAME" --wait -- true || ((fail_j++)); }
run_r() { bench_time_into "$S/raw_run" bench_raw_run || ((fail_r++)); }
run_f() { bench_time_into "$S/flags_run" bench_flags_run || ((fail_f++)); }
for ((i = 0; i < N_RUN; i++)); do
  case $((i % 3)) in
  0) run_j; run_r; run_f ;;
  1) run_r; run_f; run_j ;;
  2) run_f; run_j; run_r ;;
  esac
done
((fail_j + fail_r + fail_f)) && NOTES+=("(b) failures: jobman $fail_j, raw $fail_r, raw with jobman's flags $fail_f")
# Where the time goes inside jobman, from its own event log (ms): queued -> running is
# scheduling + spawning the engine client; running -> terminal is `podman run` + inspect.
breakdown=$(bench_sql "
  SELECT j.id,
         (SELECT at FROM job_events WHERE job_id = j.id AND to_state = 'RUNNING') - j.submitted_at,
         j.ended_at - (SELECT at FROM job_events WHERE job_id = j.id AND to_state = 'RUNNING')
  FROM jobs j WHERE j.deleted_at IS NULL AND j.state = 'SUCCEEDED'" |
  python3 -c '
import statistics, sys
rows = [l.split("\t") for l in sys.stdin if l.strip()]
if rows:
    a = statistics.median(int(r[1]) for r in rows); b = statistics.median(int(r[2]) for r in rows)
    print("%.0f %.0f" % (a, b))')
bench_reset_daemon

# ---------------------------------------------------------------- (c) batch throughput
# One round = the three batches back to back; with BENCH_BATCH_ROUNDS > 1 the order rotates
# each round and the report takes each side's median.
batch_jobman() {
  local ids=() out id failed=0 t0 t_submitted t_done
  bench_log "(c) round $1: $N_JOBS trivial jobs through jobman at max_running=$MAX_RUNNING"
  t0=$(bench_now_us)
  for ((i = 0; i < N_JOBS; i++)); do
    out=$(bench_jobman submit -i "$IMAGE_NAME" -- true) || {
      NOTES+=("(c) round $1: submit $i failed")
      continue
    }
    id=${out#Submitted job }
    ids+=("${id%% *}")
  done
  t_submitted=$(bench_now_us)
  # In id order: when the last wait returns, every job is terminal.
  for id in "${ids[@]}"; do bench_jobman wait -j "$id" >/dev/null 2>&1 || ((failed++)); done
  t_done=$(bench_now_us)
  bench_wait_idle 600
  echo $((t_done - t0)) >>"$S/batch_jobman"
  echo $((t_submitted - t0)) >>"$S/batch_jobman_submitted"
  echo $(($(bench_now_us) - t0)) >>"$S/batch_jobman_idle"
  ((failed)) && NOTES+=("(c) round $1: $failed of ${#ids[@]} jobs did not succeed")
  bench_reset_daemon
}
batch_raw() {
  bench_log "(c) round $1: seq $N_JOBS | xargs -P$MAX_RUNNING podman run --rm"
  # Arrays do not cross into xargs' children: pass the words explicitly.
  # shellcheck disable=SC2016 # the bash -c script expands its own positional args
  bench_time_into "$S/batch_raw" bash -c 'seq "$1" | xargs -P"$2" -I{} "${@:3}"' _ "$N_JOBS" "$MAX_RUNNING" \
    "$BENCH_PODMAN" "${BENCH_ENGINE_GLOBAL[@]}" run --rm "${BENCH_RUN_ARGS[@]}" "$BENCH_IMAGE" true ||
    NOTES+=("(c) round $1: some raw podman runs failed")
}
batch_flags() {
  bench_log "(c) round $1: seq $N_JOBS | xargs -P$MAX_RUNNING podman run --rm with jobman's flags"
  # shellcheck disable=SC2016
  bench_time_into "$S/batch_flags" bash -c 'seq "$1" | xargs -P"$2" -I{} "${@:3}"' _ "$N_JOBS" "$MAX_RUNNING" "${FLAGS_ARGV[@]}" ||
    NOTES+=("(c) round $1: some raw podman runs with jobman's flags failed")
}
for ((round = 1; round <= BATCH_ROUNDS; round++)); do
  case $(((round - 1) % 3)) in
  0) batch_jobman $round; batch_raw $round; batch_flags $round ;;
  1) batch_flags $round; batch_raw $round; batch_jobman $round ;;
  2) batch_raw $round; batch_jobman $round; batch_flags $round ;;
  esac
done

# ---------------------------------------------------------------- report
st() { bench_stats "$S/$1"; }
je=$(st jobman_enqueue) te=$(st tsp_enqueue)
jf=$(st jobman_enqueue_free) tf=$(st tsp_enqueue_free)
jr=$(st jobman_run) rr=$(st raw_run) fr=$(st flags_run)
med() { bench_field "$1" 2; }
p90() { bench_field "$1" 4; }
row "(a) enqueue, median ms (n=$N_ENQUEUE)" "$(med "$je")" "$(med "$te")" "$(bench_ratio "$(med "$je")" "$(med "$te")")"
row "    enqueue, p90 ms" "$(p90 "$je")" "$(p90 "$te")" "$(bench_ratio "$(p90 "$je")" "$(p90 "$te")")"
row "(a') enqueue with free slots, median ms" "$(med "$jf")" "$(med "$tf")" "$(bench_ratio "$(med "$jf")" "$(med "$tf")")"
row "(b) one trivial job, median ms (n=$N_RUN)" "$(med "$jr")" "$(med "$rr")" "$(bench_ratio "$(med "$jr")" "$(med "$rr")")"
row "    one trivial job, p90 ms" "$(p90 "$jr")" "$(p90 "$rr")" "$(bench_ratio "$(p90 "$jr")" "$(p90 "$rr")")"
row "(b') vs raw with jobman's flags, median ms" "$(med "$jr")" "$(med "$fr")" "$(bench_ratio "$(med "$jr")" "$(med "$fr")")"
sec() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
jb=$(st batch_jobman) rb=$(st batch_raw) fb=$(st batch_flags)
jc=$(med "$jb") rc=$(med "$rb") fc=$(med "$fb")
rounds=""
((BATCH_ROUNDS > 1)) && rounds=", median of $BATCH_ROUNDS rounds"
row "(c) $N_JOBS jobs, P=$MAX_RUNNING, total s$rounds" "$(sec "$jc")" "$(sec "$rc")" "$(bench_ratio "$jc" "$rc")"
row "(c') vs xargs with jobman's flags, total s" "$(sec "$jc")" "$(sec "$fc")" "$(bench_ratio "$jc" "$fc")"

echo
echo "jobman benchmarks — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source: $rev; build: $JOBMAN_BUILD_DIR (${BENCH_BUILD_TYPE:-?}); engine: $("$BENCH_PODMAN" --version); store: $BENCH_STORE"
echo "engine args: ${BENCH_ENGINE_GLOBAL[*]} run ${BENCH_RUN_ARGS[*]}"
echo "baselines: tsp -n true (TS_SLOTS=$MAX_RUNNING); $BENCH_PODMAN ... run --rm ${BENCH_RUN_ARGS[*]} $BENCH_IMAGE true; xargs -P$MAX_RUNNING of the same"
echo "with jobman's flags: ${FLAGS_ARGV[*]}"
echo
{
  echo "metric|jobman|baseline|ratio"
  printf '%s\n' "${ROWS[@]}"
} | column -t -s '|'
echo
echo "details:"
echo "  (a)  jobman submit ms: n/median/p10/p90/min/max = $je"
echo "       tsp -n true    ms: n/median/p10/p90/min/max = $te"
echo "  (a') jobman $jf | tsp $tf"
echo "  (b)  jobman submit --wait ms: $jr"
echo "       raw podman run --rm  ms: $rr
       raw, jobman's flags  ms: $fr"
[[ -n $breakdown ]] && echo "       inside jobman (median ms): submitted->RUNNING $(cut -d' ' -f1 <<<"$breakdown"), RUNNING->terminal $(cut -d' ' -f2 <<<"$breakdown")"
list() { python3 -c 'import sys; print(", ".join("%.0f" % (int(l) / 1000) for l in sys.stdin if l.strip()))' <"$S/$1"; }
echo "  (c)  per round, ms: jobman all submitted after [$(list batch_jobman_submitted)], last terminal at [$(list batch_jobman)]," \
  "daemon idle (containers removed) at [$(list batch_jobman_idle)]"
echo "       xargs -P$MAX_RUNNING podman run --rm [$(list batch_raw)]; with jobman's flags [$(list batch_flags)]"
for note in "${NOTES[@]}"; do echo "note: $note"; done
exit 0
