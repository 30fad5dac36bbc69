//! The `berth` binary: `berth serve` runs the registry; the other commands are a client of a
//! running berth's HTTP API.

mod client;
mod config;
mod remote_cli;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A registry for container images, OCI artifacts and Helm charts"
)]
struct Cli {
    /// The berth server the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "BERTH_SERVER",
        default_value = "http://127.0.0.1:5000"
    )]
    server: String,
    /// Output format of client commands.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// The user client commands log in as (HTTP Basic).
    #[arg(long, global = true, env = "BERTH_USER")]
    user: Option<String>,
    /// Its password or personal access token.
    #[arg(long, global = true, env = "BERTH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve(serve::ServeArgs),
    /// List repositories.
    Catalog,
    /// List the tags of a repository.
    Tags { repository: String },
    /// Print a manifest (by tag or digest).
    Manifest {
        repository: String,
        reference: String,
    },
    /// Delete a manifest by digest, or a tag by name.
    Delete {
        repository: String,
        reference: String,
    },
    /// External repositories on third-party registries (over the Docker Cloud API).
    Remote {
        #[command(subcommand)]
        command: remote_cli::RemoteCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        command => {
            let login = match (cli.user, cli.token) {
                (Some(user), Some(token)) => Some((user, token)),
                (None, None) => None,
                _ => anyhow::bail!("--user and --token go together"),
            };
            let client = client::Client::new(&cli.server, cli.output, login)?;
            runtime.block_on(async {
                match command {
                    Command::Catalog => client.catalog().await,
                    Command::Tags { repository } => client.tags(&repository).await,
                    Command::Manifest {
                        repository,
                        reference,
                    } => client.manifest(&repository, &reference).await,
                    Command::Delete {
                        repository,
                        reference,
                    } => client.delete(&repository, &reference).await,
                    Command::Remote { command } => remote_cli::run(&client, command).await,
                    Command::Serve(_) => unreachable!("handled above"),
                }
            })
        }
    }
}

/// Used by `serve` to find its config file when given as a relative path.
pub fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
