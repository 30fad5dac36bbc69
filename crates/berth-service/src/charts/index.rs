//! The classic repository index (`index.yaml`, and `index.json` for large repositories),
//! kept up to date incrementally. A namespace's index is a sequence of per-chart blocks
//! (each chart's YAML under its key, its JSON member, and each of those deflated on first
//! use), cached under the namespace's chart generation. After a change, only the charts the
//! database's change log names are read again and only their blocks rebuilt (reusing the
//! rendering of every version whose manifest did not change); the other blocks are shared
//! with the previous generation. The body is served as the blocks' bytes in sequence, never
//! joined into one copy.
//!
//! The gzip form is one gzip member: a header, each block's raw deflate stream ended by a
//! sync flush (so byte-aligned, with no reference into what came before, and therefore valid
//! anywhere in a deflate stream), a final empty block, and the CRC-32 of the whole (combined
//! from the blocks' CRCs) with its length. Concatenated gzip *members* would be valid too
//! (RFC 1952), but curl's `--compressed` decodes only the first member.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use berth_core::Digest;
use berth_meta::{ChartChanges, ChartGeneration, ChartRow, RepoId};
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress};

use super::sort_versions;

/// Which form of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexForm {
    Yaml,
    Json,
}

/// A body to serve: its chunks in order (shared: a request clones one `Arc`), and their
/// total length.
#[derive(Clone, Debug)]
pub struct IndexBody {
    pub chunks: Arc<[Bytes]>,
    pub len: u64,
}

impl IndexBody {
    /// The body joined (for tests and small callers).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len as usize);
        for chunk in self.chunks.iter() {
            all.extend_from_slice(chunk);
        }
        all
    }
}

/// One namespace's index, as served.
pub struct RenderedIndex {
    /// A strong validator: the namespace's id and chart generation.
    pub etag: String,
    /// How many chart versions it lists.
    pub versions: usize,
    at: ChartGeneration,
    /// By chart name.
    blocks: BTreeMap<Arc<str>, Arc<ChartBlock>>,
    generated: String,
    yaml_tail: OnceLock<(Bytes, Segment)>,
    json_tail: OnceLock<(Bytes, Segment)>,
    /// The chunk lists, by form and encoding, made on first use.
    bodies: [OnceLock<IndexBody>; 4],
}

const YAML_HEAD: &str = "apiVersion: v1\nentries:\n";
const YAML_HEAD_EMPTY: &str = "apiVersion: v1\nentries: {}\n";
const JSON_HEAD: &str = "{\"apiVersion\":\"v1\",\"entries\":{";
/// A gzip member's header: deflate, no flags, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// A final, empty fixed-Huffman deflate block: the end of the stream.
const DEFLATE_END: [u8; 2] = [0x03, 0x00];

impl RenderedIndex {
    /// The namespace's chart generation this is the index of.
    pub fn generation(&self) -> i64 {
        self.at.generation
    }

    /// The body of the index in `form`, gzip-compressed if asked: the cached blocks in order
    /// (each block's deflated form made on first use, then kept).
    pub fn body(&self, form: IndexForm, gzip: bool) -> IndexBody {
        let slot = match form {
            IndexForm::Yaml => 0,
            IndexForm::Json => 2,
        } + usize::from(gzip);
        self.bodies[slot]
            .get_or_init(|| {
                let chunks = self.chunks(form, gzip);
                IndexBody {
                    len: chunks.iter().map(|c| c.len() as u64).sum(),
                    chunks: chunks.into(),
                }
            })
            .clone()
    }

