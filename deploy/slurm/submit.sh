#!/usr/bin/env bash
# Submits a sharded embedding run to Slurm: a job array of TASKS tasks (embed.sbatch), each writing
# its own part in OUT_FOLDER, and an export job (export.sbatch) that writes EXPORT_FILE once every
# task has succeeded.
#   bash deploy/slurm/submit.sh TASKS INPUT OUT_FOLDER EXPORT_FILE [embed options: --model M ...]
# sbatch options for the array go in SBATCH_ARRAY_OPTIONS (e.g. "--partition=cpu --time=04:00:00"); to run
# at most 16 tasks at once: scontrol update JobId=<array> ArrayTaskThrottle=16.
# Prints the two job ids as JSON on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: bash deploy/slurm/submit.sh TASKS INPUT OUT_FOLDER EXPORT_FILE [embed options]"
tasks=${1:?$usage} input=${2:?$usage} out=${3:?$usage} file=${4:?$usage}
shift 4
[[ "$tasks" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: TASKS must be a positive whole number, not \"$tasks\"" >&2; exit 2; }
mkdir -p "$out"
# shellcheck disable=SC2086 # SBATCH_ARRAY_OPTIONS is a list of options
array=$(sbatch --parsable --array="0-$((tasks - 1))" ${SBATCH_ARRAY_OPTIONS:-} "$here/embed.sbatch" "$input" "$out" "$@")
array=${array%%;*} # --parsable prints "id;cluster" on a multi-cluster setup
# One afterok per task, not afterok:<array>: Slurm 22.05 marks an array-wide dependency failed for
# good once any task fails, even after that task is requeued and succeeds; per-task ones can be
# re-armed (requeue.sh does).
deps=$(seq -s : -f "${array}_%g" 0 $((tasks - 1)))
export_job=$(sbatch --parsable --dependency="afterok:$deps" --kill-on-invalid-dep=no "$here/export.sbatch" "$out" "$file")
export_job=${export_job%%;*}
echo "{\"array\":\"$array\",\"tasks\":$tasks,\"export\":\"$export_job\"}"
