#!/usr/bin/env bash
# Reruns tasks of a sharded run's array that failed or were killed, and re-arms the export job:
#   bash deploy/slurm/requeue.sh ARRAY_JOB_ID TASK [TASK...]
# Each task resumes its own part (`--resume`), keeping the rows it committed. Slurm holds a requeued
# task back for a while (its BeginTime); it is started at once here. A job waiting on a task that
# failed is left "DependencyNeverSatisfied" even after the task succeeds, so the dependencies that
# still wait are set again: they then wait for the requeued tasks.
set -euo pipefail
usage="usage: bash deploy/slurm/requeue.sh ARRAY_JOB_ID TASK [TASK...]"
array=${1:?$usage}
shift
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
for task in "$@"; do
  scontrol requeue "${array}_${task}"
  scontrol update JobId="${array}_${task}" StartTime=now
done
# Pending jobs that wait on this array: their dependency list, less the "(failed)"/"(unfulfilled)"
# marks, set again (tasks already satisfied are no longer in the list).
squeue -h -t PENDING -o '%i %E' | while read -r job dependency; do
  if [[ "$dependency" =~ (^|[:,])${array}_ ]]; then
    scontrol update JobId="$job" Dependency="$(sed 's/([^)]*)//g' <<<"$dependency")"
  fi
done
