# shellcheck shell=bash
# Set-up shared by the packaging tests (test_deb.sh, test_completions.sh): the check counters,
# a temp dir, busybox test images, a jobmand of the test's own on podman, and a cleanup at exit
# that leaves nothing behind. Source it (after `set -uo pipefail`); it only defines functions
# and the variables below, and starts or creates nothing until they are called.
#
# Sets on sourcing:
#   src            the source tree (two folders above this file)
#   global_args    engine args before the subcommand: JOBMAN_TEST_ENGINE_GLOBAL_ARGS
#                  (default: --runtime runc); global_argv, the same split into words
#   run_args       engine args after `run`: JOBMAN_TEST_ENGINE_RUN_ARGS (default: explicit
#                  nofile/nproc ulimits, as in the integration tests)
#   passed failed  the check counters, 0
#   daemon_pid     the jobmand start_daemon started (empty: none running)
#   test_images    the image references import_image made (cleanup removes them)
#   test_name      the prefix of the skip and summary lines, "packaging test"
# Sets later: tmp (make_tmp; every function after abort below needs it), daemon_pid
# (start_daemon, stop_daemon).
# Needs, from the script: test_name set to its own (e.g. "deb test") before skip or finish;
# optionally a function cleanup_extra, for cleanup to run at exit.
#
# Functions:
#   skip WHY       prints "<test_name>: skipped: WHY" and exits 77 (ctest: skipped)
#   pass WHAT      prints "ok: WHAT" and counts a passed check
#   fail WHAT      prints "FAILED: WHAT" and counts a failed check
#   finish         prints "<test_name>: N passed, M failed"; exits 0 if none failed (and
#                  some passed), else 1
#   abort WHY      fail WHY, then finish: a failure the rest cannot go on from
#   make_tmp NAME  sets tmp to a new dir /tmp/NAME.XXXXXX (mode 0700) and the traps: cleanup
#                  at exit, exit 1 on SIGINT/SIGTERM
#   cleanup        (the EXIT trap) stops the daemon if it runs, removes the containers of
#                  its instance (label jobman.instance, read from $tmp/state/jobman.db) and
#                  test_images, runs the script's cleanup_extra if it defines one, then
#                  removes $tmp
#   make_rootfs    writes $tmp/rootfs.tar: busybox with applets sh, echo, id and cat, root in
#                  /etc/passwd and /etc/group, an empty /tmp
#   import_image REF NAME VERSION
#                  podman-imports $tmp/rootfs.tar as REF with LABEL name=NAME, LABEL
#                  version=VERSION and ENTRYPOINT ["/bin/sh", "-c"], adding REF to
#                  test_images; aborts "podman import REF" (after the log) if that fails
#   write_config OUT
#                  reads a jobmand config (JSON) on stdin and writes it to OUT with
#                  state_dir $tmp/state and the engine's global_args and run_args set from
#                  global_args and run_args
#   start_daemon COMMAND...
#                  runs COMMAND (a jobmand) in the background, output to $tmp/jobmand.log,
#                  and sets daemon_pid
#   wait_daemon CLIENT SOCKET
#                  waits up to 20 s until `CLIENT --socket SOCKET list` answers: returns 0
#                  then, 1 if the daemon exited first, 2 if it never answered
#   stop_daemon    sends the daemon SIGTERM, waits for it and clears daemon_pid; returns
#                  its exit status

# shellcheck disable=SC2034 # read by the scripts
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
global_args=${JOBMAN_TEST_ENGINE_GLOBAL_ARGS---runtime runc}
run_args=${JOBMAN_TEST_ENGINE_RUN_ARGS---ulimit nofile=1024:1024 --ulimit nproc=1024:1024}
read -ra global_argv <<<"$global_args"
passed=0
failed=0
daemon_pid=
test_images=()
test_name="packaging test"

skip() {
    echo "$test_name: skipped: $*"
    exit 77
}
pass() {
    echo "ok: $*"
    passed=$((passed + 1))
}
fail() {
    echo "FAILED: $*"
    failed=$((failed + 1))
}
finish() {
    echo "$test_name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}
abort() {
    fail "$*"
    finish
}

make_tmp() {
    tmp=$(mktemp -d "/tmp/$1.XXXXXX") || abort "mktemp -d /tmp/$1.XXXXXX"
    trap cleanup EXIT
    trap 'exit 1' INT TERM
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        stop_daemon
    fi
    # Containers of this test's daemon (a job still running after a failure), then its images.
    if [ -f "$tmp/state/jobman.db" ]; then
        local instance
        local -a names
        instance=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT value FROM meta WHERE key = '"'instance'"'").fetchone()[0])' "$tmp/state/jobman.db" 2>/dev/null)
        if [ -n "$instance" ]; then
            mapfile -t names < <(podman "${global_argv[@]}" ps -a --filter "label=jobman.instance=$instance" --format '{{.Names}}' 2>/dev/null)
            [ ${#names[@]} -eq 0 ] || podman "${global_argv[@]}" rm -f "${names[@]}" >/dev/null 2>&1
        fi
    fi
    [ ${#test_images[@]} -eq 0 ] || podman "${global_argv[@]}" rmi -f "${test_images[@]}" >/dev/null 2>&1
    if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
    rm -rf "$tmp"
}

make_rootfs() {
    mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/tmp"
    cp "$(command -v busybox)" "$tmp/rootfs/bin/busybox"
    local applet
    for applet in sh echo id cat; do ln -s busybox "$tmp/rootfs/bin/$applet"; done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$tmp/rootfs/etc/passwd"
    echo 'root:x:0:' >"$tmp/rootfs/etc/group"
    tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
}

import_image() {
    local ref=$1 name=$2 version=$3
    test_images+=("$ref")
    podman "${global_argv[@]}" import -q --change "LABEL name=$name" --change "LABEL version=$version" \
        --change 'ENTRYPOINT ["/bin/sh", "-c"]' "$tmp/rootfs.tar" "$ref" >"$tmp/import.log" 2>&1 \
        || { cat "$tmp/import.log"; abort "podman import $ref"; }
}

write_config() {
    python3 -c '
import json, shlex, sys
out, state, global_args, run_args = sys.argv[1:]
config = json.load(sys.stdin)
config["state_dir"] = state
engine = config.setdefault("engine", {})
engine["global_args"] = shlex.split(global_args)
engine["run_args"] = shlex.split(run_args)
json.dump(config, open(out, "w"), indent=2)
' "$1" "$tmp/state" "$global_args" "$run_args"
}

start_daemon() {
    "$@" >"$tmp/jobmand.log" 2>&1 &
    daemon_pid=$!
}

wait_daemon() {
    local client=$1 socket=$2
    for _ in $(seq 200); do
        kill -0 "$daemon_pid" 2>/dev/null || return 1
        [ -S "$socket" ] && "$client" --socket "$socket" list >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$client" --socket "$socket" list >/dev/null 2>&1 || return 2
}

stop_daemon() {
    local rc=0
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null || rc=$?
    daemon_pid=
    return "$rc"
}
