//! `berth-bench`: the compiled client half of `bench/run.sh`.
//!
//! * `push-small`  — many small image pushes (layer blob + config blob via POST/PUT, then an
//!   OCI image manifest under a distinct tag), N at a time; prints pushes/s.
//! * `seed-tags`   — one image, then the same manifest PUT under many tags; prints tags/s.
//! * `get-loop`    — one connection, sequential GETs of one URL; prints latency figures.
//! * `s3-shim`     — a pass-through HTTP proxy in front of an S3 server that answers
//!   `ListMultipartUploads` itself (s3s-fs lacks it; distribution's S3 driver needs it) and
//!   counts requests per client; see `s3_shim`.
//! * `report`      — turns the results file written by `run.sh` into the comparison table.
//!
//! Measuring commands print one line of `key=value` pairs on stdout for `run.sh` to parse.
//! Any unexpected HTTP status aborts with the request and the response on stderr, so protocol
//! incompatibilities surface instead of being averaged away.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Client, Method, StatusCode};
use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Parser)]
#[command(name = "berth-bench", about = "Load driver for bench/run.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push COUNT small images (blob + config + manifest), CONCURRENCY at a time.
    PushSmall {
        /// Registry base URL, e.g. http://127.0.0.1:5000
        #[arg(long)]
        url: String,
        /// Repository (or, with --repo-per-push, the prefix of the repository names).
        #[arg(long)]
        repo: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Tags are <prefix><index, 5 digits>.
        #[arg(long, default_value = "t")]
        tag_prefix: String,
        /// Push image i into repository <repo><index, 5 digits> instead of <repo>.
        #[arg(long)]
        repo_per_push: bool,
        /// Seed for the random content (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Push one image, then PUT its manifest under COUNT tags.
    SeedTags {
        #[arg(long)]
        url: String,
        /// The repository, or with --repos N > 1 the prefix of repositories <repo><index, 5 digits>.
        #[arg(long)]
        repo: String,
        /// Tags per repository.
        #[arg(long)]
        count: usize,
        /// How many repositories (each: one image, then COUNT tags of it).
        #[arg(long, default_value_t = 1)]
        repos: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = "tag")]
        tag_prefix: String,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Sequential GETs of one URL over one kept-alive connection.
    GetLoop {
        /// Full URL.
        #[arg(long)]
        url: String,
        #[arg(long)]
        requests: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long)]
        accept: Option<String>,
        /// Check that the JSON body has an array under this key ...
        #[arg(long)]
        json_array: Option<String>,
        /// ... with at least this many entries.
        #[arg(long, default_value_t = 0)]
        min_len: usize,
    },
    /// Keep CONNS connections busy with one request for SECS seconds (a wrk-like loader; the
    /// Debian wrk 4.1 waits for a body after HEAD responses, so it cannot do HEAD).
    Hammer {
        /// Full URL (http only).
        #[arg(long)]
        url: String,
        /// A file of URLs or paths on the same host, one per line, requested in turn (the
        /// connections start at different lines).
        #[arg(long)]
        url_file: Option<String>,
        #[arg(long, default_value = "GET")]
        method: String,
        /// Extra request header, "Name: value" (repeatable).
        #[arg(long)]
        header: Vec<String>,
        #[arg(long, default_value_t = 64)]
        conns: usize,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Runtime worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Proxy to an S3 server that answers ListMultipartUploads itself (see `s3_shim`).
    S3Shim {
        /// S3 server to forward to, host:port.
        #[arg(long)]
        upstream: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Print the comparison table from a results file written by run.sh.
    Report { results: PathBuf },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Report { results } => return report(&results),
        Command::Hammer {
            url,
            url_file,
            method,
            header,
            conns,
            secs,
            threads,
        } => return hammer(url, url_file, method, header, conns, secs, threads),
        Command::S3Shim { upstream, listen } => {
            return tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(s3_shim(upstream, listen));
        }
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::PushSmall {
                url,
                repo,
                count,
                concurrency,
                tag_prefix,
                repo_per_push,
                seed,
            } => {
                push_small(
                    url.trim_end_matches('/').to_string(),
                    repo,
                    count,
                    concurrency,
                    tag_prefix,
                    repo_per_push,
                    seed.unwrap_or_else(clock_seed),
                )
                .await
            }
            Command::SeedTags {
                url,
                repo,
                count,
                repos,
                concurrency,
                tag_prefix,
                seed,
            } => {
                let seed = seed.unwrap_or_else(clock_seed);
                for r in 0..repos {
                    let name = if repos > 1 {
                        format!("{repo}{r:05}")
                    } else {
                        repo.clone()
                    };
                    seed_tags(
                        url.trim_end_matches('/').to_string(),
                        name,
                        count,
                        concurrency,
                        tag_prefix.clone(),
                        seed.wrapping_add(r as u64),
                    )
                    .await?;
                }
                Ok(())
            }
            Command::GetLoop {
                url,
                requests,
                warmup,
                accept,
                json_array,
                min_len,
            } => get_loop(url, requests, warmup, accept, json_array, min_len).await,
            Command::Hammer { .. } | Command::Report { .. } | Command::S3Shim { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

// ---------------------------------------------------------------- content

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed)
}

/// splitmix64: cheap, good enough to make every blob distinct and incompressible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// One small image: a 1–4 KiB random layer, a config naming it, and the manifest.
struct Image {
    layer: Vec<u8>,
    layer_digest: String,
    config: Vec<u8>,
    config_digest: String,
    manifest: Vec<u8>,
}

fn make_image(seed: u64, index: u64) -> Image {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xd6e8_feb8_6659_fd93));
    let len = 1024 + (rng.next() % 3073) as usize;
    let layer = rng.bytes(len);
    let layer_digest = sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "bench.seed": seed.to_string(), "bench.index": index.to_string() } },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    }))
    .expect("json");
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
        "layers": [ { "mediaType": OCI_LAYER, "digest": layer_digest, "size": layer.len() } ],
    }))
    .expect("json");
    Image {
        layer,
        layer_digest,
        config,
        config_digest,
        manifest,
    }
}

