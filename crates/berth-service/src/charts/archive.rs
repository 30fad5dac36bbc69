//! Validation of a chart archive (`.tgz`), as a stream: the gzip is inflated through a
//! counting reader that stops at the cap, so a gzip bomb is refused after at most
//! `max_unpacked_bytes` of output and nothing but Chart.yaml is ever held in memory.

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

/// Helm's OCI media types.
pub const HELM_CONFIG_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CONTENT_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const HELM_PROVENANCE_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// Bounds on what an uploaded chart may be.
#[derive(Clone, Debug)]
pub struct ChartLimits {
    /// The largest `.tgz` accepted (compressed).
    pub max_chart_bytes: u64,
    /// The most bytes the archive may inflate to (Helm's own default is 100 MiB).
    pub max_unpacked_bytes: u64,
    /// The most entries (files, folders, links) it may hold.
    pub max_entries: u64,
    /// The largest Chart.yaml read.
    pub max_chart_yaml_bytes: u64,
    /// The largest provenance file accepted.
    pub max_provenance_bytes: u64,
}

impl Default for ChartLimits {
    fn default() -> Self {
        ChartLimits {
            max_chart_bytes: 10 * 1024 * 1024,
            max_unpacked_bytes: 100 * 1024 * 1024,
            max_entries: 10_000,
            max_chart_yaml_bytes: 1024 * 1024,
            max_provenance_bytes: 1024 * 1024,
        }
    }
}

/// What a valid archive holds that berth keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartArchive {
    pub name: String,
    pub version: String,
    /// Chart.yaml as a JSON object.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl ChartArchive {
    /// The OCI tag naming the version (`+` is not allowed in tags; Helm writes `_`).
    pub fn tag(&self) -> String {
        version_tag(&self.version)
    }
}

pub fn version_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// Why an archive is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    #[error("chart archive is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("chart archive unpacks to more than the limit of {0} bytes")]
    UnpackedTooLarge(u64),
    #[error("chart archive has more than the limit of {0} entries")]
    TooManyEntries(u64),
    #[error("chart archive is not a gzip-compressed tar: {0}")]
    NotTarGz(String),
    #[error("chart archive entry {0:?}: {1}")]
    BadEntry(String, &'static str),
    #[error("chart archive must hold exactly one top-level folder, found {0:?} and {1:?}")]
    SeveralFolders(String, String),
    #[error("chart archive has no {0}/Chart.yaml")]
    NoChartYaml(String),
    #[error("Chart.yaml: {0}")]
    ChartYaml(String),
}

/// A reader that fails once more than `limit` bytes came through.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(CapExceeded));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct CapExceeded;

impl std::fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unpacked size cap exceeded")
    }
}

impl std::error::Error for CapExceeded {}

/// A normal relative path inside the archive, as its components; `None` for `..`, an
/// absolute path or a Windows prefix.
fn normal_components(path: &Path) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s.to_str()?.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Where a symbolic link at `entry` (components) pointing at `target` lands, if it stays
/// inside the top-level folder.
fn link_stays_inside(entry: &[String], target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    // Start at the link's folder.
    let mut at: Vec<&str> = entry[..entry.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    for c in target.components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => at.push(s),
                None => return false,
            },
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop();
                if at.is_empty() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    !at.is_empty()
}

