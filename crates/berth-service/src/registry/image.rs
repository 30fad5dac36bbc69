//! What an image's config blob tells: platform, creation, build history, labels. Read once
//! per manifest, when a detail view first asks, and kept in the metadata database.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Config media types whose JSON is an image configuration.
pub const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

/// The parts of an image configuration that listings and detail views show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawConfig {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    created: Option<String>,
    author: Option<String>,
    #[serde(default)]
    history: Vec<HistoryEntry>,
    config: Option<RawRuntime>,
}

#[derive(Deserialize)]
struct RawRuntime {
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

impl ImageInfo {
    /// Reads an image configuration; anything that is not one gives an empty info (an
    /// artifact's config is the artifact's business).
    pub fn from_config(bytes: &[u8]) -> ImageInfo {
        match serde_json::from_slice::<RawConfig>(bytes) {
            Ok(raw) => ImageInfo {
                os: raw.os,
                architecture: raw.architecture,
                variant: raw.variant,
                created: raw.created,
                author: raw.author,
                history: raw.history,
                labels: raw.config.and_then(|c| c.labels).unwrap_or_default(),
            },
            Err(_) => ImageInfo::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_docker_config() {
        let config = br#"{"architecture":"amd64","os":"linux","created":"2019-01-01T01:29:27.650294696Z",
            "config":{"Labels":{"maintainer":"me"},"Cmd":["/hello"]},
            "history":[{"created":"2019-01-01T01:29:27.416803627Z","created_by":"/bin/sh -c #(nop) COPY file:f77 in / "},
                       {"created":"2019-01-01T01:29:27.650294696Z","created_by":"/bin/sh -c #(nop)  CMD [\"/hello\"]","empty_layer":true}],
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let info = ImageInfo::from_config(config);
        assert_eq!(info.os.as_deref(), Some("linux"));
        assert_eq!(info.architecture.as_deref(), Some("amd64"));
        assert_eq!(info.history.len(), 2);
        assert!(info.history[1].empty_layer && !info.history[0].empty_layer);
        assert_eq!(info.labels["maintainer"], "me");
        assert_eq!(ImageInfo::from_config(b"not json"), ImageInfo::default());
    }
}
