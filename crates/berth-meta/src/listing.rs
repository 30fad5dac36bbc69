//! The listing queries (filters, search, order, pages), written once for both dialects: a
//! small builder writes each dialect's placeholders and the few functions they spell
//! differently, and keeps the arguments for the dialect to bind.

use crate::rows::{
    MANIFEST_INFO_COLUMNS, NAMESPACE_COLUMNS, PROXY_COLUMNS, REMOTE_COLUMNS, REMOTE_FROM,
    REPOSITORY_COLUMNS, REPOSITORY_FROM, TAG_COLUMNS, TAG_INFO_COLUMNS, USER_COLUMNS,
};
use crate::{
    AuditQuery, Direction, ManifestOrder, ManifestQuery, NamespaceOrder, NamespaceQuery, Page,
    RemoteQuery, RemoteScope, RepoId, RepositoryOrder, RepositoryQuery, TagOrder, TagQuery,
    UserKind, Visibility,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text with its arguments in order.
pub(crate) struct Sql {
    dialect: Dialect,
    pub(crate) text: String,
    pub(crate) args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            text: String::new(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    fn placeholder(&mut self) {
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&(self.args.len()).to_string());
            }
        }
    }

    pub(crate) fn text_arg(&mut self, s: &str) -> &mut Sql {
        self.args.push(Arg::Text(s.to_owned()));
        self.placeholder();
        self
    }

    pub(crate) fn int_arg(&mut self, n: i64) -> &mut Sql {
        self.args.push(Arg::Int(n));
        self.placeholder();
        self
    }

    /// `AND <column> LIKE '%term%'`, case-insensitive in both dialects, with the term's
    /// wildcards escaped.
    fn contains(&mut self, column: &str, term: &str) -> &mut Sql {
        self.contains_like(column, term, true)
    }

    /// [`Sql::contains`] for a column of names (repositories, namespaces), which the OCI
    /// grammar keeps lowercase: a plain `LIKE` of the lowercased term finds what `ILIKE`
    /// would, at less cost, and PostgreSQL's trigram index (made at start) serves it.
    fn contains_name(&mut self, column: &str, term: &str) -> &mut Sql {
        self.contains_like(column, &term.to_ascii_lowercase(), false)
    }

    fn contains_like(&mut self, column: &str, term: &str, any_case: bool) -> &mut Sql {
        let escaped = term
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let like = match self.dialect {
            Dialect::Postgres if any_case => " ILIKE ",
            // SQLite's LIKE ignores the case of ASCII letters.
            _ => " LIKE ",
        };
        self.push(" AND ").push(column).push(like);
        // SQLite re-prepares a statement every time a LIKE pattern given as a bare
        // parameter is bound (it might allow an index); an expression is left alone.
        if self.dialect == Dialect::Sqlite {
            self.push("(")
                .text_arg(&format!("%{escaped}%"))
                .push(" || '')");
        } else {
            self.text_arg(&format!("%{escaped}%"));
        }
        self.push(" ESCAPE '\\'")
    }

    /// `AND <column> starts with prefix`, by a range so that the name index serves it.
    fn starts_with(&mut self, column: &str, prefix: &str) -> &mut Sql {
        // Names are ASCII; every name with the prefix sorts in [prefix, prefix + U+FFFF).
        self.push(" AND ")
            .push(column)
            .push(" >= ")
            .text_arg(prefix)
            .push(" AND ")
            .push(column)
            .push(" < ")
            .text_arg(&format!("{prefix}\u{ffff}"))
    }

    /// How many arguments [`Sql::page`] binds: SQLite's limit and offset, PostgreSQL's
    /// offset (its limit is written out).
    fn page_args(dialect: Dialect) -> usize {
        match dialect {
            Dialect::Sqlite => 2,
            Dialect::Postgres => 1,
        }
    }

    fn page(&mut self, page: &Page) -> &mut Sql {
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        self.limit(page.limit).push(" OFFSET ").int_arg(offset)
    }

    /// ` LIMIT n`, written so that neither dialect plans the statement again at every run.
    fn limit(&mut self, limit: u32) -> &mut Sql {
        match self.dialect {
            // SQLite (3.4x) reads a bare `LIMIT ?` as a constant when it plans and then
            // re-prepares the statement at every bind of it, i.e. on every run: as an
            // expression, the limit is read when the statement runs.
            Dialect::Sqlite => self
                .push(" LIMIT CAST(")
                .int_arg(i64::from(limit))
                .push(" AS INTEGER)"),
            // PostgreSQL plans a prepared `LIMIT $n` as if it kept a tenth of the rows: the
            // generic plan then hashes whole tables, so it keeps planning afresh at every
            // run instead (about as costly as the query). A literal limit (a page size, of
            // which clients use few) gives a generic plan as good as a custom one.
            Dialect::Postgres => self.push(" LIMIT ").push(&limit.to_string()),
        }
    }

    /// The aggregate of `column` joined by newlines, in lexical order.
    fn lines_of(&mut self, column: &str) -> &mut Sql {
        match self.dialect {
            Dialect::Sqlite => self
                .push("group_concat(")
                .push(column)
                .push(", char(10) ORDER BY ")
                .push(column)
                .push(")"),
            Dialect::Postgres => self
                .push("string_agg(")
                .push(column)
                .push(", E'\\n' ORDER BY ")
                .push(column)
                .push(")"),
        }
    }

    /// Repositories (alias `r`, namespace `n`) that `visibility` shows.
    fn visible_repositories(&mut self, visibility: &Visibility) -> &mut Sql {
        match visibility {
            Visibility::All => self,
            Visibility::PublicOr { member, namespace } => {
                self.push(" AND (COALESCE(r.is_public, n.is_public) = TRUE");
                if let Some(member) = member {
                    self.push(
                        " OR r.id IN (SELECT repository_id FROM repository_members WHERE username = ",
                    )
                    .text_arg(member)
                    .push(")");
                }
                self.visible_own(member.as_deref(), namespace.as_deref())
                    .push(")")
            }
        }
    }

    /// ` OR` the namespaces (alias `n`) the member belongs to, or the one named.
    fn visible_own(&mut self, member: Option<&str>, namespace: Option<&str>) -> &mut Sql {
        if let Some(member) = member {
            self.push(" OR n.id IN (SELECT namespace_id FROM namespace_members WHERE username = ")
                .text_arg(member)
                .push(")");
        }
        if let Some(namespace) = namespace {
            self.push(" OR n.name = ").text_arg(namespace);
        }
        self
    }

    /// Namespaces (alias `n`) that `visibility` shows: public ones, the caller's own, and
    /// those holding a public repository or one the member belongs to.
    fn visible_namespaces(&mut self, visibility: &Visibility) -> &mut Sql {
        match visibility {
            Visibility::All => self,
            Visibility::PublicOr { member, namespace } => {
                self.push(
                    " AND (n.is_public = TRUE OR EXISTS (SELECT 1 FROM repositories pr \
                     WHERE pr.namespace_id = n.id AND pr.is_public = TRUE)",
                );
                if let Some(member) = member {
                    self.push(
                        " OR n.id IN (SELECT mr.namespace_id FROM repository_members rm \
                         JOIN repositories mr ON mr.id = rm.repository_id WHERE rm.username = ",
                    )
                    .text_arg(member)
                    .push(")");
                }
                self.visible_own(member.as_deref(), namespace.as_deref())
                    .push(")")
            }
        }
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Asc => " ASC",
        Direction::Desc => " DESC",
    }
}

