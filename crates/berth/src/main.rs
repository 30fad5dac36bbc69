//! The `berth` binary: `berth serve` runs the registry; the other commands are a client of a
//! running berth's HTTP API.

mod client;
mod config;
mod login;
mod native_cli;
mod remote_cli;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc instead of glibc's malloc: a request allocates and frees many small values
/// (rows, JSON, headers) across two worker threads, and glibc's malloc and free took about a
/// sixth of berth's CPU time there. With mimalloc the browsing benchmarks (bench/scale.sh)
/// answer 20-35% more requests per second on PostgreSQL. Built without transparent huge
/// pages (`no_thp`), which would round small heaps up to 2 MiB of resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc gives freed memory back to the OS a second after it is freed by default; a push
/// or pull frees its buffers at a high rate, and that second of them doubled the server's peak
/// memory (16 concurrent pulls: 65 MiB, 39 without it), and throughput was the same. mimalloc
/// reads its options from the environment once, before `main`, and setting one in-process
/// needs its unsafe C interface, so the server runs itself again (the same process, by
/// `exec`) with `MIMALLOC_PURGE_DELAY=0`, unless the environment sets a delay already.
fn return_freed_memory_at_once() {
    use std::os::unix::process::CommandExt;
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY, "0")
        .exec();
    // exec returns only when it failed: serve as we are.
    eprintln!("warning: could not restart with {PURGE_DELAY}=0 ({err}); memory is returned late");
}

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A registry for container images, OCI artifacts and Helm charts"
)]
struct Cli {
    /// The berth server the client commands talk to [default: the one `berth login` saved,
    /// else http://127.0.0.1:5000].
    #[arg(long, global = true, env = "BERTH_SERVER")]
    server: Option<String>,
    /// Output format of client commands.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// The user client commands log in as (HTTP Basic) [default: the one `berth login`
    /// saved].
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
    /// Log in: creates a personal access token and saves it in your config file (0600),
    /// which every command then uses.
    Login {
        /// The user (asked when not given).
        #[arg(long, short = 'u')]
        username: Option<String>,
        /// Read the password from the first line of stdin (else it is asked).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Log out: revokes the saved token and removes it.
    Logout,
    /// Namespaces.
    Namespace {
        #[command(subcommand)]
        command: native_cli::NamespaceCommand,
    },
    /// Members of a namespace and their levels.
    Member {
        #[command(subcommand)]
        command: native_cli::MemberCommand,
    },
    /// OCI repositories (`team/app`) and their counters.
    Repo {
        #[command(subcommand)]
        command: native_cli::RepoCommand,
    },
    /// Images (manifests) of a repository.
    Image {
        #[command(subcommand)]
        command: native_cli::ImageCommand,
    },
    /// Tags of a repository, with their detail.
    Tag {
        #[command(subcommand)]
        command: native_cli::TagCommand,
    },
    /// Users (administrators; anyone may change its own password).
    User {
        #[command(subcommand)]
        command: native_cli::UserCommand,
    },
    /// Your personal access tokens.
    Token {
        #[command(subcommand)]
        command: native_cli::TokenCommand,
    },
    /// Robot accounts of a namespace.
    Robot {
        #[command(subcommand)]
        command: native_cli::RobotCommand,
    },
    /// Your access keys (AK/SK) for SWR clients.
    Key {
        #[command(subcommand)]
        command: native_cli::KeyCommand,
    },
    /// The audit log (administrators).
    Audit(native_cli::AuditArgs),
    /// Pull-through caches of upstream registries (administrators).
    Proxy {
        #[command(subcommand)]
        command: native_cli::ProxyCommand,
    },
    /// Helm charts of a namespace: push, pull, list, show, delete.
    Chart {
        #[command(subcommand)]
        command: native_cli::ChartCommand,
    },
    /// Helm repositories, hosted or mirrored from a URL (climc's k8s-repo-* commands).
    K8sRepo {
        #[command(subcommand)]
        command: native_cli::K8sRepoCommand,
    },
}

/// The server when neither --server, BERTH_SERVER nor a saved login names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:5000";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        return_freed_memory_at_once();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Logout => runtime.block_on(login::logout(cli.output)),
        command => {
            // A broken login file must not stop commands that do not need it.
            let saved = login::load().unwrap_or_else(|e| {
                eprintln!("warning: {e:#}");
                None
            });
            let server = cli
                .server
                .or_else(|| saved.as_ref().map(|s| s.server.clone()))
                .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
            let server = server.trim_end_matches('/').to_owned();
            if let Command::Login {
                username,
                password_stdin,
            } = command
            {
                return runtime.block_on(login::login(
                    &server,
                    cli.output,
                    username,
                    password_stdin,
                ));
            }
            let login = match (cli.user, cli.token) {
                (Some(user), Some(token)) => Some((user, token)),
                // The saved token, only for the server it belongs to.
                (None, None) => saved
                    .filter(|s| s.server == server)
                    .map(|s| (s.user, s.token)),
                _ => anyhow::bail!("--user and --token go together"),
            };
            let client = client::Client::new(&server, cli.output, login)?;
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
                    Command::Namespace { command } => native_cli::namespace(&client, command).await,
                    Command::Member { command } => native_cli::member(&client, command).await,
                    Command::Repo { command } => native_cli::repo(&client, command).await,
                    Command::Image { command } => native_cli::image(&client, command).await,
                    Command::Tag { command } => native_cli::tag(&client, command).await,
                    Command::User { command } => native_cli::user(&client, command).await,
                    Command::Token { command } => native_cli::token(&client, command).await,
                    Command::Robot { command } => native_cli::robot(&client, command).await,
                    Command::Key { command } => native_cli::key(&client, command).await,
                    Command::Audit(args) => native_cli::audit(&client, args).await,
                    Command::Proxy { command } => native_cli::proxy(&client, command).await,
                    Command::K8sRepo { command } => native_cli::k8s_repo(&client, command).await,
                    Command::Chart { command } => native_cli::chart(&client, command).await,
                    Command::Serve(_) | Command::Login { .. } | Command::Logout => {
                        unreachable!("handled above")
                    }
                }
            })
        }
    }
}

/// Used by `serve` to find its config file when given as a relative path.
pub fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
