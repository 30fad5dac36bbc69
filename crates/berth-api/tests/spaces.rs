//! In-process tests of seed 002's API (`/api/v1/spaces`, caicloud helm-registry's
//! descriptors) through the real router, with authentication on: every endpoint with its
//! shapes and statuses, paging, uploads whose archive does not match the path, deletes,
//! who may do what, and orchestration (the produced archive unpacked and checked: tree,
//! Chart.yaml, dependencies for apiVersion v2 and v1, values, the sources annotation; and
//! rendered with the real `helm template` when helm is there, which CI requires). Charts are
//! built here, with tar and gzip. Every case runs on the embedded configuration and on
//! PostgreSQL + S3 (when `TEST_DATABASE_URL` and `TEST_S3_*` are set).

#[macro_use]
mod common;

use common::{Reply, TestRegistry, basic};
use std::collections::BTreeMap;
use std::io::Read;

use berth_service::{AuthConfig, ServiceConfig};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "spaces-admin-pw";
const USER_PASSWORD: &str = "user-password-1";
const BOUNDARY: &str = "berth-test-boundary";
/// A template that shows the values the chart sees.
const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}-cm\ndata:\n  values: {{ toJson .Values | quote }}\n";

impl Reply {
    /// Asserts a success and returns its JSON body (null for 204).
    #[track_caller]
    fn ok(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        if status == StatusCode::NO_CONTENT {
            assert!(self.body.is_empty());
            return Value::Null;
        }
        assert_eq!(self.headers["content-type"], "application/json");
        self.json()
    }

    /// Asserts an error in helm-registry's shape and returns its message.
    #[track_caller]
    fn error(&self, status: StatusCode, reason: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body["reason"], reason, "{body}");
        let message = body["message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "{body}");
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["data", "message", "reason"], "{body}");
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(self.headers["www-authenticate"], "Basic realm=\"berth\"");
        }
        message
    }

    /// A list in helm-registry's shape: its total and items.
    #[track_caller]
    fn list(&self) -> (u64, Vec<Value>) {
        let body = self.ok(StatusCode::OK);
        let items = body["items"].as_array().expect("items").clone();
        assert_eq!(body["metadata"]["itemsLength"], items.len(), "{body}");
        (body["metadata"]["total"].as_u64().expect("total"), items)
    }

    #[track_caller]
    fn names(&self) -> (u64, Vec<String>) {
        let (total, items) = self.list();
        let names = items
            .iter()
            .map(|v| v.as_str().expect("a string item").to_owned())
            .collect();
        (total, names)
    }
}

fn admin() -> String {
    basic("admin", ADMIN_PASSWORD)
}

fn config() -> ServiceConfig {
    ServiceConfig {
        auth: AuthConfig {
            enabled: true,
            admin_password: Some(ADMIN_PASSWORD.into()),
            sealing_key: Some([7; 32]),
            max_failures: 1000,
            ..Default::default()
        },
        ..Default::default()
    }
}

on_every_backend!(
    spaces_create_list_delete,
    charts_and_versions,
    metadata_values_and_requirements,
    orchestration_composes_a_chart,
    orchestration_of_a_v1_chart,
    orchestration_refuses_bad_configs,
    who_may_do_what,
);

impl TestRegistry {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut headers = Vec::new();
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        let bytes = match body {
            Some(body) => {
                headers.push(("content-type", "application/json"));
                serde_json::to_vec(&body).unwrap()
            }
            None => Vec::new(),
        };
        self.raw(method, uri, &headers, bytes).await
    }

    async fn get(&self, uri: &str, auth: Option<&str>) -> Reply {
        self.call(Method::GET, uri, auth, None).await
    }

    async fn admin_get(&self, uri: &str) -> Reply {
        self.get(uri, Some(&admin())).await
    }

    /// A namespace through the native API (to choose its visibility).
    async fn namespace(&self, name: &str, public: bool) {
        self.call(
            Method::POST,
            "/api/v1/namespaces",
            Some(&admin()),
            Some(json!({"name": name, "is_public": public})),
        )
        .await
        .ok(StatusCode::CREATED);
    }

    async fn user(&self, name: &str) -> String {
        self.call(
            Method::POST,
            "/api/v1/users",
            Some(&admin()),
            Some(json!({"name": name, "password": USER_PASSWORD})),
        )
        .await
        .ok(StatusCode::CREATED);
        basic(name, USER_PASSWORD)
    }

    async fn member(&self, namespace: &str, user: &str, level: &str) {
        self.call(
            Method::PUT,
            &format!("/api/v1/namespaces/{namespace}/members/{user}"),
            Some(&admin()),
            Some(json!({"level": level})),
        )
        .await
        .ok(StatusCode::OK);
    }

    /// POST (upload) or PUT (update) of a version with the multipart field `chartfile`.
    async fn send_chart(
        &self,
        method: Method,
        space: &str,
        chart: &str,
        version: &str,
        archive: &[u8],
        auth: Option<&str>,
    ) -> Reply {
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        let mut headers = vec![("content-type", content_type.as_str())];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        self.raw(
            method,
            &format!("/api/v1/spaces/{space}/charts/{chart}/versions/{version}"),
            &headers,
            form("chartfile", archive),
        )
        .await
    }

    async fn upload(&self, space: &str, archive: &[u8]) {
        let (name, version) = name_version(archive);
        self.send_chart(
            Method::POST,
            space,
            &name,
            &version,
            archive,
            Some(&admin()),
        )
        .await
        .ok(StatusCode::CREATED);
    }

    async fn orchestrate(&self, space: &str, config: &Value, auth: Option<&str>) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v1/spaces/{space}/charts"),
            auth,
            Some(config.clone()),
        )
        .await
    }

    async fn download(&self, space: &str, chart: &str, version: &str) -> Bytes {
        let r = self
            .admin_get(&format!(
                "/api/v1/spaces/{space}/charts/{chart}/versions/{version}"
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.headers["content-type"], "application/gzip");
        r.body
    }

    async fn chart_names(&self, space: &str) -> Vec<String> {
        self.admin_get(&format!("/api/v1/spaces/{space}/charts?limit=100"))
            .await
            .names()
            .1
    }
}

