//! In-process tests of the Helm surfaces through the real router, with authentication on:
//! the classic repository (`/chartrepo/<ns>`: index.yaml/index.json with ETag and gzip,
//! downloads), the ChartMuseum API (raw and multipart uploads, 409 unless `?force`, lists,
//! HEAD, DELETE, provenance) and Harbor's old path, the one chart store seen from `/v2`
//! (a chart pushed over OCI is in the index; one uploaded through ChartMuseum is an OCI
//! artifact), refused archives storing nothing, and who may do what. Every case runs on the
//! embedded configuration and on PostgreSQL + S3. Over a real HTTP server on 127.0.0.1: the
//! index after every kind of change (checked against the ChartMuseum listing, which reads the
//! database, and decoded by curl --compressed and Python's gzip), truly concurrent uploads of
//! one version (exactly one wins), Harbor's namespace-less paths, and several replicas on one
//! PostgreSQL database, each with its own cache, serving the same bytes.

#[macro_use]
mod common;

use common::{Reply, TestRegistry, basic};
use std::io::{Read, Write};

use berth_core::Digest;
use berth_service::{AuthConfig, ServiceConfig};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "helm-admin-pw";
const USER_PASSWORD: &str = "user-password-1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CONTENT: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

impl Reply {
    #[track_caller]
    fn ok(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        self.json()
    }

    /// Asserts ChartMuseum's error shape, `{"error": "..."}`, and returns the message.
    #[track_caller]
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        let message = body["error"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "{body}");
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(self.headers["www-authenticate"], "Basic realm=\"berth\"");
        }
        message
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
    chartmuseum_upload_index_download_delete,
    chart_pushed_over_oci_is_in_the_index,
    refused_archives_store_nothing,
    who_may_do_what,
    index_follows_every_change,
    concurrent_uploads_of_one_version,
    harbor_default_project,
);

// ---- charts ----

fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        // Raw bytes, as a hostile archive would have them (set_path refuses '..').
        let name = &mut header.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn chart(name: &str, version: &str) -> Vec<u8> {
    let yaml = format!(
        "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"2.1\"\ndescription: The {name} chart\nkeywords: [web, test]\nmaintainers:\n  - name: Ann\n    email: ann@example.com\nicon: https://example.com/icon.png\ndependencies:\n  - name: dep\n    version: \">=0.1.0\"\n    repository: https://example.com/charts\n"
    );
    tgz(&[
        (&format!("{name}/Chart.yaml"), yaml.as_bytes()),
        (&format!("{name}/values.yaml"), b"replicas: 1\n"),
        (
            &format!("{name}/templates/cm.yaml"),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        ),
    ])
}

fn provenance(name: &str, version: &str) -> String {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: {name}\nversion: {version}\n\n...\nfiles:\n  {name}-{version}.tgz: sha256:0000\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJ\n-----END PGP SIGNATURE-----\n"
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "------------------------berthtest42";
    let mut body = Vec::new();
    for (name, content) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl TestRegistry {
    async fn get(&self, uri: &str, auth: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        self.raw(Method::GET, uri, &headers, Bytes::new()).await
    }

    async fn admin_json(&self, method: Method, uri: &str, body: Value) -> Reply {
        self.raw(
            method,
            uri,
            &[
                ("authorization", &admin()),
                ("content-type", "application/json"),
            ],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
    }

    async fn create_namespace(&self, name: &str, public: bool) {
        self.admin_json(
            Method::POST,
            "/api/v1/namespaces",
            json!({"name": name, "is_public": public}),
        )
        .await
        .ok(StatusCode::CREATED);
    }

    /// A user with `level` in `namespace`; returns its Basic header.
    async fn member(&self, name: &str, namespace: &str, level: &str) -> String {
        self.admin_json(
            Method::POST,
            "/api/v1/users",
            json!({"name": name, "password": USER_PASSWORD}),
        )
        .await
        .ok(StatusCode::CREATED);
        self.admin_json(
            Method::PUT,
            &format!("/api/v1/namespaces/{namespace}/members/{name}"),
            json!({"level": level}),
        )
        .await
        .ok(StatusCode::OK);
        basic(name, USER_PASSWORD)
    }

    /// `curl --data-binary @chart.tgz`: a raw body sent as a form.
    async fn upload(&self, path: &str, archive: &[u8], auth: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        self.raw(Method::POST, path, &headers, archive.to_vec())
            .await
    }

    async fn index(&self, ns: &str, auth: &str) -> (Value, String) {
        let r = self
            .get(&format!("/chartrepo/{ns}/index.yaml"), Some(auth))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.headers["content-type"], "application/x-yaml");
        let etag = r.headers["etag"].to_str().unwrap().to_owned();
        let yaml: Value = serde_yaml::from_slice(&r.body).unwrap();
        (yaml, etag)
    }

    async fn push_blob(&self, repo: &str, data: &[u8], auth: &str) -> Digest {
        let digest = Digest::sha256(data);
        let r = self
            .raw(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[("authorization", auth)],
                Bytes::copy_from_slice(data),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        digest
    }

    /// What `helm push` does: config, layer, manifest tagged with the version.
    async fn helm_push(&self, repo: &str, tag: &str, archive: &[u8], auth: &str) -> Reply {
        let config = br#"{"apiVersion":"v2","name":"x","version":"0"}"#;
        let c = self.push_blob(repo, config, auth).await;
        let l = self.push_blob(repo, archive, auth).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "digest": c, "size": config.len()},
            "layers": [{"mediaType": HELM_CONTENT, "digest": l, "size": archive.len()}],
            "annotations": {"org.opencontainers.image.created": "2025-06-07T08:09:10Z"},
        });
        self.raw(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("authorization", auth), ("content-type", OCI_MANIFEST)],
            serde_json::to_vec(&manifest).unwrap(),
        )
        .await
    }
}