pub(crate) fn namespaces(dialect: Dialect, q: &NamespaceQuery) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT ")
        .push(NAMESPACE_COLUMNS)
        .push(", COUNT(*) OVER () AS total FROM namespaces n WHERE TRUE");
    if let Some(name) = &q.name {
        sql.push(" AND n.name = ").text_arg(name);
    }
    if let Some(term) = &q.search {
        sql.contains_name("n.name", term);
    }
    sql.visible_namespaces(&q.visibility);
    let column = match q.order {
        NamespaceOrder::Name => "n.name",
        NamespaceOrder::Created => "n.created_at",
        NamespaceOrder::Updated => "n.updated_at",
    };
    // Ties (created in the same millisecond) go by creation order, in the same direction.
    let tie = match q.order {
        NamespaceOrder::Created => ", n.id",
        NamespaceOrder::Name | NamespaceOrder::Updated => ", n.name",
    };
    sql.push(" ORDER BY ")
        .push(column)
        .push(direction(q.direction))
        .push(tie);
    if q.order == NamespaceOrder::Created {
        sql.push(direction(q.direction));
    }
    sql.page(&q.page);
    sql
}

fn repository_filters(sql: &mut Sql, q: &RepositoryQuery) {
    if let Some(ns) = &q.namespace {
        sql.push(" AND n.name = ").text_arg(ns);
    }
    if let Some(prefix) = &q.prefix {
        sql.starts_with("r.name", prefix);
    }
    if let Some(term) = &q.search {
        sql.contains_name("r.name", term);
    }
    if let Some(term) = &q.name_search {
        // The name after `<namespace>/`.
        sql.contains_name("substr(r.name, length(n.name) + 2)", term);
    }
    if let Some(kind) = q.kind {
        sql.push(" AND r.kind = ").text_arg(kind.as_str());
    }
    if let Some(category) = &q.category {
        sql.push(" AND r.category = ").text_arg(category);
    }
    if q.with_manifests {
        sql.push(" AND r.num_manifests > 0");
    }
    if let Some(public) = q.is_public {
        sql.push(if public { " AND " } else { " AND NOT " })
            .push("COALESCE(r.is_public, n.is_public)");
    }
    sql.visible_repositories(&q.visibility);
}

