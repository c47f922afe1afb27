#!/usr/bin/env bash
# The main job end to end: builds jobman, starts jobmand on a temporary socket and state
# dir, builds a small labelled demo image, submits a job, waits for it, prints its logs
# and details, and stops the daemon. As root (jobmand is a root daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
# Quiet unless it fails: then its last lines say why (a compile error, a package apt refused).
if ! setup_output=$(scripts/setup.sh build 2>&1); then
  printf '%s\n' "$setup_output" | tail -40 >&2
  echo "demo: scripts/setup.sh failed" >&2
  exit 1
fi
bin=$PWD/build

work=$(mktemp -d /tmp/jobman-demo.XXXXXX)
chmod 755 "$work"
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Engine arguments for this machine; the defaults suit podman on hybrid cgroup v1 hosts.
global_args=${JOBMAN_DEMO_GLOBAL_ARGS:---runtime runc}
run_args=${JOBMAN_DEMO_RUN_ARGS:---ulimit nofile=1024:1024 --ulimit nproc=1024:1024}
json_list() { python3 -c 'import json,shlex,sys; print(json.dumps(shlex.split(sys.argv[1])))' "$1"; }

echo "== building the demo image localhost/jobman-demo:1.0 (busybox, LABEL name=demo version=1.0)"
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in sh echo cat id ls sleep date uname hostname ip; do ln -s busybox "$work/rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
# shellcheck disable=SC2086
podman $global_args import -q \
  --change 'LABEL name=demo' --change 'LABEL version=1.0' \
  --change 'LABEL description=busybox demo: runs a shell command' \
  --change 'ENTRYPOINT ["/bin/sh", "-c"]' "$work/rootfs.tar" localhost/jobman-demo:1.0 >/dev/null

cat > "$work/jobman.json" <<JSON
{
  "socket": {"path": "$work/jobman.sock", "mode": "0666"},
  "state_dir": "$work/state",
  "engine": {"kind": "podman", "binary": "podman",
             "global_args": $(json_list "$global_args"), "run_args": $(json_list "$run_args")},
  "images": {"repositories": ["localhost/"], "required_labels": ["name", "version"]}
}
JSON
echo "== starting jobmand on $work/jobman.sock"
"$bin/daemon/jobmand" --config "$work/jobman.json" --foreground 2>"$work/jobmand.log" &
daemon_pid=$!
export JOBMAN_SOCKET=$work/jobman.sock
for _ in $(seq 100); do "$bin/cli/jobman" list >/dev/null 2>&1 && break; sleep 0.1; done

run() { echo "\$ jobman $*"; "$bin/cli/jobman" "$@"; }
run images
run submit -i demo -j hello --wait -- 'echo "hello from $(hostname), uid $(id -u)"; ls /sys/class/net; echo "job $JOBMAN_JOB_ID done"'
run logs -j hello
run details -j hello
run list
echo "== jobmand's log"
cat "$work/jobmand.log"
