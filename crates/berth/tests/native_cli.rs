//! Black-box: the real `berth` binary as a client of a real `berth serve` with
//! authentication on. `berth login` (its config file, mode 0600, in a temporary HOME), every
//! management command over the native API in tables and JSON, the existing commands with
//! the saved login, clear errors with a non-zero exit, and `berth logout`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

const PASSWORD: &str = "cli-admin-password";
const ALICE_PASSWORD: &str = "alice-password-1";

/// Runs the client with `home` as HOME and nothing else of the caller's berth setup.
fn berth(home: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("BERTH")
            || key == "XDG_CONFIG_HOME"
            || key.ends_with("_proxy")
            || key.ends_with("_PROXY")
        {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", home)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawning berth");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pushes an image with a config that tells its platform and history; returns its digest.
async fn push_image(url: &str, repo: &str, tags: &[&str]) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let auth = |r: reqwest::RequestBuilder| r.basic_auth("admin", Some(PASSWORD));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-06T07:08:09Z",
        "history": [{"created_by": "COPY app /app"}],
        "config": {"Labels": {"team": "cli"}},
    }))
    .unwrap();
    let layer = b"the cli layer".to_vec();
    let mut digests = Vec::new();
    for blob in [&config, &layer] {
        let digest = sha256(blob);
        let response = auth(client.post(format!("{url}/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        digests.push(digest);
    }
    let manifest = image_manifest(
        (&digests[0], config.len()),
        &[(digests[1].clone(), layer.len())],
    );
    for tag in tags {
        let response = auth(client.put(format!("{url}/v2/{repo}/manifests/{tag}")))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    sha256(&manifest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_every_management_command() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let server = Berth::start_with_env(
        &tmp.path().join("data"),
        &[
            ("BERTH__AUTH__ENABLED".into(), "true".into()),
            ("BERTH__AUTH__ADMIN_PASSWORD".into(), PASSWORD.into()),
            ("BERTH__AUTH__ENCRYPTION_KEY".into(), "ab".repeat(32)),
        ],
    );
    let url = server.url();
    let ok = |args: &[&str]| {
        let (ok, out, err) = berth(&home, args, None);
        assert!(ok, "berth {args:?} failed\nstdout: {out}\nstderr: {err}");
        out
    };
    let fails = |args: &[&str]| {
        let (ok, out, err) = berth(&home, args, None);
        assert!(!ok, "berth {args:?} succeeded: {out}");
        // berth's own errors, or clap's for arguments it refuses.
        assert!(
            err.starts_with("Error: ") || err.starts_with("error: "),
            "{err}"
        );
        err
    };
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let out = ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    };

    // Before logging in: refused, with the way out named.
    let err = fails(&["--server", &url, "namespace", "create", "team"]);
    assert!(err.contains("401") && err.contains("berth login"), "{err}");

    // A wrong password logs nobody in and saves nothing.
    let (ok_login, _, err) = berth(
        &home,
        &[
            "--server",
            &url,
            "login",
            "--username",
            "admin",
            "--password-stdin",
        ],
        Some("wrong-password\n"),
    );
    assert!(!ok_login);
    assert!(err.contains("401"), "{err}");
    let config = home.join(".config/berth/config.toml");
    assert!(!config.exists());
    // --password-stdin without a user name is refused before anything is sent.
    let (ok_login, _, err) = berth(
        &home,
        &["--server", &url, "login", "--password-stdin"],
        Some("x\n"),
    );
    assert!(!ok_login && err.contains("--username"), "{err}");

    // Log in: a token is saved, never the password, readable by the user alone.
    let (ok_login, out, err) = berth(
        &home,
        &[
            "--server",
            &url,
            "login",
            "--username",
            "admin",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(ok_login, "{err}");
    assert!(
        out.contains("Logged in to") && out.contains("as admin"),
        "{out}"
    );
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "config file mode {mode:o}");
    let dir_mode = std::fs::metadata(config.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "config dir mode {dir_mode:o}");
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.contains("token = \"bth_"), "{saved}");
    assert!(
        !saved.contains(PASSWORD),
        "the password is in the config file"
    );
    assert!(saved.contains(&format!("server = \"{url}\"")), "{saved}");

    // From here on no --server and no credentials: the saved login is used.
    let out = ok(&["namespace", "create", "team", "--description", "the team"]);
    assert!(out.contains("team") && out.contains("manage"), "{out}");
    ok(&["namespace", "create", "scratch"]);
    let out = ok(&["namespace", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("REPOSITORIES"),
        "{out}"
    );
    assert!(out.contains("scratch") && out.contains("team"), "{out}");
    assert!(
        out.contains("***  Total: 2  Limit: 20  Offset: 0  ***"),
        "{out}"
    );
    let listing = json(&[
        "namespace",
        "list",
        "--search",
        "tea",
        "--limit",
        "1",
        "--order",
        "desc",
    ]);
    assert_eq!(listing["total"], 1);
    assert_eq!(listing["items"][0]["name"], "team");
    let shown = json(&["namespace", "show", "team"]);
    assert_eq!(shown["description"], "the team");
    assert_eq!(shown["level"], "manage");
    let changed = json(&["namespace", "update", "team", "--public", "true"]);
    assert_eq!(changed["is_public"], true);
    let err = fails(&["namespace", "update", "team"]);
    assert!(err.contains("nothing to change"), "{err}");
    ok(&["namespace", "delete", "scratch"]);
    let err = fails(&["namespace", "show", "scratch"]);
    assert!(err.contains("404") && err.contains("not found"), "{err}");

    // Repositories with nested names, counters, images and tags.
    let digest = push_image(&url, "team/group/app", &["v1", "v2"]).await;
    let out = ok(&["repo", "list"]);
    assert!(out.contains("team/group/app"), "{out}");
    assert!(out.lines().next().unwrap().contains("LAST PUSHED"), "{out}");
    let out = ok(&["repo", "list", "--details"]);
    assert!(out.lines().next().unwrap().contains("MANIFESTS"), "{out}");
    let listing = json(&[
        "repo",
        "list",
        "--namespace",
        "team",
        "--search",
        "GROUP",
        "--limit",
        "1",
        "--offset",
        "0",
        "--order-by",
        "name",
        "--order",
        "asc",
    ]);
    assert_eq!(listing["total"], 1);
    assert_eq!(listing["limit"], 1);
    let repo = json(&["repo", "show", "team/group/app"]);
    assert_eq!(repo["num_tags"], 2);
    assert_eq!(repo["num_images"], 1);
    assert_eq!(repo["num_manifests"], 1);
    assert!(repo["size"].as_u64().unwrap() > 0);
    let out = ok(&["repo", "show", "team/group/app"]);
    assert!(
        out.contains("IMAGE") && out.contains("/team/group/app"),
        "{out}"
    );
    let created = json(&[
        "repo",
        "create",
        "team/other",
        "--description",
        "x",
        "--public",
        "false",
    ]);
    assert_eq!(created["is_public"], false);
    let changed = json(&[
        "repo",
        "update",
        "team/other",
        "--public",
        "inherit",
        "--category",
        "tools",
    ]);
    assert_eq!(changed["inherits_visibility"], true);
    assert_eq!(changed["category"], "tools");
    ok(&["repo", "delete", "team/other"]);
    fails(&["repo", "show", "team/other"]);

    // The image info is read from the config at the first detail view, then listed.
    let image = json(&["image", "show", "team/group/app", &digest]);
    assert_eq!(image["artifact"]["tags"], serde_json::json!(["v1", "v2"]));
    let out = ok(&["image", "show", "team/group/app", &digest]);
    assert!(out.contains("LAYER"), "{out}");
    let out = ok(&["image", "list", "team/group/app"]);
    assert!(
        out.contains(&digest) && out.contains("v1,v2") && out.contains("linux"),
        "{out}"
    );

    let out = ok(&[
        "tag",
        "list",
        "team/group/app",
        "--order-by",
        "name",
        "--order",
        "desc",
    ]);
    let v2 = out.find("v2").unwrap();
    let v1 = out.find("v1").unwrap();
    assert!(v2 < v1, "{out}");
    let out = ok(&["tag", "show", "team/group/app", "v1"]);
    assert!(
        out.contains("amd64") && out.contains("COPY app /app") && out.contains("cli"),
        "{out}"
    );
    let tag = json(&["tag", "show", "team/group/app", "v1"]);
    assert_eq!(tag["detail"]["image"]["os"], "linux");
    ok(&["tag", "delete", "team/group/app", "v2"]);
    let status = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/v2/team/group/app/manifests/v2"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404, "a deleted tag is gone from /v2 at once");
    assert_eq!(json(&["repo", "show", "team/group/app"])["num_tags"], 1);

    // The OCI commands use the saved login too.
    let out = ok(&["catalog"]);
    assert!(out.contains("team/group/app"), "{out}");
    let out = ok(&["tags", "team/group/app"]);
    assert!(out.contains("v1") && !out.contains("v2"), "{out}");

    // Users and members.
    let (created, _, err) = berth(
        &home,
        &["user", "create", "alice", "--password-stdin"],
        Some(&format!("{ALICE_PASSWORD}\n")),
    );
    assert!(created, "{err}");
    let out = ok(&["user", "list"]);
    assert!(out.contains("alice") && out.contains("admin"), "{out}");
    assert_eq!(json(&["user", "show", "alice"])["admin"], false);
    ok(&["member", "put", "team", "alice", "read"]);
    let out = ok(&["member", "list", "team"]);
    assert!(out.contains("alice") && out.contains("read"), "{out}");
    // alice with --user/--token: reads, may not delete.
    let as_alice = |args: &[&str]| {
        let mut all = vec!["--user", "alice", "--token", ALICE_PASSWORD];
        all.extend_from_slice(args);
        berth(&home, &all, None)
    };
    let (ok_read, out, _) = as_alice(&["namespace", "show", "team"]);
    assert!(ok_read && out.contains("read"), "{out}");
    let (ok_delete, _, err) = as_alice(&["tag", "delete", "team/group/app", "v1"]);
    assert!(!ok_delete && err.contains("403"), "{err}");
    let (ok_audit, _, err) = as_alice(&["audit"]);
    assert!(!ok_audit && err.contains("403"), "{err}");
    // alice changes her own password.
    let (changed, _, err) = as_alice(&["user", "update", "alice", "--password-stdin"]);
    assert!(
        !changed && err.contains("password"),
        "stdin is empty: {err}"
    );
    let all = [
        "--user",
        "alice",
        "--token",
        ALICE_PASSWORD,
        "user",
        "update",
        "alice",
        "--password-stdin",
    ];
    let (changed, _, err) = berth(&home, &all, Some("alice-new-password\n"));
    assert!(changed, "{err}");
    let (ok_new, _, err) = berth(
        &home,
        &[
            "--user",
            "alice",
            "--token",
            "alice-new-password",
            "user",
            "show",
            "alice",
        ],
        None,
    );
    assert!(ok_new, "{err}");
    ok(&["member", "delete", "team", "alice"]);

    // Tokens: created (shown once), listed without the secret, revoked.
    let token = json(&["token", "create", "--name", "ci", "--expires-in", "3600"]);
    let secret = token["token"].as_str().unwrap().to_owned();
    let id = token["id"].as_str().unwrap().to_owned();
    let out = ok(&["token", "list"]);
    assert!(out.contains("ci") && out.contains(&id), "{out}");
    assert!(!out.contains(&secret), "a token secret is listed");
    let (works, _, err) = berth(
        &home,
        &[
            "--server", &url, "--user", "admin", "--token", &secret, "user", "list",
        ],
        None,
    );
    assert!(works, "{err}");
    let limited = json(&[
        "token",
        "create",
        "--name",
        "ro",
        "--namespace",
        "team",
        "--level",
        "read",
    ]);
    assert_eq!(limited["level"], "read");
    ok(&["token", "revoke", &id]);
    let (works, _, err) = berth(
        &home,
        &["--user", "admin", "--token", &secret, "user", "list"],
        None,
    );
    assert!(
        !works && err.contains("401"),
        "a revoked token works: {err}"
    );

    // Robots.
    let robot = json(&["robot", "create", "team", "ci", "--level", "write"]);
    assert_eq!(robot["name"], "robot$team+ci");
    assert!(robot["token"].as_str().unwrap().starts_with("bth_"));
    let out = ok(&["robot", "list", "team"]);
    assert!(
        out.contains("robot$team+ci") && out.contains("write"),
        "{out}"
    );
    ok(&["robot", "delete", "team", "ci"]);
    assert_eq!(json(&["robot", "list", "team"])["total"], 0);

    // Access keys.
    let key = json(&["key", "create", "--name", "swr"]);
    let ak = key["access_key"].as_str().unwrap().to_owned();
    assert!(!key["secret_key"].as_str().unwrap().is_empty());
    let out = ok(&["key", "list"]);
    assert!(out.contains(&ak), "{out}");
    ok(&["key", "revoke", &ak]);

    // The audit log.
    let out = ok(&["audit", "--action", "namespace.create"]);
    assert!(
        out.contains("namespace.create") && out.contains("team"),
        "{out}"
    );
    let audit = json(&["audit", "--actor", "admin", "--limit", "5"]);
    assert_eq!(audit["limit"], 5);
    assert!(audit["total"].as_u64().unwrap() >= 5);

    // Clear errors for bad input and no server.
    let err = fails(&["repo", "list", "--limit", "5000"]);
    assert!(err.contains("400") && err.contains("limit"), "{err}");
    let err = fails(&["repo", "show", "Team/App"]);
    assert!(err.contains("400") && err.contains("name"), "{err}");
    let err = fails(&["tag", "show", "team/group/app", "nope"]);
    assert!(err.contains("404") && err.contains("tag"), "{err}");
    let err = fails(&["--server", "http://127.0.0.1:9", "namespace", "list"]);
    assert!(err.contains("contacting http://127.0.0.1:9"), "{err}");
    let err = fails(&["member", "put", "team", "bob", "owner"]);
    assert!(err.contains("owner"), "{err}");

    // Log out: the token is revoked and forgotten.
    let saved: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let saved_token = saved["token"].as_str().unwrap().to_owned();
    let out = ok(&["logout"]);
    assert!(out.contains("Logged out"), "{out}");
    assert!(!config.exists());
    let err = fails(&["--server", &url, "user", "list"]);
    assert!(err.contains("401"), "{err}");
    let (works, _, _) = berth(
        &home,
        &[
            "--server",
            &url,
            "--user",
            "admin",
            "--token",
            &saved_token,
            "user",
            "list",
        ],
        None,
    );
    assert!(!works, "the logged-out token still works");
    assert_eq!(ok(&["logout"]).trim(), "not logged in");
    // A broken login file warns, blocks nothing, and goes with logout.
    std::fs::write(&config, "this is = not [a login").unwrap();
    let (works, _, err) = berth(
        &home,
        &[
            "--server", &url, "--user", "admin", "--token", PASSWORD, "user", "list",
        ],
        None,
    );
    assert!(works && err.contains("warning"), "{err}");
    ok(&["logout"]);
    assert!(!config.exists());
    // No secret in berth's log.
    let log = server.log_tail();
    assert!(
        !log.contains(PASSWORD) && !log.contains(&secret),
        "a secret is in the log"
    );
}
