//! Manifest media types, parsing and validation. berth keeps the bytes a client pushed; this
//! module only reads them to learn what they reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The default limit on manifest size, as the distribution spec suggests.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The manifest media types berth stores and serves.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image (or artifact) manifest: a config and layers.
    Image,
    /// An index or manifest list: child manifests.
    Index,
}

impl ManifestKind {
    pub fn of_media_type(media_type: &str) -> Option<ManifestKind> {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
            OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest media type {0:?} is not supported")]
    UnsupportedMediaType(String),
    #[error("manifest invalid: {0}")]
    Invalid(String),
}

/// A content descriptor as it appears in manifests and in referrers responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What berth learned from a manifest's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    /// `artifactType`, or for an image manifest without one, the config's media type
    /// (the value a referrers response reports).
    pub artifact_type: Option<String>,
    /// Blobs this manifest needs: its config and layers.
    pub blobs: Vec<Descriptor>,
    /// Manifests this index needs.
    pub children: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Strips parameters (`; charset=...`) and whitespace from a Content-Type value.
pub fn media_type_essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// How deeply JSON in a manifest may nest: Go's encoding/json (what most clients and
/// distribution use) refuses more than this, so nothing deeper is a manifest anyone can read.
pub const MAX_JSON_DEPTH: usize = 10_000;

/// Whether `bytes` nests arrays and objects deeper than `limit`, by one pass over the bytes
/// (brackets inside strings do not count). serde skips unknown fields without a depth limit,
/// so this runs before it.
pub fn json_nests_deeper_than(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses and validates a pushed manifest. `content_type` is the request's Content-Type, if
/// any; the body's own `mediaType` wins and the two must agree when both are present.
pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<ParsedManifest, ManifestError> {
    if json_nests_deeper_than(bytes, MAX_JSON_DEPTH) {
        return Err(ManifestError::Invalid(format!(
            "JSON nests deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
    let header = content_type
        .map(media_type_essence)
        .filter(|ct| !ct.is_empty() && *ct != "application/json" && *ct != "*/*");
    let media_type = match (&raw.media_type, header) {
        (Some(body), Some(header)) if body != header => {
            return Err(ManifestError::Invalid(format!(
                "mediaType {body:?} does not match Content-Type {header:?}"
            )));
        }
        (Some(body), _) => body.clone(),
        (None, Some(header)) => header.to_owned(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) if raw.config.is_some() => OCI_MANIFEST.to_owned(),
        (None, None) => {
            return Err(ManifestError::Invalid(
                "cannot tell the manifest's media type".into(),
            ));
        }
    };
    if media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED {
        return Err(ManifestError::UnsupportedMediaType(media_type));
    }
    let kind = ManifestKind::of_media_type(&media_type)
        .ok_or_else(|| ManifestError::UnsupportedMediaType(media_type.clone()))?;
    if raw.schema_version != Some(2) {
        return Err(ManifestError::Invalid("schemaVersion must be 2".into()));
    }
    let parsed = match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(ManifestError::Invalid(
                    "an image manifest has no \"manifests\"".into(),
                ));
            }
            let config = raw
                .config
                .ok_or_else(|| ManifestError::Invalid("\"config\" is required".into()))?;
            let layers = match raw.layers {
                Some(layers) => layers,
                None if media_type == OCI_MANIFEST => {
                    return Err(ManifestError::Invalid("\"layers\" is required".into()));
                }
                None => Vec::new(),
            };
            if media_type == DOCKER_MANIFEST && (raw.subject.is_some()) {
                return Err(ManifestError::Invalid(
                    "a Docker manifest cannot have a subject".into(),
                ));
            }
            let artifact_type = raw
                .artifact_type
                .clone()
                .or_else(|| Some(config.media_type.clone()));
            let mut blobs = Vec::with_capacity(layers.len() + 1);
            blobs.push(config);
            blobs.extend(layers);
            ParsedManifest {
                media_type,
                kind,
                artifact_type,
                blobs,
                children: Vec::new(),
                subject: raw.subject,
                annotations: raw.annotations,
            }
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(ManifestError::Invalid(
                    "an index has no \"config\" or \"layers\"".into(),
                ));
            }
            let children = raw
                .manifests
                .ok_or_else(|| ManifestError::Invalid("\"manifests\" is required".into()))?;
            ParsedManifest {
                media_type,
                kind,
                artifact_type: raw.artifact_type,
                blobs: Vec::new(),
                children,
                subject: raw.subject,
                annotations: raw.annotations,
            }
        }
    };
    for d in parsed.blobs.iter().chain(&parsed.children) {
        if d.media_type.is_empty() {
            return Err(ManifestError::Invalid(format!(
                "descriptor {} has no mediaType",
                d.digest
            )));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3}}]{extra}}}"#,
            d(1),
            d(2)
        )
    }

    #[test]
    fn parses_image_manifest() {
        let m = parse(Some(OCI_MANIFEST), image("").as_bytes()).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.blobs.len(), 2);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert!(m.subject.is_none());
    }

    #[test]
    fn subject_and_artifact_type() {
        let body = image(&format!(
            r#","artifactType":"application/x-sig","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}}"#,
            d(3)
        ));
        let m = parse(None, body.as_bytes()).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sig"));
        assert_eq!(m.subject.unwrap().digest.as_str(), d(3));
    }

    #[test]
    fn parses_index() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            d(4)
        );
        let m = parse(Some(OCI_INDEX), body.as_bytes()).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children.len(), 1);
    }

    #[test]
    fn nesting_depth_is_capped() {
        let nested = |n: usize| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[],"x":{}"[{{\"]"{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(parse(None, nested(100).as_bytes()).is_ok());
        assert!(matches!(
            parse(None, nested(MAX_JSON_DEPTH + 1).as_bytes()),
            Err(ManifestError::Invalid(_))
        ));
        assert!(!json_nests_deeper_than(br#"{"a":"[[[[\"[["}"#, 1));
        assert!(json_nests_deeper_than(br#"{"a":[[]]}"#, 2));
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(matches!(parse(None, b"{"), Err(ManifestError::Json(_))));
        assert!(matches!(
            parse(Some(OCI_INDEX), image("").as_bytes()),
            Err(ManifestError::Invalid(_))
        ));
        assert!(matches!(
            parse(None, br#"{"schemaVersion":2,"mediaType":"text/plain"}"#),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            parse(
                None,
                image("")
                    .replace("\"schemaVersion\":2", "\"schemaVersion\":1")
                    .as_bytes()
            ),
            Err(ManifestError::Invalid(_))
        ));
        let bad_digest = image("").replace(&d(2), "sha256:XYZ");
        assert!(matches!(
            parse(None, bad_digest.as_bytes()),
            Err(ManifestError::Json(_))
        ));
    }
}
