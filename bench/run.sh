#!/usr/bin/env bash
# berth vs CNCF distribution (Debian docker-registry 2.8.2), side by side on this machine.
# Usage: bash bench/run.sh                 (full run, ~4 min + build)
#        BENCH_QUICK=1 bash bench/run.sh   (quick run, ~40 s + build)
#        BENCH_CONFIGS="fs s3" bash bench/run.sh   (also berth on S3 + PostgreSQL vs distribution on S3)
# Every knob is an environment variable; see bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

# ------------------------------------------------------------------ parameters
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  d_blob=64 d_reps=1 d_small=500 d_small_reps=1 d_wrk=3 d_wrk_reps=1 d_tags=1000 d_repos=100 d_list=20
else
  d_blob=256 d_reps=3 d_small=2000 d_small_reps=2 d_wrk=10 d_wrk_reps=2 d_tags=5000 d_repos=500 d_list=50
fi
BLOB_MIB=${BENCH_BLOB_MIB:-$d_blob}          # size of the big blob (scenarios 1-4)
CHUNK_MIB=${BENCH_CHUNK_MIB:-16}             # PATCH chunk size (scenario 2)
REPS=${BENCH_REPS:-$d_reps}                  # repetitions of scenarios 1-4, 7, 8 (interleaved)
PULL_CONC=${BENCH_PULL_CONC:-16}             # concurrent pulls (scenario 4)
SMALL_PUSHES=${BENCH_SMALL_PUSHES:-$d_small} # small image pushes per rep (scenario 5)
SMALL_CONC=${BENCH_SMALL_CONC:-16}           # connections for small pushes
SMALL_REPS=${BENCH_SMALL_REPS:-$d_small_reps}
WRK_SECS=${BENCH_WRK_SECS:-$d_wrk}           # wrk duration per run (scenario 6)
WRK_CONN=${BENCH_WRK_CONN:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WRK_REPS=${BENCH_WRK_REPS:-$d_wrk_reps}
TAGS=${BENCH_TAGS:-$d_tags}                  # tags in the tags/list repository (scenario 7)
REPOS=${BENCH_REPOS:-$d_repos}               # repositories for the catalog (scenario 8)
LIST_REQS=${BENCH_LIST_REQS:-$d_list}        # sequential GETs per rep (scenarios 7, 8)
SEED_CONC=${BENCH_SEED_CONC:-16}             # connections used to seed tags and repos
SYNC=${BENCH_SYNC:-1}                        # `sync` before each big push (no dirty pages left over)
SCENARIOS=${BENCH_SCENARIOS:-mono chunked pull pullconc small wrk tags catalog}
CONFIGS=${BENCH_CONFIGS:-fs}                 # configurations to run, see config_* below
# The sizes above; a configuration may change them (params_s3), BENCH_S3_<NAME> sets them for s3.
PARAM_VARS="BLOB_MIB CHUNK_MIB REPS PULL_CONC SMALL_PUSHES SMALL_CONC SMALL_REPS WRK_SECS WRK_CONN
  WRK_THREADS WRK_REPS TAGS REPOS LIST_REQS SEED_CONC"
TMPBASE=${BENCH_TMPDIR:-/tmp}
RESULTS=${BENCH_RESULTS_DIR:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
BERTH_BIN=${BENCH_BERTH_BIN:-$ROOT/target/release/berth}
DRIVER=${BENCH_DRIVER_BIN:-$ROOT/target/release/berth-bench}
DIST_BIN=${BENCH_DIST_BIN:-/usr/bin/docker-registry}
S3_BERTH_PREFIX=${BENCH_S3_BERTH_PREFIX:-berth}   # s3: berth's key prefix in the bucket
S3_DIST_ROOT=${BENCH_S3_DIST_ROOT:-/d}             # s3: distribution's rootdirectory
S3_DIST_CHUNK=${BENCH_S3_DIST_CHUNK:-}             # s3: distribution's chunksize (bytes; empty = its default, 10 MiB)
S3_BERTH_DIRECT=${BENCH_S3_BERTH_DIRECT:-0}        # s3: 1 = berth talks to s3s-fs directly, not through the shim
S3_DIST_BUCKET=${BENCH_S3_DIST_BUCKET:-dist}       # s3: distribution's bucket (berth's is .ci/s3.sh's berth-ci)

MANIFEST_ACCEPT='application/vnd.oci.image.manifest.v1+json'

mkdir -p "$RESULTS"
exec 2> >(tee -a "$RESULTS/run.log" >&2)
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

for tool in curl wrk sha256sum split; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $DIST_BIN ]] || die "$DIST_BIN not found (apt install docker-registry)"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  log "building berth and the driver (release)"
  (cd "$ROOT" && cargo build --release -q -p berth -p berth-bench) >&2
fi
[[ -x $BERTH_BIN ]] || die "$BERTH_BIN not built"
[[ -x $DRIVER ]] || die "$DRIVER not built"

WORK=$(mktemp -d "$TMPBASE/berth-bench.XXXXXX")
STARTED_PIDS=()
declare -A URL PID MONO
BERTH_ENV=()    # VAR=value pairs for the next start_berth
CONFIG_META=()  # extra "key<TAB>value" header lines of the current configuration
PG_DB=          # s3: the database created for this run (dropped at the end)