// ---------------------------------------------------------------- HTTP

fn client(connections: usize) -> anyhow::Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// Sends a request and fails (with the exchange on stderr) unless the status is `want`.
async fn expect(
    req: reqwest::RequestBuilder,
    what: &str,
    want: StatusCode,
) -> anyhow::Result<reqwest::Response> {
    let (c, built) = req.build_split();
    let built = built?;
    let line = format!("{} {}", built.method(), built.url());
    let resp = c
        .execute(built)
        .await
        .with_context(|| format!("{what}: {line}"))?;
    if resp.status() != want {
        let status = resp.status();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap_or_default();
        bail!("{what}: {line} -> {status} (wanted {want})\n  headers: {headers}\n  body: {body}");
    }
    Ok(resp)
}

fn absolutize(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        format!("{base}/{location}")
    }
}

/// POST an upload session, then PUT the whole blob with `?digest=` (both registries).
async fn push_blob(
    c: &Client,
    base: &str,
    repo: &str,
    data: Vec<u8>,
    digest: &str,
) -> anyhow::Result<()> {
    let resp = expect(
        c.post(format!("{base}/v2/{repo}/blobs/uploads/")),
        "start upload",
        StatusCode::ACCEPTED,
    )
    .await?;
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("upload POST without Location")?
        .to_string();
    drop(resp.bytes().await);
    let url = absolutize(base, &location);
    let sep = if url.contains('?') { '&' } else { '?' };
    let resp = expect(
        c.put(format!("{url}{sep}digest={digest}"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(data),
        "finish upload",
        StatusCode::CREATED,
    )
    .await?;
    drop(resp.bytes().await);
    Ok(())
}

async fn put_manifest(
    c: &Client,
    base: &str,
    repo: &str,
    tag: &str,
    manifest: Vec<u8>,
) -> anyhow::Result<()> {
    let resp = expect(
        c.put(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header(CONTENT_TYPE, OCI_MANIFEST)
            .body(manifest),
        "put manifest",
        StatusCode::CREATED,
    )
    .await?;
    drop(resp.bytes().await);
    Ok(())
}

async fn push_image(
    c: &Client,
    base: &str,
    repo: &str,
    tag: &str,
    img: Image,
) -> anyhow::Result<()> {
    push_blob(c, base, repo, img.layer, &img.layer_digest).await?;
    push_blob(c, base, repo, img.config, &img.config_digest).await?;
    put_manifest(c, base, repo, tag, img.manifest).await
}

// ---------------------------------------------------------------- load loops

/// CPU seconds (user + system) this process has used so far.
fn self_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the comm: state is f[0], utime is field 14 overall => f[11], stime f[12].
    let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    ticks / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `op(i)` for i in 0..count with `concurrency` workers; prints the summary line.
async fn run_parallel<F, Fut>(count: usize, concurrency: usize, op: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = self_cpu_secs();
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let op = op.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = Instant::now();
                op(i).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }));
    }
    let mut lat = Vec::with_capacity(count);
    for w in workers {
        lat.extend(w.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = self_cpu_secs() - cpu0;
    lat.sort_by(f64::total_cmp);
    println!(
        "ops={count} secs={secs:.4} rate={:.2} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} client_cpu_s={cpu:.3}",
        count as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
    Ok(())
}

async fn push_small(
    base: String,
    repo: String,
    count: usize,
    concurrency: usize,
    tag_prefix: String,
    repo_per_push: bool,
    seed: u64,
) -> anyhow::Result<()> {
    let c = client(concurrency)?;
    let base: Arc<str> = base.into();
    let repo: Arc<str> = repo.into();
    let tag_prefix: Arc<str> = tag_prefix.into();
    run_parallel(count, concurrency, move |i| {
        let (c, base, repo, tag_prefix) =
            (c.clone(), base.clone(), repo.clone(), tag_prefix.clone());
        async move {
            let img = make_image(seed, i as u64);
            let repo = if repo_per_push {
                format!("{repo}{i:05}")
            } else {
                repo.to_string()
            };
            push_image(&c, &base, &repo, &format!("{tag_prefix}{i:05}"), img).await
        }
    })
    .await
}

async fn seed_tags(
    base: String,
    repo: String,
    count: usize,
    concurrency: usize,
    tag_prefix: String,
    seed: u64,
) -> anyhow::Result<()> {
    let c = client(concurrency)?;
    let img = make_image(seed, u64::MAX);
    let manifest: Arc<[u8]> = img.manifest.clone().into();
    push_image(&c, &base, &repo, &format!("{tag_prefix}-base"), img).await?;
    let base: Arc<str> = base.into();
    let repo: Arc<str> = repo.into();
    let tag_prefix: Arc<str> = tag_prefix.into();
    run_parallel(count, concurrency, move |i| {
        let (c, base, repo, tag_prefix, manifest) = (
            c.clone(),
            base.clone(),
            repo.clone(),
            tag_prefix.clone(),
            manifest.clone(),
        );
        async move {
            put_manifest(
                &c,
                &base,
                &repo,
                &format!("{tag_prefix}{i:05}"),
                manifest.to_vec(),
            )
            .await
        }
    })
    .await
}

async fn get_loop(
    url: String,
    requests: usize,
    warmup: usize,
    accept: Option<String>,
    json_array: Option<String>,
    min_len: usize,
) -> anyhow::Result<()> {
    let c = client(1)?;
    let get = || {
        let mut r = c.request(Method::GET, &url);
        if let Some(a) = &accept {
            r = r.header(ACCEPT, a);
        }
        r
    };
    // Warm-up, and the content check on the first response.
    let mut bytes = 0;
    for i in 0..warmup.max(1) {
        let body = expect(get(), "get", StatusCode::OK).await?.bytes().await?;
        bytes = body.len();
        if i == 0
            && let Some(key) = &json_array
        {
            let v: serde_json::Value =
                serde_json::from_slice(&body).context("response is not JSON")?;
            let n = v.get(key).and_then(|a| a.as_array()).map_or(0, |a| a.len());
            if n < min_len {
                bail!("GET {url}: {key} has {n} entries, wanted at least {min_len}");
            }
        }
    }
    let mut lat = Vec::with_capacity(requests);
    let cpu0 = self_cpu_secs();
    let start = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        let body = expect(get(), "get", StatusCode::OK).await?.bytes().await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = body.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = self_cpu_secs() - cpu0;
    let mean = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
    lat.sort_by(f64::total_cmp);
    println!(
        "ops={requests} secs={secs:.4} mean_ms={mean:.3} p50_ms={:.3} min_ms={:.3} p99_ms={:.3} body_bytes={bytes} client_cpu_s={cpu:.3}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.0),
        percentile(&lat, 0.99),
    );
    Ok(())
}

// ---------------------------------------------------------------- hammer

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status and Content-Length of a response head (the bytes before the blank line).
fn parse_head(head: &[u8]) -> anyhow::Result<(u16, usize)> {
    let head = std::str::from_utf8(head).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    let mut len = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked responses are not supported by hammer");
            }
        }
    }
    Ok((status, len.unwrap_or(0)))
}