/// Checks a chart archive and reads its Chart.yaml.
pub fn inspect(tgz: &[u8], limits: &ChartLimits) -> Result<ChartArchive, ArchiveError> {
    if tgz.len() as u64 > limits.max_chart_bytes {
        return Err(ArchiveError::TooLarge(limits.max_chart_bytes));
    }
    let capped = Capped {
        inner: GzDecoder::new(tgz),
        read: 0,
        limit: limits.max_unpacked_bytes,
    };
    let io_error = |e: io::Error| {
        if e.get_ref().is_some_and(|inner| inner.is::<CapExceeded>()) {
            ArchiveError::UnpackedTooLarge(limits.max_unpacked_bytes)
        } else {
            ArchiveError::NotTarGz(e.to_string())
        }
    };
    let mut archive = tar::Archive::new(capped);
    let mut top: Option<String> = None;
    let mut chart_yaml: Option<String> = None;
    let mut entries_seen = 0u64;
    for entry in archive.entries().map_err(io_error)? {
        let mut entry = entry.map_err(io_error)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        let path: PathBuf = entry.path().map_err(io_error)?.into_owned();
        let shown = path.to_string_lossy().into_owned();
        let Some(parts) = normal_components(&path) else {
            return Err(ArchiveError::BadEntry(
                shown,
                "absolute paths and '..' are not allowed",
            ));
        };
        let Some(first) = parts.first() else {
            return Err(ArchiveError::BadEntry(shown, "empty path"));
        };
        match &top {
            None => top = Some(first.clone()),
            Some(t) if t != first => {
                return Err(ArchiveError::SeveralFolders(t.clone(), first.clone()));
            }
            Some(_) => {}
        }
        if parts.len() == 1 && !kind.is_dir() {
            return Err(ArchiveError::BadEntry(
                shown,
                "files must be inside the chart's folder",
            ));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(io_error)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let inside = if kind.is_symlink() {
                link_stays_inside(&parts, &target)
            } else {
                normal_components(&target).is_some_and(|t| t.first() == top.as_ref())
            };
            if !inside {
                return Err(ArchiveError::BadEntry(
                    shown,
                    "links must point inside the chart",
                ));
            }
            continue;
        }
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(ArchiveError::BadEntry(
                shown,
                "only files, folders and links are allowed",
            ));
        }
        if parts.len() == 2 && parts[1] == "Chart.yaml" {
            if entry.header().size().unwrap_or(u64::MAX) > limits.max_chart_yaml_bytes {
                return Err(ArchiveError::ChartYaml(format!(
                    "larger than the limit of {} bytes",
                    limits.max_chart_yaml_bytes
                )));
            }
            let mut text = String::new();
            (&mut entry)
                .take(limits.max_chart_yaml_bytes)
                .read_to_string(&mut text)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData => ArchiveError::ChartYaml("not UTF-8 text".into()),
                    _ => io_error(e),
                })?;
            chart_yaml = Some(text);
        } else {
            // Read through (counted by the cap), never kept.
            io::copy(&mut entry, &mut io::sink()).map_err(io_error)?;
        }
    }
    let top = top.ok_or_else(|| ArchiveError::NotTarGz("the archive is empty".into()))?;
    let text = chart_yaml.ok_or_else(|| ArchiveError::NoChartYaml(top.clone()))?;
    parse_chart_yaml(&text, &top)
}

/// Parses Chart.yaml and checks what Helm requires, with the folder it came from.
pub fn parse_chart_yaml(text: &str, folder: &str) -> Result<ChartArchive, ArchiveError> {
    let value: serde_json::Value =
        serde_yaml::from_str(text).map_err(|e| ArchiveError::ChartYaml(e.to_string()))?;
    let serde_json::Value::Object(metadata) = value else {
        return Err(ArchiveError::ChartYaml("not a mapping".into()));
    };
    let field = |name: &str| -> Result<String, ArchiveError> {
        match metadata.get(name) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(serde_json::Value::String(_)) | None => {
                Err(ArchiveError::ChartYaml(format!("{name} is required")))
            }
            Some(_) => Err(ArchiveError::ChartYaml(format!("{name} must be a string"))),
        }
    };
    let api_version = field("apiVersion")?;
    if api_version != "v1" && api_version != "v2" {
        return Err(ArchiveError::ChartYaml(format!(
            "apiVersion {api_version:?} is not v1 or v2"
        )));
    }
    let name = field("name")?;
    if name != folder {
        return Err(ArchiveError::ChartYaml(format!(
            "name {name:?} does not match the chart's folder {folder:?}"
        )));
    }
    if !valid_chart_name(&name) {
        return Err(ArchiveError::ChartYaml(format!(
            "name {name:?} must be lowercase letters and digits, separated by '.', '_' or '-'"
        )));
    }
    // `version: 1.2` is a YAML number: say what is wrong with it as a version.
    let version = match metadata.get("version") {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => field("version")?,
    };
    if semver::Version::parse(&version).is_err() {
        return Err(ArchiveError::ChartYaml(format!(
            "version {version:?} is not a SemVer 2 version"
        )));
    }
    Ok(ChartArchive {
        name,
        version,
        metadata,
    })
}