cleanup() {
  local rc=$? p f
  if [[ $rc != 0 ]]; then # keep the servers' logs of a failed run
    for f in "$WORK"/*.err; do
      if [[ -e $f ]]; then cp "$f" "$RESULTS/$(basename "$f" .err).stderr-at-failure" || true; fi
    done
    if [[ -n ${CI_S3_DATA:-} ]]; then cp "$CI_S3_DATA/s3s-fs.log" "$RESULTS/s3s-fs.log-at-failure" || true; fi
  fi
  for p in "${STARTED_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for p in "${STARTED_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  STARTED_PIDS=()
  # s3 configuration: the database of the run, s3s-fs's data, PostgreSQL if this run started it.
  drop_pg_db
  if declare -F ci_s3_stop >/dev/null; then ci_s3_stop 2>/dev/null || true; fi
  if declare -F ci_postgres_stop >/dev/null; then ci_postgres_stop || true; fi
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CURL=(curl -sS --noproxy '*' -H 'Expect:')
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------------ servers

free_port() {
  local p
  for p in $(shuf -i 20000-60000 -n 100); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port"
}

wait_v2() { # URL: until GET /v2/ answers 200
  local i
  for i in $(seq 1 300); do
    [[ $("${CURL[@]}" -o /dev/null -w '%{http_code}' "$1/v2/" 2>/dev/null || true) == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# start_berth ARGS... : berth serve on a free port (it prints where it listens).
start_berth() {
  local out=$WORK/berth.out
  # Like distribution here, without authentication (its token figures are measured apart).
  env BERTH__AUTH__ENABLED=false "${BERTH_ENV[@]}" "$BERTH_BIN" serve --listen 127.0.0.1:0 --log-level warn "$@" >"$out" 2>"$WORK/berth.err" &
  PID[berth]=$!
  STARTED_PIDS+=("${PID[berth]}")
  local i line=
  for i in $(seq 1 300); do
    line=$(head -n1 "$out" 2>/dev/null || true)
    [[ $line == "berth listening on "* ]] && break
    kill -0 "${PID[berth]}" 2>/dev/null || { cat "$WORK/berth.err" >&2; die "berth exited"; }
    sleep 0.1
  done
  URL[berth]=${line#berth listening on }
  wait_v2 "${URL[berth]}" || die "berth at ${URL[berth]} does not answer /v2/"
  log "berth pid ${PID[berth]} at ${URL[berth]} ($*)"
}

# start_dist CONFIG.yml : the config must listen on $DIST_PORT.
# AWS_CA_BUNDLE (set in some environments) makes distribution's S3 driver panic at start-up
# ("LoadCustomCABundleError: ... HTTPClient's transport unsupported type"); it talks plain HTTP here.
start_dist() {
  env -u AWS_CA_BUNDLE "$DIST_BIN" serve "$1" >"$WORK/dist.out" 2>"$WORK/dist.err" &
  PID[dist]=$!
  STARTED_PIDS+=("${PID[dist]}")
  URL[dist]=http://127.0.0.1:$DIST_PORT
  wait_v2 "${URL[dist]}" || { cat "$WORK/dist.err" >&2; die "distribution does not answer /v2/"; }
  log "distribution pid ${PID[dist]} at ${URL[dist]} ($1)"
}

# write_dist_config FILE STORAGE_YAML : distribution config around a storage section
# (indented by two spaces, below `storage:`). Mirrors Debian's shipped defaults
# (inmemory blob descriptor cache, delete enabled) minus auth, health checks and access log.
write_dist_config() {
  DIST_PORT=$(free_port)
  cat >"$1" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
$2
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$DIST_PORT
  secret: berth-bench-not-a-secret
EOF
}

stop_server() {
  local s=$1 p=${PID[$1]:-} q keep=()
  [[ -n $p ]] || return 0
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  PID[$s]=
  for q in "${STARTED_PIDS[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
  STARTED_PIDS=("${keep[@]}")
}

# ------------------------------------------------------------------ configurations
# A configuration is a function config_<name> that starts both servers (start_berth and
# start_dist set URL[] and PID[]) on fresh storage and sets CONFIG_DESC. Select with
# BENCH_CONFIGS="fs s3". Data lives under $WORK/<name>/ and is removed afterwards.

config_fs() {
  local dir=$WORK/fs
  mkdir -p "$dir/berth" "$dir/dist"
  CONFIG_DESC="fs: berth (filesystem blobs + SQLite, default config) vs distribution $("$DIST_BIN" --version 2>/dev/null | awk '{print $3}') (filesystem driver); data under $TMPBASE"
  start_berth --data-dir "$dir/berth"
  write_dist_config "$dir/dist.yml" "  filesystem:
    rootdirectory: $dir/dist"
  start_dist "$dir/dist.yml"
}

# s3: berth with blobs on S3 and metadata on PostgreSQL vs distribution's S3 driver, both on
# one s3s-fs (the S3 server of berth's CI, .ci/s3.sh; it stores objects as files on local disk),
# each in its own bucket (berth-ci, prefix berth/; dist, rootdirectory /d). s3s-fs does not
# implement ListMultipartUploads, which distribution 2.8 calls to resume every upload, and its
# ListParts answer lacks IsTruncated (distribution panics), so both registries reach s3s-fs
# through `berth-bench s3-shim`, a pass-through proxy that fills those gaps and counts requests
# per registry (BENCH_S3_BERTH_DIRECT=1 connects berth to s3s-fs directly instead).
# s3s-fs names per-object metadata files after base64(bucket) + base64(key), so long keys fail
# with "File name too long" (500): about 160 bytes for a PUT, 130 for a multipart upload with
# the 4-letter bucket name. Distribution's tag index links are long (.../bench/cat/r00015/
# _manifests/tags/v00015/index/sha256/<64 hex>/link): keep its bucket name and rootdirectory short.
# PostgreSQL comes from .ci/postgres.sh (started if it is not running; stopped at the end only
# if this run started it); the run creates its own database and drops it at the end.

pg_berth() { # psql as the berth role (what berth itself logs in as)
  PGPASSWORD=$CI_PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CI_PG_PORT" \
    -U "$CI_PG_ROLE" -d postgres "$@" </dev/null
}
drop_pg_db() {
  [[ -n $PG_DB ]] || return 0
  if pg_berth -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >&2; then
    log "dropped database $PG_DB"
  else
    log "WARNING: could not drop database $PG_DB"
  fi
  PG_DB=
}

# s3s-fs answers ListObjects by walking every file of the bucket, and distribution lists (its
# Stat) on most requests, so distribution slows down as its bucket fills: smaller sizes for s3.
params_s3() {
  if [[ $QUICK == 1 ]]; then
    BLOB_MIB=64 SMALL_PUSHES=100 TAGS=100 REPOS=30 LIST_REQS=10
  else
    BLOB_MIB=128 SMALL_PUSHES=150 TAGS=500 REPOS=50 LIST_REQS=20
  fi
  local v o
  for v in $PARAM_VARS; do
    o=BENCH_S3_$v
    if [[ -n ${!o:-} ]]; then printf -v "$v" '%s' "${!o}"; fi
  done
}

config_s3() {
  local dir=$WORK/s3 line i
  mkdir -p "$dir/berth" "$dir/s3s"
  # shellcheck source=/dev/null
  source "$ROOT/.ci/postgres.sh" || die "PostgreSQL could not be started (.ci/postgres.sh)"
  PG_DB=berth_bench_$(date +%Y%m%d_%H%M%S)_$$
  pg_berth -c "CREATE DATABASE $PG_DB" >&2 || { PG_DB=; die "could not create the database"; }
  log "PostgreSQL $CI_PG_VERSION on 127.0.0.1:$CI_PG_PORT, database $PG_DB (role $CI_PG_ROLE)"

  # s3s-fs keeps its data under $TMPDIR: put it inside our scratch directory.
  # shellcheck source=/dev/null
  TMPDIR=$dir/s3s source "$ROOT/.ci/s3.sh" || die "s3s-fs could not be started (.ci/s3.sh)"
  PID[s3]=$CI_S3_PID
  STARTED_PIDS+=("$CI_S3_PID")
  mkdir -p "$CI_S3_DATA/data/$S3_DIST_BUCKET" # a top-level directory is a bucket to s3s-fs

  "$DRIVER" s3-shim --upstream "${TEST_S3_ENDPOINT#http://}" >"$WORK/shim.out" 2>"$WORK/shim.err" &
  PID[shim]=$!
  STARTED_PIDS+=("${PID[shim]}")
  for i in $(seq 1 100); do
    line=$(head -n1 "$WORK/shim.out" 2>/dev/null || true)
    [[ $line == "s3-shim listening on "* ]] && break
    kill -0 "${PID[shim]}" 2>/dev/null || { cat "$WORK/shim.err" >&2; die "s3-shim exited"; }
    sleep 0.1
  done
  [[ $line == "s3-shim listening on "* ]] || die "s3-shim did not start"
  SHIM_URL=${line#s3-shim listening on }
  log "s3s-fs pid ${PID[s3]} at $TEST_S3_ENDPOINT (buckets $TEST_S3_BUCKET for berth, $S3_DIST_BUCKET for distribution; data under $dir/s3s); shim pid ${PID[shim]} at $SHIM_URL"

  local berth_s3=$SHIM_URL
  [[ $S3_BERTH_DIRECT == 1 ]] && berth_s3=$TEST_S3_ENDPOINT
  BERTH_ENV=(
    BERTH__STORAGE__TYPE=s3 "BERTH__STORAGE__ENDPOINT=$berth_s3" "BERTH__STORAGE__BUCKET=$TEST_S3_BUCKET"
    "BERTH__STORAGE__REGION=$TEST_S3_REGION" "BERTH__STORAGE__ACCESS_KEY_ID=$TEST_S3_ACCESS_KEY"
    "BERTH__STORAGE__SECRET_ACCESS_KEY=$TEST_S3_SECRET_KEY" BERTH__STORAGE__PATH_STYLE=true
    BERTH__STORAGE__ALLOW_HTTP=true "BERTH__STORAGE__PREFIX=$S3_BERTH_PREFIX"
    "BERTH__DATABASE__URL=postgres://$CI_PG_ROLE:$CI_PG_PASSWORD@127.0.0.1:$CI_PG_PORT/$PG_DB"
  )
  start_berth --data-dir "$dir/berth"
  BERTH_ENV=()

  # distribution 2.8's s3-aws driver: a regionendpoint implies path-style requests.
  write_dist_config "$dir/dist.yml" "  s3:
    region: $TEST_S3_REGION
    regionendpoint: $SHIM_URL
    bucket: $S3_DIST_BUCKET
    accesskey: $TEST_S3_ACCESS_KEY
    secretkey: $TEST_S3_SECRET_KEY
    secure: false
    v4auth: true
    rootdirectory: $S3_DIST_ROOT${S3_DIST_CHUNK:+
    chunksize: $S3_DIST_CHUNK}"
  start_dist "$dir/dist.yml"

  local s3v
  s3v=$("$CI_S3_BIN" --version 2>/dev/null | awk '{print $NF}')
  CONFIG_DESC="s3: berth (blobs on S3, bucket $TEST_S3_BUCKET, key prefix $S3_BERTH_PREFIX/; metadata on PostgreSQL $CI_PG_VERSION, fresh database) vs distribution $("$DIST_BIN" --version 2>/dev/null | awk '{print $3}') (s3-aws driver, bucket $S3_DIST_BUCKET, rootdirectory $S3_DIST_ROOT, chunksize ${S3_DIST_CHUNK:-default 10 MiB}); one s3s-fs $s3v (files on local disk under $TMPBASE); sizes smaller than fs (s3s-fs lists by walking the whole bucket: see bench/README.md)"
  CONFIG_META=(
    "S3 path	$([[ $S3_BERTH_DIRECT == 1 ]] && echo 'berth -> s3s-fs directly; distribution' || echo 'both registries') -> berth-bench s3-shim (pass-through proxy that answers ListMultipartUploads, which s3s-fs lacks and distribution needs) -> s3s-fs"
    "backend table	S3 requests (counted by the shim) and CPU of s3s-fs + shim (+ all PostgreSQL processes, berth only) during each registry's measured parts"
  )
}

# Called by run_config after the scenarios, while the servers still run.
end_s3() {
  local st
  st=$("${CURL[@]}" "$SHIM_URL/__shim/stats" || true)
  log "s3-shim totals: $st"
  CONFIG_META+=("S3 requests over the run	berth $(kv berth_reqs "$st"), distribution $(kv dist_reqs "$st") (distribution's ListMultipartUploads answered by the shim: $(kv lists "$st")); CPU since start: s3s-fs $(awk -v t="$(cpu_ticks "${PID[s3]}")" -v hz="$CLK_TCK" 'BEGIN{printf "%.1f", t/hz}') s, shim $(awk -v t="$(cpu_ticks "${PID[shim]}")" -v hz="$CLK_TCK" 'BEGIN{printf "%.1f", t/hz}') s")
}

# Called by run_config after both registries have stopped.
teardown_s3() {
  stop_server shim
  log "s3-shim: $(tail -n1 "$WORK/shim.err" 2>/dev/null)"
  cp "$WORK/shim.err" "$RESULTS/shim.s3.stderr" 2>/dev/null || true
  cp "$CI_S3_DATA/s3s-fs.log" "$RESULTS/s3s-fs.s3.log" 2>/dev/null || true
  local p=${PID[s3]}
  PID[s3]=
  ci_s3_stop
  local q keep=()
  for q in "${STARTED_PIDS[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
  STARTED_PIDS=("${keep[@]}")
  drop_pg_db
  SHIM_URL=
}

# ------------------------------------------------------------------ measuring helpers

RES=  # results file of the current configuration

def() { printf 'def\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RES"; }  # key label unit kind target
val() { printf 'val\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES"; log "  $1 $2: $3"; }

cpu_ticks() { # PID -> utime+stime in ticks
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo $((${12} + ${13}))
}
declare -A CPU0
cpu_begin() {
  CPU0[$1]=$(cpu_ticks "${PID[$1]}")
  if [[ -n ${PID[s3]:-} ]]; then BCPU0=$(backend_ticks "$1"); BREQ0=$(shim_reqs "$1"); fi
}
cpu_end() { # KEY SERVER UNITS UNIT_LABEL
  local t
  t=$(cpu_ticks "${PID[$2]}")
  printf 'cpu\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" \
    "$(awk -v a="${CPU0[$2]}" -v b="$t" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b-a)/hz}')" \
    "$3" "$4" >>"$RES"
  if [[ -n ${PID[s3]:-} ]]; then
    t=$(backend_ticks "$2")
    printf 'backend\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" \
      "$(awk -v a="$BCPU0" -v b="$t" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b-a)/hz}')" \
      "$(($(shim_reqs "$2") - BREQ0))" "$3" >>"$RES"
  fi
}

# s3 configuration: CPU ticks of what serves SERVER's storage: s3s-fs and the shim, plus for
# berth every PostgreSQL process (with what the postmaster reaped from exited backends; other
# clients of the cluster, if any, are counted too).
backend_ticks() {
  local t p c
  t=$(($(cpu_ticks "${PID[s3]}") + $(cpu_ticks "${PID[shim]}")))
  if [[ $1 == berth ]]; then
    for p in $(pgrep -u postgres -x postgres || true); do
      # A backend or autovacuum worker may exit between pgrep and the read.
      c=$(cpu_ticks "$p" 2>/dev/null) || c=0
      t=$((t + ${c:-0}))
    done
    p=$(pgrep -u postgres -x postgres -o || true)
    if [[ -n $p ]]; then t=$((t + $(reaped_ticks "$p"))); fi
  fi
  echo "$t"
}
reaped_ticks() { # PID -> cutime+cstime in ticks
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo $((${14} + ${15}))
}
shim_reqs() { # SERVER -> S3 requests the shim has forwarded for it so far
  local st
  st=$("${CURL[@]}" "$SHIM_URL/__shim/stats") || die "s3-shim does not answer"
  kv "$([[ $1 == berth ]] && echo berth_reqs || echo dist_reqs)" "$st"
}

status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
hwm_note() { log "  VmHWM after $1: berth $(($(status_kb "${PID[berth]}" VmHWM) / 1024)) MiB, dist $(($(status_kb "${PID[dist]}" VmHWM) / 1024)) MiB"; }

# Before a big push: flush the dirty pages the previous push left (distribution does not fsync,
# berth does), so that writeback of one registry's data does not land in the other's timing.
settle() { if [[ $SYNC == 1 ]]; then sync; fi; }

# Interleaving: odd reps run berth first, even reps distribution first.
order() { if (($1 % 2)); then echo berth dist; else echo dist berth; fi; }

kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
mibps() { awk -v b="$1" -v t="$2" 'BEGIN{printf "%.2f", b/1048576/t}'; }
fadd() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", a+b}'; }

abs_url() { # BASE LOCATION
  case $2 in
    http://* | https://*) echo "$2" ;;
    /*) echo "$1$2" ;;
    *) echo "$1/$2" ;;
  esac
}
with_digest() { if [[ $1 == *\?* ]]; then echo "$1&digest=$2"; else echo "$1?digest=$2"; fi; }

# curl_req EXPECTED_STATUS CURL_ARGS... -> prints "time_total location"; dies on another status.
curl_req() {
  local want=$1 out code t loc
  shift
  out=$("${CURL[@]}" -o "$WORK/last.body" -w '%{http_code} %{time_total} %header{location}' "$@") ||
    die "curl failed: $*"
  read -r code t loc <<<"$out"
  if [[ $code != "$want" ]]; then
    log "unexpected status $code (wanted $want) for: curl ${*//@*/@FILE}"
    log "response body: $(head -c 600 "$WORK/last.body")"
    die "protocol mismatch"
  fi
  echo "$t $loc"
}

