//! The management commands over berth's native API (`/api/v1`), in the style of the seeds'
//! `climc` commands: `berth <resource> <verb> [ARGS] [--options]`, a table for people by
//! default and the API's own JSON with `--output json`, a clear error and a non-zero exit
//! when the server refuses.
//!
//! `berth repo …` is about OCI repositories (`team/app`); the Helm repositories of seed 000
//! (`climc k8s-repo-create`) will be `berth helm-repo …`, so neither name shadows the other.

use std::fmt::Write as _;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::Output;
use crate::client::{Client, path_segment, repo_path};
use crate::login::read_secret;

// ---- shared options ----

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LevelArg {
    Read,
    Write,
    Manage,
}

impl LevelArg {
    fn as_str(self) -> &'static str {
        match self {
            LevelArg::Read => "read",
            LevelArg::Write => "write",
            LevelArg::Manage => "manage",
        }
    }
}

/// A page of a listing.
#[derive(Args, Debug, Default)]
pub struct Page {
    /// Page limit (1 to 1000; the server's default is 20).
    #[arg(long)]
    limit: Option<u32>,
    /// Page offset.
    #[arg(long)]
    offset: Option<u64>,
}

/// Searching and ordering a listing.
#[derive(Args, Debug, Default)]
pub struct Sorting {
    /// Filter results by a simple keyword search (case-insensitive).
    #[arg(long)]
    search: Option<String>,
    /// Name of the field to be ordered by.
    #[arg(long, value_name = "FIELD")]
    order_by: Option<String>,
    /// List order.
    #[arg(long, value_enum)]
    order: Option<Order>,
}

/// A query string from the options given.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", q.finish())
    } else {
        String::new()
    }
}

fn page_pairs(page: &Page) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("limit", page.limit.map(|l| l.to_string())),
        ("offset", page.offset.map(|o| o.to_string())),
    ]
}

fn sort_pairs(sort: &Sorting) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("search", sort.search.clone()),
        ("order_by", sort.order_by.clone()),
        ("order", sort.order.map(|o| o.as_str().to_owned())),
    ]
}

// ---- rendering ----

/// A cell: strings as they are, null as `-`, booleans as yes/no, numbers as written.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Bytes for people: `1.5 MiB`.
fn size(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return cell(v);
    };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

struct Column {
    title: &'static str,
    render: fn(&Value) -> String,
    key: &'static str,
}

fn col(title: &'static str, key: &'static str) -> Column {
    Column {
        title,
        key,
        render: cell,
    }
}

fn size_col(title: &'static str, key: &'static str) -> Column {
    Column {
        title,
        key,
        render: size,
    }
}

fn lookup<'a>(item: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(item, |v, k| &v[k])
}

fn print_rows(columns: &[Column], items: &[Value]) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| (c.render)(lookup(item, c.key)))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.title.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "{cell:w$}  ");
        }
        println!("{}", out.trim_end());
    };
    line(columns.iter().map(|c| c.title).collect());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A listing: the table, then climc's footer with the totals.
fn print_listing(output: Output, listing: &Value, columns: &[Column]) {
    match output {
        Output::Json => println!("{}", pretty(listing)),
        Output::Table => {
            let items = listing["items"].as_array().cloned().unwrap_or_default();
            print_rows(columns, &items);
            println!(
                "***  Total: {}  Limit: {}  Offset: {}  ***",
                listing["total"], listing["limit"], listing["offset"]
            );
        }
    }
}

/// One object as `FIELD  VALUE` lines (nested objects and lists left to `--output json`).
fn print_object(output: Output, object: &Value, fields: &[Column]) {
    match output {
        Output::Json => println!("{}", pretty(object)),
        Output::Table => print_fields(object, fields),
    }
}

fn print_fields(object: &Value, fields: &[Column]) {
    let width = fields.iter().map(|f| f.title.len()).max().unwrap_or(0);
    for f in fields {
        println!("{:width$}  {}", f.title, (f.render)(lookup(object, f.key)));
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// What a command that changes something prints: the JSON, or one line.
fn done(output: Output, json: Value, line: String) {
    match output {
        Output::Json => println!("{}", pretty(&json)),
        Output::Table => println!("{line}"),
    }
}

// ---- namespaces ----

#[derive(Subcommand)]
pub enum NamespaceCommand {
    /// List namespaces (with your level in each).
    List {
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        sort: Sorting,
    },
    /// Create a namespace.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Make it public (anyone may pull).
        #[arg(long)]
        public: bool,
    },
    /// Show a namespace.
    Show { name: String },
    /// Change a namespace's description or visibility.
    Update {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Whether anyone may pull.
        #[arg(long)]
        public: Option<bool>,
    },
    /// Delete a namespace.
    Delete {
        name: String,
        /// Also delete the repositories in it.
        #[arg(long)]
        force: bool,
    },
}

fn namespace_fields() -> Vec<Column> {
    vec![
        col("ID", "id"),
        col("NAME", "name"),
        col("DESCRIPTION", "description"),
        col("PUBLIC", "is_public"),
        col("REPOSITORIES", "num_repositories"),
        col("LEVEL", "level"),
        col("CREATOR", "creator"),
        col("CREATED", "created_at"),
        col("UPDATED", "updated_at"),
    ]
}

pub async fn namespace(client: &Client, command: NamespaceCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        NamespaceCommand::List { page, sort } => {
            let mut pairs = page_pairs(&page);
            pairs.extend(sort_pairs(&sort));
            let listing = client
                .api(
                    Method::GET,
                    &format!("/api/v1/namespaces{}", query(&pairs)),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("NAME", "name"),
                    col("PUBLIC", "is_public"),
                    col("REPOSITORIES", "num_repositories"),
                    col("LEVEL", "level"),
                    col("CREATOR", "creator"),
                    col("CREATED", "created_at"),
                    col("DESCRIPTION", "description"),
                ],
            );
        }
        NamespaceCommand::Create {
            name,
            description,
            public,
        } => {
            let created = client
                .api(
                    Method::POST,
                    "/api/v1/namespaces",
                    Some(json!({"name": name, "description": description, "is_public": public})),
                )
                .await?;
            print_object(output, &created, &namespace_fields());
        }
        NamespaceCommand::Show { name } => {
            let got = client
                .api(
                    Method::GET,
                    &format!("/api/v1/namespaces/{}", path_segment(&name)),
                    None,
                )
                .await?;
            print_object(output, &got, &namespace_fields());
        }
        NamespaceCommand::Update {
            name,
            description,
            public,
        } => {
            let mut body = Map::new();
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            if let Some(p) = public {
                body.insert("is_public".into(), json!(p));
            }
            if body.is_empty() {
                bail!("nothing to change: give --description and/or --public");
            }
            let changed = client
                .api(
                    Method::PATCH,
                    &format!("/api/v1/namespaces/{}", path_segment(&name)),
                    Some(Value::Object(body)),
                )
                .await?;
            print_object(output, &changed, &namespace_fields());
        }
        NamespaceCommand::Delete { name, force } => {
            let q = if force { "?force=true" } else { "" };
            client
                .api(
                    Method::DELETE,
                    &format!("/api/v1/namespaces/{}{q}", path_segment(&name)),
                    None,
                )
                .await?;
            done(
                output,
                json!({"deleted": name}),
                format!("deleted namespace {name}"),
            );
        }
    }
    Ok(())
}

