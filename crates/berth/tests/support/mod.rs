//! Helpers of the black-box tests: a guard around a real `berth serve` child process, checks
//! for the external clients, a command runner, and small HTTP helpers written from the OCI
//! Distribution Spec (not from berth's code), so the tests judge berth from outside.

#![allow(dead_code)] // not every test binary uses every helper

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// How long berth may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `berth serve` on `127.0.0.1` and a free port. Dropping it (also while a test
/// panics) SIGKILLs the child it started, and only that child.
pub struct Berth {
    child: Child,
    alive: bool,
    pub port: u16,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl Berth {
    /// Starts berth on `data_dir`; its log (stderr) is appended to `<data_dir>.log`.
    pub fn start(data_dir: &Path) -> Berth {
        Berth::start_with_env(data_dir, &[])
    }

    /// Starts berth with extra environment (`BERTH__...` configuration). Authentication is
    /// off unless `env` turns it on (`BERTH__AUTH__ENABLED=true`): most tests drive other
    /// things.
    pub fn start_with_env(data_dir: &Path, env: &[(String, String)]) -> Berth {
        let log = data_dir.with_extension("log");
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("opening berth's log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        // The test's own environment must not reconfigure the server under test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BERTH") {
                command.env_remove(key);
            }
        }
        command.env("BERTH__AUTH__ENABLED", "false");
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = command.spawn().expect("spawning the berth binary");
        let stdout = child.stdout.take().expect("piped stdout");
        // From here on the guard owns the child, so every failure below kills it.
        let mut berth = Berth {
            child,
            alive: true,
            port: 0,
            data_dir: data_dir.to_owned(),
            log,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep draining so a later print can never block on a full pipe.
            for _ in lines {}
        });
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!(
                "berth printed no first line within {START_TIMEOUT:?}; its log:\n{}",
                berth.log_tail()
            ),
        };
        berth.port = first
            .strip_prefix("berth listening on http://127.0.0.1:")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {first:?}, expected `berth listening on \
                     http://127.0.0.1:PORT`"
                )
            });
        berth
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as skopeo and oras name a registry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILLs berth (no graceful shutdown) and reaps it.
    pub fn kill(&mut self) {
        if self.alive {
            // std's Child::kill is SIGKILL on Unix.
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.alive = false;
        }
    }

    /// The last lines of berth's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(len.saturating_sub(8 * 1024)));
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let alive = self.alive;
        self.kill();
        if alive && std::thread::panicking() {
            eprintln!(
                "---- berth log (port {}) ----\n{}",
                self.port,
                self.log_tail()
            );
        }
    }
}

// ---- external clients ----

