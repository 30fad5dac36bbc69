//! Black-box tests: each starts the real `berth` binary on a fresh data directory and a free
//! port on 127.0.0.1, drives it with real clients (skopeo, umoci, oras-py, reqwest, berth's own
//! CLI) and checks digests and bytes. A missing client fails the test with the package to
//! install; `.ci/run` installs them all.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

const MIB: usize = 1024 * 1024;

// ---- OCI image layouts, umoci and skopeo ----

fn umoci(args: &[&str]) -> String {
    run(Command::new("umoci").args(args))
}

/// skopeo without a signature policy file: the policy is not what these tests are about,
/// and a fresh machine may have none.
fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo").arg("--insecure-policy").args(args))
}

fn path_str(path: &Path) -> &str {
    let s = path.to_str().expect("temp paths are UTF-8");
    // skopeo's and umoci's `PATH:TAG` syntax cannot carry a colon in the path.
    assert!(!s.contains(':'), "path {s} contains ':'");
    s
}

/// `LAYOUT:TAG` as umoci names an image.
fn image(layout: &Path, tag: &str) -> String {
    format!("{}:{tag}", path_str(layout))
}

/// The descriptor that the layout's `index.json` names `tag`.
fn layout_ref(layout: &Path, tag: &str) -> Value {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap())
        .expect("index.json is JSON");
    index["manifests"]
        .as_array()
        .expect("index.json has manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {}", layout.display()))
        .clone()
}

fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("blob {digest} in {}: {e}", layout.display()));
    assert_eq!(
        sha256(&bytes),
        digest,
        "blob file of {digest} in {}",
        layout.display()
    );
    bytes
}

/// The digests an image manifest references: config first, then layers.
fn referenced_blobs(manifest: &Value) -> Vec<String> {
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    for layer in manifest["layers"].as_array().unwrap() {
        digests.push(layer["digest"].as_str().unwrap().to_owned());
    }
    digests
}

