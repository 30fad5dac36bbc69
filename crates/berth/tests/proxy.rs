//! Black-box test of the pull-through cache: the real `berth` binary with authentication on,
//! configured only through its own CLI (`berth remote register`, `berth proxy …`), in front
//! of Debian's `docker-registry` (CNCF distribution) with htpasswd Basic auth; images moved
//! with the real skopeo. A pull through berth gives the upstream's bytes, a second pull is
//! served with the upstream gone, pushes into the proxy are refused.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::{Berth, DockerRegistry, run, run_status, sha256};

const ADMIN_PASSWORD: &str = "proxy-admin-pw";
const UP_USER: &str = "upuser";
const UP_PASS: &str = "up-secret-pw";

fn start_berth(dir: &Path) -> Berth {
    Berth::start_with_env(
        dir,
        &[
            ("BERTH__AUTH__ENABLED".into(), "true".into()),
            ("BERTH__AUTH__ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            (
                "BERTH__REMOTES__INSECURE_REGISTRIES".into(),
                "127.0.0.1".into(),
            ),
            (
                "BERTH__REMOTES__ALLOW_NETWORKS".into(),
                "127.0.0.0/8".into(),
            ),
        ],
    )
}

/// `berth --server … --user admin --token … ARGS`, with `stdin`; (success, stdout, stderr).
fn cli_ok(berth: &Berth, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = support::berth_cli(berth, ADMIN_PASSWORD, args, stdin);
    assert!(ok, "berth {args:?} failed: {err}");
    out
}

fn cli_json(berth: &Berth, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    serde_json::from_str(&cli_ok(berth, &all, None)).unwrap()
}

fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo").arg("--insecure-policy").args(args))
}

fn skopeo_status(args: &[&str]) -> (bool, String, String) {
    run_status(Command::new("skopeo").arg("--insecure-policy").args(args))
}

