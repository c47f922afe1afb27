# shellcheck shell=bash
# Helpers shared by the jobman benchmarks. Source this file; it defines functions and
# a few BENCH_* variables and changes nothing until bench_init is called.
#
# Environment (all optional):
#   JOBMAN_BUILD_DIR          build dir holding cli/jobman and daemon/jobmand
#                             (default: <repo>/build-bench, configured and built as
#                             Release if the binaries are missing)
#   JOBMAN_SOURCE_DIR         source tree to configure JOBMAN_BUILD_DIR from when it has no
#                             build.ninja yet (default: the repo holding bench/); e.g. a clean
#                             `git clone --shared` of one commit while the main tree has
#                             uncommitted work in it
#   BENCH_REBUILD=1           run ninja in JOBMAN_BUILD_DIR even if the binaries exist
#   BENCH_PODMAN              engine binary (default: podman)
#   BENCH_ENGINE_GLOBAL_ARGS  engine args before the subcommand (default: --runtime runc)
#   BENCH_ENGINE_RUN_ARGS     args after `run` (default: the two --ulimit flags below)
#   BENCH_STORE               private (default): a podman store of the benchmark's own
#                             (--root/--runroot under BENCH_STORE_DIR), so container
#                             names and cleanup can never touch anyone else's;
#                             system: the machine's default store
#   BENCH_STORE_DIR           where the private store lives (default: /var/tmp/jobman-bench-store);
#                             it is kept between runs, like an image would be
#   BENCH_IMAGE               image reference (default: localhost/bench:1.0)
#   BENCH_TMP_PARENT          parent of the per-run temp dir (default: /tmp)
#   BENCH_SOCKET_MODE         jobmand socket mode (default: 0600; history.sh uses 0666 so a
#                             normal user can connect)
#   BENCH_START_TIMEOUT       seconds to wait for jobmand to answer (default: 60)
#
# Word splitting is used for the *_ARGS variables, so values cannot contain spaces.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_REPO=$(cd "$BENCH_DIR/.." && pwd)

: "${JOBMAN_BUILD_DIR:=$BENCH_REPO/build-bench}"
: "${JOBMAN_SOURCE_DIR:=$BENCH_REPO}"
: "${BENCH_SOCKET_MODE:=0600}"
: "${BENCH_START_TIMEOUT:=60}"
: "${BENCH_PODMAN:=podman}"
: "${BENCH_ENGINE_GLOBAL_ARGS=--runtime runc}"
: "${BENCH_ENGINE_RUN_ARGS=--ulimit nofile=1024:1024 --ulimit nproc=1024:1024}"
: "${BENCH_STORE:=private}"
: "${BENCH_STORE_DIR:=/var/tmp/jobman-bench-store}"
: "${BENCH_IMAGE:=localhost/bench:1.0}"
: "${BENCH_TMP_PARENT:=/tmp}"

BENCH_TMP=""
BENCH_DAEMON_PID=""
BENCH_SOCKET=""
BENCH_STATE_DIR=""
BENCH_TSP_STARTED=0
BENCH_CLEANED=0

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() {
  bench_log "error: $*"
  exit 1
}

# ---------------------------------------------------------------- timing & statistics

# Wall clock in integer microseconds (bash builtin: no fork, so no measurement overhead).
bench_now_us() {
  local t=$EPOCHREALTIME
  echo "${t/./}"
}

# Runs "$@" with stdout/stderr discarded and appends its wall time (microseconds) to the
# file named by $1. Returns the command's exit status.
bench_time_into() {
  local file=$1 t0 t1 rc
  shift
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  rc=$?
  t1=$EPOCHREALTIME
  echo $((${t1/./} - ${t0/./})) >>"$file"
  return $rc
}

# Prints "n median p10 p90 min max" in milliseconds for a file of microsecond samples.
bench_stats() {
  python3 - "$1" <<'PY'
import statistics, sys
xs = sorted(int(l) / 1000.0 for l in open(sys.argv[1]) if l.strip())
if not xs:
    print("0 nan nan nan nan nan"); sys.exit()
def pct(p):
    # linear interpolation between closest ranks
    k = (len(xs) - 1) * p
    lo = int(k); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
print(len(xs), *("%.2f" % v for v in (statistics.median(xs), pct(0.1), pct(0.9), xs[0], xs[-1])))
PY
}

# bench_field "STATS" INDEX: one field of a bench_stats line (1 = n, 2 = median, ...).
bench_field() { awk -v i="$2" '{print $i}' <<<"$1"; }

