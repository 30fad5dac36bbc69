//! Chart orchestration (seed 002) and the rewrites of a stored version (its values, its
//! Chart.yaml). Orchestration composes a new chart version from stored ones, as a JSON
//! config describes it:
//!
//! ```json
//! {"save": {"chart": "shop", "version": "1.0.0", "description": "…"},
//!  "configs": {"package": {"independent": true, "space": "lib", "chart": "web", "version": "1.2.0"},
//!              "_config": {"replicas": 2},
//!              "db": {"package": {"independent": true, "space": "lib", "chart": "postgres", "version": "12.0.0"},
//!                     "_config": {"auth": {"user": "shop"}}}}}
//! ```
//!
//! Every node names its chart (`package`): `independent: true` is a stored chart in any
//! space the caller may read, `false` a subchart found in the parent node's package (its
//! `charts/` folder, unpacked or as a `.tgz`). The new chart is the root package with its
//! `charts/` replaced by the node's children, each under `charts/<key>/` and renamed to the
//! key; each node's `_config` is merged into its own `values.yaml`, and each parent's
//! dependencies (Chart.yaml `dependencies` for apiVersion v2, `requirements.yaml` for v1)
//! list exactly its children. `save` names the result (and gives its description); the
//! result's Chart.yaml carries the annotation [`SOURCES_ANNOTATION`], a JSON list of where
//! each node came from (space, chart, version and the digest of the archive it was read
//! from). The result is stored through [`ChartService::upload`], like any chart: nothing is
//! stored when anything is wrong.
//!
//! Memory is bounded: every archive is inflated at most once per use and the sum of what is
//! inflated for one orchestration is capped by the store's `max_unpacked_bytes` (and the
//! result by `max_chart_bytes`, as any upload).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use berth_core::{Caller, Level};
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Map, Value};

use super::archive::{self, ArchiveError, ChartLimits};
use super::{ChartService, ChartUpload, ChartVersion, read_small_blob};
use crate::{Entity, Field, Result, ServiceError};

/// The Chart.yaml annotation that records an orchestrated chart's sources.
pub const SOURCES_ANNOTATION: &str = "berth.io/orchestrated-from";

/// The deepest nesting of children an orchestration config may have.
pub const MAX_DEPTH: usize = 8;
/// The most charts (root included) one orchestration may compose.
pub const MAX_NODES: usize = 64;

// ---- the config ----

/// A parsed orchestration config.
#[derive(Clone, Debug, PartialEq)]
pub struct Orchestration {
    pub save: SaveAs,
    pub root: Node,
}

/// What the new chart is called.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveAs {
    pub chart: String,
    pub version: String,
    pub description: Option<String>,
}

/// One chart of the composition.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub package: PackageRef,
    /// `_config`: merged into the node's values.yaml.
    pub config: Map<String, Value>,
    /// The children, by key (their name in the new chart), in key order.
    pub children: Vec<(String, Node)>,
}

/// Where a node's chart comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageRef {
    pub independent: bool,
    pub space: String,
    pub chart: String,
    pub version: String,
}

impl PackageRef {
    fn key(&self) -> (String, String, String) {
        (self.space.clone(), self.chart.clone(), self.version.clone())
    }
}

fn bad(at: &str, reason: impl Into<String>) -> ServiceError {
    ServiceError::invalid(Field::param(at.to_owned()), reason)
}

