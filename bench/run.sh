#!/usr/bin/env bash
# berth vs CNCF distribution (Debian docker-registry 2.8.2), side by side on this machine.
# Usage: bash bench/run.sh                 (full run, ~4 min + build)
#        BENCH_QUICK=1 bash bench/run.sh   (quick run, ~40 s + build)
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
TMPBASE=${BENCH_TMPDIR:-/tmp}
RESULTS=${BENCH_RESULTS_DIR:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
BERTH_BIN=${BENCH_BERTH_BIN:-$ROOT/target/release/berth}
DRIVER=${BENCH_DRIVER_BIN:-$ROOT/target/release/berth-bench}
DIST_BIN=${BENCH_DIST_BIN:-/usr/bin/docker-registry}

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

cleanup() {
  local p
  for p in "${STARTED_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for p in "${STARTED_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
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
  "$BERTH_BIN" serve --listen 127.0.0.1:0 --log-level warn "$@" >"$out" 2>"$WORK/berth.err" &
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
start_dist() {
  "$DIST_BIN" serve "$1" >"$WORK/dist.out" 2>"$WORK/dist.err" &
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
  local s=$1 p=${PID[$1]:-}
  [[ -n $p ]] || return 0
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  PID[$s]=
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

# Placeholder for the second configuration: berth on S3 + PostgreSQL vs distribution's S3
# driver, both against the same S3 server. Once berth has those backends:
#   - write a berth TOML (storage kind s3: endpoint/bucket/credentials, meta: postgres URL)
#     and call:  start_berth --data-dir "$dir/berth" --config "$dir/berth.toml"
#   - call write_dist_config "$dir/dist.yml" with an s3 section:
#       s3: {regionendpoint: $BENCH_S3_ENDPOINT, region: us-east-1, bucket: <other bucket>,
#            accesskey: ..., secretkey: ..., secure: false, v4auth: true, forcepathstyle: true}
#     then start_dist "$dir/dist.yml"
#   - use distinct buckets (or prefixes: rootdirectory) for the two registries.
config_s3() {
  die "configuration s3 is not implemented yet (see the comment above config_s3 in bench/run.sh)"
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
cpu_begin() { CPU0[$1]=$(cpu_ticks "${PID[$1]}"); }
cpu_end() { # KEY SERVER UNITS UNIT_LABEL
  local t
  t=$(cpu_ticks "${PID[$2]}")
  printf 'cpu\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" \
    "$(awk -v a="${CPU0[$2]}" -v b="$t" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b-a)/hz}')" \
    "$3" "$4" >>"$RES"
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

gen_data() {
  BLOB_BYTES=$((BLOB_MIB * 1048576))
  local r f
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
  "config_$name"
  local cpu_start srv_start
  cpu_start=$(proc_cpu)
  local cli_start
  children_ticks
  cli_start=$CHILD_TICKS
  srv_start=$(($(cpu_ticks "${PID[berth]}") + $(cpu_ticks "${PID[dist]}")))
  printf 'meta\tconfiguration\t%s\n' "$CONFIG_DESC" >>"$RES"
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
  local busy
  children_ticks
  busy=$(awk -v a="$cpu_start" -v b="$(proc_cpu)" -v s0="$srv_start" \
    -v s1="$(($(cpu_ticks "${PID[berth]}") + $(cpu_ticks "${PID[dist]}")))" -v n="$(nproc)" \
    -v c0="$cli_start" -v c1="$CHILD_TICKS" 'BEGIN{
      split(a, x, " "); split(b, y, " "); tot = y[2] - x[2]; busy = y[1] - x[1]; srv = s1 - s0; cli = c1 - c0;
      printf "CPU over the run: %.0f%% of %d cores busy = %.0f%% the two registries + %.0f%% benchmark clients + %.0f%% other processes",
        100*busy/tot, n, 100*srv/tot, 100*cli/tot, 100*(busy-srv-cli)/tot }')
  printf 'meta\tmachine at end\t%s; run took %ss; %s\n' "$(machine_note)" "$(($(date +%s) - start))" "$busy" >>"$RES"
  cp "$WORK/berth.err" "$RESULTS/berth.$name.stderr" 2>/dev/null || true
  cp "$WORK/dist.err" "$RESULTS/dist.$name.stderr" 2>/dev/null || true
  stop_server berth
  stop_server dist
  rm -rf "${WORK:?}/$name"
  echo
  "$DRIVER" report "$RES" | tee "$RESULTS/table.$name.txt"
  echo
}

log "results in $RESULTS, scratch in $WORK"
gen_data
for c in $CONFIGS; do
  declare -F "config_$c" >/dev/null || die "unknown configuration $c"
  run_config "$c"
done
