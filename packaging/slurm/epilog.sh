#!/bin/sh
# jobman's Slurm Epilog (doc/slurm.md): Slurm runs it as root on the node after every job.
# Slurm's process tracking does not follow a container (conmon or containerd holds it, not
# the batch script), so a job killed with SIGKILL (after KillWait) could leave its
# container running past the job: remove every container labelled with the job's id.
# Then unpin the job's mounts (what `jobmand --node-stage` bind-mounted under
# /run/jobman/slurm/<container>, marked with the job's id), as the batch script would have.
# Set `Epilog=/usr/lib/jobman/slurm-epilog` in slurm.conf on every node. It only
# removes containers and those directories; it never fails the node.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin # Slurm gives the Epilog none
[ -n "${SLURM_JOB_ID:-}" ] || exit 0
case $SLURM_JOB_ID in *[!0-9]*) exit 0;; esac
for engine in /usr/bin/podman /usr/bin/docker; do
  [ -x "$engine" ] || continue
  ids=$("$engine" ps -aq --filter "label=jobman.slurm_job=$SLURM_JOB_ID" 2>/dev/null)
  [ -n "$ids" ] && "$engine" rm -f $ids >/dev/null 2>&1
done
for dir in /run/jobman/slurm/*/; do
  dir=${dir%/}
  [ -d "$dir" ] && [ ! -L "$dir" ] && [ -f "$dir/slurm_job" ] || continue
  [ "$(cat "$dir/slurm_job" 2>/dev/null)" = "$SLURM_JOB_ID" ] || continue
  for entry in "$dir"/*; do
    [ "$entry" = "$dir/slurm_job" ] && continue
    i=0
    while [ "$i" -lt 8 ] && umount -l "$entry" 2>/dev/null; do i=$((i + 1)); done
    rmdir "$entry" 2>/dev/null || { [ -f "$entry" ] && [ ! -L "$entry" ] && rm -f "$entry"; }
  done
  # The marker last, once all else is gone: a later Epilog of this job may try again.
  [ "$(ls -A "$dir")" = slurm_job ] && rm -f "$dir/slurm_job"
  rmdir "$dir" 2>/dev/null
done
exit 0
