#!/usr/bin/env bash
# jobman with a long history: `jobman list`, `details` and `stats` latency over 1,000,000
# finished jobs, `list` while all-time reports run back to back, the same queries timed
# directly in SQLite (with their query plans), and jobmand's CPU use when idle. Prints
# figures only: it never passes or fails on time.
#
#   bench/history.sh                                   full run (1,000,000 jobs, 50 reps), ~3–5 min
#   HISTORY_JOBS=100000 HISTORY_REPS=20 bench/history.sh     quick run
#
# Steps: start a private jobmand (common.sh) on a temp state dir so that it creates and
# migrates jobman.db, stop it, insert HISTORY_JOBS finished jobs (several users, states
# SUCCEEDED/FAILED/CANCELLED/TIMEOUT, ~5 % deleted, times spread over the last year) and
# HISTORY_EVENTS_PER_JOB job_events rows each with python3's sqlite3 in one transaction
# (bench/history_db.py), restart jobmand, then time whole CLI processes, interleaved, as root
# and as HISTORY_USER (run through `setpriv --reuid --regid --init-groups`).
#
# Knobs (environment), besides those of common.sh:
#   HISTORY_JOBS            jobs to insert (default 1000000)
#   HISTORY_EVENTS_PER_JOB  2 (submitted + terminal; default) or 4 (+ STARTING, RUNNING)
#   HISTORY_REPS            timed repetitions per query (default 50)
#   HISTORY_SLOW_REPS       repetitions for a query whose first run took over 100 ms
#                           (default 10; keeps a full-scan query from taking minutes)
#   HISTORY_USER            normal user to run the CLI as (default jmtest1; created with
#                           `useradd --system` if missing, and left in place)
#   HISTORY_IDLE_SECONDS    how long to watch the idle daemon's CPU time (default 10)
set -uo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $# -eq 0 ]] || bench_die "usage: bench/history.sh (knobs in the environment)"

N_JOBS=${HISTORY_JOBS:-1000000}
EVENTS_PER_JOB=${HISTORY_EVENTS_PER_JOB:-2}
REPS=${HISTORY_REPS:-50}
SLOW_REPS=${HISTORY_SLOW_REPS:-10}
USER_NAME=${HISTORY_USER:-jmtest1}
IDLE_SECONDS=${HISTORY_IDLE_SECONDS:-10}
# shellcheck disable=SC2034 # both read by common.sh
{
  BENCH_SOCKET_MODE=0666 # the normal user must be able to connect
  BENCH_NEED_IMAGE=0     # no containers run here
}
[[ $(id -u) == 0 ]] || bench_die "run as root (jobmand must be root; the CLI also runs as $USER_NAME)"
command -v setpriv >/dev/null || bench_die "setpriv not found (util-linux)"

t_script=$SECONDS
bench_init
S=$BENCH_TMP/samples
mkdir -p "$S"
NOTES=()

if ! id -u "$USER_NAME" >/dev/null 2>&1; then
  bench_log "creating system user $USER_NAME"
  useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME" || bench_die "useradd failed"
fi
USER_UID=$(id -u "$USER_NAME")
USER_GID=$(id -g "$USER_NAME")
as_user() { setpriv --reuid="$USER_UID" --regid="$USER_GID" --init-groups "$@"; }
as_user test -x "$JOBMAN_BIN" || bench_die "$USER_NAME cannot execute $JOBMAN_BIN (set JOBMAN_BUILD_DIR to a world-readable place)"