// ---- members ----

#[derive(Subcommand)]
pub enum MemberCommand {
    /// List the members of a namespace.
    List {
        namespace: String,
        #[command(flatten)]
        page: Page,
    },
    /// Add a member, or change its level.
    #[command(alias = "add")]
    Put {
        namespace: String,
        username: String,
        #[arg(value_enum)]
        level: LevelArg,
    },
    /// Remove a member.
    #[command(alias = "remove")]
    Delete { namespace: String, username: String },
}

pub async fn member(client: &Client, command: MemberCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        MemberCommand::List { namespace, page } => {
            let listing = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/namespaces/{}/members{}",
                        path_segment(&namespace),
                        query(&page_pairs(&page))
                    ),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("USERNAME", "username"),
                    col("LEVEL", "level"),
                    col("SINCE", "created_at"),
                ],
            );
        }
        MemberCommand::Put {
            namespace,
            username,
            level,
        } => {
            let member = client
                .api(
                    Method::PUT,
                    &format!(
                        "/api/v1/namespaces/{}/members/{}",
                        path_segment(&namespace),
                        path_segment(&username)
                    ),
                    Some(json!({"level": level.as_str()})),
                )
                .await?;
            done(
                output,
                member,
                format!(
                    "{username} is a member of {namespace} with {} access",
                    level.as_str()
                ),
            );
        }
        MemberCommand::Delete {
            namespace,
            username,
        } => {
            client
                .api(
                    Method::DELETE,
                    &format!(
                        "/api/v1/namespaces/{}/members/{}",
                        path_segment(&namespace),
                        path_segment(&username)
                    ),
                    None,
                )
                .await?;
            done(
                output,
                json!({"deleted": username, "namespace": namespace}),
                format!("{username} is no longer a member of {namespace}"),
            );
        }
    }
    Ok(())
}

// ---- repositories ----

#[derive(Subcommand)]
pub enum RepoCommand {
    /// List repositories (of one namespace with --namespace).
    List {
        /// Only those of this namespace.
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// Only those of this category.
        #[arg(long)]
        category: Option<String>,
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        sort: Sorting,
        /// Show more details.
        #[arg(long)]
        details: bool,
    },
    /// Create a repository in an existing namespace (pushing creates one too).
    Create {
        /// The full name: `team/app`.
        name: String,
        #[arg(long, default_value = "")]
        category: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Public or private regardless of the namespace (default: as the namespace).
        #[arg(long)]
        public: Option<bool>,
    },
    /// Show a repository with its counters.
    Show { name: String },
    /// Change a repository's category, description or visibility.
    Update {
        name: String,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// `true`, `false`, or `inherit` (as the namespace).
        #[arg(long, value_parser = ["true", "false", "inherit"])]
        public: Option<String>,
    },
    /// Delete a repository with its images and tags.
    Delete { name: String },
}

fn repository_fields() -> Vec<Column> {
    vec![
        col("ID", "id"),
        col("NAME", "name"),
        col("NAMESPACE", "namespace"),
        col("IMAGE", "image"),
        col("KIND", "kind"),
        col("CATEGORY", "category"),
        col("DESCRIPTION", "description"),
        col("PUBLIC", "is_public"),
        col("INHERITS VISIBILITY", "inherits_visibility"),
        size_col("SIZE", "size"),
        col("MANIFESTS", "num_manifests"),
        col("IMAGES", "num_images"),
        col("TAGS", "num_tags"),
        col("DOWNLOADS", "num_downloads"),
        col("LAST PUSHED", "last_pushed_at"),
        col("LAST PULLED", "last_pulled_at"),
        col("CREATOR", "creator"),
        col("CREATED", "created_at"),
        col("UPDATED", "updated_at"),
    ]
}

pub async fn repo(client: &Client, command: RepoCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        RepoCommand::List {
            namespace,
            category,
            page,
            sort,
            details,
        } => {
            let mut pairs = page_pairs(&page);
            pairs.extend(sort_pairs(&sort));
            pairs.push(("category", category));
            let path = match namespace {
                Some(ns) => format!(
                    "/api/v1/namespaces/{}/repositories{}",
                    path_segment(&ns),
                    query(&pairs)
                ),
                None => format!("/api/v1/repositories{}", query(&pairs)),
            };
            let listing = client.api(Method::GET, &path, None).await?;
            let columns = if details {
                vec![
                    col("ID", "id"),
                    col("NAME", "name"),
                    col("KIND", "kind"),
                    col("CATEGORY", "category"),
                    col("PUBLIC", "is_public"),
                    size_col("SIZE", "size"),
                    col("MANIFESTS", "num_manifests"),
                    col("IMAGES", "num_images"),
                    col("TAGS", "num_tags"),
                    col("DOWNLOADS", "num_downloads"),
                    col("LAST PUSHED", "last_pushed_at"),
                    col("LAST PULLED", "last_pulled_at"),
                    col("CREATOR", "creator"),
                    col("CREATED", "created_at"),
                    col("DESCRIPTION", "description"),
                ]
            } else {
                vec![
                    col("NAME", "name"),
                    col("TAGS", "num_tags"),
                    col("IMAGES", "num_images"),
                    size_col("SIZE", "size"),
                    col("DOWNLOADS", "num_downloads"),
                    col("LAST PUSHED", "last_pushed_at"),
                ]
            };
            print_listing(output, &listing, &columns);
        }
        RepoCommand::Create {
            name,
            category,
            description,
            public,
        } => {
            let created = client
                .api(
                    Method::POST,
                    "/api/v1/repositories",
                    Some(json!({
                        "name": name,
                        "category": category,
                        "description": description,
                        "is_public": public,
                    })),
                )
                .await?;
            print_object(output, &created, &repository_fields());
        }
        RepoCommand::Show { name } => {
            let got = client
                .api(
                    Method::GET,
                    &format!("/api/v1/repositories/{}", repo_path(&name)),
                    None,
                )
                .await?;
            print_object(output, &got, &repository_fields());
        }
        RepoCommand::Update {
            name,
            category,
            description,
            public,
        } => {
            let mut body = Map::new();
            if let Some(c) = category {
                body.insert("category".into(), json!(c));
            }
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            match public.as_deref() {
                Some("true") => body.insert("is_public".into(), json!(true)),
                Some("false") => body.insert("is_public".into(), json!(false)),
                Some(_) => body.insert("is_public".into(), Value::Null),
                None => None,
            };
            if body.is_empty() {
                bail!("nothing to change: give --category, --description and/or --public");
            }
            let changed = client
                .api(
                    Method::PATCH,
                    &format!("/api/v1/repositories/{}", repo_path(&name)),
                    Some(Value::Object(body)),
                )
                .await?;
            print_object(output, &changed, &repository_fields());
        }
        RepoCommand::Delete { name } => {
            client
                .api(
                    Method::DELETE,
                    &format!("/api/v1/repositories/{}", repo_path(&name)),
                    None,
                )
                .await?;
            done(
                output,
                json!({"deleted": name}),
                format!("deleted repository {name}"),
            );
        }
    }
    Ok(())
}