fn write_file(path: PathBuf, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Makes `tag` in `layout` a new image whose rootfs gets `files` (path, bytes).
fn umoci_image(layout: &Path, bundle: &Path, tag: &str, arch: &str, files: &[(&str, Vec<u8>)]) {
    let img = image(layout, tag);
    umoci(&["new", "--image", &img]);
    umoci(&[
        "config",
        "--image",
        &img,
        "--architecture",
        arch,
        "--os",
        "linux",
    ]);
    umoci(&["unpack", "--rootless", "--image", &img, path_str(bundle)]);
    for (path, bytes) in files {
        write_file(bundle.join("rootfs").join(path), bytes);
    }
    umoci(&["repack", "--image", &img, path_str(bundle)]);
    std::fs::remove_dir_all(bundle).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_umoci_image_to_berth_and_back_unchanged() {
    require_tool("skopeo", "skopeo");
    require_tool("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start(&tmp.path().join("data"));
    let mut rng = Rng::new("skopeo_umoci");
    let layout = tmp.path().join("layout");
    let bundle = tmp.path().join("bundle");

    umoci(&["init", "--layout", path_str(&layout)]);
    let size = 3 * MIB + rng.range(1, 65_536) as usize;
    let random = rng.bytes(size);
    umoci_image(
        &layout,
        &bundle,
        "v1",
        "amd64",
        &[
            (
                "etc/berth/hello.txt",
                b"hello from berth's black-box test\n".to_vec(),
            ),
            ("etc/berth/empty", Vec::new()),
            ("opt/berth/random.bin", random.clone()),
            ("opt/berth/small.bin", rng.bytes(4096)),
        ],
    );
    let manifest_digest = layout_ref(&layout, "v1")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let manifest_bytes = layout_blob(&layout, &manifest_digest);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let blobs = referenced_blobs(&manifest);
    let biggest = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        biggest > 3 * MIB as u64,
        "the random file should make a layer of > 3 MiB"
    );

    let remote = format!("docker://{}/ns/app", berth.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}", image(&layout, "v1")),
        &format!("{remote}:v1"),
    ]);

    let tags: Value =
        serde_json::from_str(&skopeo(&["list-tags", "--tls-verify=false", &remote])).unwrap();
    assert_eq!(tags["Tags"], json!(["v1"]), "skopeo list-tags: {tags}");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("{remote}:v1"),
    ]);
    assert_eq!(
        sha256(raw.as_bytes()),
        manifest_digest,
        "inspect --raw digest"
    );
    assert_eq!(raw.as_bytes(), manifest_bytes, "inspect --raw bytes");

    // The same over plain HTTP: headers and every blob's bytes.
    let client = http();
    let response = client
        .get(format!("{}/v2/ns/app/manifests/v1", berth.url()))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "docker-content-digest"), manifest_digest);
    assert_eq!(header(&response, "content-type"), OCI_MANIFEST);
    assert_eq!(response.bytes().await.unwrap(), manifest_bytes);
    for digest in &blobs {
        let (status, bytes) = get_blob(&client, &berth.url(), "ns/app", digest).await;
        assert_eq!(status, 200, "GET blob {digest}");
        assert_eq!(
            bytes,
            layout_blob(&layout, digest),
            "bytes of blob {digest}"
        );
    }

    // Back into a new layout: same manifest digest, same bytes for every blob.
    let back = tmp.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("{remote}:v1"),
        &format!("oci:{}", image(&back, "v1")),
    ]);
    assert_eq!(layout_ref(&back, "v1")["digest"], manifest_digest.as_str());
    assert_eq!(layout_blob(&back, &manifest_digest), manifest_bytes);
    for digest in &blobs {
        assert_eq!(
            layout_blob(&back, digest),
            layout_blob(&layout, digest),
            "blob {digest} after the round trip"
        );
    }

    // Deleting the tag deletes the manifest (skopeo deletes by digest).
    skopeo(&["delete", "--tls-verify=false", &format!("{remote}:v1")]);
    for reference in [manifest_digest.as_str(), "v1"] {
        let status = client
            .get(format!("{}/v2/ns/app/manifests/{reference}", berth.url()))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "GET manifest {reference} after skopeo delete");
    }
    let (ok, _, _) = run_status(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("{remote}:v1"),
    ]));
    assert!(!ok, "skopeo inspect still finds the deleted image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_multi_platform_index_with_all_its_images() {
    require_tool("skopeo", "skopeo");
    require_tool("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start(&tmp.path().join("data"));
    let mut rng = Rng::new("multi_platform");
    let layout = tmp.path().join("layout");
    let bundle = tmp.path().join("bundle");

    umoci(&["init", "--layout", path_str(&layout)]);
    let platforms = ["amd64", "arm64"];
    for arch in platforms {
        let size = 256 * 1024 + rng.range(0, 65_536) as usize;
        umoci_image(
            &layout,
            &bundle,
            arch,
            arch,
            &[
                ("etc/arch", arch.as_bytes().to_vec()),
                (&format!("opt/{arch}.bin"), rng.bytes(size)),
            ],
        );
    }
    // An index over both images, stored as a blob and named "multi" in index.json.
    let mut children = Vec::new();
    for arch in platforms {
        let descriptor = layout_ref(&layout, arch);
        let digest = descriptor["digest"].as_str().unwrap();
        let manifest: Value = serde_json::from_slice(&layout_blob(&layout, digest)).unwrap();
        let config: Value = serde_json::from_slice(&layout_blob(
            &layout,
            manifest["config"]["digest"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(config["architecture"], arch, "umoci config --architecture");
        children.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": descriptor["size"],
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children,
        "annotations": {"org.opencontainers.image.description": "berth multi-platform test"},
    }))
    .unwrap();
    let index_digest = sha256(&index_bytes);
    write_file(
        layout
            .join("blobs/sha256")
            .join(index_digest.strip_prefix("sha256:").unwrap()),
        &index_bytes,
    );
    let mut layout_index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    layout_index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "mediaType": OCI_INDEX,
            "digest": index_digest,
            "size": index_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    write_file(
        layout.join("index.json"),
        &serde_json::to_vec(&layout_index).unwrap(),
    );

    let remote = format!("docker://{}/ns/multi", berth.host());
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}", image(&layout, "multi")),
        &format!("{remote}:v1"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("{remote}:v1"),
    ]);
    assert_eq!(
        sha256(raw.as_bytes()),
        index_digest,
        "inspect --raw of the index"
    );
    assert_eq!(raw.as_bytes(), index_bytes);

    let client = http();
    let response = client
        .get(format!("{}/v2/ns/multi/manifests/v1", berth.url()))
        .header("accept", format!("{OCI_INDEX}, {OCI_MANIFEST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), OCI_INDEX);
    assert_eq!(header(&response, "docker-content-digest"), index_digest);

    // skopeo picks each platform's image out of berth's index. Its `Digest` is the digest of
    // what the reference names (the index); `Layers` are those of the chosen image.
    for arch in platforms {
        let manifest: Value = serde_json::from_slice(&layout_blob(
            &layout,
            layout_ref(&layout, arch)["digest"].as_str().unwrap(),
        ))
        .unwrap();
        let layers: Vec<Value> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].clone())
            .collect();
        let inspected: Value = serde_json::from_str(&skopeo(&[
            "--override-arch",
            arch,
            "--override-os",
            "linux",
            "inspect",
            "--tls-verify=false",
            &format!("{remote}:v1"),
        ]))
        .unwrap();
        assert_eq!(inspected["Digest"], index_digest.as_str(), "{arch} inspect");
        assert_eq!(inspected["Architecture"], arch, "{arch} inspect");
        assert_eq!(inspected["Layers"], json!(layers), "{arch} inspect");
    }

    // Back with --all: the index and every manifest, config and layer, byte for byte.
    let back = tmp.path().join("back");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("{remote}:v1"),
        &format!("oci:{}", image(&back, "v1")),
    ]);
    assert_eq!(layout_ref(&back, "v1")["digest"], index_digest.as_str());
    assert_eq!(layout_blob(&back, &index_digest), index_bytes);
    let mut compared = 1;
    for arch in platforms {
        let digest = layout_ref(&layout, arch)["digest"]
            .as_str()
            .unwrap()
            .to_owned();
        let manifest_bytes = layout_blob(&layout, &digest);
        assert_eq!(
            layout_blob(&back, &digest),
            manifest_bytes,
            "{arch} manifest"
        );
        let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
        for blob in referenced_blobs(&manifest) {
            assert_eq!(
                layout_blob(&back, &blob),
                layout_blob(&layout, &blob),
                "{arch} blob {blob}"
            );
            compared += 1;
        }
        compared += 1;
    }
    assert!(
        compared >= 7,
        "index + 2 manifests + 2 configs + 2 layers, compared {compared}"
    );
}

