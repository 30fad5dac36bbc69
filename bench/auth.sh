#!/usr/bin/env bash
# What verifying credentials costs the hot path: manifest GET and blob HEAD on a public
# repository, anonymous beside a registry token (Bearer JWT), a personal access token
# (Bearer) and a password (Basic), with the same loader (berth-bench hammer, 64 connections
# on 2 threads) in one run. Prints one table with each figure's ratio to the anonymous one.
#
#   bash bench/auth.sh                     # release build, 3 reps of 5 s each
#   BENCH_SKIP_BUILD=1 REPS=1 SECS=3 bash bench/auth.sh
set -euo pipefail
[[ -n ${BENCH_DEBUG:-} ]] && set -x
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
REPS=${REPS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-64}
BERTH_BIN=${BENCH_BERTH_BIN:-$ROOT/target/release/berth}
DRIVER=${BENCH_DRIVER:-$ROOT/target/release/berth-bench}
PASSWORD=bench-admin-password
ACCEPT="application/vnd.oci.image.manifest.v1+json"

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  cargo build --release -p berth -p berth-bench >&2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-auth-bench.XXXXXX")
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # ENV... : berth on a free port, URL in $URL
  env "$@" "$BERTH_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn \
    >"$WORK/out" 2>"$WORK/err" &
  PID=$!
  local i
  for i in $(seq 1 100); do
    URL=$(head -n1 "$WORK/out" 2>/dev/null | sed -n 's/^berth listening on //p')
    [[ -n $URL ]] && return 0
    sleep 0.1
  done
  cat "$WORK/err" >&2
  echo "berth did not start" >&2
  exit 1
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# Seed without authentication (the driver pushes anonymously) into a namespace made
# public on push, then restart with authentication on over the same data.
start BERTH__AUTH__ENABLED=false BERTH__NAMESPACES__PUBLIC_ON_PUSH=true "BERTH__AUTH__ADMIN_PASSWORD=$PASSWORD"
"$DRIVER" push-small --url "$URL" --repo bench/auth --count 1 --concurrency 1 \
  --tag-prefix fixture --seed 42 >/dev/null
stop
start BERTH__AUTH__ENABLED=true "BERTH__AUTH__ADMIN_PASSWORD=$PASSWORD"
MANIFEST="$URL/v2/bench/auth/manifests/fixture00000"
LAYER=$(curl -sf -H "Accept: $ACCEPT" "$MANIFEST" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
BLOB="$URL/v2/bench/auth/blobs/$LAYER"
JWT=$(curl -sf -u "admin:$PASSWORD" "$URL/auth/token?service=berth&scope=repository:bench/auth:pull" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
PAT=$(curl -sf -u "admin:$PASSWORD" -X POST -H 'content-type: application/json' \
  -d '{"name":"bench"}' "$URL/api/v1/users/admin/tokens" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("token") or d.get("secret"))')
BASIC=$(printf 'admin:%s' "$PASSWORD" | base64 -w0)

rate() { # URL METHOD [HEADER...] -> req/s (median over REPS)
  local url=$1 method=$2
  shift 2
  local args=() h r rates=()
  for h in "$@"; do args+=(--header "$h"); done
  for r in $(seq 1 "$REPS"); do
    out=$("$DRIVER" hammer --url "$url" --method "$method" --conns "$CONNS" --threads 2 \
      --secs "$SECS" --header "Accept: $ACCEPT" "${args[@]}")
    [[ $(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$out") == 0 ]] || { echo "non-2xx: $out" >&2; exit 1; }
    rates+=("$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$out")")
  done
  printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

printf '| request | credential | req/s | vs anonymous |\n|---|---|---:|---:|\n'
for what in "manifest GET|$MANIFEST|GET" "blob HEAD|$BLOB|HEAD"; do
  IFS='|' read -r name url method <<<"$what"
  base=$(rate "$url" "$method")
  printf '| %s | anonymous | %s | 1.000 |\n' "$name" "$base"
  for cred in "registry token (Bearer JWT)|Authorization: Bearer $JWT" \
              "personal access token (Bearer)|Authorization: Bearer $PAT" \
              "password (Basic)|Authorization: Basic $BASIC"; do
    IFS='|' read -r label header <<<"$cred"
    r=$(rate "$url" "$method" "$header")
    printf '| %s | %s | %s | %.3f |\n' "$name" "$label" "$r" "$(echo "$r / $base" | bc -l)"
  done
done