// ---- images (artifacts) ----

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List the images (manifests) of a repository with their tags, newest first.
    List {
        repository: String,
        #[command(flatten)]
        page: Page,
        /// `created`, `size` or `downloads`.
        #[arg(long, value_name = "FIELD")]
        order_by: Option<String>,
        #[arg(long, value_enum)]
        order: Option<Order>,
        /// Only images that a tag points at.
        #[arg(long)]
        tagged: bool,
    },
    /// Show one image by digest, with its layers.
    Show { repository: String, digest: String },
    /// Delete an image by digest, with the tags pointing at it.
    Delete { repository: String, digest: String },
}

fn artifact_path(repository: &str, digest: &str) -> String {
    format!(
        "/api/v1/repositories/{}/-/artifacts/{}",
        repo_path(repository),
        path_segment(digest)
    )
}

fn print_layers(layers: &Value) {
    let items = layers.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return;
    }
    println!();
    print_rows(
        &[
            col("LAYER", "digest"),
            size_col("SIZE", "size"),
            col("MEDIA TYPE", "media_type"),
        ],
        &items,
    );
}

pub async fn image(client: &Client, command: ImageCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        ImageCommand::List {
            repository,
            page,
            order_by,
            order,
            tagged,
        } => {
            let mut pairs = page_pairs(&page);
            pairs.push(("order_by", order_by));
            pairs.push(("order", order.map(|o| o.as_str().to_owned())));
            pairs.push(("tagged", tagged.then(|| "true".to_owned())));
            let listing = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/repositories/{}/-/artifacts{}",
                        repo_path(&repository),
                        query(&pairs)
                    ),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("DIGEST", "digest"),
                    col("TAGS", "tags"),
                    col("OS", "os"),
                    col("ARCH", "architecture"),
                    size_col("SIZE", "total_size"),
                    col("DOWNLOADS", "downloads"),
                    col("PUSHED BY", "pushed_by"),
                    col("CREATED", "created_at"),
                ],
            );
        }
        ImageCommand::Show { repository, digest } => {
            let got = client
                .api(Method::GET, &artifact_path(&repository, &digest), None)
                .await?;
            match output {
                Output::Json => println!("{}", pretty(&got)),
                Output::Table => {
                    print_fields(
                        &got,
                        &[
                            col("DIGEST", "artifact.digest"),
                            col("MEDIA TYPE", "artifact.media_type"),
                            col("ARTIFACT TYPE", "artifact.artifact_type"),
                            col("TAGS", "artifact.tags"),
                            col("OS", "detail.image.os"),
                            col("ARCH", "detail.image.architecture"),
                            col("CREATED", "detail.image.created"),
                            size_col("SIZE", "artifact.total_size"),
                            col("DOWNLOADS", "artifact.downloads"),
                            col("PUSHED BY", "artifact.pushed_by"),
                            col("PUSHED AT", "artifact.created_at"),
                        ],
                    );
                    print_layers(&got["detail"]["layers"]);
                }
            }
        }
        ImageCommand::Delete { repository, digest } => {
            client
                .api(Method::DELETE, &artifact_path(&repository, &digest), None)
                .await?;
            done(
                output,
                json!({"deleted": digest, "repository": repository}),
                format!("deleted {repository}@{digest}"),
            );
        }
    }
    Ok(())
}

// ---- tags ----

#[derive(Subcommand)]
pub enum TagCommand {
    /// List the tags of a repository.
    List {
        repository: String,
        #[command(flatten)]
        page: Page,
        /// `name`, `pushed` or `downloads` with --order-by.
        #[command(flatten)]
        sort: Sorting,
    },
    /// Show a tag: image info, layers, history, and the platforms of an index.
    Show { repository: String, tag: String },
    /// Delete a tag (the image stays).
    Delete { repository: String, tag: String },
}

fn tag_path(repository: &str, tag: &str) -> String {
    format!(
        "/api/v1/repositories/{}/-/tags/{}",
        repo_path(repository),
        path_segment(tag)
    )
}

pub async fn tag(client: &Client, command: TagCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        TagCommand::List {
            repository,
            page,
            sort,
        } => {
            let mut pairs = page_pairs(&page);
            pairs.extend(sort_pairs(&sort));
            let listing = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/repositories/{}/-/tags{}",
                        repo_path(&repository),
                        query(&pairs)
                    ),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("TAG", "name"),
                    col("DIGEST", "digest"),
                    size_col("SIZE", "size"),
                    col("DOWNLOADS", "downloads"),
                    col("PUSHED AT", "pushed_at"),
                    col("PUSHED BY", "pushed_by"),
                ],
            );
        }
        TagCommand::Show { repository, tag } => {
            let got = client
                .api(Method::GET, &tag_path(&repository, &tag), None)
                .await?;
            match output {
                Output::Json => println!("{}", pretty(&got)),
                Output::Table => print_tag(&got),
            }
        }
        TagCommand::Delete { repository, tag } => {
            client
                .api(Method::DELETE, &tag_path(&repository, &tag), None)
                .await?;
            done(
                output,
                json!({"deleted": tag, "repository": repository}),
                format!("deleted {repository}:{tag}"),
            );
        }
    }
    Ok(())
}