/// One connection's share: requests sent in turn (from `first` on), and the latency of each
/// answer in microseconds.
async fn hammer_conn(
    addr: String,
    requests: Arc<Vec<Vec<u8>>>,
    first: usize,
    head_only: bool,
    deadline: tokio::time::Instant,
) -> anyhow::Result<(u64, u64, Vec<u32>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(&addr).await?;
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut ok, mut bad) = (0u64, 0u64);
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut next = first;
    while tokio::time::Instant::now() < deadline {
        let sent = Instant::now();
        s.write_all(&requests[next % requests.len()]).await?;
        next += 1;
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed by the server");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let (status, len) = parse_head(&buf[..head_end])?;
        let total = head_end + 4 + if head_only { 0 } else { len };
        while buf.len() < total {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed by the server");
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..total);
        latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if (200..300).contains(&status) {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    Ok((ok, bad, latencies))
}

/// wrk's model: THREADS OS threads, each with its own single-threaded event loop driving its
/// share of the connections (no work stealing, no cross-thread wake-ups).
fn hammer(
    url: String,
    url_file: Option<String>,
    method: String,
    headers: Vec<String>,
    conns: usize,
    secs: f64,
    threads: usize,
) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("hammer wants an http:// URL")?;
    let (addr, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // The request for each path: the URL's, or every line of the URL file (same host).
    let paths: Vec<String> = match &url_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {file}"))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let l = l.trim();
                match l.strip_prefix("http://") {
                    Some(rest) => rest
                        .find('/')
                        .map_or("/".to_owned(), |i| rest[i..].to_owned()),
                    None => l.to_owned(),
                }
            })
            .collect(),
        None => vec![path.to_owned()],
    };
    anyhow::ensure!(!paths.is_empty(), "no URLs to request");
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        paths
            .iter()
            .map(|path| {
                let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
                for h in &headers {
                    req.push_str(h);
                    req.push_str("\r\n");
                }
                req.push_str("\r\n");
                req.into_bytes()
            })
            .collect(),
    );
    let head_only = method.eq_ignore_ascii_case("HEAD");
    let conns = conns.max(1);
    let threads = threads.clamp(1, conns);
    let cpu0 = self_cpu_secs();
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + Duration::from_secs_f64(secs));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            // Spread the connections as evenly as possible over the threads.
            let mine = conns / threads + usize::from(t < conns % threads);
            let (addr, requests) = (addr.to_string(), requests.clone());
            std::thread::spawn(move || -> anyhow::Result<(u64, u64, Vec<u32>)> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let tasks: Vec<_> = (0..mine)
                        .map(|c| {
                            // Connections start at different places in the list.
                            let first = (t * 7919 + c * 104_729) % requests.len();
                            tokio::spawn(hammer_conn(
                                addr.clone(),
                                requests.clone(),
                                first,
                                head_only,
                                deadline,
                            ))
                        })
                        .collect();
                    let (mut ok, mut bad, mut all) = (0, 0, Vec::new());
                    for t in tasks {
                        let (o, b, l) = t.await??;
                        ok += o;
                        bad += b;
                        all.extend(l);
                    }
                    Ok((ok, bad, all))
                })
            })
        })
        .collect();
    let (mut ok, mut bad, mut latencies) = (0, 0, Vec::new());
    for w in workers {
        let (o, b, l) = w
            .join()
            .map_err(|_| anyhow::anyhow!("hammer thread panicked"))??;
        ok += o;
        bad += b;
        latencies.extend(l);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = self_cpu_secs() - cpu0;
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64 / 1000.0
    };
    println!(
        "ops={} secs={secs:.4} rate={:.2} non2xx={bad} client_cpu_s={cpu:.3} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        ok + bad,
        (ok + bad) as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

// ---------------------------------------------------------------- s3-shim

// s3s-fs (the S3 server of berth's CI) does not implement ListMultipartUploads, and
// distribution 2.8's S3 driver calls it to resume every upload (each PATCH and the final
// PUT), so against bare s3s-fs distribution cannot store a single blob. The shim sits in
// front of s3s-fs, forwards every request byte for byte (SigV4 signatures stay valid: the
// Host header is the shim's address, which is what the clients signed), remembers the
// multipart uploads it sees created (`POST key?uploads`) until they are completed or
// aborted (`POST`/`DELETE key?uploadId=`), and answers `GET bucket?uploads` from that table.
// It also repairs s3s-fs's ListParts answer for distribution (see `fix_list_parts`).
// It also counts requests and body bytes per client (distribution's aws-sdk-go vs anything
// else, i.e. berth), served as one `key=value` line at `GET /__shim/stats`.

#[derive(Default)]
struct ShimState {
    /// (bucket, key, upload id) -> initiation time.
    uploads: std::sync::Mutex<BTreeMap<(String, String, String), String>>,
    /// Index 0: berth (any client but aws-sdk-go), 1: distribution.
    reqs: [AtomicU64; 2],
    up_bytes: [AtomicU64; 2],
    down_bytes: [AtomicU64; 2],
    lists: AtomicU64,
}

impl ShimState {
    fn stats_line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "berth_reqs={} berth_up={} berth_down={} dist_reqs={} dist_up={} dist_down={} lists={} open_uploads={}\n",
            g(&self.reqs[0]),
            g(&self.up_bytes[0]),
            g(&self.down_bytes[0]),
            g(&self.reqs[1]),
            g(&self.up_bytes[1]),
            g(&self.down_bytes[1]),
            g(&self.lists),
            self.uploads.lock().map_or(0, |u| u.len()),
        )
    }

    fn list_uploads_xml(&self, bucket: &str, prefix: &str) -> String {
        let mut x = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Prefix>{}</Prefix>\
             <MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>",
            xml_escape(bucket),
            xml_escape(prefix)
        );
        let uploads = self.uploads.lock().expect("shim state poisoned");
        for ((b, k, id), t) in uploads.iter() {
            if b == bucket && k.starts_with(prefix) {
                let _ = write!(
                    x,
                    "<Upload><Key>{}</Key><UploadId>{}</UploadId><StorageClass>STANDARD</StorageClass>\
                     <Initiated>{t}</Initiated></Upload>",
                    xml_escape(k),
                    xml_escape(id)
                );
            }
        }
        x.push_str("</ListMultipartUploadsResult>");
        x
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let s = find(body, open.as_bytes())? + open.len();
    let e = s + find(&body[s..], close.as_bytes())?;
    Some(String::from_utf8_lossy(&body[s..e]).into_owned())
}

