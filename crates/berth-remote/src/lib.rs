//! berth's client of upstream registries: [`RemoteClient`] implements the services'
//! [`Upstream`] trait over reqwest (rustls), with the Docker token flow (a `Bearer`
//! challenge sends berth to the token endpoint with the credentials as HTTP Basic; tokens
//! are cached per scope until shortly before they expire) and plain Basic.
//!
//! Upstream URLs are user input, so the client follows rules of its own ([`policy`]): only
//! http and https, at most `max_redirects` redirects, each checked like the first URL, no
//! connection to a refused network (link-local and cloud metadata addresses by default; an
//! allow list lets loopback through in tests), manifests and token answers capped in size,
//! and timeouts for connecting, for the first byte of an answer, between two reads, and for
//! a whole answer that is read at once. Nothing here holds a lock across an await, so a slow
//! or broken upstream costs only the requests that go to it.

pub mod auth;
pub mod policy;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use berth_core::{Digest, Reference, RepoName};
use berth_service::{
    Fetched, ManifestHead, Upstream, UpstreamBlob, UpstreamCredentials, UpstreamError,
    UpstreamManifest, UpstreamTarget,
};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use sha2::Digest as _;

use auth::{AuthCache, Challenge, Scheme, parse_challenge};
use policy::{AddressPolicy, PolicyResolver, Refusal};

/// The largest token endpoint answer read.
const MAX_TOKEN_BYTES: u64 = 1024 * 1024;
/// How long a token lives when the endpoint does not say (the Docker token spec's default).
const DEFAULT_TOKEN_SECS: u64 = 60;

/// How the client behaves; the binary's `[remotes]` section.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Which addresses may be connected to.
    pub policy: AddressPolicy,
    /// Redirects followed per request at most.
    pub max_redirects: usize,
    /// The largest manifest read.
    pub max_manifest_bytes: u64,
    /// Connecting (name resolution, TCP and TLS) may take this long.
    pub connect_timeout: Duration,
    /// The answer's status and headers must arrive within this after sending.
    pub first_byte_timeout: Duration,
    /// A body (or the wait for headers) may stall this long between two reads.
    pub idle_timeout: Duration,
    /// An answer read at once (ping, token, manifest) must be complete within this.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            policy: AddressPolicy::default(),
            max_redirects: 5,
            max_manifest_bytes: berth_core::manifest::MAX_MANIFEST_BYTES as u64,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The upstream registry client.
pub struct RemoteClient {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
    config: ClientConfig,
    auth: AuthCache,
}

/// One request to an upstream.
struct Call<'a> {
    method: Method,
    url: Url,
    accept: &'a [&'a str],
    /// The token scope it needs (`repository:<name>:pull`); `None` for `/v2/`.
    scope: Option<String>,
    /// Whether the body is streamed to the caller (no total timeout then).
    streamed: bool,
}

fn basic(credentials: &UpstreamCredentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password.expose());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The cache key of a registry and credentials: the user and a hash of the password too,
/// so that a token fetched with one password never serves a request made with another
/// (a wrong password must fail even right after the right one worked).
fn login_key(target: &UpstreamTarget) -> String {
    let url = target.url.trim_end_matches('/');
    match &target.credentials {
        None => format!("{url} -"),
        Some(c) => {
            let mut hasher = sha2::Sha256::new();
            hasher.update(c.username.as_bytes());
            hasher.update([0]);
            hasher.update(c.password.expose().as_bytes());
            format!("{url} {} {}", c.username, hex::encode(hasher.finalize()))
        }
    }
}

/// A reqwest error as an upstream error: a refusal by the policy (the resolver's or the
/// redirect rule's) is found in its causes; the message names the causes, never a URL.
fn classify(e: reqwest::Error) -> UpstreamError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(refusal) = c.downcast_ref::<Refusal>() {
            return UpstreamError::Refused(refusal.0.clone());
        }
        cause = c.source();
    }
    let e = e.without_url();
    let text = describe(&e);
    if e.is_timeout() {
        UpstreamError::Timeout(text)
    } else if e.is_body() || e.is_decode() {
        UpstreamError::Invalid(text)
    } else {
        UpstreamError::Unreachable(text)
    }
}