/// Parses and checks an orchestration config (the request body).
pub fn parse_orchestration(body: &[u8]) -> Result<Orchestration> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        bad(
            "config",
            format!("the orchestration config is not JSON: {e}"),
        )
    })?;
    let Value::Object(top) = value else {
        return Err(bad(
            "config",
            "the orchestration config must be a JSON object",
        ));
    };
    let save = match top.get("save") {
        Some(Value::Object(save)) => save,
        Some(_) => return Err(bad("save", "save must be an object")),
        None => return Err(bad("save", "save is required")),
    };
    let text = |key: &str| -> Result<String> {
        match save.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None => Err(bad(
                &format!("save.{key}"),
                format!("save.{key} is required"),
            )),
            Some(_) => Err(bad(
                &format!("save.{key}"),
                format!("save.{key} must be a string"),
            )),
        }
    };
    let chart = text("chart")?;
    let version = text("version")?;
    if !archive::valid_chart_name(&chart) {
        return Err(bad(
            "save.chart",
            format!(
                "save.chart {chart:?} must be lowercase letters and digits, separated by '.', '_' or '-'"
            ),
        ));
    }
    if semver::Version::parse(&version).is_err() {
        return Err(bad(
            "save.version",
            format!("save.version {version:?} is not a SemVer 2 version"),
        ));
    }
    // The seed's README writes `description`, its descriptor's note `desc`.
    let description = match save.get("description").or_else(|| save.get("desc")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("save.description", "save.description must be a string")),
    };
    let configs = match top.get("configs") {
        Some(Value::Object(c)) => c,
        Some(_) => return Err(bad("configs", "configs must be an object")),
        None => return Err(bad("configs", "configs is required")),
    };
    let mut count = 0;
    let root = parse_node(configs, "configs", 0, &mut count)?;
    if !root.package.independent {
        return Err(bad(
            "configs.package.independent",
            "the root package has no parent: it must be independent (a stored chart)",
        ));
    }
    Ok(Orchestration {
        save: SaveAs {
            chart,
            version,
            description,
        },
        root,
    })
}

/// A child's key: what Helm accepts as a chart name, and a safe folder name.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_node(
    object: &Map<String, Value>,
    at: &str,
    depth: usize,
    count: &mut usize,
) -> Result<Node> {
    *count += 1;
    if *count > MAX_NODES {
        return Err(bad(
            at,
            format!("an orchestration composes at most {MAX_NODES} charts"),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(bad(
            at,
            format!("children nest at most {MAX_DEPTH} levels deep"),
        ));
    }
    let package = match object.get("package") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(bad(
                &format!("{at}.package"),
                format!("{at}.package must be an object"),
            ));
        }
        None => {
            return Err(bad(
                &format!("{at}.package"),
                format!("{at}.package is required"),
            ));
        }
    };
    let field = |key: &str| -> Result<String> {
        let path = format!("{at}.package.{key}");
        match package.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None => Err(bad(&path, format!("{path} is required"))),
            Some(_) => Err(bad(&path, format!("{path} must be a string"))),
        }
    };
    let independent = match package.get("independent") {
        Some(Value::Bool(b)) => *b,
        None => {
            let path = format!("{at}.package.independent");
            return Err(bad(&path, format!("{path} is required")));
        }
        Some(_) => {
            let path = format!("{at}.package.independent");
            return Err(bad(&path, format!("{path} must be true or false")));
        }
    };
    let package = PackageRef {
        independent,
        // The space of a subchart is its parent's; the seed's configs name it anyway.
        space: if independent {
            field("space")?
        } else {
            package
                .get("space")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        },
        chart: field("chart")?,
        version: field("version")?,
    };
    let config = match object.get("_config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => {
            return Err(bad(
                &format!("{at}._config"),
                format!("{at}._config must be an object"),
            ));
        }
    };
    let mut children = Vec::new();
    for (key, value) in object {
        if key == "package" || key == "_config" {
            continue;
        }
        let path = format!("{at}.{key}");
        if !valid_key(key) {
            return Err(bad(
                &path,
                format!("{key:?} is not a chart name (letters, digits, '.', '_', '-')"),
            ));
        }
        let Value::Object(child) = value else {
            return Err(bad(&path, format!("{path} must be an object")));
        };
        children.push((key.clone(), parse_node(child, &path, depth + 1, count)?));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Node {
        package,
        config,
        children,
    })
}

/// Every independent package, once each (first seen first); refuses a chart that contains
/// itself (a package equal to one of its ancestors).
fn independent_packages(
    node: &Node,
    ancestors: &mut Vec<PackageRef>,
    out: &mut Vec<PackageRef>,
) -> Result<()> {
    let p = &node.package;
    if p.independent {
        if ancestors.contains(p) {
            return Err(bad(
                "configs",
                format!(
                    "cycle: {}/{} {} contains itself",
                    p.space, p.chart, p.version
                ),
            ));
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
        ancestors.push(p.clone());
    }
    for (_, child) in &node.children {
        independent_packages(child, ancestors, out)?;
    }
    if p.independent {
        ancestors.pop();
    }
    Ok(())
}

// ---- an unpacked chart ----

/// A file of an unpacked chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    pub mode: u32,
    pub data: Vec<u8>,
}

