#!/usr/bin/env bash
# jobman's per-job log cap (retention.max_log_bytes) under a flood: one job writes
# BENCH_FLOOD_BYTES to stdout as fast as it can. Measures, for jobman with the cap, jobman
# without it, and a raw `podman run` with stdout redirected to a file: wall time,
# throughput, and (for jobman) the log's peak allocated bytes on disk while the job runs,
# its final size and its "[jobman: ... truncated]" line. Prints figures only: it never
# passes or fails on time.
#
#   bench/log_flood.sh                                   4 GiB, cap 1 MiB, 3 runs each (~4–5 min)
#   BENCH_FLOOD_BYTES=512M BENCH_FLOOD_RUNS=1 bench/log_flood.sh      quick run
#
# The job is `busybox yes jobman-flood | busybox head -c BYTES` in the bench image. One
# jobmand of the script's own (common.sh); the cap is switched between runs by rewriting
# its config and sending SIGHUP (jobmand applies retention at reload). The three sides
# are interleaved, the order rotating each run. The raw side is the exact engine argv
# jobman runs (from `submit --dry-run`, minus --name/--label, plus --rm), so it has the
# same `--log-driver none`, `--cpus`, ... and writes to a file on the same filesystem as
# jobmand's state dir; that file, and the uncapped job's log, are deleted after each run.
#
# Knobs (environment), besides those of common.sh:
#   BENCH_FLOOD_BYTES   bytes the job writes (default 4G; suffixes K, M, G, T are powers of 1024)
#   BENCH_FLOOD_CAP     retention.max_log_bytes for the capped runs (default 1M; at least 64K)
#   BENCH_FLOOD_RUNS    runs of each side; the table shows medians (default 3)
#   BENCH_FLOOD_SAMPLE_MS  how often the log's allocated size is sampled (default 10)
set -uo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $# -eq 0 ]] || bench_die "usage: bench/log_flood.sh (knobs in the environment)"