// ---- oras-py and the referrers API ----

const SIGNATURE_TYPE: &str = "application/vnd.berth.test.signature.v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_pushes_artifacts_with_referrers_and_pulls_them_back() {
    require_oras_py();
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start(&tmp.path().join("data"));
    let work = tmp.path().join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/oras_referrers.py"
    );
    let repo = "ns/artifacts";
    let stdout = run(Command::new("python3")
        .arg(script)
        .arg(berth.host())
        .arg(repo)
        .arg(&work));
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("last line of the script's output is not JSON ({e}): {stdout}"));
    let subject = summary["subject"].as_str().unwrap();
    let signature = summary["signature"].as_str().unwrap();
    let sbom = summary["sbom"].as_str().unwrap();

    // Cross-check over plain HTTP what the script saw.
    let client = http();
    let referrers = |filter: Option<&str>| {
        let mut url = format!("{}/v2/{repo}/referrers/{subject}", berth.url());
        if let Some(filter) = filter {
            url = with_param(&url, "artifactType", filter);
        }
        client.get(url).send()
    };
    let response = referrers(None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("oci-filters-applied").is_none());
    let index: Value = response.json().await.unwrap();
    let listed: BTreeSet<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([signature, sbom]),
        "referrers of {subject}"
    );

    let response = referrers(Some(SIGNATURE_TYPE)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "oci-filters-applied"), "artifactType");
    let index: Value = response.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    assert_eq!(index["manifests"][0]["digest"], signature);
    assert_eq!(index["manifests"][0]["artifactType"], SIGNATURE_TYPE);

    let response = referrers(Some("application/vnd.berth.test.none"))
        .await
        .unwrap();
    assert_eq!(header(&response, "oci-filters-applied"), "artifactType");
    let index: Value = response.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]), "no referrer has that type");

    let (status, bytes) = get_blob(
        &client,
        &berth.url(),
        repo,
        summary["payload"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&bytes), summary["payload"].as_str().unwrap());
}

