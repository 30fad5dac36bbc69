#!/usr/bin/env bash
# Browsing at scale (issue 7): REPOS repositories of TAGS tags each (1,000 × 100 = 100,000
# tags by default), then the native API's repository list, repository search, tag list and
# tag detail hammered (berth-bench hammer, 64 connections on 2 threads) with URLs spread over
# the whole data set. Prints req/s and p50/p99 latency per request kind. The database is the
# embedded SQLite unless BENCH_DATABASE_URL names a PostgreSQL one (an empty database).
#
#   bash bench/scale.sh                                   # SQLite, release build
#   BENCH_DATABASE_URL=postgres://berth:berth@127.0.0.1/bench bash bench/scale.sh
#   REPOS=100 TAGS=100 SECS=3 BENCH_SKIP_BUILD=1 bash bench/scale.sh
set -euo pipefail
[[ -n ${BENCH_DEBUG:-} ]] && set -x
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
REPOS=${REPOS:-1000}
TAGS=${TAGS:-100}
SECS=${SECS:-5}
CONNS=${CONNS:-64}      # throughput: this many connections
LAT_CONNS=${LAT_CONNS:-8} # latency: a lighter load, so p99 is the server's, not the queue's
BERTH_BIN=${BENCH_BERTH_BIN:-$ROOT/target/release/berth}
DRIVER=${BENCH_DRIVER:-$ROOT/target/release/berth-bench}

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  cargo build --release -p berth -p berth-bench >&2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-scale-bench.XXXXXX")
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

db=()
[[ -n ${BENCH_DATABASE_URL:-} ]] && db=("BERTH__DATABASE__URL=$BENCH_DATABASE_URL")
env BERTH__AUTH__ENABLED=false BERTH__NAMESPACES__PUBLIC_ON_PUSH=true "${db[@]}" \
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

start=$(date +%s.%N)
"$DRIVER" seed-tags --url "$URL" --repo bench/scale/r --repos "$REPOS" --count "$TAGS" \
  --concurrency 16 --tag-prefix t --seed 7 >/dev/null
seeded=$(echo "$(date +%s.%N) - $start" | bc -l)
backend=SQLite
[[ -n ${BENCH_DATABASE_URL:-} ]] && backend=PostgreSQL
printf 'seeded %d repositories x %d tags in %.1f s (%s)\n\n' "$REPOS" "$TAGS" "$seeded" "$backend"
# Seeding updates every repository's counters at every push, so right after it PostgreSQL's
# visibility map is clear and an index-only scan (the repository list's offset) visits the
# table as well; autovacuum sets it within about a minute, racing the first hammer. The
# steady state is measured: vacuumed now (BENCH_NO_VACUUM=1 measures the race instead).
if [[ -n ${BENCH_DATABASE_URL:-} && -z ${BENCH_NO_VACUUM:-} ]]; then
  psql -X -q "$BENCH_DATABASE_URL" -c 'SET client_min_messages = error' -c 'VACUUM ANALYZE' >&2 ||
    echo "warning: could not VACUUM ANALYZE (psql); the first figures race autovacuum" >&2
fi

# URL files: 2,000 requests spread over the data set.
python3 - "$WORK" "$REPOS" "$TAGS" <<'PY'
import random, sys
work, repos, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
def repo():
    return "bench/scale/r%05d" % rng.randrange(repos)
files = {
    "list": lambda: "/api/v1/repositories?limit=20&offset=%d" % rng.randrange(max(1, repos - 20)),
    "search": lambda: "/api/v1/repositories?search=r%04d" % rng.randrange(max(1, repos // 10)),
    "tags": lambda: "/api/v1/repositories/%s/-/tags?limit=20&offset=%d" % (repo(), rng.randrange(max(1, tags - 20))),
    "detail": lambda: "/api/v1/repositories/%s/-/tags/t%05d" % (repo(), rng.randrange(tags)),
}
for name, make in files.items():
    with open(f"{work}/{name}.urls", "w") as f:
        for _ in range(2000):
            f.write(make() + "\n")
PY

hammer() { # FILE CONNS -> the driver's summary line
  local out
  out=$("$DRIVER" hammer --url "$URL/" --url-file "$WORK/$1.urls" --conns "$2" --threads 2 \
    --secs "$SECS")
  [[ $(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$out") == 0 ]] || { echo "non-2xx: $out" >&2; exit 1; }
  echo "$out"
}
kv() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

printf '| request | req/s (%d conns) | p50 ms (%d conns) | p99 ms (%d conns) | p99 ms (%d conns) |\n' \
  "$CONNS" "$LAT_CONNS" "$LAT_CONNS" "$CONNS"
printf '|---|---:|---:|---:|---:|\n'
for what in "repository list (page of 20)|list" "repository search|search" \
            "tag list (page of 20)|tags" "tag detail|detail"; do
  IFS='|' read -r label file <<<"$what"
  heavy=$(hammer "$file" "$CONNS")
  light=$(hammer "$file" "$LAT_CONNS")
  printf '| %s | %.0f | %s | %s | %s |\n' "$label" "$(kv rate "$heavy")" "$(kv p50_ms "$light")" \
    "$(kv p99_ms "$light")" "$(kv p99_ms "$heavy")"
done
