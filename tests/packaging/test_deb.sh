#!/usr/bin/env bash
# End-to-end test of the Debian package: builds it with cpack in BUILD_DIR, installs it with
# dpkg, checks its files, groups and directories, starts /usr/sbin/jobmand exactly as
# jobmand.service's ExecStart (no systemd needed), runs a real podman job through
# /usr/bin/jobman, then removes and purges the package and checks nothing is left behind.
#
#   tests/packaging/test_deb.sh BUILD_DIR        as root; installs and purges `jobman`
#
# Environment: JOBMAN_TEST_ENGINE_GLOBAL_ARGS / JOBMAN_TEST_ENGINE_RUN_ARGS, the engine args
# this machine needs (default: `--runtime runc` and explicit nofile/nproc ulimits, as in the
# integration tests); they go into a copy of the installed config, since the packaged one
# carries none. Exit status: 0 all passed, 1 a check failed, 77 cannot run here (skipped).
# The set-up it shares with test_completions.sh (helpers, images, jobmand, cleanup) is lib.sh.
# shellcheck disable=SC2016 # the checks' `sh -c` scripts expand their own "$1", "$2"
set -uo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
test_name="deb test"
build=${1:?usage: test_deb.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 1
export DEBIAN_FRONTEND=noninteractive

# check DESCRIPTION COMMAND...: one check; the command's output is shown if it fails.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$what"; else fail "$what"; [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'; fi
}

[ "$(id -u)" -eq 0 ] || skip "must run as root (it installs the package)"
for tool in dpkg dpkg-deb dpkg-shlibdeps cpack podman busybox python3 setpriv; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install dpkg-dev podman runc busybox-static python3 util-linux)"
done
if dpkg-query -W -f='${Status}' jobman 2>/dev/null | grep -q 'ok installed'; then
    skip "a jobman package is already installed on this machine; this test installs and purges it (dpkg -P jobman first)"
fi

tag=jobman-debtest-$$
image=localhost/$tag:1.0
installed=0
created_groups=()
for group in jobman jobman-admin; do getent group "$group" >/dev/null || created_groups+=("$group"); done
user=jobman-debtest
created_user=0
# At exit, once lib.sh's cleanup has stopped jobmand and removed its containers and the image:
# the package, and the user and groups this test created.
# shellcheck disable=SC2317 # called by cleanup
cleanup_extra() {
    if [ "$installed" -eq 1 ] && dpkg-query -W -f='${Status}' jobman 2>/dev/null | grep -qv 'not-installed'; then
        dpkg -P jobman >/dev/null 2>&1
    fi
    [ "$created_user" -eq 1 ] && userdel "$user" >/dev/null 2>&1
    for group in "${created_groups[@]}"; do getent group "$group" >/dev/null && groupdel "$group" >/dev/null 2>&1; done
}
make_tmp jobman-debtest
chmod 0755 "$tmp" # the test user must reach the socket

# --- Build the package ------------------------------------------------------------------
echo "building in $build"
# What the package holds (cpack installs, it does not build).
cmake --build "$build" --target jobman jobmand jobman_compressed_docs >"$tmp/build.log" 2>&1 \
    || { tail -30 "$tmp/build.log"; abort "cmake --build $build"; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || abort "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
deb=$build/jobman_${version}_$(dpkg --print-architecture).deb
rm -f "$deb"
(cd "$build" && cpack -G DEB) >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; abort "cpack -G DEB"; }
[ -f "$deb" ] || { cat "$tmp/cpack.log"; abort "cpack did not write $deb"; }
pass "cpack wrote $(basename "$deb")"

field() { dpkg-deb -f "$deb" "$1"; }
check "Package: jobman" test "$(field Package)" = jobman
check "Version: $version" test "$(field Version)" = "$version"
check "Section: admin" test "$(field Section)" = admin
check "Depends has podman | docker.io, catatonit | tini, adduser and shared libraries ($(field Depends))" \
    sh -c 'echo "$1" | grep -q "podman | docker.io" && echo "$1" | grep -q "catatonit | tini" && echo "$1" | grep -q adduser &&
           echo "$1" | grep -q "libc6 ("' sh "$(field Depends)"