// ---- cases ----

async fn chartmuseum_upload_index_download_delete(reg: TestRegistry) {
    reg.create_namespace("team", false).await;
    let writer = reg.member("wendy", "team", "write").await;
    let reader = reg.member("rita", "team", "read").await;
    let one = chart("demo", "0.1.0");
    let two = chart("demo", "0.2.0+build.7");

    // The upload ChartMuseum's README shows.
    let r = reg
        .upload("/chartrepo/team/api/charts", &one, Some(&writer))
        .await;
    assert_eq!(r.ok(StatusCode::CREATED), json!({"saved": true}));
    // The same version again: 409 unless ?force.
    let r = reg
        .upload("/chartrepo/team/api/charts", &one, Some(&writer))
        .await;
    assert_eq!(r.error(StatusCode::CONFLICT), "file already exists");
    let r = reg
        .upload("/chartrepo/team/api/charts?force", &one, Some(&writer))
        .await;
    assert_eq!(r.ok(StatusCode::CREATED), json!({"saved": true}));
    // Multipart with chart and prov.
    let prov = provenance("demo", "0.2.0+build.7");
    let (ct, body) = multipart(&[("chart", &two), ("prov", prov.as_bytes())]);
    let r = reg
        .raw(
            Method::POST,
            "/chartrepo/team/api/charts",
            &[("authorization", &writer), ("content-type", &ct)],
            body,
        )
        .await;
    assert_eq!(r.ok(StatusCode::CREATED), json!({"saved": true}));

    // index.yaml: both versions, newest first, with Chart.yaml's metadata.
    let (index, etag) = reg.index("team", &reader).await;
    assert_eq!(index["apiVersion"], "v1");
    assert!(index["generated"].as_str().is_some());
    let demo = index["entries"]["demo"].as_array().unwrap();
    assert_eq!(demo.len(), 2, "{index}");
    assert_eq!(demo[0]["version"], "0.2.0+build.7");
    let v1 = &demo[1];
    assert_eq!(v1["version"], "0.1.0");
    assert_eq!(v1["urls"], json!(["charts/demo-0.1.0.tgz"]));
    assert_eq!(v1["digest"], Digest::sha256(&one).hex());
    assert_eq!(v1["appVersion"], "2.1");
    assert_eq!(v1["apiVersion"], "v2");
    assert_eq!(v1["description"], "The demo chart");
    assert_eq!(v1["keywords"], json!(["web", "test"]));
    assert_eq!(v1["maintainers"][0]["email"], "ann@example.com");
    assert_eq!(v1["icon"], "https://example.com/icon.png");
    assert_eq!(v1["dependencies"][0]["name"], "dep");
    assert!(berth_core::time::parse_rfc3339(v1["created"].as_str().unwrap()).is_some());

    // Conditional GET and gzip.
    let r = reg
        .raw(
            Method::GET,
            "/chartrepo/team/index.yaml",
            &[("authorization", &reader), ("if-none-match", &etag)],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    let plain = reg
        .get("/chartrepo/team/index.yaml", Some(&reader))
        .await
        .body;
    let r = reg
        .raw(
            Method::GET,
            "/chartrepo/team/index.yaml",
            &[("authorization", &reader), ("accept-encoding", "gzip")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-encoding"], "gzip");
    assert_eq!(gunzip(&r.body), plain.to_vec());
    let gz_etag = r.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(gz_etag, etag);
    let r = reg
        .raw(
            Method::GET,
            "/chartrepo/team/index.yaml",
            &[
                ("authorization", &reader),
                ("accept-encoding", "gzip"),
                ("if-none-match", &gz_etag),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    // index.json says the same.
    let r = reg.get("/chartrepo/team/index.json", Some(&reader)).await;
    assert_eq!(r.headers["content-type"], "application/json");
    let yaml: Value = serde_yaml::from_slice(&plain).unwrap();
    assert_eq!(r.ok(StatusCode::OK), yaml);

    // Downloads.
    let r = reg
        .get("/chartrepo/team/charts/demo-0.1.0.tgz", Some(&reader))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], &one[..]);
    let r = reg
        .get(
            "/chartrepo/team/charts/demo-0.2.0+build.7.tgz.prov",
            Some(&reader),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), prov);
    let r = reg
        .get("/chartrepo/team/charts/demo-0.1.0.tgz.prov", Some(&reader))
        .await;
    r.error(StatusCode::NOT_FOUND);
    let r = reg
        .get("/chartrepo/team/charts/demo-9.9.9.tgz", Some(&reader))
        .await;
    r.error(StatusCode::NOT_FOUND);

    // The one store: the uploaded chart is an OCI artifact.
    let r = reg
        .raw(
            Method::GET,
            "/v2/team/demo/manifests/0.2.0_build.7",
            &[("authorization", &reader), ("accept", OCI_MANIFEST)],
            Bytes::new(),
        )
        .await;
    let manifest = r.ok(StatusCode::OK);
    assert_eq!(manifest["config"]["mediaType"], HELM_CONFIG);
    assert_eq!(manifest["layers"][0]["mediaType"], HELM_CONTENT);
    assert_eq!(
        manifest["layers"][0]["digest"],
        Digest::sha256(&two).as_str()
    );
    assert_eq!(
        manifest["layers"][1]["mediaType"],
        "application/vnd.cncf.helm.chart.provenance.v1.prov"
    );
    let r = reg
        .get(
            &format!("/v2/team/demo/blobs/{}", Digest::sha256(&two)),
            Some(&reader),
        )
        .await;
    assert_eq!(&r.body[..], &two[..]);
    let config = reg
        .get(
            &format!(
                "/v2/team/demo/blobs/{}",
                manifest["config"]["digest"].as_str().unwrap()
            ),
            Some(&reader),
        )
        .await
        .json();
    assert_eq!(config["name"], "demo");
    assert_eq!(config["version"], "0.2.0+build.7");

    // The ChartMuseum API reads, here and under Harbor's old path.
    for base in ["/chartrepo/team/api/charts", "/api/chartrepo/team/charts"] {
        let all = reg.get(base, Some(&reader)).await.ok(StatusCode::OK);
        assert_eq!(all["demo"].as_array().unwrap().len(), 2, "{all}");
        assert_eq!(all["demo"][1]["urls"], json!(["charts/demo-0.1.0.tgz"]));
        let versions = reg
            .get(&format!("{base}/demo"), Some(&reader))
            .await
            .ok(StatusCode::OK);
        assert_eq!(versions[0]["version"], "0.2.0+build.7");
        let v = reg
            .get(&format!("{base}/demo/0.1.0"), Some(&reader))
            .await
            .ok(StatusCode::OK);
        assert_eq!(v["digest"], Digest::sha256(&one).hex());
        let latest = reg
            .get(&format!("{base}/demo/latest"), Some(&reader))
            .await
            .ok(StatusCode::OK);
        assert_eq!(latest["version"], "0.2.0+build.7");
        let head = reg
            .raw(
                Method::HEAD,
                &format!("{base}/demo/0.1.0"),
                &[("authorization", &reader)],
                Bytes::new(),
            )
            .await;
        assert_eq!(head.status, StatusCode::OK);
        let head = reg
            .raw(
                Method::HEAD,
                &format!("{base}/demo/3.0.0"),
                &[("authorization", &reader)],
                Bytes::new(),
            )
            .await;
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        reg.get(&format!("{base}/demo/3.0.0"), Some(&reader))
            .await
            .error(StatusCode::NOT_FOUND);
        reg.get(&format!("{base}/nope"), Some(&reader))
            .await
            .error(StatusCode::NOT_FOUND);
        let page = reg
            .get(&format!("{base}?offset=1"), Some(&reader))
            .await
            .ok(StatusCode::OK);
        assert_eq!(page, json!({}));
        reg.get(&format!("{base}?limit=0"), Some(&reader))
            .await
            .error(StatusCode::BAD_REQUEST);
    }

    // A provenance file on its own, for a version that has none.
    let prov_one = provenance("demo", "0.1.0");
    let r = reg
        .raw(
            Method::POST,
            "/chartrepo/team/api/prov",
            &[("authorization", &writer)],
            prov_one.clone(),
        )
        .await;
    assert_eq!(r.ok(StatusCode::CREATED), json!({"saved": true}));
    let r = reg
        .get("/chartrepo/team/charts/demo-0.1.0.tgz.prov", Some(&reader))
        .await;
    assert_eq!(r.text(), prov_one);
    // Again: 409, unless ?force.
    let r = reg
        .raw(
            Method::POST,
            "/chartrepo/team/api/prov",
            &[("authorization", &writer)],
            prov_one.clone(),
        )
        .await;
    assert_eq!(r.error(StatusCode::CONFLICT), "file already exists");
    let r = reg
        .raw(
            Method::POST,
            "/chartrepo/team/api/prov?force",
            &[("authorization", &writer)],
            prov_one.clone(),
        )
        .await;
    assert_eq!(r.ok(StatusCode::CREATED), json!({"saved": true}));
    let r = reg
        .raw(
            Method::POST,
            "/chartrepo/team/api/prov",
            &[("authorization", &writer)],
            provenance("demo", "7.7.7"),
        )
        .await;
    r.error(StatusCode::NOT_FOUND);

    // Delete: gone from the index, from /v2, and the index has a new ETag.
    let (_, before) = reg.index("team", &reader).await;
    let r = reg
        .raw(
            Method::DELETE,
            "/chartrepo/team/api/charts/demo/0.1.0",
            &[("authorization", &writer)],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.ok(StatusCode::OK), json!({"deleted": true}));
    let r = reg
        .raw(
            Method::DELETE,
            "/chartrepo/team/api/charts/demo/0.1.0",
            &[("authorization", &writer)],
            Bytes::new(),
        )
        .await;
    r.error(StatusCode::NOT_FOUND);
    let (index, after) = reg.index("team", &reader).await;
    assert_ne!(before, after);
    assert_eq!(index["entries"]["demo"].as_array().unwrap().len(), 1);
    let r = reg
        .raw(
            Method::GET,
            "/v2/team/demo/manifests/0.1.0",
            &[("authorization", &reader), ("accept", OCI_MANIFEST)],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Deleting the repository over the native API empties the index.
    reg.raw(
        Method::DELETE,
        "/api/v1/repositories/team/demo",
        &[("authorization", &admin())],
        Bytes::new(),
    )
    .await;
    let (index, _) = reg.index("team", &reader).await;
    assert_eq!(index["entries"], json!({}), "{index}");
}

async fn chart_pushed_over_oci_is_in_the_index(reg: TestRegistry) {
    reg.create_namespace("oci", true).await;
    let auth = admin();
    let archive = chart("web", "1.2.3");
    let r = reg.helm_push("oci/web", "1.2.3", &archive, &auth).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Public: anonymous reads.
    let r = reg.get("/chartrepo/oci/index.yaml", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let index: Value = serde_yaml::from_slice(&r.body).unwrap();
    let web = &index["entries"]["web"][0];
    assert_eq!(web["version"], "1.2.3");
    assert_eq!(web["created"], "2025-06-07T08:09:10Z");
    assert_eq!(web["digest"], Digest::sha256(&archive).hex());
    assert_eq!(web["description"], "The web chart");
    let r = reg.get("/chartrepo/oci/charts/web-1.2.3.tgz", None).await;
    assert_eq!(&r.body[..], &archive[..]);

    // A chart under another tag, or nested deeper, is a plain artifact: not in the index.
    let r = reg.helm_push("oci/web", "latest", &archive, &auth).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = reg
        .helm_push("oci/team/web", "1.2.3", &archive, &auth)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = reg.get("/chartrepo/oci/api/charts", None).await;
    let all = r.ok(StatusCode::OK);
    assert_eq!(all["web"].as_array().unwrap().len(), 1, "{all}");

    // A Helm chart manifest whose archive is broken is refused the OCI way.
    let broken = tgz(&[(
        "web/Chart.yaml",
        b"apiVersion: v2\nname: web\nversion: nope\n",
    )]);
    let r = reg.helm_push("oci/web", "2.0.0", &broken, &auth).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json()["errors"][0]["code"], "MANIFEST_INVALID");
    assert!(r.text().contains("SemVer"), "{}", r.text());

    // Deleting the tag over /v2 removes the version from the index.
    let r = reg
        .raw(
            Method::DELETE,
            "/v2/oci/web/manifests/1.2.3",
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let r = reg.get("/chartrepo/oci/index.yaml", None).await;
    let index: Value = serde_yaml::from_slice(&r.body).unwrap();
    assert_eq!(index["entries"], json!({}), "{index}");
}

async fn refused_archives_store_nothing(reg: TestRegistry) {
    reg.create_namespace("strict", false).await;
    let auth = admin();
    let (_, etag) = reg.index("strict", &auth).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not a tarball".to_vec(), "gzip"),
        (chart("Bad", "1.0.0"), "lowercase"),
        (chart("ok", "1.0"), "SemVer"),
        (tgz(&[("ok/../../x", b"x")]), "'..'"),
        (
            tgz(&[(
                "ok/Chart.yaml",
                b"apiVersion: v9\nname: ok\nversion: 1.0.0\n",
            )]),
            "apiVersion",
        ),
        (
            tgz(&[(
                "ok/Chart.yaml",
                b"apiVersion: v2\nname: other\nversion: 1.0.0\n",
            )]),
            "does not match",
        ),
    ];
    for (archive, expected) in cases {
        let r = reg
            .upload("/chartrepo/strict/api/charts", &archive, Some(&auth))
            .await;
        let message = r.error(StatusCode::BAD_REQUEST);
        assert!(
            message.contains(expected),
            "{message:?} should say {expected:?}"
        );
    }
    // Too large.
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    let r = reg
        .upload("/chartrepo/strict/api/charts", &big, Some(&auth))
        .await;
    r.error(StatusCode::PAYLOAD_TOO_LARGE);
    // A multipart form without a chart.
    let (ct, body) = multipart(&[("other", b"x")]);
    let r = reg
        .raw(
            Method::POST,
            "/chartrepo/strict/api/charts",
            &[("authorization", &auth), ("content-type", &ct)],
            body,
        )
        .await;
    r.error(StatusCode::BAD_REQUEST);
    // Nothing changed: same index, no repositories.
    let (index, after) = reg.index("strict", &auth).await;
    assert_eq!(etag, after);
    assert_eq!(index["entries"], json!({}));
    let repos = reg
        .get("/api/v1/namespaces/strict/repositories", Some(&auth))
        .await;
    if repos.status == StatusCode::OK {
        assert_eq!(repos.json()["total"], 0, "{}", repos.text());
    }
    reg.get("/chartrepo/missing/index.yaml", Some(&auth))
        .await
        .error(StatusCode::NOT_FOUND);
}

async fn who_may_do_what(reg: TestRegistry) {
    reg.create_namespace("private", false).await;
    reg.create_namespace("public", true).await;
    let reader = reg.member("rob", "private", "read").await;
    let writer = reg.member("wes", "private", "write").await;
    let archive = chart("app", "1.0.0");

    // Anonymous: a 401 with a Basic challenge where logging in would help.
    reg.get("/chartrepo/private/index.yaml", None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    reg.get("/chartrepo/private/api/charts", None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    reg.upload("/chartrepo/private/api/charts", &archive, None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    reg.upload("/chartrepo/public/api/charts", &archive, None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    // Wrong password.
    let wrong = basic("rob", "nope");
    reg.get("/chartrepo/private/index.yaml", Some(&wrong))
        .await
        .error(StatusCode::UNAUTHORIZED);
    // A reader reads but may not write.
    reg.upload("/chartrepo/private/api/charts", &archive, Some(&reader))
        .await
        .error(StatusCode::FORBIDDEN);
    // A writer uploads and deletes.
    let r = reg
        .upload("/chartrepo/private/api/charts", &archive, Some(&writer))
        .await;
    r.ok(StatusCode::CREATED);
    let (index, _) = reg.index("private", &reader).await;
    assert_eq!(index["entries"]["app"][0]["version"], "1.0.0");
    reg.raw(
        Method::DELETE,
        "/chartrepo/private/api/charts/app/1.0.0",
        &[("authorization", &reader)],
        Bytes::new(),
    )
    .await
    .error(StatusCode::FORBIDDEN);
    // The writer of one namespace is nobody in another private one.
    reg.create_namespace("other", false).await;
    reg.get("/chartrepo/other/index.yaml", Some(&writer))
        .await
        .error(StatusCode::NOT_FOUND);
    reg.upload("/chartrepo/other/api/charts", &archive, Some(&writer))
        .await
        .error(StatusCode::NOT_FOUND);
    // Public namespaces are readable by anyone.
    let r = reg
        .upload("/chartrepo/public/api/charts", &archive, Some(&admin()))
        .await;
    r.ok(StatusCode::CREATED);
    let r = reg
        .get("/chartrepo/public/charts/app-1.0.0.tgz", None)
        .await;
    assert_eq!(&r.body[..], &archive[..]);
    let r = reg
        .raw(
            Method::DELETE,
            "/chartrepo/private/api/charts/app/1.0.0",
            &[("authorization", &writer)],
            Bytes::new(),
        )
        .await;
    r.ok(StatusCode::OK);
}

// ---- over a real HTTP server ----

/// Serves the router on 127.0.0.1; its base URL.
async fn serve(reg: &TestRegistry) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = reg.app.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    base
}

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn fetch(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Fetched {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if !body.is_empty() {
        req = req.body(body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap().to_vec();
    assert!(
        status < 500,
        "{url}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    Fetched {
        status,
        headers,
        body,
    }
}

/// `curl --compressed` of the URL: what curl decodes. (Off the runtime's thread: the server
/// it asks runs there.)
async fn curl_compressed(url: &str, auth: &str) -> Vec<u8> {
    let (target, header) = (url.to_owned(), format!("Authorization: {auth}"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--fail", "--compressed", "-H", &header, &target])
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "curl --compressed {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Python's `gzip.decompress` of the bytes.
fn python_gunzip(gz: &[u8]) -> Vec<u8> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import gzip, sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(gz).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python gzip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One member only: the plain (not multi-member) decoder reads it to the end.
fn gunzip_one_member(gz: &[u8]) -> Vec<u8> {
    let mut decoder = flate2::bufread::GzDecoder::new(gz);
    let mut out = Vec::new();
    decoder.read_to_end(&mut out).unwrap();
    assert!(
        decoder.into_inner().is_empty(),
        "bytes after the gzip member"
    );
    out
}

/// Everything a served index is, in every form: its ETag, the plain YAML and JSON (the same
/// document), and gzip, which curl, Python and a one-member decoder all inflate to the plain
/// bytes; Content-Length is the body's length. `clients`: also ask curl and Python.
struct Served {
    etag: String,
    yaml: Vec<u8>,
    json: Vec<u8>,
    yaml_gz: Vec<u8>,
    json_gz: Vec<u8>,
    doc: Value,
}

async fn served(base: &str, ns: &str, auth: &str, clients: bool) -> Served {
    let mut forms = Vec::new();
    let mut etag = String::new();
    for file in ["index.yaml", "index.json"] {
        let url = format!("{base}/chartrepo/{ns}/{file}");
        let plain = fetch(
            reqwest::Method::GET,
            &url,
            &[("authorization", auth)],
            vec![],
        )
        .await;
        assert_eq!(plain.status, 200);
        assert_eq!(plain.header("content-length"), plain.body.len().to_string());
        let gz = fetch(
            reqwest::Method::GET,
            &url,
            &[("authorization", auth), ("accept-encoding", "gzip")],
            vec![],
        )
        .await;
        assert_eq!(gz.status, 200);
        assert_eq!(gz.header("content-encoding"), "gzip");
        assert_eq!(gz.header("content-length"), gz.body.len().to_string());
        assert_eq!(gunzip_one_member(&gz.body), plain.body, "{url}");
        if clients {
            assert_eq!(python_gunzip(&gz.body), plain.body, "{url}: python");
            assert_eq!(curl_compressed(&url, auth).await, plain.body, "{url}: curl");
        }
        if file == "index.yaml" {
            etag = plain.header("etag").to_owned();
            // Conditional: 304 with either ETag.
            for tag in [plain.header("etag"), gz.header("etag")] {
                let r = fetch(
                    reqwest::Method::GET,
                    &url,
                    &[("authorization", auth), ("if-none-match", tag)],
                    vec![],
                )
                .await;
                assert_eq!(r.status, 304);
            }
        }
        forms.push((plain.body, gz.body));
    }
    let (json, json_gz) = forms.pop().unwrap();
    let (yaml, yaml_gz) = forms.pop().unwrap();
    let doc: Value = serde_yaml::from_slice(&yaml).unwrap();
    let from_json: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc, from_json);
    Served {
        etag,
        yaml,
        json,
        yaml_gz,
        json_gz,
        doc,
    }
}

/// The index holds exactly what the database holds: ChartMuseum's listing (read from the
/// database on every request, never from the index cache) per chart, in the same order.
async fn assert_index_is_current(base: &str, ns: &str, auth: &str, index: &Served) {
    let listed = fetch(
        reqwest::Method::GET,
        &format!("{base}/chartrepo/{ns}/api/charts"),
        &[("authorization", auth)],
        vec![],
    )
    .await
    .json();
    assert_eq!(index.doc["entries"], listed, "index vs database");
    let names: Vec<&String> = index.doc["entries"].as_object().unwrap().keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "charts by name");
    for versions in index.doc["entries"].as_object().unwrap().values() {
        let parsed: Vec<semver::Version> = versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(
            parsed.windows(2).all(|w| w[0] > w[1]),
            "newest first: {parsed:?}"
        );
    }
    // `generated` is no earlier than any version.
    let generated = berth_core::time::parse_rfc3339(index.doc["generated"].as_str().unwrap())
        .expect("generated is RFC 3339");
    for versions in index.doc["entries"].as_object().unwrap().values() {
        for v in versions.as_array().unwrap() {
            let created = berth_core::time::parse_rfc3339(v["created"].as_str().unwrap()).unwrap();
            assert!(created <= generated, "{v} after {generated}");
        }
    }
}

fn chart_described(name: &str, version: &str, description: &str) -> Vec<u8> {
    let yaml =
        format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: {description}\n");
    tgz(&[
        (&format!("{name}/Chart.yaml"), yaml.as_bytes()),
        (&format!("{name}/values.yaml"), b"replicas: 1\n"),
    ])
}

async fn post_raw(base: &str, path: &str, archive: Vec<u8>, auth: &str) -> Fetched {
    fetch(
        reqwest::Method::POST,
        &format!("{base}{path}"),
        &[
            ("authorization", auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        archive,
    )
    .await
}

async fn delete(base: &str, path: &str, auth: &str) -> Fetched {
    fetch(
        reqwest::Method::DELETE,
        &format!("{base}{path}"),
        &[("authorization", auth)],
        vec![],
    )
    .await
}

/// The index after every kind of change (a new version, an older one, a new first chart, a
/// forced replacement, a push over OCI, deletes of a version, of a chart's last version and
/// of a repository) is what the database holds, with a new ETag and a `generated` that
/// moves forward, in every form and for every client.
async fn index_follows_every_change(reg: TestRegistry) {
    reg.create_namespace("flat", false).await;
    let writer = reg.member("fiona", "flat", "write").await;
    let base = serve(&reg).await;
    let mut etags = std::collections::HashSet::new();
    let mut last_generated = String::new();
    let mut step = async |clients: bool| {
        let index = served(&base, "flat", &writer, clients).await;
        assert_index_is_current(&base, "flat", &writer, &index).await;
        assert!(
            etags.insert(index.etag.clone()),
            "a new ETag after a change"
        );
        let generated = index.doc["generated"].as_str().unwrap().to_owned();
        assert!(
            generated >= last_generated,
            "{generated} < {last_generated}"
        );
        last_generated = generated;
        index
    };
    let up = |name: &str, version: &str| chart_described(name, version, "first");
    let index = step(true).await;
    assert_eq!(index.doc["entries"], json!({}));

    for (name, version) in [("b", "1.0.0"), ("b", "1.1.0"), ("a", "1.0.0")] {
        let r = post_raw(
            &base,
            "/chartrepo/flat/api/charts",
            up(name, version),
            &writer,
        )
        .await;
        assert_eq!(r.status, 201);
    }
    step(true).await;
    // An older version of a chart (last in its list) and a chart that sorts first.
    post_raw(
        &base,
        "/chartrepo/flat/api/charts",
        up("a", "0.9.0"),
        &writer,
    )
    .await;
    step(false).await;
    post_raw(
        &base,
        "/chartrepo/flat/api/charts",
        up("0lead", "2.0.0"),
        &writer,
    )
    .await;
    let index = step(true).await;
    let keys: Vec<&String> = index.doc["entries"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["0lead", "a", "b"]);
    // A forced replacement: the same version, another archive.
    let replaced = chart_described("b", "1.0.0", "second");
    let r = post_raw(
        &base,
        "/chartrepo/flat/api/charts?force",
        replaced.clone(),
        &writer,
    )
    .await;
    assert_eq!(r.status, 201);
    let index = step(false).await;
    assert_eq!(index.doc["entries"]["b"][1]["description"], "second");
    assert_eq!(
        index.doc["entries"]["b"][1]["digest"],
        Digest::sha256(&replaced).hex()
    );
    // A version pushed over OCI.
    let r = reg
        .helm_push("flat/b", "3.0.0", &chart("b", "3.0.0"), &admin())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let index = step(false).await;
    assert_eq!(index.doc["entries"]["b"][0]["version"], "3.0.0");
    // Deletes: a version, the first chart's only version, the other versions one by one.
    assert_eq!(
        delete(&base, "/chartrepo/flat/api/charts/a/1.0.0", &writer)
            .await
            .status,
        200
    );
    step(false).await;
    assert_eq!(
        delete(&base, "/chartrepo/flat/api/charts/0lead/2.0.0", &writer)
            .await
            .status,
        200
    );
    let index = step(true).await;
    let keys: Vec<&String> = index.doc["entries"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(
        delete(&base, "/chartrepo/flat/api/charts/a/0.9.0", &writer)
            .await
            .status,
        200
    );
    step(false).await;
    // The repository of the last chart, over the native API.
    let r = delete(&base, "/api/v1/repositories/flat/b", &admin()).await;
    assert!(r.status < 300, "{}", r.status);
    let index = step(true).await;
    assert_eq!(index.doc["entries"], json!({}));
}

/// Truly concurrent uploads of one version without `?force`, over HTTP: exactly one is
/// stored (201), every other gets its surface's conflict (ChartMuseum's 409 body or
/// multipart, the native API's), and the index lists the one that won.
async fn concurrent_uploads_of_one_version(reg: TestRegistry) {
    reg.create_namespace("race", false).await;
    let writer = reg.member("rick", "race", "write").await;
    let base = serve(&reg).await;
    for round in 0..3 {
        let version = format!("1.{round}.0");
        let archives: Vec<Vec<u8>> = (0..8)
            .map(|i| chart_described("dup", &version, &format!("upload {i}")))
            .collect();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(archives.len()));
        let mut tasks = Vec::new();
        for (i, archive) in archives.iter().cloned().enumerate() {
            let (base, writer, barrier) = (base.clone(), writer.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                // Three surfaces: ChartMuseum raw and multipart, and the native API.
                match i % 3 {
                    0 => post_raw(&base, "/chartrepo/race/api/charts", archive, &writer).await,
                    1 => {
                        let (ct, body) = multipart(&[("chart", &archive)]);
                        fetch(
                            reqwest::Method::POST,
                            &format!("{base}/api/chartrepo/race/charts"),
                            &[("authorization", &writer), ("content-type", &ct)],
                            body,
                        )
                        .await
                    }
                    _ => {
                        fetch(
                            reqwest::Method::POST,
                            &format!("{base}/api/v1/namespaces/race/charts"),
                            &[
                                ("authorization", &writer),
                                ("content-type", "application/gzip"),
                            ],
                            archive,
                        )
                        .await
                    }
                }
            }));
        }
        let mut won = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let r = task.await.unwrap();
            match r.status {
                201 => won.push(i),
                409 => {
                    let body = r.json();
                    match i % 3 {
                        0 => assert_eq!(body, json!({"error": "file already exists"})),
                        1 => assert_eq!(body, json!({"error": "chart already exists"})),
                        // The native API's error shape.
                        _ => {
                            assert_eq!(body["error"]["code"], "already_exists", "{body}");
                            assert_eq!(body["error"]["target"], "chart", "{body}");
                        }
                    }
                }
                other => panic!("upload {i}: {other} {}", String::from_utf8_lossy(&r.body)),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: uploads stored: {won:?}");
        let index = served(&base, "race", &writer, false).await;
        assert_index_is_current(&base, "race", &writer, &index).await;
        let versions: Vec<&Value> = index.doc["entries"]["dup"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["version"] == version)
            .collect();
        assert_eq!(versions.len(), 1);
        // What is stored is the archive of the upload that got 201.
        assert_eq!(
            versions[0]["digest"],
            Digest::sha256(&archives[won[0]]).hex()
        );
        assert_eq!(versions[0]["description"], format!("upload {}", won[0]));
    }
}

/// Harbor 1.x's paths without a namespace: `POST /api/chartrepo/charts` uploads to the
/// `library` project (multipart `chart` and `prov`, as Harbor's API documents it), and
/// `GET /api/chartrepo/health` answers `{"healthy":true}`.
async fn harbor_default_project(reg: TestRegistry) {
    let base = serve(&reg).await;
    let health = fetch(
        reqwest::Method::GET,
        &format!("{base}/api/chartrepo/health"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"healthy": true}))
    );
    let archive = chart("lib", "0.3.0");
    let prov = provenance("lib", "0.3.0");
    let (ct, body) = multipart(&[("chart", &archive), ("prov", prov.as_bytes())]);
    let upload = |auth: String| {
        let (ct, body, base) = (ct.clone(), body.clone(), base.clone());
        async move {
            fetch(
                reqwest::Method::POST,
                &format!("{base}/api/chartrepo/charts"),
                &[("authorization", &auth), ("content-type", &ct)],
                body,
            )
            .await
        }
    };
    reg.create_namespace("library", false).await;
    let reader = reg.member("libby", "library", "read").await;
    let writer = reg.member("lionel", "library", "write").await;
    let anonymous = fetch(
        reqwest::Method::POST,
        &format!("{base}/api/chartrepo/charts"),
        &[("content-type", &ct)],
        body.clone(),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(upload(reader.clone()).await.status, 403);
    let r = upload(writer.clone()).await;
    assert_eq!((r.status, r.json()), (201, json!({"saved": true})));
    let r = upload(writer.clone()).await;
    assert_eq!(
        (r.status, r.json()),
        (409, json!({"error": "chart already exists"}))
    );
    // In library's index and repository, with its provenance file.
    let index = served(&base, "library", &reader, false).await;
    assert_eq!(
        index.doc["entries"]["lib"][0]["digest"],
        Digest::sha256(&archive).hex()
    );
    let r = fetch(
        reqwest::Method::GET,
        &format!("{base}/chartrepo/library/charts/lib-0.3.0.tgz.prov"),
        &[("authorization", &reader)],
        vec![],
    )
    .await;
    assert_eq!(r.body, prov.as_bytes());
    // The bare archive (`curl --data-binary`) works there too.
    let r = post_raw(
        &base,
        "/api/chartrepo/charts",
        chart("lib", "0.4.0"),
        &writer,
    )
    .await;
    assert_eq!(r.status, 201);
    let listed = fetch(
        reqwest::Method::GET,
        &format!("{base}/api/chartrepo/library/charts/lib"),
        &[("authorization", &reader)],
        vec![],
    )
    .await
    .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

/// Several replicas on one PostgreSQL database (and one S3 bucket), each with its own index
/// cache: changes made through any of them show in every one's index (a replica re-reads
/// only what the change log names), the bytes are the same everywhere (and the same as a
/// fresh replica's full rendering), and concurrent uploads of one version through different
/// replicas store one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_database() {
    const TEST: &str = "replicas_on_one_database";
    let Some(s3) = berth_storage::testing::s3_config(TEST) else {
        return;
    };
    berth_meta::testing::with_fresh_database(TEST, move |url| async move {
        let replica = || {
            let (s3, url) = (s3.clone(), url.clone());
            async move {
                let blobs = std::sync::Arc::new(berth_storage::S3BlobStore::new(&s3).unwrap());
                let meta = berth_meta::Meta::new(std::sync::Arc::new(
                    berth_meta::PostgresMetaStore::connect(&url, 4)
                        .await
                        .unwrap(),
                ));
                common::registry(blobs, meta, config()).await
            }
        };
        let (a, b) = (replica().await, replica().await);
        let (base_a, base_b) = (serve(&a).await, serve(&b).await);
        a.create_namespace("rep", false).await;
        let auth = admin();
        let up = |base: &str, name: &str, version: &str| {
            let (base, auth) = (base.to_owned(), auth.clone());
            let archive = chart_described(name, version, "replica");
            async move { post_raw(&base, "/chartrepo/rep/api/charts", archive, &auth).await }
        };
        let same = |x: &Served, y: &Served| {
            assert_eq!(x.etag, y.etag);
            assert_eq!(x.yaml, y.yaml);
            assert_eq!(x.json, y.json);
            assert_eq!(x.yaml_gz, y.yaml_gz);
            assert_eq!(x.json_gz, y.json_gz);
        };
        for (name, version) in [("web", "1.0.0"), ("web", "1.1.0"), ("db", "0.1.0")] {
            assert_eq!(up(&base_a, name, version).await.status, 201);
        }
        let (ia, ib) = (
            served(&base_a, "rep", &auth, false).await,
            served(&base_b, "rep", &auth, false).await,
        );
        same(&ia, &ib);
        assert_index_is_current(&base_a, "rep", &auth, &ia).await;
        // B writes, A sees it; A deletes, B sees it; both at once, then both read.
        assert_eq!(up(&base_b, "web", "2.0.0").await.status, 201);
        let ia = served(&base_a, "rep", &auth, false).await;
        assert_eq!(ia.doc["entries"]["web"][0]["version"], "2.0.0");
        assert_index_is_current(&base_a, "rep", &auth, &ia).await;
        assert_eq!(
            delete(&base_a, "/chartrepo/rep/api/charts/db/0.1.0", &auth)
                .await
                .status,
            200
        );
        let ib = served(&base_b, "rep", &auth, false).await;
        assert!(ib.doc["entries"].get("db").is_none(), "{}", ib.doc);
        assert_index_is_current(&base_b, "rep", &auth, &ib).await;
        assert_eq!(up(&base_b, "api", "0.1.0").await.status, 201);
        assert_eq!(
            delete(&base_a, "/chartrepo/rep/api/charts/web/1.0.0", &auth)
                .await
                .status,
            200
        );
        let (ia, ib) = (
            served(&base_a, "rep", &auth, false).await,
            served(&base_b, "rep", &auth, false).await,
        );
        same(&ia, &ib);
        assert_index_is_current(&base_a, "rep", &auth, &ia).await;
        // Concurrent uploads of one version through both replicas: one stored.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let base = if i % 2 == 0 {
                    base_a.clone()
                } else {
                    base_b.clone()
                };
                let archive = chart_described("dup", "1.0.0", &format!("upload {i}"));
                let auth = auth.clone();
                tokio::spawn(async move {
                    (
                        post_raw(&base, "/chartrepo/rep/api/charts", archive.clone(), &auth).await,
                        archive,
                    )
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (r, archive) = task.await.unwrap();
            match r.status {
                201 => won.push(archive),
                409 => assert_eq!(r.json(), json!({"error": "file already exists"})),
                other => panic!("{other}"),
            }
        }
        assert_eq!(won.len(), 1);
        let (ia, ib) = (
            served(&base_a, "rep", &auth, false).await,
            served(&base_b, "rep", &auth, false).await,
        );
        same(&ia, &ib);
        assert_eq!(
            ia.doc["entries"]["dup"][0]["digest"],
            Digest::sha256(&won[0]).hex()
        );
        // A replica with nothing cached renders it all from the database: the same bytes.
        let c = replica().await;
        let ic = served(&serve(&c).await, "rep", &auth, true).await;
        same(&ia, &ic);
    })
    .await;
}
