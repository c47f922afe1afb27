#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, Debian's clang) in build-fuzz and runs each, one at a
# time, from its committed corpus in fuzz/corpus/<target>/ (docs/fuzzing.md).
# Usage: scripts/fuzz.sh [--time SECONDS | --runs N] [--keep] [TARGET...]   (as root, if packages are missing)
#   --time S  each target runs for S seconds (-max_total_time); default $JOBMAN_FUZZ_TIME, else 30
#   --runs N  each target runs N inputs instead (-runs): the long run is --runs 10000000
#   --keep    keep the working directory (new corpus entries, logs) after a clean run
#   TARGET    fuzz_request, fuzz_config, fuzz_duration, fuzz_size, fuzz_image_ref (default: all)
# New inputs go to a temporary working corpus, and crash-*/timeout-*/oom-* files to its
# artifacts/ folder, never into the tree. Exits 1 if any target found a problem.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_request fuzz_config fuzz_duration fuzz_size fuzz_image_ref)
seconds=${JOBMAN_FUZZ_TIME:-30}
runs=""
keep=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds=$2; runs=""; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "fuzz: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

packages=(
  # the fuzz build: clang and its libFuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
  # what jobman builds with (as scripts/setup.sh); g++ brings the libstdc++ clang uses
  g++ cmake ninja-build pkg-config
  libcli11-dev libboost1.81-dev libsqlitecpp-dev nlohmann-json3-dev libfmt-dev
)
. scripts/packages.sh
install_missing fuzz "${packages[@]}"

build_dir=${JOBMAN_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build_dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DJOBMAN_BUILD_FUZZERS=ON -DJOBMAN_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build_dir" jobman_fuzzers || { echo "fuzz: the build failed" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/jobman-fuzz.XXXXXX")
if [ -n "$runs" ]; then limit=(-runs="$runs"); else limit=(-max_total_time="$seconds"); fi
echo "fuzz: ${limit[*]} per target; working corpus, logs and artifacts in $work"
failed=()
for t in "${targets[@]}"; do
  binary="$build_dir/fuzz/$t"
  [ -x "$binary" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  # New inputs land in the first corpus dir only: the committed one is only read.
  command=("$binary" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
           -artifact_prefix="$work/artifacts/$t/" "${dict[@]}" "$work/corpus/$t" "fuzz/corpus/$t")
  echo "$ ${command[*]}" >"$work/$t.log"
  started=$(date +%s)
  status=0
  "${command[@]}" >>"$work/$t.log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - started ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$work/$t.log" | tail -1 || true)
  if [ "$status" -eq 0 ]; then verdict=ok; else verdict="FAILED (exit $status)"; failed+=("$t"); fi
  echo "fuzz: $t: $verdict: ${execs:-?} execs in ${elapsed} s (${rate:-?} exec/s), ${cov:-no stats}"
  if [ "$status" -ne 0 ]; then
    { grep -E 'ERROR|SUMMARY|property broken|Test unit written|No such file' "$work/$t.log" || true; } | head -5 | sed 's/^/fuzz:   /'
    echo "fuzz:   full log $work/$t.log; reproduce with $binary <artifact>"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) found problems: ${failed[*]}; inputs in $work/artifacts/" >&2
  exit 1
fi
if [ "$keep" -eq 1 ]; then echo "fuzz: kept $work"; else rm -rf "$work"; fi
