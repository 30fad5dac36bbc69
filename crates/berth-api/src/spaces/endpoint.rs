//! The paths and methods of seed 002's API (caicloud helm-registry's descriptors, under
//! `/api/v1`), parsed once into an [`Operation`]. A space, chart and version are one path
//! segment each (percent-decoded).

use berth_core::Level;
use http::Method;
use percent_encoding::percent_decode_str;

use super::error::SpacesError;

/// Every (method, route template) this family answers, for the access log and the
/// permission matrix.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/spaces"),
    ("POST", "/api/v1/spaces"),
    ("DELETE", "/api/v1/spaces/{space}"),
    ("GET", "/api/v1/spaces/{space}/charts"),
    ("POST", "/api/v1/spaces/{space}/charts"),
    ("DELETE", "/api/v1/spaces/{space}/charts/{chart}"),
    ("GET", "/api/v1/spaces/{space}/charts/{chart}/versions"),
    (
        "GET",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
    ),
    (
        "POST",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
    ),
    (
        "PUT",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
    ),
    (
        "DELETE",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
    ),
    ("GET", "/api/v1/spaces/{space}/metadata"),
    ("GET", "/api/v1/spaces/{space}/metadata/latest"),
    ("GET", "/api/v1/spaces/{space}/charts/{chart}/metadata"),
    (
        "GET",
        "/api/v1/spaces/{space}/charts/{chart}/metadata/latest",
    ),
    (
        "GET",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/metadata",
    ),
    (
        "PUT",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/metadata",
    ),
    (
        "GET",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/values",
    ),
    (
        "PUT",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/values",
    ),
    (
        "GET",
        "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/requirements",
    ),
];

/// A chart version's coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPath {
    pub space: String,
    pub chart: String,
    pub version: String,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    ListSpaces,
    CreateSpace,
    DeleteSpace { space: String },
    ListCharts { space: String },
    CreateChart { space: String },
    DeleteChart { space: String, chart: String },
    ListVersions { space: String, chart: String },
    DownloadVersion(VersionPath),
    UploadVersion(VersionPath),
    UpdateVersion(VersionPath),
    DeleteVersion(VersionPath),
    ListSpaceMetadata { space: String },
    ListSpaceLatestMetadata { space: String },
    ListChartMetadata { space: String, chart: String },
    GetChartLatestMetadata { space: String, chart: String },
    GetMetadata(VersionPath),
    UpdateMetadata(VersionPath),
    GetValues(VersionPath),
    UpdateValues(VersionPath),
    GetRequirements(VersionPath),
}

impl Operation {
    /// The operation of a request, or why there is none (404 for an unknown path, 405 for
    /// a method the path does not take).
    pub fn parse(method: &Method, path: &str) -> Result<Operation, SpacesError> {
        let rest = path
            .strip_prefix("/api/v1/spaces")
            .ok_or_else(SpacesError::no_endpoint)?;
        let segments: Vec<String> = if rest.is_empty() || rest == "/" {
            Vec::new()
        } else {
            let rest = rest
                .strip_prefix('/')
                .ok_or_else(SpacesError::no_endpoint)?;
            rest.split('/')
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect()
        };
        if segments.iter().any(String::is_empty) {
            return Err(SpacesError::no_endpoint());
        }
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some(op) = matched(method.as_str(), &s) {
            return Ok(op);
        }
        // A path some other method takes is a 405, else a 404.
        let known = ["GET", "POST", "PUT", "DELETE"]
            .iter()
            .any(|m| matched(m, &s).is_some());
        Err(if known {
            SpacesError::method_not_allowed()
        } else {
            SpacesError::no_endpoint()
        })
    }

    /// The route template, for the access log (one of [`ROUTES`]).
    pub fn template(&self) -> &'static str {
        use Operation as O;
        match self {
            O::ListSpaces | O::CreateSpace => "/api/v1/spaces",
            O::DeleteSpace { .. } => "/api/v1/spaces/{space}",
            O::ListCharts { .. } | O::CreateChart { .. } => "/api/v1/spaces/{space}/charts",
            O::DeleteChart { .. } => "/api/v1/spaces/{space}/charts/{chart}",
            O::ListVersions { .. } => "/api/v1/spaces/{space}/charts/{chart}/versions",
            O::DownloadVersion(_)
            | O::UploadVersion(_)
            | O::UpdateVersion(_)
            | O::DeleteVersion(_) => "/api/v1/spaces/{space}/charts/{chart}/versions/{version}",
            O::ListSpaceMetadata { .. } => "/api/v1/spaces/{space}/metadata",
            O::ListSpaceLatestMetadata { .. } => "/api/v1/spaces/{space}/metadata/latest",
            O::ListChartMetadata { .. } => "/api/v1/spaces/{space}/charts/{chart}/metadata",
            O::GetChartLatestMetadata { .. } => {
                "/api/v1/spaces/{space}/charts/{chart}/metadata/latest"
            }
            O::GetMetadata(_) | O::UpdateMetadata(_) => {
                "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/metadata"
            }
            O::GetValues(_) | O::UpdateValues(_) => {
                "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/values"
            }
            O::GetRequirements(_) => {
                "/api/v1/spaces/{space}/charts/{chart}/versions/{version}/manifests/requirements"
            }
        }
    }

    /// The level the caller needs in the space (`None`: listing spaces, which shows what
    /// the caller may see; creating one, which the namespace policy decides).
    pub fn level(&self) -> Option<Level> {
        use Operation as O;
        match self {
            O::ListSpaces | O::CreateSpace => None,
            O::DeleteSpace { .. } => Some(Level::Manage),
            O::CreateChart { .. }
            | O::DeleteChart { .. }
            | O::UploadVersion(_)
            | O::UpdateVersion(_)
            | O::DeleteVersion(_)
            | O::UpdateMetadata(_)
            | O::UpdateValues(_) => Some(Level::Write),
            _ => Some(Level::Read),
        }
    }
}

