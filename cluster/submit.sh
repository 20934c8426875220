#!/usr/bin/env bash
# Submit an experiment to a running Ray cluster as a Ray job.
#   cluster/submit.sh CONFIG OUT [extra `tabaug run` flags...]
# RAY_ADDRESS: the cluster's dashboard / job server (default http://127.0.0.1:8265).
# OUT: a path visible to the head node, or a storage URI (s3://..., gs://..., file://...).
# Clusters with token authentication (Ray's default from 2.60) read the token the usual way
# (RAY_AUTH_TOKEN or the token file ray start wrote); nothing here needs changing for it.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG OUT [tabaug run flags...]" >&2
  exit 2
fi
config=$1; out=$2; shift 2
cd "$(dirname "$0")/.."
RAY=${RAY:-ray}
exec "$RAY" job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
  --working-dir . --runtime-env cluster/runtime_env.yaml -- \
  python -m tabaug_ray run "$config" --out "$out" --address auto --no-progress "$@"