/// An error and its causes, `: `-joined, each once.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A media type without its parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    header(headers, CONTENT_TYPE.as_str())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn not_ok(status: StatusCode, what: &str) -> UpstreamError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => UpstreamError::Denied(format!(
            "{what}: {} with the credentials given",
            status.as_u16()
        )),
        s => UpstreamError::Status { status: s.as_u16() },
    }
}

impl RemoteClient {
    pub fn new(config: ClientConfig) -> Result<RemoteClient, UpstreamError> {
        let policy = Arc::new(config.policy.clone());
        let redirects = {
            let policy = policy.clone();
            let max = config.max_redirects;
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max {
                    return attempt.error(Refusal(format!("more than {max} redirects")));
                }
                match policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            })
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(PolicyResolver {
                policy: policy.clone(),
            })
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.idle_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| UpstreamError::Invalid(format!("building the HTTP client: {e}")))?;
        Ok(RemoteClient {
            http,
            policy,
            config,
            auth: AuthCache::default(),
        })
    }

    /// `<target>/<path>`, checked.
    fn url(&self, target: &UpstreamTarget, path: &str) -> Result<Url, UpstreamError> {
        let url = Url::parse(&format!("{}{path}", target.url.trim_end_matches('/')))
            .map_err(|e| UpstreamError::Refused(format!("{:?}: {e}", target.url)))?;
        self.policy
            .check_url(&url)
            .map_err(|r| UpstreamError::Refused(r.0))?;
        Ok(url)
    }

    /// Sends one request (no retries).
    async fn execute(
        &self,
        call: &Call<'_>,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self.http.request(call.method.clone(), call.url.clone());
        if !call.accept.is_empty() {
            request = request.header(ACCEPT, call.accept.join(", "));
        }
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        if !call.streamed {
            request = request.timeout(self.config.request_timeout);
        }
        match tokio::time::timeout(self.config.first_byte_timeout, request.send()).await {
            Err(_) => Err(UpstreamError::Timeout(format!(
                "no answer within {:?}",
                self.config.first_byte_timeout
            ))),
            Ok(Err(e)) => Err(classify(e)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// The `Authorization` for a request as far as berth already knows how the registry
    /// wants it: Basic, or a cached (else fetched) token for the scope.
    async fn known_authorization(
        &self,
        target: &UpstreamTarget,
        login: &str,
        scope: &str,
    ) -> Result<Option<String>, UpstreamError> {
        match self.auth.scheme(login) {
            Some(Scheme::Basic) => Ok(target.credentials.as_ref().map(basic)),
            Some(Scheme::Bearer { realm, service }) => {
                if let Some(token) = self.auth.token(login, scope) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self
                    .fetch_token(target, login, &realm, service.as_deref(), scope)
                    .await?;
                Ok(Some(format!("Bearer {token}")))
            }
            None => Ok(None),
        }
    }

    /// Sends a request, logging in as the registry's challenge asks (once).
    async fn send(
        &self,
        target: &UpstreamTarget,
        call: &Call<'_>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let login = login_key(target);
        let scope = call.scope.clone().unwrap_or_default();
        let mut authorization = self.known_authorization(target, &login, &scope).await?;
        let mut retried = false;
        loop {
            let response = self.execute(call, authorization.as_deref()).await?;
            if response.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(response);
            }
            let Some(challenge) =
                header(response.headers(), WWW_AUTHENTICATE.as_str()).and_then(parse_challenge)
            else {
                return Ok(response);
            };
            retried = true;
            match challenge {
                Challenge::Basic => {
                    self.auth.set_scheme(&login, Scheme::Basic);
                    let Some(credentials) = &target.credentials else {
                        return Err(UpstreamError::InvalidCredentials);
                    };
                    let value = basic(credentials);
                    if authorization.as_deref() == Some(value.as_str()) {
                        return Ok(response);
                    }
                    authorization = Some(value);
                }
                Challenge::Bearer {
                    realm,
                    service,
                    scope: asked,
                } => {
                    self.auth.set_scheme(
                        &login,
                        Scheme::Bearer {
                            realm: realm.clone(),
                            service: service.clone(),
                        },
                    );
                    let scope = asked.unwrap_or_else(|| scope.clone());
                    self.auth.forget_token(&login, &scope);
                    let token = self
                        .fetch_token(target, &login, &realm, service.as_deref(), &scope)
                        .await?;
                    authorization = Some(format!("Bearer {token}"));
                }
            }
        }
    }

    /// A token from the registry's token endpoint for `scope` (empty: none), with the
    /// credentials as HTTP Basic; cached.
    async fn fetch_token(
        &self,
        target: &UpstreamTarget,
        login: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, UpstreamError> {
        let mut url = Url::parse(realm)
            .map_err(|_| UpstreamError::Invalid("the token realm is not a URL".into()))?;
        self.policy
            .check_url(&url)
            .map_err(|r| UpstreamError::Refused(format!("token realm: {}", r.0)))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if !scope.is_empty() {
                query.append_pair("scope", scope);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let call = Call {
            method: Method::GET,
            url,
            accept: &["application/json"],
            scope: None,
            streamed: false,
        };
        let response = self
            .execute(&call, target.credentials.as_ref().map(basic).as_deref())
            .await?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(UpstreamError::InvalidCredentials);
            }
            s => return Err(UpstreamError::Status { status: s.as_u16() }),
        }
        let body = read_capped(response, MAX_TOKEN_BYTES).await?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            UpstreamError::Invalid("the token endpoint's answer is not JSON".into())
        })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                UpstreamError::Invalid("the token endpoint's answer holds no token".into())
            })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_TOKEN_SECS));
        self.auth.put_token(login, scope, token.clone(), lifetime);
        Ok(token)
    }

    fn repository_call<'a>(
        &self,
        target: &UpstreamTarget,
        method: Method,
        repository: &str,
        rest: &str,
        accept: &'a [&'a str],
        streamed: bool,
    ) -> Result<Call<'a>, UpstreamError> {
        let name: RepoName = repository
            .parse()
            .map_err(|e| UpstreamError::Refused(format!("{e}")))?;
        Ok(Call {
            method,
            url: self.url(target, &format!("/v2/{name}/{rest}"))?,
            accept,
            scope: Some(format!("repository:{name}:pull")),
            streamed,
        })
    }
}