/// `SELECT` and what a page of rows returns before its `total` (NULL for SQLite when an
/// empty page carries none, see [`repositories`]): for PostgreSQL the
/// columns (the caller orders the rows); for SQLite the whole page as one value, a JSON
/// array of the rows (each an array of the columns, in order), since sqlx hands SQLite rows
/// over one by one, copying every value, which costs more than the query itself.
fn page_select(sql: &mut Sql, columns: &str, order: &dyn Fn(&mut Sql)) {
    sql.push("SELECT ");
    match sql.dialect {
        Dialect::Postgres => {
            sql.push(columns);
        }
        Dialect::Sqlite => {
            sql.push("json_group_array(json_array(");
            for (i, column) in columns.split(", ").enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                let expr = column.split(" AS ").next().unwrap_or(column);
                sql.push(expr.trim());
            }
            sql.push(")");
            order(sql);
            sql.push(")");
        }
    }
}

/// Whether the repository filters read the namespace (alias `n`).
fn repositories_need_namespace(q: &RepositoryQuery) -> bool {
    q.namespace.is_some()
        || q.name_search.is_some()
        || q.is_public.is_some()
        || !matches!(q.visibility, Visibility::All)
}

/// `SELECT COUNT(*)` of the repositories `q` selects, joining the namespaces only when a
/// filter reads them; with no filter at all, a bare count that SQLite answers from the
/// b-tree's page counts.
fn repository_count_into(sql: &mut Sql, q: &RepositoryQuery) {
    let unfiltered = q.prefix.is_none()
        && q.search.is_none()
        && q.kind.is_none()
        && q.category.is_none()
        && q.is_public.is_none()
        && !q.with_manifests;
    if repositories_need_namespace(q) {
        sql.push("SELECT COUNT(*) ")
            .push(REPOSITORY_FROM)
            .push(" WHERE TRUE");
    } else if unfiltered {
        // SQLite counts a table from its b-tree; PostgreSQL would visit every row, so
        // there the namespaces' counters (kept by triggers in each change's transaction)
        // are summed.
        sql.push(match sql.dialect {
            Dialect::Sqlite => "SELECT COUNT(*) FROM repositories r",
            Dialect::Postgres => {
                "SELECT CAST(COALESCE(SUM(num_repositories), 0) AS BIGINT) FROM namespaces"
            }
        });
        return;
    } else {
        sql.push("SELECT COUNT(*) FROM repositories r WHERE TRUE");
    }
    repository_filters(sql, q);
}