# Upload session start: sets UPLOAD_LOC (absolute Location) and START_T (the POST's time).
start_upload() { # SERVER REPO
  local r
  r=$(curl_req 202 -X POST "${URL[$1]}/v2/$2/blobs/uploads/")
  START_T=${r%% *}
  UPLOAD_LOC=$(abs_url "${URL[$1]}" "${r#* }")
}

# Monolithic push; prints the summed curl time_total of the requests it takes.
push_mono() { # SERVER REPO FILE DIGEST
  local s=$1 repo=$2 file=$3 digest=$4 r loc
  if [[ ${MONO[$s]} == 1 ]]; then
    r=$(curl_req 201 -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
      "${URL[$s]}/v2/$repo/blobs/uploads/?digest=$digest")
    echo "${r%% *}"
  else
    start_upload "$s" "$repo"
    loc=$UPLOAD_LOC
    local t0=$START_T
    r=$(curl_req 201 -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
      "$(with_digest "$loc" "$digest")")
    fadd "$t0" "${r%% *}"
  fi
}

push_chunked() { # SERVER REPO DIGEST CHUNK_FILES...
  local s=$1 repo=$2 digest=$3 r loc t off=0 size c
  shift 3
  start_upload "$s" "$repo"
  loc=$UPLOAD_LOC
  t=$START_T
  for c in "$@"; do
    size=$(stat -c %s "$c")
    r=$(curl_req 202 -X PATCH -H 'Content-Type: application/octet-stream' \
      -H "Content-Range: $off-$((off + size - 1))" --data-binary "@$c" "$loc")
    t=$(fadd "$t" "${r%% *}")
    loc=$(abs_url "${URL[$s]}" "${r#* }")
    off=$((off + size))
  done
  r=$(curl_req 201 -X PUT -H 'Content-Type: application/octet-stream' --data-binary '' \
    "$(with_digest "$loc" "$digest")")
  fadd "$t" "${r%% *}"
}

