#!/usr/bin/env bash
# The pull-through cache's figures (issue 10): one image of LAYERS random layers of
# LAYER_MIB MiB each on an upstream berth; a second berth proxies it (prefix `hub`). Pulls
# (the manifest, then every layer, with curl into /dev/null) timed:
#   - from the upstream directly,
#   - the first pull through the proxy (cold: fetched, streamed and stored at once),
#   - later pulls through the proxy (cached),
#   - the same image pushed into the second berth and pulled as a local repository.
# Prints MB/s and the ratios the issue names: cached / local (goal: within 10%), cold /
# direct from the upstream.
#
#   bash bench/proxy.sh                          # release build, 4 x 64 MiB, 5 reps
#   LAYERS=2 LAYER_MIB=16 REPS=3 BENCH_SKIP_BUILD=1 bash bench/proxy.sh
set -euo pipefail
[[ -n ${BENCH_DEBUG:-} ]] && set -x
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
LAYERS=${LAYERS:-4}
LAYER_MIB=${LAYER_MIB:-64}
REPS=${REPS:-5}
BERTH_BIN=${BENCH_BERTH_BIN:-$ROOT/target/release/berth}
MT="application/vnd.oci.image.manifest.v1+json"

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  cargo build --release -p berth >&2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-proxy-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start() { # NAME ENV... -> URL of the started berth in $URL
  local name=$1 i
  shift
  env BERTH__AUTH__ENABLED=false BERTH__REMOTES__ALLOW_NETWORKS=127.0.0.0/8 \
    BERTH__REMOTES__INSECURE_REGISTRIES=127.0.0.1 "$@" \
    "$BERTH_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/$name" --log-level warn \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for i in $(seq 1 100); do
    URL=$(head -n1 "$WORK/$name.out" 2>/dev/null | sed -n 's/^berth listening on //p')
    [[ -n $URL ]] && return 0
    sleep 0.1
  done
  cat "$WORK/$name.err" >&2
  exit 1
}

start upstream
UP=$URL
start proxy
PX=$URL

# The image: a config and LAYERS random layers.
mkdir -p "$WORK/blobs"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/blobs/config"
for i in $(seq 1 "$LAYERS"); do
  head -c "$((LAYER_MIB * 1024 * 1024))" /dev/urandom >"$WORK/blobs/layer$i"
done
digest() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
push() { # BASE REPO
  local f
  for f in "$WORK"/blobs/*; do
    curl -sf -o /dev/null -X POST -H 'content-type: application/octet-stream' \
      --data-binary "@$f" "$1/v2/$2/blobs/uploads/?digest=$(digest "$f")"
  done
  curl -sf -o /dev/null -X PUT -H "content-type: $MT" --data-binary "@$WORK/manifest.json" \
    "$1/v2/$2/manifests/v1"
}
python3 - "$WORK" "$LAYERS" <<'PY'
import hashlib, json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
def desc(path, mt):
    data = open(path, "rb").read()
    return {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": desc(f"{work}/blobs/config", "application/vnd.oci.image.config.v1+json"),
    "layers": [desc(f"{work}/blobs/layer{i}", "application/vnd.oci.image.layer.v1.tar") for i in range(1, n + 1)],
}
open(f"{work}/manifest.json", "w").write(json.dumps(manifest))
PY
push "$UP" lib/app
push "$PX" local/app
curl -sf -o /dev/null -X POST -H 'content-type: application/json' \
  -d "{\"prefix\":\"hub\",\"upstream_url\":\"$UP\"}" "$PX/api/v1/proxies"
LAYER_DIGESTS=()
for i in $(seq 1 "$LAYERS"); do LAYER_DIGESTS+=("$(digest "$WORK/blobs/layer$i")"); done
BYTES=$((LAYERS * LAYER_MIB * 1024 * 1024))

pull() { # BASE REPO -> seconds
  local t0 t1 d
  t0=$(date +%s.%N)
  curl -sf -o /dev/null -H "Accept: $MT" "$1/v2/$2/manifests/v1"
  for d in "${LAYER_DIGESTS[@]}"; do
    curl -sf -o /dev/null "$1/v2/$2/blobs/$d"
  done
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
reps() { local r; for r in $(seq 1 "$REPS"); do pull "$1" "$2"; done | median; }
mbs() { echo "$BYTES / $1 / 1000000" | bc -l; }

direct=$(reps "$UP" lib/app)
cold=$(pull "$PX" hub/lib/app)
cached=$(reps "$PX" hub/lib/app)
local_=$(reps "$PX" local/app)
printf 'image: %d layers x %d MiB; median of %d pulls (cold: the one first pull)\n\n' "$LAYERS" "$LAYER_MIB" "$REPS"
printf '| pull | seconds | MB/s |\n|---|---:|---:|\n'
printf '| from the upstream directly | %.3f | %.0f |\n' "$direct" "$(mbs "$direct")"
printf '| through the proxy, cold | %.3f | %.0f |\n' "$cold" "$(mbs "$cold")"
printf '| through the proxy, cached | %.3f | %.0f |\n' "$cached" "$(mbs "$cached")"
printf '| local repository, same berth | %.3f | %.0f |\n' "$local_" "$(mbs "$local_")"
printf '\ncached / local throughput: %.3f (goal >= 0.9)\n' "$(echo "$local_ / $cached" | bc -l)"
printf 'cold / direct throughput:  %.3f\n' "$(echo "$direct / $cold" | bc -l)"