// ---- charts, built here ----

fn form(field: &str, content: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"chart.tgz\"\r\nContent-Type: application/gzip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A .tgz of (path, content).
fn tgz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, content.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A chart: Chart.yaml of `api` (v1 or v2), values, one template, and extra files
/// (relative to the chart's folder).
fn chart(api: &str, name: &str, version: &str, values: &str, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut entries = vec![
        (
            format!("{name}/Chart.yaml"),
            format!("apiVersion: {api}\nname: {name}\nversion: {version}\ndescription: the {name} chart\n")
                .into_bytes(),
        ),
        (format!("{name}/values.yaml"), values.as_bytes().to_vec()),
        (
            format!("{name}/templates/cm.yaml"),
            TEMPLATE.to_string()
            .into_bytes(),
        ),
    ];
    for (path, content) in extra {
        entries.push((format!("{name}/{path}"), content.clone()));
    }
    tgz(&entries)
}

/// Files of an archive by path.
fn unpack(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(path, data);
    }
    out
}

fn yaml(files: &BTreeMap<String, Vec<u8>>, path: &str) -> Value {
    let data = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not in {:?}", files.keys().collect::<Vec<_>>()));
    serde_yaml::from_slice(data).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn name_version(archive: &[u8]) -> (String, String) {
    let files = unpack(archive);
    let (path, _) = files
        .iter()
        .find(|(p, _)| p.matches('/').count() == 1 && p.ends_with("/Chart.yaml"))
        .unwrap();
    let meta = yaml(&files, path);
    (
        meta["name"].as_str().unwrap().to_owned(),
        meta["version"].as_str().unwrap().to_owned(),
    )
}

/// The helm binary: `$HELM_BIN`, `helm` on PATH, or where `.ci/helm.sh` puts it. In CI it
/// must be there.
fn helm() -> Option<std::path::PathBuf> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(bin) = std::env::var_os("HELM_BIN") {
        candidates.push(bin.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join("helm")));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(std::path::Path::new(&home).join(".cache/berth-ci/helm/bin/helm"));
    }
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("CI is set but there is no helm (set HELM_BIN, or run .ci/helm.sh)");
    }
    found
}

