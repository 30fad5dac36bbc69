//! Three `berth serve` replicas on one PostgreSQL database and one S3 bucket, as behind a
//! load balancer: an upload spread across them, pushes through one and pulls through another,
//! a replica killed mid-upload, and the same content pushed through all three at once.
//! Needs `TEST_DATABASE_URL` and `TEST_S3_*` (see `.ci/run`).

mod support;

use std::time::Duration;

use support::*;

/// `GET` an upload's status on `base`; returns the bytes it holds.
async fn upload_size(client: &reqwest::Client, base: &str, location: &str) -> usize {
    let response = client
        .get(resolve(base, location))
        .send()
        .await
        .expect("upload status");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    let range = header(&response, "range");
    let end: usize = range
        .strip_prefix("0-")
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("bad Range {range:?}"));
    end + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_s3_and_postgres() {
    let Some(s3) = berth_storage::testing::s3_config("replicas") else {
        return;
    };
    berth_meta::testing::with_fresh_database("replicas", move |url| async move {
        let env = scale_out_env(&s3, &url);
        let tmp = tempfile::tempdir().unwrap();
        let mut replicas: Vec<Berth> = (0..3)
            .map(|i| Berth::start_with_env(&tmp.path().join(format!("r{i}")), &env))
            .collect();
        let urls: Vec<String> = replicas.iter().map(Berth::url).collect();
        let (a, b, c) = (&urls[0], &urls[1], &urls[2]);
        let client = http();
        let mut rng = Rng::new("replicas");

        // 1. One chunked upload, each request to another replica: POST on A, PATCHes on B
        //    and C (below and above S3's 5 MiB part minimum), PUT on A.
        let data = rng.bytes(13 * 1024 * 1024 + 5);
        let digest = sha256(&data);
        let mut location = start_upload(&client, a, "team/app").await.unwrap();
        let cuts = [0, 3_000_000, 9_500_000, 9_500_100, data.len()];
        for (i, w) in cuts.windows(2).enumerate() {
            let base = [b, c][i % 2];
            let here = resolve(base, &location);
            location = patch_chunk(&client, base, &here, w[0], &data[w[0]..w[1]])
                .await
                .unwrap();
        }
        finish_upload(&client, &resolve(a, &location), &digest)
            .await
            .unwrap();
        for base in [a, b, c] {
            let (status, bytes) = get_blob(&client, base, "team/app", &digest).await;
            assert_eq!(status, reqwest::StatusCode::OK, "{base}");
            assert!(bytes == data, "blob read through {base} differs");
        }

        // 2. Push through C, pull through A and B.
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let config_digest = push_blob_monolithic(&client, c, "team/app", config)
            .await
            .unwrap();
        let manifest = image_manifest(
            (&config_digest, config.len()),
            &[(digest.clone(), data.len())],
        );
        let manifest_digest = put_manifest(&client, c, "team/app", "v1", OCI_MANIFEST, &manifest)
            .await
            .unwrap();
        for base in [a, b] {
            let response = client
                .get(format!("{base}/v2/team/app/manifests/v1"))
                .header("accept", OCI_MANIFEST)
                .send()
                .await
                .unwrap();
            assert_eq!(header(&response, "docker-content-digest"), manifest_digest);
            assert_eq!(response.bytes().await.unwrap().to_vec(), manifest);
            let tags: serde_json::Value = client
                .get(format!("{base}/v2/team/app/tags/list"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(tags["tags"], serde_json::json!(["v1"]));
        }

        // 3. Kill B while it receives a PATCH; finish the upload through C and A.
        let data = rng.bytes(12 * 1024 * 1024);
        let digest = sha256(&data);
        let location = start_upload(&client, a, "team/killed").await.unwrap();
        let first = 6 * 1024 * 1024;
        let location = patch_chunk(&client, a, &location, 0, &data[..first])
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
        let doomed = client
            .patch(resolve(b, &location))
            .header("content-range", format!("{first}-{}", data.len() - 1))
            .header("content-length", (data.len() - first).to_string())
            .body(body)
            .send();
        let sender = async {
            // Half of the chunk, then B dies with the request open.
            for piece in data[first..first + 3 * 1024 * 1024].chunks(256 * 1024) {
                tx.send(Ok(piece.to_vec())).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            replicas[1].kill();
            drop(tx);
        };
        let (outcome, ()) = tokio::join!(doomed, sender);
        let succeeded = outcome.is_ok_and(|r| r.status().is_success());
        assert!(
            !succeeded,
            "the PATCH to the killed replica cannot have succeeded"
        );
        assert_eq!(upload_size(&client, c, &location).await, first);
        let location = patch_chunk(&client, c, &resolve(c, &location), first, &data[first..])
            .await
            .unwrap();
        finish_upload(&client, &resolve(a, &location), &digest)
            .await
            .unwrap();
        let (status, bytes) = get_blob(&client, c, "team/killed", &digest).await;
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(bytes == data, "blob finished after the kill differs");

        // 4. The same blob and the same manifest pushed through the two live replicas at
        //    once: every push succeeds and both replicas serve one and the same content.
        let blob = rng.bytes(7 * 1024 * 1024);
        let live = [a.clone(), c.clone()];
        let pushes = (0..6).map(|i| {
            let (client, blob, base) = (client.clone(), blob.clone(), live[i % 2].clone());
            async move {
                if i % 3 == 0 {
                    push_blob_chunked(&client, &base, "team/race", &blob, 5 * 1024 * 1024).await
                } else {
                    push_blob_monolithic(&client, &base, "team/race", &blob).await
                }
            }
        });
        let results = futures::future::join_all(pushes).await;
        let blob_digest = sha256(&blob);
        for r in results {
            assert_eq!(r.unwrap(), blob_digest);
        }
        let manifest = image_manifest((&config_digest, config.len()), &[]);
        client
            .post(format!(
                "{a}/v2/team/race/blobs/uploads/?mount={config_digest}&from=team/app"
            ))
            .send()
            .await
            .unwrap();
        let puts = (0..6).map(|i| {
            let (client, manifest, base) = (client.clone(), manifest.clone(), live[i % 2].clone());
            async move {
                put_manifest(
                    &client,
                    &base,
                    "team/race",
                    "latest",
                    OCI_MANIFEST,
                    &manifest,
                )
                .await
            }
        });
        for r in futures::future::join_all(puts).await {
            assert_eq!(r.unwrap(), sha256(&manifest));
        }
        for base in &live {
            let (status, bytes) = get_blob(&client, base, "team/race", &blob_digest).await;
            assert_eq!(status, reqwest::StatusCode::OK);
            assert!(bytes == blob);
        }
        drop(replicas);
    })
    .await;
}

/// A stream over a channel, for a request body sent piece by piece.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
