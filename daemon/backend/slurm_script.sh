#!/bin/bash
# jobman's Slurm batch script, written by jobmand into its state directory; it holds no
# user text. Runs, as root on the node, one job's engine command from the file jobmand
# wrote next to it (doc/slurm.md):
#   job.sh SPEC RESULT NAME LIMIT GRACE STAGE HELPER ENV
# SPEC holds NUL-terminated words: P (how many words the engine's binary and global args
# take), L (where the Slurm job label goes), G (the index of the GPU placeholder, or -1),
# the engine kind, then the engine command itself. No word is ever parsed by this shell;
# each is passed on as it is. The container is stopped when the job gets TERM (scancel,
# Slurm's time limit, a node shutting down) and when LIMIT seconds have passed (jobman's
# exact timer: Slurm checks its own limits on a ~30 s sweep). The Epilog removes what a
# SIGKILL leaves. RESULT gets the container's exit, OOM and start as key=value lines, and
# what it used (peak memory, CPU time) when HELPER could sample its cgroup.
# STAGE ("-": none) is the plan of the job's mounts on this node: HELPER (jobmand) opens them
# again as the user, pins them under /run/jobman/slurm/NAME before the container starts, and
# removes them after (daemon/mounts/node_plan.hpp).
# ENV ("-": none) holds the platform's variables, whose values are never in an argv: the
# engine command names them (--env=NAME), and HELPER --node-exec runs it with ENV's values in
# its environment (this shell never holds them: bash would mangle RANDOM, SECONDS and such).
set -u
# wait -n -p (below) is bash 5.1's
if [ "${BASH_VERSINFO[0]:-0}" -lt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
  echo "Error: jobman on node ${SLURMD_NODENAME:-?}: the batch script needs bash 5.1 or later (this is $BASH_VERSION)" >&2
  exit 125
fi
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
spec=$1 result=$2 name=$3 limit=$4 grace=$5 stage=${6:--} helper=${7:-} envfile=${8:--}
number() { case $1 in '' | -1 | *[!0-9]*) [ "$1" = -1 ];; *) true;; esac; }
# With what the container used, as the sampler last saw it (below; node-local).
usage=/run/jobman/usage/$name
write_result() {
  {
    printf 'exit=%s\noom=%s\nstarted=%s\nstopped=%s\n' "$1" "$2" "$3" "$4"
    if [ -f "$usage" ]; then cat "$usage"; fi
  } >"$result.tmp" && mv -f "$result.tmp" "$result"
  rm -f "$usage" "$usage.tmp"
}
staged="" # the directory the helper pinned the job's mounts in
unstage() { [ -z "$staged" ] || "$helper" --node-unstage "$staged" || true; staged=""; }
# "Error: " as the engines print it: jobmand takes the job's reason from that line of the log.
fail() { echo "Error: jobman on node ${SLURMD_NODENAME:-?}: $*" >&2; unstage; write_result "" 0 0 ""; exit 125; }
number "$limit" && number "$grace" || fail "bad arguments"
mapfile -d '' -t w <"$spec" || fail "cannot read $spec"
p=${w[0]:-} l=${w[1]:-} g=${w[2]:-} kind=${w[3]:-}
number "$p" && number "$l" && number "$g" || fail "bad spec $spec"
argv=("${w[@]:4}")
prefix=("${argv[@]:0:p}")
[ "${#prefix[@]}" -gt 0 ] && command -v "${prefix[0]}" >/dev/null || fail "the container engine ${prefix[0]:-?} is not installed here"
[ "$envfile" = - ] || [ -x "$helper" ] || fail "jobman's node helper $helper is not installed here (backend.node_helper)"
stopped=""
if [ "$stage" != - ]; then
  [ -x "$helper" ] || fail "jobman's node helper $helper is not installed here (backend.node_helper)"
  # A TERM while the helper pins (it finishes first: it blocks TERM) unpins and ends here.
  trap 'stopped=term' TERM INT
  # Its own "Error: jobman on node ..." line goes to the log: jobmand takes the reason from it.
  staged=$("$helper" --node-stage "$stage") || { staged=""; write_result "" 0 0 "$stopped"; exit 125; }
  if [ -n "$stopped" ]; then unstage; write_result "" 0 0 term; exit 143; fi
fi
cmd=()
for i in "${!argv[@]}"; do
  [ "$i" = "$l" ] && cmd+=(--label "jobman.slurm_job=${SLURM_JOB_ID:-}")
  if [ "$i" = "$g" ]; then
    ids=${SLURM_JOB_GPUS:-}
    [ -n "$ids" ] || fail "Slurm allocated no GPUs to this job"
    case $ids in *[!0-9,]*) fail "unexpected SLURM_JOB_GPUS '$ids'";; esac
    if [ "$kind" = docker ]; then
      case $ids in *,*) cmd+=("\"device=$ids\"");; *) cmd+=("device=$ids");; esac
    else # podman's CDI names: --device nvidia.com/gpu=N for each (the first --device is already there)
      first=1
      IFS=, read -ra list <<<"$ids"
      for d in "${list[@]}"; do
        [ "$first" = 1 ] || cmd+=(--device)
        cmd+=("nvidia.com/gpu=$d")
        first=0
      done
    fi
    continue
  fi
  cmd+=("${argv[i]}")
