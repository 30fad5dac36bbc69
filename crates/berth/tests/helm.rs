//! Black-box: the real `helm` (v4, installed by `.ci/helm.sh`, found through `HELM_BIN`)
//! against the real binary with authentication on, over every way in and out of the one
//! chart store: `helm push`/`helm pull` over OCI with `--plain-http`, the pushed chart in
//! `/chartrepo/<ns>/index.yaml`, `helm repo add` + `repo update` + `search repo` + `pull` +
//! `template` + `install --dry-run=client` + `dependency update` against `/chartrepo/<ns>`,
//! and a ChartMuseum upload with `curl --data-binary` pulled back with `helm pull oci://`.
//! helm runs with its config, cache and data in a temporary directory. Once on the embedded
//! configuration, once on two replicas sharing PostgreSQL and S3 (push through one, the
//! classic repository and ChartMuseum through the other).
//!
//! Without helm the test skips, loudly; under CI (`CI` set) it fails instead.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

const PASSWORD: &str = "helm-admin-password";

fn helm_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("HELM_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    // Where .ci/helm.sh installs it, for a developer who ran it once.
    let cached = PathBuf::from(std::env::var_os("HOME")?).join(".cache/berth-ci/helm/bin/helm");
    cached.is_file().then_some(cached)
}

/// A helm with its own config, cache and data directories.
struct Helm {
    bin: PathBuf,
    home: PathBuf,
}

impl Helm {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("HOME", &self.home)
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .env_remove("KUBECONFIG")
            .current_dir(&self.home);
        command
    }

    fn run(&self, args: &[&str]) -> String {
        run(&mut self.command(args))
    }

    fn status(&self, args: &[&str]) -> (bool, String, String) {
        run_status(&mut self.command(args))
    }
}

fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}")))
}

/// Sets the version in a chart folder's Chart.yaml.
fn set_version(dir: &Path, version: &str) {
    let file = dir.join("Chart.yaml");
    let yaml: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("version:") {
                format!("version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&file, yaml).unwrap();
}

/// `helm create`, then the version and extra Chart.yaml text; returns the chart's folder.
fn new_chart(helm: &Helm, name: &str, version: &str, extra: &str) -> PathBuf {
    helm.run(&["create", name]);
    let dir = helm.home.join(name);
    set_version(&dir, version);
    let file = dir.join("Chart.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{yaml}{extra}")).unwrap();
    dir
}

/// helm, or `None` (a loud skip) where there is none; under CI a missing helm fails.
fn helm_or_skip() -> Option<PathBuf> {
    let Some(bin) = helm_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "helm is needed under CI: .ci/run installs it with `source .ci/helm.sh` (HELM_BIN)"
        );
        eprintln!(
            "################################################################\n\
             SKIPPED: the helm black-box test: no helm (set HELM_BIN, or run \
             `source .ci/helm.sh` once)\n\
             ################################################################"
        );
        return None;
    };
    Some(bin)
}

fn auth_env() -> Vec<(String, String)> {
    vec![
        ("BERTH__AUTH__ENABLED".to_owned(), "true".to_owned()),
        (
            "BERTH__AUTH__ADMIN_PASSWORD".to_owned(),
            PASSWORD.to_owned(),
        ),
    ]
}

/// The embedded configuration: one berth on files and SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_over_oci_classic_repository_and_chartmuseum() {
    let Some(bin) = helm_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start_with_env(&tmp.path().join("data"), &auth_env());
    scenario(&bin, tmp.path(), &berth, &berth).await;
}

/// Two replicas on PostgreSQL and S3: helm pushes through one and reads the classic
/// repository through the other (which sees each change on its next request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_against_two_replicas_on_s3_and_postgres() {
    let Some(bin) = helm_or_skip() else {
        return;
    };
    let Some(s3) = berth_storage::testing::s3_config("helm_blackbox") else {
        return;
    };
    berth_meta::testing::with_fresh_database("helm_blackbox", move |url| async move {
        let mut env = auth_env();
        env.extend(scale_out_env(&s3, &url));
        let tmp = tempfile::tempdir().unwrap();
        let a = Berth::start_with_env(&tmp.path().join("a"), &env);
        let b = Berth::start_with_env(&tmp.path().join("b"), &env);
        scenario(&bin, tmp.path(), &a, &b).await;
    })
    .await;
}