/// An unpacked chart: its folder name and its files by path inside the folder
/// (`Chart.yaml`, `templates/cm.yaml`, `charts/db/Chart.yaml`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartTree {
    pub folder: String,
    pub files: BTreeMap<String, TreeFile>,
}

impl ChartTree {
    fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    fn text(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|f| f.data.as_slice())
    }

    fn put(&mut self, path: &str, data: Vec<u8>) {
        let mode = self.files.get(path).map_or(0o644, |f| f.mode);
        self.files.insert(path.to_owned(), TreeFile { mode, data });
    }

    /// Chart.yaml as a JSON object.
    pub fn chart_yaml(&self) -> Result<Map<String, Value>> {
        let text = self
            .text("Chart.yaml")
            .ok_or_else(|| bad("chart", format!("{} has no Chart.yaml", self.folder)))?;
        match serde_yaml::from_slice::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(bad(
                "chart",
                format!("{}/Chart.yaml is not a mapping", self.folder),
            )),
            Err(e) => Err(bad("chart", format!("{}/Chart.yaml: {e}", self.folder))),
        }
    }

    fn set_chart_yaml(&mut self, metadata: &Map<String, Value>) -> Result<()> {
        let text = serde_yaml::to_string(metadata).map_err(ServiceError::internal)?;
        self.put("Chart.yaml", text.into_bytes());
        Ok(())
    }

    /// values.yaml as a JSON object (empty when there is none).
    pub fn values(&self) -> Result<Map<String, Value>> {
        let Some(text) = self.text("values.yaml") else {
            return Ok(Map::new());
        };
        match serde_yaml::from_slice::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(bad(
                "values",
                format!("{}/values.yaml is not a mapping", self.folder),
            )),
            Err(e) => Err(bad("values", format!("{}/values.yaml: {e}", self.folder))),
        }
    }

    fn set_values(&mut self, values: &Map<String, Value>) -> Result<()> {
        let text = if values.is_empty() {
            String::new()
        } else {
            serde_yaml::to_string(values).map_err(ServiceError::internal)?
        };
        self.put("values.yaml", text.into_bytes());
        Ok(())
    }

    /// The chart's dependencies as its apiVersion keeps them (Chart.yaml for v2,
    /// requirements.yaml for v1).
    pub fn dependencies(&self) -> Result<Vec<Value>> {
        let metadata = self.chart_yaml()?;
        let list = if metadata.get("apiVersion").and_then(Value::as_str) == Some("v1") {
            match self.text("requirements.yaml") {
                None => None,
                Some(text) => serde_yaml::from_slice::<Value>(text)
                    .map_err(|e| bad("chart", format!("requirements.yaml: {e}")))?
                    .get("dependencies")
                    .cloned(),
            }
        } else {
            metadata.get("dependencies").cloned()
        };
        Ok(match list {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        })
    }
}

/// Unpacks a chart archive (validated first, with the store's limits). Links are refused:
/// a rewritten chart holds files only.
pub fn unpack(tgz: &[u8], limits: &ChartLimits) -> std::result::Result<ChartTree, ArchiveError> {
    let checked = archive::inspect(tgz, limits)?;
    let mut tree = ChartTree {
        folder: checked.name,
        files: BTreeMap::new(),
    };
    let not_tar = |e: std::io::Error| ArchiveError::NotTarGz(e.to_string());
    // The archive was checked: it inflates to at most max_unpacked_bytes.
    let mut tar = tar::Archive::new(GzDecoder::new(tgz));
    for entry in tar.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_dir() {
            continue;
        }
        let path = entry.path().map_err(not_tar)?.into_owned();
        let shown = path.to_string_lossy().into_owned();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ArchiveError::BadEntry(
                shown,
                "links are not supported in a chart that is rewritten",
            ));
        }
        let parts: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => s.to_str().map(str::to_owned),
                _ => None,
            })
            .collect();
        if parts.len() < 2 {
            continue;
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(not_tar)?;
        tree.files
            .insert(parts[1..].join("/"), TreeFile { mode, data });
    }
    Ok(tree)
}

/// Packs a chart tree as a `.tgz` (`<folder>/…`), as `helm package` lays it out.
pub fn pack(tree: &ChartTree) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, file) in &tree.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.data.len() as u64);
        header.set_mode(file.mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(
                &mut header,
                format!("{}/{path}", tree.folder),
                file.data.as_slice(),
            )
            .map_err(ServiceError::internal)?;
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(ServiceError::internal)
}