/// Reads a whole body of at most `limit` bytes.
async fn read_capped(response: reqwest::Response, limit: u64) -> Result<Bytes, UpstreamError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(UpstreamError::TooLarge { limit });
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(classify)?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(UpstreamError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn parse_reference(reference: &str) -> Result<Reference, UpstreamError> {
    reference
        .parse()
        .map_err(|e| UpstreamError::Refused(format!("{e}")))
}

fn declared_digest(headers: &HeaderMap) -> Result<Option<Digest>, UpstreamError> {
    match header(headers, "docker-content-digest") {
        None => Ok(None),
        Some(value) => value.parse().map(Some).map_err(|_| {
            UpstreamError::Invalid("its Docker-Content-Digest is not a digest".into())
        }),
    }
}

#[async_trait]
impl Upstream for RemoteClient {
    async fn fetch(
        &self,
        url: &str,
        credentials: Option<&UpstreamCredentials>,
        etag: Option<&str>,
        max_bytes: u64,
    ) -> Result<Fetched, UpstreamError> {
        let url = Url::parse(url).map_err(|e| UpstreamError::Refused(format!("{url:?}: {e}")))?;
        self.policy
            .check_url(&url)
            .map_err(|r| UpstreamError::Refused(r.0))?;
        let mut request = self.http.get(url).timeout(self.config.request_timeout);
        if let Some(credentials) = credentials {
            request = request.header(AUTHORIZATION, basic(credentials));
        }
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response =
            match tokio::time::timeout(self.config.first_byte_timeout, request.send()).await {
                Err(_) => {
                    return Err(UpstreamError::Timeout(format!(
                        "no answer within {:?}",
                        self.config.first_byte_timeout
                    )));
                }
                Ok(Err(e)) => return Err(classify(e)),
                Ok(Ok(response)) => response,
            };
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(Fetched::NotModified),
            StatusCode::NOT_FOUND => Ok(Fetched::NotFound),
            StatusCode::UNAUTHORIZED => Err(UpstreamError::InvalidCredentials),
            StatusCode::FORBIDDEN => Err(UpstreamError::Denied("403".into())),
            status if status.is_success() => {
                let etag = header(response.headers(), "etag").map(str::to_owned);
                let body = read_capped(response, max_bytes).await?;
                Ok(Fetched::Body { body, etag })
            }
            status => Err(UpstreamError::Status {
                status: status.as_u16(),
            }),
        }
    }

    async fn ping(&self, target: &UpstreamTarget) -> Result<(), UpstreamError> {
        let call = Call {
            method: Method::GET,
            url: self.url(target, "/v2/")?,
            accept: &[],
            scope: None,
            streamed: false,
        };
        let response = self.send(target, &call).await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(UpstreamError::InvalidCredentials)
            }
            StatusCode::NOT_FOUND => Err(UpstreamError::Invalid(
                "no registry API at /v2/ (404)".into(),
            )),
            s => Err(UpstreamError::Status { status: s.as_u16() }),
        }
    }

    async fn head_manifest(
        &self,
        target: &UpstreamTarget,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<ManifestHead>, UpstreamError> {
        let reference = parse_reference(reference)?;
        let call = self.repository_call(
            target,
            Method::HEAD,
            repository,
            &format!("manifests/{reference}"),
            accept,
            false,
        )?;
        let response = self.send(target, &call).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(not_ok(s, "manifest")),
        }
        let headers = response.headers();
        Ok(Some(ManifestHead {
            digest: declared_digest(headers)?,
            media_type: media_type(headers),
            // The header itself: a HEAD's body is empty, whatever its length says.
            size: header(headers, "content-length").and_then(|v| v.parse().ok()),
        }))
    }

    async fn get_manifest(
        &self,
        target: &UpstreamTarget,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<UpstreamManifest>, UpstreamError> {
        let reference = parse_reference(reference)?;
        let call = self.repository_call(
            target,
            Method::GET,
            repository,
            &format!("manifests/{reference}"),
            accept,
            false,
        )?;
        let response = self.send(target, &call).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(not_ok(s, "manifest")),
        }
        let declared = declared_digest(response.headers())?;
        let header_type = media_type(response.headers());
        let body = read_capped(response, self.config.max_manifest_bytes).await?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| UpstreamError::Invalid("the manifest is not a JSON object".into()))?;
        let matches = |d: &Digest| Digest::compute(d.algorithm(), &body) == *d;
        if let Some(d) = &declared
            && !matches(d)
        {
            return Err(UpstreamError::Invalid(format!(
                "the manifest's bytes do not match its Docker-Content-Digest {d}"
            )));
        }
        let digest = match &reference {
            Reference::Digest(d) if !matches(d) => {
                return Err(UpstreamError::Invalid(format!(
                    "the manifest's bytes do not match the digest asked for, {d}"
                )));
            }
            Reference::Digest(d) => d.clone(),
            Reference::Tag(_) => declared.unwrap_or_else(|| Digest::sha256(&body)),
        };
        let media_type = header_type
            .filter(|t| t != "application/octet-stream" && t != "text/plain")
            .or_else(|| json["mediaType"].as_str().map(str::to_owned))
            .ok_or_else(|| UpstreamError::Invalid("the manifest has no media type".into()))?;
        Ok(Some(UpstreamManifest {
            digest,
            media_type,
            body,
        }))
    }

    async fn get_blob(
        &self,
        target: &UpstreamTarget,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<UpstreamBlob>, UpstreamError> {
        let call = self.repository_call(
            target,
            Method::GET,
            repository,
            &format!("blobs/{digest}"),
            &[],
            true,
        )?;
        let response = self.send(target, &call).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(not_ok(s, "blob")),
        }
        let size = response.content_length();
        let body = response
            .bytes_stream()
            .map(|chunk| {
                chunk.map_err(|e| {
                    let kind = if e.is_timeout() {
                        io::ErrorKind::TimedOut
                    } else {
                        io::ErrorKind::Other
                    };
                    io::Error::new(kind, describe(&e.without_url()))
                })
            })
            .boxed();
        Ok(Some(UpstreamBlob { size, body }))
    }
}
