#!/usr/bin/env python3
"""Drives a running berth with oras-py (the ORAS Python SDK, PyPI `oras` 0.2.43).

Usage: oras_referrers.py HOST:PORT REPOSITORY WORKDIR

1. Pushes an artifact with a custom artifactType. oras-py's high-level push() cannot set
   artifactType, so the blobs go up with its upload_blob() (one monolithic, one chunked with
   PATCH + Content-Range) and the manifest, built here, with its upload_manifest().
2. Pushes two referrers of it: one the same low-level way with its own artifactType, one with
   the high-level push(subject=...), whose artifactType the registry must take from the
   config's mediaType (the spec's rule when a manifest has no artifactType).
3. Queries GET /v2/<name>/referrers/<digest>, unfiltered and with ?artifactType=.
4. Pulls the artifact back with pull() and compares the files byte for byte.

Exits 1 with a FAIL line on stderr at the first mismatch; on success prints one JSON line
(digests) that the Rust test cross-checks over plain HTTP.
"""

import hashlib
import json
import os
import sys

import oras.defaults
import oras.oci
import oras.provider

ARTIFACT_TYPE = "application/vnd.berth.test.artifact.v1"
SIGNATURE_TYPE = "application/vnd.berth.test.signature.v1"
SBOM_CONFIG_TYPE = "application/vnd.berth.test.sbom.config.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
MANIFEST_TYPE = oras.defaults.default_manifest_media_type
INDEX_TYPE = oras.defaults.default_index_media_type


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def sha256_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return data


def upload(registry, container, path, media_type, chunked=False):
    """Uploads one file as a blob; returns its descriptor (with a title annotation)."""
    layer = oras.oci.NewLayer(path, media_type=media_type)
    layer["annotations"] = {oras.defaults.annotation_title: os.path.basename(path)}
    response = registry.upload_blob(
        path, container, layer, do_chunked=chunked, chunk_size=256 * 1024
    )
    check(
        response.status_code == 201,
        f"upload of {path} ({'chunked' if chunked else 'monolithic'}) answered "
        f"{response.status_code}: {response.text}",
    )
    location = response.headers.get("Location", "")
    check(
        location.endswith(f"/blobs/{layer['digest']}"),
        f"upload of {path}: Location {location!r} does not name the blob",
    )
    check(
        response.headers.get("Docker-Content-Digest") == layer["digest"],
        f"upload of {path}: Docker-Content-Digest "
        f"{response.headers.get('Docker-Content-Digest')!r} != {layer['digest']}",
    )
    return layer


def put_manifest(registry, container, manifest):
    """PUTs a manifest with oras-py and checks the registry's digest against our own."""
    response = registry.upload_manifest(manifest, container)
    check(
        response.status_code == 201,
        f"manifest PUT {container} answered {response.status_code}: {response.text}",
    )
    # oras-py sends json=manifest: the bytes on the wire are the request's body.
    digest = sha256_of(response.request.body)
    check(
        response.headers.get("Docker-Content-Digest") == digest,
        f"manifest PUT {container}: Docker-Content-Digest "
        f"{response.headers.get('Docker-Content-Digest')!r} != {digest}",
    )
    return digest, len(response.request.body), response