# CPU seconds (user + system, all threads) jobmand has used so far.
daemon_cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$BENCH_DAEMON_PID/stat"
}
# Sets CHILDREN_CPU_MS: CPU milliseconds (user + system) of this shell's waited-for
# children so far. Not for $(...): `times` must run in this shell, not in a subshell.
children_cpu_ms() {
  times >"$BENCH_TMP/times"
  CHILDREN_CPU_MS=$(sed -n 2p "$BENCH_TMP/times" | awk '{
    split($1, u, /[ms]/); split($2, s, /[ms]/)
    printf "%.1f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 }')
}
daemon_rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$BENCH_DAEMON_PID/status"; }

# ---------------------------------------------------------------- database
bench_start_daemon 2 # creates and migrates jobman.db
bench_stop_daemon
DB=$BENCH_STATE_DIR/jobman.db
[[ -f $DB ]] || bench_die "jobmand created no $DB"

bench_log "inserting $N_JOBS finished jobs and $EVENTS_PER_JOB events each into $DB (one transaction)"
t0=$(bench_now_us)
load_out=$(python3 "$BENCH_DIR/history_db.py" load "$DB" "$N_JOBS" "$EVENTS_PER_JOB" "$USER_UID" "$USER_GID" "$USER_NAME") ||
  bench_die "loading the history failed"
load_s=$(awk -v us=$(($(bench_now_us) - t0)) 'BEGIN { printf "%.1f", us / 1e6 }')
loaded() { sed -n "s/^$1=//p" <<<"$load_out"; }
OLD_ID=$(loaded old_id)
OLD_NAME=$(loaded old_name)
db_mb=$(du -sm "$BENCH_STATE_DIR" | cut -f1)
bench_log "loaded in ${load_s}s: $(tr '\n' ' ' <<<"$load_out")"

t0=$(bench_now_us)
bench_start_daemon 2
start_ms=$((($(bench_now_us) - t0) / 1000))
start_cpu=$(daemon_cpu_s)

# ---------------------------------------------------------------- CLI latency
# label|who|args...; who is root or user. Interleaved: each repetition runs every query once,
# in an order rotated per repetition, so drift from the machine's other load hits all alike.
QUERIES=(
  "process floor: /bin/true|root|@true"
  "process floor: jobman --version|root|--version"
  "process floor: setpriv + jobman --version|user|--version"
  "round trip: list --state QUEUED (0 rows)|root|list --state QUEUED"
  "list|root|list"
  "list --state FAILED|root|list --state FAILED"
  "list --all-users|root|list --all-users"
  "list --all-users --state TIMEOUT --limit 50|root|list --all-users --state TIMEOUT --limit 50"
  "details -j <old id>|root|details -j $OLD_ID"
  "details -j <old name>|root|details -j $OLD_NAME"
  "list|user|list"
  "list --state FAILED|user|list --state FAILED"
  "details -j <old id>|user|details -j $OLD_ID"
  "details -j <old name>|user|details -j $OLD_NAME"
  "stats (last 30 days)|root|stats"
  "stats --since all|root|stats --since all"
  "stats --since all --by user|root|stats --since all --by user"
  "stats --since all --by image|root|stats --since all --by image"
  "stats --since all (own)|user|stats --since all"
  "stats --since 7d --by state (own)|user|stats --since 7d --by state"
)
run_query() { # run_query INDEX [extra CLI args...]: runs one query, output to stdout
  local spec=${QUERIES[$1]} who args
  shift
  IFS='|' read -r _ who args <<<"$spec"
  local -a words
  read -r -a words <<<"$args"
  if [[ ${words[0]} == @true ]]; then /bin/true; return; fi
  [[ ${words[0]} == --version ]] && set -- # no socket, no extra args
  if [[ $who == user ]]; then
    as_user "$JOBMAN_BIN" --socket "$BENCH_SOCKET" "$@" "${words[@]}"
  else
    "$JOBMAN_BIN" --socket "$BENCH_SOCKET" "$@" "${words[@]}"
  fi
}

# Each query once, checked: exit status, rows and bytes of the --json answer; a query that
# took over 100 ms gets SLOW_REPS repetitions instead of REPS.
declare -A ROWS_OF BYTES_OF REPS_OF
for i in "${!QUERIES[@]}"; do
  REPS_OF[$i]=$REPS
  [[ ${QUERIES[$i]} == process* ]] && { ROWS_OF[$i]="-"; BYTES_OF[$i]="-"; continue; }
  t0=$(bench_now_us)
  out=$(run_query "$i" --json 2>&1) || { NOTES+=("failed: ${QUERIES[$i]}: $out"); ROWS_OF[$i]="error"; continue; }
  (($(bench_now_us) - t0 > 100000)) && REPS_OF[$i]=$SLOW_REPS
  BYTES_OF[$i]=${#out}
  ROWS_OF[$i]=$(python3 -c '
import json, sys
d = json.load(sys.stdin)
if "total" in d:
    print("report of %d jobs" % d["total"]["jobs"])
else:
    print(len(d["jobs"]) if "jobs" in d else "1 job, %d events" % len(d.get("events", [])))' <<<"$out" 2>/dev/null || echo "?")
done

n=${#QUERIES[@]}
bench_log "timing $n queries x $REPS (slow ones x $SLOW_REPS), interleaved"
for ((r = 0; r < REPS; r++)); do
  for ((k = 0; k < n; k++)); do
    i=$(((k + r) % n))
    ((r < REPS_OF[$i])) || continue
    bench_time_into "$S/q$i" run_query "$i" || echo x >>"$S/fail$i"
  done
done

# Where the time goes: each query again, back to back, with the daemon's CPU time per
# request (/proc/PID/stat, 10 ms ticks over all repetitions) and the CLI's own CPU time per
# process (this shell's children, from `times`).
bench_log "CPU per query: daemon and CLI, $REPS each (slow ones x $SLOW_REPS)"
declare -A DCPU_OF CCPU_OF
for i in "${!QUERIES[@]}"; do
  d0=$(daemon_cpu_s)
  children_cpu_ms
  c0=$CHILDREN_CPU_MS
  for ((r = 0; r < REPS_OF[$i]; r++)); do run_query "$i" >/dev/null 2>&1; done
  d1=$(daemon_cpu_s)
  children_cpu_ms
  c1=$CHILDREN_CPU_MS
  DCPU_OF[$i]=$(awk -v a="$d0" -v b="$d1" -v n="${REPS_OF[$i]}" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
  CCPU_OF[$i]=$(awk -v a="$c0" -v b="$c1" -v n="${REPS_OF[$i]}" 'BEGIN { printf "%.2f", (b - a) / n }')
done

# ---------------------------------------------------------------- list while reports run
# Reports read on a thread of their own (store::ReportThread): a user's `list` should take
# as long while an admin's all-time report runs back to back as it does without.
LIST_USER=-1
for i in "${!QUERIES[@]}"; do [[ ${QUERIES[$i]} == "list|user|list" ]] && LIST_USER=$i; done
bench_log "list as $USER_NAME while stats --since all --by user runs back to back, $REPS times"
rm -f "$BENCH_TMP/stop_stats"
(
  while [[ ! -f $BENCH_TMP/stop_stats ]]; do
    "$JOBMAN_BIN" --socket "$BENCH_SOCKET" stats --since all --by user >/dev/null 2>&1 || echo x >>"$S/stats_loop_fail"
    echo x >>"$S/stats_loop_runs"
  done
) &
stats_loop=$!
sleep 1
for ((r = 0; r < REPS; r++)); do bench_time_into "$S/list_during_stats" run_query "$LIST_USER" || echo x >>"$S/fail_during_stats"; done
touch "$BENCH_TMP/stop_stats"
wait "$stats_loop"

# ---------------------------------------------------------------- list on the wire
# What `jobman list` receives (view "table") against --json's every field (view "full"),
# 50 jobs, as root: the bytes of the reply frame and the time to it over one connection.
bench_log "list's reply on the wire: view table against view full, $REPS each"
wire_out=$(python3 - "$BENCH_SOCKET" "$REPS" <<'PY'
import json, socket, statistics, sys, time
path, reps = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile("rwb")
def ask(i, op, args):
    f.write(json.dumps({"id": i, "op": op, "args": args}).encode() + b"\n"); f.flush()
    return f.readline()
ask(1, "hello", {"version": 1})
for view in ("table", "full"):
    sizes, times = [], []
    for r in range(reps):
        t0 = time.perf_counter()
        line = ask(2 + r, "list", {"limit": 50, "all_users": True, "view": view})
        times.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(line))
        assert json.loads(line)["ok"], line[:200]
    times.sort()
    print(f"{view}\t{len(json.loads(line)['result']['jobs'])}\t{sizes[-1]}\t{statistics.median(times):.2f}\t{times[int(0.9 * (len(times) - 1))]:.2f}")
PY
) || NOTES+=("the wire-size measurement failed")

# ---------------------------------------------------------------- the same in SQLite
bench_log "timing the daemon's SQL directly (python3 sqlite3, read-only, $REPS each)"
sql_out=$(python3 "$BENCH_DIR/history_db.py" sql "$DB" "$REPS" "$SLOW_REPS" "$USER_UID" "$OLD_ID" "$OLD_NAME") ||
  NOTES+=("the SQL timings failed")

# ---------------------------------------------------------------- idle CPU
bench_log "watching the idle daemon for ${IDLE_SECONDS}s"
sleep 1
idle0=$(daemon_cpu_s)
sleep "$IDLE_SECONDS"
idle1=$(daemon_cpu_s)
rss=$(daemon_rss_mb)

# ---------------------------------------------------------------- report
echo
echo "jobman history benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source: $BENCH_SOURCE_REV; build: $JOBMAN_BUILD_DIR (${BENCH_BUILD_TYPE:-?}); python sqlite3 $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')"
echo "history: $(loaded jobs) jobs ($(loaded deleted) deleted; states $(loaded states)), $(loaded events) job_events;" \
  "$USER_NAME (uid $USER_UID) has $(loaded target_listed) listed; argv $(loaded argv_elements_avg) elements / $(loaded argv_bytes_avg) bytes on average"
echo "load: ${load_s}s in all (rows $(loaded insert_s)s, commit $(loaded commit_s)s); state dir ${db_mb} MB;" \
  "jobmand restart until it answered: ${start_ms} ms (CPU ${start_cpu}s)"
echo "old job: id $OLD_ID, name $OLD_NAME (owned by $USER_NAME)"
echo
echo "CLI wall time, whole process (fork+exec to exit), ms, interleaved; then CPU ms per run of the daemon and of the CLI process:"
{
  echo "query|as|rows|json bytes|n|median|p90|min|max|fails|daemon CPU|CLI CPU"
  for i in "${!QUERIES[@]}"; do
    IFS='|' read -r label who _ <<<"${QUERIES[$i]}"
    [[ $who == user ]] && who=$USER_NAME
    stats=$(bench_stats "$S/q$i")
    fails=0
    [[ -f $S/fail$i ]] && fails=$(wc -l <"$S/fail$i")
    echo "$label|$who|${ROWS_OF[$i]}|${BYTES_OF[$i]}|$(bench_field "$stats" 1)|$(bench_field "$stats" 2)|$(bench_field "$stats" 4)|$(bench_field "$stats" 5)|$(bench_field "$stats" 6)|$fails|${DCPU_OF[$i]}|${CCPU_OF[$i]}"
  done
} | column -t -s '|'
echo
echo "list --all-users --limit 50 on the wire, one connection (request to reply frame, ms), per view:"
{
  echo "view|jobs|reply bytes|median|p90"
  while IFS=$'\t' read -r view jobs bytes med p90; do echo "$view|$jobs|$bytes|$med|$p90"; done <<<"$wire_out"
} | column -t -s '|'
table_bytes=$(awk -F'\t' '$1 == "table" { print $3 }' <<<"$wire_out")
full_bytes=$(awk -F'\t' '$1 == "full" { print $3 }' <<<"$wire_out")
[[ -n $table_bytes && -n $full_bytes ]] && awk -v t="$table_bytes" -v f="$full_bytes" 'BEGIN { printf "table view / full view bytes: %.3f\n", t / f }'
echo
echo "the daemon's SQL in SQLite directly (python3 sqlite3, execute + fetch all rows), ms:"
{
  echo "query|rows|n|median|p90|plan"
  while IFS=$'\t' read -r label rows reps med p90 plan; do
    [[ $label == \#* ]] && continue
    echo "$label|$rows|$reps|$med|$p90|$plan"
  done <<<"$sql_out"
} | column -t -s '|'
echo
during=$(bench_stats "$S/list_during_stats")
idle_list=$(bench_stats "$S/q$LIST_USER")
echo "list as $USER_NAME while stats --since all --by user ran back to back ($(wc -l <"$S/stats_loop_runs" 2>/dev/null || echo 0) reports," \
  "$(cat "$S/stats_loop_fail" 2>/dev/null | wc -l) failed): median $(bench_field "$during" 2) ms, p90 $(bench_field "$during" 4) ms," \
  "max $(bench_field "$during" 6) ms over $(bench_field "$during" 1) runs ($(cat "$S/fail_during_stats" 2>/dev/null | wc -l) failed);" \
  "without: median $(bench_field "$idle_list" 2) ms, p90 $(bench_field "$idle_list" 4) ms"
echo
awk -v a="$idle0" -v b="$idle1" -v s="$IDLE_SECONDS" -v r="$rss" \
  'BEGIN { printf "jobmand CPU while idle: %.2f s over %d s (utime+stime from /proc/PID/stat; resolution 0.01 s); RSS %s MB\n", b - a, s, r }'
for note in "${NOTES[@]}"; do echo "note: $note"; done
bench_log "done in $((SECONDS - t_script)) s"
exit 0
