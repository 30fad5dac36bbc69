//! Every `/v2` request parsed into one typed endpoint that carries its operation (as
//! garage's `Endpoint` does): path, method and query, validated, before anything runs.
//!
//! Repository names contain slashes, so the path is matched from the right: the fixed tail
//! (`/manifests/<ref>`, `/blobs/<digest>`, ...) decides the route and everything before it is
//! the name. The path is read as it arrived, still percent-encoded: a name may not contain
//! any percent-encoding (so `abuse1%2Ftarget` is not `abuse1/target`, and no policy that
//! looks at the raw path can be walked around); only the last segment (a reference, digest or
//! upload id) is decoded.

use berth_core::{
    Action, Digest, DigestError, NameError, Reference, RepoName, Resource, Scope, Tag, UploadId,
};
use http::Method;

use super::error::{OciCode, OciError};

/// Page size of the catalog when the client gives none. Tags come all at once unless the
/// client asks for pages, as distribution does, since many clients never follow `Link`.
pub const DEFAULT_CATALOG_PAGE: u32 = 1000;
pub const DEFAULT_TAGS_PAGE: u32 = MAX_PAGE;
/// The largest page a client may ask for.
pub const MAX_PAGE: u32 = 100_000;

/// The shape of a `/v2` path, before the method and query are considered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OciPath {
    Base,
    Catalog,
    /// The reference is kept unparsed-as-error: reads and writes treat a bad one differently.
    Manifest {
        name: RepoName,
        reference: Result<Reference, NameError>,
    },
    Blob {
        name: RepoName,
        digest: Digest,
    },
    UploadStart {
        name: RepoName,
    },
    /// `None`: the id is not one berth could have issued.
    Upload {
        name: RepoName,
        id: Option<UploadId>,
    },
    Tags {
        name: RepoName,
    },
    Referrers {
        name: RepoName,
        digest: Digest,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No `/v2` route has this shape.
    NotFound,
    Name(NameError),
    Digest(DigestError),
}

impl From<NameError> for RouteError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::Digest(d) => RouteError::Digest(d),
            other => RouteError::Name(other),
        }
    }
}

impl From<DigestError> for RouteError {
    fn from(e: DigestError) -> Self {
        RouteError::Digest(e)
    }
}

/// A repository name as it appears in the raw path: no percent-encoding at all.
fn raw_name(s: &str) -> Result<RepoName, RouteError> {
    if s.contains('%') {
        return Err(RouteError::Name(NameError::InvalidName(
            "a repository name cannot contain percent-encoding".into(),
        )));
    }
    Ok(s.parse()?)
}

/// One path segment, percent-decoded.
fn decoded(segment: &str) -> Result<String, RouteError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| RouteError::NotFound)
}

impl OciPath {
    /// Parses what follows `/v2/`, as it arrived (percent-encoded).
    pub fn parse(rest: &str) -> Result<OciPath, RouteError> {
        if rest.is_empty() {
            return Ok(OciPath::Base);
        }
        if rest == "_catalog" {
            return Ok(OciPath::Catalog);
        }
        for suffix in ["/blobs/uploads/", "/blobs/uploads"] {
            if let Some(name) = rest.strip_suffix(suffix) {
                return Ok(OciPath::UploadStart {
                    name: raw_name(name)?,
                });
            }
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Ok(OciPath::Tags {
                name: raw_name(name)?,
            });
        }
        let (prefix, last) = rest.rsplit_once('/').ok_or(RouteError::NotFound)?;
        let (name, kind) = prefix.rsplit_once('/').ok_or(RouteError::NotFound)?;
        if last.is_empty() {
            return Err(RouteError::NotFound);
        }
        match kind {
            "manifests" => {
                let name = raw_name(name)?;
                Ok(OciPath::Manifest {
                    name,
                    reference: decoded(last)?.parse(),
                })
            }
            "blobs" => Ok(OciPath::Blob {
                name: raw_name(name)?,
                digest: decoded(last)?.parse()?,
            }),
            "referrers" => Ok(OciPath::Referrers {
                name: raw_name(name)?,
                digest: decoded(last)?.parse()?,
            }),
            "uploads" => match name.strip_suffix("/blobs") {
                Some(name) => Ok(OciPath::Upload {
                    name: raw_name(name)?,
                    id: decoded(last)?.parse().ok(),
                }),
                None => Err(RouteError::NotFound),
            },
            _ => Err(RouteError::NotFound),
        }
    }
}

