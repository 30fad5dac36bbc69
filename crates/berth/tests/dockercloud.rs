//! Black-box tests of external repositories: the real `berth` binary with authentication on,
//! Debian's `docker-registry` (CNCF distribution) with htpasswd Basic auth as the upstream,
//! and the real Docker Cloud clients, python-dockercloud 1.0.12 (the library test client
//! `tests/clients/dockercloud_repos.py`) and the `docker-cloud` CLI 1.0.9, installed by
//! `.ci/dockercloud.sh` (they skip, loudly, only where no Python 2.7 exists); then berth's own
//! `berth remote` commands, and the default configuration's refusals.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Berth, DockerRegistry};

const ADMIN_PASSWORD: &str = "blackbox-admin-pw";
const UP_USER: &str = "dcuser";
const UP_PASS: &str = "dc-upstream-pw";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn start_berth(dir: &Path, allow_loopback: bool) -> Berth {
    let mut env = vec![
        ("BERTH__AUTH__ENABLED".to_string(), "true".to_string()),
        (
            "BERTH__AUTH__ADMIN_PASSWORD".to_string(),
            ADMIN_PASSWORD.to_string(),
        ),
        (
            "BERTH__REMOTES__INSECURE_REGISTRIES".to_string(),
            "127.0.0.1".to_string(),
        ),
    ];
    if allow_loopback {
        env.push((
            "BERTH__REMOTES__ALLOW_NETWORKS".to_string(),
            "127.0.0.0/8".to_string(),
        ));
    }
    Berth::start_with_env(dir, &env)
}