/// A chart name that is also a valid OCI repository path component.
pub fn valid_chart_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 128 {
        return false;
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut prev_sep = true;
    for &b in bytes {
        if alnum(b) {
            prev_sep = false;
        } else if matches!(b, b'.' | b'_' | b'-') {
            if prev_sep {
                return false;
            }
            prev_sep = true;
        } else {
            return false;
        }
    }
    !prev_sep
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// A .tgz of `entries` (path, content); a content starting with "->" is a symlink.
    pub(crate) fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            if let Some(target) = content.strip_prefix(b"->") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                // set_link_name refuses '..' already; write the raw bytes as a hostile tar would.
                let name = &mut header.as_old_mut().linkname;
                name[..target.len()].copy_from_slice(target);
                set_raw_path(&mut header, path);
                header.set_cksum();
                builder.append(&header, &[][..]).unwrap();
            } else {
                header.set_size(content.len() as u64);
                header.set_mode(0o644);
                set_raw_path(&mut header, path);
                header.set_cksum();
                builder.append(&header, *content).unwrap();
            }
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn set_raw_path(header: &mut tar::Header, path: &str) {
        let name = &mut header.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
    }

    pub(crate) fn chart_yaml(name: &str, version: &str) -> String {
        format!(
            "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\ndescription: A test chart\nkeywords: [a, b]\nmaintainers:\n  - name: Ann\n    email: ann@example.com\n"
        )
    }

    pub(crate) fn chart(name: &str, version: &str) -> Vec<u8> {
        let yaml = chart_yaml(name, version);
        tgz(&[
            (&format!("{name}/Chart.yaml"), yaml.as_bytes()),
            (&format!("{name}/values.yaml"), b"replicas: 1\n"),
            (&format!("{name}/templates/cm.yaml"), b"kind: ConfigMap\n"),
        ])
    }

    #[test]
    fn accepts_a_chart() {
        let got = inspect(&chart("demo", "1.2.3-rc.1+b5"), &ChartLimits::default()).unwrap();
        assert_eq!(got.name, "demo");
        assert_eq!(got.version, "1.2.3-rc.1+b5");
        assert_eq!(got.tag(), "1.2.3-rc.1_b5");
        assert_eq!(got.metadata["appVersion"], "1.0");
        assert_eq!(got.metadata["maintainers"][0]["name"], "Ann");
    }

    #[test]
    fn refuses_what_helm_would_not_load() {
        let limits = ChartLimits::default();
        let yaml = |y: &str| tgz(&[("demo/Chart.yaml", y.as_bytes())]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not gzip at all".to_vec(), "not a gzip"),
            (chart("demo", "1.2.0.0"), "SemVer"),
            (chart("demo", "v1.2.3"), "SemVer"),
            (
                yaml("apiVersion: v3\nname: demo\nversion: 1.0.0\n"),
                "apiVersion",
            ),
            (
                yaml("name: demo\nversion: 1.0.0\n"),
                "apiVersion is required",
            ),
            (
                yaml("apiVersion: v2\nname: other\nversion: 1.0.0\n"),
                "does not match",
            ),
            (yaml("- a list"), "not a mapping"),
            (tgz(&[("demo/values.yaml", b"a: 1")]), "no demo/Chart.yaml"),
            (
                tgz(&[
                    ("demo/Chart.yaml", chart_yaml("demo", "1.0.0").as_bytes()),
                    ("other/x", b""),
                ]),
                "one top-level folder",
            ),
            (tgz(&[("Chart.yaml", b"x")]), "inside the chart's folder"),
            (tgz(&[("demo/../../etc/x", b"x")]), "'..'"),
            (tgz(&[("/etc/passwd", b"x")]), "absolute"),
            (
                tgz(&[("demo/l", b"->../../etc/passwd")]),
                "links must point inside",
            ),
            (
                tgz(&[("demo/l", b"->/etc/passwd")]),
                "links must point inside",
            ),
        ];
        for (archive, expected) in cases {
            let err = inspect(&archive, &limits).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
        }
        // A link inside the chart is fine.
        let ok = tgz(&[
            ("demo/Chart.yaml", chart_yaml("demo", "1.0.0").as_bytes()),
            ("demo/templates/l", b"->../values.yaml"),
        ]);
        inspect(&ok, &limits).unwrap();
    }

    #[test]
    fn refuses_a_gzip_bomb_without_inflating_it() {
        // 64 MiB of zeros in one entry compress to about 64 KiB.
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
        let mut header = tar::Header::new_gnu();
        let size = 64 * 1024 * 1024u64;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_path("demo/zeros").unwrap();
        header.set_cksum();
        builder.append(&header, io::repeat(0).take(size)).unwrap();
        let bomb = builder.into_inner().unwrap().finish().unwrap();
        assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
        let limits = ChartLimits {
            max_unpacked_bytes: 8 * 1024 * 1024,
            ..ChartLimits::default()
        };
        assert_eq!(
            inspect(&bomb, &limits).unwrap_err(),
            ArchiveError::UnpackedTooLarge(8 * 1024 * 1024)
        );
        let small = ChartLimits {
            max_chart_bytes: 100,
            ..ChartLimits::default()
        };
        assert_eq!(
            inspect(&bomb, &small).unwrap_err(),
            ArchiveError::TooLarge(100)
        );
    }

    #[test]
    fn caps_entries() {
        let names: Vec<String> = (0..20).map(|i| format!("demo/f{i}")).collect();
        let mut entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let yaml = chart_yaml("demo", "1.0.0");
        entries.push(("demo/Chart.yaml", yaml.as_bytes()));
        let limits = ChartLimits {
            max_entries: 10,
            ..ChartLimits::default()
        };
        assert_eq!(
            inspect(&tgz(&entries), &limits).unwrap_err(),
            ArchiveError::TooManyEntries(10)
        );
        let _ = std::io::sink().write(b"");
    }

    #[test]
    fn chart_names() {
        for good in ["a", "nginx", "my-chart", "a.b_c-d", "x9"] {
            assert!(valid_chart_name(good), "{good}");
        }
        for bad in ["", "A", "-a", "a-", "a--b", "a/b", "a b"] {
            assert!(!valid_chart_name(bad), "{bad}");
        }
    }
}
