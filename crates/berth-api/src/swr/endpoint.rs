//! The paths of SWR's management API, parsed from the raw (still percent-encoded) request
//! path so that a repository segment keeps its `%2F`: `/v2/manage/namespaces/ns/repos/team%2Fapp`
//! is one segment naming `team/app`. Each segment is then percent-decoded, and in a repository
//! segment `$` stands for `/` (SWR's own convention; Huawei's SDK sends it as `%24`), so
//! `team%2Fapp`, `team%24app` and `team$app` all name `team/app`. A trailing `/` is accepted
//! (and never redirected to: the SDK would count a redirect as success).

use percent_encoding::percent_decode_str;

/// What a path addresses. Names are decoded but not yet validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwrPath {
    /// `/v2/manage/namespaces`
    Namespaces,
    /// `/v2/manage/namespaces/{namespace}`
    Namespace { namespace: String },
    /// `/v2/manage/namespaces/{namespace}/access`
    NamespaceAccess { namespace: String },
    /// `/v2/manage/namespaces/{namespace}/repos`
    Repos { namespace: String },
    /// `/v2/manage/namespaces/{namespace}/repos/{repository}`
    Repo {
        namespace: String,
        repository: String,
    },
    /// `/v2/manage/namespaces/{namespace}/repos/{repository}/access`
    RepoAccess {
        namespace: String,
        repository: String,
    },
    /// `/v2/manage/namespaces/{namespace}/repos/{repository}/tags`
    Tags {
        namespace: String,
        repository: String,
    },
    /// `/v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}`
    Tag {
        namespace: String,
        repository: String,
        tag: String,
    },
    /// `/v2/manage/repos`: repositories across namespaces.
    AllRepos,
    /// `/v3/manage/repos`: the same with marker paging.
    V3Repos,
    /// `/v3/manage/namespaces/{namespace}/repos/{repository}/tags`
    V3Tags {
        namespace: String,
        repository: String,
    },
}

/// A decoded path segment; `None` when it is empty or not UTF-8.
fn segment(raw: &str) -> Option<String> {
    let decoded = percent_decode_str(raw).decode_utf8().ok()?;
    (!decoded.is_empty()).then(|| decoded.into_owned())
}

/// A repository segment: decoded, with `$` for `/`.
fn repository(raw: &str) -> Option<String> {
    segment(raw).map(|s| s.replace('$', "/"))
}

impl SwrPath {
    /// Parses a raw request path; `None` for anything that is not an SWR path.
    pub fn parse(path: &str) -> Option<SwrPath> {
        let (v3, rest) = if let Some(rest) = path.strip_prefix("/v2/manage/") {
            (false, rest)
        } else {
            (true, path.strip_prefix("/v3/manage/")?)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let parts: Vec<&str> = rest.split('/').collect();
        let found = match (v3, parts.as_slice()) {
            (false, ["namespaces"]) => SwrPath::Namespaces,
            (false, ["repos"]) => SwrPath::AllRepos,
            (true, ["repos"]) => SwrPath::V3Repos,
            (false, ["namespaces", ns]) => SwrPath::Namespace {
                namespace: segment(ns)?,
            },
            (false, ["namespaces", ns, "access"]) => SwrPath::NamespaceAccess {
                namespace: segment(ns)?,
            },
            (false, ["namespaces", ns, "repos"]) => SwrPath::Repos {
                namespace: segment(ns)?,
            },
            (false, ["namespaces", ns, "repos", repo]) => SwrPath::Repo {
                namespace: segment(ns)?,
                repository: repository(repo)?,
            },
            (false, ["namespaces", ns, "repos", repo, "access"]) => SwrPath::RepoAccess {
                namespace: segment(ns)?,
                repository: repository(repo)?,
            },
            (false, ["namespaces", ns, "repos", repo, "tags"]) => SwrPath::Tags {
                namespace: segment(ns)?,
                repository: repository(repo)?,
            },
            (false, ["namespaces", ns, "repos", repo, "tags", tag]) => SwrPath::Tag {
                namespace: segment(ns)?,
                repository: repository(repo)?,
                tag: segment(tag)?,
            },
            (true, ["namespaces", ns, "repos", repo, "tags"]) => SwrPath::V3Tags {
                namespace: segment(ns)?,
                repository: repository(repo)?,
            },
            _ => return None,
        };
        Some(found)
    }

    /// For the access log.
    pub fn template(&self) -> &'static str {
        match self {
            SwrPath::Namespaces => "/v2/manage/namespaces",
            SwrPath::Namespace { .. } => "/v2/manage/namespaces/{namespace}",
            SwrPath::NamespaceAccess { .. } => "/v2/manage/namespaces/{namespace}/access",
            SwrPath::Repos { .. } => "/v2/manage/namespaces/{namespace}/repos",
            SwrPath::Repo { .. } => "/v2/manage/namespaces/{namespace}/repos/{repository}",
            SwrPath::RepoAccess { .. } => {
                "/v2/manage/namespaces/{namespace}/repos/{repository}/access"
            }
            SwrPath::Tags { .. } => "/v2/manage/namespaces/{namespace}/repos/{repository}/tags",
            SwrPath::Tag { .. } => {
                "/v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}"
            }
            SwrPath::AllRepos => "/v2/manage/repos",
            SwrPath::V3Repos => "/v3/manage/repos",
            SwrPath::V3Tags { .. } => "/v3/manage/namespaces/{namespace}/repos/{repository}/tags",
        }
    }
}

