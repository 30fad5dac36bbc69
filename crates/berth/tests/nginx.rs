//! berth behind a real nginx (Debian's, installed by `.ci/nginx.sh`), configured as
//! docs/deploy.md recommends (`proxy_request_buffering off`), in front of two replicas.
//! An error answered before the request body was read must reach the client as itself,
//! not as nginx's 502 for a connection berth reset while nginx was still sending, which
//! would also make nginx mark a healthy replica down and fail other clients' requests.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const MIB: usize = 1024 * 1024;

/// A single-process nginx on a free 127.0.0.1 port, run as the current user with a
/// temporary prefix. Dropping it kills that process (and only that one).
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, upstreams: &[u16]) -> Nginx {
        let binary = std::env::var("TEST_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
        assert!(
            Path::new(&binary).is_file(),
            "nginx is needed by this test and {binary} does not exist: install the Debian \
             package `nginx` (`source .ci/nginx.sh`, as .ci/run does)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p};\n"))
            .collect();
        let d = dir.display();
        // The proxy part is docs/deploy.md's; the rest keeps nginx inside `dir`.
        let config = format!(
            "daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream berth {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_read_timeout 900s;
        proxy_send_timeout 900s;
        location / {{
            proxy_pass http://berth;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_http_version 1.1;
        }}
    }}
}}
"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let mut nginx = Nginx {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", nginx.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx does not listen on {port}:\n{}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- nginx error log ----\n{}", self.error_log());
        }
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_errors_pass_through_nginx_and_leave_the_replicas_up() {
    let tmp = tempfile::tempdir().unwrap();
    let replicas = [
        Berth::start(&tmp.path().join("one")),
        Berth::start(&tmp.path().join("two")),
    ];
    let nginx = Nginx::start(
        &tmp.path().join("nginx"),
        &[replicas[0].port, replicas[1].port],
    );
    let base = nginx.url();
    let client = http();
    let mut problems = Vec::new();

    // A manifest over the 4 MiB limit, refused before it is read. Twice, so that both
    // replicas (round robin) answer one.
    for attempt in 0..2 {
        let response = client
            .put(format!("{base}/v2/ns/big/manifests/v1"))
            .header("content-type", OCI_MANIFEST)
            .body(vec![b' '; 6 * MIB])
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 413 => {}
            Ok(r) => problems.push(format!("6 MiB manifest #{attempt}: {}", r.status())),
            Err(e) => problems.push(format!("6 MiB manifest #{attempt}: {e}")),
        }
    }

    // A chunk that does not start where its session ends: 416 from the replica that has
    // the session, 404 from the other (the replicas share nothing); both refuse before
    // reading. A GET in between on every other attempt makes each replica get both kinds.
    let mut out_of_order = 0;
    for attempt in 0..4 {
        let location = match start_upload(&client, &base, "ns/chunks").await {
            Ok(location) => location,
            Err(e) => {
                problems.push(format!("upload #{attempt}: {e}"));
                continue;
            }
        };
        if attempt % 2 == 1 {
            let _ = client.get(format!("{base}/v2/")).send().await;
        }
        let chunk = vec![7u8; 8 * MIB];
        let response = client
            .patch(&location)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("5-{}", 4 + chunk.len()))
            .body(chunk)
            .send()
            .await;
        match response.map(|r| r.status().as_u16()) {
            Ok(416) => out_of_order += 1,
            Ok(404) => {}
            Ok(status) => problems.push(format!("out-of-order chunk #{attempt}: {status}")),
            Err(e) => problems.push(format!("out-of-order chunk #{attempt}: {e}")),
        }
    }
    if problems.is_empty() && out_of_order == 0 {
        problems.push("no out-of-order chunk reached the replica holding its session".into());
    }

    // Had a replica reset nginx, nginx would have marked it down for 10 s.
    let mut failed = 0;
    for _ in 0..30 {
        match client.get(format!("{base}/v2/")).send().await {
            Ok(r) if r.status() == 200 => {}
            _ => failed += 1,
        }
    }
    if failed > 0 {
        problems.push(format!("{failed} of 30 GET /v2/ through nginx failed"));
    }
    assert!(
        problems.is_empty(),
        "through nginx: {problems:#?}\n---- nginx error log ----\n{}",
        nginx.error_log()
    );
}
