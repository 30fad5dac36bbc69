//! `/v2/...` paths parsed into typed routes. Repository names contain slashes, so the path
//! is matched from the right: the fixed tail (`/manifests/<ref>`, `/blobs/<digest>`, ...)
//! decides the route and everything before it is the name.

use berth_core::{Digest, DigestError, NameError, Reference, RepoName};
use http::Method;

use crate::auth::{Action, Scope};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OciRoute {
    Base,
    Catalog,
    Manifest {
        name: RepoName,
        reference: Reference,
    },
    Blob {
        name: RepoName,
        digest: Digest,
    },
    UploadStart {
        name: RepoName,
    },
    Upload {
        name: RepoName,
        id: String,
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

fn split_last(s: &str) -> Option<(&str, &str)> {
    s.rsplit_once('/')
}

impl OciRoute {
    /// Parses what follows `/v2/` (already percent-decoded).
    pub fn parse(rest: &str) -> Result<OciRoute, RouteError> {
        if rest.is_empty() {
            return Ok(OciRoute::Base);
        }
        if rest == "_catalog" {
            return Ok(OciRoute::Catalog);
        }
        for suffix in ["/blobs/uploads/", "/blobs/uploads"] {
            if let Some(name) = rest.strip_suffix(suffix) {
                return Ok(OciRoute::UploadStart {
                    name: name.parse()?,
                });
            }
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Ok(OciRoute::Tags {
                name: name.parse()?,
            });
        }
        let (prefix, last) = split_last(rest).ok_or(RouteError::NotFound)?;
        let (name, kind) = split_last(prefix).ok_or(RouteError::NotFound)?;
        if last.is_empty() {
            return Err(RouteError::NotFound);
        }
        match kind {
            "manifests" => Ok(OciRoute::Manifest {
                name: name.parse()?,
                reference: last.parse()?,
            }),
            "blobs" => Ok(OciRoute::Blob {
                name: name.parse()?,
                digest: last.parse()?,
            }),
            "referrers" => Ok(OciRoute::Referrers {
                name: name.parse()?,
                digest: last.parse()?,
            }),
            "uploads" => match name.strip_suffix("/blobs") {
                Some(name) => Ok(OciRoute::Upload {
                    name: name.parse()?,
                    id: last.to_owned(),
                }),
                None => Err(RouteError::NotFound),
            },
            _ => Err(RouteError::NotFound),
        }
    }

    /// What a request with `method` on this route must be allowed to do.
    pub fn scope(&self, method: &Method) -> Scope {
        let action = match *method {
            Method::GET | Method::HEAD => Action::Pull,
            Method::DELETE => Action::Delete,
            _ => Action::Push,
        };
        match self {
            OciRoute::Base => Scope::Base,
            OciRoute::Catalog => Scope::Catalog,
            OciRoute::Manifest { name, .. }
            | OciRoute::Blob { name, .. }
            | OciRoute::Tags { name }
            | OciRoute::Referrers { name, .. } => Scope::Repository(name.clone(), action),
            // Every verb on an upload session is part of pushing.
            OciRoute::UploadStart { name } | OciRoute::Upload { name, .. } => {
                Scope::Repository(name.clone(), Action::Push)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn name(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_route() {
        assert_eq!(OciRoute::parse(""), Ok(OciRoute::Base));
        assert_eq!(OciRoute::parse("_catalog"), Ok(OciRoute::Catalog));
        assert_eq!(
            OciRoute::parse("a/b/manifests/latest"),
            Ok(OciRoute::Manifest {
                name: name("a/b"),
                reference: "latest".parse().unwrap()
            })
        );
        assert_eq!(
            OciRoute::parse(&format!("team/blobs/blobs/{D}")),
            Ok(OciRoute::Blob {
                name: name("team/blobs"),
                digest: D.parse().unwrap()
            })
        );
        assert_eq!(
            OciRoute::parse("x/blobs/uploads/"),
            Ok(OciRoute::UploadStart { name: name("x") })
        );
        assert_eq!(
            OciRoute::parse("x/blobs/uploads"),
            Ok(OciRoute::UploadStart { name: name("x") })
        );
        assert_eq!(
            OciRoute::parse("x/manifests/blobs/uploads/abc-1"),
            Ok(OciRoute::Upload {
                name: name("x/manifests"),
                id: "abc-1".into()
            })
        );
        assert_eq!(
            OciRoute::parse("x/tags/list"),
            Ok(OciRoute::Tags { name: name("x") })
        );
        assert_eq!(
            OciRoute::parse(&format!("x/referrers/{D}")),
            Ok(OciRoute::Referrers {
                name: name("x"),
                digest: D.parse().unwrap()
            })
        );
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(OciRoute::parse("x"), Err(RouteError::NotFound));
        assert_eq!(OciRoute::parse("x/y/z"), Err(RouteError::NotFound));
        assert_eq!(OciRoute::parse("x/manifests/"), Err(RouteError::NotFound));
        assert!(matches!(
            OciRoute::parse("UPPER/manifests/latest"),
            Err(RouteError::Name(_))
        ));
        assert!(matches!(
            OciRoute::parse("x/blobs/sha256:abc"),
            Err(RouteError::Digest(_))
        ));
        assert!(matches!(
            OciRoute::parse("x/manifests/-bad"),
            Err(RouteError::Name(NameError::InvalidTag(_)))
        ));
        assert!(matches!(
            OciRoute::parse("x/uploads/abc"),
            Err(RouteError::NotFound)
        ));
    }

    #[test]
    fn scopes() {
        let r = OciRoute::parse("a/manifests/v1").unwrap();
        assert_eq!(
            r.scope(&Method::GET),
            Scope::Repository(name("a"), Action::Pull)
        );
        assert_eq!(
            r.scope(&Method::PUT),
            Scope::Repository(name("a"), Action::Push)
        );
        assert_eq!(
            r.scope(&Method::DELETE),
            Scope::Repository(name("a"), Action::Delete)
        );
        let u = OciRoute::parse("a/blobs/uploads/x").unwrap();
        assert_eq!(
            u.scope(&Method::DELETE),
            Scope::Repository(name("a"), Action::Push)
        );
        assert_eq!(OciRoute::Catalog.scope(&Method::GET), Scope::Catalog);
    }

    proptest! {
        #[test]
        fn name_round_trips_through_every_route(
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
            prop_assert_eq!(OciRoute::parse(&format!("{n}/manifests/{tag}")).unwrap(),
                OciRoute::Manifest { name: repo.clone(), reference: tag.parse().unwrap() });
            prop_assert_eq!(OciRoute::parse(&format!("{n}/blobs/{D}")).unwrap(),
                OciRoute::Blob { name: repo.clone(), digest: D.parse().unwrap() });
            prop_assert_eq!(OciRoute::parse(&format!("{n}/blobs/uploads/")).unwrap(),
                OciRoute::UploadStart { name: repo.clone() });
            prop_assert_eq!(OciRoute::parse(&format!("{n}/blobs/uploads/0a-1")).unwrap(),
                OciRoute::Upload { name: repo.clone(), id: "0a-1".into() });
            prop_assert_eq!(OciRoute::parse(&format!("{n}/tags/list")).unwrap(),
                OciRoute::Tags { name: repo.clone() });
            prop_assert_eq!(OciRoute::parse(&format!("{n}/referrers/{D}")).unwrap(),
                OciRoute::Referrers { name: repo, digest: D.parse().unwrap() });
        }

        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let _ = OciRoute::parse(&s);
        }
    }
}