/// Every method and route template of the dialect (HEAD where GET is); the permission
/// matrix test (`tests/native.rs`) has a row for each.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v2/manage/namespaces"),
    ("GET", "/v2/manage/namespaces"),
    ("GET", "/v2/manage/namespaces/{namespace}"),
    ("DELETE", "/v2/manage/namespaces/{namespace}"),
    ("GET", "/v2/manage/namespaces/{namespace}/access"),
    ("POST", "/v2/manage/namespaces/{namespace}/access"),
    ("PATCH", "/v2/manage/namespaces/{namespace}/access"),
    ("DELETE", "/v2/manage/namespaces/{namespace}/access"),
    ("POST", "/v2/manage/namespaces/{namespace}/repos"),
    ("GET", "/v2/manage/namespaces/{namespace}/repos"),
    (
        "GET",
        "/v2/manage/namespaces/{namespace}/repos/{repository}",
    ),
    (
        "PATCH",
        "/v2/manage/namespaces/{namespace}/repos/{repository}",
    ),
    (
        "DELETE",
        "/v2/manage/namespaces/{namespace}/repos/{repository}",
    ),
    (
        "GET",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
    ),
    (
        "POST",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
    ),
    (
        "PATCH",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
    ),
    (
        "DELETE",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/access",
    ),
    (
        "GET",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/tags",
    ),
    (
        "POST",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/tags",
    ),
    (
        "GET",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}",
    ),
    (
        "DELETE",
        "/v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}",
    ),
    ("GET", "/v2/manage/repos"),
    ("GET", "/v3/manage/repos"),
    (
        "GET",
        "/v3/manage/namespaces/{namespace}/repos/{repository}/tags",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(ns: &str, repository: &str) -> Option<SwrPath> {
        Some(SwrPath::Repo {
            namespace: ns.into(),
            repository: repository.into(),
        })
    }

    /// Parses, and checks that the route's template is listed in [`ROUTES`].
    fn p(path: &str) -> Option<SwrPath> {
        let parsed = SwrPath::parse(path);
        if let Some(route) = &parsed {
            assert!(
                ROUTES.iter().any(|(_, t)| *t == route.template()),
                "{} is not in ROUTES",
                route.template()
            );
        }
        parsed
    }

    #[test]
    fn paths() {
        assert_eq!(p("/v2/manage/namespaces"), Some(SwrPath::Namespaces));
        assert_eq!(p("/v2/manage/namespaces/"), Some(SwrPath::Namespaces));
        assert_eq!(p("/v2/manage/repos"), Some(SwrPath::AllRepos));
        assert_eq!(p("/v3/manage/repos"), Some(SwrPath::V3Repos));
        assert_eq!(
            p("/v2/manage/namespaces/group"),
            Some(SwrPath::Namespace {
                namespace: "group".into()
            })
        );
        assert_eq!(
            p("/v2/manage/namespaces/group/access"),
            Some(SwrPath::NamespaceAccess {
                namespace: "group".into()
            })
        );
        assert_eq!(
            p("/v2/manage/namespaces/group/repos"),
            Some(SwrPath::Repos {
                namespace: "group".into()
            })
        );
        // Nested names, every way they arrive.
        for nested in [
            "team%2Fapp",
            "team%2fapp",
            "team%24app",
            "team$app",
            "team/app",
        ] {
            let path = format!("/v2/manage/namespaces/group/repos/{nested}");
            let expected = if nested == "team/app" {
                // A literal slash is a separator: this is the tags-less `…/repos/team/app`,
                // which names nothing.
                None
            } else {
                repo("group", "team/app")
            };
            assert_eq!(p(&path), expected, "{path}");
        }
        assert_eq!(
            p("/v2/manage/namespaces/group/repos/a%2Fb%24c/tags/v1"),
            Some(SwrPath::Tag {
                namespace: "group".into(),
                repository: "a/b/c".into(),
                tag: "v1".into()
            })
        );
        assert_eq!(
            p("/v2/manage/namespaces/group/repos/app/tags/"),
            Some(SwrPath::Tags {
                namespace: "group".into(),
                repository: "app".into()
            })
        );
        assert_eq!(
            p("/v2/manage/namespaces/group/repos/app/access"),
            Some(SwrPath::RepoAccess {
                namespace: "group".into(),
                repository: "app".into()
            })
        );
        assert_eq!(
            p("/v3/manage/namespaces/group/repos/team%2Fapp/tags"),
            Some(SwrPath::V3Tags {
                namespace: "group".into(),
                repository: "team/app".into()
            })
        );
        for bad in [
            "/v2/manage",
            "/v2/manage/",
            "/v2/manage/other",
            "/v2/manage/namespaces//repos",
            "/v2/manage/namespaces/group/repos//tags",
            "/v2/manage/namespaces/group/repos/%ff",
            "/v2/manage/namespaces/group/other",
            "/v2/manage/namespaces/group/repos/app/tags/v1/more",
            "/v3/manage/namespaces",
            "/v3/manage/namespaces/group/repos/app",
            "/v2/group/app/manifests/v1",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