done
stop_container() { "${prefix[@]}" stop --time "$grace" "$name" >/dev/null 2>&1; }
trap '[ -n "$stopped" ] || stopped=term; stop_container &' TERM INT
if [ "$envfile" = - ]; then
  "${cmd[@]}" &
else
  "$helper" --node-exec "$envfile" "${cmd[@]}" & # it execs the engine: $! is the engine's pid
fi
pid=$!
timer="" sampler=""
sample=0
[ -n "$helper" ] && [ -x "$helper" ] && sample=1
if [ "$limit" -gt 0 ] || [ "$sample" = 1 ]; then
  # The limit is the container's wall time: counted once it runs (its start takes the engine
  # a moment), as jobmand counts it from when Slurm says the job runs, which is earlier.
  while kill -0 "$pid" 2>/dev/null &&
    [ "$("${prefix[@]}" container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; do
    sleep 0.1
  done
fi
if [ "$limit" -gt 0 ]; then
  # Deaf to the TERM Slurm sends the whole job: only the script's trap says why it stops.
  (trap '' TERM; exec sleep "$limit") &
  timer=$!
fi
if [ "$sample" = 1 ] && kill -0 "$pid" 2>/dev/null; then
  # What the container uses, from its cgroup while it runs (the engine removes the cgroup
  # when it ends): HELPER replaces /run/jobman/usage/NAME with each sample, then waits for
  # the KILL below (it dies with this script too). Deaf to TERM: the container's last
  # moments count. Only this Slurm job's container (an earlier attempt's may run).
  read -r cpid cid clabel < <("${prefix[@]}" container inspect --format \
    '{{.State.Pid}} {{.Id}} {{index .Config.Labels "jobman.slurm_job"}}' "$name" 2>/dev/null)
  if number "${cpid:-}" && [ "${cpid:-0}" -gt 0 ] && [ -n "${cid:-}" ] && [ "${clabel:-}" = "${SLURM_JOB_ID:-}" ]; then
    rm -f "$usage"
    (trap '' TERM; exec "$helper" --node-usage "$cpid" "$cid" "$name" 2>/dev/null) &
    sampler=$!
  fi
fi
rc=""
while [ -z "$rc" ]; do
  done_id=""
  if [ -n "$timer" ]; then wait -n -p done_id "$pid" "$timer"; else wait -n -p done_id "$pid"; fi
  st=$?
  if [ "${done_id:-}" = "$pid" ]; then
    rc=$st
  elif [ -n "$timer" ] && [ "${done_id:-}" = "$timer" ]; then
    timer=""
    [ -n "$stopped" ] || stopped=timeout
    stop_container &
  elif [ -z "${done_id:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
    rc=125 # reaped elsewhere: no status
  fi
done
[ -z "$timer" ] || kill "$timer" 2>/dev/null
# The container has ended: its last sample is what it used. (KILL: it ignores TERM, and
# waits for this; its file is replaced whole at each sample, so a kill leaves the last one.)
if [ -n "$sampler" ]; then
  kill -KILL "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
fi
# StartedAt last: podman writes it with spaces ("2026-12-02 15:59:37.1 +0000 UTC").
read -r oom code label started_at < <("${prefix[@]}" container inspect --format \
  '{{.State.OOMKilled}} {{.State.ExitCode}} {{index .Config.Labels "jobman.slurm_job"}} {{.State.StartedAt}}' "$name" 2>/dev/null)
started=1
case ${started_at:-} in '' | 0001-01-01*) started=0;; esac
# A container of that name that is not this Slurm job's (an earlier attempt's, still there):
# neither its exit nor its removal is ours.
ours=1
[ "${label:-}" = "${SLURM_JOB_ID:-}" ] || { ours=0; started=0; oom=false; rm -f "$usage"; }
[ "${oom:-}" = true ] && oom=1 || oom=0
# podman on cgroup v1 does not say; the kernel's oom-kill line names the container's cgroup,
# which holds its full id (on cgroup v1 and v2 alike).
if [ "$ours" = 1 ] && [ "$oom" = 0 ] && [ "$rc" = 137 ]; then
  id=$("${prefix[@]}" container inspect --format '{{.Id}}' "$name" 2>/dev/null)
  [ -n "$id" ] && dmesg 2>/dev/null | grep 'oom-kill:' | grep -qF "$id" && oom=1
fi
exit_code=$rc
[ "$started" = 1 ] && number "${code:-}" && exit_code=$code
# The result first: jobmand records the end from it at once; removing takes the engine a while.
write_result "$exit_code" "$oom" "$started" "$stopped"
[ "$ours" = 1 ] && "${prefix[@]}" rm --force "$name" >/dev/null 2>&1
unstage
exit "$rc"