/// A page of repositories and, for a page that comes back empty, the query of its total.
///
/// The page is found on the ids alone (the name index covers the default order, so an
/// offset skips index entries, not joined rows), then joined with the rows; its total is
/// an uncorrelated subquery that both dialects evaluate once (no window over every row).
pub(crate) fn repositories(dialect: Dialect, q: &RepositoryQuery) -> (Sql, Sql) {
    let column = match q.order {
        RepositoryOrder::Name => "r.name",
        RepositoryOrder::Created => "r.created_at",
        RepositoryOrder::Updated => "r.updated_at",
        RepositoryOrder::Pushed => "COALESCE(r.last_pushed_at, 0)",
        RepositoryOrder::Pulled => "COALESCE(r.last_pulled_at, 0)",
        RepositoryOrder::Size => "r.size",
        RepositoryOrder::Downloads => "r.num_downloads",
        RepositoryOrder::Tags => "r.num_tags",
    };
    let tie = match q.order {
        RepositoryOrder::Created => ", r.id",
        _ => ", r.name",
    };
    let order = |sql: &mut Sql| {
        sql.push(" ORDER BY ")
            .push(column)
            .push(direction(q.direction))
            .push(tie);
        if q.order == RepositoryOrder::Created {
            sql.push(direction(q.direction));
        }
    };
    // A search reads every name anyway: counting the matches beside the page (a window
    // over the matching ids only) saves a second scan; a page past the end has no row to
    // carry the total, which the count query then gives.
    let scan = q.search.is_some() || q.name_search.is_some();
    let mut sql = Sql::new(dialect);
    page_select(&mut sql, REPOSITORY_COLUMNS, &order);
    if scan {
        sql.push(match dialect {
            Dialect::Sqlite => ", max(p.total) AS total",
            Dialect::Postgres => ", p.total",
        });
        sql.push(" FROM (SELECT r.id, COUNT(*) OVER () AS total FROM repositories r");
    } else {
        sql.push(", (");
        repository_count_into(&mut sql, q);
        sql.push(") AS total FROM (SELECT r.id FROM repositories r");
    }
    if repositories_need_namespace(q) {
        sql.push(" JOIN namespaces n ON n.id = r.namespace_id");
    }
    sql.push(" WHERE TRUE");
    repository_filters(&mut sql, q);
    order(&mut sql);
    sql.page(&q.page);
    sql.push(") p JOIN repositories r ON r.id = p.id JOIN namespaces n ON n.id = r.namespace_id");
    if dialect == Dialect::Postgres {
        order(&mut sql);
    }
    let mut count = Sql::new(dialect);
    repository_count_into(&mut count, q);
    (sql, count)
}

/// A page of tags and, for a page that comes back empty, the query of its total.
///
/// The page is cut from the tags alone (their primary key covers the default order), then
/// joined with the manifests; the total of an unfiltered listing is the repository's tag
/// counter (kept by the triggers in every change's transaction).
pub(crate) fn tags(dialect: Dialect, repo: RepoId, q: &TagQuery) -> (Sql, Sql) {
    let count_into = |sql: &mut Sql| match &q.search {
        None => {
            sql.push("SELECT num_tags FROM repositories WHERE id = ")
                .int_arg(repo.0);
        }
        Some(term) => {
            // Every tag has its manifest (a foreign key), so the tags alone count.
            sql.push("SELECT COUNT(*) FROM tags t WHERE t.repository_id = ")
                .int_arg(repo.0);
            sql.contains("t.name", term);
        }
    };
    let column = match q.order {
        TagOrder::Name => "t.name",
        TagOrder::Pushed => "t.updated_at",
        TagOrder::Downloads => "t.downloads",
    };
    let order = |sql: &mut Sql| {
        sql.push(" ORDER BY ")
            .push(column)
            .push(direction(q.direction))
            .push(", t.name");
    };
    let mut sql = Sql::new(dialect);
    page_select(&mut sql, TAG_COLUMNS, &order);
    sql.push(", (");
    count_into(&mut sql);
    sql.push(") AS total FROM (SELECT * FROM tags t WHERE t.repository_id = ")
        .int_arg(repo.0);
    if let Some(term) = &q.search {
        sql.contains("t.name", term);
    }
    order(&mut sql);
    sql.page(&q.page);
    sql.push(") t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest");
    if dialect == Dialect::Postgres {
        order(&mut sql);
    }
    let mut count = Sql::new(dialect);
    count_into(&mut count);
    (sql, count)
}

/// The select list and source of manifest info rows, tags aggregated.
fn manifest_info_select(sql: &mut Sql) -> &mut Sql {
    sql.push("SELECT ")
        .push(MANIFEST_INFO_COLUMNS)
        .push(", (SELECT ");
    sql.lines_of("t.name").push(
        " FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest) AS tags",
    )
}

/// One manifest's info row; with `body`, its bytes too (column `body`).
pub(crate) fn manifest_info(dialect: Dialect, repo: RepoId, digest: &str, body: bool) -> Sql {
    let mut sql = Sql::new(dialect);
    manifest_info_select(&mut sql);
    if body {
        sql.push(", m.body");
    }
    sql.push(" FROM manifests m WHERE m.repository_id = ")
        .int_arg(repo.0)
        .push(" AND m.digest = ")
        .text_arg(digest);
    sql
}

