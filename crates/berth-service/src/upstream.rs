//! What berth needs from an upstream registry, as a trait the services call and the binary
//! implements (crate `berth-remote`): a ping that checks credentials, manifests by tag or
//! digest, and blobs as streams. External repositories use the ping; the pull-through cache
//! uses the rest.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{Digest, Secret};
use bytes::Bytes;

use crate::registry::BodyStream;
use crate::{Field, ServiceError};

/// A user and password for an upstream registry (sent as HTTP Basic, or to its token
/// endpoint). The password never reaches a log: [`Secret`] redacts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamCredentials {
    pub username: String,
    pub password: Secret,
}

/// An upstream registry and how to log in to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTarget {
    /// `https://registry.example.com[:port]`: scheme and authority, no path.
    pub url: String,
    /// `None`: anonymous (a token endpoint may still hand out anonymous tokens).
    pub credentials: Option<UpstreamCredentials>,
}

/// What a `HEAD` of a manifest tells: enough to decide whether a cached copy is current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest` (absent on some registries for tags).
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

/// A manifest as fetched: its bytes, their digest (computed by the client and checked
/// against what the registry declared and against a digest reference), and its media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamManifest {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
}

/// A blob being fetched: its declared length (if the registry sent one) and the bytes as
/// they arrive. The stream fails with `TimedOut` when the upstream stalls longer than the
/// idle timeout; the caller checks the digest while storing.
pub struct UpstreamBlob {
    pub size: Option<u64>,
    pub body: BodyStream,
}

impl fmt::Debug for UpstreamBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBlob")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Why an upstream request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The registry (or its token endpoint) refused the credentials, or wants credentials
    /// and none were given.
    #[error("invalid credentials for the upstream registry")]
    InvalidCredentials,
    /// The credentials are accepted but do not reach what was asked for.
    #[error("the upstream registry denied access: {0}")]
    Denied(String),
    /// berth's own rules forbid the request: a scheme other than http/https, an address in
    /// a refused network (link-local, cloud metadata, ...), too many redirects.
    #[error("refused by berth's upstream policy: {0}")]
    Refused(String),
    /// Name resolution, connection or TLS failed.
    #[error("the upstream registry cannot be reached: {0}")]
    Unreachable(String),
    #[error("the upstream registry did not answer in time: {0}")]
    Timeout(String),
    #[error("the upstream registry's answer is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// A status berth does not expect (5xx, 429, ...).
    #[error("the upstream registry answered {status}")]
    Status { status: u16 },
    /// An answer that makes no sense: unparseable, a digest that does not match, ...
    #[error("the upstream registry answered wrongly: {0}")]
    Invalid(String),
}

impl From<UpstreamError> for ServiceError {
    fn from(e: UpstreamError) -> ServiceError {
        match e {
            UpstreamError::InvalidCredentials => ServiceError::invalid(
                Field::param("password"),
                "invalid credentials for the upstream registry",
            ),
            UpstreamError::Refused(why) => ServiceError::invalid(
                Field::Name,
                format!("the upstream registry is refused by berth's policy: {why}"),
            ),
            other => ServiceError::Upstream(other.to_string()),
        }
    }
}

/// The upstream registry client.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// `GET /v2/` with the target's credentials (through the token flow when the registry
    /// asks for it): `Ok` when the registry answers and takes them.
    async fn ping(&self, target: &UpstreamTarget) -> Result<(), UpstreamError>;

    /// `HEAD` of a manifest by tag or digest; `None` when the registry does not have it.
    async fn head_manifest(
        &self,
        target: &UpstreamTarget,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<ManifestHead>, UpstreamError>;

    /// `GET` of a manifest by tag or digest, capped in size; `None` when it is not there.
    async fn get_manifest(
        &self,
        target: &UpstreamTarget,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<UpstreamManifest>, UpstreamError>;

    /// `GET` of any URL under the same rules (a Helm repository's `index.yaml` and chart
    /// archives), with HTTP Basic credentials if given and conditional on `etag`; the body
    /// is read whole, capped at `max_bytes`.
    async fn fetch(
        &self,
        url: &str,
        credentials: Option<&UpstreamCredentials>,
        etag: Option<&str>,
        max_bytes: u64,
    ) -> Result<Fetched, UpstreamError>;

    /// `GET` of a blob, following the registry's redirect (to object storage) under the
    /// same rules; `None` when it is not there.
    async fn get_blob(
        &self,
        target: &UpstreamTarget,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<UpstreamBlob>, UpstreamError>;
}

/// What a plain [`Upstream::fetch`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// 200: the body and its `ETag`.
    Body { body: Bytes, etag: Option<String> },
    /// 304: what was fetched with that `ETag` is current.
    NotModified,
    /// 404.
    NotFound,
}

/// How external registries are reached.
#[derive(Clone, Default)]
pub struct RemotesConfig {
    /// The client; `None`: registering external repositories is refused (unsupported).
    pub upstream: Option<Arc<dyn Upstream>>,
    /// Registries reached over plain HTTP, as `host` (any port) or `host:port`: Docker's
    /// "insecure registries". Every other registry is reached over HTTPS.
    pub insecure_registries: Vec<String>,
}

impl fmt::Debug for RemotesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemotesConfig")
            .field("upstream", &self.upstream.as_ref().map(|_| "configured"))
            .field("insecure_registries", &self.insecure_registries)
            .finish()
    }
}
