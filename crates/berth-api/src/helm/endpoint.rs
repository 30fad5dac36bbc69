//! File names of a classic repository: `<name>-<version>.tgz` and `<name>-<version>.tgz.prov`.
//! A chart name may hold `-`, and so may a version; versions start with a digit and are
//! SemVer, so the first split whose right side is a SemVer version is the one.

use berth_service::ChartFile;

/// The chart name, version and which file a download names.
pub fn parse_file_name(file: &str) -> Option<(String, String, ChartFile)> {
    let (stem, kind) = if let Some(stem) = file.strip_suffix(".tgz.prov") {
        (stem, ChartFile::Provenance)
    } else {
        (file.strip_suffix(".tgz")?, ChartFile::Archive)
    };
    stem.match_indices('-').find_map(|(at, _)| {
        let (name, version) = (&stem[..at], &stem[at + 1..]);
        (!name.is_empty() && semver::Version::parse(version).is_ok())
            .then(|| (name.to_owned(), version.to_owned(), kind))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let p = |s| parse_file_name(s);
        assert_eq!(
            p("my-chart-1.0.0-rc.1+b2.tgz"),
            Some((
                "my-chart".into(),
                "1.0.0-rc.1+b2".into(),
                ChartFile::Archive
            ))
        );
        assert_eq!(
            p("web-0.1.0.tgz.prov"),
            Some(("web".into(), "0.1.0".into(), ChartFile::Provenance))
        );
        assert_eq!(p("web.tgz"), None);
        assert_eq!(p("web-1.0.tgz"), None);
        assert_eq!(p("-1.0.0.tgz"), None);
        assert_eq!(p("web-1.0.0.zip"), None);
    }
}
