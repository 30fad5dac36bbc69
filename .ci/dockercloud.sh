# shellcheck shell=bash
# Installs the real Docker Cloud clients, python-dockercloud 1.0.12 and the docker-cloud CLI
# 1.0.9 (PyPI), for berth's external-repository tests (/api/repo/v1/...). Meant to be sourced:
#
#   source .ci/dockercloud.sh || exit 1   # exports DOCKERCLOUD_PY and DOCKERCLOUD_CLI
#   DOCKERCLOUD_REST_HOST=http://127.0.0.1:PORT DOCKERCLOUD_USER=u DOCKERCLOUD_APIKEY=k \
#       "$DOCKERCLOUD_PY" crates/berth/tests/clients/dockercloud_repos.py 127.0.0.1:5001/u/img user pass
#   ... "$DOCKERCLOUD_CLI" repository ls
#
# Both are Python 2.7 programs. The machine image has a Python 2.7 under pyenv
# (/root/.pyenv/versions/2.7.18); the script looks for one (knob BERTH_CI_PYTHON27 first) and
# makes a virtual environment from it in $BERTH_CI_CACHE/dockercloud/venv:
#   1. pip install --target $ROOT/bootstrap virtualenv==20.15.1 (the last virtualenv that runs on
#      2.7; nothing goes into the interpreter's own site-packages or ~/.local)
#   2. PYTHONPATH=$ROOT/bootstrap python2.7 -m virtualenv $ROOT/venv (seeds pip 20.3.4 from the
#      wheels virtualenv bundles: no download)
#   3. $ROOT/venv/bin/pip install the two clients, their dependencies pinned by a constraints file
# First install about 25 s (PyYAML 3.13 is built from source, it needs a C compiler or falls
# back to pure Python); afterwards about 0.2 s (one import check in the venv).
#
# No Python 2.7 at all: a loud warning, nothing is exported (DOCKERCLOUD_PY/CLI are unset) and
# sourcing succeeds, so that the tests skip, loudly, naming this script. A Python 2.7 that is
# there but the install fails (PyPI unreachable, ...): sourcing fails (return 1).
# Nothing runs in the background, so there is nothing to stop (ci_dockercloud_stop is a no-op
# for .ci/run's start_service). The clients read ~/.docker/config.json when they are imported
# (a "credsStore" there makes them exec docker-credential-*): tests should run them with HOME
# pointed at a temporary directory and with DOCKERCLOUD_* set explicitly.
# Knobs: BERTH_CI_CACHE (default ~/.cache/berth-ci), BERTH_CI_PYTHON27 (a python2.7 to use).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "dockercloud.sh: source this file (it exports DOCKERCLOUD_PY and DOCKERCLOUD_CLI)" >&2
    exit 2
fi

CI_DC_LIB_VERSION=1.0.12
CI_DC_CLI_VERSION=1.0.9
CI_DC_VIRTUALENV_VERSION=20.15.1
CI_DC_ROOT="${BERTH_CI_CACHE:-$HOME/.cache/berth-ci}/dockercloud"
CI_DC_VENV="$CI_DC_ROOT/venv"

ci_dockercloud_log() {
    echo "dockercloud.sh: $*" >&2
}

ci_dockercloud_stop() {
    :
}

# True if $1 runs and is a CPython 2.7.
ci_dockercloud_is_py27() {
    [ -n "$1" ] && [ -x "$1" ] &&
        "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1
}

