#!/usr/bin/env bash
# Everything CI runs, in order (.ci/run runs this in a freshly debootstrapped root):
#   1. the README's two commands: scripts/demo.sh, then scripts/test.sh (build/);
#   2. the whole suite again, built with ASan+UBSan (build-asan/, JOBMAN_SANITIZE=1), but for
#      the .deb and the shell completions (no daemon code: the package's files, the shells'
#      scripts), the docker run of the end-to-end suite (the same daemon code as the podman
#      run but for the engine's name and flags, which unit tests check) and, on Slurm, all
#      but test_slurm.py (the rest is the podman run's daemon code), and the bench smoke
#      runs (they check that the scripts run; under ASan they measure nothing): leaving them
#      out keeps CI near 45 minutes;
#   3. every libFuzzer target for JOBMAN_FUZZ_TIME seconds (default 30) from its committed
#      corpus (scripts/fuzz.sh, build-fuzz/).
# Each step installs what it needs from Debian's mirror. Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "ci: $* ($(date -u +%H:%M:%S))"; }
step "demo"
scripts/demo.sh
step "tests"
scripts/test.sh
step "tests under ASan+UBSan"
JOBMAN_SANITIZE=1 JOBMAN_CTEST_EXCLUDE='^(packaging|completions|bench)\.|^integration\.docker$' JOBMAN_SLURM_SUITE=test_slurm.py scripts/test.sh
step "fuzzing, ${JOBMAN_FUZZ_TIME:-30} s per target"
scripts/fuzz.sh
step "done"
