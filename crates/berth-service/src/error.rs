//! Errors by kind, for every API family to render in its own shape. A kind says what went
//! wrong in terms any surface understands (not found, invalid, conflict, ...); the few
//! details only the OCI surface reports (which blob a manifest lacks, where an upload stands)
//! ride along as typed fields, not as OCI codes.

use std::fmt;

use berth_core::Digest;

/// What a request named that does not exist, or already does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entity {
    Namespace(String),
    Repository(String),
    /// A manifest or tag, by the reference the client used.
    Manifest(String),
    Tag(String),
    Blob(Digest),
    Upload,
    Member(String),
    Chart(String),
    HelmRepo(String),
    Remote(String),
    User(String),
    Token(String),
}

impl Entity {
    /// The kind of thing, as a word for messages (`repository`).
    pub fn kind(&self) -> &'static str {
        match self {
            Entity::Namespace(_) => "namespace",
            Entity::Repository(_) => "repository",
            Entity::Manifest(_) => "manifest",
            Entity::Tag(_) => "tag",
            Entity::Blob(_) => "blob",
            Entity::Upload => "upload",
            Entity::Member(_) => "member",
            Entity::Chart(_) => "chart",
            Entity::HelmRepo(_) => "Helm repository",
            Entity::Remote(_) => "remote",
            Entity::User(_) => "user",
            Entity::Token(_) => "token",
        }
    }

    /// Its name, id or digest; empty for an upload (whose id is the client's own).
    pub fn key(&self) -> String {
        match self {
            Entity::Namespace(s)
            | Entity::Repository(s)
            | Entity::Manifest(s)
            | Entity::Tag(s)
            | Entity::Member(s)
            | Entity::Chart(s)
            | Entity::HelmRepo(s)
            | Entity::Remote(s)
            | Entity::User(s)
            | Entity::Token(s) => s.clone(),
            Entity::Blob(d) => d.to_string(),
            Entity::Upload => String::new(),
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entity::Upload => f.write_str("upload session"),
            other => write!(f, "{} {:?}", other.kind(), other.key()),
        }
    }
}

/// Which part of a request is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Name,
    Namespace,
    Tag,
    Digest,
    /// A declared length that does not match the content.
    Size,
    /// The manifest document.
    Manifest,
    /// A blob or child manifest the manifest needs and the repository lacks.
    ManifestReference(Digest),
    /// A chunk that does not start where the upload stands (`size` bytes so far).
    UploadRange {
        size: u64,
    },
    /// The upload's body could not be read.
    UploadBody,
    /// Any other named parameter or body field.
    Param(String),
}

impl Field {
    pub fn param(name: impl Into<String>) -> Field {
        Field::Param(name.into())
    }
}

/// Everything a service can refuse.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(Entity),
    #[error("{0} already exists")]
    AlreadyExists(Entity),
    #[error("{reason}")]
    Invalid { field: Field, reason: String },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// The request is valid but the current state forbids it (a namespace not empty, ...).
    #[error("{0}")]
    Conflict(String),
    /// Another request is working on the same thing right now; trying again later may work.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("upstream failed: {0}")]
    Upstream(String),
    #[error("{0}")]
    Unsupported(String),
    /// The database cannot be reached right now (see `MetaError::is_unavailable`): answered
    /// 503, which load balancers and clients retry. The cause is for the log.
    #[error("the database is unavailable")]
    Unavailable(String),
    /// A fault of berth or its backends. The cause is for the log (see
    /// [`ServiceError::log_internal`]); clients get a generic message.
    #[error("internal error")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: Field, reason: impl Into<String>) -> ServiceError {
        ServiceError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn internal(cause: impl fmt::Display) -> ServiceError {
        ServiceError::Internal(cause.to_string())
    }

    /// Logs the cause of an internal error (the one place that does), for the API family
    /// that is about to answer with a generic message. `request` names the request in the
    /// log (route template and method).
    pub fn log_internal(&self, request: &str) {
        match self {
            ServiceError::Internal(cause) => tracing::error!(request, %cause, "internal error"),
            ServiceError::Unavailable(cause) => {
                tracing::warn!(request, %cause, "database unavailable")
            }
            _ => {}
        }
    }
}

impl From<berth_storage::StorageError> for ServiceError {
    fn from(e: berth_storage::StorageError) -> Self {
        use berth_storage::StorageError as S;
        match e {
            S::UploadNotFound | S::InvalidUploadId => ServiceError::NotFound(Entity::Upload),
            S::Body(e) => ServiceError::invalid(
                Field::UploadBody,
                format!("reading the request body failed: {e}"),
            ),
            other => ServiceError::internal(other),
        }
    }
}

impl From<berth_meta::MetaError> for ServiceError {
    fn from(e: berth_meta::MetaError) -> Self {
        use berth_meta::MetaError as M;
        if e.is_unavailable() {
            return ServiceError::Unavailable(e.to_string());
        }
        match e {
            M::MissingBlob(d) | M::MissingManifest(d) => ServiceError::invalid(
                Field::ManifestReference(d.clone()),
                format!("manifest references a manifest or blob unknown to the repository: {d}"),
            ),
            M::SizeMismatch { .. } => {
                ServiceError::invalid(Field::Manifest, format!("manifest invalid: {e}"))
            }
            M::NotFound { entity, name } => ServiceError::NotFound(match entity {
                "namespace" => Entity::Namespace(name),
                "remote" => Entity::Remote(name),
                "proxy" => Entity::Remote(format!("proxy {name}")),
                _ => Entity::Repository(name),
            }),
            M::AlreadyExists { entity, name } => ServiceError::AlreadyExists(match entity {
                "namespace" => Entity::Namespace(name),
                "chart" => Entity::Chart(name),
                "remote" => Entity::Remote(name),
                "proxy" => Entity::Remote(format!("proxy {name}")),
                _ => Entity::Repository(name),
            }),
            M::InUse { entity, name } => {
                ServiceError::Conflict(format!("{entity} {name:?} is in use"))
            }
            M::NamespaceNotEmpty(ns) => ServiceError::Conflict(format!(
                "namespace {ns:?} still holds repositories: delete them first, or delete it with force"
            )),
            other => ServiceError::internal(other),
        }
    }
}