def get_referrers(registry, host, repo, digest, artifact_type=None):
    url = f"http://{host}/v2/{repo}/referrers/{digest}"
    if artifact_type:
        url += f"?artifactType={artifact_type}"
    response = registry.do_request(url, "GET")
    check(response.status_code == 200, f"GET {url} answered {response.status_code}")
    content_type = response.headers.get("Content-Type", "")
    check(
        content_type.split(";")[0].strip() == INDEX_TYPE,
        f"GET {url}: Content-Type {content_type!r}, expected {INDEX_TYPE}",
    )
    body = response.json()
    check(body.get("schemaVersion") == 2, f"GET {url}: schemaVersion in {body}")
    check(body.get("mediaType") == INDEX_TYPE, f"GET {url}: mediaType in {body}")
    return response, {m["digest"]: m for m in body.get("manifests", [])}


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    host, repo, work = sys.argv[1:4]
    registry = oras.provider.Registry(hostname=host, insecure=True)
    # Loopback only: never let a proxy from the environment see these requests.
    registry.session.trust_env = False
    # push() refuses files outside the working directory.
    os.chdir(work)

    # ---- 1. the artifact, with a custom artifactType ----
    os.makedirs("src", exist_ok=True)
    readme = write("src/readme.txt", b"berth black-box artifact\n" * 40)
    payload = write("src/payload.bin", os.urandom(3 * 512 * 1024 + 7))
    write("src/config.json", b"{}")

    container = registry.get_container(f"{host}/{repo}:v1")
    layers = [
        upload(registry, container, "src/readme.txt", "text/plain"),
        upload(registry, container, "src/payload.bin", "application/octet-stream", chunked=True),
    ]
    config = oras.oci.NewLayer("src/config.json", media_type=EMPTY_TYPE)
    check(config["digest"] == oras.defaults.blank_config_hash, f"empty config {config}")
    upload(registry, container, "src/config.json", EMPTY_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {k: config[k] for k in ("mediaType", "digest", "size")},
        "layers": layers,
        "annotations": {"org.opencontainers.image.description": "berth oras test"},
    }
    subject_digest, subject_size, _ = put_manifest(registry, container, manifest)

    # ---- 2. two referrers ----
    write("src/signature.sig", os.urandom(512))
    sig_container = registry.get_container(f"{host}/{repo}:sig")
    sig_layer = upload(registry, sig_container, "src/signature.sig", "application/octet-stream")
    subject = {"mediaType": MANIFEST_TYPE, "digest": subject_digest, "size": subject_size}
    signature = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": SIGNATURE_TYPE,
        "config": {k: config[k] for k in ("mediaType", "digest", "size")},
        "layers": [sig_layer],
        "subject": subject,
        "annotations": {"org.example.signed-by": "berth-tests"},
    }
    sig_digest, _, sig_response = put_manifest(registry, sig_container, signature)
    check(
        sig_response.headers.get("OCI-Subject") == subject_digest,
        f"PUT of a manifest with a subject: OCI-Subject "
        f"{sig_response.headers.get('OCI-Subject')!r}, expected {subject_digest}",
    )

    write("src/sbom.json", json.dumps({"packages": ["berth"]}).encode())
    write("src/sbom-config.json", json.dumps({"tool": "oras-py"}).encode())
    sbom_response = registry.push(
        target=f"{host}/{repo}:sbom",
        files=["src/sbom.json:application/spdx+json"],
        manifest_config=f"src/sbom-config.json:{SBOM_CONFIG_TYPE}",
        subject=oras.oci.Subject(**subject),
        quiet=True,
    )
    check(sbom_response.status_code == 201, f"push(subject=...) answered {sbom_response.status_code}")
    sbom_digest = sha256_of(sbom_response.request.body)
    check(
        sbom_response.headers.get("Docker-Content-Digest") == sbom_digest,
        "push(subject=...): Docker-Content-Digest does not match the body sent",
    )

    # ---- 3. the referrers API ----
    response, found = get_referrers(registry, host, repo, subject_digest)
    check(
        set(found) == {sig_digest, sbom_digest},
        f"referrers of {subject_digest}: {sorted(found)}, expected {sorted([sig_digest, sbom_digest])}",
    )
    check(
        "OCI-Filters-Applied" not in response.headers,
        "unfiltered referrers list carries OCI-Filters-Applied",
    )
    sig = found[sig_digest]
    check(sig.get("artifactType") == SIGNATURE_TYPE, f"signature descriptor {sig}")
    check(sig.get("mediaType") == MANIFEST_TYPE, f"signature descriptor {sig}")
    check(sig.get("size") == len(sig_response.request.body), f"signature descriptor {sig}")
    check(
        (sig.get("annotations") or {}).get("org.example.signed-by") == "berth-tests",
        f"signature descriptor lacks the manifest's annotations: {sig}",
    )
    sbom = found[sbom_digest]
    check(
        sbom.get("artifactType") == SBOM_CONFIG_TYPE,
        f"a referrer without artifactType must be listed with its config mediaType: {sbom}",
    )

    response, found = get_referrers(registry, host, repo, subject_digest, SIGNATURE_TYPE)
    check(set(found) == {sig_digest}, f"filtered referrers: {sorted(found)}, expected [{sig_digest}]")
    check(
        response.headers.get("OCI-Filters-Applied") == "artifactType",
        f"filtered referrers: OCI-Filters-Applied {response.headers.get('OCI-Filters-Applied')!r}",
    )
    _, none = get_referrers(registry, host, repo, sig_digest)
    check(none == {}, f"the signature has no referrers, got {sorted(none)}")

    # ---- 4. pull the artifact back ----
    files = registry.pull(target=f"{host}/{repo}:v1", outdir=os.path.join(work, "pulled"))
    pulled = {os.path.basename(f): open(f, "rb").read() for f in files}
    check(
        set(pulled) == {"readme.txt", "payload.bin"},
        f"pull returned {sorted(pulled)}",
    )
    check(pulled["readme.txt"] == readme, "pulled readme.txt differs from the pushed one")
    check(pulled["payload.bin"] == payload, "pulled payload.bin differs from the pushed one")
    got = registry.get_manifest(f"{host}/{repo}@{subject_digest}")
    check(got.get("artifactType") == ARTIFACT_TYPE, f"manifest by digest: {got}")

    print(
        json.dumps(
            {
                "subject": subject_digest,
                "signature": sig_digest,
                "sbom": sbom_digest,
                "payload": sha256_of(payload),
            }
        )
    )


if __name__ == "__main__":
    main()