# a/b to two decimals ("n/a" when b is zero or not a number).
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# ---------------------------------------------------------------- binaries and engine

bench_locate_binaries() {
  JOBMAN_BIN=$JOBMAN_BUILD_DIR/cli/jobman
  JOBMAND_BIN=$JOBMAN_BUILD_DIR/daemon/jobmand
  if [[ ! -x $JOBMAN_BIN || ! -x $JOBMAND_BIN || ${BENCH_REBUILD:-0} == 1 ]]; then
    if [[ ! -f $JOBMAN_BUILD_DIR/build.ninja ]]; then
      bench_log "configuring a Release build in $JOBMAN_BUILD_DIR"
      cmake -S "$JOBMAN_SOURCE_DIR" -B "$JOBMAN_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJOBMAN_BUILD_TESTS=OFF >&2 ||
        bench_die "cmake failed"
    fi
    bench_log "building $JOBMAN_BUILD_DIR"
    ninja -C "$JOBMAN_BUILD_DIR" >&2 || bench_die "build failed"
  fi
  [[ -x $JOBMAN_BIN && -x $JOBMAND_BIN ]] || bench_die "no jobman/jobmand under $JOBMAN_BUILD_DIR"
  # shellcheck disable=SC2034 # read by bench.sh
  BENCH_BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$JOBMAN_BUILD_DIR/CMakeCache.txt" 2>/dev/null)
  # The commit the binaries were built from: the build dir's own source tree, which need
  # not be the tree holding these scripts.
  local src
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:[A-Z]*=//p' "$JOBMAN_BUILD_DIR/CMakeCache.txt" 2>/dev/null)
  # shellcheck disable=SC2034 # read by bench.sh and history.sh
  BENCH_SOURCE_REV=$(git -C "${src:-$BENCH_REPO}" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -n $(git -C "${src:-$BENCH_REPO}" status --porcelain --untracked-files=no 2>/dev/null) ]] &&
    BENCH_SOURCE_REV="$BENCH_SOURCE_REV+local changes"
  BENCH_SOURCE_REV="$BENCH_SOURCE_REV (${src:-$BENCH_REPO})"
  command -v "$BENCH_PODMAN" >/dev/null || bench_die "$BENCH_PODMAN not found"
  command -v python3 >/dev/null || bench_die "python3 not found"
}

# Global args every podman call uses, the daemon's included: store selection + BENCH_ENGINE_GLOBAL_ARGS.
bench_engine_setup() {
  BENCH_STORE_ARGS=()
  case $BENCH_STORE in
  private) BENCH_STORE_ARGS=(--root "$BENCH_STORE_DIR/root" --runroot "$BENCH_STORE_DIR/runroot") ;;
  system) ;;
  *) bench_die "BENCH_STORE must be 'private' or 'system', not '$BENCH_STORE'" ;;
  esac
  read -r -a BENCH_GLOBAL_ARGS <<<"$BENCH_ENGINE_GLOBAL_ARGS"
  read -r -a BENCH_RUN_ARGS <<<"$BENCH_ENGINE_RUN_ARGS"
  BENCH_ENGINE_GLOBAL=("${BENCH_STORE_ARGS[@]}" "${BENCH_GLOBAL_ARGS[@]}")
}

bench_podman() { "$BENCH_PODMAN" "${BENCH_ENGINE_GLOBAL[@]}" "$@"; }

# The raw baseline: what a user would type without jobman.
bench_raw_run() { bench_podman run --rm "${BENCH_RUN_ARGS[@]}" "$BENCH_IMAGE" true; }

# Builds BENCH_IMAGE from busybox-static if the store does not have it yet.
bench_ensure_image() {
  if bench_podman image exists "$BENCH_IMAGE" 2>/dev/null; then return 0; fi
  local busybox rootfs=$BENCH_TMP/rootfs applet
  busybox=$(command -v busybox) || bench_die "busybox not found (apt-get install busybox-static)"
  bench_log "building $BENCH_IMAGE from $busybox"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  cp "$busybox" "$rootfs/bin/busybox"
  for applet in sh true false echo sleep cat ls env id; do ln -sf busybox "$rootfs/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  tar -C "$rootfs" -cf "$BENCH_TMP/rootfs.tar" .
  bench_podman import --change 'LABEL name=bench' --change 'LABEL version=1.0' \
    --change 'ENTRYPOINT ["/bin/sh","-c"]' "$BENCH_TMP/rootfs.tar" "$BENCH_IMAGE" >/dev/null ||
    bench_die "podman import failed"
  rm -rf "$rootfs" "$BENCH_TMP/rootfs.tar"
}