// ---- crashes and restarts ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_survives_a_kill_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut berth = Berth::start(&data);
    let mut rng = Rng::new("restart");
    let size = 4 * MIB + rng.range(1, 4096) as usize;
    let blob = rng.bytes(size);
    let digest = sha256(&blob);
    let half = blob.len() / 2;
    let client = http();
    let repo = "ns/resume";

    let location = start_upload(&client, &berth.url(), repo).await.unwrap();
    let location = patch_chunk(&client, &berth.url(), &location, 0, &blob[..half])
        .await
        .unwrap();
    berth.kill();

    let berth = Berth::start(&data);
    let location = resolve(&berth.url(), &location);
    let status = client.get(&location).send().await.unwrap();
    assert_eq!(status.status(), 204, "upload status after the restart");
    assert_eq!(
        header(&status, "range"),
        format!("0-{}", half - 1),
        "Range after the restart"
    );
    assert!(
        !header(&status, "location").is_empty(),
        "upload status has a Location"
    );
    let location = resolve(&berth.url(), &header(&status, "location"));

    // A chunk that does not start where the session ends is refused with 416. Sent on its
    // own client: berth answers it without reading the body and then drops the connection
    // (see `an_early_error_answer_leaves_the_connection_usable`).
    let wrong = http()
        .patch(&location)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{}-{}", half + 1, blob.len() - 1))
        .body(blob[half + 1..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 416, "out-of-order chunk");

    let location = patch_chunk(&client, &berth.url(), &location, half, &blob[half..])
        .await
        .unwrap();
    finish_upload(&client, &location, &digest).await.unwrap();

    let head = client
        .head(format!("{}/v2/{repo}/blobs/{digest}", berth.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), blob.len().to_string());
    assert_eq!(header(&head, "docker-content-digest"), digest);
    let (status, bytes) = get_blob(&client, &berth.url(), repo, &digest).await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&bytes), digest);
    assert!(bytes == blob, "blob bytes after the resumed upload");
    // The finished session is gone.
    let gone = client.get(&location).send().await.unwrap().status();
    assert_eq!(gone, 404, "GET of a finished upload session");
}