# size_bytes SIZE: "4G" -> 4294967296 (K/M/G/T are powers of 1024, like jobman's sizes).
size_bytes() {
  local v=${1^^} mult=1
  case $v in
  *K) mult=$((1 << 10)) ;;
  *M) mult=$((1 << 20)) ;;
  *G) mult=$((1 << 30)) ;;
  *T) mult=$((1 << 40)) ;;
  esac
  v=${v%[KMGT]}
  [[ $v =~ ^[0-9]+$ ]] || return 1
  echo $((10#$v * mult))
}

BYTES=$(size_bytes "${BENCH_FLOOD_BYTES:-4G}") || bench_die "BENCH_FLOOD_BYTES must be a size like 4G, not '${BENCH_FLOOD_BYTES}'"
CAP=$(size_bytes "${BENCH_FLOOD_CAP:-1M}") || bench_die "BENCH_FLOOD_CAP must be a size like 1M, not '${BENCH_FLOOD_CAP}'"
RUNS=${BENCH_FLOOD_RUNS:-3}
SAMPLE_MS=${BENCH_FLOOD_SAMPLE_MS:-10}
((CAP >= 65536)) || bench_die "BENCH_FLOOD_CAP must be at least 64K (jobmand's minimum)"
((BYTES > 0)) || bench_die "BENCH_FLOOD_BYTES must be more than 0"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_FLOOD_RUNS must be a positive integer"
[[ $SAMPLE_MS =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_FLOOD_SAMPLE_MS must be a positive integer"
[[ $(id -u) == 0 ]] || bench_die "run as root (jobmand must be root)"
IMAGE_NAME=${BENCH_IMAGE##*/}
IMAGE_NAME=${IMAGE_NAME%%:*} # "bench": the catalogue name jobman knows it by
FLOOD_CMD="busybox yes jobman-flood | busybox head -c $BYTES"

# 1.5 GiB, 1.0 MiB, 512 B
human() {
  awk -v b="$1" 'BEGIN {
    split("B KiB MiB GiB TiB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

# $EPOCHREALTIME value -> integer microseconds.
bench_now_us_of() { echo "${1/./}"; }

SAMPLER_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap
flood_cleanup() {
  if [[ -n $SAMPLER_PID ]]; then
    kill "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=""
  fi
  bench_cleanup # the daemon (cancelling its jobs), leftover containers, the temp dir with all logs
}

t_script=$SECONDS
bench_init
trap flood_cleanup EXIT
S=$BENCH_TMP/samples
mkdir -p "$S"
NOTES=()

# Space: the uncapped log and the raw file are BYTES each (one at a time; twice that as margin).
avail=$(df -B1 --output=avail "$BENCH_TMP" | tail -1 | tr -d ' ')
[[ $avail =~ ^[0-9]+$ ]] || bench_die "cannot read the free space of $BENCH_TMP"
((avail >= 2 * BYTES)) ||
  bench_die "$(human "$avail") free on the filesystem of $BENCH_TMP; a $(human "$BYTES") flood needs at least $(human $((2 * BYTES)))" \
    "(set BENCH_FLOOD_BYTES lower or BENCH_TMP_PARENT elsewhere)"
FS_TYPE=$(df --output=fstype "$BENCH_TMP" | tail -1 | tr -d ' ')

bench_start_daemon 1
LOGS=$BENCH_STATE_DIR/logs
DAEMON_LOG=$BENCH_TMP/jobmand.log

# set_cap BYTES: retention.max_log_bytes for the jobs that follow (config rewritten, SIGHUP).
CUR_CAP=""
set_cap() {
  [[ $CUR_CAP == "$1" ]] && return 0
  local config=$BENCH_TMP/jobman.json before i
  before=$(grep -c 'reload: ' "$DAEMON_LOG")
  python3 - "$config" "$1" <<'PY' || bench_die "cannot rewrite $config"
import json, os, sys
path, cap = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    config = json.load(f)
config.setdefault("retention", {})["max_log_bytes"] = cap
with open(path + ".new", "w") as f:
    json.dump(config, f, indent=2)
os.replace(path + ".new", path)
PY
  kill -HUP "$BENCH_DAEMON_PID" || bench_die "cannot signal jobmand"
  for ((i = 0; i < 200; i++)); do
    if (($(grep -c 'reload: ' "$DAEMON_LOG") > before)); then
      grep 'reload: ' "$DAEMON_LOG" | tail -n +$((before + 1)) | grep -q 'keeping the current configuration' &&
        bench_die "jobmand refused max_log_bytes=$1: $(grep 'reload: ' "$DAEMON_LOG" | tail -1)"
      grep 'reload: ' "$DAEMON_LOG" | tail -n +$((before + 1)) | grep -q 'applied' && break
    fi
    sleep 0.05
  done
  ((i < 200)) || bench_die "jobmand did not log a reload within 10 s"
  CUR_CAP=$1
}

# Samples the summed allocated bytes (st_blocks * 512) and sizes of the files in the logs
# dir (the job's log and, at the end, its .compact copy) until SIGTERM; then prints
# "peak_allocated peak_size samples".
start_sampler() {
  python3 - "$LOGS" "$SAMPLE_MS" "$BENCH_TMP/sampler.out" "$BENCH_TMP/sampler.ready" <<'PY' &
import os, signal, sys, time
logs, interval, out, ready = sys.argv[1], int(sys.argv[2]) / 1000.0, sys.argv[3], sys.argv[4]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
peak_alloc = peak_size = samples = 0
open(ready, "w").close()
while not stop:
    alloc = size = 0
    try:
        names = os.listdir(logs)
    except OSError:
        names = []
    for name in names:
        try:
            st = os.stat(os.path.join(logs, name))
        except OSError:
            continue  # renamed or removed meanwhile
        alloc += st.st_blocks * 512
        size += st.st_size
    peak_alloc, peak_size, samples = max(peak_alloc, alloc), max(peak_size, size), samples + 1
    time.sleep(interval)
with open(out, "w") as f:
    print(peak_alloc, peak_size, samples, file=f)
PY
  SAMPLER_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -e $BENCH_TMP/sampler.ready ]] && return 0
    sleep 0.01
  done
  bench_die "the disk sampler did not start"
}

stop_sampler() {
  kill -TERM "$SAMPLER_PID" 2>/dev/null
  wait "$SAMPLER_PID" 2>/dev/null
  SAMPLER_PID=""
  rm -f "$BENCH_TMP/sampler.ready"
}

# ---------------------------------------------------------------- warm-up (not measured)
bench_log "warm-up: catalogue, one job, one raw run"
bench_jobman images >/dev/null || bench_die "jobman images failed: $(tail -3 "$DAEMON_LOG")"
bench_jobman submit -i "$IMAGE_NAME" --wait -- true >/dev/null ||
  bench_die "a trivial job failed; daemon log: $(tail -5 "$DAEMON_LOG")"
# The raw side: jobman's own argv for the flood job, minus --name/--label, plus --rm.
bench_flags_argv "$IMAGE_NAME" "$FLOOD_CMD"
[[ ${FLAGS_ARGV[-1]} == "$FLOOD_CMD" ]] || bench_die "unexpected argv from submit --dry-run: ${FLAGS_ARGV[*]}"
"${FLAGS_ARGV[@]:0:${#FLAGS_ARGV[@]}-1}" 'busybox yes x | busybox head -c 1000' >"$BENCH_TMP/raw.out" 2>"$BENCH_TMP/raw.err" ||
  bench_die "podman run with jobman's flags failed: $(tail -3 "$BENCH_TMP/raw.err")"
[[ $(stat -c %s "$BENCH_TMP/raw.out") == 1000 ]] || bench_die "the image has no working 'busybox yes | busybox head -c'"
rm -f "$BENCH_TMP/raw.out"
bench_reset_daemon
rm -f "$LOGS"/*

# ---------------------------------------------------------------- runs
# flood_jobman SIDE CAP: one flood job through `submit --wait` with the cap set to CAP.
# Appends "wall_us peak_alloc peak_size final_size marker_lines samples" to $S/SIDE.
flood_jobman() {
  local side=$1 cap=$2 out t0 t1 rc id log final markers peak_alloc peak_size samples
  set_cap "$cap"
  if ((cap)); then
    bench_log "run $run/$RUNS: jobman, max_log_bytes $(human "$cap")"
  else
    bench_log "run $run/$RUNS: jobman, max_log_bytes 0 (no cap)"
  fi
  start_sampler
  t0=$EPOCHREALTIME
  out=$(bench_jobman submit -i "$IMAGE_NAME" --wait -- "$FLOOD_CMD" 2>&1)
  rc=$?
  t1=$EPOCHREALTIME
  stop_sampler
  read -r peak_alloc peak_size samples <"$BENCH_TMP/sampler.out"
  id=$(sed -n 's/^Submitted job \([0-9]*\) .*/\1/p' <<<"$out" | head -1)
  log=$LOGS/$id.log
  if ((rc != 0)) || [[ -z $id || ! -f $log ]]; then
    NOTES+=("run $run, $side: the job failed (exit $rc): $(tail -2 <<<"$out" | tr '\n' ' ')")
  else
    final=$(stat -c %s "$log")
    if ((cap)); then
      markers=$(grep -a -c '^\[jobman: .* truncated\]$' "$log")
      grep -a -m1 '^\[jobman: .* truncated\]$' "$log" >"$S/$side.marker"
      [[ $(head -c 12 "$log") == jobman-flood ]] || NOTES+=("run $run, $side: the log does not start with the job's output")
      grep -q "job $id: its log passed retention.max_log_bytes" "$DAEMON_LOG" ||
        NOTES+=("run $run, $side: jobmand did not log cutting job $id's log")
    else
      markers=-
      ((final == BYTES)) || NOTES+=("run $run, $side: the uncapped log has $final bytes, not $BYTES")
    fi
    echo "$(($(bench_now_us_of "$t1") - $(bench_now_us_of "$t0"))) $peak_alloc $peak_size $final $markers $samples" >>"$S/$side"
    # Inside jobman: RUNNING -> terminal, from its own job_events (ms).
    bench_sql "SELECT j.ended_at - (SELECT at FROM job_events WHERE job_id = j.id AND to_state = 'RUNNING') FROM jobs j WHERE j.id = $id" \
      >>"$S/$side.running_ms"
  fi
  rm -f "$LOGS"/* # the uncapped log is BYTES
  bench_wait_idle 120
}

flood_raw() {
  local t0 t1 rc final file=$BENCH_TMP/raw.out
  bench_log "run $run/$RUNS: raw podman run --rm (jobman's flags) > file"
  t0=$EPOCHREALTIME
  "${FLAGS_ARGV[@]}" >"$file" 2>"$BENCH_TMP/raw.err"
  rc=$?
  t1=$EPOCHREALTIME
  final=$(stat -c %s "$file" 2>/dev/null || echo 0)
  rm -f "$file"
  if ((rc != 0)); then
    NOTES+=("run $run, raw: podman run failed (exit $rc): $(tail -2 "$BENCH_TMP/raw.err" | tr '\n' ' ')")
    return
  fi
  ((final == BYTES)) || NOTES+=("run $run, raw: the file has $final bytes, not $BYTES")
  echo "$(($(bench_now_us_of "$t1") - $(bench_now_us_of "$t0"))) - - $final - -" >>"$S/raw"
}

for ((run = 1; run <= RUNS; run++)); do
  case $(((run - 1) % 3)) in
  0) flood_jobman capped "$CAP"; flood_jobman uncapped 0; flood_raw ;;
  1) flood_jobman uncapped 0; flood_raw; flood_jobman capped "$CAP" ;;
  2) flood_raw; flood_jobman capped "$CAP"; flood_jobman uncapped 0 ;;
  esac
done

# ---------------------------------------------------------------- report
# summary SIDE: "n wall_s mb_s peak_alloc final markers" (medians; "-" where not measured);
# MB/s is BYTES / 1e6 over the median wall time.
summary() {
  python3 - "$S/$1" "$BYTES" <<'PY'
import statistics, sys
try:
    rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
except FileNotFoundError:
    rows = []
if not rows:
    print("0 - - - - -"); sys.exit()
def med(i):
    vals = [int(r[i]) for r in rows if r[i] != "-"]
    return statistics.median(vals) if vals else None
wall = med(0) / 1e6
out = [len(rows), "%.2f" % wall, "%.0f" % (int(sys.argv[2]) / 1e6 / wall)]
for i in (1, 3):
    v = med(i)
    out.append("-" if v is None else "%d" % v)
markers = sorted(set(r[4] for r in rows))
out.append(",".join(markers))
print(*out)
PY
}
# per_run SIDE FIELD: that field (1-based) of every run of SIDE, comma-separated.
per_run() { awk -v f="$2" '{ printf "%s%s", (NR > 1 ? ", " : ""), $f }' "$S/$1" 2>/dev/null; }
per_run_s() { awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 / 1e6 }' "$S/$1" 2>/dev/null; }
per_run_h() {
  local v first=1
  while read -r v; do
    ((first)) || printf ', '
    first=0
    if [[ $v == - ]]; then printf -- -; else human "$v"; fi
  done < <(awk -v f="$2" '{ print $f }' "$S/$1" 2>/dev/null)
}
hs() { if [[ $1 == - ]]; then echo -; else human "$1"; fi; }

read -r cn cwall cmbs cpeak cfinal cmark <<<"$(summary capped)"
read -r un uwall umbs upeak ufinal _ <<<"$(summary uncapped)"
read -r rn rwall rmbs _ rfinal _ <<<"$(summary raw)"

echo
echo "jobman log cap under a flood — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source: $BENCH_SOURCE_REV; build: $JOBMAN_BUILD_DIR (${BENCH_BUILD_TYPE:-?}); engine: $("$BENCH_PODMAN" --version); store: $BENCH_STORE"
echo "flood: $(human "$BYTES") ($BYTES bytes) of \`$FLOOD_CMD\`; cap: retention.max_log_bytes = $(human "$CAP"); state dir and raw file on $FS_TYPE ($BENCH_TMP)"
echo "raw: ${FLAGS_ARGV[*]:0:${#FLAGS_ARGV[@]}-1} '...' > file"
echo "medians of $RUNS runs per side, interleaved (order rotated per run); MB/s = bytes / 1e6 / median wall time;"
echo "peak on disk = largest st_blocks*512 of the job's log files seen every ${SAMPLE_MS} ms"
echo
{
  echo "side|n|wall s|MB/s|vs raw|peak on disk|final size|truncated lines"
  echo "jobman, cap $(human "$CAP")|$cn|$cwall|$cmbs|$(bench_ratio "$cmbs" "$rmbs")|$(hs "$cpeak")|$(hs "$cfinal")|$cmark"
  echo "jobman, no cap|$un|$uwall|$umbs|$(bench_ratio "$umbs" "$rmbs")|$(hs "$upeak")|$(hs "$ufinal")|-"
  echo "raw podman run > file|$rn|$rwall|$rmbs|1.00|-|$(hs "$rfinal")|-"
} | column -t -s '|'
echo
echo "details:"
echo "  capped:   wall s [$(per_run_s capped)]; peak on disk [$(per_run_h capped 2)]; final [$(per_run capped 4)] bytes; samples per run [$(per_run capped 6)]"
[[ -f $S/capped.marker ]] && echo "            marker line: $(cat "$S/capped.marker")"
echo "            RUNNING -> terminal inside jobman, ms: [$(paste -sd, "$S/capped.running_ms" 2>/dev/null | sed 's/,/, /g')]"
# The overshoot in time: the job's own rate is BYTES over RUNNING -> terminal (no submit,
# no container start-up); the daemon cuts every 100 ms.
run_ms=$(sort -n "$S/capped.running_ms" 2>/dev/null | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
if [[ -n $run_ms && $cpeak =~ ^[0-9]+$ ]]; then
  awk -v b="$BYTES" -v ms="$run_ms" -v p="$cpeak" -v c="$CAP" 'BEGIN {
    rate = b / (ms / 1000)
    printf "            while running: %.0f MB/s, so 100 ms = %.1f MiB; median peak - cap = %.1f MiB = %.0f ms of output\n",
      rate / 1e6, rate * 0.1 / 1048576, (p - c) / 1048576, (p - c) / rate * 1000 }'
fi
echo "  uncapped: wall s [$(per_run_s uncapped)]; peak on disk [$(per_run_h uncapped 2)]"
echo "            RUNNING -> terminal inside jobman, ms: [$(paste -sd, "$S/uncapped.running_ms" 2>/dev/null | sed 's/,/, /g')]"
echo "  raw:      wall s [$(per_run_s raw)]"
for note in "${NOTES[@]}"; do echo "note: $note"; done
bench_log "done in $((SECONDS - t_script)) s"
exit 0