/// `n` and `last` of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub n: u32,
    pub last: Option<String>,
}

/// How a `POST …/blobs/uploads/` wants its blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadStart {
    /// Open a session.
    Session,
    /// `?digest=`: the whole blob in the body.
    Whole(Digest),
    /// `?mount=&from=`: from another repository (or, without `from`, from wherever this
    /// registry has it and the caller may read it).
    Mount {
        digest: Digest,
        from: Option<RepoName>,
    },
}

/// One `/v2` operation, fully parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OciEndpoint {
    Base,
    Catalog {
        page: ListPage,
    },
    ListTags {
        name: RepoName,
        page: ListPage,
    },
    GetManifest {
        name: RepoName,
        reference: Reference,
        head: bool,
    },
    PutManifest {
        name: RepoName,
        reference: Reference,
        /// `?tag=`, in order.
        tags: Vec<Tag>,
    },
    DeleteManifest {
        name: RepoName,
        reference: Reference,
    },
    GetBlob {
        name: RepoName,
        digest: Digest,
        head: bool,
    },
    DeleteBlob {
        name: RepoName,
        digest: Digest,
    },
    StartUpload {
        name: RepoName,
        start: UploadStart,
    },
    UploadStatus {
        name: RepoName,
        id: Option<UploadId>,
    },
    PatchUpload {
        name: RepoName,
        id: Option<UploadId>,
    },
    FinishUpload {
        name: RepoName,
        id: Option<UploadId>,
        digest: Digest,
    },
    CancelUpload {
        name: RepoName,
        id: Option<UploadId>,
    },
    Referrers {
        name: RepoName,
        digest: Digest,
        artifact_type: Option<String>,
    },
}

/// The query string's pairs, decoded, in order (keys may repeat: `?tag=a&tag=b`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn page(&self, default: u32) -> Result<ListPage, OciError> {
        let n = match self.get("n") {
            None | Some("") => default,
            Some(n) => n.parse::<u32>().map_err(|_| {
                OciError::new(
                    OciCode::PaginationNumberInvalid,
                    format!("invalid page size {n:?}"),
                )
            })?,
        };
        Ok(ListPage {
            n: n.min(MAX_PAGE),
            last: self
                .get("last")
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        })
    }
}

fn digest_param(value: Option<&str>) -> Result<Digest, OciError> {
    let value = value
        .ok_or_else(|| OciError::new(OciCode::DigestInvalid, "the digest parameter is required"))?;
    value
        .parse()
        .map_err(|e: DigestError| OciError::new(OciCode::DigestInvalid, e.to_string()))
}

fn unsupported(method: &Method) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("{method} is not supported on this endpoint"),
    )
}

fn tag_invalid(t: &str) -> OciError {
    OciError::new(OciCode::TagInvalid, format!("invalid tag {t:?}"))
}

impl From<RouteError> for OciError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound => OciError::new(OciCode::NotFound, "no such endpoint"),
            RouteError::Name(NameError::InvalidTag(t)) => tag_invalid(&t),
            RouteError::Name(e) => OciError::new(OciCode::NameInvalid, e.to_string()),
            RouteError::Digest(e) => OciError::new(OciCode::DigestInvalid, e.to_string()),
        }
    }
}

