//! The paths of the docker extension API, parsed once. `{projectId}` and `{repoName}` are
//! one segment each; an image name may hold slashes (`library/nginx`), so the manifest and
//! layer paths take the last segment as the tag or layer id and the rest as the name.

use berth_core::RepoName;
use percent_encoding::percent_decode_str;

use super::error::BkError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BkRoute {
    /// `manifest/{projectId}/{repoName}/{name…}/{tag}`
    Manifest { name: RepoName, tag: String },
    /// `layer/{projectId}/{repoName}/{name…}/{id}`
    Layer { name: RepoName, digest: String },
    /// `repo/{projectId}/{repoName}`
    Images { project: String, repo: String },
    /// `tag/{projectId}/{repoName}/{name…}`
    Tags { name: RepoName },
    /// `package/delete/{projectId}/{repoName}`
    DeletePackage { project: String, repo: String },
    /// `version/delete/{projectId}/{repoName}`
    DeleteVersion { project: String, repo: String },
    /// `version/detail/{projectId}/{repoName}`
    VersionDetail { project: String, repo: String },
    /// `addr`
    Addr,
}

impl BkRoute {
    /// The route of a request path (`/docker/ext/...`).
    pub fn parse(path: &str) -> Result<BkRoute, BkError> {
        let rest = path
            .strip_prefix("/docker/ext")
            .ok_or_else(BkError::no_endpoint)?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let segments: Vec<String> = rest
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(BkError::no_endpoint());
        }
        let strs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let name = |parts: &[&str]| -> Result<RepoName, BkError> {
            parts
                .join("/")
                .parse()
                .map_err(|e: berth_core::NameError| BkError::invalid("name", e))
        };
        let pair = |p: &str, r: &str| (p.to_owned(), r.to_owned());
        Ok(match strs.as_slice() {
            ["addr"] => BkRoute::Addr,
            ["manifest", p, r, image @ .., last] if !image.is_empty() => BkRoute::Manifest {
                name: name(&[&[*p, *r], image].concat())?,
                tag: (*last).to_owned(),
            },
            ["layer", p, r, image @ .., last] if !image.is_empty() => BkRoute::Layer {
                name: name(&[&[*p, *r], image].concat())?,
                digest: (*last).to_owned(),
            },
            ["repo", p, r] => {
                let (project, repo) = pair(p, r);
                BkRoute::Images { project, repo }
            }
            ["tag", p, r, image @ ..] if !image.is_empty() => BkRoute::Tags {
                name: name(&[&[*p, *r], image].concat())?,
            },
            ["package", "delete", p, r] => {
                let (project, repo) = pair(p, r);
                BkRoute::DeletePackage { project, repo }
            }
            ["version", "delete", p, r] => {
                let (project, repo) = pair(p, r);
                BkRoute::DeleteVersion { project, repo }
            }
            ["version", "detail", p, r] => {
                let (project, repo) = pair(p, r);
                BkRoute::VersionDetail { project, repo }
            }
            _ => return Err(BkError::no_endpoint()),
        })
    }

    /// The route template for the access log.
    pub fn template(&self) -> &'static str {
        match self {
            BkRoute::Manifest { .. } => "/docker/ext/manifest/{projectId}/{repoName}/{name}/{tag}",
            BkRoute::Layer { .. } => "/docker/ext/layer/{projectId}/{repoName}/{name}/{id}",
            BkRoute::Images { .. } => "/docker/ext/repo/{projectId}/{repoName}",
            BkRoute::Tags { .. } => "/docker/ext/tag/{projectId}/{repoName}/{name}",
            BkRoute::DeletePackage { .. } => "/docker/ext/package/delete/{projectId}/{repoName}",
            BkRoute::DeleteVersion { .. } => "/docker/ext/version/delete/{projectId}/{repoName}",
            BkRoute::VersionDetail { .. } => "/docker/ext/version/detail/{projectId}/{repoName}",
            BkRoute::Addr => "/docker/ext/addr",
        }
    }
}

/// Every method and route template of the dialect; the permission matrix test
/// (`tests/native.rs`) has a row for each.
pub const ROUTES: &[(&str, &str)] = &[
    (
        "GET",
        "/docker/ext/manifest/{projectId}/{repoName}/{name}/{tag}",
    ),
    (
        "GET",
        "/docker/ext/layer/{projectId}/{repoName}/{name}/{id}",
    ),
    ("GET", "/docker/ext/repo/{projectId}/{repoName}"),
    ("GET", "/docker/ext/tag/{projectId}/{repoName}/{name}"),
    (
        "DELETE",
        "/docker/ext/package/delete/{projectId}/{repoName}",
    ),
    (
        "DELETE",
        "/docker/ext/version/delete/{projectId}/{repoName}",
    ),
    ("GET", "/docker/ext/version/detail/{projectId}/{repoName}"),
    ("GET", "/docker/ext/addr"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> BkRoute {
        let route = BkRoute::parse(path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert!(
            ROUTES.iter().any(|(_, t)| *t == route.template()),
            "{} is not in ROUTES",
            route.template()
        );
        route
    }

    #[test]
    fn paths() {
        assert_eq!(
            parsed("/docker/ext/manifest/p/r/library/nginx/v1"),
            BkRoute::Manifest {
                name: "p/r/library/nginx".parse().unwrap(),
                tag: "v1".into()
            }
        );
        assert_eq!(
            parsed("/docker/ext/layer/p/r/app/sha256:abc"),
            BkRoute::Layer {
                name: "p/r/app".parse().unwrap(),
                digest: "sha256:abc".into()
            }
        );
        assert_eq!(
            parsed("/docker/ext/tag/p/r/a/b/c"),
            BkRoute::Tags {
                name: "p/r/a/b/c".parse().unwrap()
            }
        );
        assert_eq!(
            parsed("/docker/ext/tag/p/r/team%2Fapp"),
            BkRoute::Tags {
                name: "p/r/team/app".parse().unwrap()
            }
        );
        assert_eq!(
            parsed("/docker/ext/repo/p/r"),
            BkRoute::Images {
                project: "p".into(),
                repo: "r".into()
            }
        );
        assert_eq!(parsed("/docker/ext/addr"), BkRoute::Addr);
        assert!(matches!(
            parsed("/docker/ext/version/detail/p/r"),
            BkRoute::VersionDetail { .. }
        ));
        for bad in [
            "/docker/ext",
            "/docker/ext/",
            "/docker/ext/manifest/p/r/v1",
            "/docker/ext/tag/p/r",
            "/docker/ext/tag/p/r/",
            "/docker/ext/repo/p",
            "/docker/ext/repo/p/r/x",
            "/docker/ext/nothing",
            "/docker/ext//addr",
        ] {
            assert!(BkRoute::parse(bad).is_err(), "{bad}");
        }
        // A name that is no OCI name is a parameter error.
        let e = BkRoute::parse("/docker/ext/tag/p/r/UPPER").unwrap_err();
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
    }
}
