#!/bin/sh
# jobman's Slurm Epilog (doc/slurm.md): Slurm runs it as root on the node after every job.
# Slurm's process tracking does not follow a container (conmon or containerd holds it, not
# the batch script), so a job killed with SIGKILL (after KillWait) could leave its
# container running past the job: remove every container labelled with the job's id.
# Set `Epilog=/usr/lib/jobman/slurm-epilog` in slurm.conf on every node. It only
# removes containers; it never fails the node.
[ -n "${SLURM_JOB_ID:-}" ] || exit 0
case $SLURM_JOB_ID in *[!0-9]*) exit 0;; esac
for engine in /usr/bin/podman /usr/bin/docker; do
  [ -x "$engine" ] || continue
  ids=$("$engine" ps -aq --filter "label=jobman.slurm_job=$SLURM_JOB_ID" 2>/dev/null)
  [ -n "$ids" ] && "$engine" rm -f $ids >/dev/null 2>&1
done
exit 0