/// Merges `over` into `base`: objects key by key, recursively; anything else replaces.
pub fn merge_values(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Object(b)), Value::Object(o)) => merge_values(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

// ---- composing ----

/// A stored chart read for an orchestration.
struct Source {
    digest: String,
    archive: Bytes,
}

struct Composer<'a> {
    sources: &'a HashMap<(String, String, String), Source>,
    limits: &'a ChartLimits,
    /// What is left of the inflation budget.
    budget: u64,
    /// Where each node came from, for the annotation.
    record: Vec<Value>,
}

impl Composer<'_> {
    fn unpack(&mut self, tgz: &[u8], what: &str) -> Result<ChartTree> {
        let tree =
            unpack(tgz, self.limits).map_err(|e| bad("configs", format!("chart {what}: {e}")))?;
        self.charge(tree.bytes())?;
        Ok(tree)
    }

    fn charge(&mut self, bytes: u64) -> Result<()> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or(ServiceError::TooLarge {
                what: "orchestrated chart (unpacked)",
                limit: self.limits.max_unpacked_bytes,
            })?;
        Ok(())
    }

    /// The node's chart, composed: its package with its children in place of its
    /// `charts/`, its dependencies listing them, its `_config` merged into its values.
    /// `container` is the digest of the archive the parent was read from.
    fn compose(
        &mut self,
        node: &Node,
        parent: Option<&ChartTree>,
        container: &str,
        path: &str,
    ) -> Result<ChartTree> {
        let p = &node.package;
        let (mut tree, digest) = if p.independent {
            let sources = self.sources;
            let source = sources.get(&p.key()).ok_or_else(|| {
                ServiceError::internal(format!("source {}/{} was not fetched", p.space, p.chart))
            })?;
            let digest = source.digest.clone();
            let what = format!("{}/{} {}", p.space, p.chart, p.version);
            (self.unpack(&source.archive, &what)?, digest)
        } else {
            let parent = parent.ok_or_else(|| {
                bad(
                    "configs.package.independent",
                    "the root package has no parent",
                )
            })?;
            (self.subchart(parent, p)?, container.to_owned())
        };
        self.record.push(serde_json::json!({
            "path": path,
            "independent": p.independent,
            "space": p.space,
            "chart": p.chart,
            "version": p.version,
            "digest": digest,
        }));
        let mut metadata = tree.chart_yaml()?;
        let v1 = metadata.get("apiVersion").and_then(Value::as_str) == Some("v1");
        let mut children = Vec::with_capacity(node.children.len());
        for (key, child) in &node.children {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}/{key}")
            };
            let mut composed = self.compose(child, Some(&tree), &digest, &child_path)?;
            let mut child_meta = composed.chart_yaml()?;
            child_meta.insert("name".into(), Value::String(key.clone()));
            composed.set_chart_yaml(&child_meta)?;
            composed.folder = key.clone();
            let version = child_meta.get("version").cloned().unwrap_or(Value::Null);
            children.push((key.clone(), version, composed));
        }
        // The package's own subcharts are replaced by the children.
        tree.files.retain(|path, _| !path.starts_with("charts/"));
        tree.files.remove("Chart.lock");
        tree.files.remove("requirements.lock");
        let dependencies: Vec<Value> = children
            .iter()
            .map(|(key, version, _)| serde_json::json!({"name": key, "version": version}))
            .collect();
        if v1 {
            if dependencies.is_empty() {
                tree.files.remove("requirements.yaml");
            } else {
                let text =
                    serde_yaml::to_string(&serde_json::json!({"dependencies": dependencies}))
                        .map_err(ServiceError::internal)?;
                tree.put("requirements.yaml", text.into_bytes());
            }
            metadata.remove("dependencies");
        } else if dependencies.is_empty() {
            metadata.remove("dependencies");
        } else {
            metadata.insert("dependencies".into(), Value::Array(dependencies));
        }
        tree.set_chart_yaml(&metadata)?;
        for (key, _, child) in children {
            for (file, content) in child.files {
                tree.files.insert(format!("charts/{key}/{file}"), content);
            }
        }
        if !node.config.is_empty() {
            let mut values = tree.values()?;
            merge_values(&mut values, &node.config);
            tree.set_values(&values)?;
        }
        Ok(tree)
    }

    /// The subchart `p` of `parent`: a folder `charts/<x>/` or an archive `charts/<x>.tgz`
    /// whose Chart.yaml has `p`'s name and version.
    fn subchart(&mut self, parent: &ChartTree, p: &PackageRef) -> Result<ChartTree> {
        let folders: Vec<String> = parent
            .files
            .keys()
            .filter_map(|path| {
                let rest = path.strip_prefix("charts/")?;
                let (folder, file) = rest.split_once('/')?;
                (file == "Chart.yaml").then(|| folder.to_owned())
            })
            .collect();
        for folder in folders {
            let prefix = format!("charts/{folder}/");
            let sub = ChartTree {
                folder: folder.clone(),
                files: parent
                    .files
                    .iter()
                    .filter_map(|(path, f)| {
                        path.strip_prefix(&prefix)
                            .map(|rest| (rest.to_owned(), f.clone()))
                    })
                    .collect(),
            };
            let meta = sub.chart_yaml()?;
            if is_version(&meta, &p.chart, &p.version) {
                self.charge(sub.bytes())?;
                return Ok(sub);
            }
        }
        let archives: Vec<&String> = parent
            .files
            .keys()
            .filter(|path| {
                path.strip_prefix("charts/").is_some_and(|f| {
                    !f.contains('/') && (f.ends_with(".tgz") || f.ends_with(".tar.gz"))
                })
            })
            .collect();
        for path in archives {
            let data = &parent.files[path].data;
            // A cheap look first: only the matching archive is unpacked.
            match archive::inspect(data, self.limits) {
                Ok(found) if found.name == p.chart && found.version == p.version => {
                    return self.unpack(data, &format!("{}/{path}", parent.folder));
                }
                _ => continue,
            }
        }
        Err(ServiceError::NotFound(Entity::Chart(format!(
            "{}-{} (a subchart of {})",
            p.chart, p.version, parent.folder
        ))))
    }
}

