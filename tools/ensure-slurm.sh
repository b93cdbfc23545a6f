#!/usr/bin/env bash
# The Slurm test (test/deploy/slurm.test.ts) runs a one-node cluster: Debian's slurm-wlm (slurmctld,
# slurmd, sbatch...) and munge (its authentication). Installs both with apt when missing, if we can;
# without them that test says so and skips (except under CI=true, where it fails).
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's slurm-wlm and munge for the Slurm test..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  exit 0
fi
echo "Slurm is not installed: the Slurm test will be skipped (as root on Debian: apt-get install -y slurm-wlm munge)." >&2
exit 0
