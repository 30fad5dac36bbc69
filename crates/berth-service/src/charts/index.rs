//! The classic repository index (`index.yaml`, and `index.json` for large repositories),
//! kept up to date incrementally: each namespace's rendered index is cached under its chart
//! generation (bumped by the database in the same transaction as every chart change), and
//! each version's entry is rendered once and reused, so a new version costs one entry's
//! rendering plus the concatenation, never a rescan of storage or a re-render of every entry.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use berth_meta::{ChartGeneration, ChartKey, ChartRow, RepoId};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::sort_versions;

/// One namespace's index, as served.
pub struct RenderedIndex {
    /// A strong validator: the namespace's id and chart generation.
    pub etag: String,
    pub yaml: Bytes,
    /// How many chart versions it lists.
    pub versions: usize,
    /// The entries in order, each with its chart's name, for the JSON form (joined on first
    /// use: most clients only ever ask for the YAML).
    parts: Vec<(Arc<str>, Arc<Fragment>)>,
    generated: String,
    json: OnceLock<Bytes>,
    yaml_gz: OnceLock<Bytes>,
    json_gz: OnceLock<Bytes>,
}

impl RenderedIndex {
    /// The same index as JSON.
    pub fn json(&self) -> Bytes {
        self.json.get_or_init(|| self.join_json()).clone()
    }

    fn join_json(&self) -> Bytes {
        let bytes: usize = self.parts.iter().map(|(_, f)| f.json.len() + 1).sum();
        let mut json = String::with_capacity(bytes + 64);
        json.push_str("{\"apiVersion\":\"v1\",\"entries\":{");
        let mut current: Option<&str> = None;
        for (name, fragment) in &self.parts {
            if current != Some(&**name) {
                if current.is_some() {
                    json.push_str("],");
                }
                json.push('"');
                json.push_str(name);
                json.push_str("\":[");
                current = Some(name);
            } else {
                json.push(',');
            }
            json.push_str(&fragment.json);
        }
        if current.is_some() {
            json.push(']');
        }
        json.push_str("},\"generated\":\"");
        json.push_str(&self.generated);
        json.push_str("\"}");
        Bytes::from(json)
    }

    /// The YAML gzip-compressed (compressed on first use, then kept).
    pub fn yaml_gzip(&self) -> Bytes {
        self.yaml_gz.get_or_init(|| gzip(&self.yaml)).clone()
    }

    pub fn json_gzip(&self) -> Bytes {
        self.json_gz.get_or_init(|| gzip(&self.json())).clone()
    }
}

fn gzip(bytes: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec");
    Bytes::from(encoder.finish().expect("writing to a Vec"))
}

/// One version's entry, rendered.
struct Fragment {
    /// A YAML sequence item (`- apiVersion: ...`), indented to sit under its chart's key.
    yaml: String,
    json: String,
}

/// Which stored row a fragment was rendered from.
type FragmentKey = (RepoId, String);

#[derive(Default)]
pub(crate) struct IndexCache {
    indexes: Mutex<HashMap<String, (ChartGeneration, Arc<RenderedIndex>)>>,
    fragments: Mutex<HashMap<FragmentKey, (String, Arc<Fragment>)>>,
}

impl IndexCache {
    /// More cached entries than this (about 1 KiB each) and the fragment cache starts over:
    /// a bound on memory.
    const MAX_FRAGMENTS: usize = 100_000;
    /// Rendered indexes kept at most (one per namespace): beyond, the cache starts over.
    const MAX_INDEXES: usize = 256;

    pub(crate) fn get(&self, namespace: &str, at: ChartGeneration) -> Option<Arc<RenderedIndex>> {
        let indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        match indexes.get(namespace) {
            Some((generation, index)) if *generation == at => Some(index.clone()),
            _ => None,
        }
    }

    /// The versions among `keys` whose entry is not rendered yet (or is stale).
    pub(crate) fn missing(&self, keys: &[ChartKey]) -> Vec<(RepoId, String)> {
        let fragments = self.fragments.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter(|k| {
                !matches!(fragments.get(&(k.repository, k.tag.clone())),
                          Some((digest, _)) if *digest == k.manifest)
            })
            .map(|k| (k.repository, k.tag.clone()))
            .collect()
    }