/// Fails (never skips) when `program` is missing, naming the Debian package to install.
pub fn require_tool(program: &str, package: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{program}` is needed by this test and is not installed: install the Debian package \
         `{package}` (apt-get install -y {package}), as .ci/run does"
    );
}

/// Fails when python3 or its `oras` package (oras-py) is missing.
pub fn require_oras_py() {
    let out = Command::new("python3")
        .args([
            "-c",
            "import oras.provider, oras.version; print(oras.version.__version__)",
        ])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "python3 cannot import oras: install the PyPI package with `pip install \
             oras==0.2.43`, as .ci/run does ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("python3 is needed by this test and cannot be run: {e}"),
    }
}

/// Runs `command` with proxies removed from its environment (every request of these tests
/// goes to 127.0.0.1) and no stdin.
fn execute(command: &mut Command) -> std::process::Output {
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(var);
    }
    command
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null());
    let mut output = || command.output();
    // The external commands block; let the runtime move other tasks off this worker.
    let output = if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::block_in_place(output)
    } else {
        output()
    };
    output.unwrap_or_else(|e| panic!("could not run {command:?}: {e}"))
}

/// Runs `command` to completion and returns its stdout; panics with both outputs when it
/// fails.
pub fn run(command: &mut Command) -> String {
    let (ok, stdout, stderr) = run_status(command);
    assert!(
        ok,
        "{command:?} failed\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}"
    );
    stdout
}

/// Runs `command` to completion; returns whether it succeeded, its stdout and its stderr.
pub fn run_status(command: &mut Command) -> (bool, String, String) {
    let output = execute(command);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// ---- content ----

/// `sha256:<hex>` of `bytes`, computed here rather than with berth's own digest code.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A small seeded generator (splitmix64): random-looking, incompressible test data without
/// another dependency. The seed is printed so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(label: &str) -> Rng {
        let seed = std::env::var("BLACKBOX_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{label}: BLACKBOX_SEED={seed}");
        Rng(seed)
    }

    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

// ---- HTTP, from the OCI Distribution Spec ----

/// A client that never uses a proxy (only 127.0.0.1 is ever contacted).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("building the HTTP client")
}

/// Turns a `Location` (absolute or relative) into a URL on `base`. An absolute one keeps only
/// its path and query, so a session survives berth coming back on another port.
pub fn resolve(base: &str, location: &str) -> String {
    let path = match location.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => location,
    };
    format!("{base}{path}")
}

/// Appends `key=value` to a URL's query.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Checks a blob-created answer: 201, `Docker-Content-Digest` and a `Location` naming it.
async fn expect_blob_created(response: reqwest::Response, digest: &str) -> Result<(), String> {
    let status = response.status();
    let got = header(&response, "docker-content-digest");
    let location = header(&response, "location");
    if status != reqwest::StatusCode::CREATED {
        let body = response.text().await.unwrap_or_default();
        return Err(format!("expected 201, got {status}: {body}"));
    }
    if got != digest {
        return Err(format!("Docker-Content-Digest {got:?}, expected {digest}"));
    }
    if !location.ends_with(&format!("/blobs/{digest}")) {
        return Err(format!("Location {location:?} does not name blob {digest}"));
    }
    Ok(())
}

/// Pushes a blob in one request: `POST /v2/<name>/blobs/uploads/?digest=`.
pub async fn push_blob_monolithic(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    data: &[u8],
) -> Result<String, String> {
    let digest = sha256(data);
    let url = format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}");
    let response = client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .map_err(|e| format!("POST ?digest=: {e}"))?;
    expect_blob_created(response, &digest).await?;
    Ok(digest)
}

/// Starts an upload session and returns its `Location`, resolved on `base`.
pub async fn start_upload(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
) -> Result<String, String> {
    let response = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .map_err(|e| format!("POST: {e}"))?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        return Err(format!(
            "POST upload: expected 202, got {}",
            response.status()
        ));
    }
    let location = header(&response, "location");
    if location.is_empty() {
        return Err("POST upload: no Location".into());
    }
    Ok(resolve(base, &location))
}

/// Sends one chunk with `Content-Range`; checks the 202 and its `Range`, returns the next
/// `Location`.
pub async fn patch_chunk(
    client: &reqwest::Client,
    base: &str,
    location: &str,
    start: usize,
    chunk: &[u8],
) -> Result<String, String> {
    let end = start + chunk.len() - 1;
    let response = client
        .patch(location)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{start}-{end}"))
        .body(chunk.to_vec())
        .send()
        .await
        .map_err(|e| format!("PATCH {start}-{end}: {e}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::ACCEPTED {
        let body = response.text().await.unwrap_or_default();
        return Err(format!(
            "PATCH {start}-{end}: expected 202, got {status}: {body}"
        ));
    }
    let range = header(&response, "range");
    if range != format!("0-{end}") {
        return Err(format!(
            "PATCH {start}-{end}: Range {range:?}, expected \"0-{end}\""
        ));
    }
    Ok(resolve(base, &header(&response, "location")))
}

/// Closes a session with `PUT ?digest=` and no body.
pub async fn finish_upload(
    client: &reqwest::Client,
    location: &str,
    digest: &str,
) -> Result<(), String> {
    let response = client
        .put(with_param(location, "digest", digest))
        .header("content-length", "0")
        .send()
        .await
        .map_err(|e| format!("PUT ?digest=: {e}"))?;
    expect_blob_created(response, digest).await
}

/// Pushes a blob as POST, one PATCH per `chunk` bytes, then PUT.
pub async fn push_blob_chunked(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    data: &[u8],
    chunk: usize,
) -> Result<String, String> {
    let digest = sha256(data);
    let mut location = start_upload(client, base, repo).await?;
    for (i, part) in data.chunks(chunk).enumerate() {
        location = patch_chunk(client, base, &location, i * chunk, part).await?;
    }
    finish_upload(client, &location, &digest).await?;
    Ok(digest)
}

/// PUTs a manifest; checks 201 and that the registry's digest is the bytes' sha256.
pub async fn put_manifest(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Result<String, String> {
    let digest = sha256(body);
    let response = client
        .put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("PUT manifest {repo}:{reference}: {e}"))?;
    let status = response.status();
    let got = header(&response, "docker-content-digest");
    if status != reqwest::StatusCode::CREATED {
        let text = response.text().await.unwrap_or_default();
        return Err(format!(
            "PUT manifest {repo}:{reference}: expected 201, got {status}: {text}"
        ));
    }
    if got != digest {
        return Err(format!(
            "PUT manifest {repo}:{reference}: digest {got:?}, expected {digest}"
        ));
    }
    Ok(digest)
}

/// An OCI image manifest over `config` and `layers`, given as `(digest, size)`.
pub fn image_manifest(config: (&str, usize), layers: &[(String, usize)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(digest, size)| serde_json::json!({"mediaType": OCI_LAYER, "digest": digest, "size": size}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.0, "size": config.1},
        "layers": layers,
    }))
    .expect("serializing a manifest")
}

/// GETs a blob; returns its status and, on 200, its bytes.
pub async fn get_blob(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    digest: &str,
) -> (reqwest::StatusCode, Vec<u8>) {
    let response = client
        .get(format!("{base}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET blob {digest}: {e}"));
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("reading blob {digest}: {e}"));
    (status, bytes.to_vec())
}

/// The sha256 files under `root` (`.../sha256/<xx>/<hex>`), recursively.
pub fn stored_blob_files(root: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let parent = path
                .parent()
                .and_then(Path::file_name)
                .map(|p| p.to_string_lossy());
            let algorithm = path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map(|p| p.to_string_lossy());
            let is_blob = name.len() == 64
                && name.bytes().all(|b| b.is_ascii_hexdigit())
                && algorithm.as_deref() == Some("sha256")
                && parent.as_deref() == Some(&name[..2]);
            if is_blob {
                found.push((path, format!("sha256:{name}")));
            }
        }
    }
    found
}

// ---- an upstream registry ----

/// A free port on 127.0.0.1 (bound and released: good enough for a child that binds it at
/// once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker-registry serve` with htpasswd Basic auth on 127.0.0.1; killed (only this child)
/// when dropped.
pub struct DockerRegistry {
    child: Child,
    pub host: String,
    _dir: tempfile::TempDir,
}

impl DockerRegistry {
    /// With one htpasswd user, `user`:`password`.
    pub fn start(user: &str, password: &str) -> DockerRegistry {
        require_tool("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let hashed = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "`htpasswd` is needed by this test: install the Debian package apache2-utils \
                     (apt-get install -y apache2-utils), as .ci/run does ({e})"
                )
            });
        assert!(hashed.status.success(), "htpasswd failed");
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, &hashed.stdout).unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.path().join("data").display(),
                htpasswd.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = DockerRegistry {
            child,
            host: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}",
                registry.host
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `berth` client against `berth` as its administrator (with `admin_password`),
/// feeding `stdin` if given; returns (success, stdout, stderr).
pub fn berth_cli(
    berth: &Berth,
    admin_password: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args([
            "--server",
            &berth.url(),
            "--user",
            "admin",
            "--token",
            admin_password,
        ])
        .args(args)
        .env_remove("BERTH_UPSTREAM_PASSWORD")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::block_in_place(|| child.wait_with_output())
    } else {
        child.wait_with_output()
    }
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The environment that points a replica at the shared S3 bucket and database.
pub fn scale_out_env(s3: &berth_storage::S3Config, database_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("BERTH__STORAGE__TYPE", "s3".to_owned()),
        ("BERTH__STORAGE__BUCKET", s3.bucket.clone()),
        ("BERTH__STORAGE__REGION", s3.region.clone()),
        ("BERTH__STORAGE__ACCESS_KEY_ID", s3.access_key_id.clone()),
        (
            "BERTH__STORAGE__SECRET_ACCESS_KEY",
            s3.secret_access_key.expose().to_owned(),
        ),
        ("BERTH__STORAGE__PATH_STYLE", "true".to_owned()),
        ("BERTH__STORAGE__ALLOW_HTTP", "true".to_owned()),
        ("BERTH__DATABASE__URL", database_url.to_owned()),
    ];
    if let Some(endpoint) = &s3.endpoint {
        env.push(("BERTH__STORAGE__ENDPOINT", endpoint.clone()));
    }
    if let Some(prefix) = &s3.prefix {
        env.push(("BERTH__STORAGE__PREFIX", prefix.clone()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Standard base64 with padding (for Basic credentials).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
