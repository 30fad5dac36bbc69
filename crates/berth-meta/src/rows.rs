//! Rows as both dialects return them, and their conversion into the crate's records. The
//! column lists live here too, so every query that returns a kind of row selects the same
//! columns under the same names.

use berth_core::{Digest, Level, RepoName};

use crate::{
    AuditEntry, AuditRow, CredentialKind, CredentialRow, ManifestInfo, MemberRow, MetaError,
    NamespaceRow, ProxyMode, ProxyRow, RemoteRow, RepoId, RepoKind, RepositoryRow, Result, TagRow,
    UploadRecord, UserKind, UserRow,
};

pub(crate) fn parse_digest(s: &str) -> Result<Digest> {
    s.parse()
        .map_err(|e| MetaError::Corrupt(format!("digest {s:?}: {e}")))
}

pub(crate) fn parse_repo(s: &str) -> Result<RepoName> {
    s.parse()
        .map_err(|e| MetaError::Corrupt(format!("repository {s:?}: {e}")))
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// Newline-joined names (tags never contain a newline: their grammar forbids it).
pub(crate) fn split_lines(joined: Option<String>) -> Vec<String> {
    match joined {
        Some(s) if !s.is_empty() => s.split('\n').map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UploadDbRow {
    id: String,
    repository: String,
    size: i64,
    hash_state: Vec<u8>,
    storage_state: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UploadDbRow> for UploadRecord {
    type Error = MetaError;
    fn try_from(r: UploadDbRow) -> Result<UploadRecord> {
        Ok(UploadRecord {
            id: r
                .id
                .parse()
                .map_err(|e| MetaError::Corrupt(format!("upload id: {e}")))?,
            repository: parse_repo(&r.repository)?,
            size: count(r.size),
            hash_state: r.hash_state,
            storage_state: r.storage_state,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const NAMESPACE_COLUMNS: &str = "n.id, n.name, n.description, n.is_public, n.creator, \
     n.num_repositories, n.created_at, n.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct NamespaceDbRow {
    id: i64,
    name: String,
    description: String,
    is_public: bool,
    creator: String,
    num_repositories: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<NamespaceDbRow> for NamespaceRow {
    type Error = MetaError;
    fn try_from(r: NamespaceDbRow) -> Result<NamespaceRow> {
        Ok(NamespaceRow {
            id: r.id,
            name: r.name,
            description: r.description,
            is_public: r.is_public,
            creator: r.creator,
            num_repositories: count(r.num_repositories),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberDbRow {
    username: String,
    level: i64,
    created_at: i64,
}

impl TryFrom<MemberDbRow> for MemberRow {
    type Error = MetaError;
    fn try_from(r: MemberDbRow) -> Result<MemberRow> {
        Ok(MemberRow {
            level: Level::from_i64(r.level)
                .ok_or_else(|| MetaError::Corrupt(format!("member level {}", r.level)))?,
            username: r.username,
            created_at: r.created_at,
        })
    }
}

/// Columns of a repository row; the query joins `namespaces n` on `repositories r`.
pub(crate) const REPOSITORY_COLUMNS: &str = "r.id, r.name, r.namespace_id, n.name AS namespace, \
     n.is_public AS namespace_public, r.kind, r.category, r.description, r.is_public, r.creator, \
     r.created_at, r.updated_at, r.size, r.num_manifests, r.num_images, r.num_tags, \
     r.num_downloads, r.last_pushed_at, r.last_pulled_at";

pub(crate) const REPOSITORY_FROM: &str =
    "FROM repositories r JOIN namespaces n ON n.id = r.namespace_id";

/// Also read from a JSON array of its columns in order (SQLite's listing pages, see
/// `listing::page_select`), where booleans are SQLite's integers.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct RepositoryDbRow {
    id: i64,
    name: String,
    namespace_id: i64,
    namespace: String,
    #[serde(deserialize_with = "int_bool")]
    namespace_public: bool,
    kind: String,
    category: String,
    description: String,
    #[serde(deserialize_with = "int_bool_opt")]
    is_public: Option<bool>,
    creator: String,
    created_at: i64,
    updated_at: i64,
    size: i64,
    num_manifests: i64,
    num_images: i64,
    num_tags: i64,
    num_downloads: i64,
    last_pushed_at: Option<i64>,
    last_pulled_at: Option<i64>,
}

impl TryFrom<RepositoryDbRow> for RepositoryRow {
    type Error = MetaError;
    fn try_from(r: RepositoryDbRow) -> Result<RepositoryRow> {
        Ok(RepositoryRow {
            id: RepoId(r.id),
            name: parse_repo(&r.name)?,
            namespace_id: r.namespace_id,
            namespace: r.namespace,
            namespace_public: r.namespace_public,
            kind: RepoKind::parse(&r.kind)
                .ok_or_else(|| MetaError::Corrupt(format!("repository kind {:?}", r.kind)))?,
            category: r.category,
            description: r.description,
            is_public: r.is_public,
            creator: r.creator,
            created_at: r.created_at,
            updated_at: r.updated_at,
            size: count(r.size),
            num_manifests: count(r.num_manifests),
            num_images: count(r.num_images),
            num_tags: count(r.num_tags),
            num_downloads: count(r.num_downloads),
            last_pushed_at: r.last_pushed_at,
            last_pulled_at: r.last_pulled_at,
        })
    }
}

/// Columns of a tag row; the query joins `manifests m` on `tags t`.
pub(crate) const TAG_COLUMNS: &str = "t.name, t.digest, m.media_type, m.artifact_type, \
     m.total_size, t.updated_at AS pushed_at, t.pushed_by, t.created_at, t.downloads, \
     t.last_pulled_at";

pub(crate) const TAG_FROM: &str =
    "FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest";

/// Also read from a JSON array of its columns in order (SQLite's listing pages).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct TagDbRow {
    name: String,
    digest: String,
    media_type: String,
    artifact_type: Option<String>,
    total_size: i64,
    pushed_at: i64,
    pushed_by: String,
    created_at: i64,
    downloads: i64,
    last_pulled_at: Option<i64>,
}

impl TryFrom<TagDbRow> for TagRow {
    type Error = MetaError;
    fn try_from(r: TagDbRow) -> Result<TagRow> {
        Ok(TagRow {
            digest: parse_digest(&r.digest)?,
            name: r.name,
            media_type: r.media_type,
            artifact_type: r.artifact_type,
            total_size: count(r.total_size),
            pushed_at: r.pushed_at,
            pushed_by: r.pushed_by,
            created_at: r.created_at,
            downloads: count(r.downloads),
            last_pulled_at: r.last_pulled_at,
        })
    }
}

/// Columns of a manifest info row from `manifests m`, without its tags (each dialect adds
/// `tags`, its own aggregate of the tag names).
pub(crate) const MANIFEST_INFO_COLUMNS: &str = "m.digest, m.media_type, m.artifact_type, m.size, \
     m.total_size, m.config_digest, m.annotations, m.pushed_by, m.created_at, m.downloads, \
     m.image_info";

#[derive(sqlx::FromRow)]
pub(crate) struct ManifestInfoDbRow {
    digest: String,
    media_type: String,
    artifact_type: Option<String>,
    size: i64,
    total_size: i64,
    config_digest: Option<String>,
    annotations: Option<String>,
    pushed_by: String,
    created_at: i64,
    downloads: i64,
    image_info: Option<String>,
    tags: Option<String>,
}

/// A manifest info row with the manifest's bytes.
#[derive(sqlx::FromRow)]
pub(crate) struct ManifestInfoBodyDbRow {
    #[sqlx(flatten)]
    info: ManifestInfoDbRow,
    body: Vec<u8>,
}

impl TryFrom<ManifestInfoBodyDbRow> for (ManifestInfo, crate::ManifestRow) {
    type Error = MetaError;
    fn try_from(r: ManifestInfoBodyDbRow) -> Result<(ManifestInfo, crate::ManifestRow)> {
        let info = ManifestInfo::try_from(r.info)?;
        let row = crate::ManifestRow {
            digest: info.digest.clone(),
            media_type: info.media_type.clone(),
            body: bytes::Bytes::from(r.body),
        };
        Ok((info, row))
    }
}

/// A tag with its manifest's info and bytes (columns `tag_*` beside a manifest info row).
#[derive(sqlx::FromRow)]
pub(crate) struct TagInfoBodyDbRow {
    #[sqlx(flatten)]
    manifest: ManifestInfoBodyDbRow,
    tag_name: String,
    tag_pushed_at: i64,
    tag_pushed_by: String,
    tag_created_at: i64,
    tag_downloads: i64,
    tag_last_pulled_at: Option<i64>,
}

/// The tag columns of a [`TagInfoBodyDbRow`], from `tags tg`.
pub(crate) const TAG_INFO_COLUMNS: &str = "tg.name AS tag_name, tg.updated_at AS tag_pushed_at, \
     tg.pushed_by AS tag_pushed_by, tg.created_at AS tag_created_at, \
     tg.downloads AS tag_downloads, tg.last_pulled_at AS tag_last_pulled_at";

impl TryFrom<TagInfoBodyDbRow> for (TagRow, ManifestInfo, crate::ManifestRow) {
    type Error = MetaError;
    fn try_from(r: TagInfoBodyDbRow) -> Result<(TagRow, ManifestInfo, crate::ManifestRow)> {
        let (info, row) = r.manifest.try_into()?;
        let tag = TagRow {
            digest: info.digest.clone(),
            name: r.tag_name,
            media_type: info.media_type.clone(),
            artifact_type: info.artifact_type.clone(),
            total_size: info.total_size,
            pushed_at: r.tag_pushed_at,
            pushed_by: r.tag_pushed_by,
            created_at: r.tag_created_at,
            downloads: count(r.tag_downloads),
            last_pulled_at: r.tag_last_pulled_at,
        };
        Ok((tag, info, row))
    }
}

impl TryFrom<ManifestInfoDbRow> for ManifestInfo {
    type Error = MetaError;
    fn try_from(r: ManifestInfoDbRow) -> Result<ManifestInfo> {
        Ok(ManifestInfo {
            digest: parse_digest(&r.digest)?,
            media_type: r.media_type,
            artifact_type: r.artifact_type,
            size: count(r.size),
            total_size: count(r.total_size),
            config: r.config_digest.as_deref().map(parse_digest).transpose()?,
            annotations: r.annotations,
            pushed_by: r.pushed_by,
            created_at: r.created_at,
            downloads: count(r.downloads),
            tags: split_lines(r.tags),
            image_info: r.image_info,
        })
    }
}

/// A listing row with the window total (`COUNT(*) OVER () AS total`) beside it.
pub(crate) struct Counted<T> {
    pub(crate) row: T,
    pub(crate) total: i64,
}

impl<'r, R, T> sqlx::FromRow<'r, R> for Counted<T>
where
    R: sqlx::Row,
    T: sqlx::FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Counted {
            row: T::from_row(row)?,
            total: row.try_get("total")?,
        })
    }
}

/// A boolean as SQLite's JSON functions write one: 0 or 1 (`true`/`false` taken too).
fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    int_bool_opt(d)?.ok_or_else(|| serde::de::Error::custom("a boolean, not null"))
}

fn int_bool_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<bool>, D::Error> {
    use serde::Deserialize;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntBool {
        Int(i64),
        Bool(bool),
    }
    Ok(Option::<IntBool>::deserialize(d)?.map(|b| match b {
        IntBool::Int(n) => n != 0,
        IntBool::Bool(b) => b,
    }))
}

/// A listing page that SQLite returned as one JSON array of rows (see
/// `listing::page_select`), with its total, into records.
pub(crate) fn json_listed<'a, D, T>(rows: &'a str, total: i64) -> Result<crate::Listed<T>>
where
    D: serde::Deserialize<'a>,
    T: TryFrom<D, Error = MetaError>,
{
    let rows: Vec<D> = serde_json::from_str(rows)
        .map_err(|e| MetaError::Corrupt(format!("a listing page: {e}")))?;
    let items = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<Vec<T>>>()?;
    Ok(crate::Listed {
        items,
        total: count(total),
    })
}

/// Rows of one listing page into records, with the total.
pub(crate) fn listed<D, T>(
    rows: Vec<Counted<D>>,
    fallback_total: Option<i64>,
) -> Result<crate::Listed<T>>
where
    T: TryFrom<D, Error = MetaError>,
{
    let total = rows
        .first()
        .map(|r| r.total)
        .or(fallback_total)
        .unwrap_or(0);
    let items = rows
        .into_iter()
        .map(|r| T::try_from(r.row))
        .collect::<Result<Vec<T>>>()?;
    Ok(crate::Listed {
        items,
        total: count(total),
    })
}

fn level_of(namespace: Option<String>, level: Option<i64>) -> Result<Option<(String, Level)>> {
    match (namespace, level) {
        (Some(ns), Some(level)) => Ok(Some((
            ns,
            Level::from_i64(level).ok_or_else(|| MetaError::Corrupt(format!("level {level}")))?,
        ))),
        _ => Ok(None),
    }
}

pub(crate) const USER_COLUMNS: &str = "u.id, u.name, u.password_hash, u.admin, u.kind, \
     u.robot_namespace, u.robot_level, u.expires_at, u.disabled, u.credentials_changed_at, \
     u.created_at, u.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct UserDbRow {
    id: i64,
    name: String,
    password_hash: Option<String>,
    admin: bool,
    kind: String,
    robot_namespace: Option<String>,
    robot_level: Option<i64>,
    expires_at: Option<i64>,
    disabled: bool,
    credentials_changed_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserDbRow> for UserRow {
    type Error = MetaError;
    fn try_from(r: UserDbRow) -> Result<UserRow> {
        Ok(UserRow {
            id: r.id,
            kind: UserKind::parse(&r.kind)
                .ok_or_else(|| MetaError::Corrupt(format!("user kind {:?}", r.kind)))?,
            robot: level_of(r.robot_namespace, r.robot_level)?,
            name: r.name,
            password_hash: r.password_hash,
            admin: r.admin,
            expires_at: r.expires_at,
            disabled: r.disabled,
            credentials_changed_at: r.credentials_changed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Columns of a credential row; the query joins `users u` on `credentials c`.
pub(crate) const CREDENTIAL_COLUMNS: &str = "c.id, c.user_id, u.name AS user_name, c.kind, \
     c.name, c.secret_hash, c.secret_sealed, c.namespace, c.level, c.expires_at, c.revoked_at, \
     c.last_used_at, c.created_at";

pub(crate) const CREDENTIAL_FROM: &str = "FROM credentials c JOIN users u ON u.id = c.user_id";

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialDbRow {
    id: String,
    user_id: i64,
    user_name: String,
    kind: String,
    name: String,
    secret_hash: Option<String>,
    secret_sealed: Option<Vec<u8>>,
    namespace: Option<String>,
    level: Option<i64>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<CredentialDbRow> for CredentialRow {
    type Error = MetaError;
    fn try_from(r: CredentialDbRow) -> Result<CredentialRow> {
        Ok(CredentialRow {
            kind: CredentialKind::parse(&r.kind)
                .ok_or_else(|| MetaError::Corrupt(format!("credential kind {:?}", r.kind)))?,
            limit: level_of(r.namespace, r.level)?,
            id: r.id,
            user_id: r.user_id,
            user_name: r.user_name,
            name: r.name,
            secret_hash: r.secret_hash,
            secret_sealed: r.secret_sealed,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditDbRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    resource: String,
    source: String,
    result: String,
    detail: String,
}

impl TryFrom<AuditDbRow> for AuditRow {
    type Error = MetaError;
    fn try_from(r: AuditDbRow) -> Result<AuditRow> {
        Ok(AuditRow {
            id: r.id,
            entry: AuditEntry {
                at: r.at,
                actor: r.actor,
                action: r.action,
                resource: r.resource,
                source: r.source,
                result: r.result,
                detail: r.detail,
            },
        })
    }
}

/// Columns of an external repository row; the query joins `namespaces n` on `remotes m`
/// (see [`REMOTE_FROM`]).
pub(crate) const REMOTE_COLUMNS: &str = "m.id, m.namespace_id, n.name AS namespace, m.name, \
     m.registry, m.username, m.password_sealed, m.creator, m.created_at, m.updated_at, \
     EXISTS (SELECT 1 FROM proxies p WHERE p.remote_id = m.id) AS in_use";

pub(crate) const REMOTE_FROM: &str =
    "FROM remotes m LEFT JOIN namespaces n ON n.id = m.namespace_id";

#[derive(sqlx::FromRow)]
pub(crate) struct RemoteDbRow {
    id: i64,
    namespace_id: Option<i64>,
    namespace: Option<String>,
    name: String,
    registry: String,
    username: Option<String>,
    password_sealed: Option<Vec<u8>>,
    creator: String,
    created_at: i64,
    updated_at: i64,
    in_use: bool,
}

impl TryFrom<RemoteDbRow> for RemoteRow {
    type Error = MetaError;
    fn try_from(r: RemoteDbRow) -> Result<RemoteRow> {
        Ok(RemoteRow {
            id: r.id,
            namespace_id: r.namespace_id,
            namespace: r.namespace,
            name: r.name,
            registry: r.registry,
            username: r.username,
            password_sealed: r.password_sealed,
            creator: r.creator,
            created_at: r.created_at,
            updated_at: r.updated_at,
            in_use: r.in_use,
        })
    }
}

pub(crate) const PROXY_COLUMNS: &str = "x.id, x.prefix, x.upstream_url, x.upstream_host, \
     x.remote_id, x.mode, x.ttl_secs, x.creator, x.created_at, x.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ProxyDbRow {
    id: i64,
    prefix: String,
    upstream_url: String,
    upstream_host: String,
    remote_id: Option<i64>,
    mode: String,
    ttl_secs: i64,
    creator: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ProxyDbRow> for ProxyRow {
    type Error = MetaError;
    fn try_from(r: ProxyDbRow) -> Result<ProxyRow> {
        Ok(ProxyRow {
            mode: ProxyMode::parse(&r.mode)
                .ok_or_else(|| MetaError::Corrupt(format!("proxy mode {:?}", r.mode)))?,
            id: r.id,
            prefix: r.prefix,
            upstream_url: r.upstream_url,
            upstream_host: r.upstream_host,
            remote_id: r.remote_id,
            ttl_secs: count(r.ttl_secs),
            creator: r.creator,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const CHART_COLUMNS: &str = "repository_id, tag, name, version, manifest_digest, \
     chart_digest, chart_size, prov_digest, prov_size, metadata, created, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ChartDbRow {
    repository_id: i64,
    tag: String,
    name: String,
    version: String,
    manifest_digest: String,
    chart_digest: String,
    chart_size: i64,
    prov_digest: Option<String>,
    prov_size: Option<i64>,
    metadata: String,
    created: String,
    created_at: i64,
}

impl crate::ChartChanges {
    /// What a dialect's `chart_changes` read in its snapshot: the namespace's generation
    /// `at` and change time, the changed names, and the rows.
    pub(crate) fn read(
        namespace_id: i64,
        at: i64,
        changed_at: i64,
        changed: Option<Vec<String>>,
        rows: Vec<ChartDbRow>,
    ) -> Result<crate::ChartChanges> {
        Ok(crate::ChartChanges {
            at: crate::ChartGeneration {
                namespace_id,
                generation: at,
            },
            changed_at,
            changed,
            rows: rows
                .into_iter()
                .map(ChartDbRow::into_row)
                .collect::<Result<_>>()?,
        })
    }
}

impl ChartDbRow {
    pub(crate) fn into_row(self) -> Result<crate::ChartRow> {
        let provenance = match (self.prov_digest, self.prov_size) {
            (Some(digest), Some(size)) => Some(crate::ManifestRef {
                digest: parse_digest(&digest)?,
                size: size as u64,
            }),
            _ => None,
        };
        Ok(crate::ChartRow {
            repository: RepoId(self.repository_id),
            tag: self.tag,
            name: self.name,
            version: self.version,
            manifest: parse_digest(&self.manifest_digest)?,
            archive: crate::ManifestRef {
                digest: parse_digest(&self.chart_digest)?,
                size: self.chart_size as u64,
            },
            provenance,
            metadata: self.metadata,
            created: self.created,
            created_at: self.created_at,
        })
    }
}