    fn chunks(&self, form: IndexForm, gzip: bool) -> Vec<Bytes> {
        let mut body = Vec::with_capacity(self.blocks.len() + 5);
        let head: &'static str = match form {
            IndexForm::Yaml if self.blocks.is_empty() => YAML_HEAD_EMPTY,
            IndexForm::Yaml => YAML_HEAD,
            IndexForm::Json => JSON_HEAD,
        };
        let (tail, tail_gz) = self.tail(form);
        if !gzip {
            body.push(Bytes::from_static(head.as_bytes()));
            for (i, block) in self.blocks.values().enumerate() {
                body.push(match form {
                    IndexForm::Yaml => block.yaml.clone(),
                    // The first member goes without its leading comma.
                    IndexForm::Json if i == 0 => block.json.slice(1..),
                    IndexForm::Json => block.json.clone(),
                });
            }
            body.push(tail.clone());
            return body;
        }
        let mut crc = Crc::new();
        body.push(Bytes::from_static(&GZIP_HEADER));
        let head = static_segment(head);
        crc.combine(&head.crc);
        body.push(head.deflated.clone());
        for (i, block) in self.blocks.values().enumerate() {
            let segment = match form {
                IndexForm::Yaml => block.yaml_gz.get_or_init(|| Segment::of(&block.yaml)),
                IndexForm::Json if i == 0 => block
                    .json_first_gz
                    .get_or_init(|| Segment::of(&block.json[1..])),
                IndexForm::Json => block.json_gz.get_or_init(|| Segment::of(&block.json)),
            };
            crc.combine(&segment.crc);
            body.push(segment.deflated.clone());
        }
        crc.combine(&tail_gz.crc);
        body.push(tail_gz.deflated.clone());
        let mut trailer = Vec::with_capacity(10);
        trailer.extend_from_slice(&DEFLATE_END);
        trailer.extend_from_slice(&crc.sum().to_le_bytes());
        trailer.extend_from_slice(&crc.amount().to_le_bytes());
        body.push(Bytes::from(trailer));
        body
    }

    /// What ends the index (`generated`), plain and deflated.
    fn tail(&self, form: IndexForm) -> &(Bytes, Segment) {
        let (cell, text) = match form {
            IndexForm::Yaml => (
                &self.yaml_tail,
                format!("generated: \"{}\"\n", self.generated),
            ),
            IndexForm::Json => (
                &self.json_tail,
                format!("}},\"generated\":\"{}\"}}", self.generated),
            ),
        };
        cell.get_or_init(|| {
            let segment = Segment::of(text.as_bytes());
            (Bytes::from(text), segment)
        })
    }
}

/// Bytes deflated on their own, ending byte-aligned (sync flush) and not final, with the
/// CRC-32 and length of what they inflate to.
struct Segment {
    deflated: Bytes,
    crc: Crc,
}

impl Segment {
    fn of(data: &[u8]) -> Segment {
        // Made once per changed chart, so the default level (not the fastest) pays.
        let mut deflate = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() / 3 + 64);
        loop {
            let read = deflate.total_in() as usize;
            deflate
                .compress_vec(&data[read..], &mut out, FlushCompress::Sync)
                .expect("deflating into memory");
            // Done once all is read and the flush left room (zlib's rule).
            if deflate.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        let mut crc = Crc::new();
        crc.update(data);
        Segment {
            deflated: Bytes::from(out),
            crc,
        }
    }
}

fn static_segment(head: &'static str) -> &'static Segment {
    static SEGMENTS: OnceLock<[Segment; 3]> = OnceLock::new();
    let all = SEGMENTS
        .get_or_init(|| [YAML_HEAD, YAML_HEAD_EMPTY, JSON_HEAD].map(|h| Segment::of(h.as_bytes())));
    match head {
        YAML_HEAD => &all[0],
        YAML_HEAD_EMPTY => &all[1],
        _ => &all[2],
    }
}

/// One chart's part of the index: its key and versions (newest first), as YAML and as a JSON
/// member, each version's rendering a range of those bytes (reused while its manifest stays).
struct ChartBlock {
    versions: Vec<Slot>,
    /// `  <name>:\n` and each version's YAML sequence item.
    yaml: Bytes,
    /// `,"<name>":[...]`, with the leading comma (left off for the index's first chart).
    json: Bytes,
    /// The newest `created_at` of its versions.
    newest: i64,
    yaml_gz: OnceLock<Segment>,
    json_gz: OnceLock<Segment>,
    json_first_gz: OnceLock<Segment>,
}

/// Which stored row a version's rendering came from, and where it is in its block.
struct Slot {
    repository: RepoId,
    tag: String,
    manifest: Digest,
    yaml: Range<usize>,
    json: Range<usize>,
}

impl ChartBlock {
    /// The block of chart `name` from all its rows, reusing the renderings in `old` of the
    /// versions whose manifest did not change.
    fn build(name: &str, mut rows: Vec<ChartRow>, old: Option<&ChartBlock>) -> ChartBlock {
        sort_versions(&mut rows, |r| (&r.name, &r.version));
        let reusable: HashMap<(RepoId, &str), &Slot> = old
            .map(|b| {
                b.versions
                    .iter()
                    .map(|s| ((s.repository, s.tag.as_str()), s))
                    .collect()
            })
            .unwrap_or_default();
        let reused_bytes = old.map_or(0, |b| b.yaml.len());
        let mut yaml = Vec::with_capacity(reused_bytes + 1024);
        let mut json = Vec::with_capacity(reused_bytes + 1024);
        // Chart names are [a-z0-9._-]: plain YAML and JSON keys.
        yaml.extend_from_slice(format!("  {name}:\n").as_bytes());
        json.extend_from_slice(format!(",\"{name}\":[").as_bytes());
        let mut versions = Vec::with_capacity(rows.len());
        let mut newest = i64::MIN;
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let (y0, j0) = (yaml.len(), json.len());
            match (reusable.get(&(row.repository, row.tag.as_str())), old) {
                (Some(slot), Some(old)) if slot.manifest == row.manifest => {
                    yaml.extend_from_slice(&old.yaml[slot.yaml.clone()]);
                    json.extend_from_slice(&old.json[slot.json.clone()]);
                }
                _ => {
                    let (y, j) = render_entry(row);
                    yaml.extend_from_slice(y.as_bytes());
                    json.extend_from_slice(j.as_bytes());
                }
            }
            newest = newest.max(row.created_at);
            versions.push(Slot {
                repository: row.repository,
                tag: row.tag.clone(),
                manifest: row.manifest.clone(),
                yaml: y0..yaml.len(),
                json: j0..json.len(),
            });
        }
        json.push(b']');
        ChartBlock {
            versions,
            yaml: Bytes::from(yaml),
            json: Bytes::from(json),
            newest,
            yaml_gz: OnceLock::new(),
            json_gz: OnceLock::new(),
            json_first_gz: OnceLock::new(),
        }
    }
}

