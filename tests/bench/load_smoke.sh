#!/usr/bin/env bash
# bench/load.py at a tiny size against this build, to show it still runs (ctest bench.load):
# figures are printed, never checked. It runs the CLI as a normal user, so the binaries are
# copied to a world-readable temp dir first (a build dir under /root is not).
# Usage: tests/bench/load_smoke.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source_dir=$2
bin=$(mktemp -d /tmp/jobman-bench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
chmod 755 "$bin"
mkdir -p "$bin/cli" "$bin/daemon"
install -m 755 "$build/cli/jobman" "$bin/cli/jobman"
install -m 755 "$build/daemon/jobmand" "$bin/daemon/jobmand"
JOBMAN_BUILD_DIR=$bin LOAD_CLIENTS=4 LOAD_SUBMITS=25 LOAD_LORIS=4 /usr/bin/python3 "$source_dir/bench/load.py"