/// A tag's row with its manifest's info and bytes (the tag detail view, in one trip).
pub(crate) fn tag_info(dialect: Dialect, repo: RepoId, tag: &str) -> Sql {
    let mut sql = Sql::new(dialect);
    manifest_info_select(&mut sql)
        .push(", m.body, ")
        .push(TAG_INFO_COLUMNS)
        .push(
            " FROM tags tg JOIN manifests m ON m.repository_id = tg.repository_id \
             AND m.digest = tg.digest WHERE tg.repository_id = ",
        )
        .int_arg(repo.0)
        .push(" AND tg.name = ")
        .text_arg(tag);
    sql
}

pub(crate) fn manifests(dialect: Dialect, repo: RepoId, q: &ManifestQuery) -> Sql {
    let mut sql = Sql::new(dialect);
    manifest_info_select(&mut sql)
        .push(", COUNT(*) OVER () AS total FROM manifests m WHERE m.repository_id = ")
        .int_arg(repo.0);
    if q.tagged_only {
        sql.push(" AND m.tag_count > 0");
    }
    let column = match q.order {
        ManifestOrder::Created => "m.created_at",
        ManifestOrder::Size => "m.total_size",
        ManifestOrder::Downloads => "m.downloads",
    };
    sql.push(" ORDER BY ")
        .push(column)
        .push(direction(q.direction))
        .push(", m.digest");
    sql.page(&q.page);
    sql
}

pub(crate) fn catalog(
    dialect: Dialect,
    last: Option<&str>,
    limit: u32,
    visibility: &Visibility,
) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT r.name ")
        .push(REPOSITORY_FROM)
        .push(" WHERE r.num_manifests > 0 AND r.name > ")
        .text_arg(last.unwrap_or(""));
    sql.visible_repositories(visibility);
    sql.push(" ORDER BY r.name").limit(limit);
    sql
}

/// A blob that some repository `visibility` shows holds.
pub(crate) fn visible_blob(dialect: Dialect, digest: &str, visibility: &Visibility) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT b.size FROM blobs b WHERE b.digest = ")
        .text_arg(digest)
        .push(
            " AND EXISTS (SELECT 1 FROM repository_blobs rb \
         JOIN repositories r ON r.id = rb.repository_id \
         JOIN namespaces n ON n.id = r.namespace_id WHERE rb.digest = b.digest",
        );
    sql.visible_repositories(visibility);
    sql.push(")");
    sql
}

pub(crate) fn users(dialect: Dialect, kind: Option<UserKind>, page: &Page) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT ")
        .push(USER_COLUMNS)
        .push(", COUNT(*) OVER () AS total FROM users u WHERE TRUE");
    if let Some(kind) = kind {
        sql.push(" AND u.kind = ").text_arg(kind.as_str());
    }
    sql.push(" ORDER BY u.name");
    sql.page(page);
    sql
}

/// Audit entries, newest first.
pub(crate) fn audit(dialect: Dialect, q: &AuditQuery) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push(
        "SELECT a.id, a.at, a.actor, a.action, a.resource, a.source, a.result, a.detail, \
         COUNT(*) OVER () AS total FROM audit_log a WHERE TRUE",
    );
    if let Some(actor) = &q.actor {
        sql.push(" AND a.actor = ").text_arg(actor);
    }
    if let Some(action) = &q.action {
        sql.push(" AND a.action = ").text_arg(action);
    }
    if let Some(resource) = &q.resource {
        sql.starts_with("a.resource", resource);
    }
    if let Some(since) = q.since {
        sql.push(" AND a.at >= ").int_arg(since);
    }
    if let Some(until) = q.until {
        sql.push(" AND a.at < ").int_arg(until);
    }
    sql.push(" ORDER BY a.at DESC, a.id DESC");
    sql.page(&q.page);
    sql
}

/// `AND` the entries of `scope` (alias `m`, namespace `n`).
fn remote_scope(sql: &mut Sql, scope: &RemoteScope) {
    match scope {
        RemoteScope::Global => {
            sql.push(" AND m.namespace_id IS NULL");
        }
        RemoteScope::Namespace(ns) => {
            sql.push(" AND n.name = ").text_arg(ns);
        }
        RemoteScope::All => {}
    }
}

/// One external repository by scope and name (`All` matches nothing: names repeat across
/// scopes).
pub(crate) fn remote(dialect: Dialect, scope: &RemoteScope, name: &str) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT ")
        .push(REMOTE_COLUMNS)
        .push(" ")
        .push(REMOTE_FROM)
        .push(" WHERE m.name = ")
        .text_arg(name);
    match scope {
        RemoteScope::All => {
            sql.push(" AND FALSE");
        }
        scope => remote_scope(&mut sql, scope),
    }
    sql
}