impl OciEndpoint {
    /// Parses a request: `path` is the whole URI path (`/v2/...`), as it arrived.
    pub fn parse(
        method: &Method,
        path: &str,
        query: Option<&str>,
    ) -> Result<OciEndpoint, OciError> {
        let rest = path.strip_prefix("/v2").unwrap_or_default();
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let route = OciPath::parse(rest)?;
        let query = Query::parse(query);
        let head = method == Method::HEAD;
        let read = matches!(*method, Method::GET | Method::HEAD);
        let endpoint = match (route, method.clone()) {
            (OciPath::Base, _) if read => OciEndpoint::Base,
            (OciPath::Catalog, Method::GET) => OciEndpoint::Catalog {
                page: query.page(DEFAULT_CATALOG_PAGE)?,
            },
            (OciPath::Tags { name }, Method::GET) => OciEndpoint::ListTags {
                name,
                page: query.page(DEFAULT_TAGS_PAGE)?,
            },
            (OciPath::Manifest { name, reference }, _) if read => match reference {
                Ok(reference) => OciEndpoint::GetManifest {
                    name,
                    reference,
                    head,
                },
                // A tag that cannot exist is simply not there (a malformed digest stays a
                // malformed digest).
                Err(NameError::InvalidTag(t)) => {
                    return Err(OciError::new(
                        OciCode::ManifestUnknown,
                        format!("manifest unknown to registry: invalid tag {t:?}"),
                    ));
                }
                Err(e) => return Err(RouteError::from(e).into()),
            },
            (OciPath::Manifest { name, reference }, Method::PUT) => {
                let tags = query
                    .all("tag")
                    .map(|t| t.parse::<Tag>().map_err(|_| tag_invalid(t)))
                    .collect::<Result<Vec<_>, _>>()?;
                OciEndpoint::PutManifest {
                    name,
                    reference: reference.map_err(RouteError::from)?,
                    tags,
                }
            }
            (OciPath::Manifest { name, reference }, Method::DELETE) => {
                OciEndpoint::DeleteManifest {
                    name,
                    reference: reference.map_err(RouteError::from)?,
                }
            }
            (OciPath::Blob { name, digest }, _) if read => {
                OciEndpoint::GetBlob { name, digest, head }
            }
            (OciPath::Blob { name, digest }, Method::DELETE) => {
                OciEndpoint::DeleteBlob { name, digest }
            }
            (OciPath::UploadStart { name }, Method::POST) => {
                let start = if let Some(mount) = query.get("mount") {
                    let digest = digest_param(Some(mount))?;
                    let from = match query.get("from") {
                        Some(from) => Some(from.parse().map_err(|e: NameError| {
                            OciError::new(OciCode::NameInvalid, e.to_string())
                        })?),
                        None => None,
                    };
                    UploadStart::Mount { digest, from }
                } else if let Some(digest) = query.get("digest") {
                    UploadStart::Whole(digest_param(Some(digest))?)
                } else {
                    UploadStart::Session
                };
                OciEndpoint::StartUpload { name, start }
            }
            (OciPath::Upload { name, id }, Method::GET) => OciEndpoint::UploadStatus { name, id },
            (OciPath::Upload { name, id }, Method::PATCH) => OciEndpoint::PatchUpload { name, id },
            (OciPath::Upload { name, id }, Method::PUT) => OciEndpoint::FinishUpload {
                name,
                id,
                digest: digest_param(query.get("digest"))?,
            },
            (OciPath::Upload { name, id }, Method::DELETE) => {
                OciEndpoint::CancelUpload { name, id }
            }
            (OciPath::Referrers { name, digest }, Method::GET) => OciEndpoint::Referrers {
                name,
                digest,
                artifact_type: query.get("artifactType").map(str::to_owned),
            },
            _ => return Err(unsupported(method)),
        };
        Ok(endpoint)
    }

    /// The repository this operation acts on, if any.
    pub fn repository(&self) -> Option<&RepoName> {
        match self {
            OciEndpoint::Base | OciEndpoint::Catalog { .. } => None,
            OciEndpoint::ListTags { name, .. }
            | OciEndpoint::GetManifest { name, .. }
            | OciEndpoint::PutManifest { name, .. }
            | OciEndpoint::DeleteManifest { name, .. }
            | OciEndpoint::GetBlob { name, .. }
            | OciEndpoint::DeleteBlob { name, .. }
            | OciEndpoint::StartUpload { name, .. }
            | OciEndpoint::UploadStatus { name, .. }
            | OciEndpoint::PatchUpload { name, .. }
            | OciEndpoint::FinishUpload { name, .. }
            | OciEndpoint::CancelUpload { name, .. }
            | OciEndpoint::Referrers { name, .. } => Some(name),
        }
    }