fn admin_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!(
        "Basic {}",
        support::base64(format!("admin:{ADMIN_PASSWORD}").as_bytes())
    );
    headers.insert("authorization", value.parse().unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A personal access token of the administrator (a Docker Cloud API key).
async fn api_key(berth: &Berth) -> String {
    let response = admin_client()
        .post(format!("{}/api/v1/users/admin/tokens", berth.url()))
        .header("content-type", "application/json")
        .body(r#"{"name": "docker-cloud"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("bth_"), "{body}");
    token
}

/// Makes namespace `ns` by pushing an image into it as the administrator.
async fn make_namespace(berth: &Berth, ns: &str) {
    let client = admin_client();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"layer";
    let repo = format!("{ns}/seed");
    let c = support::push_blob_monolithic(&client, &berth.url(), &repo, config)
        .await
        .unwrap();
    let l = support::push_blob_monolithic(&client, &berth.url(), &repo, layer)
        .await
        .unwrap();
    let manifest = support::image_manifest((&c, config.len()), &[(l, layer.len())]);
    support::put_manifest(
        &client,
        &berth.url(),
        &repo,
        "v1",
        support::OCI_MANIFEST,
        &manifest,
    )
    .await
    .unwrap();
}

/// The Docker Cloud clients from `.ci/dockercloud.sh`: `(python, cli)`, or `None` (reported
/// loudly) where no Python 2.7 exists.
fn docker_cloud_clients() -> Option<(String, String)> {
    let out = Command::new("bash")
        .args([
            "-c",
            "source .ci/dockercloud.sh >&2 && printf '%s\\n%s\\n' \"${DOCKERCLOUD_PY:-}\" \"${DOCKERCLOUD_CLI:-}\"",
        ])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .expect("running bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "source .ci/dockercloud.sh failed (a Python 2.7 is there but the clients could not be \
         installed):\n{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let (py, cli) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    if py.is_empty() || cli.is_empty() {
        eprintln!(
            "################################################################\n\
             SKIPPED: the Docker Cloud client tests (python-dockercloud, docker-cloud): no \
             Python 2.7 on this machine (.ci/dockercloud.sh said:\n{stderr})\n\
             ################################################################"
        );
        return None;
    }
    Some((py.to_owned(), cli.to_owned()))
}

/// Runs a Docker Cloud client with berth's address and credentials, `HOME` empty and no
/// proxy; returns its exit code, stdout and stderr.
fn docker_cloud(
    program: &str,
    args: &[&str],
    berth: &Berth,
    apikey: &str,
    namespace: Option<&str>,
    home: &Path,
) -> (i32, String, String) {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(workspace_root())
        .env("HOME", home)
        .env("DOCKERCLOUD_REST_HOST", berth.url())
        .env("DOCKERCLOUD_USER", "admin")
        .env("DOCKERCLOUD_APIKEY", apikey)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .stdin(Stdio::null());
    for var in [
        "DOCKERCLOUD_AUTH",
        "DOCKERCLOUD_PASS",
        "DOCKERCLOUD_NAMESPACE",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        command.env_remove(var);
    }
    if let Some(ns) = namespace {
        command.env("DOCKERCLOUD_NAMESPACE", ns);
    }
    let out = tokio::task::block_in_place(|| command.output())
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    )
}

/// The `docker-cloud repository ...` calls of the research notes, with their expected
/// outputs.
#[allow(clippy::too_many_arguments)]
fn cli_calls(cli: &str, berth: &Berth, key: &str, ns: Option<&str>, home: &Path, name: &str) {
    let run = |args: &[&str]| docker_cloud(cli, args, berth, key, ns, home);
    let scope = ns.map(|n| format!("{n}/")).unwrap_or_default();
    let expect = |args: &[&str], rc: i32, stdout: &str, stderr_start: &str| {
        let (code, out, err) = run(args);
        assert_eq!(
            (code, out.as_str()),
            (rc, stdout),
            "docker-cloud {args:?}\nstderr: {err}"
        );
        assert!(
            err.starts_with(stderr_start),
            "docker-cloud {args:?}: stderr {err:?} does not start with {stderr_start:?}"
        );
        if stderr_start.is_empty() {
            assert!(err.is_empty(), "docker-cloud {args:?}: stderr {err:?}");
        }
        err
    };
    expect(&["repository", "ls", "-q"], 0, "", "");
    expect(
        &["repository", "register", "-u", UP_USER, "-p", UP_PASS, name],
        0,
        name,
        "",
    );
    let wrong = format!("{UP_PASS}-wrong");
    let err = expect(
        &[
            "repository",
            "register",
            "-u",
            UP_USER,
            "-p",
            &wrong,
            &format!("{name}-other"),
        ],
        3,
        "",
        "Status 400 (POST ",
    );
    assert!(
        err.contains(&format!("/api/repo/v1/{scope}repository/). Response: ")),
        "{err}"
    );
    assert!(!err.contains(&wrong), "the password is echoed: {err}");
    expect(
        &["repository", "register", "-u", UP_USER, "-p", UP_PASS, name],
        3,
        "",
        "Status 409 (POST ",
    );
    expect(&["repository", "ls", "-q"], 0, name, "");
    let (code, out, _) = run(&["repository", "ls"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "IN_USE"], "{out}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row, [name, "no"], "{out}");
    let (code, out, err) = run(&["repository", "inspect", name]);
    assert_eq!(code, 0, "{err}");
    let inspected: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(inspected["name"], name);
    assert_eq!(inspected["in_use"], false);
    assert_eq!(
        inspected["resource_uri"],
        format!("/api/repo/v1/{scope}repository/{name}/")
    );
    let host = name.split('/').next().unwrap();
    assert_eq!(
        inspected["registry"],
        format!("/api/repo/v1/{scope}registry/{host}/")
    );
    assert!(inspected.get("password").is_none() && !out.contains(UP_PASS));
    let missing = format!("{name}-nope");
    expect(
        &["repository", "inspect", &missing],
        3,
        "",
        &format!("Cannot find a repository with the identifier '{missing}'"),
    );
    expect(
        &["repository", "update", "-u", UP_USER, "-p", UP_PASS, name],
        0,
        name,
        "",
    );
    let err = expect(
        &["repository", "update", "-p", &wrong, name],
        3,
        "",
        "Status 400 (PATCH ",
    );
    assert!(
        err.contains(&format!("/repository/{name}/). Response: ")),
        "{err}"
    );
    expect(&["repository", "rm", name], 0, name, "");
    let err = expect(&["repository", "rm", name], 3, "", "Status 404 (GET ");
    assert!(
        err.contains(&format!("/repository/{name}/). Response: ")),
        "{err}"
    );
    let (code, _, err) = docker_cloud(cli, &["repository", "ls"], berth, "wrong", ns, home);
    assert_eq!((code, err.as_str()), (3, "Not authorized"));
    expect(&["repository", "ls", "-q"], 0, "", "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cloud_clients_against_docker_registry() {
    let registry = DockerRegistry::start(UP_USER, UP_PASS);
    let dir = tempfile::tempdir().unwrap();
    let berth = start_berth(&dir.path().join("berth"), true);
    let key = api_key(&berth).await;
    make_namespace(&berth, "dcteam").await;
    let Some((py, cli)) = docker_cloud_clients() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let name = format!("{}/u/img", registry.host);
    let script = "crates/berth/tests/clients/dockercloud_repos.py";

    // The library, globally (with more entries than a page: meta.next is followed) and in
    // a namespace.
    for (ns, extra) in [(None, "27"), (Some("dcteam"), "2")] {
        let (code, out, err) = docker_cloud(
            &py,
            &[
                script,
                &name,
                UP_USER,
                UP_PASS,
                "--extra",
                extra,
                "--step-timeout",
                "60",
            ],
            &berth,
            &key,
            ns,
            home.path(),
        );
        assert_eq!(
            code,
            0,
            "dockercloud_repos.py ({ns:?}) failed\n--- stdout\n{out}\n--- stderr\n{err}\n--- berth\n{}",
            berth.log_tail()
        );
        eprintln!("dockercloud_repos.py, namespace {ns:?}:\n{out}");
        assert!(out.ends_with("all steps passed"), "{out}");
        assert!(!out.contains("skip "), "no step may be left out: {out}");
        if ns.is_none() {
            assert!(!out.contains("ONE PAGE ONLY"), "{out}");
        }
    }

    // The CLI, globally and in the namespace.
    for ns in [None, Some("dcteam")] {
        cli_calls(&cli, &berth, &key, ns, home.path(), &name);
    }
    // No password in berth's log.
    let log = berth.log_tail();
    assert!(
        !log.contains(UP_PASS),
        "the upstream password is in berth's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_remote_commands() {
    let registry = DockerRegistry::start(UP_USER, UP_PASS);
    let dir = tempfile::tempdir().unwrap();
    let berth = start_berth(&dir.path().join("berth"), true);
    let name = format!("{}/team/app", registry.host);
    let ok = |args: &[&str], stdin: Option<&str>| {
        let (ok, out, err) = support::berth_cli(&berth, ADMIN_PASSWORD, args, stdin);
        assert!(ok, "berth {args:?} failed: {err}");
        out
    };
    let out = ok(&["remote", "list"], None);
    assert_eq!(out.trim(), "NAME  REGISTRY  IN USE");
    let out = ok(
        &[
            "remote",
            "register",
            "-u",
            UP_USER,
            "--password-stdin",
            &name,
        ],
        Some(&format!("{UP_PASS}\n")),
    );
    assert_eq!(out.trim(), format!("registered {name}"));
    let (ok_, _, err) = support::berth_cli(
        &berth,
        ADMIN_PASSWORD,
        &[
            "remote",
            "register",
            "-u",
            UP_USER,
            "-p",
            "nope-wrong",
            &format!("{name}2"),
        ],
        None,
    );
    assert!(!ok_);
    assert!(
        err.contains("400") && err.contains("invalid credentials for the upstream"),
        "{err}"
    );
    assert!(!err.contains("nope-wrong"));
    let out = ok(&["remote", "list"], None);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[1],
        [name.as_str(), registry.host.as_str(), "no"],
        "{out}"
    );
    let out = ok(&["remote", "list", "--output", "json"], None);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], name);
    let out = ok(&["remote", "show", &name, "--output", "json"], None);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        shown["resource_uri"],
        format!("/api/repo/v1/repository/{name}/")
    );
    let out = ok(&["remote", "show", &name], None);
    assert!(
        out.contains("REGISTRY") && out.contains(&registry.host),
        "{out}"
    );
    let out = ok(
        &["remote", "list", "--registry", &registry.host, "-o", "json"],
        None,
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["name"],
        name
    );
    let out = ok(
        &["remote", "update", "-u", UP_USER, "-p", UP_PASS, &name],
        None,
    );
    assert_eq!(out.trim(), format!("updated {name}"));
    let (ok_, _, err) = support::berth_cli(
        &berth,
        ADMIN_PASSWORD,
        &["remote", "update", "-p", "bad-one", &name],
        None,
    );
    assert!(!ok_ && err.contains("400"), "{err}");
    let out = ok(&["remote", "remove", &name, "-o", "json"], None);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"removed": name})
    );
    let (ok_, _, err) =
        support::berth_cli(&berth, ADMIN_PASSWORD, &["remote", "show", &name], None);
    assert!(!ok_ && err.contains("404"), "{err}");
    // berth's own login failing.
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    let out = command
        .args([
            "--server",
            &berth.url(),
            "--user",
            "admin",
            "--token",
            "wrong",
            "remote",
            "list",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_configuration_refuses_loopback_and_metadata() {
    let registry = DockerRegistry::start(UP_USER, UP_PASS);
    let dir = tempfile::tempdir().unwrap();
    let berth = start_berth(&dir.path().join("berth"), false);
    let client = admin_client();
    for name in [
        format!("{}/u/img", registry.host),
        format!(
            "localhost:{}/u/img",
            registry.host.rsplit(':').next().unwrap()
        ),
        "169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/repo/v1/repository/", berth.url()))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"name": name, "username": UP_USER, "password": UP_PASS})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{name}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("refused"),
            "{name}: {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{name}");
    }
}