/// External repositories by name (then scope: global entries first).
pub(crate) fn remotes(dialect: Dialect, q: &RemoteQuery) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT ")
        .push(REMOTE_COLUMNS)
        .push(", COUNT(*) OVER () AS total ")
        .push(REMOTE_FROM)
        .push(" WHERE TRUE");
    remote_scope(&mut sql, &q.scope);
    if let Some(name) = &q.name {
        sql.push(" AND m.name = ").text_arg(name);
    }
    if let Some(registry) = &q.registry {
        sql.push(" AND m.registry = ").text_arg(registry);
    }
    sql.push(" ORDER BY m.name, COALESCE(n.name, ''), m.id");
    sql.page(&q.page);
    sql
}

/// Proxies by prefix.
pub(crate) fn proxies(dialect: Dialect, page: &Page) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT ")
        .push(PROXY_COLUMNS)
        .push(", COUNT(*) OVER () AS total FROM proxies x WHERE TRUE ORDER BY x.prefix");
    sql.page(page);
    sql
}

/// The total of a listing whose requested page came back empty (the window total needs a
/// row to ride on): the same query, counted.
pub(crate) fn count_of(listing: &Sql) -> Option<Sql> {
    let text = &listing.text;
    let from = text.find(" AS total ")? + " AS total".len();
    let order = text.rfind(" ORDER BY ")?;
    let mut sql = Sql::new(listing.dialect);
    sql.text = format!("SELECT COUNT(*){}", &text[from..order]);
    // The page's arguments are the last; the rest are the filters'.
    sql.args = listing.args[..listing.args.len() - Sql::page_args(listing.dialect)]
        .iter()
        .map(|a| match a {
            Arg::Text(s) => Arg::Text(s.clone()),
            Arg::Int(n) => Arg::Int(*n),
        })
        .collect();
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_count() {
        let q = RepositoryQuery {
            namespace: Some("ns".into()),
            search: Some("a_b%".into()),
            visibility: Visibility::PublicOr {
                member: Some("u".into()),
                namespace: None,
            },
            ..Default::default()
        };
        let (pg, count) = repositories(Dialect::Postgres, &q);
        // A search counts beside the page (a window over the matching ids).
        assert!(pg.text.contains("COUNT(*) OVER ()"), "{}", pg.text);
        assert!(pg.text.contains("n.name = $1"), "{}", pg.text);
        assert!(pg.text.contains("r.name LIKE $2"), "{}", pg.text);
        assert!(pg.text.contains("LIMIT 100 OFFSET $5"), "{}", pg.text);
        assert!(matches!(&pg.args[1], Arg::Text(s) if s == "%a\\_b\\%%"));
        let (lite, _) = repositories(Dialect::Sqlite, &q);
        assert_eq!(lite.text.matches('?').count(), 6);
        assert!(lite.text.contains("LIKE (? || '')"), "{}", lite.text);
        assert!(
            count
                .text
                .starts_with("SELECT COUNT(*) FROM repositories r")
        );
        assert!(!count.text.contains("LIMIT"));
        assert_eq!(count.args.len(), 4);
        // Without a search, the total is a subquery that binds the filters first.
        let q = RepositoryQuery { search: None, ..q };
        let (pg, _) = repositories(Dialect::Postgres, &q);
        assert!(!pg.text.contains("OVER"), "{}", pg.text);
        assert!(pg.text.contains("n.name = $4"), "{}", pg.text);
        assert!(pg.text.contains("LIMIT 100 OFFSET $7"), "{}", pg.text);
        let (_, bare) = repositories(Dialect::Sqlite, &RepositoryQuery::default());
        assert_eq!(bare.text, "SELECT COUNT(*) FROM repositories r");
        let tags_q = TagQuery {
            search: Some("v1".into()),
            ..Default::default()
        };
        let (pg, count) = tags(Dialect::Postgres, RepoId(7), &tags_q);
        assert!(pg.text.contains("LIMIT 100 OFFSET $5"), "{}", pg.text);
        assert_eq!(count.args.len(), 2);
        let (_, count) = tags(Dialect::Sqlite, RepoId(7), &TagQuery::default());
        assert_eq!(count.text, "SELECT num_tags FROM repositories WHERE id = ?");
    }
}