    /// The Docker token action this operation needs on its repository.
    pub fn action(&self) -> Action {
        match self {
            OciEndpoint::Base
            | OciEndpoint::Catalog { .. }
            | OciEndpoint::ListTags { .. }
            | OciEndpoint::GetManifest { .. }
            | OciEndpoint::GetBlob { .. }
            | OciEndpoint::Referrers { .. } => Action::Pull,
            OciEndpoint::DeleteManifest { .. } | OciEndpoint::DeleteBlob { .. } => Action::Delete,
            // Every verb on an upload session is part of pushing.
            OciEndpoint::PutManifest { .. }
            | OciEndpoint::StartUpload { .. }
            | OciEndpoint::UploadStatus { .. }
            | OciEndpoint::PatchUpload { .. }
            | OciEndpoint::FinishUpload { .. }
            | OciEndpoint::CancelUpload { .. } => Action::Push,
        }
    }

    /// What the caller must be allowed: the repository and action, or (for `/v2/` and the
    /// catalog, whose listing the access policy filters) reading the registry.
    pub fn scope(&self) -> Scope {
        match self.repository() {
            Some(name) => Scope::repository(name.clone(), self.action()),
            None => Scope::new(Resource::Registry, berth_core::Level::Read),
        }
    }

    /// The scope a registry token needs for this operation, as the `WWW-Authenticate`
    /// challenge names it (`repository:ns/app:pull,push`); none for `/v2/`.
    pub fn challenge_scope(&self) -> Option<String> {
        if let OciEndpoint::Catalog { .. } = self {
            return Some("registry:catalog:*".into());
        }
        let actions = match self.action() {
            Action::Pull => "pull",
            Action::Push => "pull,push",
            Action::Delete => "delete",
        };
        self.repository()
            .map(|name| format!("repository:{name}:{actions}"))
    }

    /// The route template, for logs.
    pub fn template(&self) -> &'static str {
        match self {
            OciEndpoint::Base => "/v2/",
            OciEndpoint::Catalog { .. } => "/v2/_catalog",
            OciEndpoint::ListTags { .. } => "/v2/{name}/tags/list",
            OciEndpoint::GetManifest { .. }
            | OciEndpoint::PutManifest { .. }
            | OciEndpoint::DeleteManifest { .. } => "/v2/{name}/manifests/{reference}",
            OciEndpoint::GetBlob { .. } | OciEndpoint::DeleteBlob { .. } => {
                "/v2/{name}/blobs/{digest}"
            }
            OciEndpoint::StartUpload { .. } => "/v2/{name}/blobs/uploads/",
            OciEndpoint::UploadStatus { .. }
            | OciEndpoint::PatchUpload { .. }
            | OciEndpoint::FinishUpload { .. }
            | OciEndpoint::CancelUpload { .. } => "/v2/{name}/blobs/uploads/{id}",
            OciEndpoint::Referrers { .. } => "/v2/{name}/referrers/{digest}",
        }
    }
}

