#!/usr/bin/env bash
# The classic Helm repository at scale (issue 8): VERSIONS chart versions (CHARTS charts) in
# one namespace, uploaded through the ChartMuseum API, then `index.yaml` hammered warm
# (berth-bench hammer), plain, gzip and conditional (If-None-Match with the current ETag:
# 304), and the time of the first GET after one more upload, plain, gzip and JSON (only the
# changed chart is re-read from the database and its block rebuilt; the other blocks are
# reused as they are, deflated form included) and of the very first GET (every entry
# rendered). The database is the embedded SQLite unless BENCH_DATABASE_URL names an empty
# PostgreSQL one.
#
#   bash bench/helm.sh                          # 10,000 versions, release build
#   VERSIONS=1000 bash bench/helm.sh
#   BENCH_SKIP_BUILD=1 VERSIONS=1000 SECS=3 bash bench/helm.sh
set -euo pipefail
[[ -n ${BENCH_DEBUG:-} ]] && set -x
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VERSIONS=${VERSIONS:-10000}
CHARTS=${CHARTS:-100}
SECS=${SECS:-5}
LAT_CONNS=${LAT_CONNS:-4}
BERTH_BIN=${BENCH_BERTH_BIN:-$ROOT/target/release/berth}
DRIVER=${BENCH_DRIVER:-$ROOT/target/release/berth-bench}

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  cargo build --release -p berth -p berth-bench >&2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-helm-bench.XXXXXX")
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

db=()
[[ -n ${BENCH_DATABASE_URL:-} ]] && db=("BERTH__DATABASE__URL=$BENCH_DATABASE_URL")
env BERTH__AUTH__ENABLED=false "${db[@]}" \
  "$BERTH_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn \
  >"$WORK/out" 2>"$WORK/err" &
PID=$!
URL=
for _ in $(seq 1 100); do
  URL=$(head -n1 "$WORK/out" 2>/dev/null | sed -n 's/^berth listening on //p')
  [[ -n $URL ]] && break
  sleep 0.1
done
[[ -n $URL ]] || { cat "$WORK/err" >&2; echo "berth did not start" >&2; exit 1; }
REPO=$URL/chartrepo/bench

# Seeding: small real charts (Chart.yaml, values.yaml, a template), 8 uploads at a time.
upload() { # FIRST COUNT
  python3 - "$URL" "$CHARTS" "$1" "$2" <<'PY'
import gzip, http.client, io, sys, tarfile, threading, urllib.parse
from concurrent.futures import ThreadPoolExecutor
url, charts, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
host = urllib.parse.urlparse(url).netloc
local = threading.local()
def tgz(name, version):
    files = {
        "Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n"
                      f"description: Chart {name} for the index benchmark\nkeywords: [bench, helm]\n"
                      f"maintainers:\n  - name: Bench\n    email: bench@example.com\n",
        "values.yaml": "replicas: 1\nimage: nginx\n",
        "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), 1)
def put(i):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(host)
    name, version = "chart-%03d" % (i % charts), "1.%d.0" % (i // charts)
    local.conn.request("POST", "/chartrepo/bench/api/charts", tgz(name, version),
                       {"Content-Type": "application/x-www-form-urlencoded"})
    r = local.conn.getresponse()
    body = r.read()
    if r.status != 201:
        sys.exit(f"upload {name}-{version}: {r.status} {body!r}")
with ThreadPoolExecutor(8) as pool:
    list(pool.map(put, range(first, first + count)))
PY
}

start=$(date +%s.%N)
upload 0 "$VERSIONS"
seeded=$(echo "$(date +%s.%N) - $start" | bc -l)
backend=SQLite
[[ -n ${BENCH_DATABASE_URL:-} ]] && backend=PostgreSQL
printf 'seeded %d chart versions (%d charts) in %.1f s (%s)\n' "$VERSIONS" "$CHARTS" "$seeded" "$backend"

get_ms() { # extra curl args... -> ms of one GET of index.yaml
  curl -s -o /dev/null -w '%{time_total}' "$@" "$REPO/index.yaml" | awk '{printf "%.1f", $1 * 1000}'
}
first=$(get_ms)
size=$(curl -s "$REPO/index.yaml" | wc -c)
gz_size=$(curl -s -H 'Accept-Encoding: gzip' "$REPO/index.yaml" | wc -c)
entries=$(curl -s "$REPO/index.json" | python3 -c 'import json,sys; print(sum(len(v) for v in json.load(sys.stdin)["entries"].values()))')
[[ $entries == "$VERSIONS" ]] || { echo "index lists $entries versions, expected $VERSIONS" >&2; exit 1; }
printf 'index.yaml: %d bytes (%d gzip), %d versions; first GET (every entry rendered): %s ms\n' \
  "$size" "$gz_size" "$entries" "$first"

# One more version, then the first GET after it (plain, then gzip, then index.json), five
# times each: what a change costs (the changed chart re-read and its block rebuilt).
after() { # RUN_OFFSET extra curl args... -> the first GETs after one upload each, 5 runs
  local offset=$1 out=()
  shift
  for i in 1 2 3 4 5; do
    upload $((VERSIONS + (offset + i) * CHARTS)) 1
    out+=("$(get_ms "$@")")
  done
  echo "${out[*]}"
}
printf 'first GET after one more upload, plain (5 runs): %s ms\n' "$(after 0)"
printf 'first GET after one more upload, gzip (5 runs): %s ms\n' "$(after 5 -H 'Accept-Encoding: gzip')"
json_after=()
for i in 1 2 3 4 5; do
  upload $((VERSIONS + (10 + i) * CHARTS)) 1
  json_after+=("$(curl -s -o /dev/null -w '%{time_total}' "$REPO/index.json" | awk '{printf "%.1f", $1 * 1000}')")
done
printf 'first GET after one more upload, index.json (5 runs): %s ms\n\n' "${json_after[*]}"

ETAG=$(curl -s -D - -o /dev/null "$REPO/index.yaml" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
hammer() { # CONNS [header...] -> the driver's summary line
  local conns=$1
  shift
  local hs=()
  for h in "$@"; do hs+=(--header "$h"); done
  "$DRIVER" hammer --url "$REPO/index.yaml" --conns "$conns" --threads 2 --secs "$SECS" "${hs[@]}"
}
kv() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

printf '| GET index.yaml (%d versions, warm) | conns | req/s | p50 ms | p99 ms | non-2xx |\n' "$VERSIONS"
printf '|---|---:|---:|---:|---:|---:|\n'
for conns in 1 "$LAT_CONNS"; do
  for what in "plain|" "gzip|Accept-Encoding: gzip" "conditional, matching ETag (304)|If-None-Match: $ETAG"; do
    IFS='|' read -r label header <<<"$what"
    if [[ -n $header ]]; then out=$(hammer "$conns" "$header"); else out=$(hammer "$conns"); fi
    printf '| %s | %d | %.0f | %s | %s | %s |\n' "$label" "$conns" "$(kv rate "$out")" \
      "$(kv p50_ms "$out")" "$(kv p99_ms "$out")" "$(kv non2xx "$out")"
  done
done
printf '\n(%s s each; berth-bench hammer on 2 threads on the same 2-core machine; 304s count as non-2xx)\n' "$SECS"