pull_once() { # SERVER REPO DIGEST -> seconds
  local out code size t
  out=$("${CURL[@]}" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    "${URL[$1]}/v2/$2/blobs/$3")
  read -r code size t <<<"$out"
  [[ $code == 200 && $size == "$BLOB_BYTES" ]] || die "pull from $1: status $code, $size bytes"
  echo "$t"
}

pull_concurrent() { # SERVER REPO DIGEST N -> wall seconds for N parallel pulls
  local i pids=() start end
  start=$(date +%s%N)
  for i in $(seq 1 "$4"); do
    "${CURL[@]}" -o /dev/null -w '%{http_code} %{size_download}' "${URL[$1]}/v2/$2/blobs/$3" \
      >"$WORK/pull.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  end=$(date +%s%N)
  for i in $(seq 1 "$4"); do
    [[ $(<"$WORK/pull.$i") == "200 $BLOB_BYTES" ]] || die "concurrent pull $i from $1: $(<"$WORK/pull.$i")"
  done
  awk -v a="$start" -v b="$end" 'BEGIN{printf "%.6f", (b-a)/1e9}'
}

# wrk_run SERVER URL [wrk args...] -> sets WRK_RPS and WRK_REQS
wrk_run() {
  local s=$1 url=$2 out non2xx
  shift 2
  out=$(wrk -t "$WRK_THREADS" -c "$WRK_CONN" -d "${WRK_SECS}s" "$@" "$url")
  echo "$out" >>"$RESULTS/wrk.log"
  non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' <<<"$out")
  [[ -z $non2xx ]] || die "wrk against $s got $non2xx non-2xx responses: $out"
  if grep -q 'Socket errors' <<<"$out"; then log "  wrk $s: $(grep 'Socket errors' <<<"$out")"; fi
  WRK_RPS=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  WRK_REQS=$(awk '/requests in/{print $1}' <<<"$out")
  [[ -n $WRK_RPS && -n $WRK_REQS ]] || die "could not parse wrk output: $out"
}

