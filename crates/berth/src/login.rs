//! `berth login` and `berth logout`, and the user's config file they keep: the server, the
//! user, and a personal access token that `berth login` created through the native API
//! (never the password). Every client command then logs in with it, when it talks to that
//! server and no `--user`/`--token` is given.
//!
//! The file is `$XDG_CONFIG_HOME/berth/config.toml`, else `~/.config/berth/config.toml`,
//! written with mode 0600 in a 0700 directory.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Output;
use crate::client::{Client, path_segment};

/// What `berth login` saved.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    /// The server the token belongs to (it is sent nowhere else).
    pub server: String,
    pub user: String,
    /// A personal access token (`bth_…`).
    pub token: String,
    /// Its id, so that `berth logout` can revoke it.
    pub token_id: Option<String>,
}

/// Where the config file lives.
pub fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("berth").join("config.toml"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the login")?;
    Ok(PathBuf::from(home)
        .join(".config")
        .join("berth")
        .join("config.toml"))
}

/// The saved login, if there is one.
pub fn load() -> anyhow::Result<Option<Saved>> {
    let Ok(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let saved = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a berth login file (run `berth logout` or remove it)",
            path.display()
        )
    })?;
    Ok(Some(saved))
}

fn save(saved: &Saved) -> anyhow::Result<PathBuf> {
    let path = config_path()?;
    let dir = path.parent().context("the config path has no directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let text = format!(
        "# Written by `berth login`: it holds a secret (remove it with `berth logout`).\n{}",
        toml::to_string(saved)?
    );
    // Written beside, then renamed: never a half-written file, never a moment with wider
    // permissions.
    let tmp = path.with_extension("toml.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A secret from the first line of stdin, or asked on the terminal (without echo).
pub fn read_secret(from_stdin: bool, prompt: &str) -> anyhow::Result<String> {
    let secret = if from_stdin {
        read_line()?
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).context("reading the password")?
    } else {
        bail!("no terminal to ask the password on: pass it with --password-stdin");
    };
    if secret.is_empty() {
        bail!("the password is empty");
    }
    Ok(secret)
}

/// `berth login`: creates a personal access token with the password, and saves it.
pub async fn login(
    server: &str,
    output: Output,
    username: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let user = match username {
        Some(user) => user,
        None if password_stdin => bail!("--password-stdin needs --username"),
        None if std::io::stdin().is_terminal() => {
            eprint!("Username: ");
            std::io::stderr().flush()?;
            read_line()?
        }
        None => bail!("no terminal to ask the user name on: pass --username"),
    };
    if user.is_empty() {
        bail!("the user name is empty");
    }
    let password = read_secret(password_stdin, "Password: ")?;
    let client = Client::new(server, output, Some((user.clone(), password)))?;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cli".to_owned());
    let created = client
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/users/{}/tokens", path_segment(&user)),
            Some(json!({ "name": format!("berth-cli@{host}") })),
        )
        .await
        .context("logging in")?;
    let token = created["token"]
        .as_str()
        .context("the server's answer has no token")?
        .to_owned();
    let saved = Saved {
        server: client.base().to_owned(),
        user: user.clone(),
        token,
        token_id: created["id"].as_str().map(str::to_owned),
    };
    let path = save(&saved)?;
    match output {
        Output::Json => println!(
            "{}",
            json!({"server": saved.server, "user": user, "token_id": saved.token_id, "config": path})
        ),
        Output::Table => println!(
            "Logged in to {} as {user}; the token is saved in {}",
            saved.server,
            path.display()
        ),
    }
    Ok(())
}

/// `berth logout`: revokes the saved token (when the server can be reached) and forgets it.
pub async fn logout(output: Output) -> anyhow::Result<()> {
    let saved = match load() {
        Ok(saved) => saved,
        Err(e) => {
            // Unreadable: nothing to revoke, but it goes all the same.
            let path = config_path()?;
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            eprintln!("warning: {e:#}; removed it");
            return Ok(());
        }
    };
    let Some(saved) = saved else {
        match output {
            Output::Json => println!("{}", json!({"logged_out": false})),
            Output::Table => println!("not logged in"),
        }
        return Ok(());
    };
    let mut revoked = false;
    if let Some(id) = &saved.token_id {
        let client = Client::new(
            &saved.server,
            output,
            Some((saved.user.clone(), saved.token.clone())),
        )?;
        match client
            .api(
                reqwest::Method::DELETE,
                &format!(
                    "/api/v1/users/{}/tokens/{}",
                    path_segment(&saved.user),
                    path_segment(id)
                ),
                None,
            )
            .await
        {
            Ok(_) => revoked = true,
            Err(e) => eprintln!("warning: the token was not revoked on the server: {e:#}"),
        }
    }
    let path = config_path()?;
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    match output {
        Output::Json => println!(
            "{}",
            json!({"logged_out": true, "server": saved.server, "token_revoked": revoked})
        ),
        Output::Table => println!("Logged out of {}", saved.server),
    }
    Ok(())
}
