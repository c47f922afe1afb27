#!/usr/bin/env bash
# The shell completions (completions/) against a real jobmand: commands, flags, and the live
# values the hidden `jobman __complete` fetches (images and versions, job names, flavors,
# states), with the --socket / -s typed on the line or JOBMAN_SOCKET.
#
#   tests/packaging/test_completions.sh BUILD_DIR bash|zsh|fish      (as root: podman)
#
# bash: completions/jobman.bash is sourced in a real bash, _jobman is called with COMP_WORDS,
#       COMP_CWORD, COMP_LINE, COMP_POINT and arguments as bash's readline sets them (':' and
#       '=' are words of their own), and COMPREPLY is compared exactly.
# zsh:  completions/_jobman is autoloaded by compinit in an interactive zsh in a pseudo-
#       terminal (zsh_capture.zsh); the matches compadd gets are compared exactly.
# fish: completions/jobman.fish is sourced, and `complete -C LINE` compared exactly.
# The daemon's catalogue is limited to this test's own images (a repository prefix of its
# own), so other tests' images on the same engine do not show up.
# Exit status: 0 all passed, 1 a check failed, 77 the shell or the engine is missing (skipped).
# Environment: JOBMAN_TEST_ENGINE_GLOBAL_ARGS / JOBMAN_TEST_ENGINE_RUN_ARGS, as for test_deb.sh.
# The set-up it shares with test_deb.sh (helpers, images, jobmand, cleanup) is lib.sh.
set -uo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
build=${1:?usage: test_completions.sh BUILD_DIR bash|zsh|fish}
shell=${2:?usage: test_completions.sh BUILD_DIR bash|zsh|fish}
build=$(cd "$build" && pwd) || exit 1
here=$src/tests/packaging
test_name="$shell completion test"

case $shell in
    bash | zsh | fish) ;;
    *) echo "usage: test_completions.sh BUILD_DIR bash|zsh|fish" >&2; exit 2 ;;
esac
command -v "$shell" >/dev/null || skip "$shell is not installed (apt-get install $shell)"
[ "$(id -u)" -eq 0 ] || skip "must run as root (jobmand and rootful podman)"
for tool in podman busybox python3; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install podman runc busybox-static python3)"
done
jobman=$build/cli/jobman
jobmand=$build/daemon/jobmand
if ! [ -x "$jobman" ] || ! [ -x "$jobmand" ]; then abort "build first: $jobman / $jobmand missing"; fi

repo=localhost/jobman-comptest-$$
make_tmp jobman-comptest
socket=$tmp/jobman.sock

# --- A daemon with two images (three versions), two flavors and two finished jobs -------------
make_rootfs
for image in tool:1.0 tool:2.0 other:0.3; do
    import_image "$repo/$image" "${image%%:*}" "${image#*:}"
done
write_config "$tmp/jobman.json" <<EOF
{
  "socket": {"path": "$socket", "mode": "0600"},
  "engine": {"kind": "podman", "binary": "podman"},
  "images": {"repositories": ["$repo/"]},
  "flavors": [{"name": "small", "cpus": 1, "memory": "256M"}, {"name": "big", "cpus": 2, "memory": "1G"}]
}
EOF
printf '{"socket": "%s"}' "$socket" >"$tmp/settings.json"
start_daemon "$jobmand" --config "$tmp/jobman.json" --foreground
wait_daemon "$jobman" "$socket" || { cat "$tmp/jobmand.log"; abort "jobmand did not start"; }
for job in alpha:tool:1.0 beta:other; do
    "$jobman" --socket "$socket" submit -i "${job#*:}" -j "${job%%:*}" --wait -- true >"$tmp/submit.log" 2>&1 \
        || { cat "$tmp/submit.log" "$tmp/jobmand.log"; abort "submit ${job%%:*}"; }
done
pass "jobmand with images tool:1.0, tool:2.0, other:0.3, flavors small, big and jobs alpha, beta"

# `jobman` on PATH is the one just built.
mkdir -p "$tmp/bin"
ln -s "$jobman" "$tmp/bin/jobman"
export PATH=$tmp/bin:$PATH
unset JOBMAN_SOCKET