hammer() { # SERVER URL [args] -> the driver's summary line; dies on non-2xx answers
  local s=$1 url=$2 out
  shift 2
  out=$("$DRIVER" hammer --url "$url" --conns "$WRK_CONN" --threads "$WRK_THREADS" --secs "$WRK_SECS" "$@") ||
    die "hammer against $s failed"
  log "  hammer $s: $out"
  [[ $(kv non2xx "$out") == 0 ]] || die "hammer against $s got non-2xx answers"
  echo "$out"
}

# ------------------------------------------------------------------ fixtures

GEN_KEY=
gen_data() { # (again only if a configuration changed the sizes)
  BLOB_BYTES=$((BLOB_MIB * 1048576))
  local r f
  [[ $GEN_KEY != "$BLOB_MIB/$CHUNK_MIB/$REPS" ]] || return 0
  GEN_KEY=$BLOB_MIB/$CHUNK_MIB/$REPS
  rm -rf "$WORK/data"
  mkdir -p "$WORK/data"
  log "generating $((2 * REPS)) random blobs of $BLOB_MIB MiB (chunks of $CHUNK_MIB MiB)"
  for r in $(seq 1 "$REPS"); do
    for kind in mono chunked; do
      f=$WORK/data/$kind.$r
      head -c "$BLOB_BYTES" /dev/urandom >"$f"
      sha256sum "$f" | awk '{print "sha256:" $1}' >"$f.digest"
    done
    split -b "${CHUNK_MIB}M" -d -a 4 "$WORK/data/chunked.$r" "$WORK/data/chunked.$r.part."
  done
}
digest_of() { cat "$WORK/data/$1.digest"; }

