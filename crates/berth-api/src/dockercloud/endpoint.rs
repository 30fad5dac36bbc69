//! The paths of Docker Cloud's external repository API, as its clients send them: under
//! `/api/repo/v1/`, an optional namespace, then `repository/` (the collection),
//! `repository/<name>/` (one entry; the name goes into the path unencoded, slashes and
//! colons included) or `registry/<host[:port]>/`. The trailing slash is optional (and never
//! redirected to). Without a namespace the first segment is `repository` or `registry`,
//! which is matched first: a namespace named `repository` is reserved, and one named
//! `registry` works because `repository` and `registry` are not registry addresses.

use berth_service::valid_registry_host;
use percent_encoding::percent_decode_str;

pub const PREFIX: &str = "/api/repo/v1/";

/// What a path addresses. `namespace: None` is the global scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcPath {
    Repositories {
        namespace: Option<String>,
    },
    Repository {
        namespace: Option<String>,
        name: String,
    },
    Registry {
        namespace: Option<String>,
        host: String,
    },
}

impl DcPath {
    /// Parses a request path (`/api/repo/v1/...`); `None` for anything else.
    pub fn parse(path: &str) -> Option<DcPath> {
        let rest = path.strip_prefix(PREFIX)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let decoded = percent_decode_str(rest).decode_utf8().ok()?;
        let segments: Vec<&str> = decoded.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        if let Some(found) = Self::in_scope(None, &segments) {
            return Some(found);
        }
        let (namespace, inner) = segments.split_first()?;
        Self::in_scope(Some((*namespace).to_owned()), inner)
    }

    fn in_scope(namespace: Option<String>, segments: &[&str]) -> Option<DcPath> {
        match segments {
            ["repository"] => Some(DcPath::Repositories { namespace }),
            ["repository", name @ ..] => Some(DcPath::Repository {
                namespace,
                name: name.join("/"),
            }),
            ["registry", host] if valid_registry_host(host) => Some(DcPath::Registry {
                namespace,
                host: (*host).to_owned(),
            }),
            _ => None,
        }
    }

    /// For the access log.
    pub fn template(&self) -> &'static str {
        match self {
            DcPath::Repositories { namespace: None } => "/api/repo/v1/repository/",
            DcPath::Repositories { .. } => "/api/repo/v1/{namespace}/repository/",
            DcPath::Repository {
                namespace: None, ..
            } => "/api/repo/v1/repository/{name}/",
            DcPath::Repository { .. } => "/api/repo/v1/{namespace}/repository/{name}/",
            DcPath::Registry {
                namespace: None, ..
            } => "/api/repo/v1/registry/{host}/",
            DcPath::Registry { .. } => "/api/repo/v1/{namespace}/registry/{host}/",
        }
    }
}

fn scope_prefix(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{PREFIX}{ns}/"),
        None => PREFIX.to_owned(),
    }
}

/// `/api/repo/v1/[ns/]repository/` (the list's own path).
pub fn repositories_uri(namespace: Option<&str>) -> String {
    format!("{}repository/", scope_prefix(namespace))
}

/// `/api/repo/v1/[ns/]repository/<name>/`: a path, never an absolute URL (the clients
/// follow it for PATCH and DELETE).
pub fn repository_uri(namespace: Option<&str>, name: &str) -> String {
    format!("{}repository/{name}/", scope_prefix(namespace))
}

/// `/api/repo/v1/[ns/]registry/<host[:port]>/`.
pub fn registry_uri(namespace: Option<&str>, host: &str) -> String {
    format!("{}registry/{host}/", scope_prefix(namespace))
}

/// Every method and route template of the dialect (HEAD where GET is); the permission
/// matrix test (`tests/native.rs`) has a row for each.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/repo/v1/repository/"),
    ("POST", "/api/repo/v1/repository/"),
    ("GET", "/api/repo/v1/{namespace}/repository/"),
    ("POST", "/api/repo/v1/{namespace}/repository/"),
    ("GET", "/api/repo/v1/repository/{name}/"),
    ("PATCH", "/api/repo/v1/repository/{name}/"),
    ("DELETE", "/api/repo/v1/repository/{name}/"),
    ("GET", "/api/repo/v1/{namespace}/repository/{name}/"),
    ("PATCH", "/api/repo/v1/{namespace}/repository/{name}/"),
    ("DELETE", "/api/repo/v1/{namespace}/repository/{name}/"),
    ("GET", "/api/repo/v1/registry/{host}/"),
    ("GET", "/api/repo/v1/{namespace}/registry/{host}/"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> Option<DcPath> {
        DcPath::parse(path)
    }

    fn repo(ns: Option<&str>, name: &str) -> Option<DcPath> {
        Some(DcPath::Repository {
            namespace: ns.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    #[test]
    fn paths() {
        let all = |ns: Option<&str>| {
            Some(DcPath::Repositories {
                namespace: ns.map(str::to_owned),
            })
        };
        assert_eq!(p("/api/repo/v1/repository/"), all(None));
        assert_eq!(p("/api/repo/v1/repository"), all(None));
        assert_eq!(p("/api/repo/v1/team/repository/"), all(Some("team")));
        assert_eq!(
            p("/api/repo/v1/repository/127.0.0.1:5001/u/img/"),
            repo(None, "127.0.0.1:5001/u/img")
        );
        assert_eq!(
            p("/api/repo/v1/repository/127.0.0.1%3A5001/u/img"),
            repo(None, "127.0.0.1:5001/u/img")
        );
        assert_eq!(
            p("/api/repo/v1/team/repository/reg.example/a/"),
            repo(Some("team"), "reg.example/a")
        );
        // Without a namespace first: `repository/registry/x` is the repository registry/x.
        assert_eq!(
            p("/api/repo/v1/repository/registry/x/"),
            repo(None, "registry/x")
        );
        assert_eq!(
            p("/api/repo/v1/registry/127.0.0.1:5001/"),
            Some(DcPath::Registry {
                namespace: None,
                host: "127.0.0.1:5001".into()
            })
        );
        assert_eq!(
            p("/api/repo/v1/team/registry/reg.example/"),
            Some(DcPath::Registry {
                namespace: Some("team".into()),
                host: "reg.example".into()
            })
        );
        // A namespace named `registry`.
        assert_eq!(
            p("/api/repo/v1/registry/repository/"),
            all(Some("registry"))
        );
        assert_eq!(
            p("/api/repo/v1/registry/repository/reg.example/a/"),
            repo(Some("registry"), "reg.example/a")
        );
        for bad in [
            "/api/repo/v1/",
            "/api/repo/v1/team/",
            "/api/repo/v1/team/other/",
            "/api/repo/v1/registry/",
            "/api/repo/v1/registry/not-a-host/",
            "/api/repo/v1/registry/a.example/b/",
            "/api/repo/v1//repository/",
            "/api/repo/v1/repository//x/",
            "/api/repo/v2/repository/",
            "/api/repo/v1/repository/%ff/",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(
            repository_uri(None, "127.0.0.1:5001/u/img"),
            "/api/repo/v1/repository/127.0.0.1:5001/u/img/"
        );
        assert_eq!(
            registry_uri(Some("team"), "reg.example"),
            "/api/repo/v1/team/registry/reg.example/"
        );
    }
}
