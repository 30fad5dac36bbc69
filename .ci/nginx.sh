# shellcheck shell=bash
# Makes sure Debian's nginx is installed for crates/berth/tests/nginx.rs, which starts its
# own nginx in front of berth replicas (as the current user, single process, with a
# temporary prefix and configuration, on a free 127.0.0.1 port) and stops it by PID. Meant
# to be sourced:
#
#   source .ci/nginx.sh || exit 1     # exports TEST_NGINX for `cargo test`
#
# Nothing is left running: there is no ci_nginx_stop. The package is installed without
# starting the distribution's own nginx service (a policy-rc.d that forbids it is put in
# place for the install when none exists, and removed afterwards).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "nginx.sh: source this file (it exports TEST_NGINX)" >&2
    exit 2
fi

CI_NGINX_BIN=/usr/sbin/nginx

ci_nginx_log() {
    echo "nginx.sh: $*" >&2
}

ci_nginx_apt() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Use-Pty=0 "$@" </dev/null >&2
}

ci_nginx_install() {
    if [ -x "$CI_NGINX_BIN" ]; then
        return 0
    fi
    local start=$SECONDS policy=/usr/sbin/policy-rc.d made_policy=0 status=0
    if [ ! -e "$policy" ]; then
        # 101: "action forbidden", so dpkg does not start the service it installs.
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    ci_nginx_log "installing nginx with apt-get"
    if ! ci_nginx_apt install --no-install-recommends nginx; then
        ci_nginx_log "install failed; running apt-get update and retrying"
        { ci_nginx_apt update && ci_nginx_apt install --no-install-recommends nginx; } || status=1
    fi
    if [ "$made_policy" = 1 ]; then
        rm -f "$policy"
    fi
    [ "$status" = 0 ] || return 1
    ci_nginx_log "nginx installed in $((SECONDS - start)) s"
    [ -x "$CI_NGINX_BIN" ]
}

ci_nginx_install || { ci_nginx_log "could not install nginx"; return 1 2>/dev/null || exit 1; }
export TEST_NGINX="$CI_NGINX_BIN"
ci_nginx_log "$("$TEST_NGINX" -v 2>&1) at $TEST_NGINX"