/// When berth refuses a request with a large body before reading it (here a PATCH whose
/// Content-Range does not start at the session's size: 416), the answer must say
/// `Connection: close`, so that a keep-alive client does not send its next request on a
/// connection berth is about to drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_error_answer_leaves_the_connection_usable() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start(&tmp.path().join("data"));
    let location = start_upload(&http(), &berth.url(), "ns/early")
        .await
        .unwrap();
    let path = location.strip_prefix(&berth.url()).unwrap().to_owned();
    let body = vec![7u8; 2 * MIB];

    let mut socket = std::net::TcpStream::connect(("127.0.0.1", berth.port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n\
         Content-Range: 5-{}\r\nContent-Length: {}\r\n\r\n",
        4 + body.len(),
        body.len()
    );
    socket.write_all(request.as_bytes()).unwrap();
    // The server may stop reading part way: that is allowed, what matters is what it says.
    let _ = socket.write_all(&body);
    let mut answer = vec![0u8; 64 * 1024];
    let n = socket
        .read(&mut answer)
        .unwrap_or_else(|e| panic!("reading the answer to the refused PATCH: {e}"));
    let answer = String::from_utf8_lossy(&answer[..n]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 416"), "{answer}");
    if answer.contains("\r\nconnection: close\r\n") {
        return;
    }
    let next = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut reply = vec![0u8; 64 * 1024];
    let read = socket
        .write_all(next.as_bytes())
        .and_then(|()| socket.read(&mut reply));
    match read {
        Ok(n) if n > 0 => {
            let reply = String::from_utf8_lossy(&reply[..n]);
            assert!(
                reply.starts_with("HTTP/1.1 204"),
                "next request on the connection: {reply}"
            );
        }
        other => panic!(
            "the 416 kept the connection alive (no Connection: close) but the next request on \
             it failed: {other:?}"
        ),
    }
}

/// One push attempted before the kill.
struct BlobAttempt {
    repo: String,
    digest: String,
    size: usize,
    created: bool,
}

struct ManifestAttempt {
    repo: String,
    tag: String,
    digest: String,
    body: Vec<u8>,
    created: bool,
}

/// A blob size from KiB to a few MiB, small ones most often.
fn blob_size(rng: &mut Rng) -> usize {
    (match rng.range(0, 4) {
        0 | 1 => rng.range(1024, 64 * 1024),
        2 => rng.range(64 * 1024, MIB as u64),
        _ => rng.range(MIB as u64, 3 * MIB as u64),
    }) as usize
}

async fn push_one(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    data: &[u8],
    rng: &mut Rng,
    attempts: &mut Vec<BlobAttempt>,
    created: &AtomicUsize,
) -> bool {
    let result = if rng.range(0, 2) == 0 {
        push_blob_monolithic(client, base, repo, data).await
    } else {
        let chunk = rng.range(64 * 1024, MIB as u64) as usize;
        push_blob_chunked(client, base, repo, data, chunk).await
    };
    attempts.push(BlobAttempt {
        repo: repo.to_owned(),
        digest: sha256(data),
        size: data.len(),
        created: result.is_ok(),
    });
    if result.is_ok() {
        created.fetch_add(1, Ordering::SeqCst);
    }
    result.is_ok()
}

/// One of the concurrent pushers: a blob every pusher shares, then rounds of two blobs, a
/// config and a manifest tagged `t<task>-r<round>`. Stops at its first failure (berth died).
async fn pusher(
    base: String,
    task: usize,
    seed: u64,
    shared: Arc<Vec<u8>>,
    created: Arc<AtomicUsize>,
) -> (Vec<BlobAttempt>, Vec<ManifestAttempt>) {
    let client = http();
    let mut rng = Rng::seeded(seed);
    let repo = format!("crash/r{}", task % 4);
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    if !push_one(
        &client, &base, &repo, &shared, &mut rng, &mut blobs, &created,
    )
    .await
    {
        return (blobs, manifests);
    }
    for round in 0..3 {
        let mut layers = Vec::new();
        for _ in 0..2 {
            let size = blob_size(&mut rng);
            let data = rng.bytes(size);
            if !push_one(&client, &base, &repo, &data, &mut rng, &mut blobs, &created).await {
                return (blobs, manifests);
            }
            layers.push((sha256(&data), data.len()));
        }
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"Labels": {"task": task.to_string(), "round": round.to_string()}},
        }))
        .unwrap();
        if !push_one(
            &client, &base, &repo, &config, &mut rng, &mut blobs, &created,
        )
        .await
        {
            return (blobs, manifests);
        }
        let body = image_manifest((&sha256(&config), config.len()), &layers);
        let tag = format!("t{task}-r{round}");
        let result = put_manifest(&client, &base, &repo, &tag, OCI_MANIFEST, &body).await;
        let ok = result.is_ok();
        manifests.push(ManifestAttempt {
            repo: repo.clone(),
            tag,
            digest: sha256(&body),
            body,
            created: ok,
        });
        if !ok {
            return (blobs, manifests);
        }
        created.fetch_add(1, Ordering::SeqCst);
    }
    (blobs, manifests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_pushes_loses_nothing_acknowledged_and_stores_nothing_corrupt() {
    const TASKS: usize = 16;
    // Each task makes up to 1 + 3 * 3 blobs and 3 manifests; kill after about a third.
    const KILL_AFTER: usize = TASKS * 13 / 3;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut berth = Berth::start(&data);
    let mut rng = Rng::new("kill_9");
    let shared = Arc::new(rng.bytes(2 * MIB + 17));
    let created = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            tokio::spawn(pusher(
                berth.url(),
                task,
                rng.next_u64(),
                shared.clone(),
                created.clone(),
            ))
        })
        .collect();
    while created.load(Ordering::SeqCst) < KILL_AFTER
        && !tasks.iter().all(|t| t.is_finished())
        && started.elapsed() < Duration::from_secs(40)
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let acknowledged_at_kill = created.load(Ordering::SeqCst);
    berth.kill();
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    for task in tasks {
        let (b, m) = task.await.expect("pusher task");
        blobs.extend(b);
        manifests.extend(m);
    }
    let failed = blobs.iter().filter(|b| !b.created).count()
        + manifests.iter().filter(|m| !m.created).count();
    eprintln!(
        "killed after {:?} with {acknowledged_at_kill} pushes acknowledged; {} blob and {} \
         manifest pushes attempted, {failed} cut off",
        started.elapsed(),
        blobs.len(),
        manifests.len()
    );
    assert!(
        acknowledged_at_kill >= KILL_AFTER,
        "berth was too slow to reach the kill point"
    );
    assert!(failed > 0, "the kill should have cut off pushes in flight");

    let berth = Berth::start(&data);
    let base = berth.url();
    let client = http();

    // Every blob: acknowledged ones must be there, and whatever is there must be intact.
    let mut by_key: BTreeMap<(String, String), (usize, bool)> = BTreeMap::new();
    for b in &blobs {
        let entry = by_key
            .entry((b.repo.clone(), b.digest.clone()))
            .or_insert((b.size, false));
        entry.1 |= b.created;
    }
    let mut present = 0;
    for ((repo, digest), (size, created)) in &by_key {
        let head = client
            .head(format!("{base}/v2/{repo}/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        match head.status().as_u16() {
            200 => {
                present += 1;
                assert_eq!(
                    header(&head, "content-length"),
                    size.to_string(),
                    "HEAD {repo}@{digest}"
                );
                let (status, bytes) = get_blob(&client, &base, repo, digest).await;
                assert_eq!(status, 200, "GET {repo}@{digest} after HEAD said 200");
                assert_eq!(&sha256(&bytes), digest, "content of {repo}@{digest}");
            }
            404 => assert!(
                !created,
                "blob {repo}@{digest} was acknowledged with 201 but is gone"
            ),
            other => panic!("HEAD {repo}@{digest} answered {other}"),
        }
    }

    // Every manifest acknowledged is there by tag and digest, byte for byte.
    for m in &manifests {
        let response = client
            .get(format!("{base}/v2/{}/manifests/{}", m.repo, m.tag))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        let status = response.status();
        if !m.created && status == 404 {
            continue;
        }
        assert_eq!(
            status, 200,
            "manifest {}:{} (acknowledged: {})",
            m.repo, m.tag, m.created
        );
        assert_eq!(header(&response, "docker-content-digest"), m.digest);
        assert!(
            response.bytes().await.unwrap() == m.body,
            "manifest {}:{} bytes",
            m.repo,
            m.tag
        );
    }
    for repo in manifests.iter().map(|m| &m.repo).collect::<BTreeSet<_>>() {
        let tags: Value = client
            .get(format!("{base}/v2/{repo}/tags/list"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed: BTreeSet<&str> = tags["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        for m in manifests.iter().filter(|m| &m.repo == repo && m.created) {
            assert!(
                listed.contains(m.tag.as_str()),
                "tag {repo}:{} missing from {tags}",
                m.tag
            );
        }
    }

    // No committed blob file holds content other than its name says.
    let files = stored_blob_files(&data.join("blobs"));
    let on_disk: BTreeSet<&str> = files.iter().map(|(_, d)| d.as_str()).collect();
    for (path, digest) in &files {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&sha256(&bytes), digest, "content of {}", path.display());
    }
    for b in blobs.iter().filter(|b| b.created) {
        assert!(
            on_disk.contains(b.digest.as_str()),
            "no blob file for acknowledged {}",
            b.digest
        );
    }
    eprintln!(
        "{present} of {} blobs present, {} blob files verified",
        by_key.len(),
        files.len()
    );

    // And berth takes pushes again, including of a blob whose upload the kill cut off.
    let mut rng = Rng::seeded(rng.next_u64());
    let again = push_blob_chunked(&client, &base, "crash/r0", &shared, 300_000)
        .await
        .unwrap();
    assert_eq!(again, sha256(&shared));
    let fresh = rng.bytes(MIB + 3);
    let digest = push_blob_monolithic(&client, &base, "crash/after", &fresh)
        .await
        .unwrap();
    let (status, bytes) = get_blob(&client, &base, "crash/after", &digest).await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&bytes), digest);
}

