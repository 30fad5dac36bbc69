//! Black-box tests of the SWR dialect (seed 003) with Huawei's own Python SDK
//! (`huaweicloudsdkswr` + `huaweicloudsdkcore` 3.1.219, installed by `.ci/run`): the real
//! `berth` binary with authentication on, an access key issued through the native API, an
//! image pushed over `/v2`, then `tests/clients/swr_sdk.py`, which signs every request
//! (`SDK-HMAC-SHA256`) and checks every status, field and JSON type the SDK's models name.
//! The same on the embedded default and on PostgreSQL + S3. Then what a wrong secret key
//! gets, and SWR's long-term `docker login` (`<region>@<AK>`, HMAC password).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Berth, run_status};

const ADMIN_PASSWORD: &str = "swr-admin-pw";
const PUSHED: &str = "pushed/team/app";

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/swr_sdk.py")
}

/// Whether python3 has the pinned SDK; without it the test fails in CI and skips loudly
/// elsewhere.
fn sdk_installed() -> bool {
    let (ok, _, _) = run_status(Command::new("python3").args([
        "-c",
        "import huaweicloudsdkswr.v2, huaweicloudsdkcore.auth.credentials",
    ]));
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "huaweicloudsdkswr is not installed for python3: .ci/run installs it \
             (pip install huaweicloudsdkswr==3.1.219 huaweicloudsdkcore==3.1.219)"
        );
        eprintln!(
            "SKIPPED: the SWR SDK tests need `pip install huaweicloudsdkswr==3.1.219 \
             huaweicloudsdkcore==3.1.219` (as .ci/run does)"
        );
    }
    ok
}

fn admin_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!(
        "Basic {}",
        support::base64(format!("admin:{ADMIN_PASSWORD}").as_bytes())
    );
    headers.insert("authorization", value.parse().unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// An access key pair of the administrator.
async fn access_key(berth: &Berth) -> (String, String) {
    let response = admin_client()
        .post(format!("{}/api/v1/users/admin/keys", berth.url()))
        .header("content-type", "application/json")
        .body(r#"{"name": "swr-sdk"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    (
        body["access_key"].as_str().unwrap().to_owned(),
        body["secret_key"].as_str().unwrap().to_owned(),
    )
}

/// Pushes a small image to `PUSHED:v1` as the administrator.
async fn push_image(berth: &Berth) {
    let client = admin_client();
    let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = b"swr layer bytes";
    let c = support::push_blob_monolithic(&client, &berth.url(), PUSHED, config)
        .await
        .unwrap();
    let l = support::push_blob_monolithic(&client, &berth.url(), PUSHED, layer)
        .await
        .unwrap();
    let manifest = support::image_manifest((&c, config.len()), &[(l, layer.len())]);
    support::put_manifest(
        &client,
        &berth.url(),
        PUSHED,
        "v1",
        support::OCI_MANIFEST,
        &manifest,
    )
    .await
    .unwrap();
}

/// Runs the SDK client; returns (success, stdout, stderr).
fn sdk(berth: &Berth, ak: &str, sk: &str, extra: &[&str]) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new("python3");
    command
        .arg(client_script())
        .args([&berth.url(), ak, sk])
        .args(extra)
        // The SDK writes ~/.huaweicloud/application_id on first use.
        .env("HOME", home.path());
    run_status(&mut command)
}

async fn scenario(env: &[(String, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = env.to_vec();
    env.push(("BERTH__AUTH__ENABLED".into(), "true".into()));
    env.push(("BERTH__AUTH__ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
    env.push(("BERTH__AUTH__ENCRYPTION_KEY".into(), "ab".repeat(32)));
    let berth = Berth::start_with_env(dir.path(), &env);
    let (ak, sk) = access_key(&berth).await;
    push_image(&berth).await;

    let pushed = format!("{PUSHED}:v1");
    let (ok, out, err) = sdk(&berth, &ak, &sk, &[&pushed, "--extended"]);
    assert!(
        ok && out.contains("ok all SWR SDK calls"),
        "the SWR SDK client failed:\n{out}\n{err}\nberth:\n{}",
        berth.log_tail()
    );
    assert!(!out.contains("skip"), "nothing may be skipped:\n{out}");

    // A wrong secret key: the first signed call is refused with SWR's 401.
    let (ok, out, err) = sdk(&berth, &ak, &"x".repeat(sk.len()), &[]);
    assert!(!ok, "a wrong secret key passed:\n{out}");
    assert!(
        err.contains("status_code:401") && err.contains("SVCSTG.SWR.4010000"),
        "a wrong secret key must get SWR's 401:\n{out}\n{err}"
    );

    // SWR's long-term docker login: `<region>@<AK>`, the hex HMAC-SHA256 of the AK under
    // the SK.
    let password = hmac_hex(sk.as_bytes(), ak.as_bytes());
    let login = |user: String, password: String| {
        let url = format!("{}/v2/", berth.url());
        async move {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(url)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        login(format!("cn-north-4@{ak}"), password.clone()).await,
        200
    );
    assert_eq!(login(format!("cn-north-4@{ak}"), "0".repeat(64)).await, 401);
}

/// HMAC-SHA256, written from RFC 2104 (the test judges berth from outside).
fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_sdk_on_the_embedded_default() {
    if !sdk_installed() {
        return;
    }
    scenario(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_sdk_on_postgres_and_s3() {
    if !sdk_installed() {
        return;
    }
    let Some(s3) = berth_storage::testing::s3_config("swr-sdk") else {
        return;
    };
    berth_meta::testing::with_fresh_database("swr_sdk", move |url| async move {
        scenario(&support::scale_out_env(&s3, &url)).await;
    })
    .await;
}
