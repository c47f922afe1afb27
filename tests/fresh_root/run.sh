#!/usr/bin/env bash
# Runs the README's two commands (scripts/demo.sh, scripts/test.sh) in a freshly
# debootstrapped Debian bookworm root, so that a package only this machine happens to have
# fails here. As root. Usage: tests/fresh_root/run.sh [COMMAND...]
#   default COMMAND: the README's two commands, one after the other
#   JOBMAN_FRESH_ROOT_KEEP=1   leave the root in place (its path is printed) for a look
# The root is a bind mount of itself (podman wants its storage on a mount point) with /proc,
# /sys and /dev from the host and a tmpfs /run; everything is unmounted, deepest first, and
# removed on exit, whatever happened.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh_root: run as root (debootstrap and chroot)" >&2; exit 1; }

log() { echo "fresh_root: $*"; }
started=$SECONDS

# The mirror this machine's apt uses (deb822 .sources or one-line sources.list).
mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
                             /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

root=$(mktemp -d /var/tmp/jobman-fresh-root.XXXXXX)
chmod 755 "$root" # mktemp makes it 0700: the root of a system, users and _apt must traverse it
cleanup() {
  local rc=$?
  set +e
  if [ "${JOBMAN_FRESH_ROOT_KEEP:-0}" = 1 ]; then
    log "kept $root (unmount with: findmnt -R -l -n -o TARGET $root | sort -r | xargs -r -n1 umount -l)"
    exit "$rc"
  fi
  # Processes still running in the root (a container's conmon, a private dockerd) hold its mounts.
  for attempt in 1 2 3; do
    pids=()
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
    done
    [ ${#pids[@]} -eq 0 ] && break
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 1
  done
  # Deepest first; the root's own bind mount last. /sys and /dev are rslave, so nothing
  # unmounted here reaches the host's.
  findmnt -R -l -n -o TARGET "$root" 2>/dev/null | sort -r | while read -r target; do
    umount "$target" 2>/dev/null || umount -l "$target"
  done
  if [ -n "$(findmnt -R -l -n -o TARGET "$root" 2>/dev/null)" ]; then
    log "mounts remain under $root; not removing it" >&2
  else
    rm -rf --one-file-system "$root"
  fi
  log "done in $((SECONDS - started)) s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP # a killed run cleans up too

log "debootstrap --variant=minbase bookworm $root $(mirror)"
debootstrap --variant=minbase bookworm "$root" "$(mirror)" >"$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log" >&2; rm -f "$root.debootstrap.log"; exit 1; }
rm -f "$root.debootstrap.log"
log "root ready after $((SECONDS - started)) s"

# apt as this machine has it: the same sources and the same Acquire settings (no hooks).
rm -f "$root/etc/apt/sources.list"
cp /etc/apt/sources.list "$root/etc/apt/" 2>/dev/null || true
cp /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list "$root/etc/apt/sources.list.d/" 2>/dev/null || true
for f in /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && ! grep -q 'Invoke' "$f" && [ ! -e "$root/etc/apt/apt.conf.d/${f##*/}" ] && cp "$f" "$root/etc/apt/apt.conf.d/"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No init system in a chroot: packages must not start their services (docker.io would
# start a dockerd here). Debian's own chroot and container images do the same.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

mount --bind "$root" "$root"
mount --make-private "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount -t tmpfs -o mode=755 tmpfs "$root/run"

# The checkout as it is (a clean clone in CI), without build outputs.
mkdir -p "$root/root/jobman"
tar -C "$repo" --exclude='./build*' --exclude='./.cache' -cf - . | tar -C "$root/root/jobman" -xf -

if [ $# -eq 0 ]; then
  set -- bash -c 'scripts/demo.sh && scripts/test.sh'
fi
log "running in the fresh root: $*"
chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  LANG=C.UTF-8 TERM=dumb CI="${CI:-}" bash -c 'cd /root/jobman && exec "$@"' bash "$@"