#[derive(Default)]
pub(crate) struct IndexCache {
    indexes: Mutex<HashMap<String, Arc<RenderedIndex>>>,
}

impl IndexCache {
    /// More versions than this in all cached indexes together (a few KiB each, with their
    /// deflated forms) and the other namespaces' indexes are dropped: a bound on memory.
    const MAX_VERSIONS: usize = 100_000;
    /// Rendered indexes kept at most (one per namespace): beyond, the cache starts over.
    const MAX_INDEXES: usize = 256;

    /// The cached index of the namespace, whatever its generation (`None` if there is none,
    /// or it is of another namespace of that name, since deleted).
    pub(crate) fn current(&self, namespace: &str, namespace_id: i64) -> Option<Arc<RenderedIndex>> {
        let indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        indexes
            .get(namespace)
            .filter(|index| index.at.namespace_id == namespace_id)
            .cloned()
    }

    pub(crate) fn get(&self, namespace: &str, at: ChartGeneration) -> Option<Arc<RenderedIndex>> {
        self.current(namespace, at.namespace_id)
            .filter(|index| index.at == at)
    }

    /// The index at `changes.at`: `base` (what `changes` were read against) with the changed
    /// charts' blocks rebuilt, or every block built (reusing `base`'s renderings) when the
    /// changes are everything. Cached unless a newer one is.
    pub(crate) fn apply(
        &self,
        namespace: &str,
        base: Option<&RenderedIndex>,
        changes: ChartChanges,
    ) -> Arc<RenderedIndex> {
        let old = |name: &str| base.and_then(|b| b.blocks.get(name)).map(|b| &**b);
        let mut by_name: BTreeMap<String, Vec<ChartRow>> = BTreeMap::new();
        for row in changes.rows {
            by_name.entry(row.name.clone()).or_default().push(row);
        }
        // A delta needs the index it was read against (the caller asks for one only then).
        debug_assert!(changes.changed.is_none() || base.is_some());
        let blocks = match (changes.changed, base) {
            (Some(changed), Some(base)) => {
                let mut blocks = base.blocks.clone();
                for name in changed {
                    match by_name.remove(&name) {
                        Some(rows) => {
                            let block = ChartBlock::build(&name, rows, old(&name));
                            blocks.insert(Arc::from(name.as_str()), Arc::new(block));
                        }
                        None => {
                            blocks.remove(name.as_str());
                        }
                    }
                }
                blocks
            }
            _ => by_name
                .into_iter()
                .map(|(name, rows)| {
                    let block = ChartBlock::build(&name, rows, old(&name));
                    (Arc::from(name.as_str()), Arc::new(block))
                })
                .collect(),
        };
        let index = Arc::new(Self::index(changes.at, changes.changed_at, blocks));
        let mut indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the newest rendering if another request raced ahead.
        if let Some(newer) = indexes.get(namespace).filter(|cached| {
            cached.at.namespace_id == index.at.namespace_id
                && cached.at.generation > index.at.generation
        }) {
            return newer.clone();
        }
        let others: usize = indexes
            .iter()
            .filter(|(name, _)| name.as_str() != namespace)
            .map(|(_, i)| i.versions)
            .sum();
        if others + index.versions > Self::MAX_VERSIONS
            || (indexes.len() >= Self::MAX_INDEXES && !indexes.contains_key(namespace))
        {
            indexes.clear();
        }
        indexes.insert(namespace.to_owned(), index.clone());
        index
    }

