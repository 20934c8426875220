#!/usr/bin/env bash
# Submit an experiment to a running Ray cluster as a Ray job.
#   cluster/submit.sh [--allow-plain-http] CONFIG OUT [extra `tabaug run` flags...]
# RAY_ADDRESS: the cluster's dashboard / job server (default http://127.0.0.1:8265).
# OUT: a path visible to the head node, or a storage URI (s3://..., gs://..., file://...).
# Clusters with token authentication (Ray's default from 2.60) read the token the usual way
# (RAY_AUTH_TOKEN or the token file ray start wrote); nothing here needs changing for it.
# The job API is reached over loopback (an SSH tunnel: ssh -L 8265:HEAD_PRIVATE_IP:8265 HEAD) or
# https:// (a TLS proxy). Plain http:// to another host would send the token and the job in clear
# text: it is refused unless --allow-plain-http is given (e.g. inside a private network namespace).
set -euo pipefail
allow_plain_http=0
if [ "${1:-}" = "--allow-plain-http" ]; then
  allow_plain_http=1
  shift
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--allow-plain-http] CONFIG OUT [tabaug run flags...]" >&2
  exit 2
fi
config=$1; out=$2; shift 2
address=${RAY_ADDRESS:-http://127.0.0.1:8265}
case "$address" in
  https://*) ;;
  http://127.*|http://localhost|http://localhost:*|http://\[::1\]*|127.*|localhost|localhost:*) ;;
  *)
    if [ "$allow_plain_http" != 1 ]; then
      echo "submit.sh: error: RAY_ADDRESS=$address is plain http to a non-loopback host (the auth token and the job would travel in clear text); use an SSH tunnel (http://127.0.0.1:8265), https:// through a TLS proxy, or pass --allow-plain-http" >&2
      exit 2
    fi
    ;;
esac
cd "$(dirname "$0")/.."
RAY=${RAY:-ray}
exec "$RAY" job submit --address "$address" \
  --working-dir . --runtime-env cluster/runtime_env.yaml -- \
  python -m tabaug_ray run "$config" --out "$out" --address auto --no-progress "$@"