    /// Renders from full rows (every entry rendered unless cached).
    pub(crate) fn render(
        &self,
        namespace: &str,
        at: ChartGeneration,
        rows: Vec<ChartRow>,
    ) -> Arc<RenderedIndex> {
        let keys = rows
            .iter()
            .map(|r| ChartKey {
                repository: r.repository,
                tag: r.tag.clone(),
                name: r.name.clone(),
                version: r.version.clone(),
                manifest: r.manifest.as_str().to_owned(),
                created_at: r.created_at,
            })
            .collect();
        self.render_keys(namespace, at, keys, rows)
            .expect("every row's entry was just rendered")
    }

    /// Joins the cached entries of `keys`, rendering those of `fresh` (the rows of the
    /// [`IndexCache::missing`] ones) first. `None` if an entry is still missing (the charts
    /// changed between the two reads): the caller renders from full rows instead.
    pub(crate) fn render_keys(
        &self,
        namespace: &str,
        at: ChartGeneration,
        mut keys: Vec<ChartKey>,
        fresh: Vec<ChartRow>,
    ) -> Option<Arc<RenderedIndex>> {
        sort_versions(&mut keys, |k| (&k.name, &k.version));
        let generated = keys
            .iter()
            .map(|k| k.created_at)
            .max()
            .map(berth_core::time::rfc3339)
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into());
        let mut fragments = self.fragments.lock().unwrap_or_else(|e| e.into_inner());
        if fragments.len() + fresh.len() > Self::MAX_FRAGMENTS {
            fragments.clear();
        }
        for row in &fresh {
            fragments.insert(
                (row.repository, row.tag.clone()),
                (
                    row.manifest.as_str().to_owned(),
                    Arc::new(render_entry(row)),
                ),
            );
        }
        let mut parts: Vec<Arc<Fragment>> = Vec::with_capacity(keys.len());
        for k in &keys {
            match fragments.get(&(k.repository, k.tag.clone())) {
                Some((digest, fragment)) if *digest == k.manifest => parts.push(fragment.clone()),
                _ => return None,
            }
        }
        drop(fragments);
        let bytes: usize = parts.iter().map(|f| f.yaml.len() + 8).sum();
        let mut yaml = String::with_capacity(bytes + 64);
        yaml.push_str("apiVersion: v1\nentries:");
        if keys.is_empty() {
            yaml.push_str(" {}");
        }
        yaml.push('\n');
        let mut named: Vec<(Arc<str>, Arc<Fragment>)> = Vec::with_capacity(parts.len());
        let mut current: Option<Arc<str>> = None;
        for (k, fragment) in keys.iter().zip(parts) {
            let name = match &current {
                Some(name) if **name == *k.name => name.clone(),
                _ => {
                    // Chart names are [a-z0-9._-]: plain YAML and JSON keys.
                    yaml.push_str("  ");
                    yaml.push_str(&k.name);
                    yaml.push_str(":\n");
                    let name: Arc<str> = Arc::from(k.name.as_str());
                    current = Some(name.clone());
                    name
                }
            };
            yaml.push_str(&fragment.yaml);
            named.push((name, fragment));
        }
        yaml.push_str("generated: \"");
        yaml.push_str(&generated);
        yaml.push_str("\"\n");
        let index = Arc::new(RenderedIndex {
            etag: format!("\"{}-{}\"", at.namespace_id, at.generation),
            yaml: Bytes::from(yaml),
            versions: keys.len(),
            parts: named,
            generated,
            json: OnceLock::new(),
            yaml_gz: OnceLock::new(),
            json_gz: OnceLock::new(),
        });
        let mut indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the newest rendering if another request raced ahead.
        match indexes.get(namespace) {
            Some((generation, newer))
                if generation.namespace_id == at.namespace_id
                    && generation.generation > at.generation =>
            {
                Some(newer.clone())
            }
            _ => {
                if indexes.len() >= Self::MAX_INDEXES && !indexes.contains_key(namespace) {
                    indexes.clear();
                }
                indexes.insert(namespace.to_owned(), (at, index.clone()));
                Some(index)
            }
        }
    }
}

/// A version's entry: its Chart.yaml fields, then where to get it and what it is.
pub(crate) fn entry(row: &ChartRow) -> serde_json::Map<String, serde_json::Value> {
    let metadata = match serde_json::from_str(&row.metadata) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    entry_of(
        metadata,
        &row.name,
        &row.version,
        &row.created,
        row.archive.digest.hex(),
    )
}