fn print_tag(got: &Value) {
    print_fields(
        got,
        &[
            col("TAG", "tag.name"),
            col("DIGEST", "tag.digest"),
            col("MEDIA TYPE", "tag.media_type"),
            col("OS", "detail.image.os"),
            col("ARCH", "detail.image.architecture"),
            col("CREATED", "detail.image.created"),
            size_col("SIZE", "tag.size"),
            col("DOWNLOADS", "tag.downloads"),
            col("PUSHED AT", "tag.pushed_at"),
            col("PUSHED BY", "tag.pushed_by"),
            col("LAST PULLED", "tag.last_pulled_at"),
            col("OTHER TAGS", "artifact.tags"),
        ],
    );
    let labels = got["detail"]["image"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if !labels.is_empty() {
        println!();
        let items: Vec<Value> = labels
            .into_iter()
            .map(|(k, v)| json!({"k": k, "v": v}))
            .collect();
        print_rows(&[col("LABEL", "k"), col("VALUE", "v")], &items);
    }
    print_layers(&got["detail"]["layers"]);
    let history = got["detail"]["image"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !history.is_empty() {
        println!();
        print_rows(
            &[
                col("CREATED", "created"),
                col("EMPTY", "empty_layer"),
                col("CREATED BY", "created_by"),
            ],
            &history,
        );
    }
    let platforms = got["platforms"].as_array().cloned().unwrap_or_default();
    if !platforms.is_empty() {
        println!();
        print_rows(
            &[
                col("PLATFORM", "platform.os"),
                col("ARCH", "platform.architecture"),
                col("VARIANT", "platform.variant"),
                col("DIGEST", "digest"),
                size_col("SIZE", "total_size"),
            ],
            &platforms,
        );
    }
}

// ---- users ----

#[derive(Subcommand)]
pub enum UserCommand {
    /// List users (administrators).
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Create a user (administrators); the password is asked, or read with --password-stdin.
    Create {
        name: String,
        /// Make it an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show a user.
    Show { name: String },
    /// Change a user: its password (yourself, or administrators), admin or disabled.
    Update {
        name: String,
        /// Set a new password (asked, or read with --password-stdin).
        #[arg(long)]
        password: bool,
        /// Read the new password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        admin: Option<bool>,
        #[arg(long)]
        disabled: Option<bool>,
    },
    /// Delete a user with its tokens and keys.
    Delete { name: String },
}

fn user_fields() -> Vec<Column> {
    vec![
        col("NAME", "name"),
        col("ADMIN", "admin"),
        col("DISABLED", "disabled"),
        col("CREATED", "created_at"),
        col("UPDATED", "updated_at"),
    ]
}

fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = read_secret(from_stdin, "New password: ")?;
    if !from_stdin {
        let again = read_secret(false, "Again: ")?;
        if again != password {
            bail!("the passwords differ");
        }
    }
    Ok(password)
}

pub async fn user(client: &Client, command: UserCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        UserCommand::List { page } => {
            let listing = client
                .api(
                    Method::GET,
                    &format!("/api/v1/users{}", query(&page_pairs(&page))),
                    None,
                )
                .await?;
            print_listing(output, &listing, &user_fields());
        }
        UserCommand::Create {
            name,
            admin,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            let created = client
                .api(
                    Method::POST,
                    "/api/v1/users",
                    Some(json!({"name": name, "password": password, "admin": admin})),
                )
                .await?;
            print_object(output, &created, &user_fields());
        }
        UserCommand::Show { name } => {
            let got = client
                .api(
                    Method::GET,
                    &format!("/api/v1/users/{}", path_segment(&name)),
                    None,
                )
                .await?;
            print_object(output, &got, &user_fields());
        }
        UserCommand::Update {
            name,
            password,
            password_stdin,
            admin,
            disabled,
        } => {
            let mut body = Map::new();
            if password || password_stdin {
                body.insert("password".into(), json!(new_password(password_stdin)?));
            }
            if let Some(a) = admin {
                body.insert("admin".into(), json!(a));
            }
            if let Some(d) = disabled {
                body.insert("disabled".into(), json!(d));
            }
            if body.is_empty() {
                bail!("nothing to change: give --password, --admin and/or --disabled");
            }
            let changed = client
                .api(
                    Method::PATCH,
                    &format!("/api/v1/users/{}", path_segment(&name)),
                    Some(Value::Object(body)),
                )
                .await?;
            print_object(output, &changed, &user_fields());
        }
        UserCommand::Delete { name } => {
            client
                .api(
                    Method::DELETE,
                    &format!("/api/v1/users/{}", path_segment(&name)),
                    None,
                )
                .await?;
            done(
                output,
                json!({"deleted": name}),
                format!("deleted user {name}"),
            );
        }
    }
    Ok(())
}

// ---- tokens ----

#[derive(Subcommand)]
pub enum TokenCommand {
    /// List your tokens (administrators: --user-name of another).
    List {
        #[arg(long)]
        user_name: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Create a personal access token; it is shown once.
    Create {
        /// A name to recognise it by.
        #[arg(long, default_value = "api-key")]
        name: String,
        /// Seconds until it expires (default: never).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// Limit it to one namespace …
        #[arg(long)]
        namespace: Option<String>,
        /// … and at most this level there (default read).
        #[arg(long, value_enum, requires = "namespace")]
        level: Option<LevelArg>,
    },
    /// Revoke a token: at once, everywhere.
    #[command(alias = "delete")]
    Revoke {
        id: String,
        #[arg(long)]
        user_name: Option<String>,
    },
}

/// The user whose credentials a command means: the one given, else the one logged in.
fn owner(client: &Client, given: Option<String>) -> anyhow::Result<String> {
    match given.or_else(|| client.user().map(str::to_owned)) {
        Some(user) => Ok(user),
        None => bail!("not logged in: run `berth login` (or give --user and --token)"),
    }
}

pub async fn token(client: &Client, command: TokenCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        TokenCommand::List { user_name, page } => {
            let user = owner(client, user_name)?;
            let listing = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/users/{}/tokens{}",
                        path_segment(&user),
                        query(&page_pairs(&page))
                    ),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("ID", "id"),
                    col("NAME", "name"),
                    col("NAMESPACE", "namespace"),
                    col("LEVEL", "level"),
                    col("CREATED", "created_at"),
                    col("EXPIRES", "expires_at"),
                    col("LAST USED", "last_used_at"),
                    col("REVOKED", "revoked_at"),
                ],
            );
        }
        TokenCommand::Create {
            name,
            expires_in,
            namespace,
            level,
        } => {
            let user = owner(client, None)?;
            let created = client
                .api(
                    Method::POST,
                    &format!("/api/v1/users/{}/tokens", path_segment(&user)),
                    Some(json!({
                        "name": name,
                        "expires_in_secs": expires_in,
                        "namespace": namespace,
                        "level": level.map(LevelArg::as_str),
                    })),
                )
                .await?;
            match output {
                Output::Json => println!("{}", pretty(&created)),
                Output::Table => {
                    print_fields(
                        &created,
                        &[
                            col("ID", "id"),
                            col("NAME", "name"),
                            col("NAMESPACE", "namespace"),
                            col("LEVEL", "level"),
                            col("EXPIRES", "expires_at"),
                            col("TOKEN", "token"),
                        ],
                    );
                    eprintln!("The token is shown this once: keep it now.");
                }
            }
        }
        TokenCommand::Revoke { id, user_name } => {
            let user = owner(client, user_name)?;
            client
                .api(
                    Method::DELETE,
                    &format!(
                        "/api/v1/users/{}/tokens/{}",
                        path_segment(&user),
                        path_segment(&id)
                    ),
                    None,
                )
                .await?;
            done(
                output,
                json!({"revoked": id}),
                format!("revoked token {id}"),
            );
        }
    }
    Ok(())
}

