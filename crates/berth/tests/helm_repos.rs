//! Black-box tests of Helm repositories (seed 000, `/api/repos` and `berth k8s-repo`): two
//! real `berth` binaries, one the upstream Helm repository (a private namespace served at
//! `/chartrepo/up`, charts uploaded through its ChartMuseum API), the other mirroring it
//! with credentials. Sync on creation (the scheduler wakes) and on demand, the mirrored
//! charts served byte for byte at `/chartrepo/<name>`, an unchanged upstream answered by its
//! ETag, a version gone upstream marked (and kept), wrong credentials and a dead upstream
//! recorded without losing what was mirrored, rename, list filters and delete. The mirror
//! runs on the embedded default and on PostgreSQL + S3. And `berth chart` over the native
//! chart API.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Berth;

const ADMIN_PASSWORD: &str = "helm-repos-admin-pw";

/// A chart archive as `helm package` writes it: `<name>/Chart.yaml`, values, a template.
fn chart(name: &str, version: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let files = [
        (
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: {name} for the mirror test\n"
            ),
        ),
        ("values.yaml", "replicas: 1\n".to_owned()),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n".to_owned(),
        ),
    ];
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        builder
            .append_data(&mut header, format!("{name}/{path}"), text.as_bytes())
            .unwrap();
    }
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn env(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = extra.to_vec();
    for (k, v) in [
        ("BERTH__AUTH__ENABLED", "true".to_owned()),
        ("BERTH__AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("BERTH__AUTH__ENCRYPTION_KEY", "cd".repeat(32)),
        ("BERTH__REMOTES__ALLOW_NETWORKS", "127.0.0.0/8".to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    env
}

/// A JSON request as the administrator.
async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client()
        .request(method, url)
        .basic_auth("admin", Some(ADMIN_PASSWORD));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn upload(upstream: &Berth, archive: Vec<u8>) {
    let response = client()
        .post(format!("{}/chartrepo/up/api/charts", upstream.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .body(archive)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// The versions of each chart in a classic repository's index.yaml, and their digests.
async fn index(berth: &Berth, namespace: &str) -> Vec<(String, String, String)> {
    let response = client()
        .get(format!("{}/chartrepo/{namespace}/index.yaml", berth.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let index: serde_yaml_like::Index = serde_yaml_like::parse(&text);
    index.versions
}

/// Just enough of index.yaml for the test, read line by line (the test judges berth from
/// outside, without berth's own parser).
mod serde_yaml_like {
    pub struct Index {
        pub versions: Vec<(String, String, String)>,
    }

    pub fn parse(text: &str) -> Index {
        let mut versions = Vec::new();
        let (mut chart, mut version, mut digest) = (String::new(), String::new(), String::new());
        let mut in_entries = false;
        for line in text.lines() {
            if line == "entries:" {
                in_entries = true;
                continue;
            }
            if !in_entries {
                continue;
            }
            if !line.starts_with(' ') {
                in_entries = false;
                continue;
            }
            let trimmed = line.trim_start().trim_start_matches("- ");
            if line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':') {
                chart = line.trim().trim_end_matches(':').to_owned();
            } else if let Some(v) = trimmed.strip_prefix("version: ") {
                version = v.trim_matches('"').to_owned();
            } else if let Some(d) = trimmed.strip_prefix("digest: ") {
                digest = d.trim_matches('"').to_owned();
            }
            if !version.is_empty() && !digest.is_empty() {
                versions.push((chart.clone(), version.clone(), digest.clone()));
                version.clear();
                digest.clear();
            }
        }
        versions.sort();
        Index { versions }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn scenario(mirror_env: &[(String, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut upstream = Berth::start_with_env(&dir.path().join("upstream"), &env(&[]));
    let mirror = Berth::start_with_env(&dir.path().join("mirror"), &env(mirror_env));
    let up = upstream.url();
    let base = mirror.url();

    // The upstream: a private namespace with three chart versions.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{up}/api/v1/namespaces"),
        Some(json!({"name": "up", "is_public": false})),
    )
    .await;
    assert_eq!(status, 201);
    let archives = [
        ("alpha", "0.1.0", chart("alpha", "0.1.0")),
        ("alpha", "0.2.0", chart("alpha", "0.2.0")),
        ("beta", "1.0.0", chart("beta", "1.0.0")),
    ];
    for (_, _, archive) in &archives {
        upload(&upstream, archive.clone()).await;
    }
    let upstream_url = format!("{up}/chartrepo/up");

    // The seed's create, with credentials: synced at once by the scheduler.
    let (status, created) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos"),
        Some(json!({
            "name": "mirror", "type": "external", "url": upstream_url,
            "username": "admin", "password": ADMIN_PASSWORD,
        })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    for key in [
        "id",
        "is_public",
        "name",
        "project_domain",
        "release_count",
        "type",
        "url",
    ] {
        assert!(created.get(key).is_some(), "{key} missing: {created}");
    }
    assert_eq!(created["is_public"], false);
    assert_eq!(created["project_domain"], "Default");
    assert_eq!(created["type"], "external");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(
        !created.to_string().contains(ADMIN_PASSWORD),
        "no password in answers"
    );
    let started = Instant::now();
    let synced = loop {
        let (_, got) = call(
            reqwest::Method::GET,
            &format!("{base}/api/repos/{id}"),
            None,
        )
        .await;
        if got["sync"]["status"] != "never" || started.elapsed() > Duration::from_secs(30) {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(synced["sync"]["status"], "ok", "{synced}");
    assert_eq!(synced["sync"]["charts"], 3, "{synced}");

    // Served by the mirror byte for byte, with the upstream's digests.
    let mirrored = index(&mirror, "mirror").await;
    let expected: Vec<(String, String, String)> = archives
        .iter()
        .map(|(n, v, a)| (n.to_string(), v.to_string(), sha256_hex(a)))
        .collect();
    assert_eq!(mirrored, expected);
    let tgz = client()
        .get(format!("{base}/chartrepo/mirror/charts/alpha-0.2.0.tgz"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(tgz.as_ref(), archives[1].2.as_slice());

    // On demand, nothing changed: the upstream's ETag answers.
    let (status, again) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos/mirror/sync"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (&again["sync"]["status"], &again["sync"]["charts"]),
        (&json!("ok"), &json!(3))
    );

    // Upstream drops alpha 0.1.0 and adds 0.3.0: the new one comes, the old one is marked.
    let response = client()
        .delete(format!("{up}/chartrepo/up/api/charts/alpha/0.1.0"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let newer = chart("alpha", "0.3.0");
    upload(&upstream, newer.clone()).await;
    let (_, after) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos/{id}/sync"),
        None,
    )
    .await;
    assert_eq!(
        (
            &after["sync"]["status"],
            &after["sync"]["charts"],
            &after["sync"]["vanished"]
        ),
        (&json!("ok"), &json!(3), &json!(1)),
        "{after}"
    );
    let (_, versions) = call(
        reqwest::Method::GET,
        &format!("{base}/api/repos/mirror/versions"),
        None,
    )
    .await;
    let vanished: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["vanished"] == true)
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(vanished, ["0.1.0"], "{versions}");
    let served: Vec<String> = index(&mirror, "mirror")
        .await
        .into_iter()
        .map(|(n, v, _)| format!("{n}-{v}"))
        .collect();
    assert_eq!(
        served,
        ["alpha-0.1.0", "alpha-0.2.0", "alpha-0.3.0", "beta-1.0.0"]
    );

    // Wrong credentials: the sync fails and says why; what was mirrored stays.
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{base}/api/repos/mirror"),
        Some(json!({"username": "admin", "password": "wrong"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, failed) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos/mirror/sync"),
        None,
    )
    .await;
    assert!((400..500).contains(&status), "{status} {failed}");
    assert!(
        failed["error"]["details"]
            .as_str()
            .unwrap()
            .contains("credentials"),
        "{failed}"
    );
    let (_, shown) = call(
        reqwest::Method::GET,
        &format!("{base}/api/repos/mirror"),
        None,
    )
    .await;
    assert_eq!(shown["sync"]["status"], "failed", "{shown}");
    assert_eq!(index(&mirror, "mirror").await.len(), 4);

    // A dead upstream: 502, recorded, and the mirror still serves.
    upstream.kill();
    let (status, dead) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos/mirror/sync"),
        None,
    )
    .await;
    assert_eq!(status, 502, "{dead}");
    assert_eq!(dead["error"]["class"], "BadGatewayError");
    assert_eq!(index(&mirror, "mirror").await.len(), 4);

    // The CLI: list with filters, rename (the charts stay where they are), show.
    let cli = |args: &[&str]| {
        let (ok, out, err) = support::berth_cli(&mirror, ADMIN_PASSWORD, args, None);
        assert!(ok, "berth {args:?}: {err}");
        out
    };
    let out = cli(&["k8s-repo", "create", "--type", "internal", "hosted", ""]);
    assert!(out.contains("internal"), "{out}");
    let out = cli(&["k8s-repo", "list", "--type", "external", "--details"]);
    assert!(
        out.contains("mirror") && !out.contains("hosted") && out.contains("failed"),
        "{out}"
    );
    let out = cli(&["k8s-repo", "update", "--name", "mirror-new", "mirror"]);
    assert!(out.contains("mirror-new"), "{out}");
    let out = cli(&["--output", "json", "k8s-repo", "list", "--search", "NEW"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["repos"][0]["name"], "mirror-new");
    assert_eq!(
        index(&mirror, "mirror").await.len(),
        4,
        "a rename keeps the namespace"
    );
    let (ok, _, err) = support::berth_cli(
        &mirror,
        ADMIN_PASSWORD,
        &["k8s-repo", "sync", "hosted"],
        None,
    );
    assert!(!ok && err.contains("no URL"), "{err}");

    // Errors in onecloud's shape; anonymous callers see nothing private
    // and are asked to log in.
    let (status, dup) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos"),
        Some(json!({"name": "hosted"})),
    )
    .await;
    assert_eq!(
        (status, &dup["error"]["class"]),
        (409, &json!("DuplicateNameError"))
    );
    for bad in [
        json!({"name": "x1", "url": "ftp://nope"}),
        json!({"name": "x2", "type": "vm"}),
        json!({"name": "Bad Name"}),
        json!({"name": "x3", "extra": true}),
    ] {
        let (status, e) = call(
            reqwest::Method::POST,
            &format!("{base}/api/repos"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(
            (status, &e["error"]["class"]),
            (400, &json!("InputParameterError")),
            "{bad}: {e}"
        );
    }
    let (status, _) = call(
        reqwest::Method::GET,
        &format!("{base}/api/repos?limit=0"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let anonymous = client()
        .get(format!("{base}/api/repos"))
        .send()
        .await
        .unwrap();
    let listed: Value = anonymous.json().await.unwrap();
    assert_eq!(
        listed["total"], 0,
        "private repositories are not listed: {listed}"
    );
    let anonymous = client()
        .get(format!("{base}/api/repos/mirror-new"))
        .send()
        .await
        .unwrap();
    // Logging in would help: 401 with a challenge.
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"berth\""
    );

    // Delete: the repository and the namespace made for it.
    cli(&["k8s-repo", "delete", "mirror-new"]);
    let (status, _) = call(
        reqwest::Method::GET,
        &format!("{base}/api/repos/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let gone = client()
        .get(format!("{base}/chartrepo/mirror/index.yaml"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_on_the_embedded_default() {
    scenario(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_on_postgres_and_s3() {
    let Some(s3) = berth_storage::testing::s3_config("helm-repos") else {
        return;
    };
    berth_meta::testing::with_fresh_database("helm_repos", move |url| async move {
        scenario(&support::scale_out_env(&s3, &url)).await;
    })
    .await;
}

/// `berth chart`: push a .tgz, list, show, pull it back byte for byte, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_commands() {
    let dir = tempfile::tempdir().unwrap();
    let berth = Berth::start_with_env(&dir.path().join("data"), &env(&[]));
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/api/v1/namespaces", berth.url()),
        Some(json!({"name": "apps"})),
    )
    .await;
    assert_eq!(status, 201);
    let archive = chart("web", "1.2.3");
    let file = dir.path().join("web-1.2.3.tgz");
    std::fs::write(&file, &archive).unwrap();
    let cli = |args: &[&str]| {
        let (ok, out, err) = support::berth_cli(&berth, ADMIN_PASSWORD, args, None);
        assert!(ok, "berth {args:?}: {err}");
        out
    };
    let out = cli(&["chart", "push", file.to_str().unwrap(), "apps"]);
    assert!(
        out.contains("1.2.3") && out.contains(&sha256_hex(&archive)),
        "{out}"
    );
    let (ok, _, err) = support::berth_cli(
        &berth,
        ADMIN_PASSWORD,
        &["chart", "push", file.to_str().unwrap(), "apps"],
        None,
    );
    assert!(!ok && err.contains("409"), "{err}");
    cli(&["chart", "push", "--force", file.to_str().unwrap(), "apps"]);
    let out = cli(&["chart", "list", "apps"]);
    assert!(out.contains("web") && out.contains("Total: 1"), "{out}");
    let out = cli(&["--output", "json", "chart", "show", "apps/web", "1.2.3"]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["metadata"]["description"], "web for the mirror test");
    let pulled = dir.path().join("pulled.tgz");
    cli(&[
        "chart",
        "pull",
        "apps/web",
        "1.2.3",
        "-f",
        pulled.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&pulled).unwrap(), archive);
    let (ok, _, err) = support::berth_cli(
        &berth,
        ADMIN_PASSWORD,
        &["chart", "pull", "apps/web", "9.9.9"],
        None,
    );
    assert!(!ok && err.contains("404"), "{err}");
    let out = cli(&["chart", "delete", "apps/web", "1.2.3"]);
    assert!(out.contains("deleted apps/web 1.2.3"), "{out}");
    let out = cli(&["chart", "list", "apps"]);
    assert!(out.contains("Total: 0"), "{out}");
}

/// A static file server holding a Helm repository built here (`python3 -m http.server`),
/// whose log tells how often each archive was fetched.
struct StaticRepo {
    root: tempfile::TempDir,
    child: std::process::Child,
    log: std::path::PathBuf,
    url: String,
}

impl StaticRepo {
    fn start() -> StaticRepo {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("charts")).unwrap();
        let log = root.path().join("access.log");
        let port = support::free_port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .arg("--directory")
            .arg(root.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 -m http.server");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "http.server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        StaticRepo {
            root,
            child,
            log,
            url,
        }
    }

    /// Writes the archives and an index.yaml listing them; `digests` overrides an entry's
    /// digest (a corrupt index), `absolute` lists the URL in full instead of relative.
    fn publish(&self, charts: &[(&str, &str, &[u8])], bad_digest: Option<&str>) {
        let mut index = String::from("apiVersion: v1\nentries:\n");
        let mut by_name: std::collections::BTreeMap<&str, Vec<(&str, &[u8])>> = Default::default();
        for (name, version, archive) in charts {
            by_name.entry(name).or_default().push((version, archive));
        }
        for (name, versions) in by_name {
            index.push_str(&format!("  {name}:\n"));
            for (version, archive) in versions {
                let file = format!("{name}-{version}.tgz");
                std::fs::write(self.root.path().join("charts").join(&file), archive).unwrap();
                let digest = if bad_digest == Some(name) {
                    "0".repeat(64)
                } else {
                    sha256_hex(archive)
                };
                // Every other chart by absolute URL, the rest relative.
                let url = if name.len() % 2 == 0 {
                    format!("{}/charts/{file}", self.url)
                } else {
                    format!("charts/{file}")
                };
                index.push_str(&format!(
                    "  - apiVersion: v2\n    name: {name}\n    version: {version}\n    digest: {digest}\n    urls:\n    - {url}\n"
                ));
            }
        }
        index.push_str("generated: \"2026-12-03T00:00:00Z\"\n");
        std::fs::write(self.root.path().join("index.yaml"), index).unwrap();
    }

    /// How many times `path` was fetched.
    fn fetches(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.matches(&format!("\"GET {path} HTTP")).count()
    }
}

impl Drop for StaticRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls a repository until `done` says so (or 30 s pass); returns the last answer.
async fn wait_for(base: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (_, got) = call(
            reqwest::Method::GET,
            &format!("{base}/api/repos/{id}"),
            None,
        )
        .await;
        if done(&got) || started.elapsed() > Duration::from_secs(30) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A static Helm repository with relative and absolute URLs and one corrupt digest; the
/// seed's requests as written; the schedule picking up an upstream change with no sync
/// asked for (a 1-second interval); and, with `replicas`, two replicas on one database
/// syncing at once: each new archive is fetched once.
async fn static_scenario(mirror_env: &[(String, String)], replicas: bool) {
    let statics = StaticRepo::start();
    let (g1, d1, e1) = (
        chart("gamma", "1.0.0"),
        chart("delta", "1.0.0"),
        chart("eps", "1.0.0"),
    );
    statics.publish(
        &[
            ("gamma", "1.0.0", &g1),
            ("delta", "1.0.0", &d1),
            ("eps", "1.0.0", &e1),
        ],
        Some("eps"),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut extra = mirror_env.to_vec();
    extra.push(("BERTH__REMOTES__HELM_SYNC_INTERVAL_SECS".into(), "1".into()));
    let a = Berth::start_with_env(&dir.path().join("a"), &env(&extra));
    let b = replicas.then(|| Berth::start_with_env(&dir.path().join("b"), &env(&extra)));
    let base = a.url();

    // The seed's create: synced by the scheduler; the corrupt version is named, the rest
    // mirrored.
    let (status, created) = call(
        reqwest::Method::POST,
        &format!("{base}/api/repos"),
        Some(json!({"name": "bitnami", "type": "external", "url": statics.url})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let got = wait_for(&base, &id, |r| r["sync"]["charts"] == 2).await;
    assert_eq!(got["sync"]["status"], "failed", "{got}");
    assert!(
        got["sync"]["error"].as_str().unwrap().contains("eps 1.0.0"),
        "{got}"
    );
    let served: Vec<String> = index(&a, "bitnami")
        .await
        .into_iter()
        .map(|(n, v, _)| format!("{n}-{v}"))
        .collect();
    assert_eq!(served, ["delta-1.0.0", "gamma-1.0.0"]);

    // Upstream fixes its index and adds a version: the schedule mirrors it unasked.
    let g2 = chart("gamma", "1.1.0");
    statics.publish(
        &[
            ("gamma", "1.0.0", &g1),
            ("gamma", "1.1.0", &g2),
            ("delta", "1.0.0", &d1),
            ("eps", "1.0.0", &e1),
        ],
        None,
    );
    let got = wait_for(&base, &id, |r| r["sync"]["charts"] == 4).await;
    assert_eq!(
        (&got["sync"]["status"], &got["sync"]["charts"]),
        (&json!("ok"), &json!(4)),
        "{got}"
    );
    assert_eq!(
        statics.fetches("/charts/gamma-1.0.0.tgz"),
        1,
        "mirrored once, then kept"
    );

    // Two replicas asked to sync at once: one sync runs; each new archive is fetched once.
    if let Some(b) = &b {
        let g3 = chart("gamma", "1.2.0");
        statics.publish(
            &[
                ("gamma", "1.0.0", &g1),
                ("gamma", "1.1.0", &g2),
                ("gamma", "1.2.0", &g3),
                ("delta", "1.0.0", &d1),
                ("eps", "1.0.0", &e1),
            ],
            None,
        );
        let sync = |url: String| async move {
            call(
                reqwest::Method::POST,
                &format!("{url}/api/repos/bitnami/sync"),
                None,
            )
            .await
        };
        let ((sa, ba), (sb, bb)) = tokio::join!(sync(a.url()), sync(b.url()));
        for (s, body) in [(sa, &ba), (sb, &bb)] {
            assert!(s == 200 || s == 429, "{s} {body}");
        }
        let got = wait_for(&base, &id, |r| r["sync"]["charts"] == 5).await;
        assert_eq!(got["sync"]["charts"], 5, "{got}");
        assert_eq!(
            statics.fetches("/charts/gamma-1.2.0.tgz"),
            1,
            "fetched once across replicas"
        );
        assert_eq!(
            index(b, "bitnami").await.len(),
            5,
            "the other replica serves it too"
        );
    }

    // The seed's update and list, as written.
    let (status, updated) = call(
        reqwest::Method::PUT,
        &format!("{base}/api/repos/{id}"),
        Some(json!({"name": "bitnami-new", "url": statics.url})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "bitnami-new");
    let (status, listed) = call(
        reqwest::Method::GET,
        &format!("{base}/api/repos?details=false&limit=20&offset=0&type=external"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["total"], 1);
    let item = &listed["repos"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "id",
            "is_public",
            "name",
            "project_domain",
            "release_count",
            "type",
            "url"
        ],
        "details=false: the seed's fields"
    );
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{base}/api/repos/bitnami-new"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_repository_on_the_embedded_default() {
    static_scenario(&[], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_repository_with_two_replicas_on_postgres_and_s3() {
    let Some(s3) = berth_storage::testing::s3_config("helm-repos-static") else {
        return;
    };
    berth_meta::testing::with_fresh_database("helm_repos_static", move |url| async move {
        static_scenario(&support::scale_out_env(&s3, &url), true).await;
    })
    .await;
}
