//! `berth-bench`: the compiled client half of `bench/run.sh`.
//!
//! * `push-small`  — many small image pushes (layer blob + config blob via POST/PUT, then an
//!   OCI image manifest under a distinct tag), N at a time; prints pushes/s.
//! * `seed-tags`   — one image, then the same manifest PUT under many tags; prints tags/s.
//! * `get-loop`    — one connection, sequential GETs of one URL; prints latency figures.
//! * `report`      — turns the results file written by `run.sh` into the comparison table.
//!
//! Measuring commands print one line of `key=value` pairs on stdout for `run.sh` to parse.
//! Any unexpected HTTP status aborts with the request and the response on stderr, so protocol
//! incompatibilities surface instead of being averaged away.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        #[arg(long)]
        repo: String,
        #[arg(long)]
        count: usize,
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
    /// Print the comparison table from a results file written by run.sh.
    Report { results: PathBuf },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Report { results } => return report(&results),
        Command::Hammer {
            url,
            method,
            header,
            conns,
            secs,
            threads,
        } => return hammer(url, method, header, conns, secs, threads),
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
                concurrency,
                tag_prefix,
                seed,
            } => {
                seed_tags(
                    url.trim_end_matches('/').to_string(),
                    repo,
                    count,
                    concurrency,
                    tag_prefix,
                    seed.unwrap_or_else(clock_seed),
                )
                .await
            }
            Command::GetLoop {
                url,
                requests,
                warmup,
                accept,
                json_array,
                min_len,
            } => get_loop(url, requests, warmup, accept, json_array, min_len).await,
            Command::Hammer { .. } | Command::Report { .. } => unreachable!("handled above"),
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

async fn hammer_conn(
    addr: String,
    request: Arc<[u8]>,
    head_only: bool,
    deadline: tokio::time::Instant,
) -> anyhow::Result<(u64, u64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(&addr).await?;
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut ok, mut bad) = (0u64, 0u64);
    while tokio::time::Instant::now() < deadline {
        s.write_all(&request).await?;
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
        if (200..300).contains(&status) {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    Ok((ok, bad))
}

/// wrk's model: THREADS OS threads, each with its own single-threaded event loop driving its
/// share of the connections (no work stealing, no cross-thread wake-ups).
fn hammer(
    url: String,
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
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in &headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let request: Arc<[u8]> = req.into_bytes().into();
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
            let (addr, request) = (addr.to_string(), request.clone());
            std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let tasks: Vec<_> = (0..mine)
                        .map(|_| {
                            tokio::spawn(hammer_conn(
                                addr.clone(),
                                request.clone(),
                                head_only,
                                deadline,
                            ))
                        })
                        .collect();
                    let (mut ok, mut bad) = (0, 0);
                    for t in tasks {
                        let (o, b) = t.await??;
                        ok += o;
                        bad += b;
                    }
                    Ok((ok, bad))
                })
            })
        })
        .collect();
    let (mut ok, mut bad) = (0, 0);
    for w in workers {
        let (o, b) = w
            .join()
            .map_err(|_| anyhow::anyhow!("hammer thread panicked"))??;
        ok += o;
        bad += b;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = self_cpu_secs() - cpu0;
    println!(
        "ops={} secs={secs:.4} rate={:.2} non2xx={bad} client_cpu_s={cpu:.3}",
        ok + bad,
        (ok + bad) as f64 / secs
    );
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
    Ok(())
}
