//! `berth remote ...`: external repositories on third-party registries, over berth's Docker
//! Cloud API (`/api/repo/v1/[namespace/]repository/`). Without `--namespace` the global
//! entries (administrators'). Log in with `--user` and `--token` (a password or personal
//! access token; `BERTH_USER`, `BERTH_TOKEN`).

use std::io::BufRead;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::Output;
use crate::client::{Client, print_table};

#[derive(clap::Subcommand)]
pub enum RemoteCommand {
    /// List external repositories (all pages).
    List {
        #[command(flatten)]
        scope: Scope,
        /// Only this name (exactly).
        #[arg(long)]
        name: Option<String>,
        /// Only those of this registry (`host[:port]`).
        #[arg(long)]
        registry: Option<String>,
    },
    /// Register a repository of a third-party registry (the registry checks the credentials
    /// first; nothing is stored when it refuses them).
    Register {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        credentials: Credentials,
        /// `my.registry.com[:port]/repository`.
        name: String,
    },
    /// Show one external repository (never its credentials).
    Show {
        #[command(flatten)]
        scope: Scope,
        name: String,
    },
    /// Change the credentials (checked against the registry before they are stored).
    Update {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        credentials: Credentials,
        name: String,
    },
    /// Remove an external repository (not the repository on its registry).
    Remove {
        #[command(flatten)]
        scope: Scope,
        /// Also while a proxy uses it (the proxy then pulls anonymously).
        #[arg(long)]
        force: bool,
        name: String,
    },
}

#[derive(clap::Args)]
pub struct Scope {
    /// The namespace the entry belongs to; without it, the global entries.
    #[arg(long, short = 'n')]
    namespace: Option<String>,
}

#[derive(clap::Args)]
pub struct Credentials {
    /// The user on the third-party registry.
    #[arg(long, short = 'u')]
    username: Option<String>,
    /// Its password (visible to other processes: prefer --password-stdin or
    /// BERTH_UPSTREAM_PASSWORD).
    #[arg(
        long,
        short = 'p',
        env = "BERTH_UPSTREAM_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
}

impl Credentials {
    fn body(&self) -> anyhow::Result<serde_json::Map<String, Value>> {
        let mut body = serde_json::Map::new();
        if let Some(user) = &self.username {
            body.insert("username".into(), json!(user));
        }
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            Some(line.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            self.password.clone()
        };
        if let Some(password) = password {
            body.insert("password".into(), json!(password));
        }
        Ok(body)
    }
}

fn collection(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("/api/repo/v1/{ns}/repository/"),
        None => "/api/repo/v1/repository/".to_owned(),
    }
}

fn item(namespace: Option<&str>, name: &str) -> String {
    format!("{}{name}/", collection(namespace))
}

/// The body of a success, or an error with the server's message.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        if text.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_str(&text).context("the server's answer is not JSON");
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "no details".to_owned());
    if status == reqwest::StatusCode::UNAUTHORIZED {
        bail!("server answered {status}: {message} (log in with --user and --token)");
    }
    bail!("server answered {status}: {message}")
}

async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = client
        .request(method, path)
        .header("content-type", "application/json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("contacting {}", client.base()))?;
    answer(response).await
}

/// `host[:port]` of a registry resource URI.
fn registry_host(uri: &str) -> &str {
    uri.trim_end_matches('/').rsplit('/').next().unwrap_or(uri)
}

fn print_entries(output: Output, entries: &[Value]) {
    match output {
        Output::Json => println!("{}", Value::Array(entries.to_vec())),
        Output::Table => {
            let rows: Vec<[String; 3]> = entries
                .iter()
                .map(|e| {
                    [
                        e["name"].as_str().unwrap_or("").to_owned(),
                        registry_host(e["registry"].as_str().unwrap_or("")).to_owned(),
                        if e["in_use"].as_bool().unwrap_or(false) {
                            "yes".to_owned()
                        } else {
                            "no".to_owned()
                        },
                    ]
                })
                .collect();
            print_table(["NAME", "REGISTRY", "IN USE"], &rows);
        }
    }
}

fn print_entry(output: Output, entry: &Value) {
    match output {
        Output::Json => println!("{entry}"),
        Output::Table => {
            let rows = [
                [
                    "NAME".to_owned(),
                    entry["name"].as_str().unwrap_or("").to_owned(),
                ],
                [
                    "REGISTRY".to_owned(),
                    registry_host(entry["registry"].as_str().unwrap_or("")).to_owned(),
                ],
                [
                    "IN USE".to_owned(),
                    if entry["in_use"].as_bool().unwrap_or(false) {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                ],
                [
                    "RESOURCE".to_owned(),
                    entry["resource_uri"].as_str().unwrap_or("").to_owned(),
                ],
            ];
            print_table(["FIELD", "VALUE"], &rows);
        }
    }
}

pub async fn run(client: &Client, command: RemoteCommand) -> anyhow::Result<()> {
    let output = client.output();
    match command {
        RemoteCommand::List {
            scope,
            name,
            registry,
        } => {
            let mut entries = Vec::new();
            let mut offset = 0u64;
            loop {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("offset", &offset.to_string());
                query.append_pair("limit", "100");
                if let Some(name) = &name {
                    query.append_pair("name", name);
                }
                if let Some(registry) = &registry {
                    query.append_pair("registry", registry);
                }
                let path = format!(
                    "{}?{}",
                    collection(scope.namespace.as_deref()),
                    query.finish()
                );
                let page = send(client, Method::GET, &path, None).await?;
                let objects = page["objects"].as_array().cloned().unwrap_or_default();
                let got = objects.len() as u64;
                entries.extend(objects);
                if page["meta"]["next"].is_null() || got == 0 {
                    break;
                }
                offset += got;
            }
            print_entries(output, &entries);
        }
        RemoteCommand::Register {
            scope,
            credentials,
            name,
        } => {
            let mut body = credentials.body()?;
            body.insert("name".into(), json!(name));
            let entry = send(
                client,
                Method::POST,
                &collection(scope.namespace.as_deref()),
                Some(Value::Object(body)),
            )
            .await?;
            match output {
                Output::Json => println!("{entry}"),
                Output::Table => println!("registered {}", entry["name"].as_str().unwrap_or(&name)),
            }
        }
        RemoteCommand::Show { scope, name } => {
            let entry = send(
                client,
                Method::GET,
                &item(scope.namespace.as_deref(), &name),
                None,
            )
            .await?;
            print_entry(output, &entry);
        }
        RemoteCommand::Update {
            scope,
            credentials,
            name,
        } => {
            let body = credentials.body()?;
            if body.is_empty() {
                bail!("nothing to change: give --username and/or --password");
            }
            let entry = send(
                client,
                Method::PATCH,
                &item(scope.namespace.as_deref(), &name),
                Some(Value::Object(body)),
            )
            .await?;
            match output {
                Output::Json => println!("{entry}"),
                Output::Table => println!("updated {}", entry["name"].as_str().unwrap_or(&name)),
            }
        }
        RemoteCommand::Remove { scope, force, name } => {
            let mut path = item(scope.namespace.as_deref(), &name);
            if force {
                path.push_str("?force=true");
            }
            send(client, Method::DELETE, &path, None).await?;
            match output {
                Output::Json => println!("{}", json!({ "removed": name })),
                Output::Table => println!("removed {name}"),
            }
        }
    }
    Ok(())
}
