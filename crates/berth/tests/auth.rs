//! Black-box: real clients log in the way they already do, against the real binary with
//! authentication on. skopeo and oras with credentials against a private namespace, an
//! anonymous pull of a public one, a wrong password refused.

mod support;

use std::process::Command;

use support::*;

const PASSWORD: &str = "a-long-admin-password";

fn with_auth(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("BERTH__AUTH__ENABLED".to_owned(), "true".to_owned()),
        (
            "BERTH__AUTH__ADMIN_PASSWORD".to_owned(),
            PASSWORD.to_owned(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn skopeo(args: &[&str]) -> (bool, String, String) {
    run_status(Command::new("skopeo").arg("--insecure-policy").args(args))
}

/// A small image in an OCI layout, made by umoci.
fn layout(tmp: &std::path::Path) -> String {
    let layout = tmp.join("layout");
    let layout_str = layout.to_str().unwrap().to_owned();
    run(Command::new("umoci").args(["init", "--layout", &layout_str]));
    run(Command::new("umoci").args(["new", "--image", &format!("{layout_str}:v1")]));
    format!("oci:{layout_str}:v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_and_oras_log_in_and_private_stays_private() {
    require_tool("skopeo", "skopeo");
    require_tool("umoci", "umoci");
    require_oras_py();
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start_with_env(&tmp.path().join("data"), &with_auth(&[]));
    let image = layout(tmp.path());
    let target = format!("docker://{}/private/app:v1", berth.host());
    let creds = format!("admin:{PASSWORD}");

    // Without credentials a push is refused; with the wrong password too.
    let (ok, _, err) = skopeo(&["copy", "--dest-tls-verify=false", &image, &target]);
    assert!(!ok, "anonymous push accepted");
    assert!(
        err.contains("401")
            || err.contains("unauthorized")
            || err.contains("authentication required"),
        "{err}"
    );
    let (ok, _, _) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "admin:wrong-password",
        &image,
        &target,
    ]);
    assert!(!ok, "wrong password accepted");
    // With them it works (token flow).
    let (ok, _, err) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &image,
        &target,
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, &target]);
    assert!(ok, "{err}");
    assert!(out.contains("\"Digest\""), "{out}");
    // The namespace is private: an anonymous pull is refused.
    let (ok, _, _) = skopeo(&["inspect", "--tls-verify=false", "--no-creds", &target]);
    assert!(!ok, "anonymous pull of a private namespace");

    // oras-py logs in, pushes and pulls.
    let work = tmp.path().join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/oras_login.py");
    let out = run(Command::new("python3").args([
        script,
        &berth.host(),
        "private/artifact",
        work.to_str().unwrap(),
        "admin",
        PASSWORD,
    ]));
    assert!(out.contains("ok pushed and pulled"), "{out}");
    // (A wrong password with oras-py is not tried here: oras-py retries a refused token
    // request six times with exponential back-off, two minutes in all; skopeo's check above
    // covers the refusal.)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_pull_of_a_public_namespace() {
    require_tool("skopeo", "skopeo");
    require_tool("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start_with_env(
        &tmp.path().join("data"),
        &with_auth(&[("BERTH__NAMESPACES__PUBLIC_ON_PUSH", "true")]),
    );
    let image = layout(tmp.path());
    let target = format!("docker://{}/public/app:v1", berth.host());
    let (ok, _, err) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("admin:{PASSWORD}"),
        &image,
        &target,
    ]);
    assert!(ok, "{err}");
    // Anyone may pull, through the anonymous token flow...
    let out_layout = tmp.path().join("pulled");
    let (ok, _, err) = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-no-creds",
        &target,
        &format!("oci:{}:v1", out_layout.to_str().unwrap()),
    ]);
    assert!(ok, "anonymous pull of a public namespace: {err}");
    // ... but not push.
    let (ok, _, _) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-no-creds",
        &image,
        &format!("docker://{}/public/app:v2", berth.host()),
    ]);
    assert!(!ok, "anonymous push into a public namespace");
}