pub(crate) fn entry_of(
    mut entry: serde_json::Map<String, serde_json::Value>,
    name: &str,
    version: &str,
    created: &str,
    digest_hex: &str,
) -> serde_json::Map<String, serde_json::Value> {
    entry.insert("name".into(), name.into());
    entry.insert("version".into(), version.into());
    entry.insert(
        "urls".into(),
        serde_json::json!([format!("charts/{name}-{version}.tgz")]),
    );
    entry.insert("created".into(), created.into());
    entry.insert("digest".into(), digest_hex.into());
    entry
}

fn render_entry(row: &ChartRow) -> Fragment {
    let entry = entry(row);
    let item = serde_yaml::to_string(&[&entry]).unwrap_or_default();
    let mut yaml = String::with_capacity(item.len() + item.len() / 8);
    for line in item.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    Fragment {
        yaml,
        json: serde_json::to_string(&entry).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use berth_core::Digest;
    use berth_meta::ManifestRef;

    use super::*;

    fn row(name: &str, version: &str, description: &str) -> ChartRow {
        let archive = Digest::sha256(format!("{name}-{version}").as_bytes());
        ChartRow {
            repository: RepoId(name.len() as i64),
            tag: version.replace('+', "_"),
            name: name.into(),
            version: version.into(),
            manifest: Digest::sha256(version.as_bytes()),
            archive: ManifestRef {
                digest: archive,
                size: 10,
            },
            provenance: None,
            metadata: serde_json::json!({
                "apiVersion": "v2", "name": name, "version": version,
                "description": description, "keywords": ["k"],
                "maintainers": [{"name": "Ann"}],
            })
            .to_string(),
            created: "2026-01-02T03:04:05.000Z".into(),
            created_at: 1_767_323_045_000,
        }
    }

    #[test]
    fn index_is_what_helm_reads() {
        let cache = IndexCache::default();
        let at = ChartGeneration {
            namespace_id: 1,
            generation: 3,
        };
        let index = cache.render(
            "ns",
            at,
            vec![
                row("web", "1.0.0", "multi\nline: \"quoted\""),
                row("db", "0.1.0", "d"),
                row("web", "1.10.0+b1", "w"),
            ],
        );
        assert_eq!(index.etag, "\"1-3\"");
        let yaml: serde_json::Value = serde_yaml::from_slice(&index.yaml).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&index.json()).unwrap();
        assert_eq!(yaml, json);
        assert_eq!(yaml["apiVersion"], "v1");
        let web = yaml["entries"]["web"].as_array().unwrap();
        assert_eq!(web[0]["version"], "1.10.0+b1");
        assert_eq!(web[1]["version"], "1.0.0");
        assert_eq!(web[1]["description"], "multi\nline: \"quoted\"");
        assert_eq!(web[1]["urls"][0], "charts/web-1.0.0.tgz");
        assert_eq!(web[1]["maintainers"][0]["name"], "Ann");
        assert_eq!(
            web[1]["digest"],
            Digest::sha256(b"web-1.0.0").hex().to_string()
        );
        assert_eq!(yaml["entries"]["db"][0]["name"], "db");
        assert!(cache.get("ns", at).is_some());
        // Every entry is cached now; a version whose manifest changed is not.
        let key = |r: &ChartRow| ChartKey {
            repository: r.repository,
            tag: r.tag.clone(),
            name: r.name.clone(),
            version: r.version.clone(),
            manifest: r.manifest.as_str().to_owned(),
            created_at: r.created_at,
        };
        let web = row("web", "1.0.0", "multi\nline: \"quoted\"");
        assert!(cache.missing(&[key(&web)]).is_empty());
        let moved = ChartKey {
            manifest: Digest::sha256(b"other").as_str().to_owned(),
            ..key(&web)
        };
        assert_eq!(cache.missing(std::slice::from_ref(&moved)).len(), 1);
        let later = ChartGeneration {
            generation: 9,
            ..at
        };
        assert!(
            cache
                .render_keys("ns", later, vec![moved], Vec::new())
                .is_none()
        );
        let next = ChartGeneration {
            generation: 4,
            ..at
        };
        assert!(cache.get("ns", next).is_none());
        let gz = index.yaml_gzip();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .unwrap();
        assert_eq!(out.as_bytes(), &index.yaml[..]);

        let empty = cache.render("other", next, Vec::new());
        let yaml: serde_json::Value = serde_yaml::from_slice(&empty.yaml).unwrap();
        assert_eq!(yaml["entries"], serde_json::json!({}));
        let json: serde_json::Value = serde_json::from_slice(&empty.json()).unwrap();
        assert_eq!(json["entries"], serde_json::json!({}));
    }
}