/// The operation of a method on a path's segments, if there is one.
fn matched(m: &str, s: &[&str]) -> Option<Operation> {
    let o = |x: &str| x.to_owned();
    let v = |space: &str, chart: &str, version: &str| VersionPath {
        space: o(space),
        chart: o(chart),
        version: o(version),
    };
    Some(match (m, s) {
        ("GET", []) => Operation::ListSpaces,
        ("POST", []) => Operation::CreateSpace,
        ("DELETE", [space]) => Operation::DeleteSpace { space: o(space) },
        ("GET", [space, "charts"]) => Operation::ListCharts { space: o(space) },
        ("POST", [space, "charts"]) => Operation::CreateChart { space: o(space) },
        ("DELETE", [space, "charts", chart]) => Operation::DeleteChart {
            space: o(space),
            chart: o(chart),
        },
        ("GET", [space, "charts", chart, "versions"]) => Operation::ListVersions {
            space: o(space),
            chart: o(chart),
        },
        ("GET", [sp, "charts", c, "versions", ver]) => Operation::DownloadVersion(v(sp, c, ver)),
        ("POST", [sp, "charts", c, "versions", ver]) => Operation::UploadVersion(v(sp, c, ver)),
        ("PUT", [sp, "charts", c, "versions", ver]) => Operation::UpdateVersion(v(sp, c, ver)),
        ("DELETE", [sp, "charts", c, "versions", ver]) => Operation::DeleteVersion(v(sp, c, ver)),
        ("GET", [space, "metadata"]) => Operation::ListSpaceMetadata { space: o(space) },
        ("GET", [space, "metadata", "latest"]) => {
            Operation::ListSpaceLatestMetadata { space: o(space) }
        }
        ("GET", [space, "charts", chart, "metadata"]) => Operation::ListChartMetadata {
            space: o(space),
            chart: o(chart),
        },
        ("GET", [space, "charts", chart, "metadata", "latest"]) => {
            Operation::GetChartLatestMetadata {
                space: o(space),
                chart: o(chart),
            }
        }
        ("GET", [sp, "charts", c, "versions", ver, "manifests", "metadata"]) => {
            Operation::GetMetadata(v(sp, c, ver))
        }
        ("PUT", [sp, "charts", c, "versions", ver, "manifests", "metadata"]) => {
            Operation::UpdateMetadata(v(sp, c, ver))
        }
        ("GET", [sp, "charts", c, "versions", ver, "manifests", "values"]) => {
            Operation::GetValues(v(sp, c, ver))
        }
        ("PUT", [sp, "charts", c, "versions", ver, "manifests", "values"]) => {
            Operation::UpdateValues(v(sp, c, ver))
        }
        (
            "GET",
            [
                sp,
                "charts",
                c,
                "versions",
                ver,
                "manifests",
                "requirements",
            ],
        ) => Operation::GetRequirements(v(sp, c, ver)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, path: &str) -> Operation {
        Operation::parse(&method, path).unwrap_or_else(|e| panic!("{method} {path}: {e:?}"))
    }

    #[test]
    fn every_route_parses_and_names_its_template() {
        let sample = |template: &str| {
            template
                .replace("{space}", "team")
                .replace("{chart}", "web")
                .replace("{version}", "1.0.0%2Bbuild")
        };
        for (method, template) in ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let parsed = op(method.clone(), &sample(template));
            assert_eq!(parsed.template(), *template, "{method} {template}");
        }
        assert_eq!(
            op(
                Method::GET,
                "/api/v1/spaces/team/charts/web/versions/1.0.0%2Bb"
            ),
            Operation::DownloadVersion(VersionPath {
                space: "team".into(),
                chart: "web".into(),
                version: "1.0.0+b".into()
            })
        );
        assert_eq!(op(Method::GET, "/api/v1/spaces/"), Operation::ListSpaces);
    }

    #[test]
    fn unknown_paths_and_methods() {
        for path in [
            "/api/v1/spacesx",
            "/api/v1/spaces/team/nothing",
            "/api/v1/spaces//charts",
            "/api/v1/spaces/team/charts/web/versions/1.0.0/manifests/other",
        ] {
            let e = Operation::parse(&Method::GET, path).unwrap_err();
            assert_eq!(e.status, http::StatusCode::NOT_FOUND, "{path}");
        }
        let e = Operation::parse(&Method::PATCH, "/api/v1/spaces/team/charts").unwrap_err();
        assert_eq!(e.status, http::StatusCode::METHOD_NOT_ALLOWED);
        let e = Operation::parse(&Method::GET, "/api/v1/spaces/team").unwrap_err();
        assert_eq!(e.status, http::StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn writes_need_write_and_deleting_a_space_manage() {
        let v = VersionPath {
            space: "s".into(),
            chart: "c".into(),
            version: "1.0.0".into(),
        };
        assert_eq!(Operation::GetValues(v.clone()).level(), Some(Level::Read));
        assert_eq!(Operation::UpdateValues(v).level(), Some(Level::Write));
        assert_eq!(
            Operation::DeleteSpace { space: "s".into() }.level(),
            Some(Level::Manage)
        );
        assert_eq!(Operation::ListSpaces.level(), None);
    }
}
