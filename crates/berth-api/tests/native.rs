//! In-process tests of the native API (`/api/v1`) through the real router, with
//! authentication on: every route, its errors and bad input (a clear 4xx in the one shape,
//! never a 5xx, nothing changed), counters after pushes, pulls and deletes (and deleted
//! things gone from `/v2` at once), concurrent pushes, and who may do what (anonymous,
//! reader, writer, manager, admin). Every case runs on the embedded configuration and on
//! PostgreSQL + S3. bk-repo's docker extension (`/docker/ext`, seed 001) is tested here too,
//! over the same images and users.

#[macro_use]
mod common;

use std::sync::Arc;

use berth_core::Digest;
use berth_service::{AuthConfig, ServiceConfig};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Reply, TestRegistry, basic};

const ADMIN_PASSWORD: &str = "native-admin-pw";
const USER_PASSWORD: &str = "user-password-1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

impl Reply {
    /// Asserts a success and returns its body (null for 204).
    #[track_caller]
    fn ok(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        if status == StatusCode::NO_CONTENT {
            assert!(self.body.is_empty());
            return Value::Null;
        }
        assert_eq!(
            self.headers["content-type"], "application/json",
            "{:?}",
            self.headers
        );
        self.json()
    }

    /// Asserts an error in the one shape and returns its `error` object.
    #[track_caller]
    fn error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["code"], code, "{body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(
            body.as_object().unwrap().len(),
            1,
            "only `error` in an error body: {body}"
        );
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(self.headers["www-authenticate"], "Basic realm=\"berth\"");
        }
        error
    }

    /// Asserts an error naming `target`.
    #[track_caller]
    fn error_on(&self, status: StatusCode, code: &str, target: &str) -> Value {
        let error = self.error(status, code);
        assert_eq!(error["target"], target, "{error}");
        error
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
    namespaces_create_list_get_update_delete,
    members_put_list_delete,
    repositories_with_nested_names,
    counters_follow_pushes_pulls_and_deletes,
    artifacts_tags_detail_layers_and_platforms,
    bad_input_is_refused_and_changes_nothing,
    concurrent_pushes_keep_counters_right,
    who_may_do_what,
    users_and_passwords,
    tokens_robots_keys_and_audit,
    openapi_document_is_served,
    every_documented_operation_is_routed,
    proxies_create_list_get_update_delete,
    bkrepo_docker_extension,
    swr_management_api,
    permission_matrix,
    native_charts,
);

impl TestRegistry {
    /// A JSON request as `auth` (None: anonymous).
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

    /// GET as the administrator, expecting 200.
    async fn admin_get(&self, uri: &str) -> Value {
        self.get(uri, Some(&admin())).await.ok(StatusCode::OK)
    }

    async fn create_namespace(&self, name: &str, public: bool) -> Value {
        self.call(
            Method::POST,
            "/api/v1/namespaces",
            Some(&admin()),
            Some(json!({"name": name, "is_public": public})),
        )
        .await
        .ok(StatusCode::CREATED)
    }

    /// A user with [`USER_PASSWORD`]; returns its Basic header.
    async fn create_user(&self, name: &str) -> String {
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

    async fn put_member(&self, namespace: &str, user: &str, level: &str) {
        self.call(
            Method::PUT,
            &format!("/api/v1/namespaces/{namespace}/members/{user}"),
            Some(&admin()),
            Some(json!({"level": level})),
        )
        .await
        .ok(StatusCode::OK);
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

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
        auth: &str,
    ) -> Digest {
        let bytes = serde_json::to_vec(body).unwrap();
        let r = self
            .raw(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("authorization", auth), ("content-type", media_type)],
                bytes.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        Digest::sha256(&bytes)
    }

    /// Pushes an image (a config with platform, history and labels, and one layer) and
    /// tags it; returns its digest and its blob bytes (config + layer).
    async fn push_image(&self, repo: &str, tags: &[&str], seed: &str, arch: &str) -> (Digest, u64) {
        let auth = admin();
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Labels": {"seed": seed}},
            "history": [
                {"created": "2024-01-02T03:04:05Z", "created_by": format!("COPY {seed} /")},
                {"created_by": "ENV A=1", "empty_layer": true},
            ],
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let layer = format!("layer of {seed}").into_bytes();
        let c = self.push_blob(repo, &config, &auth).await;
        let l = self.push_blob(repo, &layer, &auth).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": c, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": l, "size": layer.len()}],
            "annotations": {"org.opencontainers.image.title": seed},
        });
        let digest = Digest::sha256(&serde_json::to_vec(&manifest).unwrap());
        let reference = tags.first().copied().unwrap_or(digest.as_str()).to_owned();
        self.put_manifest(repo, &reference, OCI_MANIFEST, &manifest, &auth)
            .await;
        for tag in tags.iter().skip(1) {
            self.put_manifest(repo, tag, OCI_MANIFEST, &manifest, &auth)
                .await;
        }
        (digest, (config.len() + layer.len()) as u64)
    }

    /// A repository's JSON, fresh.
    async fn repository(&self, name: &str) -> Value {
        self.admin_get(&format!("/api/v1/repositories/{name}"))
            .await
    }

    /// What the bad-input case compares before and after: everything listable.
    async fn state(&self) -> Value {
        let mut state = json!({
            "namespaces": self.admin_get("/api/v1/namespaces?limit=1000").await,
            "repositories": self.admin_get("/api/v1/repositories?limit=1000").await,
            "users": self.admin_get("/api/v1/users?limit=1000").await,
            "tokens": self.admin_get("/api/v1/users/admin/tokens").await,
        });
        for ns in ["team"] {
            state[format!("members/{ns}")] = self
                .admin_get(&format!("/api/v1/namespaces/{ns}/members"))
                .await;
            state[format!("robots/{ns}")] = self
                .admin_get(&format!("/api/v1/namespaces/{ns}/robots"))
                .await;
        }
        state["tags"] = self.admin_get("/api/v1/repositories/team/app/-/tags").await;
        state["artifacts"] = self
            .admin_get("/api/v1/repositories/team/app/-/artifacts")
            .await;
        state
    }
}

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {listing}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[track_caller]
fn assert_listing(listing: &Value, total: u64, limit: u64, offset: u64) {
    assert_eq!(listing["total"], total, "{listing}");
    assert_eq!(listing["limit"], limit, "{listing}");
    assert_eq!(listing["offset"], offset, "{listing}");
    assert_eq!(listing.as_object().unwrap().len(), 4, "{listing}");
}

#[track_caller]
fn assert_time(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    assert!(
        berth_core::time::parse_rfc3339(s).is_some() && s.ends_with('Z'),
        "not RFC 3339: {s}"
    );
}

// ---- cases ----