fn is_version(meta: &Map<String, Value>, name: &str, version: &str) -> bool {
    let text = |key: &str| match meta.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    text("name").as_deref() == Some(name) && text("version").as_deref() == Some(version)
}

/// Composes the chart an orchestration describes, as a `.tgz`.
fn compose_chart(
    plan: &Orchestration,
    sources: &HashMap<(String, String, String), Source>,
    limits: &ChartLimits,
) -> Result<Vec<u8>> {
    let mut composer = Composer {
        sources,
        limits,
        budget: limits.max_unpacked_bytes,
        record: Vec::new(),
    };
    let mut tree = composer.compose(&plan.root, None, "", "")?;
    let mut metadata = tree.chart_yaml()?;
    metadata.insert("name".into(), Value::String(plan.save.chart.clone()));
    metadata.insert("version".into(), Value::String(plan.save.version.clone()));
    if let Some(description) = &plan.save.description {
        metadata.insert("description".into(), Value::String(description.clone()));
    }
    let record = serde_json::to_string(&composer.record).map_err(ServiceError::internal)?;
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Value::Object(a) = annotations {
        a.insert(SOURCES_ANNOTATION.into(), Value::String(record));
    }
    tree.set_chart_yaml(&metadata)?;
    tree.folder = plan.save.chart.clone();
    if tree.files.len() as u64 > limits.max_entries {
        return Err(ServiceError::TooLarge {
            what: "orchestrated chart (entries)",
            limit: limits.max_entries,
        });
    }
    pack(&tree)
}

