//! Test support shared by every crate's tests: the S3-compatible server named by
//! `TEST_S3_ENDPOINT` (with `TEST_S3_BUCKET`, `TEST_S3_ACCESS_KEY`, `TEST_S3_SECRET_KEY`,
//! `TEST_S3_REGION`), as `.ci/s3.sh` exports them.

use std::io::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::S3Config;

/// The test server's config under a prefix of its own, or `None` (after saying so)
/// when no server is configured. `BERTH_REQUIRE_BACKENDS=1` makes a missing server fail.
pub fn s3_config(test: &str) -> Option<S3Config> {
    let Ok(endpoint) = std::env::var("TEST_S3_ENDPOINT") else {
        if std::env::var("BERTH_REQUIRE_BACKENDS").as_deref() == Ok("1") {
            panic!("BERTH_REQUIRE_BACKENDS=1 but TEST_S3_ENDPOINT is not set");
        }
        // Straight to stderr, past the test harness's capture, and once per run.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(
                io::stderr(),
                "berth-storage: the S3 tests did not run (TEST_S3_ENDPOINT is not set; \
                 `source .ci/s3.sh` starts a server)"
            );
        });
        return None;
    };
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("TEST_S3_ENDPOINT is set but {name} is not"))
    };
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Some(S3Config {
        allow_http: endpoint.starts_with("http://"),
        endpoint: Some(endpoint),
        bucket: var("TEST_S3_BUCKET"),
        region: std::env::var("TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        access_key_id: var("TEST_S3_ACCESS_KEY"),
        secret_access_key: var("TEST_S3_SECRET_KEY").into(),
        path_style: true,
        // Short: s3s-fs fails multipart uploads to keys over ~127 bytes (it puts the
        // base64 key in one file name).
        prefix: Some(format!(
            "bt/{}-{:x}-{}",
            &test[..test.len().min(8)],
            nanos & 0xffff_ffff_ffff,
            N.fetch_add(1, Ordering::Relaxed)
        )),
        ..S3Config::default()
    })
}