# --- One completion, per shell ----------------------------------------------------------------
# complete_bash LINE: COMPREPLY, one per line, for LINE typed with the cursor at its end.
# (The complete_* functions are called as complete_$shell; their scripts in single quotes
# expand their own arguments.)
# shellcheck disable=SC2016,SC2317
complete_bash() {
    timeout 30 bash --norc --noprofile -c '
        source "$1"
        line=$2
        # COMP_WORDS as readline splits the line: at blanks, with ":" and "=" words of their own.
        COMP_WORDS=() word=""
        for ((i = 0; i < ${#line}; i++)); do
            c=${line:i:1}
            case $c in
                " ") [[ -n $word ]] && COMP_WORDS+=("$word"); word="" ;;
                ":" | "=") [[ -n $word ]] && COMP_WORDS+=("$word"); COMP_WORDS+=("$c"); word="" ;;
                *) word+=$c ;;
            esac
        done
        [[ -n $word || $line == *" " ]] && COMP_WORDS+=("$word")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
        COMPREPLY=()
        _jobman "${COMP_WORDS[0]}" "${line##*[ :=]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        [[ ${#COMPREPLY[@]} -eq 0 ]] || printf "%s\n" "${COMPREPLY[@]}"
    ' bash "$src/completions/jobman.bash" "$1"
}
# shellcheck disable=SC2317
complete_zsh() {
    timeout 30 zsh -f "$here/zsh_capture.zsh" "$src/completions" "$1"
}
# shellcheck disable=SC2016,SC2317
complete_fish() {
    timeout 30 fish --no-config -c 'source $argv[1]; complete -C -- $argv[2]' "$src/completions/jobman.fish" "$1" | cut -f1
}