    fn index(
        at: ChartGeneration,
        changed_at: i64,
        blocks: BTreeMap<Arc<str>, Arc<ChartBlock>>,
    ) -> RenderedIndex {
        let versions = blocks.values().map(|b| b.versions.len()).sum();
        // When the charts last changed (recorded by the database with the change), and never
        // before the newest version: the same on every replica, so one generation's bytes
        // (and its ETag) are the same everywhere, and later after every change, deletes too.
        let newest = blocks.values().map(|b| b.newest).max().unwrap_or(0);
        let generated = berth_core::time::rfc3339(changed_at.max(newest));
        RenderedIndex {
            etag: format!("\"{}-{}\"", at.namespace_id, at.generation),
            versions,
            at,
            blocks,
            generated,
            yaml_tail: OnceLock::new(),
            json_tail: OnceLock::new(),
            bodies: Default::default(),
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

/// A version's entry as a YAML sequence item indented to sit under its chart's key, and as
/// JSON.
fn render_entry(row: &ChartRow) -> (String, String) {
    let entry = entry(row);
    let item = serde_yaml::to_string(&[&entry]).unwrap_or_default();
    let mut yaml = String::with_capacity(item.len() + item.len() / 8);
    for line in item.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    (yaml, serde_json::to_string(&entry).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use berth_meta::ManifestRef;

    use super::*;

    fn row(name: &str, version: &str, description: &str) -> ChartRow {
        let archive = Digest::sha256(format!("{name}-{version}").as_bytes());
        ChartRow {
            repository: RepoId(name.len() as i64),
            tag: version.replace('+', "_"),
            name: name.into(),
            version: version.into(),
            manifest: Digest::sha256(format!("{name}{version}{description}").as_bytes()),
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
            created_at: 1_767_323_045_000 + version.len() as i64,
        }
    }

    fn at(generation: i64) -> ChartGeneration {
        ChartGeneration {
            namespace_id: 1,
            generation,
        }
    }

    fn full(generation: i64, rows: Vec<ChartRow>) -> ChartChanges {
        ChartChanges {
            at: at(generation),
            changed_at: 0,
            changed: None,
            rows,
        }
    }

    fn gunzip(body: &IndexBody) -> Vec<u8> {
        let gz = body.to_vec();
        let mut out = Vec::new();
        // One member: the plain decoder (not the multi-member one) reads it all.
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Every form parses to the same document, and gzip inflates to the plain bytes.
    fn documents(index: &RenderedIndex) -> serde_json::Value {
        let yaml = index.body(IndexForm::Yaml, false);
        let json = index.body(IndexForm::Json, false);
        assert_eq!(yaml.len as usize, yaml.to_vec().len());
        assert_eq!(gunzip(&index.body(IndexForm::Yaml, true)), yaml.to_vec());
        assert_eq!(gunzip(&index.body(IndexForm::Json, true)), json.to_vec());
        let y: serde_json::Value = serde_yaml::from_slice(&yaml.to_vec()).unwrap();
        let j: serde_json::Value = serde_json::from_slice(&json.to_vec()).unwrap();
        assert_eq!(y, j);
        y
    }

    #[test]
    fn index_is_what_helm_reads() {
        let cache = IndexCache::default();
        let index = cache.apply(
            "ns",
            None,
            full(
                3,
                vec![
                    row("web", "1.0.0", "multi\nline: \"quoted\""),
                    row("db", "0.1.0", "d"),
                    row("web", "1.10.0+b1", "w"),
                ],
            ),
        );
        assert_eq!(index.etag, "\"1-3\"");
        assert_eq!(index.versions, 3);
        let doc = documents(&index);
        assert_eq!(doc["apiVersion"], "v1");
        let web = doc["entries"]["web"].as_array().unwrap();
        assert_eq!(web[0]["version"], "1.10.0+b1");
        assert_eq!(web[1]["version"], "1.0.0");
        assert_eq!(web[1]["description"], "multi\nline: \"quoted\"");
        assert_eq!(web[1]["urls"][0], "charts/web-1.0.0.tgz");
        assert_eq!(web[1]["maintainers"][0]["name"], "Ann");
        assert_eq!(
            web[1]["digest"],
            Digest::sha256(b"web-1.0.0").hex().to_string()
        );
        assert_eq!(doc["entries"]["db"][0]["name"], "db");
        let keys: Vec<&String> = doc["entries"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["db", "web"]);
        // `generated`: the newest version's time.
        assert_eq!(
            doc["generated"],
            berth_core::time::rfc3339(1_767_323_045_000 + 9)
        );
        assert!(cache.get("ns", at(3)).is_some());
        assert!(cache.get("ns", at(4)).is_none());

        let empty = cache.apply("other", None, full(0, Vec::new()));
        let doc = documents(&empty);
        assert_eq!(doc["entries"], serde_json::json!({}));
    }

    #[test]
    fn a_change_rebuilds_only_the_changed_charts() {
        let cache = IndexCache::default();
        let base = cache.apply(
            "ns",
            None,
            full(
                5,
                vec![
                    row("a", "1.0.0", "a"),
                    row("b", "1.0.0", "b"),
                    row("b", "2.0.0", "b"),
                    row("c", "1.0.0", "c"),
                ],
            ),
        );
        let _ = base.body(IndexForm::Yaml, true);
        // b gets a version, c is gone, d is new; a is untouched.
        let next = cache.apply(
            "ns",
            Some(&base),
            ChartChanges {
                at: at(8),
                changed_at: 0,
                changed: Some(vec!["b".into(), "c".into(), "d".into()]),
                rows: vec![
                    row("b", "1.0.0", "b"),
                    row("b", "2.0.0", "b"),
                    row("b", "3.0.0", "b"),
                    row("d", "0.1.0", "d"),
                ],
            },
        );
        assert!(Arc::ptr_eq(&base.blocks["a"], &next.blocks["a"]));
        assert!(next.blocks["a"].yaml_gz.get().is_some(), "kept deflated");
        assert!(!next.blocks.contains_key("c"));
        assert_eq!(next.versions, 5);
        let doc = documents(&next);
        let versions: Vec<&str> = doc["entries"]["b"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["3.0.0", "2.0.0", "1.0.0"]);
        // The same as a full rendering of the same rows.
        let fresh = IndexCache::default().apply(
            "ns",
            None,
            full(
                8,
                vec![
                    row("d", "0.1.0", "d"),
                    row("b", "3.0.0", "b"),
                    row("a", "1.0.0", "a"),
                    row("b", "1.0.0", "b"),
                    row("b", "2.0.0", "b"),
                ],
            ),
        );
        for form in [IndexForm::Yaml, IndexForm::Json] {
            assert_eq!(
                next.body(form, false).to_vec(),
                fresh.body(form, false).to_vec()
            );
        }
        // A version whose manifest changed is rendered again.
        let moved = cache.apply(
            "ns",
            Some(&next),
            ChartChanges {
                at: at(9),
                changed_at: 0,
                changed: Some(vec!["a".into()]),
                rows: vec![row("a", "1.0.0", "changed")],
            },
        );
        assert_eq!(
            documents(&moved)["entries"]["a"][0]["description"],
            "changed"
        );
        // An older rendering does not replace a newer one in the cache.
        let stale = cache.apply("ns", None, full(7, Vec::new()));
        assert_eq!(stale.at, at(9));
        assert!(cache.get("ns", at(9)).is_some());
        // All gone: an empty index.
        let gone = cache.apply(
            "ns",
            Some(&moved),
            ChartChanges {
                at: at(10),
                changed_at: 2_000_000_000_000,
                changed: Some(vec!["a".into(), "b".into(), "d".into()]),
                rows: Vec::new(),
            },
        );
        let doc = documents(&gone);
        assert_eq!(doc["entries"], serde_json::json!({}));
        // `generated`: when the charts last changed, if that is later than every version.
        assert_eq!(
            doc["generated"],
            berth_core::time::rfc3339(2_000_000_000_000)
        );
    }

    #[test]
    fn deflated_segments_make_one_gzip_member() {
        let parts: [&[u8]; 4] = [b"", b"abc", &[7u8; 100_000], b"tail\n"];
        let mut crc = Crc::new();
        let mut gz = GZIP_HEADER.to_vec();
        for part in parts {
            let s = Segment::of(part);
            crc.combine(&s.crc);
            gz.extend_from_slice(&s.deflated);
        }
        gz.extend_from_slice(&DEFLATE_END);
        gz.extend_from_slice(&crc.sum().to_le_bytes());
        gz.extend_from_slice(&crc.amount().to_le_bytes());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, parts.concat());
    }
}