/// Every method and route template the OCI surface answers (HEAD where GET is). The
/// permission matrix test (`tests/native.rs`) has a row for each.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v2/"),
    ("GET", "/v2/_catalog"),
    ("GET", "/v2/{name}/tags/list"),
    ("GET", "/v2/{name}/manifests/{reference}"),
    ("PUT", "/v2/{name}/manifests/{reference}"),
    ("DELETE", "/v2/{name}/manifests/{reference}"),
    ("GET", "/v2/{name}/blobs/{digest}"),
    ("DELETE", "/v2/{name}/blobs/{digest}"),
    ("POST", "/v2/{name}/blobs/uploads/"),
    ("GET", "/v2/{name}/blobs/uploads/{id}"),
    ("PATCH", "/v2/{name}/blobs/uploads/{id}"),
    ("PUT", "/v2/{name}/blobs/uploads/{id}"),
    ("DELETE", "/v2/{name}/blobs/uploads/{id}"),
    ("GET", "/v2/{name}/referrers/{digest}"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn name(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    fn id(s: &str) -> Option<UploadId> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn parses_every_path() {
        assert_eq!(OciPath::parse(""), Ok(OciPath::Base));
        assert_eq!(OciPath::parse("_catalog"), Ok(OciPath::Catalog));
        assert_eq!(
            OciPath::parse("a/b/manifests/latest"),
            Ok(OciPath::Manifest {
                name: name("a/b"),
                reference: Ok("latest".parse().unwrap())
            })
        );
        assert_eq!(
            OciPath::parse(&format!("team/blobs/blobs/{D}")),
            Ok(OciPath::Blob {
                name: name("team/blobs"),
                digest: D.parse().unwrap()
            })
        );
        assert_eq!(
            OciPath::parse(&format!("team/blobs/blobs/{}", D.replace(':', "%3A"))),
            Ok(OciPath::Blob {
                name: name("team/blobs"),
                digest: D.parse().unwrap()
            })
        );
        assert_eq!(
            OciPath::parse("x/blobs/uploads/"),
            Ok(OciPath::UploadStart { name: name("x") })
        );
        assert_eq!(
            OciPath::parse("x/blobs/uploads"),
            Ok(OciPath::UploadStart { name: name("x") })
        );
        assert_eq!(
            OciPath::parse("x/manifests/blobs/uploads/abc-1"),
            Ok(OciPath::Upload {
                name: name("x/manifests"),
                id: id("abc-1")
            })
        );
        assert_eq!(
            OciPath::parse("x/tags/list"),
            Ok(OciPath::Tags { name: name("x") })
        );
        assert_eq!(
            OciPath::parse(&format!("x/referrers/{D}")),
            Ok(OciPath::Referrers {
                name: name("x"),
                digest: D.parse().unwrap()
            })
        );
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(OciPath::parse("x"), Err(RouteError::NotFound));
        assert_eq!(OciPath::parse("x/y/z"), Err(RouteError::NotFound));
        assert_eq!(OciPath::parse("x/manifests/"), Err(RouteError::NotFound));
        assert!(matches!(
            OciPath::parse("UPPER/manifests/latest"),
            Err(RouteError::Name(_))
        ));
        assert!(matches!(
            OciPath::parse("x/blobs/sha256:abc"),
            Err(RouteError::Digest(_))
        ));
        assert!(matches!(
            OciPath::parse("x/manifests/-bad"),
            Ok(OciPath::Manifest {
                reference: Err(NameError::InvalidTag(_)),
                ..
            })
        ));
        assert!(matches!(
            OciPath::parse("x/uploads/abc"),
            Err(RouteError::NotFound)
        ));
        // Encoded slashes (or any encoding) never make a name.
        for path in [
            "abuse1%2Ftarget/manifests/t1",
            "a%62c/tags/list",
            "x%2F/blobs/uploads/",
        ] {
            assert!(
                matches!(OciPath::parse(path), Err(RouteError::Name(_))),
                "{path}"
            );
        }
        // An upload id berth cannot have issued is no session (and can never reach a
        // header or a storage key).
        assert_eq!(
            OciPath::parse("x/blobs/uploads/%0A"),
            Ok(OciPath::Upload {
                name: name("x"),
                id: None
            })
        );
    }

    #[test]
    fn endpoints_carry_their_operation() {
        let parse = |m: Method, p: &str, q: Option<&str>| OciEndpoint::parse(&m, p, q);
        assert!(matches!(
            parse(Method::HEAD, "/v2/a/manifests/v1", None),
            Ok(OciEndpoint::GetManifest { head: true, .. })
        ));
        let put = parse(
            Method::PUT,
            &format!("/v2/a/manifests/{D}"),
            Some("tag=x&tag=y"),
        )
        .unwrap();
        assert!(matches!(&put, OciEndpoint::PutManifest { tags, .. } if tags.len() == 2));
        assert_eq!(put.scope(), Scope::repository(name("a"), Action::Push));
        let err = parse(Method::PUT, "/v2/a/manifests/v1", Some("tag=-bad")).unwrap_err();
        assert_eq!(err.code, OciCode::TagInvalid);
        // Reads of a reference that cannot exist: not found; writes: invalid.
        let err = parse(Method::GET, "/v2/a/manifests/.INVALID_MANIFEST_NAME", None).unwrap_err();
        assert_eq!(
            (err.code, err.status),
            (OciCode::ManifestUnknown, StatusCode::NOT_FOUND)
        );
        let err = parse(Method::PUT, "/v2/a/manifests/.INVALID_MANIFEST_NAME", None).unwrap_err();
        assert_eq!(
            (err.code, err.status),
            (OciCode::TagInvalid, StatusCode::BAD_REQUEST)
        );
        assert!(matches!(
            parse(
                Method::POST,
                "/v2/a/blobs/uploads/",
                Some(&format!("mount={D}"))
            ),
            Ok(OciEndpoint::StartUpload {
                start: UploadStart::Mount { from: None, .. },
                ..
            })
        ));
        assert!(matches!(
            parse(
                Method::POST,
                "/v2/a/blobs/uploads/",
                Some(&format!("digest={D}"))
            ),
            Ok(OciEndpoint::StartUpload {
                start: UploadStart::Whole(_),
                ..
            })
        ));
        let del = parse(Method::DELETE, "/v2/a/blobs/uploads/x1", None).unwrap();
        assert_eq!(del.scope(), Scope::repository(name("a"), Action::Push));
        let del = parse(Method::DELETE, "/v2/a/manifests/v1", None).unwrap();
        assert_eq!(del.scope(), Scope::repository(name("a"), Action::Delete));
        assert_eq!(
            parse(Method::GET, "/v2/_catalog", Some("n=abc"))
                .unwrap_err()
                .code,
            OciCode::PaginationNumberInvalid
        );
        assert_eq!(
            parse(Method::POST, "/v2/a/tags/list", None)
                .unwrap_err()
                .code,
            OciCode::Unsupported
        );
        assert_eq!(
            parse(Method::GET, "/v2/_catalog", None)
                .unwrap()
                .scope()
                .resource,
            Resource::Registry
        );
    }

    proptest! {
        #[test]
        fn name_round_trips_through_every_path(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-z0-9]{1,6}",
                    Just("blobs".to_string()),
                    Just("manifests".to_string()),
                    Just("uploads".to_string()),
                    Just("tags".to_string()),
                    Just("referrers".to_string()),
                ],
                1..6),
            tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        ) {
            let n = parts.join("/");
            let repo = name(&n);
            prop_assert_eq!(OciPath::parse(&format!("{n}/manifests/{tag}")).unwrap(),
                OciPath::Manifest { name: repo.clone(), reference: Ok(tag.parse().unwrap()) });
            prop_assert_eq!(OciPath::parse(&format!("{n}/blobs/{D}")).unwrap(),
                OciPath::Blob { name: repo.clone(), digest: D.parse().unwrap() });
            prop_assert_eq!(OciPath::parse(&format!("{n}/blobs/uploads/")).unwrap(),
                OciPath::UploadStart { name: repo.clone() });
            prop_assert_eq!(OciPath::parse(&format!("{n}/blobs/uploads/0a-1")).unwrap(),
                OciPath::Upload { name: repo.clone(), id: id("0a-1") });
            prop_assert_eq!(OciPath::parse(&format!("{n}/tags/list")).unwrap(),
                OciPath::Tags { name: repo.clone() });
            prop_assert_eq!(OciPath::parse(&format!("{n}/referrers/{D}")).unwrap(),
                OciPath::Referrers { name: repo, digest: D.parse().unwrap() });
        }

        #[test]
        fn never_panics(s in "\\PC{0,120}", q in "\\PC{0,40}") {
            let _ = OciPath::parse(&s);
            for m in [Method::GET, Method::PUT, Method::POST, Method::PATCH, Method::DELETE] {
                let _ = OciEndpoint::parse(&m, &format!("/v2/{s}"), Some(&q));
            }
        }
    }
}