/// Writes an OCI image layout at `dir` with one image tagged `tag`: a config and two
/// layers of `layer_bytes` random-ish bytes each.
fn write_layout(dir: &Path, tag: &str, layer_bytes: usize) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        (digest, bytes.len())
    };
    let mut rng = support::Rng::new("proxy layout");
    let layers: Vec<(String, usize)> = (0..2).map(|_| put(&rng.bytes(layer_bytes))).collect();
    let config =
        put(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let manifest = support::image_manifest((&config.0, config.1), &layers);
    let (digest, size) = put(&manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": support::OCI_MANIFEST,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The layer digests of the image in `dir` (skopeo's `dir:` transport), each file's bytes
/// hashed.
fn pulled_layers(dir: &Path) -> Vec<String> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let digest = l["digest"].as_str().unwrap();
            let bytes = std::fs::read(dir.join(digest.trim_start_matches("sha256:"))).unwrap();
            assert_eq!(sha256(&bytes), digest, "layer bytes match their digest");
            digest.to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_cache_configured_by_the_cli_in_front_of_docker_registry() {
    support::require_tool("skopeo", "skopeo");
    let mut upstream = Some(DockerRegistry::start(UP_USER, UP_PASS));
    let up_host = upstream.as_ref().unwrap().host.clone();
    let dir = tempfile::tempdir().unwrap();
    let berth = start_berth(&dir.path().join("berth"));

    // The image lives upstream only.
    let layout = dir.path().join("layout");
    write_layout(&layout, "v1", 300 * 1024);
    let creds = format!("{UP_USER}:{UP_PASS}");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{up_host}/library/app:v1"),
    ]);

    // skopeo compressed the layers on the way: what the upstream holds is the reference.
    let upstream_manifest: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{up_host}/library/app:v1"),
    ]))
    .unwrap();
    let layers: Vec<String> = upstream_manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(layers.len(), 2);

    // Configured through the CLI: the upstream's credentials, then the proxy.
    let remote = format!("{up_host}/library/app");
    cli_ok(
        &berth,
        &[
            "remote",
            "register",
            "-u",
            UP_USER,
            "--password-stdin",
            &remote,
        ],
        Some(&format!("{UP_PASS}\n")),
    );
    let created = cli_json(
        &berth,
        &[
            "proxy",
            "create",
            "hub",
            &format!("http://{up_host}"),
            "--upstream-host",
            "upstream.example",
            "--remote",
            &remote,
        ],
    );
    assert_eq!(created["prefix"], "hub");
    assert_eq!(created["remote"]["name"], remote);
    assert_eq!(created["mode"], "upstream_first");
    let table = cli_ok(&berth, &["proxy", "list"], None);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0][..4],
        ["PREFIX", "UPSTREAM", "HOST", "REMOTE"],
        "{table}"
    );
    assert_eq!(
        rows[1][..3],
        ["hub", &format!("http://{up_host}")[..], "upstream.example"]
    );
    // The registration is now in use: removing it needs force.
    let (ok, _, err) =
        support::berth_cli(&berth, ADMIN_PASSWORD, &["remote", "remove", &remote], None);
    assert!(!ok && err.contains("in use"), "{err}");

    // A pull through berth gives the upstream's bytes.
    let berth_creds = format!("admin:{ADMIN_PASSWORD}");
    let source = format!("docker://{}/hub/library/app:v1", berth.host());
    let first = dir.path().join("first");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &berth_creds,
        &source,
        &format!("dir:{}", first.display()),
    ]);
    assert_eq!(pulled_layers(&first), layers);
    let repo = cli_json(&berth, &["repo", "show", "hub/library/app"]);
    assert_eq!(repo["kind"], "proxy", "{repo}");

    // Pushing into the proxy is refused, and anonymous pulls need a login.
    let (ok, _, err) = skopeo_status(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &berth_creds,
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/hub/library/other:v1", berth.host()),
    ]);
    assert!(!ok, "a push into a pull-through cache was accepted");
    assert!(
        err.contains("403") || err.to_lowercase().contains("denied"),
        "{err}"
    );
    let (ok, _, _) = skopeo_status(&["inspect", "--tls-verify=false", &source]);
    assert!(!ok, "an anonymous pull of a private cache succeeded");

    // The upstream gone, the cached copy is served, by tag and by digest.
    drop(upstream.take());
    let second = dir.path().join("second");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &berth_creds,
        &source,
        &format!("dir:{}", second.display()),
    ]);
    assert_eq!(pulled_layers(&second), layers);
    assert_eq!(
        std::fs::read(first.join("manifest.json")).unwrap(),
        std::fs::read(second.join("manifest.json")).unwrap()
    );
    // What was never cached is a clear failure, not a hang.
    let (ok, _, _) = skopeo_status(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &berth_creds,
        &format!("docker://{}/hub/library/never:v1", berth.host()),
    ]);
    assert!(!ok);

    // Changing and removing the proxy.
    let changed = cli_json(
        &berth,
        &[
            "proxy",
            "update",
            "hub",
            "--mode",
            "local-first",
            "--ttl",
            "60",
            "--anonymous",
        ],
    );
    assert_eq!(changed["mode"], "local_first");
    assert_eq!(changed["ttl_secs"], 60);
    assert_eq!(changed["remote"], Value::Null);
    let (ok, _, err) =
        support::berth_cli(&berth, ADMIN_PASSWORD, &["proxy", "update", "hub"], None);
    assert!(!ok && err.contains("nothing to change"), "{err}");
    assert_eq!(
        cli_json(&berth, &["proxy", "delete", "hub"]),
        json!({"deleted": "hub"})
    );
    let (ok, _, err) = support::berth_cli(&berth, ADMIN_PASSWORD, &["proxy", "show", "hub"], None);
    assert!(!ok && err.contains("404"), "{err}");
    // No longer in use.
    cli_ok(&berth, &["remote", "remove", &remote], None);
    let log = berth.log_tail();
    assert!(
        !log.contains(UP_PASS),
        "the upstream password is in berth's log"
    );
}