// ---- the CLI ----

/// Runs `berth --server URL ARGS...`; returns (success, stdout, stderr).
fn cli(server: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BERTH") {
            command.env_remove(key);
        }
    }
    run_status(command.arg("--server").arg(server).args(args))
}

fn cli_ok(server: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = cli(server, args);
    assert!(
        ok,
        "berth {args:?} failed\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}"
    );
    stdout
}

fn cli_json(server: &str, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let stdout = cli_ok(server, &all);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("berth {args:?} -o json: {e}: {stdout}"))
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_shows_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut berth = Berth::start(&tmp.path().join("data"));
    let server = berth.url();
    let client = http();
    let mut rng = Rng::new("cli");

    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let mut layers = Vec::new();
    for repo in ["cli/app", "cli/tools/other"] {
        push_blob_monolithic(&client, &server, repo, config)
            .await
            .unwrap();
        for size in [1000, 70_000] {
            let data = rng.bytes(size);
            let digest = push_blob_monolithic(&client, &server, repo, &data)
                .await
                .unwrap();
            if repo == "cli/app" {
                layers.push((digest, size));
            }
        }
    }
    let manifest = image_manifest((&sha256(config), config.len()), &layers);
    let digest = put_manifest(&client, &server, "cli/app", "v1", OCI_MANIFEST, &manifest)
        .await
        .unwrap();
    put_manifest(&client, &server, "cli/app", "v2", OCI_MANIFEST, &manifest)
        .await
        .unwrap();
    let other = image_manifest((&sha256(config), config.len()), &[]);
    put_manifest(
        &client,
        &server,
        "cli/tools/other",
        "latest",
        OCI_MANIFEST,
        &other,
    )
    .await
    .unwrap();

    assert_eq!(
        lines(&cli_ok(&server, &["catalog"])),
        ["REPOSITORY", "cli/app", "cli/tools/other"]
    );
    assert_eq!(
        cli_json(&server, &["catalog"]),
        json!({"repositories": ["cli/app", "cli/tools/other"]})
    );
    assert_eq!(
        lines(&cli_ok(&server, &["tags", "cli/app"])),
        ["TAG", "v1", "v2"]
    );
    assert_eq!(
        cli_json(&server, &["tags", "cli/tools/other"]),
        json!({"tags": ["latest"]})
    );

    // The table: digest and media type, then one row per layer.
    let table = cli_ok(&server, &["manifest", "cli/app", "v1"]);
    let rows = lines(&table);
    assert_eq!(
        rows[0].split_whitespace().collect::<Vec<_>>(),
        ["DIGEST", digest.as_str()],
        "{table}"
    );
    assert_eq!(
        rows[1].split_whitespace().collect::<Vec<_>>(),
        ["MEDIA", "TYPE", OCI_MANIFEST],
        "{table}"
    );
    assert_eq!(
        rows[2].split_whitespace().collect::<Vec<_>>(),
        ["DIGEST", "SIZE", "MEDIA", "TYPE"]
    );
    let listed: Vec<Vec<String>> = rows[3..]
        .iter()
        .map(|r| r.split_whitespace().map(str::to_owned).collect())
        .collect();
    let expected: Vec<Vec<String>> = layers
        .iter()
        .map(|(d, s)| vec![d.clone(), s.to_string(), OCI_LAYER.to_owned()])
        .collect();
    assert_eq!(listed, expected, "{table}");
    let pushed: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(cli_json(&server, &["manifest", "cli/app", "v1"]), pushed);
    assert_eq!(cli_json(&server, &["manifest", "cli/app", &digest]), pushed);

    // BERTH_SERVER stands in for --server.
    let (ok, stdout, stderr) = run_status(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_SERVER", &server)
            .args(["tags", "cli/app"]),
    );
    assert!(ok, "{stderr}");
    assert_eq!(lines(&stdout), ["TAG", "v1", "v2"]);

    // Deleting a tag keeps the manifest; deleting the manifest removes it.
    assert_eq!(
        lines(&cli_ok(&server, &["delete", "cli/app", "v2"])),
        ["deleted cli/app:v2"]
    );
    assert_eq!(lines(&cli_ok(&server, &["tags", "cli/app"])), ["TAG", "v1"]);
    assert_eq!(cli_json(&server, &["manifest", "cli/app", &digest]), pushed);
    assert_eq!(
        cli_json(&server, &["delete", "cli/app", &digest]),
        json!({"deleted": digest})
    );
    let (ok, _, stderr) = cli(&server, &["manifest", "cli/app", &digest]);
    assert!(!ok, "manifest after delete should fail");
    assert!(stderr.contains("404"), "error names the status: {stderr}");
    let (ok, _, stderr) = cli(&server, &["delete", "cli/app", &digest]);
    assert!(!ok && stderr.contains("404"), "second delete: {stderr}");
    let (ok, _, stderr) = cli(&server, &["tags", "cli/missing"]);
    assert!(
        !ok && stderr.contains("404"),
        "tags of an unknown repository: {stderr}"
    );

    // A server that is gone is an error, not an empty list.
    berth.kill();
    let (ok, stdout, stderr) = cli(&server, &["catalog"]);
    assert!(!ok, "catalog against a dead server succeeded: {stdout}");
    assert!(stderr.contains("contacting"), "{stderr}");
}

