#!/usr/bin/env bash
# integration.slurm: starts the test cluster (cluster.sh), runs the end-to-end suite with
# JOBMAN_TEST_BACKEND=slurm on podman, stops the cluster. Exit 77 (ctest: skipped) without
# root, as the engine suites; a cluster that does not start fails.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
  echo "integration.slurm: needs root (it starts slurmctld and slurmd, and creates users)" >&2
  exit 77
fi
here=$(pwd)
./cluster.sh start
eval "$(./cluster.sh env)"
trap '"$here/cluster.sh" stop' EXIT
cd ../integration
# JOBMAN_SLURM_SUITE: which test files (default: all of them; CI's ASan pass runs test_slurm.py).
# shellcheck disable=SC2086
JOBMAN_TEST_BACKEND=slurm JOBMAN_TEST_ENGINE=podman "${PYTHON3:-/usr/bin/python3}" -m pytest -q -p no:cacheprovider ${JOBMAN_SLURM_SUITE:-.}
