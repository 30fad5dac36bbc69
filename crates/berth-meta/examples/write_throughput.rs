//! Throughput of the SQLite metadata writer under 16 concurrent writers, and the latency of
//! one read: `cargo run --release -p berth-meta --example write_throughput`.

use std::sync::Arc;
use std::time::Instant;

use berth_core::{Digest, RepoName};
use berth_meta::{MetaStore, SqliteMetaStore};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteMetaStore::open(&dir.path().join("m.db"))
            .await
            .unwrap(),
    );
    let repo: RepoName = "probe/x".parse().unwrap();
    let n = 4000;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = store.clone();
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 16 {
                let d = Digest::sha256(format!("{t}-{i}").as_bytes());
                store.link_blob(&repo, &d, 10).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "link_blob: {:.0}/s ({:.1} us each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
    let start = Instant::now();
    for i in 0..2000 {
        let d = Digest::sha256(format!("r-{i}").as_bytes());
        store.repo_blob_size(&repo, &d).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!("sequential read: {:.1} us each", secs * 1e6 / 2000.0);
}