# Pre-flight: is monolithic POST ?digest= supported? (distribution 2.8 ignores the body and
# answers 202 with a session; the protocol for such servers is POST, then one PUT ?digest=.)
probe_monolithic() {
  local s out code loc
  printf 'probe' >"$WORK/probe.bin"
  local digest="sha256:$(sha256sum "$WORK/probe.bin" | awk '{print $1}')"
  for s in berth dist; do
    out=$("${CURL[@]}" -o "$WORK/last.body" -w '%{http_code} %header{location}' -X POST \
      -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.bin" \
      "${URL[$s]}/v2/bench/probe/blobs/uploads/?digest=$digest")
    read -r code loc <<<"$out"
    if [[ $code == 201 ]]; then
      MONO[$s]=1
      log "$s: monolithic POST ?digest= -> 201, used for scenario 1"
    else
      MONO[$s]=0
      log "$s: monolithic POST ?digest= -> $code (Location: $loc); scenario 1 uses POST + one PUT ?digest= with the body"
      if [[ $code == 202 && -n $loc ]]; then # close the session it opened
        "${CURL[@]}" -o /dev/null -X DELETE "$(abs_url "${URL[$s]}" "$loc")" || true
      fi
    fi
  done
}

# A small image (tag fixture00000 in bench/wrk) for the manifest GET / blob HEAD runs.
push_fixtures() {
  local s
  for s in berth dist; do
    "$DRIVER" push-small --url "${URL[$s]}" --repo bench/wrk --count 1 --concurrency 1 \
      --tag-prefix fixture --seed 42 >/dev/null || die "fixture push to $s failed"
  done
  WRK_LAYER=$("${CURL[@]}" -H "Accept: $MANIFEST_ACCEPT" "${URL[berth]}/v2/bench/wrk/manifests/fixture00000" |
    grep -o 'sha256:[0-9a-f]\{64\}' | tail -n1)
  [[ -n $WRK_LAYER ]] || die "could not read the fixture manifest from berth"
}

ensure_big_blob() { # the blob pulled in scenarios 3 and 4 (untimed push if scenario 1 was skipped)
  local s
  for s in berth dist; do
    if [[ $("${CURL[@]}" -o /dev/null -I -w '%{http_code}' "${URL[$s]}/v2/bench/big/blobs/$(digest_of mono.1)") != 200 ]]; then
      push_mono "$s" bench/big "$WORK/data/mono.1" "$(digest_of mono.1)" >/dev/null
    fi
  done
}

# ------------------------------------------------------------------ scenarios

sc_mono() {
  def mono "1. monolithic push, ${BLOB_MIB} MiB" MiB/s rate '>=5'
  local r s t
  for r in $(seq 1 "$REPS"); do
    for s in $(order "$r"); do
      settle
      cpu_begin "$s"
      t=$(push_mono "$s" bench/big "$WORK/data/mono.$r" "$(digest_of "mono.$r")")
      cpu_end mono "$s" 1 push
      val mono "$s" "$(mibps "$BLOB_BYTES" "$t")"
    done
  done
}

sc_chunked() {
  def chunked "2. chunked push, ${BLOB_MIB} MiB in ${CHUNK_MIB} MiB PATCHes" MiB/s rate '>=5'
  local r s t
  for r in $(seq 1 "$REPS"); do
    for s in $(order "$r"); do
      settle
      cpu_begin "$s"
      t=$(push_chunked "$s" bench/chunked "$(digest_of "chunked.$r")" "$WORK/data/chunked.$r.part."*)
      cpu_end chunked "$s" 1 push
      val chunked "$s" "$(mibps "$BLOB_BYTES" "$t")"
    done
  done
}

sc_pull() {
  ensure_big_blob
  def pull "3. pull, ${BLOB_MIB} MiB blob" MiB/s rate '>=1.4'
  local r s t d
  d=$(digest_of mono.1)
  for s in berth dist; do pull_once "$s" bench/big "$d" >/dev/null; done # warm the page cache
  for r in $(seq 1 "$REPS"); do
    for s in $(order "$r"); do
      cpu_begin "$s"
      t=$(pull_once "$s" bench/big "$d")
      cpu_end pull "$s" 1 pull
      val pull "$s" "$(mibps "$BLOB_BYTES" "$t")"
    done
  done
}

sc_pullconc() {
  ensure_big_blob
  def pullconc "4. $PULL_CONC concurrent pulls (aggregate)" MiB/s rate '>=1.4'
  local r s t d
  d=$(digest_of mono.1)
  for r in $(seq 1 "$REPS"); do
    for s in $(order "$r"); do
      cpu_begin "$s"
      t=$(pull_concurrent "$s" bench/big "$d" "$PULL_CONC")
      cpu_end pullconc "$s" "$PULL_CONC" pull
      val pullconc "$s" "$(mibps $((BLOB_BYTES * PULL_CONC)) "$t")"
    done
  done
}

sc_small() {
  def small "5. small image pushes ($SMALL_PUSHES, $SMALL_CONC conns)" pushes/s rate '>=5'
  local r s out
  for r in $(seq 1 "$SMALL_REPS"); do
    for s in $(order "$r"); do
      cpu_begin "$s"
      out=$("$DRIVER" push-small --url "${URL[$s]}" --repo bench/small --count "$SMALL_PUSHES" \
        --concurrency "$SMALL_CONC" --tag-prefix "r$r-") || die "small pushes to $s failed"
      cpu_end small "$s" "$SMALL_PUSHES" push
      log "  driver: $out"
      val small "$s" "$(kv rate "$out")"
    done
  done
}

sc_wrk() {
  local man="/v2/bench/wrk/manifests/fixture00000" blob="/v2/bench/wrk/blobs/$WRK_LAYER" r s
  for s in berth dist; do # both must answer 200 with the OCI media type before we load them
    local ct
    ct=$("${CURL[@]}" -o /dev/null -w '%{http_code} %{content_type}' -H "Accept: $MANIFEST_ACCEPT" "${URL[$s]}$man")
    [[ $ct == "200 $MANIFEST_ACCEPT"* ]] || die "$s manifest GET: $ct"
    ct=$("${CURL[@]}" -o /dev/null -I -w '%{http_code}' "${URL[$s]}$blob")
    [[ $ct == 200 ]] || die "$s blob HEAD: $ct"
  done
  # wrk (Debian 4.1.0) hangs on HEAD responses that carry a Content-Length (it waits for a body),
  # so HEAD uses the driver's wrk-like raw-socket loader, `berth-bench hammer`. Row 6a' runs the
  # manifest GET through hammer as well, to show it is as light a client as wrk.
  def manifest_get "6a. manifest GET by tag (wrk -c$WRK_CONN -t$WRK_THREADS)" req/s rate '>=10'
  def blob_head "6b. blob HEAD (hammer -c$WRK_CONN, ${WRK_THREADS} threads)" req/s rate '>=10'
  def manifest_get_h "6a'. manifest GET by tag (hammer, cross-check)" req/s rate -
  local out
  for r in $(seq 1 "$WRK_REPS"); do
    for s in $(order "$r"); do
      cpu_begin "$s"
      wrk_run "$s" "${URL[$s]}$man" -H "Accept: $MANIFEST_ACCEPT"
      cpu_end manifest_get "$s" "$WRK_REQS" request
      val manifest_get "$s" "$WRK_RPS"
    done
    for s in $(order "$r"); do
      cpu_begin "$s"
      out=$(hammer "$s" "${URL[$s]}$blob" --method HEAD)
      cpu_end blob_head "$s" "$(kv ops "$out")" request
      val blob_head "$s" "$(kv rate "$out")"
    done
    for s in $(order "$r"); do
      cpu_begin "$s"
      out=$(hammer "$s" "${URL[$s]}$man" --header "Accept: $MANIFEST_ACCEPT")
      cpu_end manifest_get_h "$s" "$(kv ops "$out")" request
      val manifest_get_h "$s" "$(kv rate "$out")"
    done
  done
}

sc_tags() {
  def tags_seed "7'. seeding: tag PUTs of one manifest ($SEED_CONC conns)" tags/s rate -
  def tags "7. tags/list of $TAGS tags (?n=10000)" ms/req time -
  local r s out
  for s in $(order 1); do
    cpu_begin "$s"
    out=$("$DRIVER" seed-tags --url "${URL[$s]}" --repo bench/tags --count "$TAGS" \
      --concurrency "$SEED_CONC") || die "tag seeding on $s failed"
    cpu_end tags_seed "$s" "$TAGS" tag
    log "  driver: $out"
    val tags_seed "$s" "$(kv rate "$out")"
  done
  for r in $(seq 1 "$REPS"); do
    for s in $(order "$r"); do
      cpu_begin "$s"
      out=$("$DRIVER" get-loop --url "${URL[$s]}/v2/bench/tags/tags/list?n=10000" \
        --requests "$LIST_REQS" --json-array tags --min-len "$TAGS") || die "tags/list on $s failed"
      cpu_end tags "$s" "$LIST_REQS" request
      log "  driver: $out"
      val tags "$s" "$(kv p50_ms "$out")"
    done
  done
}

sc_catalog() {
  def catalog_seed "8'. seeding: one image per new repository ($SEED_CONC conns)" repos/s rate -
  def catalog "8. catalog of $REPOS+ repositories (?n=1000)" ms/req time -
  local r s out
  for s in $(order 1); do
    cpu_begin "$s"
    out=$("$DRIVER" push-small --url "${URL[$s]}" --repo bench/cat/r --repo-per-push \
      --count "$REPOS" --concurrency "$SEED_CONC" --tag-prefix v) || die "repo seeding on $s failed"
    cpu_end catalog_seed "$s" "$REPOS" repo
    log "  driver: $out"
    val catalog_seed "$s" "$(kv rate "$out")"
  done
  for r in $(seq 1 "$REPS"); do
    for s in $(order "$r"); do
      cpu_begin "$s"
      out=$("$DRIVER" get-loop --url "${URL[$s]}/v2/_catalog?n=1000" \
        --requests "$LIST_REQS" --json-array repositories --min-len "$REPOS") || die "catalog on $s failed"
      cpu_end catalog "$s" "$LIST_REQS" request
      log "  driver: $out"
      val catalog "$s" "$(kv p50_ms "$out")"
    done
  done
}

sc_rss() {
  def rss_peak "9. peak RSS over the run (VmHWM)" MiB mem '<=0.5'
  def rss_end "9'. RSS after the run (VmRSS)" MiB mem -
  sleep 1
  local s
  for s in berth dist; do
    val rss_peak "$s" "$(awk -v k="$(status_kb "${PID[$s]}" VmHWM)" 'BEGIN{printf "%.1f", k/1024}')"
    val rss_end "$s" "$(awk -v k="$(status_kb "${PID[$s]}" VmRSS)" 'BEGIN{printf "%.1f", k/1024}')"
  done
}

# ------------------------------------------------------------------ main

# CPU of the reaped children of this shell (curl, wrk, driver), in 1/100 s, into CHILD_TICKS.
# (`times` must run in this shell, not in a pipe or $(...), whose children are other ones.)
children_ticks() {
  times >"$WORK/times"
  CHILD_TICKS=$(awk 'NR==2{ t=0; for (i=1;i<=2;i++){ split($i, a, "m"); t += a[1]*60 + a[2] } printf "%d", t*100 }' "$WORK/times")
}
proc_cpu() { awk '$1=="cpu"{busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6}' /proc/stat; }

machine_note() {
  printf 'load average %s; %s rustc/cargo processes running' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(ps -eo comm= | grep -cE '^(rustc|cargo|cargo-clippy|clippy-driver|rustdoc)$' || true)"
}

run_config() {
  local name=$1 start sc
  RES=$RESULTS/results.$name.tsv
  : >"$RES"
  start=$(date +%s)
  log "=== configuration $name"
  # A configuration may change the sizes (params_<name>); they are restored afterwards.
  local v
  declare -A saved=()
  for v in $PARAM_VARS; do saved[$v]=${!v}; done
  if declare -F "params_$name" >/dev/null; then "params_$name"; fi
  gen_data
  "config_$name"
  local cpu_start srv_start
  cpu_start=$(proc_cpu)
  local cli_start
  children_ticks
  cli_start=$CHILD_TICKS
  srv_start=$(($(cpu_ticks "${PID[berth]}") + $(cpu_ticks "${PID[dist]}")))
  local bk_start=0
  if [[ -n ${PID[s3]:-} ]]; then bk_start=$(backend_ticks berth); fi
  printf 'meta\tconfiguration\t%s\n' "$CONFIG_DESC" >>"$RES"
  local m
  for m in "${CONFIG_META[@]}"; do printf 'meta\t%s\n' "$m" >>"$RES"; done
  CONFIG_META=()
  printf 'meta\tberth build\t%s from %s at commit %s%s (binary built %s)\n' "$BERTH_BIN" "$ROOT" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')" \
    "$(date -r "$BERTH_BIN" '+%F %T')" >>"$RES"
  printf 'meta\tmachine\t%s cores, %s; at start: %s\n' "$(nproc)" "$(uname -r)" "$(machine_note)" >>"$RES"
  printf 'meta\tparameters\tBENCH_QUICK=%s blob=%sMiB chunk=%sMiB reps=%s pull_conc=%s small=%sx%s (conc %s) wrk=%ss x%s -c%s -t%s tags=%s repos=%s list_reqs=%s\n' \
    "$QUICK" "$BLOB_MIB" "$CHUNK_MIB" "$REPS" "$PULL_CONC" "$SMALL_PUSHES" "$SMALL_REPS" "$SMALL_CONC" \
    "$WRK_SECS" "$WRK_REPS" "$WRK_CONN" "$WRK_THREADS" "$TAGS" "$REPOS" "$LIST_REQS" >>"$RES"
  probe_monolithic
  printf 'meta\tmonolithic push\tberth: %s; distribution: %s\n' \
    "$([[ ${MONO[berth]} == 1 ]] && echo 'POST ?digest= with body' || echo 'POST + PUT ?digest= with body')" \
    "$([[ ${MONO[dist]} == 1 ]] && echo 'POST ?digest= with body' || echo 'POST + PUT ?digest= with body (POST ?digest= not supported)')" >>"$RES"
  push_fixtures
  for sc in $SCENARIOS; do
    log "--- scenario $sc"
    "sc_$sc"
    hwm_note "$sc"
  done
  sc_rss
  if declare -F "end_$name" >/dev/null; then "end_$name"; fi
  for m in "${CONFIG_META[@]}"; do printf 'meta\t%s\n' "$m" >>"$RES"; done
  CONFIG_META=()
  local busy bk_end=0
  if [[ -n ${PID[s3]:-} ]]; then bk_end=$(backend_ticks berth); fi
  children_ticks
  busy=$(awk -v a="$cpu_start" -v b="$(proc_cpu)" -v s0="$srv_start" \
    -v s1="$(($(cpu_ticks "${PID[berth]}") + $(cpu_ticks "${PID[dist]}")))" -v n="$(nproc)" \
    -v c0="$cli_start" -v c1="$CHILD_TICKS" -v k0="$bk_start" -v k1="$bk_end" -v hasbk="${PID[s3]:+1}" 'BEGIN{
      split(a, x, " "); split(b, y, " "); tot = y[2] - x[2]; busy = y[1] - x[1]; srv = s1 - s0; cli = c1 - c0; bk = k1 - k0;
      printf "CPU over the run: %.0f%% of %d cores busy = %.0f%% the two registries + %.0f%% benchmark clients",
        100*busy/tot, n, 100*srv/tot, 100*cli/tot
      if (hasbk) printf " + %.0f%% s3s-fs, shim and PostgreSQL", 100*bk/tot
      printf " + %.0f%% other processes", 100*(busy-srv-cli-bk)/tot }')
  printf 'meta\tmachine at end\t%s; run took %ss; %s\n' "$(machine_note)" "$(($(date +%s) - start))" "$busy" >>"$RES"
  cp "$WORK/berth.err" "$RESULTS/berth.$name.stderr" 2>/dev/null || true
  cp "$WORK/dist.err" "$RESULTS/dist.$name.stderr" 2>/dev/null || true
  stop_server berth
  stop_server dist
  if declare -F "teardown_$name" >/dev/null; then "teardown_$name"; fi
  rm -rf "${WORK:?}/$name"
  for v in $PARAM_VARS; do printf -v "$v" '%s' "${saved[$v]}"; done
  echo
  "$DRIVER" report "$RES" | tee "$RESULTS/table.$name.txt"
  echo
}

log "results in $RESULTS, scratch in $WORK"
for c in $CONFIGS; do
  declare -F "config_$c" >/dev/null || die "unknown configuration $c"
  run_config "$c"
done
