# shellcheck shell=bash
# Starts a local S3-compatible server (s3s-fs) for berth's S3 tests. Meant to be sourced:
#
#   source .ci/s3.sh || exit 1     # exports TEST_S3_* for `cargo test`
#   ...
#   ci_s3_stop
#
# s3s-fs is installed once with `cargo install` into a cache directory (about 3 minutes on
# 2 cores) and reused afterwards. Each start gets a fresh data directory and a port chosen
# by the kernel (s3s-fs listens on port 0 and logs the address it got).
# Knobs: BERTH_CI_CACHE (default ~/.cache/berth-ci).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "s3.sh: source this file (it exports variables and leaves a server running)" >&2
    exit 2
fi

CI_S3_VERSION=0.14.1
CI_S3_ROOT="${BERTH_CI_CACHE:-$HOME/.cache/berth-ci}/s3s"
CI_S3_BIN="$CI_S3_ROOT/bin/s3s-fs"

ci_s3_install() {
    if [ -x "$CI_S3_BIN" ] && "$CI_S3_BIN" --version 2>/dev/null | grep -qF " $CI_S3_VERSION"; then
        return 0
    fi
    echo "s3.sh: installing s3s-fs $CI_S3_VERSION into $CI_S3_ROOT" >&2
    mkdir -p "$CI_S3_ROOT" || return 1
    cargo install s3s-fs --version "$CI_S3_VERSION" --features binary --locked \
        --root "$CI_S3_ROOT" >&2 || return 1
    [ -x "$CI_S3_BIN" ]
}

ci_s3_stop() {
    if [ -n "${CI_S3_PID:-}" ]; then
        kill "$CI_S3_PID" 2>/dev/null || true
        wait "$CI_S3_PID" 2>/dev/null || true
        CI_S3_PID=
    fi
    if [ -n "${CI_S3_DATA:-}" ]; then
        rm -rf "$CI_S3_DATA"
        CI_S3_DATA=
    fi
    # Tests that still saw an endpoint would retry a dead server for minutes.
    unset TEST_S3_ENDPOINT TEST_S3_BUCKET TEST_S3_ACCESS_KEY TEST_S3_SECRET_KEY TEST_S3_REGION
}

# Any HTTP answer will do (403 without a signature).
ci_s3_answers() {
    if command -v curl >/dev/null; then
        curl -s -o /dev/null --max-time 2 "$1/"
    else
        local hostport="${1#http://}"
        (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
    fi
}

ci_s3_start() {
    ci_s3_install || { echo "s3.sh: could not install s3s-fs" >&2; return 1; }
    ci_s3_stop
    CI_S3_DATA="$(mktemp -d "${TMPDIR:-/tmp}/berth-s3s.XXXXXX")" || return 1
    local bucket=berth-ci access_key=berth-ci secret_key=berth-ci-secret-key
    # Each top-level directory of the data directory is a bucket.
    mkdir -p "$CI_S3_DATA/data/$bucket" || return 1
    local log="$CI_S3_DATA/s3s-fs.log"
    RUST_LOG=s3s_fs=info "$CI_S3_BIN" --host 127.0.0.1 --port 0 \
        --access-key "$access_key" --secret-key "$secret_key" "$CI_S3_DATA/data" \
        >"$log" 2>&1 &
    CI_S3_PID=$!
    local endpoint="" i
    for i in $(seq 1 100); do
        if ! kill -0 "$CI_S3_PID" 2>/dev/null; then
            echo "s3.sh: s3s-fs exited at start:" >&2
            cat "$log" >&2
            CI_S3_PID=
            ci_s3_stop
            return 1
        fi
        endpoint="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)"
        if [ -n "$endpoint" ] && ci_s3_answers "$endpoint"; then
            break
        fi
        endpoint=""
        sleep 0.1
    done
    if [ -z "$endpoint" ]; then
        echo "s3.sh: s3s-fs did not answer within 10 s:" >&2
        cat "$log" >&2
        ci_s3_stop
        return 1
    fi
    export TEST_S3_ENDPOINT="$endpoint"
    export TEST_S3_BUCKET="$bucket"
    export TEST_S3_ACCESS_KEY="$access_key"
    export TEST_S3_SECRET_KEY="$secret_key"
    export TEST_S3_REGION=us-east-1
    export CI_S3_PID CI_S3_DATA
    echo "s3.sh: s3s-fs (pid $CI_S3_PID) serving $TEST_S3_ENDPOINT, bucket $TEST_S3_BUCKET" >&2
}

ci_s3_start || return 1 2>/dev/null || exit 1