# ---------------------------------------------------------------- jobmand

bench_jobman() { "$JOBMAN_BIN" --socket "$BENCH_SOCKET" "$@"; }

# bench_start_daemon MAX_RUNNING: a jobmand of our own on a temp socket and state dir.
bench_start_daemon() {
  local max_running=${1:-2} config=$BENCH_TMP/jobman.json i
  [[ -z $BENCH_DAEMON_PID ]] || bench_die "a bench daemon is already running"
  BENCH_SOCKET=$BENCH_TMP/jobman.sock
  BENCH_STATE_DIR=$BENCH_TMP/state
  python3 - "$config" "$BENCH_SOCKET" "$BENCH_SOCKET_MODE" "$BENCH_STATE_DIR" "$BENCH_PODMAN" "$max_running" \
    "${#BENCH_ENGINE_GLOBAL[@]}" "${BENCH_ENGINE_GLOBAL[@]}" "${BENCH_RUN_ARGS[@]}" <<'PY'
import json, sys
path, socket, mode, state, binary, max_running, n = sys.argv[1:8]
rest = sys.argv[8:]
n = int(n)
config = {
    "socket": {"path": socket, "mode": mode},
    "state_dir": state,
    "engine": {"kind": "podman", "binary": binary, "global_args": rest[:n], "run_args": rest[n:]},
    "images": {"repositories": ["localhost/"], "required_labels": ["name", "version"]},
    "limits": {"max_running": int(max_running)},
}
with open(path, "w") as f:
    json.dump(config, f, indent=2)
PY
  "$JOBMAND_BIN" --config "$config" 2>"$BENCH_TMP/jobmand.log" &
  BENCH_DAEMON_PID=$!
  for ((i = 0; i < BENCH_START_TIMEOUT * 20; i++)); do
    if bench_jobman list >/dev/null 2>&1; then
      bench_log "jobmand pid $BENCH_DAEMON_PID ready on $BENCH_SOCKET (max_running=$max_running)"
      return 0
    fi
    kill -0 "$BENCH_DAEMON_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$BENCH_TMP/jobmand.log" >&2
  bench_die "jobmand did not come up"
}

# Reads the daemon's own database (it is ours): prints the number of active jobs,
# deleted ones included (`jobman list` hides deleted jobs).
bench_active_jobs() {
  python3 - "$BENCH_STATE_DIR/jobman.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
print(db.execute("SELECT count(*) FROM jobs WHERE state IN ('QUEUED','STARTING','RUNNING')").fetchone()[0])
PY
}

# Runs SQL against the daemon's database and prints the rows, tab-separated.
bench_sql() {
  python3 - "$BENCH_STATE_DIR/jobman.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
for row in db.execute(sys.argv[2]):
    print("\t".join("" if v is None else str(v) for v in row))
PY
}

