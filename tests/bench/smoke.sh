#!/usr/bin/env bash
# A bench script at a tiny size against this build, to show it still runs (ctest
# bench.history, bench.load, bench.mount_stall, bench.home_copy, bench.logs_follow, bench.submit_rate, bench.slurm): figures are printed, never checked. The scripts run the CLI
# as a normal user, so the binaries are copied to a world-readable temp dir first (a build
# dir under /root is not). Usage: tests/bench/smoke.sh BUILD_DIR SOURCE_DIR history|load|mount_stall|home_copy|logs_follow|submit_rate|slurm
set -euo pipefail
build=$1
source_dir=$2
bin=$(mktemp -d /tmp/jobman-bench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
chmod 755 "$bin"
mkdir -p "$bin/cli" "$bin/daemon"
install -m 755 "$build/cli/jobman" "$bin/cli/jobman"
install -m 755 "$build/daemon/jobmand" "$bin/daemon/jobmand"
cp "$build/CMakeCache.txt" "$bin/" 2>/dev/null || true
case $3 in
  history)
    JOBMAN_BUILD_DIR=$bin JOBMAN_SOURCE_DIR=$source_dir HISTORY_JOBS=2000 HISTORY_REPS=3 HISTORY_SLOW_REPS=2 HISTORY_IDLE_SECONDS=1 \
      "$source_dir/bench/history.sh" ;;
  load)
    JOBMAN_BUILD_DIR=$bin LOAD_CLIENTS=4 LOAD_SUBMITS=25 LOAD_LORIS=4 /usr/bin/python3 "$source_dir/bench/load.py" ;;
  mount_stall)
    JOBMAN_BUILD_DIR=$bin MOUNT_STALL_CLIENTS=2 MOUNT_STALL_SECONDS=6 /usr/bin/python3 "$source_dir/bench/mount_stall.py" ;;
  logs_follow)
    JOBMAN_BUILD_DIR=$bin LOGS_FOLLOW_LINES=20 LOGS_FOLLOW_IDLE_FOLLOWERS=2 LOGS_FOLLOW_IDLE_SECONDS=1 /usr/bin/python3 "$source_dir/bench/logs_follow.py" ;;
  submit_rate)
    JOBMAN_BUILD_DIR=$bin SUBMIT_CLIENTS=4 SUBMIT_PER_CLIENT=25 SUBMIT_PROCESSES=20 SUBMIT_KILL_AFTER=0.3 /usr/bin/python3 "$source_dir/bench/submit_rate.py" ;;
  home_copy)
    JOBMAN_BUILD_DIR=$bin HOME_COPY_RUNS=1 HOME_COPY_MB=2 /usr/bin/python3 "$source_dir/bench/home_copy.py" ;;
  slurm)
    # The test cluster: stopped again if it was not running before.
    eval "$("$source_dir/tests/slurm/cluster.sh" env)"
    was_up=0
    scontrol ping 2>/dev/null | grep -q 'is UP' && was_up=1
    rc=0
    JOBMAN_BUILD_DIR=$bin SLURM_BENCH_RUNS=1 SLURM_BENCH_JOBS=3 SLURM_BENCH_PENDING=20 /usr/bin/python3 "$source_dir/bench/slurm.py" || rc=$?
    [ "$was_up" = 1 ] || "$source_dir/tests/slurm/cluster.sh" stop
    exit "$rc" ;;
  *) echo "smoke: unknown bench '$3' (history, load, mount_stall, home_copy, logs_follow, submit_rate, slurm)" >&2; exit 2 ;;
esac