# expect LINE EXPECTED...: the candidates offered for LINE are exactly EXPECTED (any order).
expect() {
    local line=$1 got want errors
    shift
    got=$("complete_$shell" "$line" 2>"$tmp/stderr" | LC_ALL=C sort)
    errors=$(cat "$tmp/stderr")
    want=$([ $# -eq 0 ] || printf '%s\n' "$@" | LC_ALL=C sort)
    if [ "$got" = "$want" ] && [ -z "$errors" ]; then
        pass "'$line' -> ${*:-(nothing)}"
    else
        fail "'$line'"
        echo "    expected: ${want//$'\n'/ }"
        echo "    got:      ${got//$'\n'/ }"
        [ -z "$errors" ] || echo "    stderr:   $errors"
    fi
}

S=$socket
commands=(images image-details resources-flavors queue submit list details logs delete wait resubmit hold release stats cleanup)
states=(QUEUED STARTING RUNNING SUCCEEDED FAILED CANCELLED TIMEOUT OOM_KILLED LOST)

# Commands and flags.
expect "jobman sub" submit
expect "jobman " "${commands[@]}"
expect "jobman --json l" list logs
expect "jobman -" -h --help -s --settings --socket --json -v --version
expect "jobman --socket $S logs -" -h --help -j --job --job-name -f --follow --tail
expect "jobman --socket $S delete -" -h --help -j --job --job-name --all
expect "jobman --socket $S list --" --help --all-users --state --limit --before --array
expect "jobman --socket $S submit --d" --dry-run
expect "jobman --socket $S submit --p" --priority
expect "jobman --socket $S submit --r" --resources-flavor --retries
expect "jobman --socket $S resubmit -j " alpha beta
expect "jobman --socket $S release -j a" alpha
expect "jobman --socket $S submit --h" --help --hold
expect "jobman --socket $S submit --ar" --array
expect "jobman --socket $S submit --no" --notify
expect "jobman --socket $S submit --notify " END FAIL TIMEOUT ALL NONE
expect "jobman --socket $S submit --notify F" FAIL
expect "jobman --socket $S resubmit --l" --latest-image
expect "jobman --socket $S resubmit -j alpha -r " big small
expect "jobman --socket $S stats --" --help --since --until --user --by
expect "jobman --socket $S stats --by " user flavor image state
expect "jobman --socket $S stats --by f" flavor
expect "jobman --socket $S stats --since " # a time: nothing to offer
expect "jobman --socket $S cleanup --" --help --older-than --dry-run
expect "jobman --socket $S queue --" --help
expect "jobman --socket $S submit -j " # a new name: nothing to offer
# Live values: images and versions, flavors, your jobs, states.
expect "jobman --socket $S submit -i " other other:0.3 tool tool:1.0 tool:2.0
expect "jobman --socket $S submit -i to" tool tool:1.0 tool:2.0
expect "jobman --socket $S image-details -i o" other other:0.3
expect "jobman --socket $S submit -i tool -r " big small
expect "jobman --socket $S logs -j " alpha beta
expect "jobman --socket $S wait -j a" alpha
expect "jobman --socket $S details --job b" beta
expect "jobman --socket $S logs --job-name a" alpha
expect "jobman --socket $S delete -j " alpha beta
expect "jobman --socket $S submit -i tool --after " alpha beta
expect "jobman --socket $S list --state " "${states[@]}"
# The socket: --socket=PATH, a settings file, JOBMAN_SOCKET, the command typed as a path.
expect "jobman --socket=$S submit --resources-flavor s" small
expect "jobman -s $tmp/settings.json logs -j " alpha beta
JOBMAN_SOCKET=$S expect "jobman logs -j " alpha beta
PATH=${PATH#"$tmp/bin:"} expect "$jobman --socket $S submit -r b" big
# Quiet when jobmand cannot be reached.
expect "jobman --socket $tmp/nonexistent.sock logs -j "
JOBMAN_SOCKET=$tmp/nonexistent.sock expect "jobman submit -i "
# Files: after `--` (the job's arguments) and for --socket.
expect "jobman --socket $S submit -i tool -- $tmp/rootfs.t" "$tmp/rootfs.tar"
expect "jobman --socket $tmp/jobman.so" "$tmp/jobman.sock"
# ':' and '=' inside a word: bash's readline completes only the part after them.
case $shell in
    bash)
        expect "jobman --socket $S submit -i tool:" 1.0 2.0
        expect "jobman --socket $S submit -i tool:2" 2.0
        expect "jobman --socket $S submit --image=tool:1" 1.0
        expect "jobman --socket $S list --state=R" RUNNING
        expect "jobman --socket $S list --state=" "${states[@]}"
        ;;
    zsh | fish)
        expect "jobman --socket $S submit -i tool:" tool:1.0 tool:2.0
        expect "jobman --socket $S submit --image=tool:1" --image=tool:1.0
        expect "jobman --socket $S list --state=R" --state=RUNNING
        ;;
esac

# Loading: the ways each shell picks the file up.
case $shell in
    bash)
        # As bash-completion's loader would: by command name, with no other completion loaded.
        out=$(bash --norc --noprofile -c 'source "$1" && complete -p jobman' bash "$src/completions/jobman.bash" 2>&1)
        if [ "$out" = "complete -F _jobman jobman" ]; then pass "bash: sourcing registers _jobman"; else fail "bash: sourcing: $out"; fi
        # Without COMP_LINE (words given as they are), e.g. a caller that sets only COMP_WORDS.
        out=$(bash --norc --noprofile -c 'source "$1"; COMP_WORDS=(jobman sub); COMP_CWORD=1; _jobman; echo "${COMPREPLY[*]}"' \
            bash "$src/completions/jobman.bash" 2>&1)
        if [ "$out" = submit ]; then pass "bash: COMP_WORDS=(jobman sub) without COMP_LINE -> submit"; else fail "bash: without COMP_LINE: $out"; fi
        if [ -f /usr/share/bash-completion/bash_completion ]; then
            out=$(bash --norc --noprofile -c 'source /usr/share/bash-completion/bash_completion; source "$1"; COMP_WORDS=(jobman --socket "$2" logs -j ""); COMP_CWORD=5; _jobman; echo "${COMPREPLY[*]}"' \
                bash "$src/completions/jobman.bash" "$S" 2>&1)
            if [ "$out" = "beta alpha" ]; then pass "bash: with the bash-completion package loaded too"; else fail "bash: with bash-completion: $out"; fi
        fi
        ;;
    zsh)
        out=$(zsh -f -c 'autoload -U compinit; compinit -u -D; source "$1" && echo $_comps[jobman]' zsh "$src/completions/_jobman" 2>&1)
        if [ "$out" = _jobman ]; then pass "zsh: sourcing after compinit registers _jobman"; else fail "zsh: source: $out"; fi
        out=$(zsh -f -c 'fpath=("$1" $fpath); autoload -U compinit; compinit -u -D; echo $_comps[jobman]' zsh "$src/completions" 2>&1)
        if [ "$out" = _jobman ]; then pass "zsh: compinit finds _jobman on \$fpath"; else fail "zsh: fpath: $out"; fi
        ;;
    fish)
        if out=$(fish -n "$src/completions/jobman.fish" 2>&1); then pass "fish -n: no syntax error"; else fail "fish -n: $out"; fi
        ;;
esac

rc=0
stop_daemon || rc=$?
if [ "$rc" -eq 0 ]; then pass "jobmand stopped cleanly"; else fail "jobmand exited $rc"; fi
finish