/// s3s-fs answers ListParts with the parts in directory order and without `IsTruncated`;
/// distribution 2.8 dereferences `IsTruncated` (a nil pointer: it panics) and takes the last
/// listed part for the last one. Sort the parts by number and add `IsTruncated`.
fn fix_list_parts(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let (Some(first), Some(last)) = (text.find("<Part>"), text.rfind("</Part>")) else {
        return add_is_truncated(&text).into_bytes();
    };
    let last = last + "</Part>".len();
    let mut parts: Vec<&str> = text[first..last]
        .split_inclusive("</Part>")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    parts.sort_by_key(|p| {
        xml_text(p.as_bytes(), "PartNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    let rebuilt = format!("{}{}{}", &text[..first], parts.concat(), &text[last..]);
    add_is_truncated(&rebuilt).into_bytes()
}

fn add_is_truncated(xml: &str) -> String {
    if xml.contains("<IsTruncated>") {
        return xml.to_string();
    }
    match xml.rfind("</ListPartsResult>") {
        Some(i) => format!("{}<IsTruncated>false</IsTruncated>{}", &xml[..i], &xml[i..]),
        None => xml.to_string(),
    }
}

/// A response head with its body framing replaced by `Content-Length: len`.
fn with_content_length(raw: &[u8], len: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len() + 24);
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-length: {len}\r\n\r\n"));
    out.into_bytes()
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An HTTP/1.1 message head: the start line and the header fields.
struct MsgHead {
    line: String,
    fields: Vec<(String, String)>,
}

impl MsgHead {
    fn parse(raw: &[u8]) -> anyhow::Result<MsgHead> {
        let text = std::str::from_utf8(raw).context("message head is not UTF-8")?;
        let mut lines = text.split("\r\n");
        let line = lines.next().unwrap_or_default().to_string();
        let fields = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(MsgHead { line, fields })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// Body framing when one is present: chunked, Content-Length, or (None) neither.
    fn framing(&self) -> anyhow::Result<Option<BodyLen>> {
        if let Some(te) = self.get("transfer-encoding") {
            if te.eq_ignore_ascii_case("chunked") {
                return Ok(Some(BodyLen::Chunked));
            }
            bail!("unsupported Transfer-Encoding: {te}");
        }
        match self.get("content-length") {
            Some(v) => Ok(Some(BodyLen::Len(v.parse().context("bad Content-Length")?))),
            None => Ok(None),
        }
    }
}

#[derive(Clone, Copy)]
enum BodyLen {
    Len(u64),
    Chunked,
    ToEof,
}

/// A buffered read half with the few reads a proxy needs.
struct BufIo<R> {
    r: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl<R: tokio::io::AsyncRead + Unpin> BufIo<R> {
    fn new(r: R) -> Self {
        BufIo {
            r,
            buf: vec![0u8; 256 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Reads more bytes after the buffered ones; false at EOF.
    async fn fill(&mut self) -> anyhow::Result<bool> {
        use tokio::io::AsyncReadExt;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            bail!("message head or chunk line over {} bytes", self.buf.len());
        }
        let n = self.r.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n > 0)
    }

    /// Bytes up to and including `delim`; None at a clean EOF before any byte.
    async fn until(&mut self, delim: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let mut from = 0;
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = find(&avail[from..], delim) {
                let n = from + i + delim.len();
                let out = avail[..n].to_vec();
                self.start += n;
                return Ok(Some(out));
            }
            from = avail.len().saturating_sub(delim.len() - 1);
            if !self.fill().await? {
                if self.start == self.end {
                    return Ok(None);
                }
                bail!("connection closed inside a message head");
            }
        }
    }

    /// Copies a body framed as `len` to `w` (and `tee`); returns the payload bytes.
    async fn copy_body<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        len: BodyLen,
        w: &mut W,
        mut tee: Option<&mut Vec<u8>>,
    ) -> anyhow::Result<u64> {
        match len {
            BodyLen::Len(n) => self.copy_exact(n, w, tee, false).await,
            BodyLen::ToEof => self.copy_exact(u64::MAX, w, tee, true).await,
            BodyLen::Chunked => {
                use tokio::io::AsyncWriteExt;
                let mut total = 0;
                loop {
                    let line = self
                        .until(b"\r\n")
                        .await?
                        .context("EOF in a chunked body")?;
                    w.write_all(&line).await?;
                    let text = std::str::from_utf8(&line).context("bad chunk line")?;
                    let hex = text.trim_end().split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(hex, 16).context("bad chunk size")?;
                    if size == 0 {
                        loop {
                            let t = self.until(b"\r\n").await?.context("EOF in trailers")?;
                            w.write_all(&t).await?;
                            if t == b"\r\n" {
                                return Ok(total);
                            }
                        }
                    }
                    let before = tee.as_ref().map_or(0, |t| t.len());
                    self.copy_exact(size + 2, w, tee.as_deref_mut(), false)
                        .await?;
                    if let Some(t) = tee.as_deref_mut() {
                        t.truncate(before + size as usize); // drop the CRLF
                    }
                    total += size;
                }
            }
        }
    }

    async fn copy_exact<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        n: u64,
        w: &mut W,
        mut tee: Option<&mut Vec<u8>>,
        to_eof: bool,
    ) -> anyhow::Result<u64> {
        use tokio::io::AsyncWriteExt;
        let mut left = n;
        while left > 0 {
            if self.start == self.end && !self.fill().await? {
                if to_eof {
                    break;
                }
                bail!("connection closed inside a body");
            }
            let take = ((self.end - self.start) as u64).min(left) as usize;
            let chunk = &self.buf[self.start..self.start + take];
            w.write_all(chunk).await?;
            if let Some(t) = tee.as_deref_mut() {
                t.extend_from_slice(chunk);
            }
            self.start += take;
            left -= take as u64;
        }
        Ok(n - left)
    }
}

async fn s3_shim(upstream: String, listen: String) -> anyhow::Result<()> {
    use std::io::Write as _;
    use tokio::signal::unix::{SignalKind, signal};
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("s3-shim listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let state = Arc::new(ShimState::default());
    let upstream: Arc<str> = upstream.into();
    let mut term = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, _) = accepted?;
                let (up, st) = (upstream.clone(), state.clone());
                tokio::spawn(async move {
                    if let Err(e) = shim_conn(sock, up, st).await {
                        eprintln!("s3-shim: connection ended: {e:#}");
                    }
                });
            }
            _ = term.recv() => {
                eprint!("s3-shim: {}", state.stats_line());
                return Ok(());
            }
        }
    }
}