/// Regression (issue 11): a one-request upload (`POST ?digest=`) killed half-way left its
/// partial file under `uploads/` with no session row, and nothing ever removed it. After a
/// restart the orphan sweep removes it once it is older than the grace period, and leaves a
/// live session's data alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_kill_9_leaves_in_the_upload_area_is_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env: Vec<(String, String)> = [
        ("BERTH__LIMITS__ORPHAN_GRACE_SECS", "1"),
        ("BERTH__LIMITS__UPLOAD_PURGE_INTERVAL_SECS", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut berth = Berth::start_with_env(&data, &env);
    let client = http();
    let uploads = data.join("uploads");
    let files = || std::fs::read_dir(&uploads).map_or(0, |d| d.count());

    // A session that stays: its data must survive every sweep.
    let mut rng = Rng::new("orphans");
    let kept = rng.bytes(64 * 1024);
    let session = start_upload(&client, &berth.url(), "ns/orphans")
        .await
        .unwrap();
    let session = patch_chunk(&client, &berth.url(), &session, 0, &kept)
        .await
        .unwrap();
    assert_eq!(files(), 1);

    // A monolithic upload that berth is in the middle of receiving when it dies.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let digest = sha256(b"never finished");
    let url = format!(
        "{}/v2/ns/orphans/blobs/uploads/?digest={digest}",
        berth.url()
    );
    let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let pending = tokio::spawn(http().post(&url).body(body).send());
    tx.send(Ok(rng.bytes(1024 * 1024))).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while files() < 2 {
        assert!(
            Instant::now() < deadline,
            "the upload never reached storage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    berth.kill();
    let _ = pending.await;
    assert_eq!(files(), 2, "the partial upload is left behind by the kill");

    let berth = Berth::start_with_env(&data, &env);
    let deadline = Instant::now() + Duration::from_secs(20);
    while files() > 1 {
        assert!(
            Instant::now() < deadline,
            "the orphan was not swept: {:?}",
            std::fs::read_dir(&uploads).unwrap().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The session survived and still finishes.
    let session = resolve(&berth.url(), &session);
    finish_upload(&client, &session, &sha256(&kept))
        .await
        .unwrap();
    assert_eq!(files(), 0, "the upload area is empty");
}