check "Recommends runc ($(field Recommends))" test "$(field Recommends)" = runc
dpkg-deb -e "$deb" "$tmp/control"
check "conffiles: /etc/jobman/jobman.json and /etc/cron.d/jobman" \
    diff <(sort "$tmp/control/conffiles") <(printf '%s\n' /etc/cron.d/jobman /etc/jobman/jobman.json)
check "maintainer scripts are executable" test -x "$tmp/control/postinst" -a -x "$tmp/control/prerm" -a -x "$tmp/control/postrm"

# --- Install ------------------------------------------------------------------------------
installed=1
dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log"; abort "dpkg -i $(basename "$deb")"; }
pass "dpkg -i"
check "dpkg says installed" sh -c 'dpkg-query -W -f="\${Status}" jobman | grep -q "install ok installed"'

files=(
    /usr/bin/jobman /usr/sbin/jobmand /etc/jobman/jobman.json /etc/cron.d/jobman
    /lib/systemd/system/jobmand.service /lib/systemd/system/jobman-cleanup.service
    /lib/systemd/system/jobman-cleanup.timer /usr/lib/tmpfiles.d/jobman.conf
    /usr/share/bash-completion/completions/jobman /usr/share/zsh/vendor-completions/_jobman
    /usr/share/fish/vendor_completions.d/jobman.fish
    /usr/share/doc/jobman/copyright /usr/share/doc/jobman/changelog.gz
    /usr/share/doc/jobman/examples/chaimeleon.json
    /usr/lib/jobman/slurm-epilog /usr/share/doc/jobman/slurm.md /usr/share/doc/jobman/kubernetes.md
)
for page in "$src"/man/*.[1-8]; do
    [ -e "$page" ] || continue
    name=$(basename "$page")
    files+=("/usr/share/man/man${name##*.}/$name.gz")
done
for file in "${files[@]}"; do check "installed $file" test -f "$file"; done
check "jobman --version" test "$(/usr/bin/jobman --version)" = "jobman version '$version'"
check "jobmand --version" test "$(/usr/sbin/jobmand --version)" = "jobmand $version"
check "the default config is valid (jobmand --check-config)" /usr/sbin/jobmand --config /etc/jobman/jobman.json --check-config
check "postinst created the groups jobman and jobman-admin" sh -c 'getent group jobman && getent group jobman-admin'
check "/var/lib/jobman is 0700 root" test "$(stat -c '%a %U' /var/lib/jobman 2>&1)" = "700 root"
check "/run/jobman exists" test -d /run/jobman
check "jobmand.service is enabled" test -L /etc/systemd/system/multi-user.target.wants/jobmand.service
check "the cron file runs jobman cleanup as root" grep -Eq '^[0-9*].* root .*/usr/bin/jobman cleanup' /etc/cron.d/jobman
if [ -d /run/systemd/system ]; then
    check "systemd started jobmand.service" systemctl is-active --quiet jobmand.service
fi

# --- Run jobmand as the unit does -----------------------------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/jobmand.service)
read -ra argv <<<"$exec_start"
check "ExecStart is /usr/sbin/jobmand --config /etc/jobman/jobman.json --foreground" \
    test "$exec_start" = "/usr/sbin/jobmand --config /etc/jobman/jobman.json --foreground"