# Prints the first Python 2.7 found, or fails.
ci_dockercloud_find_py27() {
    local c pyenv_root
    pyenv_root="${PYENV_ROOT:-}"
    if [ -z "$pyenv_root" ] && command -v pyenv >/dev/null 2>&1; then
        pyenv_root="$(pyenv root 2>/dev/null || true)"
    fi
    for c in "${BERTH_CI_PYTHON27:-}" \
        ${pyenv_root:+"$pyenv_root"/versions/2.7*/bin/python2.7} \
        "$HOME"/.pyenv/versions/2.7*/bin/python2.7 \
        /root/.pyenv/versions/2.7*/bin/python2.7 \
        /usr/local/bin/python2.7 /usr/bin/python2.7 \
        "$(command -v python2.7 2>/dev/null || true)" \
        "$(command -v python2 2>/dev/null || true)"; do
        if ci_dockercloud_is_py27 "$c"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# True if the venv exists, its python runs, and both clients report the pinned versions.
ci_dockercloud_ok() {
    [ -x "$CI_DC_VENV/bin/docker-cloud" ] || return 1
    "$CI_DC_VENV/bin/python" - "$CI_DC_LIB_VERSION" "$CI_DC_CLI_VERSION" >/dev/null 2>&1 <<'PY'
import sys
import dockercloud, dockercloudcli
sys.exit(0 if (dockercloud.__version__, dockercloudcli.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

ci_dockercloud_install() {
    local py=$1
    local pipq=(--no-input --disable-pip-version-check -q)
    # pip 19.2 (pyenv's) has no --no-python-version-warning; as an environment variable it is
    # ignored there and quiets pip 20.3 in the venv.
    export PIP_NO_PYTHON_VERSION_WARNING=1
    ci_dockercloud_log "installing python-dockercloud $CI_DC_LIB_VERSION and docker-cloud $CI_DC_CLI_VERSION into $CI_DC_VENV (from $py)"
    mkdir -p "$CI_DC_ROOT" || return 1
    rm -rf "$CI_DC_VENV" "$CI_DC_ROOT/bootstrap"
    # virtualenv for 2.7, kept out of the interpreter's own site-packages and ~/.local.
    PYTHONNOUSERSITE=1 "$py" -m pip install "${pipq[@]}" --target "$CI_DC_ROOT/bootstrap" \
        "virtualenv==$CI_DC_VIRTUALENV_VERSION" >&2 || return 1
    PYTHONPATH="$CI_DC_ROOT/bootstrap" PYTHONNOUSERSITE=1 VIRTUALENV_OVERRIDE_APP_DATA="$CI_DC_ROOT/app-data" \
        "$py" -m virtualenv -q \
        --no-periodic-update --app-data "$CI_DC_ROOT/app-data" "$CI_DC_VENV" >&2 || return 1
    # The dependency set that pip resolves on 2.7 today, pinned so a later release changes nothing.
    cat >"$CI_DC_ROOT/constraints.txt" <<'EOF'
ago==0.0.95
certifi==2021.10.8
chardet==4.0.0
future==0.18.3
idna==2.10
python-dateutil==2.9.0.post0
PyYAML==3.13
requests==2.27.1
six==1.17.0
tabulate==0.8.10
urllib3==1.26.20
websocket-client==0.59.0
EOF
    "$CI_DC_VENV/bin/python" -m pip install "${pipq[@]}" -c "$CI_DC_ROOT/constraints.txt" \
        "python-dockercloud==$CI_DC_LIB_VERSION" "docker-cloud==$CI_DC_CLI_VERSION" >&2 || return 1
    ci_dockercloud_ok
}

ci_dockercloud_setup() {
    unset DOCKERCLOUD_PY DOCKERCLOUD_CLI
    if ! ci_dockercloud_ok; then
        local py
        if ! py="$(ci_dockercloud_find_py27)"; then
            ci_dockercloud_log "################################################################"
            ci_dockercloud_log "WARNING: no Python 2.7 found (looked at BERTH_CI_PYTHON27, pyenv"
            ci_dockercloud_log "versions 2.7*, python2.7, python2): the Docker Cloud client tests"
            ci_dockercloud_log "(python-dockercloud $CI_DC_LIB_VERSION, docker-cloud $CI_DC_CLI_VERSION) will SKIP."
            ci_dockercloud_log "DOCKERCLOUD_PY and DOCKERCLOUD_CLI are not set."
            ci_dockercloud_log "################################################################"
            return 0
        fi
        if ! ci_dockercloud_install "$py"; then
            ci_dockercloud_log "could not install the Docker Cloud clients into $CI_DC_VENV"
            return 1
        fi
    fi
    export DOCKERCLOUD_PY="$CI_DC_VENV/bin/python"
    export DOCKERCLOUD_CLI="$CI_DC_VENV/bin/docker-cloud"
    ci_dockercloud_log "python-dockercloud $CI_DC_LIB_VERSION, docker-cloud $CI_DC_CLI_VERSION: DOCKERCLOUD_PY=$DOCKERCLOUD_PY DOCKERCLOUD_CLI=$DOCKERCLOUD_CLI"
}

ci_dockercloud_setup || return 1 2>/dev/null || exit 1