impl ChartService {
    /// The archive of a version the caller may read, whole (it is at most the chart size
    /// limit).
    pub async fn archive_bytes(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<(ChartVersion, Bytes)> {
        let found = self.get(caller, namespace, name, version).await?;
        let bytes = read_small_blob(&self.store, &found.archive.digest, found.archive.size).await?;
        Ok((found, bytes))
    }

    /// A version, unpacked.
    pub async fn tree(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<(ChartVersion, ChartTree)> {
        let (found, bytes) = self.archive_bytes(caller, namespace, name, version).await?;
        let limits = self.limits.clone();
        let tree = tokio::task::spawn_blocking(move || unpack(&bytes, &limits))
            .await
            .map_err(ServiceError::internal)?
            .map_err(|e| ServiceError::internal(format!("stored chart {name}-{version}: {e}")))?;
        Ok((found, tree))
    }

    /// Creates the chart version an orchestration config (seed 002's JSON) describes, in
    /// `namespace`. Nothing is stored when the config is invalid or a source is missing.
    pub async fn orchestrate(
        &self,
        caller: &Caller,
        namespace: &str,
        config: &[u8],
    ) -> Result<ChartVersion> {
        self.authorize(caller, namespace, Level::Write)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Namespace(namespace.to_owned())))?;
        let plan = parse_orchestration(config)?;
        if self
            .get(caller, namespace, &plan.save.chart, &plan.save.version)
            .await
            .is_ok()
        {
            return Err(ServiceError::AlreadyExists(Entity::Chart(format!(
                "{}-{}",
                plan.save.chart, plan.save.version
            ))));
        }
        let mut packages = Vec::new();
        independent_packages(&plan.root, &mut Vec::new(), &mut packages)?;
        let mut sources = HashMap::new();
        let mut fetched = 0u64;
        for p in packages {
            let (found, archive) = self
                .archive_bytes(caller, &p.space, &p.chart, &p.version)
                .await?;
            fetched += archive.len() as u64;
            if fetched > self.limits.max_unpacked_bytes {
                return Err(ServiceError::TooLarge {
                    what: "orchestration sources",
                    limit: self.limits.max_unpacked_bytes,
                });
            }
            sources.insert(
                p.key(),
                Source {
                    digest: found.archive.digest.to_string(),
                    archive,
                },
            );
        }
        let limits = self.limits.clone();
        let tgz = tokio::task::spawn_blocking(move || compose_chart(&plan, &sources, &limits))
            .await
            .map_err(ServiceError::internal)??;
        self.upload(
            caller,
            namespace,
            ChartUpload {
                archive: Bytes::from(tgz),
                provenance: None,
                force: false,
            },
        )
        .await
    }

    /// Rewrites a stored version with `edit` applied to its tree (stored in its place).
    async fn rewrite(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
        edit: impl FnOnce(&mut ChartTree) -> Result<()> + Send + 'static,
    ) -> Result<ChartVersion> {
        self.authorize(caller, namespace, Level::Write).await?;
        let (_, mut tree) = self.tree(caller, namespace, name, version).await?;
        let tgz = tokio::task::spawn_blocking(move || {
            edit(&mut tree)?;
            pack(&tree)
        })
        .await
        .map_err(ServiceError::internal)??;
        self.upload(
            caller,
            namespace,
            ChartUpload {
                archive: Bytes::from(tgz),
                provenance: None,
                force: true,
            },
        )
        .await
    }

    /// Replaces a version's values.yaml with `values`.
    pub async fn update_values(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
        values: Map<String, Value>,
    ) -> Result<ChartVersion> {
        self.rewrite(caller, namespace, name, version, move |tree| {
            tree.set_values(&values)
        })
        .await
    }

    /// Replaces a version's Chart.yaml with `metadata`, which must keep its name and
    /// version (its apiVersion is kept when not given).
    pub async fn update_metadata(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
        mut metadata: Map<String, Value>,
    ) -> Result<ChartVersion> {
        for (key, expected) in [("name", name), ("version", version)] {
            match metadata.get(key) {
                Some(Value::String(s)) if s == expected => {}
                Some(Value::Number(n)) if n.to_string() == expected => {}
                Some(other) => {
                    return Err(bad(
                        key,
                        format!("value of {key} should be {expected}, but got {other}"),
                    ));
                }
                None => return Err(bad(key, format!("{key} is required"))),
            }
        }
        self.rewrite(caller, namespace, name, version, move |tree| {
            let current = tree.chart_yaml()?;
            if !metadata.contains_key("apiVersion")
                && let Some(api) = current.get("apiVersion")
            {
                metadata.insert("apiVersion".into(), api.clone());
            }
            metadata.insert("version".into(), Value::String(current_version(&current)));
            tree.set_chart_yaml(&metadata)
        })
        .await
    }
}