async fn namespaces_create_list_get_update_delete(reg: TestRegistry) {
    let auth = admin();
    let created = reg.create_namespace("team", false).await;
    assert_eq!(created["name"], "team");
    assert_eq!(created["is_public"], false);
    assert_eq!(created["creator"], "admin");
    assert_eq!(created["level"], "manage");
    assert_eq!(created["num_repositories"], 0);
    assert!(created["id"].is_i64());
    assert_time(&created["created_at"]);
    assert_time(&created["updated_at"]);

    // A second time, a reserved name, a name breaking the grammar.
    reg.call(
        Method::POST,
        "/api/v1/namespaces",
        Some(&auth),
        Some(json!({"name": "team"})),
    )
    .await
    .error_on(StatusCode::CONFLICT, "already_exists", "namespace");
    reg.call(
        Method::POST,
        "/api/v1/namespaces",
        Some(&auth),
        Some(json!({"name": "manage"})),
    )
    .await
    .error_on(StatusCode::BAD_REQUEST, "invalid", "namespace");
    reg.call(
        Method::POST,
        "/api/v1/namespaces",
        Some(&auth),
        Some(json!({"name": "Team/x"})),
    )
    .await
    .error_on(StatusCode::BAD_REQUEST, "invalid", "namespace");

    for name in ["alpha", "beta", "gamma", "team-two"] {
        reg.create_namespace(name, name == "beta").await;
    }

    let all = reg.admin_get("/api/v1/namespaces").await;
    assert_listing(&all, 5, 20, 0);
    assert_eq!(names(&all), ["alpha", "beta", "gamma", "team", "team-two"]);
    let page = reg
        .admin_get("/api/v1/namespaces?limit=2&offset=1&order=desc")
        .await;
    assert_listing(&page, 5, 2, 1);
    assert_eq!(names(&page), ["team", "gamma"]);
    let found = reg.admin_get("/api/v1/namespaces?search=TEAM").await;
    assert_listing(&found, 2, 20, 0);
    assert_eq!(names(&found), ["team", "team-two"]);
    let newest = reg
        .admin_get("/api/v1/namespaces?order_by=created&order=desc&limit=1")
        .await;
    assert_eq!(names(&newest), ["team-two"]);
    let beyond = reg.admin_get("/api/v1/namespaces?offset=50").await;
    assert_listing(&beyond, 5, 20, 50);
    assert_eq!(beyond["items"], json!([]));

    let got = reg.admin_get("/api/v1/namespaces/team").await;
    assert_eq!(got, created);
    reg.get("/api/v1/namespaces/nope", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");

    let changed = reg
        .call(
            Method::PATCH,
            "/api/v1/namespaces/team",
            Some(&auth),
            Some(json!({"description": "the team", "is_public": true})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(changed["description"], "the team");
    assert_eq!(changed["is_public"], true);
    // An empty change keeps everything.
    let same = reg
        .call(
            Method::PATCH,
            "/api/v1/namespaces/team",
            Some(&auth),
            Some(json!({})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(same["description"], "the team");
    reg.call(
        Method::PATCH,
        "/api/v1/namespaces/nope",
        Some(&auth),
        Some(json!({"description": "x"})),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");

    // Not empty: refused, unless forced.
    reg.push_image("team/app", &["v1"], "ns", "amd64").await;
    assert_eq!(
        reg.admin_get("/api/v1/namespaces/team").await["num_repositories"],
        1
    );
    reg.call(Method::DELETE, "/api/v1/namespaces/team", Some(&auth), None)
        .await
        .error(StatusCode::CONFLICT, "conflict");
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team?force=maybe",
        Some(&auth),
        None,
    )
    .await
    .error_on(StatusCode::BAD_REQUEST, "invalid", "force");
    assert_eq!(
        reg.get("/v2/team/app/manifests/v1", Some(&auth))
            .await
            .status,
        StatusCode::OK
    );
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team?force=true",
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.get("/api/v1/namespaces/team", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");
    reg.get("/api/v1/repositories/team/app", Some(&auth))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        reg.get("/v2/team/app/manifests/v1", Some(&auth))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // An empty one goes without force.
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/alpha",
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/alpha",
        Some(&auth),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");
    assert_listing(&reg.admin_get("/api/v1/namespaces").await, 3, 20, 0);
}

async fn members_put_list_delete(reg: TestRegistry) {
    let auth = admin();
    reg.create_namespace("team", false).await;
    reg.create_user("alice").await;
    let put = reg
        .call(
            Method::PUT,
            "/api/v1/namespaces/team/members/alice",
            Some(&auth),
            Some(json!({"level": "write"})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(put["username"], "alice");
    assert_eq!(put["level"], "write");
    assert_time(&put["created_at"]);
    // Again, with another level: changed, not doubled.
    reg.put_member("team", "alice", "read").await;
    reg.put_member("team", "bob", "manage").await;

    let members = reg.admin_get("/api/v1/namespaces/team/members").await;
    assert_listing(&members, 3, 20, 0);
    let levels: Vec<(String, String)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_owned(),
                m["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // The creator is a manager.
    assert!(
        levels.contains(&("admin".into(), "manage".into())),
        "{levels:?}"
    );
    assert!(
        levels.contains(&("alice".into(), "read".into())),
        "{levels:?}"
    );
    assert!(
        levels.contains(&("bob".into(), "manage".into())),
        "{levels:?}"
    );
    let page = reg
        .admin_get("/api/v1/namespaces/team/members?limit=1&offset=2")
        .await;
    assert_listing(&page, 3, 1, 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    for bad in [json!({"level": "owner"}), json!({"level": 7}), json!({})] {
        reg.call(
            Method::PUT,
            "/api/v1/namespaces/team/members/carol",
            Some(&auth),
            Some(bad),
        )
        .await
        .error_on(StatusCode::BAD_REQUEST, "invalid", "level");
    }
    reg.call(
        Method::PUT,
        "/api/v1/namespaces/nope/members/carol",
        Some(&auth),
        Some(json!({"level": "read"})),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");

    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team/members/alice",
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team/members/alice",
        Some(&auth),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "member");
    assert_listing(
        &reg.admin_get("/api/v1/namespaces/team/members").await,
        2,
        20,
        0,
    );
}

async fn repositories_with_nested_names(reg: TestRegistry) {
    let auth = admin();
    reg.create_namespace("team", false).await;
    reg.create_namespace("other", true).await;
    let created = reg
        .call(
            Method::POST,
            "/api/v1/repositories",
            Some(&auth),
            Some(json!({"name": "team/group/app", "category": "web", "description": "the app"})),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["name"], "team/group/app");
    assert_eq!(created["namespace"], "team");
    assert_eq!(created["path"], "group/app");
    assert_eq!(created["kind"], "hosted");
    assert_eq!(created["category"], "web");
    assert_eq!(created["is_public"], false);
    assert_eq!(created["inherits_visibility"], true);
    assert_eq!(created["image"], "registry.test/team/group/app");
    for counter in [
        "size",
        "num_manifests",
        "num_images",
        "num_tags",
        "num_downloads",
    ] {
        assert_eq!(created[counter], 0, "{counter}");
    }
    assert_eq!(created["last_pushed_at"], Value::Null);
    reg.call(
        Method::POST,
        "/api/v1/repositories",
        Some(&auth),
        Some(json!({"name": "team/group/app"})),
    )
    .await
    .error_on(StatusCode::CONFLICT, "already_exists", "repository");
    reg.call(
        Method::POST,
        "/api/v1/repositories",
        Some(&auth),
        Some(json!({"name": "nope/app"})),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");
    reg.call(
        Method::POST,
        "/api/v1/repositories",
        Some(&auth),
        Some(json!({"name": "team/App"})),
    )
    .await
    .error_on(StatusCode::BAD_REQUEST, "invalid", "name");

    // Names that look like the sub-resource words are names too.
    for name in [
        "team/tags",
        "team/tags/tags/v1",
        "team/artifacts",
        "other/x",
    ] {
        reg.call(
            Method::POST,
            "/api/v1/repositories",
            Some(&auth),
            Some(json!({"name": name, "is_public": name == "team/tags"})),
        )
        .await
        .ok(StatusCode::CREATED);
    }
    assert_eq!(
        reg.repository("team/tags/tags/v1").await["name"],
        "team/tags/tags/v1"
    );
    assert_eq!(reg.repository("team%2Fgroup%2Fapp").await, created);
    assert_eq!(reg.repository("team/tags").await["is_public"], true);
    assert_eq!(
        reg.repository("team/tags").await["inherits_visibility"],
        false
    );

    let all = reg.admin_get("/api/v1/repositories").await;
    assert_listing(&all, 5, 20, 0);
    assert_eq!(
        names(&all),
        [
            "other/x",
            "team/artifacts",
            "team/group/app",
            "team/tags",
            "team/tags/tags/v1"
        ]
    );
    let in_team = reg.admin_get("/api/v1/namespaces/team/repositories").await;
    assert_listing(&in_team, 4, 20, 0);
    assert_eq!(
        reg.admin_get("/api/v1/repositories?namespace=team").await["items"],
        in_team["items"]
    );
    let found = reg
        .admin_get("/api/v1/repositories?search=TAGS&order=desc")
        .await;
    assert_eq!(names(&found), ["team/tags/tags/v1", "team/tags"]);
    let page = reg
        .admin_get("/api/v1/namespaces/team/repositories?limit=2&offset=1&order_by=name")
        .await;
    assert_listing(&page, 4, 2, 1);
    assert_eq!(names(&page), ["team/group/app", "team/tags"]);
    let web = reg.admin_get("/api/v1/repositories?category=web").await;
    assert_eq!(names(&web), ["team/group/app"]);
    for order in [
        "created",
        "updated",
        "pushed",
        "pulled",
        "size",
        "downloads",
        "tags",
    ] {
        let listed = reg
            .admin_get(&format!("/api/v1/repositories?order_by={order}&order=desc"))
            .await;
        assert_listing(&listed, 5, 20, 0);
    }
    reg.get("/api/v1/namespaces/nope/repositories", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");
    reg.get(
        "/api/v1/namespaces/team/repositories?namespace=other",
        Some(&auth),
    )
    .await
    .error_on(StatusCode::BAD_REQUEST, "invalid", "namespace");

    // PATCH: fields given change, `is_public: null` goes back to the namespace's.
    let changed = reg
        .call(
            Method::PATCH,
            "/api/v1/repositories/team/group/app",
            Some(&auth),
            Some(json!({"description": "new", "is_public": true})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(changed["description"], "new");
    assert_eq!(changed["category"], "web");
    assert_eq!(changed["is_public"], true);
    let inherited = reg
        .call(
            Method::PATCH,
            "/api/v1/repositories/team/group/app",
            Some(&auth),
            Some(json!({"is_public": null})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(inherited["is_public"], false);
    assert_eq!(inherited["inherits_visibility"], true);
    assert_eq!(inherited["description"], "new");
    reg.call(
        Method::PATCH,
        "/api/v1/repositories/team/nope",
        Some(&auth),
        Some(json!({"description": "x"})),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "repository");

    // Delete: gone from the API and from /v2 at once.
    reg.push_image("team/group/app", &["v1"], "nested", "amd64")
        .await;
    assert_eq!(
        reg.get("/v2/team/group/app/manifests/v1", Some(&auth))
            .await
            .status,
        StatusCode::OK
    );
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/team/group/app",
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.get("/api/v1/repositories/team/group/app", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "repository");
    assert_eq!(
        reg.get("/v2/team/group/app/manifests/v1", Some(&auth))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/team/group/app",
        Some(&auth),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "repository");
    assert_listing(&reg.admin_get("/api/v1/repositories").await, 4, 20, 0);
}

async fn counters_follow_pushes_pulls_and_deletes(reg: TestRegistry) {
    let auth = admin();
    let (one, one_size) = reg
        .push_image("team/app", &["v1", "latest"], "one", "amd64")
        .await;
    let (two, two_size) = reg.push_image("team/app", &["v2"], "two", "arm64").await;
    // An untagged manifest counts as a manifest, not as an image.
    let (three, three_size) = reg.push_image("team/app", &[], "three", "amd64").await;

    let repo = reg.repository("team/app").await;
    assert_eq!(repo["num_manifests"], 3);
    assert_eq!(repo["num_images"], 2);
    assert_eq!(repo["num_tags"], 3);
    assert_eq!(repo["size"], one_size + two_size + three_size);
    assert_eq!(repo["num_downloads"], 0);
    assert_time(&repo["last_pushed_at"]);
    assert_eq!(repo["last_pulled_at"], Value::Null);
    assert_eq!(
        reg.admin_get("/api/v1/namespaces/team").await["num_repositories"],
        1
    );

    // Pulls (GET by tag and by digest) count, HEADs do not; after the flush.
    for uri in [
        "/v2/team/app/manifests/v1".to_owned(),
        "/v2/team/app/manifests/v1".to_owned(),
        format!("/v2/team/app/manifests/{two}"),
    ] {
        assert_eq!(reg.get(&uri, Some(&auth)).await.status, StatusCode::OK);
    }
    let head = reg
        .raw(
            Method::HEAD,
            "/v2/team/app/manifests/v1",
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    reg.services.flush_downloads().await.unwrap();
    let repo = reg.repository("team/app").await;
    assert_eq!(repo["num_downloads"], 3);
    assert_time(&repo["last_pulled_at"]);
    let tag = reg
        .admin_get("/api/v1/repositories/team/app/-/tags/v1")
        .await;
    assert_eq!(tag["tag"]["downloads"], 2);
    assert_time(&tag["tag"]["last_pulled_at"]);
    assert_eq!(tag["artifact"]["downloads"], 2);
    let by_downloads = reg
        .admin_get("/api/v1/repositories/team/app/-/tags?order_by=downloads&order=desc")
        .await;
    assert_eq!(names(&by_downloads)[0], "v1");
    let artifact = reg
        .admin_get(&format!("/api/v1/repositories/team/app/-/artifacts/{two}"))
        .await;
    assert_eq!(artifact["artifact"]["downloads"], 1);
    // The native API's own reads are not downloads.
    reg.services.flush_downloads().await.unwrap();
    assert_eq!(reg.repository("team/app").await["num_downloads"], 3);

    // Deleting a tag: the manifest stays (an image while `latest` points at it).
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/team/app/-/tags/v1",
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    assert_eq!(
        reg.get("/v2/team/app/manifests/v1", Some(&auth))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.get("/v2/team/app/manifests/latest", Some(&auth))
            .await
            .status,
        StatusCode::OK
    );
    let repo = reg.repository("team/app").await;
    assert_eq!(repo["num_tags"], 2);
    assert_eq!(repo["num_images"], 2);
    assert_eq!(repo["num_manifests"], 3);
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/team/app/-/tags/v1",
        Some(&auth),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "tag");

    // Deleting an artifact takes its tags; its blobs stop counting.
    reg.call(
        Method::DELETE,
        &format!("/api/v1/repositories/team/app/-/artifacts/{one}"),
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    for uri in [
        format!("/v2/team/app/manifests/{one}"),
        "/v2/team/app/manifests/latest".to_owned(),
    ] {
        assert_eq!(
            reg.get(&uri, Some(&auth)).await.status,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
    let repo = reg.repository("team/app").await;
    assert_eq!(repo["num_manifests"], 2);
    assert_eq!(repo["num_images"], 1);
    assert_eq!(repo["num_tags"], 1);
    assert_eq!(repo["size"], two_size + three_size);
    reg.get(
        &format!("/api/v1/repositories/team/app/-/artifacts/{one}"),
        Some(&auth),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "manifest");
    reg.call(
        Method::DELETE,
        &format!("/api/v1/repositories/team/app/-/artifacts/{three}"),
        Some(&auth),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    let repo = reg.repository("team/app").await;
    assert_eq!(repo["num_manifests"], 1);
    assert_eq!(repo["size"], two_size);
    assert_eq!(repo["num_downloads"], 3, "past downloads stay counted");
    // The repository's other tag is still served.
    assert_eq!(
        reg.get("/v2/team/app/manifests/v2", Some(&auth))
            .await
            .status,
        StatusCode::OK
    );
}

async fn artifacts_tags_detail_layers_and_platforms(reg: TestRegistry) {
    let auth = admin();
    let (amd, _) = reg.push_image("team/app", &[], "amd", "amd64").await;
    let (arm, _) = reg.push_image("team/app", &[], "arm", "arm64").await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd, "size": 0,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": arm, "size": 0,
             "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    });
    // The index's descriptors must carry the right sizes.
    let size_of = |d: &Digest| {
        let d = d.clone();
        let reg = &reg;
        async move {
            reg.get(&format!("/v2/team/app/manifests/{d}"), Some(&admin()))
                .await
                .body
                .len()
        }
    };
    let mut index = index;
    index["manifests"][0]["size"] = json!(size_of(&amd).await);
    index["manifests"][1]["size"] = json!(size_of(&arm).await);
    let multi = reg
        .put_manifest("team/app", "multi", OCI_INDEX, &index, &auth)
        .await;
    let (single, single_size) = reg
        .push_image("team/app", &["single", "s2"], "solo", "amd64")
        .await;

    // Tags: paging, search, order.
    let tags = reg.admin_get("/api/v1/repositories/team/app/-/tags").await;
    assert_listing(&tags, 3, 20, 0);
    assert_eq!(names(&tags), ["multi", "s2", "single"]);
    let item = &tags["items"][2];
    assert_eq!(item["digest"], single.as_str());
    assert_eq!(item["media_type"], OCI_MANIFEST);
    assert_eq!(item["pushed_by"], "admin");
    assert_time(&item["pushed_at"]);
    assert_time(&item["created_at"]);
    assert_eq!(item["downloads"], 0);
    assert!(item["size"].as_u64().unwrap() > single_size);
    let page = reg
        .admin_get("/api/v1/repositories/team/app/-/tags?limit=1&offset=1&order=desc")
        .await;
    assert_listing(&page, 3, 1, 1);
    assert_eq!(names(&page), ["s2"]);
    let found = reg
        .admin_get("/api/v1/repositories/team/app/-/tags?search=S")
        .await;
    assert_eq!(names(&found), ["s2", "single"]);
    let pushed = reg
        .admin_get("/api/v1/repositories/team/app/-/tags?order_by=pushed&order=desc&limit=1")
        .await;
    assert_eq!(pushed["items"][0]["digest"], single.as_str());

    // Tag detail of an image: image info, history, labels, layers, the manifest.
    let detail = reg
        .admin_get("/api/v1/repositories/team/app/-/tags/single")
        .await;
    assert_eq!(detail["tag"]["name"], "single");
    assert_eq!(detail["artifact"]["digest"], single.as_str());
    assert_eq!(detail["artifact"]["tags"], json!(["s2", "single"]));
    let view = &detail["detail"];
    assert_eq!(view["digest"], single.as_str());
    assert_eq!(view["image"]["os"], "linux");
    assert_eq!(view["image"]["architecture"], "amd64");
    assert_eq!(view["image"]["created"], "2024-01-02T03:04:05Z");
    assert_eq!(view["image"]["labels"], json!({"seed": "solo"}));
    let history = view["image"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["created_by"], "COPY solo /");
    assert_eq!(history[0]["empty_layer"], false);
    assert_eq!(history[1]["empty_layer"], true);
    assert_eq!(view["layers"].as_array().unwrap().len(), 1);
    assert_eq!(view["layers"][0]["media_type"], OCI_LAYER);
    assert_eq!(view["config"]["media_type"], OCI_CONFIG);
    assert_eq!(
        view["annotations"]["org.opencontainers.image.title"],
        "solo"
    );
    assert_eq!(view["manifest"]["mediaType"], OCI_MANIFEST);
    assert_eq!(detail["platforms"], json!([]));
    // Once read, the image info shows in listings too.
    let artifacts = reg
        .admin_get("/api/v1/repositories/team/app/-/artifacts?tagged=true")
        .await;
    assert_listing(&artifacts, 2, 20, 0);
    let listed_single = artifacts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["digest"] == single.as_str())
        .unwrap();
    assert_eq!(listed_single["os"], "linux");
    assert_eq!(listed_single["architecture"], "amd64");

    // Tag detail of an index: each platform's image.
    let detail = reg
        .admin_get("/api/v1/repositories/team/app/-/tags/multi")
        .await;
    assert_eq!(detail["artifact"]["digest"], multi.as_str());
    assert_eq!(detail["detail"]["media_type"], OCI_INDEX);
    assert_eq!(detail["detail"]["layers"], json!([]));
    assert_eq!(detail["detail"]["image"], Value::Null);
    let platforms = detail["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    assert_eq!(platforms[0]["digest"], amd.as_str());
    assert_eq!(platforms[0]["platform"]["architecture"], "amd64");
    assert_eq!(platforms[0]["image"]["architecture"], "amd64");
    assert_eq!(platforms[1]["image"]["architecture"], "arm64");
    assert_eq!(platforms[1]["image"]["labels"], json!({"seed": "arm"}));
    assert_eq!(platforms[1]["layers"].as_array().unwrap().len(), 1);

    // Artifacts: all four manifests, newest first by default; paging and orders.
    let artifacts = reg
        .admin_get("/api/v1/repositories/team/app/-/artifacts")
        .await;
    assert_listing(&artifacts, 4, 20, 0);
    let first = &artifacts["items"][0];
    assert_eq!(first["digest"], single.as_str());
    assert_eq!(first["tags"], json!(["s2", "single"]));
    assert_eq!(first["pushed_by"], "admin");
    assert_eq!(first["config_digest"].as_str().unwrap().len(), 71);
    assert_eq!(
        first["annotations"]["org.opencontainers.image.title"],
        "solo"
    );
    assert_time(&first["created_at"]);
    let page = reg
        .admin_get("/api/v1/repositories/team/app/-/artifacts?limit=2&offset=2&order=asc")
        .await;
    assert_listing(&page, 4, 2, 2);
    assert_eq!(page["items"][0]["digest"], multi.as_str());
    for order in ["created", "size", "downloads"] {
        let listed = reg
            .admin_get(&format!(
                "/api/v1/repositories/team/app/-/artifacts?order_by={order}"
            ))
            .await;
        assert_listing(&listed, 4, 20, 0);
    }

    // One artifact by digest (also with the colon encoded), and its layers.
    let got = reg
        .admin_get(&format!("/api/v1/repositories/team/app/-/artifacts/{amd}"))
        .await;
    assert_eq!(got["artifact"]["digest"], amd.as_str());
    assert_eq!(got["artifact"]["tags"], json!([]));
    assert_eq!(got["detail"]["image"]["architecture"], "amd64");
    let encoded = amd.as_str().replace(':', "%3A");
    assert_eq!(
        reg.admin_get(&format!(
            "/api/v1/repositories/team/app/-/artifacts/{encoded}"
        ))
        .await,
        got
    );
    let layers = reg
        .admin_get(&format!(
            "/api/v1/repositories/team/app/-/artifacts/{amd}/layers"
        ))
        .await;
    assert_listing(&layers, 1, 20, 0);
    assert_eq!(layers["items"][0]["media_type"], OCI_LAYER);
    assert_eq!(layers["items"][0]["size"], "layer of amd".len());
    let none = reg
        .admin_get(&format!(
            "/api/v1/repositories/team/app/-/artifacts/{multi}/layers"
        ))
        .await;
    assert_listing(&none, 0, 20, 0);
    let missing = Digest::sha256(b"missing");
    reg.get(
        &format!("/api/v1/repositories/team/app/-/artifacts/{missing}/layers"),
        Some(&auth),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "manifest");
    reg.get("/api/v1/repositories/team/app/-/tags/nope", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "tag");
    reg.get("/api/v1/repositories/team/nope/-/tags", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "repository");
}

async fn bad_input_is_refused_and_changes_nothing(reg: TestRegistry) {
    let auth = admin();
    reg.create_namespace("team", false).await;
    reg.create_user("alice").await;
    reg.put_member("team", "alice", "read").await;
    reg.push_image("team/app", &["v1"], "bad", "amd64").await;
    let before = reg.state().await;

    let json_cases: Vec<(Method, &str, &str, &str)> = vec![
        // (method, uri, body, target)
        (Method::POST, "/api/v1/namespaces", "{", "body"),
        (Method::POST, "/api/v1/namespaces", "", "body"),
        (Method::POST, "/api/v1/namespaces", "[\"x\"]", "body"),
        (Method::POST, "/api/v1/namespaces", "\"x\"", "body"),
        (
            Method::POST,
            "/api/v1/namespaces",
            r#"{"name": "x", "color": 1}"#,
            "color",
        ),
        (Method::POST, "/api/v1/namespaces", r#"{"name": 5}"#, "name"),
        (
            Method::POST,
            "/api/v1/namespaces",
            r#"{"description": "no name"}"#,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/namespaces",
            r#"{"name": "x"} {"name": "y"}"#,
            "body",
        ),
        (
            Method::POST,
            "/api/v1/namespaces",
            r#"{"name": "x", "name": "y"}"#,
            "name",
        ),
        (
            Method::PATCH,
            "/api/v1/namespaces/team",
            r#"{"is_public": "yes"}"#,
            "is_public",
        ),
        (
            Method::PATCH,
            "/api/v1/namespaces/team",
            r#"{"owner": "x"}"#,
            "owner",
        ),
        (Method::PATCH, "/api/v1/namespaces/team", "", "body"),
        (
            Method::PUT,
            "/api/v1/namespaces/team/members/alice",
            r#"{"level": "root"}"#,
            "level",
        ),
        (
            Method::PUT,
            "/api/v1/namespaces/team/members/bob",
            r#"{"level": "read", "x": 1}"#,
            "x",
        ),
        (
            Method::POST,
            "/api/v1/repositories",
            r#"{"name": "team/x", "public": true}"#,
            "public",
        ),
        (
            Method::POST,
            "/api/v1/repositories",
            r#"{"name": "team/UPPER"}"#,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/repositories",
            r#"{"name": ""}"#,
            "name",
        ),
        (
            Method::PATCH,
            "/api/v1/repositories/team/app",
            r#"{"is_public": 1}"#,
            "is_public",
        ),
        (
            Method::PATCH,
            "/api/v1/repositories/team/app",
            r#"{"name": "team/y"}"#,
            "name",
        ),
        (Method::PATCH, "/api/v1/repositories/team/app", "", "body"),
        (
            Method::POST,
            "/api/v1/users",
            r#"{"name": "bob"}"#,
            "password",
        ),
        (
            Method::POST,
            "/api/v1/users",
            r#"{"name": "bob", "password": "short"}"#,
            "password",
        ),
        (
            Method::POST,
            "/api/v1/users",
            r#"{"name": "b o b", "password": "long enough"}"#,
            "name",
        ),
        (
            Method::PATCH,
            "/api/v1/users/alice",
            r#"{"password": "short"}"#,
            "password",
        ),
        (
            Method::PATCH,
            "/api/v1/users/alice",
            r#"{"role": "admin"}"#,
            "role",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            r#"{"level": "read"}"#,
            "level",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            r#"{"namespace": "Bad NS"}"#,
            "namespace",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            r#"{"expires_in_secs": -5}"#,
            "expires_in_secs",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            r#"{"expires_in_secs": 0}"#,
            "expires_in_secs",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            r#"{"name": ""}"#,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            r#"{"scope": "all"}"#,
            "scope",
        ),
        (
            Method::POST,
            "/api/v1/users/admin/keys",
            r#"{"name": ""}"#,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/namespaces/team/robots",
            r#"{"name": "ci"}"#,
            "level",
        ),
        (
            Method::POST,
            "/api/v1/namespaces/team/robots",
            r#"{"name": "c i", "level": "read"}"#,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/namespaces/team/robots",
            r#"{"name": "ci", "level": "read", "expires_in_secs": 0}"#,
            "expires_in_secs",
        ),
    ];
    for (method, uri, body, target) in json_cases {
        let r = reg
            .raw(
                method.clone(),
                uri,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                body.to_owned(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {uri} {body}: {}",
            r.text()
        );
        let error = r.error_on(StatusCode::BAD_REQUEST, "invalid", target);
        assert!(!error["message"].as_str().unwrap().is_empty());
    }

    // Not JSON, and too large.
    reg.raw(
        Method::POST,
        "/api/v1/namespaces",
        &[
            ("authorization", &auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "name=x",
    )
    .await
    .error_on(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "content-type",
    );
    let huge = format!(
        r#"{{"name": "x", "description": "{}"}}"#,
        "d".repeat(70 * 1024)
    );
    reg.raw(
        Method::POST,
        "/api/v1/namespaces",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        huge.clone(),
    )
    .await
    .error_on(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body");
    reg.raw(
        Method::PATCH,
        "/api/v1/repositories/team/app",
        &[("authorization", &auth)],
        huge,
    )
    .await
    .error_on(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body");

    // Query parameters: paging out of range, unknown names, bad values.
    let query_cases = [
        ("/api/v1/namespaces?limit=0", "limit"),
        ("/api/v1/namespaces?limit=1001", "limit"),
        ("/api/v1/namespaces?limit=-1", "limit"),
        ("/api/v1/namespaces?limit=ten", "limit"),
        ("/api/v1/namespaces?limit=99999999999999999999", "limit"),
        ("/api/v1/namespaces?offset=-1", "offset"),
        ("/api/v1/namespaces?offset=x", "offset"),
        ("/api/v1/namespaces?order_by=size", "order_by"),
        ("/api/v1/namespaces?order=up", "order"),
        ("/api/v1/namespaces?search=", "search"),
        ("/api/v1/namespaces?page=2", "page"),
        ("/api/v1/namespaces?limit=1&limit=2", "limit"),
        ("/api/v1/repositories?order_by=stars", "order_by"),
        ("/api/v1/repositories?limit=5000", "limit"),
        ("/api/v1/namespaces/team/repositories?offset=-3", "offset"),
        ("/api/v1/namespaces/team/members?limit=0", "limit"),
        ("/api/v1/repositories/team/app?details=true", "details"),
        ("/api/v1/repositories/team/app/-/tags?limit=0", "limit"),
        (
            "/api/v1/repositories/team/app/-/tags?order_by=size",
            "order_by",
        ),
        ("/api/v1/repositories/team/app/-/tags?sort=name", "sort"),
        (
            "/api/v1/repositories/team/app/-/artifacts?tagged=maybe",
            "tagged",
        ),
        (
            "/api/v1/repositories/team/app/-/artifacts?order_by=name",
            "order_by",
        ),
        ("/api/v1/repositories/team/app/-/tags/v1?x=1", "x"),
        ("/api/v1/users?limit=1001", "limit"),
        ("/api/v1/users/admin/tokens?offset=-1", "offset"),
        ("/api/v1/audit?since=yesterday", "since"),
        ("/api/v1/audit?until=2024-13-01T00:00:00Z", "until"),
        ("/api/v1/audit?limit=0", "limit"),
        ("/api/v1/audit?who=admin", "who"),
    ];
    for (uri, target) in query_cases {
        reg.get(uri, Some(&auth))
            .await
            .error_on(StatusCode::BAD_REQUEST, "invalid", target);
    }

    // Paths: names, digests and tags that break their grammar; unknown endpoints; methods.
    let path_cases = [
        ("/api/v1/repositories/Team/App", "name"),
        ("/api/v1/repositories/team//app", "name"),
        ("/api/v1/repositories/team/app/", "name"),
        ("/api/v1/repositories/team/app/-/tags/bad%20tag", "tag"),
        (
            "/api/v1/repositories/team/app/-/artifacts/sha256:123",
            "digest",
        ),
        (
            "/api/v1/repositories/team/app/-/artifacts/md5:abc",
            "digest",
        ),
        ("/api/v1/repositories/team/%ff", "name"),
    ];
    for (uri, target) in path_cases {
        reg.get(uri, Some(&auth))
            .await
            .error_on(StatusCode::BAD_REQUEST, "invalid", target);
    }
    for uri in [
        "/api/v1/nothing",
        "/api/v1",
        "/api/v1/repositories/team/app/-/stars",
        "/api/v1/repositories/team/app/-/tags/v1/more",
        "/api/v1/namespaces/team/charts-not-yet",
    ] {
        let error = reg
            .get(uri, Some(&auth))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(error.get("target"), None, "{uri}: {error}");
    }
    for (method, uri) in [
        (Method::PUT, "/api/v1/namespaces"),
        (Method::POST, "/api/v1/namespaces/team"),
        (Method::DELETE, "/api/v1/users"),
        (Method::POST, "/api/v1/repositories/team/app"),
        (Method::PUT, "/api/v1/repositories/team/app/-/tags/v1"),
        (Method::POST, "/api/v1/repositories/team/app/-/tags"),
        (Method::DELETE, "/api/v1/repositories/team/app/-/artifacts"),
        (Method::POST, "/api/v1/openapi.json"),
    ] {
        reg.call(method, uri, Some(&auth), None)
            .await
            .error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }

    // Bad credentials come first, in the same shape.
    reg.get(
        "/api/v1/namespaces?limit=0",
        Some(&basic("admin", "wrong-password")),
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    reg.get("/api/v1/namespaces", Some("Digest abc"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    reg.get("/api/v1/namespaces", Some("Bearer bth_nope_nope"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    assert_eq!(reg.state().await, before, "bad input changed something");
}

async fn concurrent_pushes_keep_counters_right(reg: TestRegistry) {
    let reg = Arc::new(reg);
    reg.create_namespace("team", false).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let reg = reg.clone();
            tokio::spawn(async move {
                let tag = format!("t{i}");
                let (digest, size) = reg
                    .push_image(
                        "team/app",
                        &[&tag, &format!("{tag}-alias")],
                        &format!("c{i}"),
                        "amd64",
                    )
                    .await;
                // Pull it while others push.
                for _ in 0..3 {
                    let r = reg
                        .get(&format!("/v2/team/app/manifests/{tag}"), Some(&admin()))
                        .await;
                    assert_eq!(r.status, StatusCode::OK);
                }
                (digest, size)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap().1;
    }
    // One more image pushed by two clients at once under the same tag.
    let (a, b) = tokio::join!(
        reg.push_image("team/app", &["same"], "same", "amd64"),
        reg.push_image("team/app", &["same"], "same", "amd64"),
    );
    assert_eq!(a, b);
    total += a.1;
    reg.services.flush_downloads().await.unwrap();
    let repo = reg.repository("team/app").await;
    assert_eq!(repo["num_manifests"], 9);
    assert_eq!(repo["num_images"], 9);
    assert_eq!(repo["num_tags"], 17);
    assert_eq!(repo["size"], total);
    assert_eq!(repo["num_downloads"], 24);
    let tags = reg
        .admin_get("/api/v1/repositories/team/app/-/tags?limit=1000")
        .await;
    assert_listing(&tags, 17, 1000, 0);
    let artifacts = reg
        .admin_get("/api/v1/repositories/team/app/-/artifacts?limit=1000")
        .await;
    assert_listing(&artifacts, 9, 1000, 0);
    assert_eq!(
        reg.admin_get("/api/v1/namespaces/team").await["num_repositories"],
        1
    );
}

async fn who_may_do_what(reg: TestRegistry) {
    let auth = admin();
    reg.create_namespace("private", false).await;
    reg.create_namespace("public", true).await;
    reg.push_image("private/app", &["v1", "v2"], "private", "amd64")
        .await;
    reg.push_image("public/app", &["v1"], "public", "amd64")
        .await;
    let reader = reg.create_user("reader").await;
    let writer = reg.create_user("writer").await;
    let manager = reg.create_user("manager").await;
    let stranger = reg.create_user("stranger").await;
    reg.put_member("private", "reader", "read").await;
    reg.put_member("private", "writer", "write").await;
    reg.put_member("private", "manager", "manage").await;

    // Anonymous: the public namespace only, totals counting only that; 401 where logging
    // in would help.
    let listed = reg.get("/api/v1/namespaces", None).await.ok(StatusCode::OK);
    assert_listing(&listed, 1, 20, 0);
    assert_eq!(names(&listed), ["public"]);
    assert_eq!(listed["items"][0]["level"], "read");
    let repos = reg
        .get("/api/v1/repositories", None)
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(&repos), ["public/app"]);
    assert_listing(&repos, 1, 20, 0);
    reg.get("/api/v1/repositories/public/app/-/tags/v1", None)
        .await
        .ok(StatusCode::OK);
    for uri in [
        "/api/v1/namespaces/private",
        "/api/v1/repositories/private/app",
        "/api/v1/repositories/private/app/-/tags",
        "/api/v1/namespaces/private/members",
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/users/reader/tokens",
    ] {
        reg.get(uri, None)
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    reg.call(
        Method::POST,
        "/api/v1/namespaces",
        None,
        Some(json!({"name": "mine"})),
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/public/app/-/tags/v1",
        None,
        None,
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // A stranger: private things do not exist for it.
    let listed = reg
        .get("/api/v1/namespaces", Some(&stranger))
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(&listed), ["public"]);
    for uri in [
        "/api/v1/namespaces/private",
        "/api/v1/repositories/private/app",
        "/api/v1/repositories/private/app/-/tags/v1",
        "/api/v1/namespaces/private/repositories",
    ] {
        reg.get(uri, Some(&stranger))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    }
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/public/app/-/tags/v1",
        Some(&stranger),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(
        Method::POST,
        "/api/v1/namespaces",
        Some(&stranger),
        Some(json!({"name": "mine"})),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");

    // A reader: reads, with its level shown; nothing more.
    let ns = reg
        .get("/api/v1/namespaces/private", Some(&reader))
        .await
        .ok(StatusCode::OK);
    assert_eq!(ns["level"], "read");
    let listed = reg
        .get("/api/v1/namespaces", Some(&reader))
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(&listed), ["private", "public"]);
    for uri in [
        "/api/v1/repositories/private/app",
        "/api/v1/repositories/private/app/-/tags",
        "/api/v1/repositories/private/app/-/tags/v1",
        "/api/v1/repositories/private/app/-/artifacts",
        "/api/v1/namespaces/private/members",
        "/api/v1/namespaces/private/repositories",
    ] {
        reg.get(uri, Some(&reader)).await.ok(StatusCode::OK);
    }
    let denied = [
        (
            Method::DELETE,
            "/api/v1/repositories/private/app/-/tags/v1",
            None,
        ),
        (Method::DELETE, "/api/v1/repositories/private/app", None),
        (
            Method::PATCH,
            "/api/v1/repositories/private/app",
            Some(json!({"description": "x"})),
        ),
        (
            Method::PATCH,
            "/api/v1/namespaces/private",
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, "/api/v1/namespaces/private", None),
        (
            Method::PUT,
            "/api/v1/namespaces/private/members/stranger",
            Some(json!({"level": "read"})),
        ),
        (
            Method::POST,
            "/api/v1/repositories",
            Some(json!({"name": "private/new"})),
        ),
        (Method::GET, "/api/v1/namespaces/private/robots", None),
        (Method::GET, "/api/v1/users", None),
        (Method::GET, "/api/v1/audit", None),
        (Method::GET, "/api/v1/users/writer", None),
        (Method::GET, "/api/v1/users/writer/tokens", None),
    ];
    for (method, uri, body) in denied {
        reg.call(method.clone(), uri, Some(&reader), body)
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    }

    // A writer: creates repositories, but deletes nothing.
    let writer_ns = reg
        .get("/api/v1/namespaces/private", Some(&writer))
        .await
        .ok(StatusCode::OK);
    assert_eq!(writer_ns["level"], "write");
    // Listed, each namespace carries the caller's own level (one membership query a page).
    for (who, level) in [(&reader, "read"), (&writer, "write"), (&manager, "manage")] {
        let listed = reg
            .get("/api/v1/namespaces", Some(who))
            .await
            .ok(StatusCode::OK);
        let levels: Vec<(&str, &str)> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].as_str().unwrap(), n["level"].as_str().unwrap()))
            .collect();
        assert_eq!(levels, [("private", level), ("public", "read")], "{listed}");
    }
    reg.call(
        Method::POST,
        "/api/v1/repositories",
        Some(&writer),
        Some(json!({"name": "private/new"})),
    )
    .await
    .ok(StatusCode::CREATED);
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/private/new",
        Some(&writer),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");

    // A manager: changes, deletes, manages members and robots.
    assert_eq!(
        reg.get("/api/v1/namespaces/private", Some(&manager))
            .await
            .ok(StatusCode::OK)["level"],
        "manage"
    );
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/private/app/-/tags/v2",
        Some(&manager),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::PATCH,
        "/api/v1/repositories/private/app",
        Some(&manager),
        Some(json!({"description": "managed"})),
    )
    .await
    .ok(StatusCode::OK);
    reg.call(
        Method::PUT,
        "/api/v1/namespaces/private/members/stranger",
        Some(&manager),
        Some(json!({"level": "read"})),
    )
    .await
    .ok(StatusCode::OK);
    reg.get("/api/v1/namespaces/private/robots", Some(&manager))
        .await
        .ok(StatusCode::OK);
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/private/new",
        Some(&manager),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    // The stranger is a reader now: it sees the namespace.
    reg.get("/api/v1/repositories/private/app", Some(&stranger))
        .await
        .ok(StatusCode::OK);
    // Managers of one namespace are nobody in another.
    reg.call(
        Method::DELETE,
        "/api/v1/repositories/public/app/-/tags/v1",
        Some(&manager),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.get("/api/v1/users", Some(&manager))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");

    // The administrator sees and does everything.
    let listed = reg
        .get("/api/v1/namespaces", Some(&auth))
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(&listed), ["private", "public"]);
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["level"] == "manage")
    );
    reg.admin_get("/api/v1/users").await;
    reg.admin_get("/api/v1/audit").await;
}

async fn users_and_passwords(reg: TestRegistry) {
    let auth = admin();
    let created = reg
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&auth),
            Some(json!({"name": "alice", "password": USER_PASSWORD})),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["name"], "alice");
    assert_eq!(created["admin"], false);
    assert_eq!(created["disabled"], false);
    assert_time(&created["created_at"]);
    assert!(!created.to_string().contains("password"), "{created}");
    reg.call(
        Method::POST,
        "/api/v1/users",
        Some(&auth),
        Some(json!({"name": "alice", "password": USER_PASSWORD})),
    )
    .await
    .error_on(StatusCode::CONFLICT, "already_exists", "user");
    let alice = basic("alice", USER_PASSWORD);
    reg.create_user("bob").await;

    let users = reg.admin_get("/api/v1/users").await;
    assert_listing(&users, 3, 20, 0);
    assert_eq!(names(&users), ["admin", "alice", "bob"]);
    assert!(!users.to_string().contains("hash"));
    let page = reg.admin_get("/api/v1/users?limit=1&offset=1").await;
    assert_listing(&page, 3, 1, 1);
    assert_eq!(names(&page), ["alice"]);

    // Itself: yes; another: no; admin: any.
    assert_eq!(
        reg.get("/api/v1/users/alice", Some(&alice))
            .await
            .ok(StatusCode::OK)["name"],
        "alice"
    );
    reg.get("/api/v1/users/bob", Some(&alice))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    reg.admin_get("/api/v1/users/bob").await;
    reg.get("/api/v1/users/nobody", Some(&auth)).await.error_on(
        StatusCode::NOT_FOUND,
        "not_found",
        "user",
    );

    // A user changes its own password; the old one stops working at once.
    let new_password = "alice-new-password";
    reg.call(
        Method::PATCH,
        "/api/v1/users/alice",
        Some(&alice),
        Some(json!({"password": new_password})),
    )
    .await
    .ok(StatusCode::OK);
    reg.get("/api/v1/users/alice", Some(&alice))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let alice = basic("alice", new_password);
    reg.get("/api/v1/users/alice", Some(&alice))
        .await
        .ok(StatusCode::OK);
    // Not another's, and not its own admin flag.
    reg.call(
        Method::PATCH,
        "/api/v1/users/bob",
        Some(&alice),
        Some(json!({"password": "stolen-password"})),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(
        Method::PATCH,
        "/api/v1/users/alice",
        Some(&alice),
        Some(json!({"admin": true})),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(
        Method::POST,
        "/api/v1/users",
        Some(&alice),
        Some(json!({"name": "eve", "password": USER_PASSWORD})),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");

    // The administrator makes alice an administrator, disables bob, deletes bob.
    let changed = reg
        .call(
            Method::PATCH,
            "/api/v1/users/alice",
            Some(&auth),
            Some(json!({"admin": true})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(changed["admin"], true);
    // Taking administration away works at once.
    reg.call(
        Method::POST,
        "/api/v1/users",
        Some(&auth),
        Some(json!({"name": "root2", "password": USER_PASSWORD, "admin": true})),
    )
    .await
    .ok(StatusCode::CREATED);
    let root2 = basic("root2", USER_PASSWORD);
    reg.get("/api/v1/users", Some(&root2))
        .await
        .ok(StatusCode::OK);
    let demoted = reg
        .call(
            Method::PATCH,
            "/api/v1/users/root2",
            Some(&auth),
            Some(json!({"admin": false})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(demoted["admin"], false);
    reg.get("/api/v1/users", Some(&root2))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let bob = basic("bob", USER_PASSWORD);
    reg.get("/api/v1/users/bob", Some(&bob))
        .await
        .ok(StatusCode::OK);
    let disabled = reg
        .call(
            Method::PATCH,
            "/api/v1/users/bob",
            Some(&auth),
            Some(json!({"disabled": true})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(disabled["disabled"], true);
    reg.get("/api/v1/users/bob", Some(&bob))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    reg.call(Method::DELETE, "/api/v1/users/bob", Some(&auth), None)
        .await
        .ok(StatusCode::NO_CONTENT);
    reg.call(Method::DELETE, "/api/v1/users/bob", Some(&auth), None)
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "user");
    reg.call(Method::DELETE, "/api/v1/users/admin", Some(&auth), None)
        .await
        .error(StatusCode::CONFLICT, "conflict");
    reg.call(
        Method::PATCH,
        "/api/v1/users/nobody",
        Some(&auth),
        Some(json!({"disabled": true})),
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "user");
    assert_eq!(
        names(&reg.admin_get("/api/v1/users").await),
        ["admin", "alice", "root2"]
    );
}

async fn tokens_robots_keys_and_audit(reg: TestRegistry) {
    let auth = admin();
    reg.create_namespace("team", false).await;
    let alice = reg.create_user("alice").await;
    reg.put_member("team", "alice", "manage").await;

    // Tokens: the secret once; works as Basic password and as Bearer; listed without it.
    let token = reg
        .call(
            Method::POST,
            "/api/v1/users/alice/tokens",
            Some(&alice),
            Some(json!({"name": "ci", "expires_in_secs": 3600})),
        )
        .await
        .ok(StatusCode::CREATED);
    let secret = token["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("bth_"), "{token}");
    assert_eq!(token["name"], "ci");
    assert_time(&token["expires_at"]);
    assert_eq!(token["namespace"], Value::Null);
    let id = token["id"].as_str().unwrap().to_owned();
    // The body may be left out (the Docker Cloud clients' tests do).
    let plain = reg
        .call(
            Method::POST,
            "/api/v1/users/alice/tokens",
            Some(&alice),
            None,
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(plain["name"], "api-key");
    assert_eq!(plain["expires_at"], Value::Null);
    let limited = reg
        .call(
            Method::POST,
            "/api/v1/users/alice/tokens",
            Some(&alice),
            Some(json!({"name": "ro", "namespace": "team", "level": "read"})),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(limited["namespace"], "team");
    assert_eq!(limited["level"], "read");

    let with_token = basic("alice", &secret);
    let bearer = format!("Bearer {secret}");
    for who in [&with_token, &bearer] {
        reg.get("/api/v1/namespaces/team", Some(who))
            .await
            .ok(StatusCode::OK);
    }
    // A token limited to read cannot manage; nor can a token create tokens.
    let ro = basic("alice", limited["token"].as_str().unwrap());
    assert_eq!(
        reg.get("/api/v1/namespaces/team", Some(&ro))
            .await
            .ok(StatusCode::OK)["level"],
        "read"
    );
    let listed = reg
        .get("/api/v1/namespaces?search=team", Some(&ro))
        .await
        .ok(StatusCode::OK);
    assert_eq!(listed["items"][0]["name"], "team", "{listed}");
    assert_eq!(listed["items"][0]["level"], "read", "{listed}");
    reg.call(
        Method::PATCH,
        "/api/v1/namespaces/team",
        Some(&ro),
        Some(json!({"description": "x"})),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(Method::POST, "/api/v1/users/alice/tokens", Some(&ro), None)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");

    let tokens = reg
        .get("/api/v1/users/alice/tokens", Some(&alice))
        .await
        .ok(StatusCode::OK);
    assert_listing(&tokens, 3, 20, 0);
    assert!(
        !tokens.to_string().contains(&secret[8..]),
        "a secret is listed"
    );
    assert!(tokens["items"][0].get("token").is_none());
    // The same list for an administrator (last use is written in the background, so it may
    // have moved in between).
    let without_last_use = |mut listing: Value| {
        for item in listing["items"].as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("last_used_at");
        }
        listing
    };
    assert_eq!(
        without_last_use(reg.admin_get("/api/v1/users/alice/tokens").await),
        without_last_use(tokens.clone())
    );
    let page = reg
        .get("/api/v1/users/alice/tokens?limit=2&offset=2", Some(&alice))
        .await
        .ok(StatusCode::OK);
    assert_listing(&page, 3, 2, 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // Tokens are made by their own user.
    reg.call(
        Method::POST,
        "/api/v1/users/alice/tokens",
        Some(&auth),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(Method::POST, "/api/v1/users/admin/tokens", None, None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Revoked: refused at once, and shown revoked.
    reg.call(
        Method::DELETE,
        &format!("/api/v1/users/alice/tokens/{id}"),
        Some(&alice),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    for who in [&with_token, &bearer] {
        reg.get("/api/v1/namespaces/team", Some(who))
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let tokens = reg.admin_get("/api/v1/users/alice/tokens").await;
    let revoked = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_time(&revoked["revoked_at"]);
    // Another user's tokens: forbidden; its id under one's own name, or an unknown id:
    // not found.
    let admin_token = reg
        .call(
            Method::POST,
            "/api/v1/users/admin/tokens",
            Some(&auth),
            None,
        )
        .await
        .ok(StatusCode::CREATED);
    reg.call(
        Method::DELETE,
        &format!(
            "/api/v1/users/admin/tokens/{}",
            admin_token["id"].as_str().unwrap()
        ),
        Some(&alice),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(
        Method::DELETE,
        &format!(
            "/api/v1/users/alice/tokens/{}",
            admin_token["id"].as_str().unwrap()
        ),
        Some(&alice),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "token");
    reg.call(
        Method::DELETE,
        &format!(
            "/api/v1/users/alice/tokens/{}",
            admin_token["id"].as_str().unwrap()
        ),
        Some(&auth),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "token");
    reg.call(
        Method::DELETE,
        "/api/v1/users/alice/tokens/nope",
        Some(&alice),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "token");

    // Robots: created by a manager, secret once, push with it, deleted.
    let robot = reg
        .call(
            Method::POST,
            "/api/v1/namespaces/team/robots",
            Some(&alice),
            Some(json!({"name": "ci", "level": "write"})),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(robot["name"], "robot$team+ci");
    assert_eq!(robot["namespace"], "team");
    assert_eq!(robot["level"], "write");
    assert_eq!(robot["expires_at"], Value::Null);
    let robot_auth = basic("robot$team+ci", robot["token"].as_str().unwrap());
    reg.push_blob("team/from-robot", b"robot data", &robot_auth)
        .await;
    reg.call(
        Method::POST,
        "/api/v1/namespaces/team/robots",
        Some(&alice),
        Some(json!({"name": "ci", "level": "read"})),
    )
    .await
    .error(StatusCode::CONFLICT, "already_exists");
    reg.call(
        Method::POST,
        "/api/v1/namespaces/team/robots",
        Some(&alice),
        Some(json!({"name": "tmp", "level": "read", "expires_in_secs": 60})),
    )
    .await
    .ok(StatusCode::CREATED);
    let robots = reg
        .get("/api/v1/namespaces/team/robots", Some(&alice))
        .await
        .ok(StatusCode::OK);
    assert_listing(&robots, 2, 20, 0);
    assert_eq!(names(&robots), ["robot$team+ci", "robot$team+tmp"]);
    assert_time(&robots["items"][1]["expires_at"]);
    assert!(robots["items"][0].get("token").is_none());
    reg.get("/api/v1/namespaces/nope/robots", Some(&auth))
        .await
        .error_on(StatusCode::NOT_FOUND, "not_found", "namespace");
    // Deleted by short or full name; its logins end.
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team/robots/ci",
        Some(&alice),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team/robots/robot$team+tmp",
        Some(&alice),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/team/robots/ci",
        Some(&alice),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    reg.get("/api/v1/namespaces/team", Some(&robot_auth))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_listing(
        &reg.admin_get("/api/v1/namespaces/team/robots").await,
        0,
        20,
        0,
    );

    // Access keys: the secret once, listed without it, revoked.
    let key = reg
        .call(
            Method::POST,
            "/api/v1/users/alice/keys",
            Some(&alice),
            Some(json!({"name": "swr"})),
        )
        .await
        .ok(StatusCode::CREATED);
    let ak = key["access_key"].as_str().unwrap().to_owned();
    let sk = key["secret_key"].as_str().unwrap().to_owned();
    assert_eq!(ak.len(), 20);
    assert!(sk.len() >= 40);
    assert_eq!(key["name"], "swr");
    reg.call(Method::POST, "/api/v1/users/alice/keys", Some(&alice), None)
        .await
        .ok(StatusCode::CREATED);
    let keys = reg
        .get("/api/v1/users/alice/keys", Some(&alice))
        .await
        .ok(StatusCode::OK);
    assert_listing(&keys, 2, 20, 0);
    assert!(!keys.to_string().contains(&sk));
    // Keys are not tokens, and tokens are not keys.
    let tokens = reg.admin_get("/api/v1/users/alice/tokens").await;
    assert!(!tokens.to_string().contains(&ak));
    reg.call(
        Method::DELETE,
        &format!("/api/v1/users/alice/tokens/{ak}"),
        Some(&alice),
        None,
    )
    .await
    .error_on(StatusCode::NOT_FOUND, "not_found", "token");
    reg.call(
        Method::DELETE,
        &format!("/api/v1/users/alice/keys/{ak}"),
        Some(&alice),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    let keys = reg.admin_get("/api/v1/users/alice/keys").await;
    let revoked = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key"] == ak.as_str())
        .unwrap();
    assert_time(&revoked["revoked_at"]);
    reg.call(Method::POST, "/api/v1/users/bob/keys", Some(&alice), None)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");

    // The audit log: filters and paging, newest first, for administrators.
    let all = reg.admin_get("/api/v1/audit?limit=1000").await;
    let total = all["total"].as_u64().unwrap();
    assert!(total >= 10, "{all}");
    let first = &all["items"][0];
    for field in [
        "id", "at", "actor", "action", "resource", "source", "result", "detail",
    ] {
        assert!(first.get(field).is_some(), "{field}: {first}");
    }
    assert_time(&first["at"]);
    let created = reg
        .admin_get("/api/v1/audit?action=token.create&actor=alice")
        .await;
    assert_eq!(created["total"], 3, "{created}");
    assert!(
        created["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "token.create" && e["actor"] == "alice" && e["result"] == "ok")
    );
    let robots = reg.admin_get("/api/v1/audit?resource=robot%24team").await;
    assert_eq!(robots["total"], 4, "{robots}");
    let page = reg.admin_get("/api/v1/audit?limit=2&offset=1").await;
    assert_listing(&page, total, 2, 1);
    assert_eq!(page["items"][0], all["items"][1]);
    let future = reg
        .admin_get("/api/v1/audit?since=2999-01-01T00:00:00Z")
        .await;
    assert_listing(&future, 0, 20, 0);
    let past = reg
        .admin_get("/api/v1/audit?until=2000-01-01T00:00:00Z")
        .await;
    assert_listing(&past, 0, 20, 0);
    let window = reg
        .admin_get("/api/v1/audit?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B00:00")
        .await;
    assert_eq!(window["total"], total);
    reg.get("/api/v1/audit", Some(&alice))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
}

async fn openapi_document_is_served(reg: TestRegistry) {
    let served = reg
        .get("/api/v1/openapi.json", None)
        .await
        .ok(StatusCode::OK);
    let built: Value =
        serde_json::from_str(&berth_api::native::openapi().to_json().unwrap()).unwrap();
    assert_eq!(served, built);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/api/v1/repositories/{name}/-/tags/{tag}"]["get"].is_object());
}

/// Every operation of the document reaches a handler: an answer of its own (a success, or
/// an error naming what it is about), never the catch-all's "no such endpoint" or a 405. A
/// route added to the document without a handler, or the reverse, fails here or in the
/// snapshot.
async fn every_documented_operation_is_routed(reg: TestRegistry) {
    reg.create_namespace("team", false).await;
    reg.push_image("team/app", &["v1"], "routed", "amd64").await;
    let document: Value =
        serde_json::from_str(&berth_api::native::openapi().to_json().unwrap()).unwrap();
    let digest = Digest::sha256(b"not there").to_string();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{namespace}", "team")
            .replace("{digest}", &digest)
            .replace("{tag}", "nope")
            .replace("{username}", "nobody")
            .replace("{id}", "nope")
            .replace("{access_key}", "NOPE")
            .replace("{prefix}", "nope")
            .replace("{chart}", "nope")
            .replace("{version}", "0.0.1");
        let concrete = if concrete.starts_with("/api/v1/repositories/") {
            concrete.replace("{name}", "team/app")
        } else {
            concrete.replace("{name}", "nobody")
        };
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let r = reg
                .call(method.clone(), &concrete, Some(&admin()), None)
                .await;
            operations += 1;
            assert_ne!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete}: {}",
                r.text()
            );
            if r.status == StatusCode::NOT_FOUND {
                let error = r.json()["error"].clone();
                assert!(
                    error["target"].is_string(),
                    "{method} {concrete} fell through to no endpoint: {error}"
                );
            }
        }
    }
    assert_eq!(operations, 49, "operations in the document");
}

/// Without authentication (the in-process default), everyone may do everything.
#[tokio::test]
async fn open_mode_lets_anonymous_manage() {
    let reg = common::embedded(ServiceConfig::default()).await;
    let ns = reg
        .call(
            Method::POST,
            "/api/v1/namespaces",
            None,
            Some(json!({"name": "open"})),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(ns["creator"], "anonymous");
    assert_eq!(ns["level"], "manage");
    reg.call(
        Method::POST,
        "/api/v1/repositories",
        None,
        Some(json!({"name": "open/app"})),
    )
    .await
    .ok(StatusCode::CREATED);
    reg.call(Method::DELETE, "/api/v1/repositories/open/app", None, None)
        .await
        .ok(StatusCode::NO_CONTENT);
    reg.call(Method::DELETE, "/api/v1/namespaces/open", None, None)
        .await
        .ok(StatusCode::NO_CONTENT);
}

/// The pull-through cache's configuration: administrators only, every field round-trips,
/// bad input is refused and changes nothing, a nested prefix is written with %2F.
async fn proxies_create_list_get_update_delete(reg: TestRegistry) {
    let bob = reg.create_user("bob").await;
    let created = reg
        .call(
            Method::POST,
            "/api/v1/proxies",
            Some(&admin()),
            Some(json!({"prefix": "hub", "upstream_url": "http://127.0.0.1:9/", "upstream_host": "Docker.IO"})),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["prefix"], "hub");
    assert_eq!(created["upstream_url"], "http://127.0.0.1:9");
    assert_eq!(created["upstream_host"], "docker.io");
    assert_eq!(created["mode"], "upstream_first");
    assert_eq!(created["ttl_secs"], 300);
    assert_eq!(created["remote"], Value::Null);
    assert_eq!(created["creator"], "admin");
    reg.call(
        Method::POST,
        "/api/v1/proxies",
        Some(&admin()),
        Some(json!({"prefix": "mirror/quay", "upstream_url": "https://quay.io", "mode": "local_first", "ttl_secs": 60})),
    )
    .await
    .ok(StatusCode::CREATED);

    // Refusals, each leaving the two proxies as they are.
    for (body, target) in [
        (
            json!({"prefix": "hub", "upstream_url": "http://127.0.0.1:9"}),
            None,
        ),
        (
            json!({"prefix": "Bad Prefix", "upstream_url": "http://x.example"}),
            Some("prefix"),
        ),
        (
            json!({"prefix": "ftp", "upstream_url": "ftp://x.example"}),
            Some("upstream_url"),
        ),
        (
            json!({"prefix": "x", "upstream_url": "http://x.example", "upstream_host": "a b"}),
            Some("upstream_host"),
        ),
        (
            json!({"prefix": "x", "upstream_url": "http://x.example", "mode": "sometimes"}),
            Some("mode"),
        ),
        (
            json!({"prefix": "x", "upstream_url": "http://x.example", "extra": 1}),
            Some("extra"),
        ),
        (
            json!({"prefix": "x", "upstream_url": "http://x.example", "remote": {"name": "nowhere.example/app"}}),
            None,
        ),
    ] {
        let r = reg
            .call(
                Method::POST,
                "/api/v1/proxies",
                Some(&admin()),
                Some(body.clone()),
            )
            .await;
        assert!(
            r.status.is_client_error(),
            "{body}: {} {}",
            r.status,
            r.text()
        );
        if let Some(target) = target {
            assert_eq!(r.json()["error"]["target"], target, "{body}");
        }
    }
    let listed = reg.admin_get("/api/v1/proxies").await;
    assert_eq!(listed["total"], 2);
    let prefixes: Vec<_> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prefix"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(prefixes, ["hub", "mirror/quay"]);

    // Users other than administrators see nothing and change nothing.
    reg.call(Method::GET, "/api/v1/proxies", Some(&bob), None)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(Method::DELETE, "/api/v1/proxies/hub", Some(&bob), None)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    reg.call(Method::GET, "/api/v1/proxies", None, None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    let nested = reg.admin_get("/api/v1/proxies/mirror%2Fquay").await;
    assert_eq!(nested["mode"], "local_first");
    assert_eq!(nested["ttl_secs"], 60);
    let patched = reg
        .call(
            Method::PATCH,
            "/api/v1/proxies/hub",
            Some(&admin()),
            Some(json!({"mode": "local_first", "ttl_secs": 5, "upstream_url": "http://127.0.0.1:10"})),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(patched["mode"], "local_first");
    assert_eq!(patched["ttl_secs"], 5);
    assert_eq!(patched["upstream_url"], "http://127.0.0.1:10");
    assert_eq!(patched["upstream_host"], "docker.io");
    reg.call(
        Method::PATCH,
        "/api/v1/proxies/hub",
        Some(&admin()),
        Some(json!({"upstream_host": "not a host"})),
    )
    .await
    .error_on(StatusCode::BAD_REQUEST, "invalid", "upstream_host");
    assert_eq!(
        reg.admin_get("/api/v1/proxies/hub").await["upstream_host"],
        "docker.io"
    );

    // A push into the prefix is refused; the proxy's own answer says why.
    let r = reg
        .raw(
            Method::POST,
            "/v2/hub/library/app/blobs/uploads/",
            &[("authorization", &admin())],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    reg.call(Method::DELETE, "/api/v1/proxies/hub", Some(&admin()), None)
        .await
        .ok(StatusCode::NO_CONTENT);
    reg.call(Method::GET, "/api/v1/proxies/hub", Some(&admin()), None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    reg.call(Method::DELETE, "/api/v1/proxies/hub", Some(&admin()), None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(reg.admin_get("/api/v1/proxies").await["total"], 1);
}

/// A bkrepo answer: the envelope's `data` after checking `code` 0 and a trace id.
fn bk_ok(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["message"], Value::Null);
    assert!(v["traceId"].as_str().is_some(), "{v}");
    v["data"].clone()
}

/// A bkrepo failure: the envelope with a non-zero `code`, this status, and no data.
fn bk_err(r: &Reply, status: StatusCode, code: u64) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["data"], Value::Null);
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

/// Seed 001 over berth's images: every endpoint with its field names and JSON types,
/// paging and filters, nested names, errors in the envelope, who may do what, and deletes
/// seen on `/v2` at once.
async fn bkrepo_docker_extension(reg: TestRegistry) {
    // What `state()` compares holds team/app.
    reg.create_namespace("team", false).await;
    reg.push_image("team/app", &["v1"], "t", "amd64").await;
    reg.create_namespace("proj", false).await;
    let (app, app_size) = reg
        .push_image("proj/repo/library/app", &["v1", "v2"], "a", "amd64")
        .await;
    reg.push_image("proj/repo/other", &["latest"], "b", "arm64")
        .await;
    let a = Some(admin());
    let a = a.as_deref();

    let addr = bk_ok(&reg.get("/docker/ext/addr", a).await);
    assert_eq!(addr, "registry.test");

    // The manifest, as its text.
    let manifest = bk_ok(
        &reg.get("/docker/ext/manifest/proj/repo/library/app/v1", a)
            .await,
    );
    let text = manifest.as_str().expect("data is the manifest text");
    assert_eq!(Digest::sha256(text.as_bytes()), app);
    let parsed: Value = serde_json::from_str(text).unwrap();
    let layer = parsed["layers"][0]["digest"].as_str().unwrap().to_owned();

    // A layer, by digest or by its hex.
    for id in [
        layer.clone(),
        layer.trim_start_matches("sha256:").to_owned(),
    ] {
        let r = reg
            .get(&format!("/docker/ext/layer/proj/repo/library/app/{id}"), a)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body.as_ref(), b"layer of a");
        assert_eq!(Digest::sha256(&r.body).as_str(), layer);
    }

    // Images of the project's repository, paged from 1 (0 is 1), filtered by name.
    let images = bk_ok(
        &reg.get("/docker/ext/repo/proj/repo?pageNumber=0&pageSize=10", a)
            .await,
    );
    assert_eq!(images["totalRecords"], 2);
    assert_eq!(images["toatalRecords"], 2);
    let names: Vec<&str> = images["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["library/app", "other"]);
    let first = &images["records"][0];
    assert_eq!(first["lastModifiedBy"], "admin");
    assert!(first["lastModifiedDate"].as_str().unwrap().contains('T'));
    assert!(!first["lastModifiedDate"].as_str().unwrap().ends_with('Z'));
    assert!(first["downloadCount"].is_u64());
    assert_eq!(first["logoUrl"], "");
    let page2 = bk_ok(
        &reg.get("/docker/ext/repo/proj/repo?pageNumber=2&pageSize=1", a)
            .await,
    );
    assert_eq!(page2["totalRecords"], 2);
    assert_eq!(page2["records"][0]["name"], "other");
    let filtered = bk_ok(
        &reg.get(
            "/docker/ext/repo/proj/repo?pageNumber=1&pageSize=10&name=oth",
            a,
        )
        .await,
    );
    assert_eq!(filtered["totalRecords"], 1);

    // Tags of an image.
    let tags = bk_ok(
        &reg.get(
            "/docker/ext/tag/proj/repo/library/app?pageNumber=1&pageSize=10",
            a,
        )
        .await,
    );
    assert_eq!(tags["totalRecords"], 2);
    let v1 = &tags["records"][0];
    assert_eq!(v1["tag"], "v1");
    assert_eq!(v1["stageTag"], "");
    assert!(v1["size"].as_u64().unwrap() > 0);
    assert_eq!(v1["lastModifiedBy"], "admin");
    assert_eq!(v1["registryUrl"], "registry.test/proj/repo/library/app:v1");
    let only = bk_ok(
        &reg.get(
            "/docker/ext/tag/proj/repo/library/app?pageNumber=1&pageSize=10&tag=2",
            a,
        )
        .await,
    );
    assert_eq!(only["totalRecords"], 1);
    assert_eq!(only["records"][0]["tag"], "v2");

    // A tag's detail.
    let detail = bk_ok(
        &reg.get(
            "/docker/ext/version/detail/proj/repo?packageKey=docker://library/app&version=v1",
            a,
        )
        .await,
    );
    let basic = &detail["basic"];
    assert_eq!(basic["version"], "v1");
    assert_eq!(basic["os"], "linux");
    assert_eq!(basic["size"], app_size);
    assert_eq!(basic["createdBy"], "admin");
    assert_eq!(basic["dockerDomain"], "registry.test");
    assert_eq!(basic["stageTag"], json!([]));
    let config = parsed["config"]["digest"].as_str().unwrap();
    assert_eq!(basic["sha256"], config.trim_start_matches("sha256:"));
    assert_eq!(
        detail["history"],
        json!([
            {"created": "2024-01-02T03:04:05Z", "created_by": "COPY a /"},
            {"created": null, "created_by": "ENV A=1"},
        ])
    );
    let metadata = &detail["metadata"];
    assert_eq!(metadata["docker.manifest"], "v1");
    assert_eq!(metadata["docker.manifest.digest"], app.as_str());
    assert_eq!(
        metadata["sha256"],
        app.as_str().trim_start_matches("sha256:")
    );
    assert_eq!(metadata["docker.repoName"], "library/app");
    assert_eq!(metadata["docker.manifest.type"], OCI_MANIFEST);
    assert_eq!(metadata["seed"], "a", "labels are merged in");
    assert_eq!(
        detail["layers"],
        json!([{"mediaType": OCI_LAYER, "size": 10, "digest": layer}])
    );
    // packageKey without docker:// is the bare name.
    bk_ok(
        &reg.get(
            "/docker/ext/version/detail/proj/repo?packageKey=library/app&version=v1",
            a,
        )
        .await,
    );

    // Refusals, in the envelope, changing nothing.
    let stranger = reg.create_user("stranger").await;
    let reader = reg.create_user("reader").await;
    reg.put_member("proj", "reader", "read").await;
    let before = reg.state().await;
    for (uri, status, code) in [
        (
            "/docker/ext/version/detail/proj/repo?packageKey=docker://library/app&version=nope",
            StatusCode::NOT_FOUND,
            250006,
        ),
        (
            "/docker/ext/version/detail/proj/repo?version=v1",
            StatusCode::BAD_REQUEST,
            250002,
        ),
        (
            "/docker/ext/version/detail/proj/repo?packageKey=docker://library/app",
            StatusCode::BAD_REQUEST,
            250002,
        ),
        (
            "/docker/ext/version/detail/proj/repo?packageKey=docker://BAD&version=v1",
            StatusCode::BAD_REQUEST,
            250003,
        ),
        (
            "/docker/ext/repo/proj/repo?pageSize=0",
            StatusCode::BAD_REQUEST,
            250003,
        ),
        (
            "/docker/ext/repo/proj/repo?pageNumber=-1",
            StatusCode::BAD_REQUEST,
            250003,
        ),
        (
            "/docker/ext/repo/proj/repo?pageSize=99999",
            StatusCode::BAD_REQUEST,
            250003,
        ),
        (
            "/docker/ext/tag/proj/repo/nothing?pageNumber=1&pageSize=1",
            StatusCode::NOT_FOUND,
            250006,
        ),
        (
            "/docker/ext/layer/proj/repo/library/app/sha256:zz",
            StatusCode::BAD_REQUEST,
            250003,
        ),
        (
            "/docker/ext/layer/proj/repo/library/app/sha256:0000000000000000000000000000000000000000000000000000000000000000",
            StatusCode::NOT_FOUND,
            250006,
        ),
        (
            "/docker/ext/manifest/proj/repo/library/app/v9",
            StatusCode::NOT_FOUND,
            250006,
        ),
        ("/docker/ext/nothing", StatusCode::NOT_FOUND, 250006),
    ] {
        bk_err(&reg.get(uri, a).await, status, code);
    }
    bk_err(
        &reg.call(Method::POST, "/docker/ext/addr", a, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        250009,
    );
    bk_err(
        &reg.call(
            Method::DELETE,
            "/docker/ext/version/delete/proj/repo?packageKey=docker://library/app&version=nope",
            a,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        250006,
    );
    bk_err(
        &reg.call(
            Method::DELETE,
            "/docker/ext/package/delete/proj/repo?packageKey=docker://nothing",
            a,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        250006,
    );

    // Who may: anonymous is asked to log in (private project), a stranger sees nothing, a
    // reader reads but does not delete.
    let r = reg.get("/docker/ext/tag/proj/repo/library/app", None).await;
    bk_err(&r, StatusCode::UNAUTHORIZED, 250008);
    assert_eq!(r.headers["www-authenticate"], "Basic realm=\"berth\"");
    bk_err(
        &reg.get("/docker/ext/tag/proj/repo/library/app", Some(&stranger))
            .await,
        StatusCode::NOT_FOUND,
        250006,
    );
    let images = bk_ok(&reg.get("/docker/ext/repo/proj/repo", Some(&stranger)).await);
    assert_eq!(
        images["totalRecords"], 0,
        "listings count only what the caller may see"
    );
    bk_ok(
        &reg.get(
            "/docker/ext/version/detail/proj/repo?packageKey=library/app&version=v1",
            Some(&reader),
        )
        .await,
    );
    bk_err(
        &reg.call(
            Method::DELETE,
            "/docker/ext/version/delete/proj/repo?packageKey=library/app&version=v2",
            Some(&reader),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
        250007,
    );
    let r = reg
        .raw(
            Method::GET,
            "/docker/ext/addr",
            &[("authorization", "Basic d3Jvbmc6d3Jvbmc=")],
            Bytes::new(),
        )
        .await;
    bk_err(&r, StatusCode::UNAUTHORIZED, 250008);
    assert_eq!(reg.state().await, before, "refusals changed something");

    // Deletes: a tag, then a whole image; /v2 agrees at once.
    assert_eq!(
        bk_ok(
            &reg.call(
                Method::DELETE,
                "/docker/ext/version/delete/proj/repo?packageKey=docker://library/app&version=v2",
                a,
                None
            )
            .await
        ),
        true
    );
    assert_eq!(
        reg.get("/v2/proj/repo/library/app/manifests/v2", a)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.get("/v2/proj/repo/library/app/manifests/v1", a)
            .await
            .status,
        StatusCode::OK
    );
    let tags = bk_ok(&reg.get("/docker/ext/tag/proj/repo/library/app", a).await);
    assert_eq!(tags["totalRecords"], 1);
    assert_eq!(
        bk_ok(
            &reg.call(
                Method::DELETE,
                "/docker/ext/package/delete/proj/repo?packageKey=docker%3A%2F%2Fother",
                a,
                None
            )
            .await
        ),
        true
    );
    assert_eq!(
        reg.get("/v2/proj/repo/other/manifests/latest", a)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let images = bk_ok(&reg.get("/docker/ext/repo/proj/repo", a).await);
    assert_eq!(images["totalRecords"], 1);
    assert_eq!(images["records"][0]["name"], "library/app");
}

/// An SWR success: this status, SWR's content type, the JSON body (null when empty).
#[track_caller]
fn swr_ok(r: &Reply, status: StatusCode) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    if r.body.is_empty() {
        return Value::Null;
    }
    assert_eq!(
        r.headers["content-type"], "application/json;charset=utf-8",
        "{:?}",
        r.headers
    );
    r.json()
}

/// An SWR failure: `{"error_code": "SVCSTG.SWR.…", "error_msg": "…"}` and nothing else.
#[track_caller]
fn swr_err(r: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    let object = v.as_object().expect("an SWR error is an object");
    assert_eq!(object.len(), 2, "{v}");
    assert_eq!(v["error_code"], code, "{v}");
    let message = v["error_msg"].as_str().expect("error_msg is a string");
    assert!(!message.is_empty(), "{v}");
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"berth\"");
    }
    message.to_owned()
}

/// The JSON type of every key, for comparing shapes.
fn json_types(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let t = match v {
                        Value::Null => "null",
                        Value::Bool(_) => "bool",
                        Value::Number(n) if n.is_u64() || n.is_i64() => "int",
                        Value::Number(_) => "float",
                        Value::String(_) => "str",
                        Value::Array(_) => "array",
                        Value::Object(_) => "object",
                    };
                    (k.clone(), json!(t))
                })
                .collect(),
        ),
        other => panic!("not an object: {other}"),
    }
}

/// Seed 003 replayed as the seed writes it (Basic credentials here; the SDK's signed
/// requests are the black-box test's), with every field's JSON type; nested names in every
/// spelling; counters after push, pull and delete; bad input refused in SWR's shape with
/// nothing changed; who may do what, with namespace and repository members.
async fn swr_management_api(reg: TestRegistry) {
    let admin = admin();
    let a = Some(admin.as_str());
    let as_admin = [
        ("authorization", admin.as_str()),
        ("content-type", "application/json"),
    ];

    // 1. Create a namespace: `{}`.
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces",
            a,
            Some(json!({"namespace": "group"})),
        )
        .await;
    assert_eq!(swr_ok(&r, StatusCode::CREATED), json!({}));
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces",
            a,
            Some(json!({"namespace": "group"})),
        )
        .await;
    swr_err(&r, StatusCode::CONFLICT, "SVCSTG.SWR.4090006");

    // 2. List by filter: exactly the seed's fields.
    let list = swr_ok(
        &reg.get("/v2/manage/namespaces?filter=namespace::group", a)
            .await,
        StatusCode::OK,
    );
    let item = &list["namespaces"][0];
    assert_eq!(list["namespaces"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        json_types(item),
        json!({"auth": "int", "creator_name": "str", "id": "int", "name": "str"})
    );
    assert_eq!((&item["auth"], &item["name"]), (&json!(7), &json!("group")));
    let ns_id = item["id"].as_i64().unwrap();
    let shown = swr_ok(
        &reg.get("/v2/manage/namespaces/group", a).await,
        StatusCode::OK,
    );
    assert_eq!(&shown, item);

    // 3. Create a repository with the seed's query parameters (no body).
    let r = reg
        .raw(
            Method::POST,
            "/v2/manage/namespaces/group/repos?repository=test&category=linux&description=test&is_public=false",
            &as_admin,
            "",
        )
        .await;
    assert_eq!(swr_ok(&r, StatusCode::CREATED), json!({}));
    // And the SDK's JSON body, nested.
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces/group/repos",
            a,
            Some(json!({"repository": "team/app", "category": "other", "description": "", "is_public": true})),
        )
        .await;
    swr_ok(&r, StatusCode::CREATED);

    // 4. The summary: every field of the seed's example, with its type.
    let summary = swr_ok(
        &reg.get("/v2/manage/namespaces/group/repos/test", a).await,
        StatusCode::OK,
    );
    assert_eq!(
        json_types(&summary),
        json!({
            "category": "str", "created": "str", "creator_id": "str", "creator_name": "str",
            "description": "str", "domain_id": "str", "id": "int", "internal_path": "str",
            "is_public": "bool", "name": "str", "ns_id": "int", "num_download": "int",
            "num_images": "int", "path": "str", "priority": "int", "size": "int",
            "updated": "str", "url": "str",
        })
    );
    assert_eq!(summary["ns_id"], ns_id);
    assert_eq!(summary["name"], "test");
    assert_eq!(summary["category"], "linux");
    assert_eq!(summary["is_public"], false);
    assert_eq!(summary["path"], "registry.test/group/test");
    assert_eq!(
        (&summary["num_images"], &summary["size"]),
        (&json!(0), &json!(0))
    );
    assert!(summary["created"].as_str().unwrap().ends_with('Z'));
    for spelling in ["team%2Fapp", "team%2fapp", "team%24app", "team$app"] {
        let s = swr_ok(
            &reg.get(&format!("/v2/manage/namespaces/group/repos/{spelling}"), a)
                .await,
            StatusCode::OK,
        );
        assert_eq!(
            (&s["name"], &s["is_public"]),
            (&json!("team/app"), &json!(true))
        );
    }

    // Counters after a push, a pull and a tag delete.
    let (digest, bytes) = reg.push_image("group/test", &["v1"], "swr", "amd64").await;
    let pulled = reg.get("/v2/group/test/manifests/v1", a).await;
    assert_eq!(pulled.status, StatusCode::OK);
    reg.services.flush_downloads().await.unwrap();
    let summary = swr_ok(
        &reg.get("/v2/manage/namespaces/group/repos/test", a).await,
        StatusCode::OK,
    );
    assert_eq!(
        (
            &summary["num_images"],
            &summary["size"],
            &summary["num_download"]
        ),
        (&json!(1), &json!(bytes), &json!(1))
    );

    // Tags: a bare array naming the tag `Tag`, with Content-Range; one tag names it `tag`.
    let r = reg
        .get("/v2/manage/namespaces/group/repos/test/tags", a)
        .await;
    let tags = swr_ok(&r, StatusCode::OK);
    assert_eq!(r.headers["content-range"], "0-1/1");
    let t = &tags[0];
    assert_eq!(
        json_types(t),
        json!({
            "Tag": "str", "created": "str", "deleted": "null", "digest": "str",
            "domain_id": "str", "id": "int", "image_id": "str", "internal_path": "str",
            "is_trusted": "bool", "manifest": "str", "path": "str", "repo_id": "int",
            "scanned": "bool", "schema": "int", "size": "int", "tag_type": "int",
            "updated": "str",
        })
    );
    assert_eq!(t["Tag"], "v1");
    assert_eq!(t["digest"], digest.as_str());
    assert_eq!(t["repo_id"], summary["id"]);
    assert_eq!(t["path"], "registry.test/group/test:v1");
    assert_eq!(
        Digest::sha256(t["manifest"].as_str().unwrap().as_bytes()),
        digest
    );
    let one = swr_ok(
        &reg.get("/v2/manage/namespaces/group/repos/test/tags/v1", a)
            .await,
        StatusCode::OK,
    );
    assert_eq!((&one["tag"], &one["id"]), (&json!("v1"), &t["id"]));
    assert!(one.get("Tag").is_none() && one.get("deleted").is_none());
    let r = reg
        .get("/v2/manage/namespaces/group/repos/test/tags?tag=nomatch", a)
        .await;
    assert_eq!(swr_ok(&r, StatusCode::OK), json!([]));
    assert_eq!(r.headers["content-range"], "0-0/0");

    // The list across namespaces: filter wins, paging, Content-Range, the extra keys.
    reg.create_namespace("other", false).await;
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces/other/repos",
            a,
            Some(json!({"repository": "test2"})),
        )
        .await;
    swr_ok(&r, StatusCode::CREATED);
    let r = reg
        .get(
            "/v2/manage/repos?filter=namespace::group|name::es&namespace=other",
            a,
        )
        .await;
    let listed = swr_ok(&r, StatusCode::OK);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["test"],
        "`es` is in test, not in team/app: {listed}"
    );
    assert_eq!(r.headers["content-range"], "0-1/1");
    assert_eq!(listed[0]["tags"], json!(["v1"]));
    assert_eq!(
        (&listed[0]["namespace"], &listed[0]["total_range"]),
        (&json!("group"), &json!(1))
    );
    let r = reg
        .get(
            "/v2/manage/repos?limit=2&offset=1&order_column=name&order_type=asc",
            a,
        )
        .await;
    let page = swr_ok(&r, StatusCode::OK);
    assert_eq!(r.headers["content-range"], "1-2/3");
    assert_eq!(page[0]["name"], "test");
    assert_eq!(page[1]["name"], "test2");

    // Update: only what is given changes.
    let r = reg
        .call(
            Method::PATCH,
            "/v2/manage/namespaces/group/repos/test",
            a,
            Some(json!({"description": "changed"})),
        )
        .await;
    assert_eq!(swr_ok(&r, StatusCode::CREATED), json!({}));
    let s = swr_ok(
        &reg.get("/v2/manage/namespaces/group/repos/test", a).await,
        StatusCode::OK,
    );
    assert_eq!(
        (&s["description"], &s["category"], &s["is_public"]),
        (&json!("changed"), &json!("linux"), &json!(false))
    );

    // Bad input: a clear 4xx in SWR's shape, and nothing changes.
    let before = (
        reg.admin_get("/api/v1/namespaces?limit=1000").await,
        reg.admin_get("/api/v1/repositories?limit=1000").await,
    );
    let invalid = "SVCSTG.SWR.4000014";
    let big = format!("{{\"namespace\": \"{}\"}}", "a".repeat(70_000));
    let cases: Vec<(Method, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/v2/manage/namespaces",
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces",
            br#"{"namespace":"x1","extra":1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces",
            br#"{"namespace":"Bad_Name!"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces",
            br#"{"namespace":7}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces",
            big.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "SVCSTG.SWR.4130000",
        ),
        (
            Method::POST,
            "/v2/manage/namespaces/group/repos",
            br#"{"repository":"UPPER"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces/group/repos",
            br#"{"repository":"x","category":"games"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces/group/repos?repository=x&is_public=maybe",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces/group/repos",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::PATCH,
            "/v2/manage/namespaces/group/repos/test",
            br#"{"is_public":"false"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces/group/access",
            br#"[{"user_name":"bob","auth":5}]"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::POST,
            "/v2/manage/namespaces/group/access",
            br#"[{"auth":1}]"#.to_vec(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v2/manage/repos?limit=1001",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v2/manage/repos?offset=-1",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v2/manage/repos?order_type=sideways",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v2/manage/repos?color=blue",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v2/manage/repos?filter=color::blue",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v2/manage/repos?limit=1&limit=2",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            invalid,
        ),
        (
            Method::GET,
            "/v3/manage/nothing",
            Vec::new(),
            StatusCode::NOT_FOUND,
            "SVCSTG.SWR.4040010",
        ),
        (
            Method::PUT,
            "/v2/manage/namespaces/group",
            Vec::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "SVCSTG.SWR.4050000",
        ),
        (
            Method::GET,
            "/v2/manage/namespaces/nope",
            Vec::new(),
            StatusCode::NOT_FOUND,
            "SVCSTG.SWR.4040010",
        ),
        (
            Method::GET,
            "/v2/manage/namespaces/group/repos/nope/tags",
            Vec::new(),
            StatusCode::NOT_FOUND,
            "SVCSTG.SWR.4040010",
        ),
    ];
    for (method, uri, body, status, code) in cases {
        let r = reg.raw(method.clone(), uri, &as_admin, body).await;
        swr_err(&r, status, code);
    }
    // What is no SWR endpoint under /v2/manage is an OCI request for the reserved `manage`.
    let r = reg.get("/v2/manage/x/tags/list", a).await;
    assert!(r.status.is_client_error(), "{}", r.text());
    assert!(r.json()["errors"].is_array(), "{}", r.text());
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces",
            a,
            Some(json!({"namespace": "manage"})),
        )
        .await;
    assert!(
        r.status.is_client_error(),
        "manage is reserved: {}",
        r.text()
    );
    let after = (
        reg.admin_get("/api/v1/namespaces?limit=1000").await,
        reg.admin_get("/api/v1/repositories?limit=1000").await,
    );
    assert_eq!(before, after, "a refused request changed something");

    // Who may do what: anonymous, a stranger, a namespace reader, a repository manager.
    let r = reg.get("/v2/manage/namespaces/group", None).await;
    swr_err(&r, StatusCode::UNAUTHORIZED, "SVCSTG.SWR.4010000");
    let bob = reg.create_user("bob").await;
    let bob = Some(bob.as_str());
    let r = reg.get("/v2/manage/namespaces/group", bob).await;
    swr_err(&r, StatusCode::NOT_FOUND, "SVCSTG.SWR.4040010");
    let mine = swr_ok(&reg.get("/v2/manage/namespaces", bob).await, StatusCode::OK);
    // group holds a public repository (team/app), so it is listed (SWR's `mode::visible`);
    // other holds only private ones.
    let listed: Vec<&str> = mine["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["group"], "{mine}");
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces/group/access",
            a,
            Some(json!([{"user_id": "bob", "user_name": "bob", "auth": 1}])),
        )
        .await;
    swr_ok(&r, StatusCode::CREATED);
    let seen = swr_ok(
        &reg.get("/v2/manage/namespaces/group", bob).await,
        StatusCode::OK,
    );
    assert_eq!(seen["auth"], 1);
    let access = swr_ok(
        &reg.get("/v2/manage/namespaces/group/access", bob).await,
        StatusCode::OK,
    );
    assert_eq!(
        access["self_auth"],
        json!({"user_id": "bob", "user_name": "bob", "auth": 1})
    );
    let r = reg
        .call(
            Method::DELETE,
            "/v2/manage/namespaces/group/repos/test",
            bob,
            None,
        )
        .await;
    swr_err(&r, StatusCode::FORBIDDEN, "SVCSTG.SWR.4030000");
    // A repository's own member manages that repository only.
    let r = reg
        .call(
            Method::POST,
            "/v2/manage/namespaces/group/repos/team%2Fapp/access",
            a,
            Some(json!([{"user_name": "bob", "auth": 7}])),
        )
        .await;
    swr_ok(&r, StatusCode::CREATED);
    let access = swr_ok(
        &reg.get("/v2/manage/namespaces/group/repos/team$app/access", bob)
            .await,
        StatusCode::OK,
    );
    assert_eq!(access["self_auth"]["auth"], 7);
    assert_eq!(access["name"], "team/app");
    let r = reg
        .call(
            Method::PATCH,
            "/v2/manage/namespaces/group/repos/team%24app",
            bob,
            Some(json!({"description": "bob was here"})),
        )
        .await;
    swr_ok(&r, StatusCode::CREATED);
    let r = reg
        .call(
            Method::PATCH,
            "/v2/manage/namespaces/group/repos/test",
            bob,
            Some(json!({"description": "not bob's"})),
        )
        .await;
    swr_err(&r, StatusCode::FORBIDDEN, "SVCSTG.SWR.4030000");
    let r = reg
        .raw(
            Method::DELETE,
            "/v2/manage/namespaces/group/repos/team%2Fapp/access",
            &as_admin,
            br#"["bob"]"#.to_vec(),
        )
        .await;
    swr_ok(&r, StatusCode::NO_CONTENT);
    let r = reg
        .call(
            Method::PATCH,
            "/v2/manage/namespaces/group/repos/team%24app",
            bob,
            Some(json!({"description": "again"})),
        )
        .await;
    swr_err(&r, StatusCode::FORBIDDEN, "SVCSTG.SWR.4030000");

    // Deletes: the tag is gone from /v2 at once and the counters follow; a namespace that
    // still holds repositories is SWR's 406.
    let r = reg
        .call(
            Method::DELETE,
            "/v2/manage/namespaces/group/repos/test/tags/v1",
            a,
            None,
        )
        .await;
    swr_ok(&r, StatusCode::NO_CONTENT);
    assert_eq!(
        reg.get("/v2/group/test/manifests/v1", a).await.status,
        StatusCode::NOT_FOUND
    );
    let s = swr_ok(
        &reg.get("/v2/manage/namespaces/group/repos/test", a).await,
        StatusCode::OK,
    );
    assert_eq!(s["num_images"], 0);
    let r = reg
        .call(Method::DELETE, "/v2/manage/namespaces/group", a, None)
        .await;
    swr_err(&r, StatusCode::NOT_ACCEPTABLE, "SVCSTG.SWR.4060012");
    for repo in ["test", "team%2Fapp"] {
        let r = reg
            .call(
                Method::DELETE,
                &format!("/v2/manage/namespaces/group/repos/{repo}"),
                a,
                None,
            )
            .await;
        swr_ok(&r, StatusCode::NO_CONTENT);
    }
    let r = reg
        .call(Method::DELETE, "/v2/manage/namespaces/group", a, None)
        .await;
    swr_ok(&r, StatusCode::NO_CONTENT);
    let r = reg.get("/v2/manage/namespaces/group", a).await;
    swr_err(&r, StatusCode::NOT_FOUND, "SVCSTG.SWR.4040010");
}

// ---- the permission matrix ----

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// A public document: credentials are not even looked at.
    Public,
    /// Everyone, anonymous included (listings filter what they show).
    Anyone,
    /// Any valid credentials.
    Login,
    Read,
    Write,
    Manage,
    Admin,
}

/// Who calls.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    /// Wrong password, expired or revoked token: refused whatever the route.
    Refused,
    /// A user who is no member of the namespace.
    Stranger,
    /// A member (or a robot) with this level in the namespace.
    Member(i64),
    Admin,
}

/// What a row needs made (as the administrator) before each caller's request.
#[derive(Clone, Copy, Debug)]
enum Prep {
    None,
    /// Tag the base image of `mx/team/app` with this tag (`{i}`: the caller's index).
    Tag(&'static str),
    /// Push a fresh image into this repository (`{art}`: its digest, `{artblob}` its layer).
    Image(&'static str),
    /// Start an upload into `mx/team/app` (`{upload}`: its location).
    Upload,
    /// Make sure the Helm repository `mx` (hosted, of namespace `mx`) exists (an earlier
    /// caller may have deleted it).
    HelmRepo,
    /// Upload chart (name pattern) version 1.0.0 into `mx`.
    Chart(&'static str),
}

/// A minimal chart archive (`<name>/Chart.yaml` and a values file).
fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let yaml = format!("apiVersion: v2\nname: {name}\nversion: {version}\n");
    for (path, text) in [("Chart.yaml", yaml.as_str()), ("values.yaml", "a: 1\n")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, format!("{name}/{path}"), text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

struct Row {
    method: Method,
    /// The route as its family names it (the OpenAPI path for the native API).
    template: &'static str,
    /// `{i}` the caller's index, `{digest}` the base image, `{blob}` its layer, `{art}` and
    /// `{upload}` what `prep` made.
    uri: &'static str,
    /// The body, with the same placeholders plus `{manifest}` (the base image's manifest).
    body: &'static str,
    need: Need,
    /// Statuses that still mean "allowed" for a caller the row lets through (a namespace not
    /// empty, an upstream that does not answer, a resource that is not there).
    ok: &'static [u16],
    prep: Prep,
}

const fn row(method: Method, template: &'static str, uri: &'static str, need: Need) -> Row {
    Row {
        method,
        template,
        uri,
        body: "",
        need,
        ok: &[],
        prep: Prep::None,
    }
}

impl Row {
    const fn body(mut self, body: &'static str) -> Row {
        self.body = body;
        self
    }
    const fn ok(mut self, ok: &'static [u16]) -> Row {
        self.ok = ok;
        self
    }
    const fn prep(mut self, prep: Prep) -> Row {
        self.prep = prep;
        self
    }
}

/// Native operations the matrix leaves to `tokens_robots_keys_and_audit`: self-service,
/// where only the user itself may act (no level or administrator makes a difference).
const SELF_SERVICE: [(&str, &str); 4] = [
    ("POST", "/api/v1/users/{name}/tokens"),
    ("DELETE", "/api/v1/users/{name}/tokens/{id}"),
    ("POST", "/api/v1/users/{name}/keys"),
    ("DELETE", "/api/v1/users/{name}/keys/{access_key}"),
];

/// Routes that delete the matrix's own namespace with everything in it (they refuse
/// nothing once allowed); `tests/spaces.rs` checks who may use them.
const DESTRUCTIVE: [(&str, &str); 1] = [("DELETE", "/api/v1/spaces/{space}")];

/// A provenance file for the matrix's chart `base` 1.0.0 (its signed block names it).
const BASE_PROV: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: base\nversion: 1.0.0\n\n...\nfiles:\n  base-1.0.0.tgz: sha256:0000\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQ\n-----END PGP SIGNATURE-----\n";

fn matrix_rows() -> Vec<Row> {
    use Method as M;
    use Need::*;
    // This registry has no upstream client: registering answers 501 once it is allowed.
    let upstream = &[501];
    vec![
        // ---- OCI ----
        row(M::GET, "/v2/", "/v2/", Login),
        row(M::GET, "/v2/_catalog", "/v2/_catalog", Anyone),
        row(M::GET, "/v2/{name}/tags/list", "/v2/mx/team/app/tags/list", Read),
        row(M::GET, "/v2/{name}/manifests/{reference}", "/v2/mx/team/app/manifests/v1", Read),
        row(M::PUT, "/v2/{name}/manifests/{reference}", "/v2/mx/team/app/manifests/p{i}", Write)
            .body("{manifest}"),
        row(M::DELETE, "/v2/{name}/manifests/{reference}", "/v2/mx/team/app/manifests/o{i}", Manage)
            .prep(Prep::Tag("o{i}")),
        row(M::GET, "/v2/{name}/blobs/{digest}", "/v2/mx/team/app/blobs/{blob}", Read),
        row(M::DELETE, "/v2/{name}/blobs/{digest}", "/v2/mx/art{i}/blobs/{artblob}", Manage)
            .prep(Prep::Image("mx/art{i}")),
        row(M::POST, "/v2/{name}/blobs/uploads/", "/v2/mx/team/app/blobs/uploads/", Write),
        row(M::GET, "/v2/{name}/blobs/uploads/{id}", "{upload}", Write).prep(Prep::Upload),
        row(M::PATCH, "/v2/{name}/blobs/uploads/{id}", "{upload}", Write)
            .body("abc")
            .prep(Prep::Upload),
        row(
            M::PUT,
            "/v2/{name}/blobs/uploads/{id}",
            "{upload}?digest=sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            Write,
        )
        .body("abc")
        .prep(Prep::Upload),
        row(M::DELETE, "/v2/{name}/blobs/uploads/{id}", "{upload}", Write).prep(Prep::Upload),
        row(M::GET, "/v2/{name}/referrers/{digest}", "/v2/mx/team/app/referrers/{digest}", Read),
        // ---- native ----
        row(M::GET, "/api/v1/namespaces", "/api/v1/namespaces", Anyone),
        row(M::POST, "/api/v1/namespaces", "/api/v1/namespaces", Admin)
            .body(r#"{"name": "nn{i}"}"#),
        row(M::GET, "/api/v1/namespaces/{namespace}", "/api/v1/namespaces/mx", Read),
        row(M::PATCH, "/api/v1/namespaces/{namespace}", "/api/v1/namespaces/mx", Manage)
            .body(r#"{"description": "d"}"#),
        row(M::DELETE, "/api/v1/namespaces/{namespace}", "/api/v1/namespaces/mx", Manage)
            .ok(&[409]),
        row(M::GET, "/api/v1/namespaces/{namespace}/members", "/api/v1/namespaces/mx/members", Read),
        row(
            M::PUT,
            "/api/v1/namespaces/{namespace}/members/{username}",
            "/api/v1/namespaces/mx/members/x{i}",
            Manage,
        )
        .body(r#"{"level": "read"}"#),
        row(
            M::DELETE,
            "/api/v1/namespaces/{namespace}/members/{username}",
            "/api/v1/namespaces/mx/members/x{i}",
            Manage,
        ),
        row(
            M::GET,
            "/api/v1/namespaces/{namespace}/repositories",
            "/api/v1/namespaces/mx/repositories",
            Read,
        ),
        row(M::GET, "/api/v1/namespaces/{namespace}/robots", "/api/v1/namespaces/mx/robots", Manage),
        row(M::POST, "/api/v1/namespaces/{namespace}/robots", "/api/v1/namespaces/mx/robots", Manage)
            .body(r#"{"name": "b{i}", "level": "read"}"#),
        row(
            M::DELETE,
            "/api/v1/namespaces/{namespace}/robots/{name}",
            "/api/v1/namespaces/mx/robots/b{i}",
            Manage,
        ),
        row(M::GET, "/api/v1/openapi.json", "/api/v1/openapi.json", Public),
        row(M::GET, "/api/v1/proxies", "/api/v1/proxies", Admin),
        row(M::POST, "/api/v1/proxies", "/api/v1/proxies", Admin)
            .body(r#"{"prefix": "px{i}", "upstream_url": "https://upstream.test"}"#),
        row(M::GET, "/api/v1/proxies/{prefix}", "/api/v1/proxies/px{i}", Admin),
        row(M::PATCH, "/api/v1/proxies/{prefix}", "/api/v1/proxies/px{i}", Admin)
            .body(r#"{"ttl_secs": 60}"#),
        row(M::DELETE, "/api/v1/proxies/{prefix}", "/api/v1/proxies/px{i}", Admin),
        row(M::GET, "/api/v1/repositories", "/api/v1/repositories", Anyone),
        row(M::POST, "/api/v1/repositories", "/api/v1/repositories", Write)
            .body(r#"{"name": "mx/new{i}"}"#),
        row(M::GET, "/api/v1/repositories/{name}", "/api/v1/repositories/mx/team/app", Read),
        row(M::PATCH, "/api/v1/repositories/{name}", "/api/v1/repositories/mx/team/app", Manage)
            .body(r#"{"description": "d"}"#),
        row(M::DELETE, "/api/v1/repositories/{name}", "/api/v1/repositories/mx/gone{i}", Manage)
            .prep(Prep::Image("mx/gone{i}")),
        row(
            M::GET,
            "/api/v1/repositories/{name}/-/artifacts",
            "/api/v1/repositories/mx/team/app/-/artifacts",
            Read,
        ),
        row(
            M::GET,
            "/api/v1/repositories/{name}/-/artifacts/{digest}",
            "/api/v1/repositories/mx/team/app/-/artifacts/{digest}",
            Read,
        ),
        row(
            M::DELETE,
            "/api/v1/repositories/{name}/-/artifacts/{digest}",
            "/api/v1/repositories/mx/art{i}/-/artifacts/{art}",
            Manage,
        )
        .prep(Prep::Image("mx/art{i}")),
        row(
            M::GET,
            "/api/v1/repositories/{name}/-/artifacts/{digest}/layers",
            "/api/v1/repositories/mx/team/app/-/artifacts/{digest}/layers",
            Read,
        ),
        row(
            M::GET,
            "/api/v1/repositories/{name}/-/tags",
            "/api/v1/repositories/mx/team/app/-/tags",
            Read,
        ),
        row(
            M::GET,
            "/api/v1/repositories/{name}/-/tags/{tag}",
            "/api/v1/repositories/mx/team/app/-/tags/v1",
            Read,
        ),
        row(
            M::DELETE,
            "/api/v1/repositories/{name}/-/tags/{tag}",
            "/api/v1/repositories/mx/team/app/-/tags/n{i}",
            Manage,
        )
        .prep(Prep::Tag("n{i}")),
        row(M::GET, "/api/v1/users", "/api/v1/users", Admin),
        row(M::POST, "/api/v1/users", "/api/v1/users", Admin)
            .body(r#"{"name": "u{i}", "password": "u-password-{i}"}"#),
        row(M::GET, "/api/v1/users/{name}", "/api/v1/users/u{i}", Admin),
        row(M::PATCH, "/api/v1/users/{name}", "/api/v1/users/u{i}", Admin)
            .body(r#"{"disabled": false}"#),
        row(M::GET, "/api/v1/users/{name}/keys", "/api/v1/users/u{i}/keys", Admin),
        row(M::GET, "/api/v1/users/{name}/tokens", "/api/v1/users/u{i}/tokens", Admin),
        row(M::DELETE, "/api/v1/users/{name}", "/api/v1/users/u{i}", Admin),
        row(M::GET, "/api/v1/audit", "/api/v1/audit", Admin),
        // ---- bk-repo ----
        row(
            M::GET,
            "/docker/ext/manifest/{projectId}/{repoName}/{name}/{tag}",
            "/docker/ext/manifest/mx/team/app/v1",
            Read,
        ),
        row(
            M::GET,
            "/docker/ext/layer/{projectId}/{repoName}/{name}/{id}",
            "/docker/ext/layer/mx/team/app/{blob}",
            Read,
        ),
        row(M::GET, "/docker/ext/repo/{projectId}/{repoName}", "/docker/ext/repo/mx/team", Anyone),
        row(
            M::GET,
            "/docker/ext/tag/{projectId}/{repoName}/{name}",
            "/docker/ext/tag/mx/team/app",
            Read,
        ),
        row(
            M::DELETE,
            "/docker/ext/package/delete/{projectId}/{repoName}",
            "/docker/ext/package/delete/mx/bk{i}?packageKey=x",
            Manage,
        )
        .prep(Prep::Image("mx/bk{i}/x")),
        row(
            M::DELETE,
            "/docker/ext/version/delete/{projectId}/{repoName}",
            "/docker/ext/version/delete/mx/team?packageKey=app&version=k{i}",
            Manage,
        )
        .prep(Prep::Tag("k{i}")),
        row(
            M::GET,
            "/docker/ext/version/detail/{projectId}/{repoName}",
            "/docker/ext/version/detail/mx/team?packageKey=app&version=v1",
            Read,
        ),
        row(M::GET, "/docker/ext/addr", "/docker/ext/addr", Anyone),
        // ---- SWR ----
        row(M::POST, "/v2/manage/namespaces", "/v2/manage/namespaces", Admin)
            .body(r#"{"namespace": "sn{i}"}"#),
        row(M::GET, "/v2/manage/namespaces", "/v2/manage/namespaces", Anyone),
        row(M::GET, "/v2/manage/namespaces/{namespace}", "/v2/manage/namespaces/mx", Read),
        row(M::DELETE, "/v2/manage/namespaces/{namespace}", "/v2/manage/namespaces/mx", Manage)
            .ok(&[406]),
        row(M::GET, "/v2/manage/namespaces/{namespace}/access", "/v2/manage/namespaces/mx/access", Read),
        row(M::POST, "/v2/manage/namespaces/{namespace}/access", "/v2/manage/namespaces/mx/access", Manage)
            .body(r#"[{"user_name": "y{i}", "auth": 1}]"#),
        row(M::PATCH, "/v2/manage/namespaces/{namespace}/access", "/v2/manage/namespaces/mx/access", Manage)
            .body(r#"[{"user_name": "y{i}", "auth": 3}]"#),
        row(M::DELETE, "/v2/manage/namespaces/{namespace}/access", "/v2/manage/namespaces/mx/access", Manage)
            .body(r#"["y{i}"]"#),
        row(M::POST, "/v2/manage/namespaces/{namespace}/repos", "/v2/manage/namespaces/mx/repos", Write)
            .body(r#"{"repository": "sr{i}"}"#),
        row(M::GET, "/v2/manage/namespaces/{namespace}/repos", "/v2/manage/namespaces/mx/repos", Anyone),
        row(
            M::GET,
            "/v2/manage/namespaces/{namespace}/repos/{repository}",
            "/v2/manage/namespaces/mx/repos/team%2Fapp",
            Read,
        ),
        row(
            M::PATCH,
            "/v2/manage/namespaces/{namespace}/repos/{repository}",
            "/v2/manage/namespaces/mx/repos/team%2Fapp",
            Manage,
        )
        .body(r#"{"description": "d"}"#),
        row(
            M::DELETE,
            "/v2/manage/namespaces/{namespace}/repos/{repository}",
            "/v2/manage/namespaces/mx/repos/sg{i}",
            Manage,
        )
        .prep(Prep::Image("mx/sg{i}")),
        row(
            M::GET,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/access",
            Read,
        ),
        row(
            M::POST,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/access",
            Manage,
        )
        .body(r#"[{"user_name": "z{i}", "auth": 1}]"#),
        row(
            M::PATCH,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/access",
            Manage,
        )
        .body(r#"[{"user_name": "z{i}", "auth": 3}]"#),
        row(
            M::DELETE,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/access",
            Manage,
        )
        .body(r#"["z{i}"]"#),
        row(
            M::GET,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/tags",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/tags",
            Read,
        ),
        row(
            M::POST,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/tags",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/tags",
            Write,
        )
        .body(r#"{"source_tag": "v1", "destination_tag": "rt{i}"}"#),
        row(
            M::GET,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/tags/v1",
            Read,
        ),
        row(
            M::DELETE,
            "/v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}",
            "/v2/manage/namespaces/mx/repos/team%2Fapp/tags/st{i}",
            Manage,
        )
        .prep(Prep::Tag("st{i}")),
        row(M::GET, "/v2/manage/repos", "/v2/manage/repos", Anyone),
        row(M::GET, "/v3/manage/repos", "/v3/manage/repos", Anyone),
        row(
            M::GET,
            "/v3/manage/namespaces/{namespace}/repos/{repository}/tags",
            "/v3/manage/namespaces/mx/repos/team%2Fapp/tags",
            Read,
        ),
        // ---- native charts ----
        row(M::GET, "/api/v1/namespaces/{namespace}/charts", "/api/v1/namespaces/mx/charts", Read),
        row(M::POST, "/api/v1/namespaces/{namespace}/charts", "/api/v1/namespaces/mx/charts", Write)
            .body("{chart}"),
        row(M::GET, "/api/v1/namespaces/{namespace}/charts/{chart}", "/api/v1/namespaces/mx/charts/base", Read),
        row(M::DELETE, "/api/v1/namespaces/{namespace}/charts/{chart}", "/api/v1/namespaces/mx/charts/d{i}", Write)
            .prep(Prep::Chart("d{i}")),
        row(
            M::GET,
            "/api/v1/namespaces/{namespace}/charts/{chart}/{version}",
            "/api/v1/namespaces/mx/charts/base/1.0.0",
            Read,
        ),
        row(
            M::DELETE,
            "/api/v1/namespaces/{namespace}/charts/{chart}/{version}",
            "/api/v1/namespaces/mx/charts/e{i}/1.0.0",
            Write,
        )
        .prep(Prep::Chart("e{i}")),
        row(
            M::GET,
            "/api/v1/namespaces/{namespace}/charts/{chart}/{version}/archive",
            "/api/v1/namespaces/mx/charts/base/1.0.0/archive",
            Read,
        ),
        // ---- Helm: the classic repository, ChartMuseum's API, Harbor's old paths (after the
        // native upload of c{i}, which these replace with ?force) ----
        row(M::GET, "/chartrepo/{ns}/index.yaml", "/chartrepo/mx/index.yaml", Read),
        row(M::GET, "/chartrepo/{ns}/index.json", "/chartrepo/mx/index.json", Read),
        row(M::GET, "/chartrepo/{ns}/charts/{file}", "/chartrepo/mx/charts/base-1.0.0.tgz", Read),
        row(M::POST, "/chartrepo/{ns}/api/charts", "/chartrepo/mx/api/charts?force", Write)
            .body("{chart}"),
        row(M::GET, "/chartrepo/{ns}/api/charts", "/chartrepo/mx/api/charts", Read),
        row(M::GET, "/chartrepo/{ns}/api/charts/{name}", "/chartrepo/mx/api/charts/base", Read),
        row(
            M::GET,
            "/chartrepo/{ns}/api/charts/{name}/{version}",
            "/chartrepo/mx/api/charts/base/1.0.0",
            Read,
        ),
        row(
            M::DELETE,
            "/chartrepo/{ns}/api/charts/{name}/{version}",
            "/chartrepo/mx/api/charts/cd{i}/1.0.0",
            Write,
        )
        .prep(Prep::Chart("cd{i}")),
        row(M::POST, "/chartrepo/{ns}/api/prov", "/chartrepo/mx/api/prov?force", Write).body(BASE_PROV),
        row(M::POST, "/api/chartrepo/{ns}/charts", "/api/chartrepo/mx/charts?force", Write)
            .body("{chart}"),
        row(M::GET, "/api/chartrepo/{ns}/charts", "/api/chartrepo/mx/charts", Read),
        row(M::GET, "/api/chartrepo/{ns}/charts/{name}", "/api/chartrepo/mx/charts/base", Read),
        row(
            M::GET,
            "/api/chartrepo/{ns}/charts/{name}/{version}",
            "/api/chartrepo/mx/charts/base/1.0.0",
            Read,
        ),
        row(
            M::DELETE,
            "/api/chartrepo/{ns}/charts/{name}/{version}",
            "/api/chartrepo/mx/charts/hd{i}/1.0.0",
            Write,
        )
        .prep(Prep::Chart("hd{i}")),
        row(M::POST, "/api/chartrepo/{ns}/prov", "/api/chartrepo/mx/prov?force", Write).body(BASE_PROV),
        // Harbor 1.x's upload to its default project, `library`.
        row(M::POST, "/api/chartrepo/charts", "/api/chartrepo/charts", Write).body("{chart}"),
        row(M::GET, "/api/chartrepo/health", "/api/chartrepo/health", Anyone),
        // ---- helm-registry spaces (seed 002) ----
        row(M::GET, "/api/v1/spaces", "/api/v1/spaces", Anyone),
        row(M::POST, "/api/v1/spaces", "/api/v1/spaces?space=sp{i}", Admin),
        row(M::GET, "/api/v1/spaces/{space}/charts", "/api/v1/spaces/mx/charts", Read),
        row(M::POST, "/api/v1/spaces/{space}/charts", "/api/v1/spaces/mx/charts", Write).body(
            r#"{"save": {"chart": "orc{i}", "version": "1.0.0", "description": "d"},
                "configs": {"package": {"independent": true, "space": "mx", "chart": "base", "version": "1.0.0"}, "_config": {"a": 2}}}"#,
        ),
        row(M::DELETE, "/api/v1/spaces/{space}/charts/{chart}", "/api/v1/spaces/mx/charts/sd{i}", Write)
            .prep(Prep::Chart("sd{i}")),
        row(M::GET, "/api/v1/spaces/{space}/charts/{chart}/versions", "/api/v1/spaces/mx/charts/base/versions", Read),
        row(
            M::GET,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0",
            Read,
        ),
        row(
            M::POST,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
            "/api/v1/spaces/mx/charts/up{i}/versions/1.0.0",
            Write,
        )
        .body("{multipart:up{i}}"),
        row(
            M::PUT,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0",
            Write,
        )
        .body("{multipart:base}"),
        row(
            M::DELETE,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
            "/api/v1/spaces/mx/charts/sv{i}/versions/1.0.0",
            Write,
        )
        .prep(Prep::Chart("sv{i}")),
        row(M::GET, "/api/v1/spaces/{space}/metadata", "/api/v1/spaces/mx/metadata", Read),
        row(M::GET, "/api/v1/spaces/{space}/metadata/latest", "/api/v1/spaces/mx/metadata/latest", Read),
        row(M::GET, "/api/v1/spaces/{space}/charts/{chart}/metadata", "/api/v1/spaces/mx/charts/base/metadata", Read),
        row(
            M::GET,
            "/api/v1/spaces/{space}/charts/{chart}/metadata/latest",
            "/api/v1/spaces/mx/charts/base/metadata/latest",
            Read,
        ),
        row(
            M::GET,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/metadata",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0/manifests/metadata",
            Read,
        ),
        row(
            M::PUT,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/metadata",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0/manifests/metadata",
            Write,
        )
        .body(r#"{"apiVersion": "v2", "name": "base", "version": "1.0.0", "description": "by {i}"}"#),
        row(
            M::GET,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/values",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0/manifests/values",
            Read,
        ),
        row(
            M::PUT,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/values",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0/manifests/values",
            Write,
        )
        .body(r#"{"a": {i}}"#),
        row(
            M::GET,
            "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/requirements",
            "/api/v1/spaces/mx/charts/base/versions/1.0.0/manifests/requirements",
            Read,
        ),
        // ---- Helm repositories (seed 000) ----
        row(M::GET, "/api/repos", "/api/repos", Anyone),
        row(M::POST, "/api/repos", "/api/repos", Admin).body(r#"{"name": "hr{i}"}"#),
        row(M::GET, "/api/repos/{id_or_name}", "/api/repos/mx", Read).prep(Prep::HelmRepo),
        row(M::PUT, "/api/repos/{id_or_name}", "/api/repos/mx", Manage)
            .body(r#"{"is_public": false}"#)
            .prep(Prep::HelmRepo),
        row(M::PATCH, "/api/repos/{id_or_name}", "/api/repos/mx", Manage)
            .body(r#"{"is_public": false}"#)
            .prep(Prep::HelmRepo),
        // A hosted repository has nothing to sync from: 409 once allowed.
        row(M::POST, "/api/repos/{id_or_name}/sync", "/api/repos/mx/sync", Write).ok(&[409])
            .prep(Prep::HelmRepo),
        row(M::GET, "/api/repos/{id_or_name}/versions", "/api/repos/mx/versions", Read)
            .prep(Prep::HelmRepo),
        row(M::DELETE, "/api/repos/{id_or_name}", "/api/repos/mx", Manage).prep(Prep::HelmRepo),
        // ---- Docker Cloud external repositories ----
        row(M::GET, "/api/repo/v1/repository/", "/api/repo/v1/repository/", Admin),
        row(M::POST, "/api/repo/v1/repository/", "/api/repo/v1/repository/", Admin)
            .body(r#"{"name": "127.0.0.1:9/a/b{i}", "username": "u", "password": "p"}"#)
            .ok(upstream),
        row(M::GET, "/api/repo/v1/{namespace}/repository/", "/api/repo/v1/mx/repository/", Manage),
        row(M::POST, "/api/repo/v1/{namespace}/repository/", "/api/repo/v1/mx/repository/", Manage)
            .body(r#"{"name": "127.0.0.1:9/a/b{i}", "username": "u", "password": "p"}"#)
            .ok(upstream),
        row(M::GET, "/api/repo/v1/repository/{name}/", "/api/repo/v1/repository/127.0.0.1:9/a/b/", Admin)
            .ok(&[404]),
        row(M::PATCH, "/api/repo/v1/repository/{name}/", "/api/repo/v1/repository/127.0.0.1:9/a/b/", Admin)
            .body(r#"{"username": "u", "password": "p"}"#)
            .ok(&[404]),
        row(M::DELETE, "/api/repo/v1/repository/{name}/", "/api/repo/v1/repository/127.0.0.1:9/a/b/", Admin)
            .ok(&[404]),
        row(
            M::GET,
            "/api/repo/v1/{namespace}/repository/{name}/",
            "/api/repo/v1/mx/repository/127.0.0.1:9/a/b/",
            Manage,
        )
        .ok(&[404]),
        row(
            M::PATCH,
            "/api/repo/v1/{namespace}/repository/{name}/",
            "/api/repo/v1/mx/repository/127.0.0.1:9/a/b/",
            Manage,
        )
        .body(r#"{"username": "u", "password": "p"}"#)
        .ok(&[404]),
        row(
            M::DELETE,
            "/api/repo/v1/{namespace}/repository/{name}/",
            "/api/repo/v1/mx/repository/127.0.0.1:9/a/b/",
            Manage,
        )
        .ok(&[404]),
        row(M::GET, "/api/repo/v1/registry/{host}/", "/api/repo/v1/registry/127.0.0.1:9/", Admin)
            .ok(&[404]),
        row(
            M::GET,
            "/api/repo/v1/{namespace}/registry/{host}/",
            "/api/repo/v1/mx/registry/127.0.0.1:9/",
            Manage,
        )
        .ok(&[404]),
    ]
}

/// `None` when `who` may do what the row needs, else the status of the refusal: 401 for
/// anonymous and refused credentials, 404 where the caller may not even see the namespace
/// (no existence leak), 403 where it may see but not do.
fn expected_refusal(need: Need, who: Who) -> Option<u16> {
    let level = match need {
        Need::Read => 1,
        Need::Write => 3,
        Need::Manage => 7,
        Need::Public | Need::Anyone | Need::Login | Need::Admin => 0,
    };
    if need == Need::Public {
        return None;
    }
    match who {
        Who::Refused => Some(401),
        Who::Anonymous => (need != Need::Anyone).then_some(401),
        Who::Admin => None,
        Who::Stranger => match need {
            Need::Anyone | Need::Login => None,
            Need::Admin => Some(403),
            _ => Some(404),
        },
        Who::Member(l) => match need {
            Need::Anyone | Need::Login => None,
            Need::Admin => Some(403),
            _ => (l < level).then_some(403),
        },
    }
}

/// Every route of every surface, for every kind of caller, allowed or refused as one table
/// says; a route without a row fails the test (the native API's OpenAPI document and each
/// family's `ROUTES` are the lists of routes).
async fn permission_matrix(reg: TestRegistry) {
    let admin = admin();
    reg.create_namespace("mx", false).await;
    reg.create_namespace("library", false).await;
    let (digest, _) = reg
        .push_image("mx/team/app", &["v1"], "matrix", "amd64")
        .await;
    let manifest = reg
        .get("/v2/mx/team/app/manifests/v1", Some(&admin))
        .await
        .text();
    let parsed: Value = serde_json::from_str(&manifest).unwrap();
    let blob = parsed["layers"][0]["digest"].as_str().unwrap().to_owned();
    reg.call(
        Method::POST,
        "/api/repos",
        Some(&admin),
        Some(json!({"name": "mx"})),
    )
    .await
    .ok(StatusCode::OK);
    let r = reg
        .raw(
            Method::POST,
            "/api/v1/namespaces/mx/charts",
            &[("authorization", admin.as_str())],
            chart_tgz("base", "1.0.0"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // The callers.
    let mut callers: Vec<(&str, Who, Option<String>)> = vec![
        ("anonymous", Who::Anonymous, None),
        ("admin", Who::Admin, Some(admin.clone())),
    ];
    for (name, level) in [
        ("reader", "read"),
        ("writer", "write"),
        ("manager", "manage"),
    ] {
        let auth = reg.create_user(name).await;
        reg.put_member("mx", name, level).await;
        reg.put_member("library", name, level).await;
        let l = match level {
            "read" => 1,
            "write" => 3,
            _ => 7,
        };
        callers.push((name, Who::Member(l), Some(auth)));
    }
    callers.push((
        "stranger",
        Who::Stranger,
        Some(reg.create_user("stranger").await),
    ));
    let robot = reg
        .call(
            Method::POST,
            "/api/v1/namespaces/mx/robots",
            Some(&admin),
            Some(json!({"name": "ci", "level": "write"})),
        )
        .await
        .ok(StatusCode::CREATED);
    callers.push((
        "robot",
        Who::Member(3),
        Some(basic(
            robot["name"].as_str().unwrap(),
            robot["token"].as_str().unwrap(),
        )),
    ));
    callers.push((
        "wrong password",
        Who::Refused,
        Some(basic("manager", "not-the-password")),
    ));
    let manager = basic("manager", USER_PASSWORD);
    let token = |expires: Option<i64>| {
        let body = match expires {
            Some(secs) => json!({"name": "t", "expires_in_secs": secs}),
            None => json!({"name": "t"}),
        };
        reg.call(
            Method::POST,
            "/api/v1/users/manager/tokens",
            Some(&manager),
            Some(body),
        )
    };
    let expiring = token(Some(1)).await.ok(StatusCode::CREATED);
    let revoked = token(None).await.ok(StatusCode::CREATED);
    reg.call(
        Method::DELETE,
        &format!(
            "/api/v1/users/manager/tokens/{}",
            revoked["id"].as_str().unwrap()
        ),
        Some(&manager),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    callers.push((
        "revoked token",
        Who::Refused,
        Some(format!("Bearer {}", revoked["token"].as_str().unwrap())),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    callers.push((
        "expired token",
        Who::Refused,
        Some(format!("Bearer {}", expiring["token"].as_str().unwrap())),
    ));

    let rows = matrix_rows();
    let mut failures = Vec::new();
    for (i, (caller, who, auth)) in callers.iter().enumerate() {
        for row in &rows {
            let fill = |s: &str, art: &str, art_blob: &str, upload: &str| {
                s.replace("{i}", &i.to_string())
                    .replace("{artblob}", art_blob)
                    .replace("{digest}", digest.as_str())
                    .replace("{blob}", &blob)
                    .replace("{art}", art)
                    .replace("{upload}", upload)
                    .replace("{manifest}", &manifest)
            };
            let (mut art, mut art_blob, mut upload) = (String::new(), String::new(), String::new());
            match row.prep {
                Prep::None => {}
                Prep::Tag(tag) => {
                    reg.put_manifest(
                        "mx/team/app",
                        &fill(tag, "", "", ""),
                        OCI_MANIFEST,
                        &parsed,
                        &admin,
                    )
                    .await;
                }
                Prep::Image(repo) => {
                    let repo = fill(repo, "", "", "");
                    let seed = format!("{caller} {}", row.uri);
                    art = reg
                        .push_image(&repo, &["only"], &seed, "amd64")
                        .await
                        .0
                        .to_string();
                    art_blob = Digest::sha256(format!("layer of {seed}").as_bytes()).to_string();
                }
                Prep::Chart(name) => {
                    let name = fill(name, "", "", "");
                    let r = reg
                        .raw(
                            Method::POST,
                            "/api/v1/namespaces/mx/charts",
                            &[("authorization", admin.as_str())],
                            chart_tgz(&name, "1.0.0"),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
                }
                Prep::HelmRepo => {
                    let r = reg
                        .call(
                            Method::POST,
                            "/api/repos",
                            Some(&admin),
                            Some(json!({"name": "mx", "url": ""})),
                        )
                        .await;
                    assert!(
                        r.status == StatusCode::OK || r.status == StatusCode::CONFLICT,
                        "{}",
                        r.text()
                    );
                }
                Prep::Upload => {
                    let r = reg
                        .raw(
                            Method::POST,
                            "/v2/mx/team/app/blobs/uploads/",
                            &[("authorization", admin.as_str())],
                            Bytes::new(),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::ACCEPTED);
                    upload = r.headers["location"].to_str().unwrap().to_owned();
                }
            }
            let mut uri = fill(row.uri, &art, &art_blob, &upload);
            if let Some(second) = uri.match_indices('?').nth(1).map(|(at, _)| at) {
                uri.replace_range(second..=second, "&");
            }
            let mut content_type = None;
            let body: Vec<u8> = if row.body == "{chart}" {
                chart_tgz(&format!("c{i}"), "1.0.0")
            } else if let Some(name) = row
                .body
                .strip_prefix("{multipart:")
                .and_then(|b| b.strip_suffix('}'))
            {
                // helm-registry's upload: the archive as the form field `chartfile`.
                let name = fill(name, "", "", "");
                let mut form = b"--matrix\r\nContent-Disposition: form-data; name=\"chartfile\"; filename=\"c.tgz\"\r\nContent-Type: application/gzip\r\n\r\n".to_vec();
                form.extend(chart_tgz(&name, "1.0.0"));
                form.extend(b"\r\n--matrix--\r\n");
                content_type = Some("multipart/form-data; boundary=matrix");
                form
            } else {
                fill(row.body, &art, &art_blob, &upload).into_bytes()
            };
            let mut headers: Vec<(&str, &str)> = Vec::new();
            if let Some(auth) = auth {
                headers.push(("authorization", auth));
            }
            if let Some(t) = content_type {
                headers.push(("content-type", t));
            } else if body.starts_with(b"{") || body.starts_with(b"[") {
                let media = if row.template.contains("/manifests/") {
                    OCI_MANIFEST
                } else {
                    "application/json"
                };
                headers.push(("content-type", media));
            } else if !body.is_empty() {
                headers.push(("content-type", "application/octet-stream"));
            }
            let r = reg.raw(row.method.clone(), &uri, &headers, body).await;
            if let Some(template) = r.template
                && !row.template.starts_with("/api/v1/")
                && template != row.template
            {
                failures.push(format!(
                    "{} {uri}: answered by route {template}, the row says {}",
                    row.method, row.template
                ));
            }
            let status = r.status.as_u16();
            // The robot belongs to mx: in `library` (Harbor's default project, where every
            // user has the level they have in mx) it is a stranger.
            let who = if row.template == "/api/chartrepo/charts" && *caller == "robot" {
                Who::Stranger
            } else {
                *who
            };
            let outcome = match expected_refusal(row.need, who) {
                None if status < 400 || row.ok.contains(&status) => None,
                None => Some(format!("allowed, got {status}")),
                Some(refusal) if status == refusal => None,
                Some(refusal) => Some(format!("refused with {refusal}, got {status}")),
            };
            if let Some(outcome) = outcome {
                failures.push(format!(
                    "{caller}: {} {uri} ({:?}) should be {outcome}: {}",
                    row.method,
                    row.need,
                    r.text().chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        rows.len() * callers.len(),
        failures.join("\n")
    );

    // Every route has a row: the native API's documented operations and each family's
    // routes (a new route without a row fails here).
    let covered: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_owned()))
        .collect();
    let document = reg.get("/api/v1/openapi.json", None).await.json();
    let mut missing = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let key = (method.to_uppercase(), path.clone());
            if !covered.contains(&key) && !SELF_SERVICE.contains(&(key.0.as_str(), key.1.as_str()))
            {
                missing.push(format!("{} {}", key.0, key.1));
            }
        }
    }
    for routes in [
        berth_api::oci::endpoint::ROUTES,
        berth_api::bkrepo::endpoint::ROUTES,
        berth_api::swr::endpoint::ROUTES,
        berth_api::dockercloud::endpoint::ROUTES,
        berth_api::helmrepos::ROUTES,
        berth_api::spaces::endpoint::ROUTES,
        berth_api::helm::ROUTES,
    ] {
        for (method, template) in routes {
            if !covered.contains(&(method.to_string(), template.to_string()))
                && !DESTRUCTIVE.contains(&(*method, *template))
            {
                missing.push(format!("{method} {template}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
}

/// The native chart API over the one chart store: upload (409 on an existing version unless
/// `force`), lists, one version with its Chart.yaml, the archive byte for byte, refused
/// archives storing nothing, the same version in `/chartrepo` and on `/v2`, deletes.
async fn native_charts(reg: TestRegistry) {
    let admin = admin();
    let a = Some(admin.as_str());
    reg.create_namespace("charts", false).await;
    let upload = |body: Vec<u8>, query: &'static str| {
        let admin = admin.clone();
        let reg = &reg;
        async move {
            reg.raw(
                Method::POST,
                &format!("/api/v1/namespaces/charts/charts{query}"),
                &[
                    ("authorization", admin.as_str()),
                    ("content-type", "application/gzip"),
                ],
                body,
            )
            .await
        }
    };
    let web1 = chart_tgz("web", "1.0.0");
    let created = upload(web1.clone(), "").await.ok(StatusCode::CREATED);
    assert_eq!(
        (&created["name"], &created["version"]),
        (&json!("web"), &json!("1.0.0"))
    );
    assert_eq!(created["repository"], "charts/web");
    assert_eq!(created["digest"], Digest::sha256(&web1).as_str());
    assert_eq!(created["size"], web1.len());
    assert_eq!(created["metadata"]["apiVersion"], "v2");
    upload(web1.clone(), "")
        .await
        .error(StatusCode::CONFLICT, "already_exists");
    upload(web1.clone(), "?force=true")
        .await
        .ok(StatusCode::CREATED);
    upload(chart_tgz("web", "1.1.0"), "")
        .await
        .ok(StatusCode::CREATED);
    upload(chart_tgz("api", "0.1.0"), "")
        .await
        .ok(StatusCode::CREATED);

    // Refused: not a gzip, a bad version, nothing stored.
    let before = reg.admin_get("/api/v1/namespaces/charts/charts").await;
    upload(b"not a chart".to_vec(), "")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid");
    upload(chart_tgz("bad", "one"), "")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid");
    upload(Vec::new(), "")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid");
    assert_eq!(
        reg.admin_get("/api/v1/namespaces/charts/charts").await,
        before
    );

    let all = reg.admin_get("/api/v1/namespaces/charts/charts").await;
    assert_listing(&all, 3, 20, 0);
    let versions: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}-{}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(versions, ["api-0.1.0", "web-1.1.0", "web-1.0.0"]);
    let web = reg
        .admin_get("/api/v1/namespaces/charts/charts/web?limit=1")
        .await;
    assert_listing(&web, 2, 1, 0);
    assert_eq!(web["items"][0]["version"], "1.1.0", "newest first");
    let one = reg
        .admin_get("/api/v1/namespaces/charts/charts/web/1.0.0")
        .await;
    assert_eq!(one["has_provenance"], false);
    let archive = reg
        .get("/api/v1/namespaces/charts/charts/web/1.0.0/archive", a)
        .await;
    assert_eq!(archive.status, StatusCode::OK);
    assert_eq!(archive.headers["content-type"], "application/gzip");
    assert_eq!(archive.body.as_ref(), web1.as_slice());
    reg.get("/api/v1/namespaces/charts/charts/nope", a)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    reg.get("/api/v1/namespaces/charts/charts/web/9.9.9", a)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // The same store everywhere: the classic index and /v2.
    let index = reg.get("/chartrepo/charts/index.yaml", a).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.text().contains("web-1.1.0.tgz"), "{}", index.text());
    let tags = reg.get("/v2/charts/web/tags/list", a).await;
    assert_eq!(tags.json()["tags"], json!(["1.0.0", "1.1.0"]));

    // Deletes: one version, then a whole chart.
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/charts/charts/web/1.0.0",
        a,
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    reg.call(
        Method::DELETE,
        "/api/v1/namespaces/charts/charts/api",
        a,
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    let left = reg.admin_get("/api/v1/namespaces/charts/charts").await;
    assert_listing(&left, 1, 20, 0);
    assert_eq!(left["items"][0]["version"], "1.1.0");
    assert_eq!(
        reg.get("/v2/charts/web/manifests/1.0.0", a).await.status,
        StatusCode::NOT_FOUND
    );
}