# bench_flags_argv IMAGE COMMAND: sets FLAGS_ARGV to the engine argv jobman would run for
# COMMAND (from `submit --dry-run`), minus --name/--label, plus --rm: the raw baseline
# with jobman's own flags, so a ratio against it is jobman's orchestration cost alone.
bench_flags_argv() {
  mapfile -t FLAGS_ARGV < <(bench_jobman --json submit --dry-run -i "$1" -- "$2" | python3 -c '
import json, sys
argv, out, i, seen_run = json.load(sys.stdin)["job"]["argv"], [], 0, False
while i < len(argv):
    if argv[i] in ("--name", "--label"):
        i += 2
        continue
    out.append(argv[i])
    if argv[i] == "run" and not seen_run:
        out.append("--rm")
        seen_run = True
    i += 1
print("\n".join(out))')
  ((${#FLAGS_ARGV[@]} > 3)) || bench_die "could not get jobman's engine argv from submit --dry-run"
}

# bench_wait_idle [TIMEOUT_S]: until no job is active, the daemon has no engine child left
# and none of its containers is left: the `rm` of a finished job runs after the job is
# terminal, and only after a 2 s window that gathers removals into one `rm`.
bench_wait_idle() {
  local timeout=${1:-120} deadline instance
  deadline=$((SECONDS + timeout))
  instance=$(bench_sql "SELECT value FROM meta WHERE key = 'instance'")
  while ((SECONDS < deadline)); do
    if [[ $(bench_active_jobs) == 0 ]] && ! pgrep -P "$BENCH_DAEMON_PID" >/dev/null &&
      [[ -z $(bench_podman ps -aq --filter "label=jobman.instance=$instance" 2>/dev/null) ]]; then return 0; fi
    sleep 0.1
  done
  bench_log "warning: the daemon was still busy after ${timeout}s"
  return 1
}

# bench_wait_running COUNT [TIMEOUT_S]: until COUNT jobs are RUNNING.
bench_wait_running() {
  local want=$1 timeout=${2:-60} deadline
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    [[ $(bench_sql "SELECT count(*) FROM jobs WHERE state = 'RUNNING'") -ge $want ]] && return 0
    sleep 0.1
  done
  bench_die "$want jobs did not reach RUNNING within ${timeout}s"
}

# Cancels and forgets all our jobs, then waits until the daemon is idle.
bench_reset_daemon() {
  bench_jobman delete --all >/dev/null 2>&1
  bench_wait_idle "${1:-120}"
}

bench_stop_daemon() {
  [[ -n $BENCH_DAEMON_PID ]] || return 0
  if kill -0 "$BENCH_DAEMON_PID" 2>/dev/null; then
    # Stopping jobmand leaves running containers for the next daemon to adopt: cancel first
    # (unless nothing is active: `delete --all` would also hide the caller's whole history).
    if [[ $(bench_active_jobs 2>/dev/null) != 0 ]] || pgrep -P "$BENCH_DAEMON_PID" >/dev/null; then
      bench_reset_daemon 60 || true
    fi
    kill -TERM "$BENCH_DAEMON_PID" 2>/dev/null
    wait "$BENCH_DAEMON_PID" 2>/dev/null
  fi
  BENCH_DAEMON_PID=""
}

# ---------------------------------------------------------------- task-spooler

# tsp with a server of our own (socket in the temp dir; TS_SLOTS like max_running).
bench_tsp() {
  BENCH_TSP_STARTED=1
  TS_SOCKET=$BENCH_TMP/tsp.sock TMPDIR=$BENCH_TMP TS_SLOTS=${BENCH_TSP_SLOTS:-2} tsp "$@"
}

bench_stop_tsp() {
  ((BENCH_TSP_STARTED)) || return 0
  [[ -S $BENCH_TMP/tsp.sock ]] || return 0
  local id
  # Kill whatever is still running (the blockers), then the server.
  for id in $(bench_tsp -l 2>/dev/null | awk '$2 == "running" {print $1}'); do bench_tsp -k "$id" >/dev/null 2>&1; done
  bench_tsp -K >/dev/null 2>&1
  BENCH_TSP_STARTED=0
}

# ---------------------------------------------------------------- lifecycle

bench_cleanup() {
  ((BENCH_CLEANED)) && return 0
  BENCH_CLEANED=1
  bench_stop_tsp
  bench_stop_daemon
  if [[ $BENCH_STORE == private && -d $BENCH_STORE_DIR/root ]]; then
    # Every container in the private store is one of ours (an interrupted baseline run,
    # or a job container a killed daemon left behind).
    local left
    left=$(bench_podman ps -aq 2>/dev/null)
    if [[ -n $left ]]; then
      bench_log "removing leftover containers in the private store: ${left//$'\n'/ }"
      # shellcheck disable=SC2086
      bench_podman rm -f $left >/dev/null 2>&1
    fi
  fi
  [[ -n $BENCH_TMP && -d $BENCH_TMP ]] && rm -rf "$BENCH_TMP"
}

bench_init() {
  BENCH_TMP=$(mktemp -d "$BENCH_TMP_PARENT/jobman-bench.XXXXXX") || bench_die "mktemp failed"
  chmod 0755 "$BENCH_TMP"
  trap bench_cleanup EXIT
  trap 'bench_log "interrupted"; exit 130' INT TERM
  bench_locate_binaries
  bench_engine_setup
  [[ $BENCH_STORE == private ]] && mkdir -p "$BENCH_STORE_DIR"
  # BENCH_NEED_IMAGE=0: a script that runs no containers (history.sh) skips the image.
  [[ ${BENCH_NEED_IMAGE:-1} == 0 ]] || bench_ensure_image
}

# Removes the private store (image included); only ever BENCH_STORE_DIR.
bench_purge_store() {
  bench_engine_setup
  [[ $BENCH_STORE == private ]] || bench_die "--purge only applies to the private store"
  [[ -d $BENCH_STORE_DIR ]] || return 0
  bench_podman rm -af >/dev/null 2>&1
  bench_podman rmi -af >/dev/null 2>&1
  if grep -q " $BENCH_STORE_DIR/" /proc/mounts; then bench_die "something is still mounted under $BENCH_STORE_DIR"; fi
  rm -rf "$BENCH_STORE_DIR"
  bench_log "removed $BENCH_STORE_DIR"
}