// ---- robots ----

#[derive(Subcommand)]
pub enum RobotCommand {
    /// List the robot accounts of a namespace.
    List {
        namespace: String,
        #[command(flatten)]
        page: Page,
    },
    /// Create a robot account; its token is shown once.
    Create {
        namespace: String,
        /// Its short name; it logs in as `robot$<namespace>+<name>`.
        name: String,
        #[arg(long, value_enum, default_value = "read")]
        level: LevelArg,
        /// Seconds until it expires (default: never).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
    },
    /// Delete a robot account: its logins end at once.
    Delete { namespace: String, name: String },
}

pub async fn robot(client: &Client, command: RobotCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        RobotCommand::List { namespace, page } => {
            let listing = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/namespaces/{}/robots{}",
                        path_segment(&namespace),
                        query(&page_pairs(&page))
                    ),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("NAME", "name"),
                    col("LEVEL", "level"),
                    col("DISABLED", "disabled"),
                    col("CREATED", "created_at"),
                    col("EXPIRES", "expires_at"),
                ],
            );
        }
        RobotCommand::Create {
            namespace,
            name,
            level,
            expires_in,
        } => {
            let created = client
                .api(
                    Method::POST,
                    &format!("/api/v1/namespaces/{}/robots", path_segment(&namespace)),
                    Some(json!({
                        "name": name,
                        "level": level.as_str(),
                        "expires_in_secs": expires_in,
                    })),
                )
                .await?;
            match output {
                Output::Json => println!("{}", pretty(&created)),
                Output::Table => {
                    print_fields(
                        &created,
                        &[
                            col("NAME", "name"),
                            col("NAMESPACE", "namespace"),
                            col("LEVEL", "level"),
                            col("EXPIRES", "expires_at"),
                            col("TOKEN", "token"),
                        ],
                    );
                    eprintln!("The token is shown this once: keep it now.");
                }
            }
        }
        RobotCommand::Delete { namespace, name } => {
            client
                .api(
                    Method::DELETE,
                    &format!(
                        "/api/v1/namespaces/{}/robots/{}",
                        path_segment(&namespace),
                        path_segment(&name)
                    ),
                    None,
                )
                .await?;
            done(
                output,
                json!({"deleted": name, "namespace": namespace}),
                format!("deleted robot {name} of {namespace}"),
            );
        }
    }
    Ok(())
}

// ---- access keys ----

#[derive(Subcommand)]
pub enum KeyCommand {
    /// List your access keys (administrators: --user-name of another).
    List {
        #[arg(long)]
        user_name: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Create an access key (AK/SK) for SWR clients; the secret key is shown once.
    Create {
        #[arg(long, default_value = "access-key")]
        name: String,
    },
    /// Revoke an access key.
    #[command(alias = "delete")]
    Revoke {
        access_key: String,
        #[arg(long)]
        user_name: Option<String>,
    },
}

pub async fn key(client: &Client, command: KeyCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        KeyCommand::List { user_name, page } => {
            let user = owner(client, user_name)?;
            let listing = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/users/{}/keys{}",
                        path_segment(&user),
                        query(&page_pairs(&page))
                    ),
                    None,
                )
                .await?;
            print_listing(
                output,
                &listing,
                &[
                    col("ACCESS KEY", "access_key"),
                    col("NAME", "name"),
                    col("CREATED", "created_at"),
                    col("LAST USED", "last_used_at"),
                    col("REVOKED", "revoked_at"),
                ],
            );
        }
        KeyCommand::Create { name } => {
            let user = owner(client, None)?;
            let created = client
                .api(
                    Method::POST,
                    &format!("/api/v1/users/{}/keys", path_segment(&user)),
                    Some(json!({"name": name})),
                )
                .await?;
            match output {
                Output::Json => println!("{}", pretty(&created)),
                Output::Table => {
                    print_fields(
                        &created,
                        &[
                            col("ACCESS KEY", "access_key"),
                            col("SECRET KEY", "secret_key"),
                            col("NAME", "name"),
                        ],
                    );
                    eprintln!("The secret key is shown this once: keep it now.");
                }
            }
        }
        KeyCommand::Revoke {
            access_key,
            user_name,
        } => {
            let user = owner(client, user_name)?;
            client
                .api(
                    Method::DELETE,
                    &format!(
                        "/api/v1/users/{}/keys/{}",
                        path_segment(&user),
                        path_segment(&access_key)
                    ),
                    None,
                )
                .await?;
            done(
                output,
                json!({"revoked": access_key}),
                format!("revoked access key {access_key}"),
            );
        }
    }
    Ok(())
}

// ---- audit ----