check "KillMode=process (jobs' run clients survive a stop or restart)" grep -qx 'KillMode=process' /lib/systemd/system/jobmand.service
# The installed config, with this machine's engine args and a state dir of our own.
write_config "$tmp/jobman.json" </etc/jobman/jobman.json || abort "writing the test config"
for ((i = 0; i < ${#argv[@]}; i++)); do
    [ "${argv[i]}" = --config ] && argv[i + 1]=$tmp/jobman.json
done
socket=$tmp/jobman.sock
JOBMAN_SOCKET=$socket start_daemon "${argv[@]}"
rc=0
wait_daemon /usr/bin/jobman "$socket" || rc=$?
case $rc in
    1) cat "$tmp/jobmand.log"; abort "jobmand exited at start" ;;
    2) cat "$tmp/jobmand.log"; abort "jobmand did not answer within 20 s" ;;
esac
pass "jobmand started as ExecStart and answers"
check "the socket is 0660, group jobman" test "$(stat -c '%a %G' "$socket")" = "660 jobman"

# A tiny busybox image in the catalogue.
make_rootfs
import_image "$image" "$tag" 1.0
check "jobman images lists $tag" sh -c '/usr/bin/jobman --socket "$1" images | grep -qw -- "$2"' sh "$socket" "$tag"
check "jobman resources-flavors lists the default flavor" sh -c '/usr/bin/jobman --socket "$1" resources-flavors | grep -qw default' sh "$socket"

# A member of group jobman may submit; the job runs with their uid.
if ! id "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user" && created_user=1
fi
usermod -a -G jobman "$user"
as_user() { setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups /usr/bin/jobman --socket "$socket" "$@"; }
if out=$(as_user submit -i "$tag" -j debjob --wait -- 'echo hello from the package; id -u' 2>&1); then
    pass "submit --wait as a member of group jobman"
else
    fail "submit --wait as a member of group jobman"
    printf '%s\n' "$out" | sed 's/^/    /'
fi
logs=$(as_user logs -j debjob 2>&1)
check "the job's log has its output and the user's uid" \
    test "$logs" = "hello from the package"$'\n'"$(id -u "$user")"
check "root sees the job as SUCCEEDED" sh -c '/usr/bin/jobman --socket "$1" list --all-users | grep debjob | grep -q SUCCEEDED' sh "$socket"
nobody_out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/jobman --socket "$socket" list 2>&1)
nobody_rc=$?
check "a user outside group jobman cannot use the socket (exit 5: $nobody_out)" test "$nobody_rc" -eq 5

rc=0
stop_daemon || rc=$?
check "jobmand stopped cleanly on SIGTERM" test "$rc" -eq 0
check "jobmand logged no internal error" sh -c '! grep -qi "internal error" "$1"' sh "$tmp/jobmand.log"

# --- Remove, then purge --------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' >"$tmp/package-files"
mkdir -p /var/lib/jobman/logs && echo keep >/var/lib/jobman/logs/marker
dpkg -r jobman >"$tmp/dpkg-r.log" 2>&1 || { cat "$tmp/dpkg-r.log"; abort "dpkg -r jobman"; }
pass "dpkg -r jobman"
check "dpkg -r printed no warning" sh -c '! grep -Ei "warning|error" "$1"' sh "$tmp/dpkg-r.log"
check "only the conffiles are left" sh -c '
    while read -r f; do
        case $f in /etc/jobman/jobman.json|/etc/cron.d/jobman) test -e "$f" || { echo "conffile $f is gone"; exit 1; } ;;
                   *) test ! -e "$f" || { echo "$f is still there"; exit 1; } ;; esac
    done <"$1"' sh "$tmp/package-files"
check "dpkg keeps the config (config-files)" sh -c 'dpkg-query -W -f="\${Status}" jobman | grep -q "config-files"'
check "remove keeps /var/lib/jobman" test -f /var/lib/jobman/logs/marker
dpkg -P jobman >"$tmp/dpkg-p.log" 2>&1 || { cat "$tmp/dpkg-p.log"; abort "dpkg -P jobman"; }
pass "dpkg -P jobman"
check "dpkg -P printed no warning" sh -c '! grep -Ei "warning|error" "$1"' sh "$tmp/dpkg-p.log"
check "dpkg no longer knows jobman" sh -c '! dpkg-query -W -f="\${Status}" jobman 2>/dev/null | grep -q installed'
check "purge removed /etc/jobman, /etc/cron.d/jobman and /var/lib/jobman" \
    sh -c '! test -e /etc/jobman && ! test -e /etc/cron.d/jobman && ! test -e /var/lib/jobman'
check "no systemd links are left" sh -c 'test -z "$(find /etc/systemd/system -name "*jobman*" 2>/dev/null)"'
check "dpkg --audit is clean" sh -c 'test -z "$(dpkg --audit 2>&1)"'

# --- lintian (when installed; not for sanitizer builds) -------------------------------------
if ! command -v lintian >/dev/null; then
    echo "note: lintian is not installed; the lintian check is skipped (apt-get install lintian)"
elif grep -q '^JOBMAN_ENABLE_SANITIZERS:BOOL=ON' "$build/CMakeCache.txt"; then
    echo "note: sanitizer build; the lintian check is skipped"
else
    check "lintian: no errors or warnings" lintian --fail-on error,warning "$deb"
fi
finish