/// The environment that points berth at the S3 bucket and database.
fn scale_out_env(s3: &berth_storage::S3Config, database_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("BERTH__STORAGE__TYPE", "s3".to_owned()),
        ("BERTH__STORAGE__BUCKET", s3.bucket.clone()),
        ("BERTH__STORAGE__REGION", s3.region.clone()),
        ("BERTH__STORAGE__ACCESS_KEY_ID", s3.access_key_id.clone()),
        (
            "BERTH__STORAGE__SECRET_ACCESS_KEY",
            s3.secret_access_key.expose().to_owned(),
        ),
        ("BERTH__STORAGE__PATH_STYLE", "true".to_owned()),
        ("BERTH__STORAGE__ALLOW_HTTP", "true".to_owned()),
        ("BERTH__DATABASE__URL", database_url.to_owned()),
    ];
    if let Some(endpoint) = &s3.endpoint {
        env.push(("BERTH__STORAGE__ENDPOINT", endpoint.clone()));
    }
    if let Some(prefix) = &s3.prefix {
        env.push(("BERTH__STORAGE__PREFIX", prefix.clone()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Everything helm does, pushing over OCI to `oci_berth` and reading the classic repository
/// (and uploading through ChartMuseum) on `repo_berth`.
async fn scenario(bin: &Path, tmp: &Path, oci_berth: &Berth, repo_berth: &Berth) {
    let home = tmp.join("helm");
    std::fs::create_dir_all(&home).unwrap();
    let helm = Helm {
        bin: bin.to_owned(),
        home,
    };
    let host = oci_berth.host();
    let repo_url = format!("{}/chartrepo/team", repo_berth.url());
    let oci = format!("oci://{host}/team");

    // ---- OCI: push, pull ----
    new_chart(&helm, "demo", "0.1.0", "");
    helm.run(&["package", "demo"]);
    let packaged = helm.home.join("demo-0.1.0.tgz");
    // Anonymous pushes are refused (helm needs the 401 to know it must log in).
    let (ok, _, err) = helm.status(&["push", "demo-0.1.0.tgz", &oci, "--plain-http"]);
    assert!(!ok, "an anonymous push must fail");
    assert!(
        err.contains("401") || err.to_lowercase().contains("unauthorized"),
        "{err}"
    );
    helm.run(&[
        "registry",
        "login",
        &host,
        "--plain-http",
        "--username",
        "admin",
        "--password",
        PASSWORD,
    ]);
    helm.run(&["push", "demo-0.1.0.tgz", &oci, "--plain-http"]);
    std::fs::create_dir_all(helm.home.join("from-oci")).unwrap();
    helm.run(&[
        "pull",
        &format!("{oci}/demo"),
        "--version",
        "0.1.0",
        "--plain-http",
        "-d",
        "from-oci",
    ]);
    assert_eq!(
        sha256_file(&helm.home.join("from-oci/demo-0.1.0.tgz")),
        sha256_file(&packaged)
    );

    // The pushed chart is in the classic index.
    let client = http();
    let index = client
        .get(format!("{repo_url}/index.yaml"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    let index = index.text().await.unwrap();
    assert!(index.contains("charts/demo-0.1.0.tgz"), "{index}");
    let digest = sha256_file(&packaged);
    assert!(
        index.contains(digest.trim_start_matches("sha256:")),
        "{index}"
    );

    // ---- the classic repository ----
    let (ok, _, err) = helm.status(&["repo", "add", "anon", &repo_url]);
    assert!(
        !ok,
        "a private repository must refuse an anonymous repo add"
    );
    assert!(err.contains("401"), "{err}");
    helm.run(&[
        "repo",
        "add",
        "berth",
        &repo_url,
        "--username",
        "admin",
        "--password",
        PASSWORD,
    ]);
    // A second version, pushed after the repository was added, shows after an update.
    set_version(&helm.home.join("demo"), "0.2.0");
    helm.run(&["package", "demo"]);
    helm.run(&["push", "demo-0.2.0.tgz", &oci, "--plain-http"]);
    helm.run(&["repo", "update"]);
    let found = helm.run(&["search", "repo", "berth/demo", "--versions"]);
    assert!(found.contains("berth/demo"), "{found}");
    assert!(
        found.contains("0.1.0") && found.contains("0.2.0"),
        "{found}"
    );
    let newest = helm.run(&["search", "repo", "berth/demo"]);
    assert!(newest.contains("0.2.0"), "{newest}");
    std::fs::create_dir_all(helm.home.join("from-repo")).unwrap();
    helm.run(&[
        "pull",
        "berth/demo",
        "--version",
        "0.1.0",
        "-d",
        "from-repo",
    ]);
    assert_eq!(
        sha256_file(&helm.home.join("from-repo/demo-0.1.0.tgz")),
        sha256_file(&packaged)
    );
    let rendered = helm.run(&["template", "web", "berth/demo", "--version", "0.1.0"]);
    assert!(
        rendered.contains("# Source: demo/templates/deployment.yaml"),
        "{rendered}"
    );
    let dry = helm.run(&["install", "web", "berth/demo", "--dry-run=client"]);
    assert!(dry.contains("kind: Deployment"), "{dry}");

    // dependency update, from the repository by URL (credentials from `repo add`).
    let app = new_chart(
        &helm,
        "app",
        "1.0.0",
        &format!(
            "dependencies:\n  - name: demo\n    version: \"0.1.0\"\n    repository: \"{repo_url}\"\n"
        ),
    );
    helm.run(&["dependency", "update", "app"]);
    assert_eq!(
        sha256_file(&app.join("charts/demo-0.1.0.tgz")),
        sha256_file(&packaged)
    );
    let rendered = helm.run(&["template", "all", "app"]);
    assert!(
        rendered.contains("# Source: app/charts/demo/"),
        "{rendered}"
    );

    // ---- ChartMuseum: the README's curl upload, then pulled over OCI ----
    new_chart(&helm, "other", "3.1.4", "");
    helm.run(&["package", "other"]);
    let other = helm.home.join("other-3.1.4.tgz");
    let upload = run(Command::new("curl").args([
        "-sS",
        "-w",
        "\n%{http_code}",
        "-u",
        &format!("admin:{PASSWORD}"),
        "--data-binary",
        &format!("@{}", other.display()),
        &format!("{repo_url}/api/charts"),
    ]));
    assert_eq!(upload.trim(), "{\"saved\":true}\n201", "{upload}");
    let again = run(Command::new("curl").args([
        "-sS",
        "-w",
        "\n%{http_code}",
        "-u",
        &format!("admin:{PASSWORD}"),
        "--data-binary",
        &format!("@{}", other.display()),
        &format!("{repo_url}/api/charts"),
    ]));
    assert!(again.trim().ends_with("409"), "{again}");
    std::fs::create_dir_all(helm.home.join("museum")).unwrap();
    helm.run(&[
        "pull",
        &format!("{oci}/other"),
        "--version",
        "3.1.4",
        "--plain-http",
        "-d",
        "museum",
    ]);
    assert_eq!(
        sha256_file(&helm.home.join("museum/other-3.1.4.tgz")),
        sha256_file(&other)
    );
    helm.run(&["repo", "update"]);
    let found = helm.run(&["search", "repo", "berth/other"]);
    assert!(found.contains("3.1.4"), "{found}");

    // ---- the index after one more version and after a delete (rebuilt per chart) ----
    set_version(&helm.home.join("other"), "3.2.0");
    helm.run(&["package", "other"]);
    let upload = run(Command::new("curl").args([
        "-sS",
        "-w",
        "\n%{http_code}",
        "-u",
        &format!("admin:{PASSWORD}"),
        "--data-binary",
        &format!("@{}", helm.home.join("other-3.2.0.tgz").display()),
        &format!("{repo_url}/api/charts"),
    ]));
    assert_eq!(upload.trim(), "{\"saved\":true}\n201", "{upload}");
    let deleted = run(Command::new("curl").args([
        "-sS",
        "-w",
        "\n%{http_code}",
        "-u",
        &format!("admin:{PASSWORD}"),
        "-X",
        "DELETE",
        &format!("{repo_url}/api/charts/demo/0.1.0"),
    ]));
    assert_eq!(deleted.trim(), "{\"deleted\":true}\n200", "{deleted}");
    helm.run(&["repo", "update"]);
    // (helm 4.1.4 sends no Accept-Encoding, so it reads the plain form; the gzip form is
    // checked with curl --compressed and Python in crates/berth-api/tests/helm.rs.)
    let found = helm.run(&["search", "repo", "berth/other", "--versions"]);
    assert!(
        found.contains("3.1.4") && found.contains("3.2.0"),
        "{found}"
    );
    let found = helm.run(&["search", "repo", "berth/demo", "--versions"]);
    assert!(
        found.contains("0.2.0") && !found.contains("0.1.0"),
        "{found}"
    );
    // What helm cached is the index as served plain, byte for byte.
    let plain = client
        .get(format!("{repo_url}/index.yaml"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let cached = std::fs::read(helm.home.join("cache/repository/berth-index.yaml")).unwrap();
    assert_eq!(cached, plain.to_vec());
}
