//! Upload sessions.

use berth_core::{Digest, UploadId};

use super::{join_all, repo, repo_id};
use crate::{Meta, UploadRecord, now_ms};

fn id(s: &str) -> UploadId {
    s.parse().unwrap()
}

fn record(name: &str, at: i64) -> UploadRecord {
    UploadRecord {
        id: id(name),
        repository: repo("suite/uploads"),
        size: 0,
        hash_state: vec![1, 2, 3],
        storage_state: String::new(),
        created_at: at,
        updated_at: at,
    }
}

pub(super) async fn run(meta: &Meta) {
    let store = &*meta.uploads;
    let now = now_ms();
    let up = record("suite-upload-1", now - 10_000);
    store.create_upload(&up).await.unwrap();
    assert_eq!(store.get_upload(&up.id).await.unwrap(), Some(up.clone()));
    assert!(
        store
            .advance_upload(&up.id, 0, 10, &[4, 5], "{\"part\":1}")
            .await
            .unwrap()
    );
    // A second append racing from the same offset loses.
    assert!(!store.advance_upload(&up.id, 0, 20, &[6], "").await.unwrap());
    let got = store.get_upload(&up.id).await.unwrap().unwrap();
    assert_eq!((got.size, got.hash_state.as_slice()), (10, &[4u8, 5][..]));
    assert_eq!(got.storage_state, "{\"part\":1}");
    assert!(got.updated_at >= now);
    let old = record("suite-upload-old", now - 10_000);
    store.create_upload(&old).await.unwrap();
    let stale = store.stale_uploads(now - 1000, 10).await.unwrap();
    assert_eq!(
        stale.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["suite-upload-old"]
    );
    // `up` was advanced after the cut-off: a purge must leave it alone.
    assert!(!store.delete_stale_upload(&up.id, now - 1000).await.unwrap());
    assert!(
        store
            .delete_stale_upload(&old.id, now - 1000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_stale_upload(&old.id, now - 1000)
            .await
            .unwrap()
    );
    assert!(store.delete_upload(&up.id).await.unwrap());
    assert!(!store.delete_upload(&up.id).await.unwrap());

    // Completing an upload records the blob and forgets the session in one step.
    let done = record("suite-upload-done", now);
    store.create_upload(&done).await.unwrap();
    let digest = Digest::sha256(b"completed");
    let r = repo_id(meta, "suite/completed").await;
    store
        .complete_upload(&done.id, r, &digest, 9)
        .await
        .unwrap();
    assert_eq!(store.get_upload(&done.id).await.unwrap(), None);
    assert_eq!(
        meta.artifacts.repo_blob_size(r, &digest).await.unwrap(),
        Some(9)
    );
    assert_eq!(meta.artifacts.blob_size(&digest).await.unwrap(), Some(9));
}

/// Appends racing from the same offset, on one replica or several: exactly one moves the
/// upload, and every replica sees it at once.
pub(super) async fn replicas(metas: &[Meta]) {
    let up = record("suite-upload-race", now_ms());
    metas[0].uploads.create_upload(&up).await.unwrap();
    let states: Vec<String> = (0..8).map(|i| format!("{{\"append\":{i}}}")).collect();
    let hashes: Vec<[u8; 1]> = (0..8).map(|i| [i]).collect();
    let appends = states
        .iter()
        .zip(&hashes)
        .enumerate()
        .map(|(i, (state, hash))| {
            metas[i % metas.len()]
                .uploads
                .advance_upload(&up.id, 0, 100 + i as u64, hash, state)
        })
        .collect();
    let won: Vec<usize> = join_all(appends)
        .await
        .into_iter()
        .enumerate()
        .filter_map(|(i, moved)| moved.unwrap().then_some(i))
        .collect();
    assert_eq!(won.len(), 1, "{won:?}");
    for meta in metas {
        let got = meta.uploads.get_upload(&up.id).await.unwrap().unwrap();
        assert_eq!(got.size, 100 + won[0] as u64);
        assert_eq!(
            (got.hash_state, got.storage_state),
            (vec![won[0] as u8], states[won[0]].clone())
        );
    }
    assert!(metas[0].uploads.delete_upload(&up.id).await.unwrap());
}
