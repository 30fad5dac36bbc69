# shellcheck shell=bash
# Starts the local PostgreSQL cluster for berth's Postgres tests. Meant to be sourced:
#
#   source .ci/postgres.sh || exit 1     # exports TEST_DATABASE_URL for `cargo test`
#   ...
#   ci_postgres_stop
#
# On a fresh Debian (bookworm) machine, as root and without a terminal, it installs the
# distribution's postgresql package (apt-get update only if the install needs it), starts
# the newest installed cluster (creating one if the package left none), makes sure a login
# role berth/berth with CREATEDB exists, waits until that role can log in over TCP on
# 127.0.0.1, and exports TEST_DATABASE_URL. Every step is idempotent: sourcing it again
# while the cluster runs just re-checks. Returns non-zero if PostgreSQL cannot be started.
#
# ci_postgres_stop stops the cluster only if this script started it.
# Knobs: CI_PG_ROLE / CI_PG_PASSWORD (default berth/berth).

CI_PG_ROLE="${CI_PG_ROLE:-berth}"
CI_PG_PASSWORD="${CI_PG_PASSWORD:-berth}"

ci_pg_log() {
    echo "postgres.sh: $*" >&2
}

# Runs a command as the postgres OS user (peer authentication on the Unix socket), from /
# so that it does not complain about the caller's home directory.
ci_pg_as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@" </dev/null)
    else
        (cd / && sudo -n -u postgres -- "$@" </dev/null)
    fi
}

# Newest PostgreSQL major version whose server binary is installed.
ci_pg_version() {
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' \
        2>/dev/null | sort -V | tail -n 1)"
    [ -n "$dir" ] || return 1
    dir="${dir%/bin/postgres}"
    echo "${dir##*/}"
}

ci_pg_install() {
    if ci_pg_version >/dev/null && command -v pg_ctlcluster >/dev/null; then
        return 0
    fi
    local start=$SECONDS
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    ci_pg_log "installing postgresql with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends \
        postgresql </dev/null >&2; then
        ci_pg_log "install failed; running apt-get update and retrying"
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" update </dev/null >&2 || return 1
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends \
            postgresql </dev/null >&2 || return 1
    fi
    ci_pg_log "postgresql installed in $((SECONDS - start)) s"
    ci_pg_version >/dev/null && command -v pg_ctlcluster >/dev/null
}

# Field $2 of the cluster's pg_lsclusters line: 3 = port, 4 = status.
ci_pg_cluster_field() {
    pg_lsclusters --no-header 2>/dev/null |
        awk -v v="$CI_PG_VERSION" -v c=main -v f="$1" '$1 == v && $2 == c { print $f }'
}

ci_pg_start() {
    ci_pg_install || { ci_pg_log "could not install postgresql"; return 1; }
    CI_PG_VERSION="$(ci_pg_version)" || { ci_pg_log "no PostgreSQL server found"; return 1; }
    local start=$SECONDS
    if [ -z "$(ci_pg_cluster_field 2)" ]; then
        ci_pg_log "creating cluster $CI_PG_VERSION/main"
        pg_createcluster "$CI_PG_VERSION" main </dev/null >&2 || return 1
    fi
    if [ "$(ci_pg_cluster_field 4)" = online ]; then
        ci_pg_log "cluster $CI_PG_VERSION/main already running"
    else
        # Exit status 2 means "already running" (someone else won a race with us): fine.
        local rc=0
        pg_ctlcluster "$CI_PG_VERSION" main start </dev/null >&2 || rc=$?
        if [ "$rc" = 0 ]; then
            CI_PG_STARTED=1
        elif [ "$rc" != 2 ]; then
            ci_pg_log "pg_ctlcluster $CI_PG_VERSION main start failed ($rc):"
            tail -n 20 "/var/log/postgresql/postgresql-$CI_PG_VERSION-main.log" >&2 2>/dev/null
            return 1
        fi
    fi
    CI_PG_PORT="$(ci_pg_cluster_field 3)"
    CI_PG_PORT="${CI_PG_PORT:-5432}"

    local i
    for i in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p "$CI_PG_PORT" -t 1 </dev/null && break
        sleep 0.5
    done
    if ! pg_isready -q -h 127.0.0.1 -p "$CI_PG_PORT" -t 1 </dev/null; then
        ci_pg_log "PostgreSQL does not accept TCP connections on 127.0.0.1:$CI_PG_PORT"
        return 1
    fi

    # The role, created or brought back to what the tests expect. Dollar quoting keeps the
    # password literal; the knobs are ours, not user input.
    ci_pg_as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$CI_PG_PORT" -d postgres -c "
        DO \$\$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '$CI_PG_ROLE') THEN
            ALTER ROLE \"$CI_PG_ROLE\" LOGIN CREATEDB PASSWORD \$pw\$$CI_PG_PASSWORD\$pw\$;
          ELSE
            CREATE ROLE \"$CI_PG_ROLE\" LOGIN CREATEDB PASSWORD \$pw\$$CI_PG_PASSWORD\$pw\$;
          END IF;
        END \$\$;
        -- A test's DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker
        -- that happens to be in its database.
        GRANT pg_signal_backend TO \"$CI_PG_ROLE\";" >&2 || { ci_pg_log "could not create role $CI_PG_ROLE"; return 1; }

    # Ready means: the role logs in with its password over TCP, as the tests will.
    if ! PGPASSWORD="$CI_PG_PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -q -At -h 127.0.0.1 \
        -p "$CI_PG_PORT" -U "$CI_PG_ROLE" -d postgres -c 'SELECT 1' </dev/null >/dev/null; then
        ci_pg_log "role $CI_PG_ROLE cannot log in on 127.0.0.1:$CI_PG_PORT"
        return 1
    fi

    export TEST_DATABASE_URL="postgres://$CI_PG_ROLE:$CI_PG_PASSWORD@127.0.0.1:$CI_PG_PORT/postgres"
    export CI_PG_VERSION CI_PG_PORT CI_PG_STARTED
    ci_pg_log "PostgreSQL $CI_PG_VERSION ready on 127.0.0.1:$CI_PG_PORT in $((SECONDS - start)) s;" \
        "TEST_DATABASE_URL=$TEST_DATABASE_URL"
}

# Stops the cluster if ci_pg_start started it; leaves one that was already running alone.
ci_postgres_stop() {
    if [ "${CI_PG_STARTED:-}" = 1 ] && [ -n "${CI_PG_VERSION:-}" ]; then
        pg_ctlcluster "$CI_PG_VERSION" main stop -m fast </dev/null >&2
        CI_PG_STARTED=
    fi
}

ci_pg_start || return 1 2>/dev/null || exit 1