#[derive(Args)]
pub struct AuditArgs {
    /// Only this actor.
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (`login`, `push`, `delete`, `token.create`, …).
    #[arg(long)]
    action: Option<String>,
    /// Only resources starting with this.
    #[arg(long)]
    resource: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    #[command(flatten)]
    page: Page,
}

pub async fn audit(client: &Client, args: AuditArgs) -> anyhow::Result<()> {
    let mut pairs = page_pairs(&args.page);
    pairs.extend([
        ("actor", args.actor),
        ("action", args.action),
        ("resource", args.resource),
        ("since", args.since),
        ("until", args.until),
    ]);
    let listing = client
        .api(
            Method::GET,
            &format!("/api/v1/audit{}", query(&pairs)),
            None,
        )
        .await?;
    print_listing(
        client.output(),
        &listing,
        &[
            col("AT", "at"),
            col("ACTOR", "actor"),
            col("ACTION", "action"),
            col("RESOURCE", "resource"),
            col("RESULT", "result"),
            col("SOURCE", "source"),
            col("DETAIL", "detail"),
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cells() {
        assert_eq!(size(&json!(512)), "512 B");
        assert_eq!(size(&json!(1536)), "1.5 KiB");
        assert_eq!(size(&json!(3 * 1024 * 1024)), "3.0 MiB");
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&json!(true)), "yes");
        assert_eq!(cell(&json!(["a", "b"])), "a,b");
        assert_eq!(lookup(&json!({"a": {"b": 1}}), "a.b"), &json!(1));
    }

    #[test]
    fn queries_hold_only_what_was_given() {
        assert_eq!(query(&[("limit", None)]), "");
        assert_eq!(
            query(&[("limit", Some("5".into())), ("search", Some("a b".into()))]),
            "?limit=5&search=a+b"
        );
    }
}

// ---- proxies ----

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProxyModeArg {
    /// Ask the upstream for a tag's digest first; the cache when it fails.
    UpstreamFirst,
    /// Serve a cached tag for --ttl seconds before asking the upstream.
    LocalFirst,
}

impl ProxyModeArg {
    fn as_str(self) -> &'static str {
        match self {
            ProxyModeArg::UpstreamFirst => "upstream_first",
            ProxyModeArg::LocalFirst => "local_first",
        }
    }
}

/// Which registered external repository (`berth remote`) lends a proxy its credentials.
#[derive(Args, Debug, Default)]
pub struct RemoteArgs {
    /// The external repository's name (`registry.example.com/library/app`).
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
    /// Its namespace, when it is not a global entry.
    #[arg(long, value_name = "NAMESPACE", requires = "remote")]
    remote_namespace: Option<String>,
}

impl RemoteArgs {
    fn value(&self) -> Option<Value> {
        self.remote
            .as_ref()
            .map(|name| json!({"namespace": self.remote_namespace, "name": name}))
    }
}

#[derive(Subcommand)]
pub enum ProxyCommand {
    /// List the pull-through caches (administrators).
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Create a pull-through cache: pulls of PREFIX/NAME come from the upstream's NAME.
    Create {
        /// The local prefix (`hub`).
        prefix: String,
        /// The upstream registry (`https://registry-1.docker.io`).
        upstream_url: String,
        /// The upstream's name as clients write it (`docker.io`), what containerd's ?ns=
        /// names; default: the URL's host.
        #[arg(long)]
        upstream_host: Option<String>,
        #[command(flatten)]
        remote: RemoteArgs,
        #[arg(long, value_enum)]
        mode: Option<ProxyModeArg>,
        /// Seconds a cached tag is served without asking the upstream (local-first).
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
    },
    /// Show a pull-through cache.
    Show { prefix: String },
    /// Change a pull-through cache; what is cached stays.
    Update {
        prefix: String,
        #[arg(long)]
        upstream_url: Option<String>,
        #[arg(long)]
        upstream_host: Option<String>,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Pull anonymously from now on.
        #[arg(long, conflicts_with = "remote")]
        anonymous: bool,
        #[arg(long, value_enum)]
        mode: Option<ProxyModeArg>,
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
    },
    /// Delete a pull-through cache (what it cached stays until deleted).
    Delete { prefix: String },
}

fn proxy_fields() -> Vec<Column> {
    vec![
        col("PREFIX", "prefix"),
        col("UPSTREAM", "upstream_url"),
        col("HOST", "upstream_host"),
        col("REMOTE", "remote.name"),
        col("MODE", "mode"),
        col("TTL", "ttl_secs"),
        col("CREATOR", "creator"),
        col("CREATED", "created_at"),
    ]
}

pub async fn proxy(client: &Client, command: ProxyCommand) -> anyhow::Result<()> {
    let output = client.output();
    let path = |prefix: &str| format!("/api/v1/proxies/{}", path_segment(prefix));
    match command {
        ProxyCommand::List { page } => {
            let listing = client
                .api(
                    Method::GET,
                    &format!("/api/v1/proxies{}", query(&page_pairs(&page))),
                    None,
                )
                .await?;
            print_listing(output, &listing, &proxy_fields());
        }
        ProxyCommand::Create {
            prefix,
            upstream_url,
            upstream_host,
            remote,
            mode,
            ttl,
        } => {
            let mut body = Map::new();
            body.insert("prefix".into(), json!(prefix));
            body.insert("upstream_url".into(), json!(upstream_url));
            if let Some(h) = upstream_host {
                body.insert("upstream_host".into(), json!(h));
            }
            if let Some(r) = remote.value() {
                body.insert("remote".into(), r);
            }
            if let Some(m) = mode {
                body.insert("mode".into(), json!(m.as_str()));
            }
            if let Some(t) = ttl {
                body.insert("ttl_secs".into(), json!(t));
            }
            let created = client
                .api(Method::POST, "/api/v1/proxies", Some(Value::Object(body)))
                .await?;
            print_object(output, &created, &proxy_fields());
        }
        ProxyCommand::Show { prefix } => {
            let got = client.api(Method::GET, &path(&prefix), None).await?;
            print_object(output, &got, &proxy_fields());
        }
        ProxyCommand::Update {
            prefix,
            upstream_url,
            upstream_host,
            remote,
            anonymous,
            mode,
            ttl,
        } => {
            let mut body = Map::new();
            if let Some(u) = upstream_url {
                body.insert("upstream_url".into(), json!(u));
            }
            if let Some(h) = upstream_host {
                body.insert("upstream_host".into(), json!(h));
            }
            if anonymous {
                body.insert("remote".into(), Value::Null);
            } else if let Some(r) = remote.value() {
                body.insert("remote".into(), r);
            }
            if let Some(m) = mode {
                body.insert("mode".into(), json!(m.as_str()));
            }
            if let Some(t) = ttl {
                body.insert("ttl_secs".into(), json!(t));
            }
            if body.is_empty() {
                bail!(
                    "nothing to change: give --upstream-url, --upstream-host, --remote, --anonymous, --mode or --ttl"
                );
            }
            let changed = client
                .api(Method::PATCH, &path(&prefix), Some(Value::Object(body)))
                .await?;
            print_object(output, &changed, &proxy_fields());
        }
        ProxyCommand::Delete { prefix } => {
            client.api(Method::DELETE, &path(&prefix), None).await?;
            done(
                output,
                json!({"deleted": prefix}),
                format!("deleted proxy {prefix}"),
            );
        }
    }
    Ok(())
}