async fn shim_conn(
    client: tokio::net::TcpStream,
    upstream: Arc<str>,
    st: Arc<ShimState>,
) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    client.set_nodelay(true)?;
    let (cr, mut cw) = client.into_split();
    let mut cr = BufIo::new(cr);
    let mut up = None;
    while let Some(raw) = cr.until(b"\r\n\r\n").await? {
        let req = MsgHead::parse(&raw)?;
        let mut words = req.line.split(' ');
        let method = words.next().unwrap_or_default().to_string();
        let target = words.next().unwrap_or_default().to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let path = path.trim_start_matches('/');
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let (bucket, key) = (pct_decode(bucket), pct_decode(key));
        let query: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (pct_decode(k), pct_decode(v))
            })
            .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };

        // Answered here: stats, and ListMultipartUploads (GET on a bucket with ?uploads).
        let local = if method == "GET" && path == "__shim/stats" {
            Some(("text/plain", st.stats_line()))
        } else if method == "GET" && key.is_empty() && param("uploads").is_some() {
            st.lists.fetch_add(1, Ordering::Relaxed);
            let prefix = param("prefix").unwrap_or_default();
            Some(("application/xml", st.list_uploads_xml(&bucket, &prefix)))
        } else {
            None
        };
        if let Some((ctype, body)) = local {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            cw.write_all(head.as_bytes()).await?;
            cw.write_all(body.as_bytes()).await?;
            if req.closes() {
                return Ok(());
            }
            continue;
        }

        let who = usize::from(
            req.get("user-agent")
                .is_some_and(|u| u.contains("aws-sdk-go")),
        );
        st.reqs[who].fetch_add(1, Ordering::Relaxed);
        let creates = method == "POST" && !key.is_empty() && param("uploads").is_some();
        let finishes = (method == "POST" || method == "DELETE") && !key.is_empty();
        let finished_id = if finishes { param("uploadId") } else { None };
        let lists_parts = method == "GET" && !key.is_empty() && param("uploadId").is_some();
        let req_body = req.framing()?;

        if up.is_none() {
            let s = tokio::net::TcpStream::connect(&*upstream)
                .await
                .with_context(|| format!("connecting to {upstream}"))?;
            s.set_nodelay(true)?;
            let (r, w) = s.into_split();
            up = Some((BufIo::new(r), w));
        }
        let (ur, uw) = up.as_mut().expect("connected above");
        uw.write_all(&raw).await?;
        // The body goes up while the answer comes down: a client that sent
        // `Expect: 100-continue` waits for the interim answer before its body.
        let send = async {
            match req_body {
                Some(len) => cr.copy_body(len, uw, None).await,
                None => Ok(0),
            }
        };
        let recv = async {
            loop {
                let raw = ur
                    .until(b"\r\n\r\n")
                    .await?
                    .context("the S3 server closed the connection")?;
                let resp = MsgHead::parse(&raw)?;
                let status: u16 = resp
                    .line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .context("bad status line")?;
                if (100..200).contains(&status) {
                    cw.write_all(&raw).await?;
                    continue;
                }
                if status >= 500 {
                    let client = ["berth", "distribution"][who];
                    eprintln!(
                        "s3-shim: {status} from the S3 server for {client}: {method} {target}"
                    );
                }
                let len = if method == "HEAD" || status == 204 || status == 304 {
                    None
                } else {
                    Some(resp.framing()?.unwrap_or(BodyLen::ToEof))
                };
                let mut tee = (creates && status == 200).then(Vec::new);
                let n = match len {
                    Some(len) if lists_parts && status == 200 => {
                        // ListParts: rewritten (see `fix_list_parts`), so read it whole first.
                        let mut body = Vec::new();
                        let n = ur
                            .copy_body(len, &mut tokio::io::sink(), Some(&mut body))
                            .await?;
                        let body = fix_list_parts(&body);
                        cw.write_all(&with_content_length(&raw, body.len())).await?;
                        cw.write_all(&body).await?;
                        n
                    }
                    Some(len) => {
                        cw.write_all(&raw).await?;
                        ur.copy_body(len, &mut cw, tee.as_mut()).await?
                    }
                    None => {
                        cw.write_all(&raw).await?;
                        0
                    }
                };
                st.down_bytes[who].fetch_add(n, Ordering::Relaxed);
                let mut uploads = st.uploads.lock().expect("shim state poisoned");
                if let Some(id) = tee.as_deref().and_then(|b| xml_text(b, "UploadId")) {
                    uploads.insert((bucket.clone(), key.clone(), id), rfc3339_now());
                }
                if let Some(id) = &finished_id
                    && (200..300).contains(&status)
                {
                    uploads.retain(|(_, _, u), _| u != id);
                }
                return anyhow::Ok(resp.closes() || matches!(len, Some(BodyLen::ToEof)));
            }
        };
        let (sent, closes) = tokio::join!(send, recv);
        st.up_bytes[who].fetch_add(sent?, Ordering::Relaxed);
        if closes? || req.closes() {
            return Ok(());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- report

#[derive(Default)]
struct Scenario {
    label: String,
    unit: String,
    kind: String,
    target: String,
    vals: BTreeMap<String, Vec<f64>>,
    cpu: BTreeMap<String, (f64, f64)>,
    cpu_unit: String,
    /// s3 configuration: per server, (backend CPU seconds, S3 requests, units of work).
    backend: BTreeMap<String, (f64, f64, f64)>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        "n/a".into()
    } else if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// `>=5` / `<=0.5` / `-`: the comparison and the bound.
fn parse_target(t: &str) -> Option<(bool, f64)> {
    let t = t.trim();
    if let Some(v) = t.strip_prefix(">=") {
        v.trim().parse().ok().map(|v| (true, v))
    } else if let Some(v) = t.strip_prefix("<=") {
        v.trim().parse().ok().map(|v| (false, v))
    } else {
        None
    }
}

fn table(rows: &[Vec<String>], right: &[bool]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push('|');
        for (c, w) in width.iter().enumerate() {
            let cell = r.get(c).map_or("", String::as_str);
            let pad = w - cell.chars().count();
            if right.get(c).copied().unwrap_or(false) {
                let _ = write!(out, " {}{} |", " ".repeat(pad), cell);
            } else {
                let _ = write!(out, " {}{} |", cell, " ".repeat(pad));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in width.iter().enumerate() {
                let dash = "-".repeat(*w);
                if right.get(c).copied().unwrap_or(false) {
                    let _ = write!(out, "-{dash}:|");
                } else {
                    let _ = write!(out, "-{dash}-|");
                }
            }
            out.push('\n');
        }
    }
    out
}

fn report(path: &PathBuf) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut meta: Vec<(String, String)> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut sc: BTreeMap<String, Scenario> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["meta", k, v] => meta.push((k.to_string(), v.to_string())),
            ["def", key, label, unit, kind, target] => {
                if !sc.contains_key(*key) {
                    order.push(key.to_string());
                }
                let s = sc.entry(key.to_string()).or_default();
                s.label = label.to_string();
                s.unit = unit.to_string();
                s.kind = kind.to_string();
                s.target = target.to_string();
            }
            ["val", key, server, v] => {
                let v: f64 = v.parse().unwrap_or(f64::NAN);
                sc.entry(key.to_string())
                    .or_default()
                    .vals
                    .entry(server.to_string())
                    .or_default()
                    .push(v);
            }
            ["backend", key, server, secs, reqs, units] => {
                let s = sc.entry(key.to_string()).or_default();
                let e = s.backend.entry(server.to_string()).or_default();
                e.0 += secs.parse::<f64>().unwrap_or(f64::NAN);
                e.1 += reqs.parse::<f64>().unwrap_or(f64::NAN);
                e.2 += units.parse::<f64>().unwrap_or(f64::NAN);
            }
            ["cpu", key, server, secs, units, unit_label] => {
                let s = sc.entry(key.to_string()).or_default();
                let e = s.cpu.entry(server.to_string()).or_default();
                e.0 += secs.parse::<f64>().unwrap_or(f64::NAN);
                e.1 += units.parse::<f64>().unwrap_or(f64::NAN);
                s.cpu_unit = unit_label.to_string();
            }
            _ => {}
        }
    }
    for (k, v) in &meta {
        println!("{k}: {v}");
    }
    println!();
    println!(
        "ratio column: rates -> berth/distribution, times -> distribution/berth (so >1 = berth better);"
    );
    println!(
        "              memory -> berth/distribution (so <1 = berth better). Figures are medians over the reps;"
    );
    println!("              spread = largest deviation of one rep from that median.");
    println!();
    let mut rows = vec![
        [
            "scenario",
            "unit",
            "berth",
            "distribution",
            "ratio",
            "target",
            "met",
            "reps",
            "spread b / d",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for key in &order {
        let s = &sc[key];
        let b = s.vals.get("berth").map(|v| median(v)).unwrap_or(f64::NAN);
        let d = s.vals.get("dist").map(|v| median(v)).unwrap_or(f64::NAN);
        let ratio = match s.kind.as_str() {
            "time" => d / b,
            _ => b / d,
        };
        let met = match parse_target(&s.target) {
            Some(_) if !ratio.is_finite() => "?".to_string(),
            Some((true, bound)) => if ratio >= bound { "yes" } else { "NO" }.to_string(),
            Some((false, bound)) => if ratio <= bound { "yes" } else { "NO" }.to_string(),
            None => "".to_string(),
        };
        let reps = s
            .vals
            .get("berth")
            .map_or(0, Vec::len)
            .min(s.vals.get("dist").map_or(0, Vec::len));
        let target = match parse_target(&s.target) {
            Some((true, v)) => format!("≥ {v}×"),
            Some((false, v)) => format!("≤ {v}×"),
            None => "-".into(),
        };
        let dir = match s.kind.as_str() {
            "time" => " (d/b)",
            _ => " (b/d)",
        };
        let spread = |srv: &str| match s.vals.get(srv) {
            Some(v) if v.len() > 1 => {
                let m = median(v);
                let dev = v.iter().map(|x| (x - m).abs()).fold(0.0, f64::max);
                format!("±{:.0}%", 100.0 * dev / m)
            }
            _ => "-".into(),
        };
        rows.push(vec![
            s.label.clone(),
            s.unit.clone(),
            fmt_num(b),
            fmt_num(d),
            format!("{}×{dir}", fmt_num(ratio)),
            target,
            met,
            reps.to_string(),
            format!("{} / {}", spread("berth"), spread("dist")),
        ]);
    }
    print!(
        "{}",
        table(
            &rows,
            &[false, false, true, true, true, false, false, true, true]
        )
    );

    let mut cpu_rows = vec![
        [
            "scenario",
            "server CPU per",
            "berth",
            "distribution",
            "distribution/berth",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for key in &order {
        let s = &sc[key];
        if s.cpu.is_empty() {
            continue;
        }
        let per = |srv: &str| s.cpu.get(srv).map_or(f64::NAN, |(c, u)| c / u);
        let (b, d) = (per("berth"), per("dist"));
        cpu_rows.push(vec![
            s.label.clone(),
            s.cpu_unit.clone(),
            fmt_secs(b),
            fmt_secs(d),
            format!("{}×", fmt_num(d / b)),
        ]);
    }
    if cpu_rows.len() > 1 {
        println!();
        println!(
            "Server CPU time (user+sys from /proc/PID/stat, 10 ms ticks) spent during the measured parts,"
        );
        println!(
            "per unit of work; independent of how loaded the machine was. >1 = berth needs less CPU."
        );
        println!();
        print!("{}", table(&cpu_rows, &[false, false, true, true, true]));
    }

    let mut be_rows = vec![
        [
            "scenario",
            "per",
            "S3 reqs berth",
            "S3 reqs dist",
            "backend CPU berth",
            "backend CPU dist",
            "total CPU berth",
            "total CPU dist",
            "total d/b",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for key in &order {
        let s = &sc[key];
        if s.backend.is_empty() {
            continue;
        }
        let per = |srv: &str| {
            s.backend
                .get(srv)
                .map_or((f64::NAN, f64::NAN), |(c, r, u)| (c / u, r / u))
        };
        let own = |srv: &str| s.cpu.get(srv).map_or(f64::NAN, |(c, u)| c / u);
        let ((bc, br), (dc, dr)) = (per("berth"), per("dist"));
        let (bt, dt) = (own("berth") + bc, own("dist") + dc);
        let reqs = |r: f64| {
            if r < 10.0 {
                format!("{r:.2}")
            } else {
                fmt_num(r)
            }
        };
        be_rows.push(vec![
            s.label.clone(),
            s.cpu_unit.clone(),
            reqs(br),
            reqs(dr),
            fmt_secs(bc),
            fmt_secs(dc),
            fmt_secs(bt),
            fmt_secs(dt),
            format!("{}×", fmt_num(dt / bt)),
        ]);
    }
    if be_rows.len() > 1 {
        println!();
        println!(
            "Behind the registries, per unit of work: S3 requests (counted by the shim), backend CPU"
        );
        println!(
            "(s3s-fs + shim, and for berth every PostgreSQL process), and registry + backend CPU."
        );
        println!();
        print!(
            "{}",
            table(
                &be_rows,
                &[false, false, true, true, true, true, true, true, true]
            )
        );
    }
    Ok(())
}