/// `helm template` of an archive: its rendered manifests (None without helm).
fn helm_template(archive: &[u8]) -> Option<String> {
    let helm = helm()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chart.tgz");
    std::fs::write(&file, archive).unwrap();
    let out = std::process::Command::new(helm)
        .arg("template")
        .arg("rel")
        .arg(&file)
        .env("HELM_CACHE_HOME", dir.path().join("cache"))
        .env("HELM_CONFIG_HOME", dir.path().join("config"))
        .env("HELM_DATA_HOME", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The values each rendered ConfigMap saw, by its name.
fn rendered_values(manifests: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for doc in manifests.split("\n---") {
        let Ok(v) = serde_yaml::from_str::<Value>(doc) else {
            continue;
        };
        if v["kind"] == "ConfigMap" {
            let name = v["metadata"]["name"].as_str().unwrap().to_owned();
            let values: Value =
                serde_json::from_str(v["data"]["values"].as_str().unwrap()).unwrap();
            out.insert(name, values);
        }
    }
    out
}

fn package(independent: bool, space: &str, chart: &str, version: &str) -> Value {
    json!({"independent": independent, "space": space, "chart": chart, "version": version})
}

// ---- cases ----

async fn spaces_create_list_delete(reg: TestRegistry) {
    let a = admin();
    for name in ["alpha", "beta", "gamma"] {
        let created = reg
            .call(
                Method::POST,
                &format!("/api/v1/spaces?space={name}"),
                Some(&a),
                None,
            )
            .await
            .ok(StatusCode::CREATED);
        assert_eq!(
            created,
            json!({"name": name, "link": format!("/api/v1/spaces/{name}")})
        );
    }
    // Missing, duplicate and invalid names.
    let m = reg
        .call(Method::POST, "/api/v1/spaces", Some(&a), None)
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(m.contains("space"), "{m}");
    let r = reg
        .call(Method::POST, "/api/v1/spaces", Some(&a), None)
        .await;
    assert_eq!(r.json()["data"], json!({"name": "space"}));
    reg.call(Method::POST, "/api/v1/spaces?space=beta", Some(&a), None)
        .await
        .error(StatusCode::CONFLICT, "ReasonInternal");
    reg.call(
        Method::POST,
        "/api/v1/spaces?space=Bad%20Name",
        Some(&a),
        None,
    )
    .await
    .error(StatusCode::BAD_REQUEST, "ReasonRequest");

    // Paging: start and limit, helm-registry's defaults and its out-of-range answers.
    assert_eq!(
        reg.admin_get("/api/v1/spaces").await.names(),
        (3, vec!["alpha".into(), "beta".into(), "gamma".into()])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces?start=1&limit=1")
            .await
            .names(),
        (3, vec!["beta".into()])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces?start=2&limit=5")
            .await
            .names(),
        (3, vec!["gamma".into()])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces?start=3").await.names(),
        (3, vec![])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces?limit=-1").await.names(),
        (3, vec![])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces?limit=0").await.names(),
        (3, vec![])
    );
    let m = reg
        .admin_get("/api/v1/spaces?start=x")
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(m.contains("start should be number"), "{m}");

    // Delete: 204, then 404; a space goes with its charts.
    reg.upload("beta", &chart("v2", "web", "1.0.0", "a: 1\n", &[]))
        .await;
    reg.call(Method::DELETE, "/api/v1/spaces/beta", Some(&a), None)
        .await
        .ok(StatusCode::NO_CONTENT);
    reg.call(Method::DELETE, "/api/v1/spaces/beta", Some(&a), None)
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");
    reg.admin_get("/api/v1/spaces/beta/charts")
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");
    assert_eq!(
        reg.admin_get("/api/v1/spaces").await.names(),
        (2, vec!["alpha".into(), "gamma".into()])
    );
    // Unknown paths and methods, in the same shape.
    reg.admin_get("/api/v1/spaces/alpha/nothing")
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");
    reg.call(Method::PATCH, "/api/v1/spaces/alpha/charts", Some(&a), None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "ReasonRequest");
}

async fn charts_and_versions(reg: TestRegistry) {
    let a = admin();
    reg.namespace("team", false).await;
    let web1 = chart("v2", "web", "1.0.0", "replicas: 1\n", &[]);
    let web2 = chart("v2", "web", "1.10.0", "replicas: 2\n", &[]);
    let web3 = chart("v2", "web", "1.9.0", "replicas: 3\n", &[]);
    let link = reg
        .send_chart(Method::POST, "team", "web", "1.0.0", &web1, Some(&a))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(
        link,
        json!({"space": "team", "chart": "web", "version": "1.0.0",
               "link": "/api/v1/spaces/team/charts/web/versions/1.0.0"})
    );
    reg.upload("team", &web2).await;
    reg.upload("team", &web3).await;
    reg.upload("team", &chart("v2", "db", "0.1.0", "", &[]))
        .await;
    reg.upload("team", &chart("v2", "cache", "0.1.0", "", &[]))
        .await;

    // Again: 409, the stored one kept.
    let m = reg
        .send_chart(Method::POST, "team", "web", "1.0.0", &web1, Some(&a))
        .await
        .error(StatusCode::CONFLICT, "ReasonInternal");
    assert!(m.contains("conflict"), "{m}");
    // An archive that is not what the path says: 400, nothing stored.
    let m = reg
        .send_chart(Method::POST, "team", "other", "1.0.0", &web1, Some(&a))
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(
        m.contains("value of chart should be other, but got web"),
        "{m}"
    );
    let m = reg
        .send_chart(Method::POST, "team", "web", "2.0.0", &web1, Some(&a))
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(
        m.contains("value of version should be 2.0.0, but got 1.0.0"),
        "{m}"
    );
    reg.send_chart(
        Method::POST,
        "team",
        "web",
        "2.0.0",
        b"not a chart",
        Some(&a),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    let r = reg
        .raw(
            Method::POST,
            "/api/v1/spaces/team/charts/web/versions/2.0.0",
            &[
                ("authorization", &a),
                (
                    "content-type",
                    &format!("multipart/form-data; boundary={BOUNDARY}"),
                ),
            ],
            form("other", &web1),
        )
        .await;
    let m = r.error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(m.contains("chartfile"), "{m}");
    assert_eq!(r.json()["data"], json!({"name": "chartfile"}));
    reg.raw(
        Method::POST,
        "/api/v1/spaces/team/charts/web/versions/2.0.0",
        &[("authorization", &a), ("content-type", "application/gzip")],
        web1.clone(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    // In a space that does not exist.
    reg.send_chart(Method::POST, "nowhere", "web", "1.0.0", &web1, Some(&a))
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");

    // Lists, paged.
    assert_eq!(
        reg.admin_get("/api/v1/spaces/team/charts").await.names(),
        (3, vec!["cache".into(), "db".into(), "web".into()])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces/team/charts?start=1&limit=1")
            .await
            .names(),
        (3, vec!["db".into()])
    );
    // Versions oldest first (SemVer), the last the latest.
    assert_eq!(
        reg.admin_get("/api/v1/spaces/team/charts/web/versions")
            .await
            .names(),
        (3, vec!["1.0.0".into(), "1.9.0".into(), "1.10.0".into()])
    );
    assert_eq!(
        reg.admin_get("/api/v1/spaces/team/charts/web/versions?start=2")
            .await
            .names(),
        (3, vec!["1.10.0".into()])
    );
    reg.admin_get("/api/v1/spaces/team/charts/nothing/versions")
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");

    // Download: the bytes uploaded.
    assert_eq!(
        reg.download("team", "web", "1.0.0").await,
        Bytes::from(web1.clone())
    );
    reg.admin_get("/api/v1/spaces/team/charts/web/versions/3.0.0")
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");

    // Update (PUT): 200 for a version that exists, 404 otherwise.
    let web1b = chart("v2", "web", "1.0.0", "replicas: 7\n", &[]);
    let link = reg
        .send_chart(Method::PUT, "team", "web", "1.0.0", &web1b, Some(&a))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        link["link"],
        "/api/v1/spaces/team/charts/web/versions/1.0.0"
    );
    assert_eq!(
        reg.download("team", "web", "1.0.0").await,
        Bytes::from(web1b)
    );
    reg.send_chart(
        Method::PUT,
        "team",
        "web",
        "4.0.0",
        &chart("v2", "web", "4.0.0", "", &[]),
        Some(&a),
    )
    .await
    .error(StatusCode::NOT_FOUND, "ReasonInternal");
    reg.send_chart(Method::PUT, "team", "web", "1.0.0", &web2, Some(&a))
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");

    // The same store serves the classic repository and OCI.
    let index = reg.admin_get("/chartrepo/team/index.yaml").await;
    assert_eq!(index.status, StatusCode::OK);
    let index: Value = serde_yaml::from_slice(&index.body).unwrap();
    assert_eq!(index["entries"]["web"].as_array().unwrap().len(), 3);
    let tags = reg.admin_get("/v2/team/web/tags/list").await;
    assert_eq!(tags.status, StatusCode::OK, "{}", tags.text());

    // Over the chart size limit (10 MiB and the form's overhead): 413 before reading it all.
    let huge = vec![0u8; 10 * 1024 * 1024 + 65 * 1024];
    reg.send_chart(Method::POST, "team", "web", "5.0.0", &huge, Some(&a))
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE, "ReasonRequest");

    // A version with build metadata (`+`, percent-encoded in the path; `_` in its OCI tag).
    let built = chart("v2", "cache", "0.2.0+build.7", "", &[]);
    reg.send_chart(
        Method::POST,
        "team",
        "cache",
        "0.2.0%2Bbuild.7",
        &built,
        Some(&a),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(
        reg.admin_get("/api/v1/spaces/team/charts/cache/versions")
            .await
            .names()
            .1,
        ["0.1.0", "0.2.0+build.7"]
    );
    assert_eq!(
        reg.download("team", "cache", "0.2.0%2Bbuild.7").await,
        Bytes::from(built)
    );
    let tag = reg
        .admin_get("/v2/team/cache/manifests/0.2.0_build.7")
        .await;
    assert_eq!(tag.status, StatusCode::OK, "{}", tag.text());
    reg.call(
        Method::DELETE,
        "/api/v1/spaces/team/charts/cache/versions/0.2.0%2Bbuild.7",
        Some(&a),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);

    // Delete a version, then a chart.
    reg.call(
        Method::DELETE,
        "/api/v1/spaces/team/charts/web/versions/1.9.0",
        Some(&a),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/spaces/team/charts/web/versions/1.9.0",
        Some(&a),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "ReasonInternal");
    assert_eq!(
        reg.admin_get("/api/v1/spaces/team/charts/web/versions")
            .await
            .names(),
        (2, vec!["1.0.0".into(), "1.10.0".into()])
    );
    reg.call(
        Method::DELETE,
        "/api/v1/spaces/team/charts/web",
        Some(&a),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/spaces/team/charts/web",
        Some(&a),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "ReasonInternal");
    assert_eq!(reg.chart_names("team").await, ["cache", "db"]);
    let index = reg.admin_get("/chartrepo/team/index.yaml").await;
    let index: Value = serde_yaml::from_slice(&index.body).unwrap();
    assert!(index["entries"].get("web").is_none(), "{index}");
}

async fn metadata_values_and_requirements(reg: TestRegistry) {
    let a = admin();
    reg.namespace("team", false).await;
    let deps = "dependencies:\n  - name: db\n    version: 0.1.0\n    repository: https://charts.example.com\n";
    let web = |version: &str| {
        let yaml = format!(
            "apiVersion: v2\nname: web\nversion: {version}\ndescription: the web chart\n{deps}"
        );
        tgz(&[
            ("web/Chart.yaml".into(), yaml.into_bytes()),
            (
                "web/values.yaml".into(),
                b"replicas: 1\nimage:\n  tag: a\n".to_vec(),
            ),
        ])
    };
    reg.upload("team", &web("1.0.0")).await;
    reg.upload("team", &web("1.1.0")).await;
    let legacy = chart(
        "v1",
        "legacy",
        "0.1.0",
        "x: 1\n",
        &[("requirements.yaml", deps.as_bytes().to_vec())],
    );
    reg.upload("team", &legacy).await;

    // Every version's metadata in the space, each chart oldest first.
    let (total, items) = reg.admin_get("/api/v1/spaces/team/metadata").await.list();
    assert_eq!(total, 3);
    let seen: Vec<(String, String)> = items
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().into(),
                m["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("legacy".into(), "0.1.0".into()),
            ("web".into(), "1.0.0".into()),
            ("web".into(), "1.1.0".into())
        ]
    );
    assert_eq!(items[1]["description"], "the web chart");
    assert_eq!(items[1]["dependencies"][0]["name"], "db");
    assert_eq!(items[0]["dependencies"], json!([]));
    let (total, items) = reg
        .admin_get("/api/v1/spaces/team/metadata?start=1&limit=1")
        .await
        .list();
    assert_eq!((total, items[0]["version"].clone()), (3, json!("1.0.0")));
    // The latest of each chart.
    let (total, items) = reg
        .admin_get("/api/v1/spaces/team/metadata/latest")
        .await
        .list();
    assert_eq!(total, 2);
    assert_eq!(items[1]["version"], "1.1.0");
    // A chart's.
    let (total, items) = reg
        .admin_get("/api/v1/spaces/team/charts/web/metadata")
        .await
        .list();
    assert_eq!(total, 2);
    assert_eq!(items[0]["version"], "1.0.0");
    let latest = reg
        .admin_get("/api/v1/spaces/team/charts/web/metadata/latest")
        .await
        .ok(StatusCode::OK);
    assert_eq!(latest["version"], "1.1.0");
    reg.admin_get("/api/v1/spaces/team/charts/nothing/metadata/latest")
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");

    // One version's metadata, and its update (name and version must stay).
    let base = "/api/v1/spaces/team/charts/web/versions/1.0.0/manifests";
    let got = reg
        .admin_get(&format!("{base}/metadata"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(got["apiVersion"], "v2");
    let mut changed = got.clone();
    changed["description"] = json!("rewritten");
    changed["keywords"] = json!(["shop"]);
    let updated = reg
        .call(
            Method::PUT,
            &format!("{base}/metadata"),
            Some(&a),
            Some(changed),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(updated["description"], "rewritten");
    assert_eq!(updated["keywords"], json!(["shop"]));
    let files = unpack(&reg.download("team", "web", "1.0.0").await);
    assert_eq!(yaml(&files, "web/Chart.yaml")["description"], "rewritten");
    assert_eq!(yaml(&files, "web/values.yaml")["image"]["tag"], "a");
    let mut renamed = got.clone();
    renamed["name"] = json!("other");
    let m = reg
        .call(
            Method::PUT,
            &format!("{base}/metadata"),
            Some(&a),
            Some(renamed),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(m.contains("value of name should be web"), "{m}");
    let mut reversioned = got.clone();
    reversioned["version"] = json!("9.9.9");
    reg.call(
        Method::PUT,
        &format!("{base}/metadata"),
        Some(&a),
        Some(reversioned),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    reg.raw(
        Method::PUT,
        &format!("{base}/metadata"),
        &[("authorization", &a), ("content-type", "application/json")],
        "{not json",
    )
    .await
    .error(StatusCode::BAD_REQUEST, "ReasonRequest");

    // Values: the YAML as stored; an update replaces them.
    let values = reg.admin_get(&format!("{base}/values")).await;
    assert_eq!(values.status, StatusCode::OK);
    assert_eq!(values.text(), "replicas: 1\nimage:\n  tag: a\n");
    let echoed = reg
        .call(
            Method::PUT,
            &format!("{base}/values"),
            Some(&a),
            Some(json!({"replicas": 5, "extra": {"on": true}})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(echoed, json!({"replicas": 5, "extra": {"on": true}}));
    let values: Value =
        serde_yaml::from_slice(&reg.admin_get(&format!("{base}/values")).await.body).unwrap();
    assert_eq!(values, json!({"replicas": 5, "extra": {"on": true}}));
    reg.call(
        Method::PUT,
        &format!("{base}/values"),
        Some(&a),
        Some(json!([1])),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    // The rewritten version is still served everywhere (one stored version, new digest).
    let index = reg.admin_get("/chartrepo/team/index.yaml").await;
    let index: Value = serde_yaml::from_slice(&index.body).unwrap();
    assert_eq!(index["entries"]["web"].as_array().unwrap().len(), 2);

    // Requirements: Chart.yaml's dependencies (v2), requirements.yaml's (v1).
    let req = reg
        .admin_get(&format!("{base}/requirements"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        req["dependencies"][0]["repository"],
        "https://charts.example.com"
    );
    let req = reg
        .admin_get("/api/v1/spaces/team/charts/legacy/versions/0.1.0/manifests/requirements")
        .await
        .ok(StatusCode::OK);
    assert_eq!(req["dependencies"][0]["name"], "db");
    reg.admin_get("/api/v1/spaces/team/charts/web/versions/9.0.0/manifests/values")
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");
}

/// The library the orchestration tests compose from: `web` (with a subchart folder `sub`
/// and a subchart archive `other-0.2.0.tgz`), `db` (with a subchart `metrics`).
async fn library(reg: &TestRegistry) {
    reg.namespace("lib", false).await;
    reg.namespace("shop", false).await;
    let sub = |name: &str, version: &str| -> Vec<(String, Vec<u8>)> {
        vec![
            (
                "Chart.yaml".into(),
                format!("apiVersion: v2\nname: {name}\nversion: {version}\n").into_bytes(),
            ),
            ("values.yaml".into(), format!("who: {name}\n").into_bytes()),
            ("templates/cm.yaml".into(), TEMPLATE.as_bytes().to_vec()),
        ]
    };
    let mut web_extra: Vec<(String, Vec<u8>)> = sub("sub", "0.1.0")
        .into_iter()
        .map(|(p, c)| (format!("charts/sub/{p}"), c))
        .collect();
    let other: Vec<(String, Vec<u8>)> = sub("other", "0.2.0")
        .into_iter()
        .map(|(p, c)| (format!("other/{p}"), c))
        .collect();
    web_extra.push(("charts/other-0.2.0.tgz".into(), tgz(&other)));
    web_extra.push((
        "Chart.lock".into(),
        b"dependencies: []\ndigest: sha256:0\n".to_vec(),
    ));
    let extra: Vec<(&str, Vec<u8>)> = web_extra
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    reg.upload(
        "lib",
        &chart(
            "v2",
            "web",
            "1.0.0",
            "replicas: 1\nimage:\n  repo: web\n  tag: \"1\"\n",
            &extra,
        ),
    )
    .await;
    let metrics: Vec<(String, Vec<u8>)> = sub("metrics", "1.0.0")
        .into_iter()
        .map(|(p, c)| (format!("charts/metrics/{p}"), c))
        .collect();
    let extra: Vec<(&str, Vec<u8>)> = metrics
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    reg.upload(
        "lib",
        &chart(
            "v2",
            "db",
            "2.0.0",
            "auth:\n  user: root\n  db: main\n",
            &extra,
        ),
    )
    .await;
}

async fn orchestration_composes_a_chart(reg: TestRegistry) {
    library(&reg).await;
    let config = json!({
        "save": {"chart": "store", "version": "3.0.0", "description": "the shop"},
        "configs": {
            "package": package(true, "lib", "web", "1.0.0"),
            "_config": {"replicas": 3, "image": {"tag": "2"}},
            "database": {
                "package": package(true, "lib", "db", "2.0.0"),
                "_config": {"auth": {"user": "shop"}},
                "mon": {
                    "package": package(false, "lib", "metrics", "1.0.0"),
                    "_config": {"interval": "10s"}
                }
            },
            "side": {
                "package": package(false, "lib", "other", "0.2.0"),
                "_config": {"who": "side"}
            }
        }
    });
    let link = reg
        .orchestrate("shop", &config, Some(&admin()))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(
        link,
        json!({"space": "shop", "chart": "store", "version": "3.0.0",
               "link": "/api/v1/spaces/shop/charts/store/versions/3.0.0"})
    );
    let archive = reg.download("shop", "store", "3.0.0").await;
    let files = unpack(&archive);
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "store/Chart.yaml",
            "store/charts/database/Chart.yaml",
            "store/charts/database/charts/mon/Chart.yaml",
            "store/charts/database/charts/mon/templates/cm.yaml",
            "store/charts/database/charts/mon/values.yaml",
            "store/charts/database/templates/cm.yaml",
            "store/charts/database/values.yaml",
            "store/charts/side/Chart.yaml",
            "store/charts/side/templates/cm.yaml",
            "store/charts/side/values.yaml",
            "store/templates/cm.yaml",
            "store/values.yaml",
        ],
        "the package's own subcharts and Chart.lock are replaced by the children"
    );
    let root = yaml(&files, "store/Chart.yaml");
    assert_eq!(root["name"], "store");
    assert_eq!(root["version"], "3.0.0");
    assert_eq!(root["description"], "the shop");
    assert_eq!(root["apiVersion"], "v2");
    assert_eq!(
        root["dependencies"],
        json!([{"name": "database", "version": "2.0.0"}, {"name": "side", "version": "0.2.0"}])
    );
    let database = yaml(&files, "store/charts/database/Chart.yaml");
    assert_eq!(database["name"], "database");
    assert_eq!(database["version"], "2.0.0");
    assert_eq!(
        database["dependencies"],
        json!([{"name": "mon", "version": "1.0.0"}])
    );
    assert_eq!(
        yaml(&files, "store/charts/database/charts/mon/Chart.yaml")["name"],
        "mon"
    );
    assert_eq!(yaml(&files, "store/charts/side/Chart.yaml")["name"], "side");
    // Values: each node's _config merged into its own values.
    assert_eq!(
        yaml(&files, "store/values.yaml"),
        json!({"replicas": 3, "image": {"repo": "web", "tag": "2"}})
    );
    assert_eq!(
        yaml(&files, "store/charts/database/values.yaml"),
        json!({"auth": {"user": "shop", "db": "main"}})
    );
    assert_eq!(
        yaml(&files, "store/charts/database/charts/mon/values.yaml"),
        json!({"who": "metrics", "interval": "10s"})
    );
    assert_eq!(
        yaml(&files, "store/charts/side/values.yaml"),
        json!({"who": "side"})
    );
    // Where it came from: every node, with the digest of the archive it was read from.
    let sources: Value = serde_json::from_str(
        root["annotations"]["berth.io/orchestrated-from"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let web = reg.admin_get("/chartrepo/lib/index.yaml").await;
    let index: Value = serde_yaml::from_slice(&web.body).unwrap();
    let digest_of = |name: &str| {
        format!(
            "sha256:{}",
            index["entries"][name][0]["digest"].as_str().unwrap()
        )
    };
    let by_path: BTreeMap<String, Value> = sources
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(by_path.len(), 4, "{sources}");
    assert_eq!(by_path[""]["chart"], "web");
    assert_eq!(by_path[""]["digest"], digest_of("web"));
    assert_eq!(by_path["database"]["digest"], digest_of("db"));
    assert_eq!(by_path["database/mon"]["independent"], false);
    assert_eq!(by_path["database/mon"]["digest"], digest_of("db"));
    assert_eq!(by_path["side"]["digest"], digest_of("web"));

    // Stored like any chart: in the lists, the classic index and OCI.
    assert_eq!(reg.chart_names("shop").await, ["store"]);
    let index: Value =
        serde_yaml::from_slice(&reg.admin_get("/chartrepo/shop/index.yaml").await.body).unwrap();
    assert_eq!(index["entries"]["store"][0]["version"], "3.0.0");
    let manifest = reg
        .raw(
            Method::GET,
            "/v2/shop/store/manifests/3.0.0",
            &[
                ("authorization", &admin()),
                ("accept", "application/vnd.oci.image.manifest.v1+json"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(manifest.status, StatusCode::OK, "{}", manifest.text());
    assert_eq!(
        manifest.json()["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );

    // The real helm renders it, with every node's values where Helm puts them.
    if let Some(out) = helm_template(&archive) {
        let seen = rendered_values(&out);
        assert_eq!(seen["store-cm"]["replicas"], 3, "{out}");
        assert_eq!(seen["database-cm"]["auth"]["user"], "shop", "{out}");
        assert_eq!(seen["mon-cm"]["interval"], "10s", "{out}");
        assert_eq!(seen["side-cm"]["who"], "side", "{out}");
        assert!(!seen.contains_key("sub-cm"), "{out}");
    }
}

async fn orchestration_of_a_v1_chart(reg: TestRegistry) {
    reg.namespace("lib", false).await;
    let legacy = chart(
        "v1",
        "legacy",
        "0.1.0",
        "x: 1\n",
        &[(
            "requirements.yaml",
            b"dependencies:\n  - name: gone\n    version: 9.0.0\n    repository: https://charts.example.com\n".to_vec(),
        )],
    );
    reg.upload("lib", &legacy).await;
    reg.upload("lib", &chart("v1", "db", "2.0.0", "user: root\n", &[]))
        .await;
    let config = json!({
        "save": {"chart": "legacy-app", "version": "1.0.0"},
        "configs": {
            "package": package(true, "lib", "legacy", "0.1.0"),
            "_config": {"x": 2},
            "store": {"package": package(true, "lib", "db", "2.0.0"), "_config": {"user": "app"}}
        }
    });
    reg.orchestrate("lib", &config, Some(&admin()))
        .await
        .ok(StatusCode::CREATED);
    let archive = reg.download("lib", "legacy-app", "1.0.0").await;
    let files = unpack(&archive);
    let root = yaml(&files, "legacy-app/Chart.yaml");
    assert_eq!(root["apiVersion"], "v1");
    assert_eq!(
        root["description"], "the legacy chart",
        "kept without save.description"
    );
    assert!(root.get("dependencies").is_none(), "{root}");
    assert_eq!(
        yaml(&files, "legacy-app/requirements.yaml"),
        json!({"dependencies": [{"name": "store", "version": "2.0.0"}]})
    );
    assert_eq!(yaml(&files, "legacy-app/values.yaml"), json!({"x": 2}));
    assert_eq!(
        yaml(&files, "legacy-app/charts/store/Chart.yaml")["name"],
        "store"
    );
    assert_eq!(
        yaml(&files, "legacy-app/charts/store/values.yaml"),
        json!({"user": "app"})
    );
    let req = reg
        .admin_get("/api/v1/spaces/lib/charts/legacy-app/versions/1.0.0/manifests/requirements")
        .await
        .ok(StatusCode::OK);
    assert_eq!(req["dependencies"][0]["name"], "store");
    if let Some(out) = helm_template(&archive) {
        let seen = rendered_values(&out);
        assert_eq!(seen["legacy-app-cm"]["x"], 2, "{out}");
        assert_eq!(seen["store-cm"]["user"], "app", "{out}");
    }
}

async fn orchestration_refuses_bad_configs(reg: TestRegistry) {
    library(&reg).await;
    let a = admin();
    let with = |configs: Value| json!({"save": {"chart": "store", "version": "1.0.0"}, "configs": configs});
    let root = || package(true, "lib", "web", "1.0.0");
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"configs": {"package": root()}}),
            StatusCode::BAD_REQUEST,
            "save is required",
        ),
        (
            with(json!({})),
            StatusCode::BAD_REQUEST,
            "configs.package is required",
        ),
        (
            with(json!({"package": {"independent": true, "chart": "web", "version": "1.0.0"}})),
            StatusCode::BAD_REQUEST,
            "configs.package.space is required",
        ),
        (
            with(json!({"package": package(true, "lib", "nothing", "1.0.0")})),
            StatusCode::NOT_FOUND,
            "nothing-1.0.0",
        ),
        (
            with(json!({"package": package(true, "lib", "web", "9.9.9")})),
            StatusCode::NOT_FOUND,
            "web-9.9.9",
        ),
        (
            with(json!({"package": package(true, "nowhere", "web", "1.0.0")})),
            StatusCode::NOT_FOUND,
            "nowhere",
        ),
        (
            with(
                json!({"package": root(), "x": {"package": package(false, "lib", "missing", "1.0.0")}}),
            ),
            StatusCode::NOT_FOUND,
            "a subchart of web",
        ),
        (
            with(
                json!({"package": root(), "x": {"package": package(false, "lib", "sub", "9.0.0")}}),
            ),
            StatusCode::NOT_FOUND,
            "sub-9.0.0",
        ),
        (
            with(
                json!({"package": root(), "x": {"package": package(true, "lib", "db", "2.0.0"),
                        "y": {"package": root()}}}),
            ),
            StatusCode::BAD_REQUEST,
            "cycle",
        ),
        (
            with(json!({"package": root(), "bad/key": {"package": root()}})),
            StatusCode::BAD_REQUEST,
            "not a chart name",
        ),
        (
            with(json!({"package": root(), "_config": [1]})),
            StatusCode::BAD_REQUEST,
            "configs._config must be an object",
        ),
    ];
    for (config, status, expected) in cases {
        let r = reg.orchestrate("shop", &config, Some(&a)).await;
        let reason = if status == StatusCode::BAD_REQUEST {
            "ReasonRequest"
        } else {
            "ReasonInternal"
        };
        let m = r.error(status, reason);
        assert!(m.contains(expected), "{config}: {m}");
    }
    let m = reg
        .raw(
            Method::POST,
            "/api/v1/spaces/shop/charts",
            &[("authorization", &a), ("content-type", "application/json")],
            "{\"save\": ",
        )
        .await
        .error(StatusCode::BAD_REQUEST, "ReasonRequest");
    assert!(m.contains("not JSON"), "{m}");
    // Nothing was stored by any of them.
    assert_eq!(reg.chart_names("shop").await, Vec::<String>::new());
    // A version that exists: 409.
    reg.orchestrate("shop", &with(json!({"package": root()})), Some(&a))
        .await
        .ok(StatusCode::CREATED);
    let m = reg
        .orchestrate("shop", &with(json!({"package": root()})), Some(&a))
        .await
        .error(StatusCode::CONFLICT, "ReasonInternal");
    assert!(m.contains("store-1.0.0"), "{m}");
    reg.orchestrate("nowhere", &with(json!({"package": root()})), Some(&a))
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");
}

async fn who_may_do_what(reg: TestRegistry) {
    let a = admin();
    reg.namespace("private", false).await;
    reg.namespace("open", true).await;
    library(&reg).await;
    let web = chart("v2", "web", "1.0.0", "a: 1\n", &[]);
    reg.upload("private", &web).await;
    reg.upload("open", &web).await;
    let reader = reg.user("reader").await;
    let writer = reg.user("writer").await;
    let stranger = reg.user("stranger").await;
    reg.member("private", "reader", "read").await;
    reg.member("private", "writer", "write").await;
    reg.member("lib", "writer", "read").await;

    // Anonymous: 401 with a challenge on a private space, reads of a public one.
    for uri in [
        "/api/v1/spaces/private/charts",
        "/api/v1/spaces/private/charts/web/versions",
        "/api/v1/spaces/private/charts/web/versions/1.0.0",
        "/api/v1/spaces/private/metadata",
    ] {
        reg.get(uri, None)
            .await
            .error(StatusCode::UNAUTHORIZED, "ReasonRequest");
    }
    assert_eq!(
        reg.get("/api/v1/spaces/open/charts", None).await.names().1,
        ["web"]
    );
    reg.send_chart(
        Method::POST,
        "open",
        "web",
        "2.0.0",
        &chart("v2", "web", "2.0.0", "", &[]),
        None,
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "ReasonRequest");
    let (_, listed) = reg.get("/api/v1/spaces", None).await.names();
    assert_eq!(listed, ["open"]);
    // Wrong credentials: 401 too.
    reg.get(
        "/api/v1/spaces/open/charts",
        Some(&basic("reader", "wrong")),
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "ReasonRequest");

    // A stranger does not see the private space.
    reg.get("/api/v1/spaces/private/charts", Some(&stranger))
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");

    // A reader reads, and may not write.
    assert_eq!(
        reg.get("/api/v1/spaces/private/charts", Some(&reader))
            .await
            .names()
            .1,
        ["web"]
    );
    let v2 = chart("v2", "web", "2.0.0", "", &[]);
    reg.send_chart(Method::POST, "private", "web", "2.0.0", &v2, Some(&reader))
        .await
        .error(StatusCode::FORBIDDEN, "ReasonRequest");
    reg.send_chart(Method::PUT, "private", "web", "1.0.0", &web, Some(&reader))
        .await
        .error(StatusCode::FORBIDDEN, "ReasonRequest");
    for (method, uri, body) in [
        (
            Method::DELETE,
            "/api/v1/spaces/private/charts/web/versions/1.0.0",
            None,
        ),
        (Method::DELETE, "/api/v1/spaces/private/charts/web", None),
        (Method::DELETE, "/api/v1/spaces/private", None),
        (
            Method::PUT,
            "/api/v1/spaces/private/charts/web/versions/1.0.0/manifests/values",
            Some(json!({"a": 2})),
        ),
        (
            Method::POST,
            "/api/v1/spaces/private/charts",
            Some(json!({"save": {"chart": "x", "version": "1.0.0"},
                        "configs": {"package": package(true, "private", "web", "1.0.0")}})),
        ),
    ] {
        reg.call(method, uri, Some(&reader), body)
            .await
            .error(StatusCode::FORBIDDEN, "ReasonRequest");
    }

    // A writer writes, orchestrates from what it may read, and may not delete the space.
    reg.send_chart(Method::POST, "private", "web", "2.0.0", &v2, Some(&writer))
        .await
        .ok(StatusCode::CREATED);
    let from = |space: &str| {
        let version = if space == "lib" { "1.0.0" } else { "1.0.1" };
        json!({"save": {"chart": "mix", "version": version},
               "configs": {"package": package(true, "private", "web", "1.0.0"),
                           "db": {"package": package(true, space, "db", "2.0.0")}}})
    };
    reg.orchestrate("private", &from("lib"), Some(&writer))
        .await
        .ok(StatusCode::CREATED);
    // A source the caller may not read is as good as missing, and nothing is stored.
    reg.orchestrate("private", &from("shop"), Some(&writer))
        .await
        .error(StatusCode::NOT_FOUND, "ReasonInternal");
    assert_eq!(
        reg.admin_get("/api/v1/spaces/private/charts/mix/versions")
            .await
            .names(),
        (1, vec!["1.0.0".into()])
    );
    reg.call(
        Method::DELETE,
        "/api/v1/spaces/private",
        Some(&writer),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "ReasonRequest");
    // Creating a space: the namespace policy (users may not, here), the admin may.
    reg.call(
        Method::POST,
        "/api/v1/spaces?space=mine",
        Some(&writer),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "ReasonRequest");
    reg.call(Method::POST, "/api/v1/spaces?space=mine", Some(&a), None)
        .await
        .ok(StatusCode::CREATED);
}