// ---- Helm repositories (seed 000, climc's k8s-repo-* commands) ----

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RepoType {
    Internal,
    External,
}

impl RepoType {
    fn as_str(self) -> &'static str {
        match self {
            RepoType::Internal => "internal",
            RepoType::External => "external",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum K8sRepoCommand {
    /// Create a Helm repository: mirrored from URL (synced now and every hour), or hosted
    /// here with an empty URL ("").
    Create {
        /// Name of the repository (also the namespace its charts live in).
        name: String,
        /// Repository URL (the folder of its index.yaml).
        url: String,
        /// Make the repository public.
        #[arg(long)]
        public: bool,
        /// Repository type (internal: virtual machine applications; external: containers).
        #[arg(long = "type", value_enum)]
        kind: Option<RepoType>,
        /// User name for the upstream repository (the password is read from stdin).
        #[arg(long)]
        username: Option<String>,
        /// Seconds between two syncs (default: the server's, an hour).
        #[arg(long, value_name = "SECONDS")]
        sync_interval: Option<i64>,
    },
    /// Update a repository: its URL or its name (ID or name of the repo).
    Update {
        name: String,
        /// Repository url to change.
        #[arg(long)]
        url: Option<String>,
        /// Repository name to change.
        #[arg(long = "name", value_name = "NAME")]
        new_name: Option<String>,
    },
    /// List repositories.
    List {
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        sort: Sorting,
        /// Show more details (the sync state).
        #[arg(long)]
        details: bool,
        /// Helm repository type.
        #[arg(long = "type", value_enum)]
        kind: Option<RepoType>,
    },
    /// Show a repository with its sync state.
    Show { name: String },
    /// Sync a repository's charts from its URL now.
    Sync { name: String },
    /// Delete a repository (ID or name); the namespace made for it goes too.
    Delete { name: String },
}

fn helm_repo_fields(details: bool) -> Vec<Column> {
    let mut fields = vec![
        col("ID", "id"),
        col("NAME", "name"),
        col("TYPE", "type"),
        col("URL", "url"),
        col("IS_PUBLIC", "is_public"),
        col("PROJECT_DOMAIN", "project_domain"),
        col("RELEASE_COUNT", "release_count"),
    ];
    if details {
        fields.extend([
            col("NAMESPACE", "namespace"),
            col("SYNC", "sync.status"),
            col("LAST_SYNC", "sync.last_sync_at"),
            col("CHARTS", "sync.charts"),
            col("VANISHED", "sync.vanished"),
            col("ERROR", "sync.error"),
        ]);
    }
    fields
}

pub async fn k8s_repo(client: &Client, command: K8sRepoCommand) -> anyhow::Result<()> {
    let output = client.output();
    let path = |name: &str| format!("/api/repos/{}", path_segment(name));
    match command {
        K8sRepoCommand::Create {
            name,
            url,
            public,
            kind,
            username,
            sync_interval,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            body.insert("url".into(), json!(url));
            body.insert("is_public".into(), json!(public));
            if let Some(k) = kind {
                body.insert("type".into(), json!(k.as_str()));
            }
            if let Some(user) = username {
                let mut password = String::new();
                std::io::stdin().read_line(&mut password)?;
                body.insert("username".into(), json!(user));
                body.insert(
                    "password".into(),
                    json!(password.trim_end_matches(['\r', '\n'])),
                );
            }
            if let Some(s) = sync_interval {
                body.insert("sync_interval_secs".into(), json!(s));
            }
            let created = client
                .api(Method::POST, "/api/repos", Some(Value::Object(body)))
                .await?;
            print_object(output, &created, &helm_repo_fields(true));
        }
        K8sRepoCommand::Update {
            name,
            url,
            new_name,
        } => {
            let mut body = Map::new();
            if let Some(u) = url {
                body.insert("url".into(), json!(u));
            }
            if let Some(n) = new_name {
                body.insert("name".into(), json!(n));
            }
            if body.is_empty() {
                bail!("nothing to change: give --url or --name");
            }
            let updated = client
                .api(Method::PUT, &path(&name), Some(Value::Object(body)))
                .await?;
            print_object(output, &updated, &helm_repo_fields(true));
        }
        K8sRepoCommand::List {
            page,
            sort,
            details,
            kind,
        } => {
            let mut pairs = page_pairs(&page);
            pairs.extend(sort_pairs(&sort));
            pairs.push(("details", details.then(|| "true".to_owned())));
            pairs.push(("type", kind.map(|k| k.as_str().to_owned())));
            let mut listing = client
                .api(Method::GET, &format!("/api/repos{}", query(&pairs)), None)
                .await?;
            if let Output::Table = output {
                listing["items"] = listing["repos"].take();
            }
            print_listing(output, &listing, &helm_repo_fields(details));
        }
        K8sRepoCommand::Show { name } => {
            let got = client.api(Method::GET, &path(&name), None).await?;
            print_object(output, &got, &helm_repo_fields(true));
        }
        K8sRepoCommand::Sync { name } => {
            let synced = client
                .api(Method::POST, &format!("{}/sync", path(&name)), None)
                .await?;
            print_object(output, &synced, &helm_repo_fields(true));
        }
        K8sRepoCommand::Delete { name } => {
            let deleted = client.api(Method::DELETE, &path(&name), None).await?;
            print_object(output, &deleted, &helm_repo_fields(false));
        }
    }
    Ok(())
}

// ---- Helm charts ----

#[derive(Subcommand, Debug)]
pub enum ChartCommand {
    /// Upload a chart archive (.tgz) into a namespace; its name and version come from its
    /// Chart.yaml.
    Push {
        file: std::path::PathBuf,
        namespace: String,
        /// Replace a version that exists.
        #[arg(long)]
        force: bool,
    },
    /// Download a chart version's archive (to ./<name>-<version>.tgz unless --output-file).
    Pull {
        /// NAMESPACE/CHART
        chart: String,
        version: String,
        #[arg(long, short = 'f', value_name = "FILE")]
        output_file: Option<std::path::PathBuf>,
    },
    /// List the chart versions of a namespace (of one chart with --chart).
    List {
        namespace: String,
        #[arg(long)]
        chart: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Show a chart version with its Chart.yaml.
    Show {
        /// NAMESPACE/CHART
        chart: String,
        version: String,
    },
    /// Delete a chart version, or every version of the chart without VERSION.
    Delete {
        /// NAMESPACE/CHART
        chart: String,
        version: Option<String>,
    },
}

fn chart_fields() -> Vec<Column> {
    vec![
        col("NAME", "name"),
        col("VERSION", "version"),
        col("APP_VERSION", "app_version"),
        col("DESCRIPTION", "description"),
        col("DIGEST", "digest"),
        col("SIZE", "size"),
        col("CREATED", "created"),
    ]
}

/// `NAMESPACE/CHART` split.
fn chart_ref(chart: &str) -> anyhow::Result<(&str, &str)> {
    match chart.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns, name))
        }
        _ => bail!("{chart:?} is not NAMESPACE/CHART"),
    }
}

