#!/usr/bin/env bash
# bench/history.sh at a tiny size against this build, to show it still runs (ctest
# bench.history): figures are printed, never checked. history.sh runs the CLI as a normal
# user, so the binaries are copied to a world-readable temp dir first (a build dir under
# /root is not). Usage: tests/bench/history_smoke.sh BUILD_DIR SOURCE_DIR
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
JOBMAN_BUILD_DIR=$bin JOBMAN_SOURCE_DIR=$source_dir HISTORY_JOBS=2000 HISTORY_REPS=3 HISTORY_SLOW_REPS=2 HISTORY_IDLE_SECONDS=1 \
  "$source_dir/bench/history.sh"