/// The version as Chart.yaml holds it, as text (a YAML number stays what it was written as).
fn current_version(meta: &Map<String, Value>) -> String {
    match meta.get("version") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::archive::tests::{chart, tgz};

    fn config(json: Value) -> Result<Orchestration> {
        parse_orchestration(json.to_string().as_bytes())
    }

    fn package(independent: bool, chart: &str, version: &str) -> Value {
        serde_json::json!({"independent": independent, "space": "lib", "chart": chart, "version": version})
    }

    #[test]
    fn parses_the_seed_config() {
        let plan = config(serde_json::json!({
            "save": {"chart": "shop", "version": "1.0.0", "description": "d"},
            "configs": {
                "package": package(true, "web", "1.0.0"),
                "_config": {"a": 1},
                "chartB": {"package": package(true, "db", "2.0.0"),
                           "chartD": {"package": package(false, "sub", "0.1.0")}},
                "chartC": {"package": package(false, "other", "0.2.0"), "_config": {"b": 2}},
            }
        }))
        .unwrap();
        assert_eq!(plan.save.chart, "shop");
        assert_eq!(plan.save.description.as_deref(), Some("d"));
        assert_eq!(plan.root.config["a"], 1);
        let keys: Vec<&str> = plan.root.children.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(keys, ["chartB", "chartC"]);
        assert_eq!(plan.root.children[0].1.children[0].0, "chartD");
        assert!(!plan.root.children[1].1.package.independent);
    }

    #[test]
    fn refuses_bad_configs_clearly() {
        let ok_root = package(true, "web", "1.0.0");
        let cases = [
            (serde_json::json!([1]), "JSON object"),
            (serde_json::json!({"configs": {}}), "save is required"),
            (
                serde_json::json!({"save": {"chart": "Shop", "version": "1.0.0"}, "configs": {"package": ok_root}}),
                "save.chart",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0"}, "configs": {"package": ok_root}}),
                "SemVer",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0.0"}}),
                "configs is required",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0.0"}, "configs": {}}),
                "configs.package is required",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0.0"}, "configs": {"package": package(false, "web", "1.0.0")}}),
                "no parent",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0.0"}, "configs": {"package": ok_root, "x": 1}}),
                "configs.x must be an object",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0.0"}, "configs": {"package": ok_root, "../x": {"package": ok_root}}}),
                "not a chart name",
            ),
            (
                serde_json::json!({"save": {"chart": "shop", "version": "1.0.0"}, "configs": {"package": {"independent": true, "space": "lib", "chart": "web"}}}),
                "configs.package.version is required",
            ),
        ];
        for (json, expected) in cases {
            let e = config(json.clone()).unwrap_err().to_string();
            assert!(e.contains(expected), "{json}: {e}");
        }
        assert!(
            parse_orchestration(b"{not json")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    #[test]
    fn refuses_a_chart_that_contains_itself() {
        let plan = config(serde_json::json!({
            "save": {"chart": "shop", "version": "1.0.0"},
            "configs": {"package": package(true, "web", "1.0.0"),
                        "again": {"package": package(true, "web", "1.0.0")}}
        }))
        .unwrap();
        let e = independent_packages(&plan.root, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
        // The same chart twice side by side is no cycle.
        let plan = config(serde_json::json!({
            "save": {"chart": "shop", "version": "1.0.0"},
            "configs": {"package": package(true, "web", "1.0.0"),
                        "a": {"package": package(true, "db", "1.0.0")},
                        "b": {"package": package(true, "db", "1.0.0")}}
        }))
        .unwrap();
        let mut out = Vec::new();
        independent_packages(&plan.root, &mut Vec::new(), &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn unpack_then_pack_round_trips() {
        let limits = ChartLimits::default();
        let tree = unpack(&chart("demo", "1.0.0"), &limits).unwrap();
        assert_eq!(tree.folder, "demo");
        assert!(tree.files.contains_key("templates/cm.yaml"));
        let again = unpack(&pack(&tree).unwrap(), &limits).unwrap();
        assert_eq!(again, tree);
        let linked = tgz(&[
            (
                "demo/Chart.yaml",
                b"apiVersion: v2\nname: demo\nversion: 1.0.0\n",
            ),
            ("demo/l", b"->Chart.yaml"),
        ]);
        assert!(unpack(&linked, &limits).is_err());
    }

    #[test]
    fn values_merge_deeply() {
        let mut base = serde_json::json!({"a": {"b": 1, "c": 2}, "d": [1]})
            .as_object()
            .unwrap()
            .clone();
        let over = serde_json::json!({"a": {"c": 3, "e": 4}, "d": [2]})
            .as_object()
            .unwrap()
            .clone();
        merge_values(&mut base, &over);
        assert_eq!(
            Value::Object(base),
            serde_json::json!({"a": {"b": 1, "c": 3, "e": 4}, "d": [2]})
        );
    }
}