/// A transfer's progress on stderr, when it is a terminal and the transfer large.
struct Progress {
    label: String,
    total: u64,
    done: u64,
    shown: bool,
}

impl Progress {
    /// Transfers smaller than this show no progress.
    const MIN: u64 = 1024 * 1024;

    fn new(label: String, total: u64) -> Progress {
        use std::io::IsTerminal;
        Progress {
            label,
            total,
            done: 0,
            shown: total >= Self::MIN && std::io::stderr().is_terminal(),
        }
    }

    fn add(&mut self, n: usize) {
        self.done += n as u64;
        if self.shown {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
            eprint!(
                "\r{}: {:.1} MiB / {:.1} MiB ({percent}%)",
                self.label,
                mib(self.done),
                mib(self.total)
            );
        }
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

pub async fn chart(client: &Client, command: ChartCommand) -> anyhow::Result<()> {
    use futures::StreamExt;
    use tokio::io::AsyncReadExt;
    let output = client.output();
    match command {
        ChartCommand::Push {
            file,
            namespace,
            force,
        } => {
            let opened = tokio::fs::File::open(&file)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let size = opened.metadata().await?.len();
            let progress = std::sync::Arc::new(std::sync::Mutex::new(Progress::new(
                format!("pushing {}", file.display()),
                size,
            )));
            let counter = progress.clone();
            let stream = futures::stream::unfold(opened, |mut f| async move {
                let mut buf = vec![0u8; 64 * 1024];
                match f.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok::<_, std::io::Error>(buf), f))
                    }
                    Err(e) => Some((Err(e), f)),
                }
            })
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    counter
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .add(c.len());
                }
            });
            let path = format!(
                "/api/v1/namespaces/{}/charts{}",
                path_segment(&namespace),
                if force { "?force=true" } else { "" }
            );
            let request = client
                .request(Method::POST, &path)
                .header("content-type", "application/gzip")
                .header("content-length", size)
                .body(reqwest::Body::wrap_stream(stream));
            let stored = client.answer(request).await;
            progress.lock().unwrap_or_else(|e| e.into_inner()).finish();
            print_object(output, &stored?, &chart_fields());
        }
        ChartCommand::Pull {
            chart,
            version,
            output_file,
        } => {
            let (ns, name) = chart_ref(&chart)?;
            let path = format!(
                "/api/v1/namespaces/{}/charts/{}/{}/archive",
                path_segment(ns),
                path_segment(name),
                path_segment(&version)
            );
            let response = client
                .request(Method::GET, &path)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("contacting {}: {e}", client.base()))?;
            if !response.status().is_success() {
                Client::answer_of(response).await?;
                bail!("the server sent no archive");
            }
            let target = output_file
                .unwrap_or_else(|| std::path::PathBuf::from(format!("{name}-{version}.tgz")));
            let mut progress = Progress::new(
                format!("pulling {name}-{version}"),
                response.content_length().unwrap_or(0),
            );
            // Written beside the target and renamed: no half-written file under its name.
            let partial = target.with_extension("tgz.part");
            let mut out = tokio::fs::File::create(&partial).await?;
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await?;
                progress.add(chunk.len());
            }
            tokio::io::AsyncWriteExt::flush(&mut out).await?;
            drop(out);
            tokio::fs::rename(&partial, &target).await?;
            progress.finish();
            println!("{}", target.display());
        }
        ChartCommand::List {
            namespace,
            chart,
            page,
        } => {
            let base = match &chart {
                Some(c) => format!(
                    "/api/v1/namespaces/{}/charts/{}",
                    path_segment(&namespace),
                    path_segment(c)
                ),
                None => format!("/api/v1/namespaces/{}/charts", path_segment(&namespace)),
            };
            let listing = client
                .api(
                    Method::GET,
                    &format!("{base}{}", query(&page_pairs(&page))),
                    None,
                )
                .await?;
            print_listing(output, &listing, &chart_fields());
        }
        ChartCommand::Show { chart, version } => {
            let (ns, name) = chart_ref(&chart)?;
            let got = client
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/namespaces/{}/charts/{}/{}",
                        path_segment(ns),
                        path_segment(name),
                        path_segment(&version)
                    ),
                    None,
                )
                .await?;
            print_object(output, &got, &chart_fields());
        }
        ChartCommand::Delete { chart, version } => {
            let (ns, name) = chart_ref(&chart)?;
            let mut path = format!(
                "/api/v1/namespaces/{}/charts/{}",
                path_segment(ns),
                path_segment(name)
            );
            if let Some(v) = &version {
                path.push('/');
                path.push_str(&path_segment(v));
            }
            client.api(Method::DELETE, &path, None).await?;
            match version {
                Some(v) => println!("deleted {chart} {v}"),
                None => println!("deleted {chart}"),
            }
        }
    }
    Ok(())
}
