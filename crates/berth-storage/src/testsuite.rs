//! The behaviour every [`BlobStore`] must have. Each backend's tests call [`run`]; a backend
//! that passes can replace any other without the service noticing.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use berth_core::Digest;
use bytes::Bytes;
use futures::TryStreamExt;

use crate::{BlobStore, StorageError};

fn unique_id(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("suite-{tag}-{nanos}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Deterministic, non-repeating test bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn body(chunks: Vec<Bytes>) -> impl futures::Stream<Item = io::Result<Bytes>> + Send + Unpin {
    futures::stream::iter(chunks.into_iter().map(Ok))
}

async fn read_all(store: &dyn BlobStore, digest: &Digest, range: std::ops::Range<u64>) -> Vec<u8> {
    let stream = store.get(digest, range).await.expect("get");
    let parts: Vec<Bytes> = stream.try_collect().await.expect("read");
    parts.concat()
}

/// Uploads `data` in pieces of the given sizes and commits it; returns its digest.
pub async fn upload(store: &dyn BlobStore, data: &[u8], piece_sizes: &[usize]) -> Digest {
    let id = unique_id("up");
    let mut state = store.begin_upload(&id).await.expect("begin");
    let mut offset = 0usize;
    let mut sizes = piece_sizes.iter().copied().cycle();
    while offset < data.len() {
        let n = sizes
            .next()
            .unwrap_or(data.len())
            .max(1)
            .min(data.len() - offset);
        // Each piece arrives as several frames, as an HTTP body would.
        let frames: Vec<Bytes> = data[offset..offset + n]
            .chunks(7919)
            .map(Bytes::copy_from_slice)
            .collect();
        let appended = store
            .append(&id, &state, offset as u64, &mut body(frames))
            .await
            .expect("append");
        assert_eq!(appended.written, n as u64);
        state = appended.state;
        offset += n;
    }
    let digest = Digest::sha256(data);
    store
        .commit(&id, &state, data.len() as u64, &digest)
        .await
        .expect("commit");
    digest
}

/// Runs every check against `store`.
pub async fn run(store: &dyn BlobStore) {
    round_trip_and_ranges(store).await;
    failed_append_leaves_upload_unchanged(store).await;
    empty_blob(store).await;
    missing_and_deleted(store).await;
    abort_and_bad_ids(store).await;
    same_blob_twice(store).await;
    short_commit_is_refused(store).await;
    orphans_are_listed_and_removed(store).await;
}

async fn round_trip_and_ranges(store: &dyn BlobStore) {
    // Pieces below and above S3's 5 MiB part minimum, in an awkward order.
    let data = pattern(12 * 1024 * 1024 + 17, 1);
    let digest = upload(
        store,
        &data,
        &[1, 6 * 1024 * 1024, 100_000, 5 * 1024 * 1024 + 3],
    )
    .await;
    assert_eq!(read_all(store, &digest, 0..data.len() as u64).await, data);
    assert_eq!(read_all(store, &digest, 10..20).await, &data[10..20]);
    let tail = data.len() as u64 - 5;
    assert_eq!(
        read_all(store, &digest, tail..data.len() as u64).await,
        &data[tail as usize..]
    );
    let mid = 5 * 1024 * 1024 - 7;
    assert_eq!(
        read_all(store, &digest, mid..mid + 300_000).await,
        &data[mid as usize..mid as usize + 300_000]
    );
}

async fn failed_append_leaves_upload_unchanged(store: &dyn BlobStore) {
    let data = pattern(300_000, 2);
    let id = unique_id("fail");
    let state = store.begin_upload(&id).await.unwrap();
    let first = store
        .append(
            &id,
            &state,
            0,
            &mut body(vec![Bytes::copy_from_slice(&data[..1000])]),
        )
        .await
        .unwrap();
    // A body that breaks after some bytes: the upload must stay at 1000.
    let mut broken = futures::stream::iter(vec![
        Ok(Bytes::from(vec![0xAA; 50_000])),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]);
    let err = store
        .append(&id, &first.state, 1000, &mut broken)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Body(_)), "{err:?}");
    let second = store
        .append(
            &id,
            &first.state,
            1000,
            &mut body(vec![Bytes::copy_from_slice(&data[1000..])]),
        )
        .await
        .unwrap();
    assert_eq!(second.written, data.len() as u64 - 1000);
    let digest = Digest::sha256(&data);
    store
        .commit(&id, &second.state, data.len() as u64, &digest)
        .await
        .unwrap();
    assert_eq!(read_all(store, &digest, 0..data.len() as u64).await, data);
}

async fn empty_blob(store: &dyn BlobStore) {
    let id = unique_id("empty");
    let state = store.begin_upload(&id).await.unwrap();
    let digest = Digest::sha256(b"");
    store.commit(&id, &state, 0, &digest).await.unwrap();
    assert!(read_all(store, &digest, 0..0).await.is_empty());
}

async fn missing_and_deleted(store: &dyn BlobStore) {
    let missing = Digest::sha256(unique_id("missing").as_bytes());
    assert!(matches!(
        store.get(&missing, 0..1).await.err(),
        Some(StorageError::NotFound)
    ));
    store.delete(&missing).await.unwrap();
    let data = pattern(4096, 3);
    let digest = upload(store, &data, &[4096]).await;
    store.delete(&digest).await.unwrap();
    assert!(matches!(
        store.get(&digest, 0..1).await.err(),
        Some(StorageError::NotFound)
    ));
}

async fn abort_and_bad_ids(store: &dyn BlobStore) {
    let id = unique_id("abort");
    let state = store.begin_upload(&id).await.unwrap();
    let appended = store
        .append(
            &id,
            &state,
            0,
            &mut body(vec![Bytes::from_static(b"hello")]),
        )
        .await
        .unwrap();
    store.abort(&id, &appended.state).await.unwrap();
    store.abort(&id, &appended.state).await.unwrap();
    let commit = store
        .commit(&id, &appended.state, 5, &Digest::sha256(b"hello"))
        .await;
    assert!(commit.is_err(), "an aborted upload cannot be committed");
    for bad in ["../etc", "a/b", ""] {
        assert!(matches!(
            store.begin_upload(bad).await,
            Err(StorageError::InvalidUploadId)
        ));
    }
}

async fn same_blob_twice(store: &dyn BlobStore) {
    let data = pattern(70_000, 4);
    let (a, b) = futures::join!(
        upload(store, &data, &[30_000]),
        upload(store, &data, &[70_000])
    );
    assert_eq!(a, b);
    assert_eq!(read_all(store, &a, 0..data.len() as u64).await, data);
}

async fn short_commit_is_refused(store: &dyn BlobStore) {
    let id = unique_id("short");
    let state = store.begin_upload(&id).await.unwrap();
    let appended = store
        .append(&id, &state, 0, &mut body(vec![Bytes::from_static(b"abc")]))
        .await
        .unwrap();
    let err = store
        .commit(&id, &appended.state, 10, &Digest::sha256(b"abc"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::SizeMismatch { .. }), "{err:?}");
    store.abort(&id, &appended.state).await.unwrap();
    // An append at an offset beyond what is stored is refused, never zero-filled.
    // (A backend that keeps nothing for an empty upload may call it unknown instead.)
    let id = unique_id("gap");
    let state = store.begin_upload(&id).await.unwrap();
    let err = store
        .append(
            &id,
            &state,
            100,
            &mut body(vec![Bytes::from_static(b"abc")]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::SizeMismatch { .. } | StorageError::UploadNotFound
        ),
        "{err:?}"
    );
    let appended = store
        .append(&id, &state, 0, &mut body(vec![Bytes::from_static(b"ab")]))
        .await
        .unwrap();
    let err = store
        .append(
            &id,
            &appended.state,
            100,
            &mut body(vec![Bytes::from_static(b"abc")]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::SizeMismatch { .. }), "{err:?}");
    store.abort(&id, &appended.state).await.unwrap();
}

/// Whether `id` is among the uploads `store` lists as last written before `before`.
async fn listed(store: &dyn BlobStore, before: SystemTime, id: &str) -> Option<SystemTime> {
    let uploads = store.list_uploads(before).await.expect("list uploads");
    uploads.into_iter().find(|u| u.id == id).map(|u| u.modified)
}

async fn orphans_are_listed_and_removed(store: &dyn BlobStore) {
    let hour = Duration::from_secs(3600);
    let (past, future) = (SystemTime::now() - hour, SystemTime::now() + hour);
    // Bytes of an upload nobody will commit or abort, as after a crash.
    let id = unique_id("orphan");
    let state = store.begin_upload(&id).await.unwrap();
    let appended = store
        .append(
            &id,
            &state,
            0,
            &mut body(vec![Bytes::from(pattern(1000, 5))]),
        )
        .await
        .unwrap();
    let modified = listed(store, future, &id)
        .await
        .expect("an upload with bytes is listed");
    assert!(past < modified && modified < future, "{modified:?}");
    assert!(
        listed(store, past, &id).await.is_none(),
        "written just now, so not older than an hour ago"
    );
    store.remove_orphan(&id).await.unwrap();
    assert!(listed(store, future, &id).await.is_none(), "removed");
    store.remove_orphan(&id).await.unwrap();
    assert!(
        store
            .commit(
                &id,
                &appended.state,
                1000,
                &Digest::sha256(&pattern(1000, 5))
            )
            .await
            .is_err(),
        "a removed upload cannot be committed"
    );
    // Committed and aborted uploads leave nothing to sweep.
    let (committed, aborted) = (unique_id("swept"), unique_id("swept"));
    let data = pattern(3000, 6);
    for id in [&committed, &aborted] {
        let state = store.begin_upload(id).await.unwrap();
        let appended = store
            .append(
                id,
                &state,
                0,
                &mut body(vec![Bytes::copy_from_slice(&data)]),
            )
            .await
            .unwrap();
        if id == &committed {
            let digest = Digest::sha256(&data);
            store
                .commit(id, &appended.state, 3000, &digest)
                .await
                .unwrap();
        } else {
            store.abort(id, &appended.state).await.unwrap();
        }
        assert!(listed(store, future, id).await.is_none(), "{id} is gone");
    }
    for bad in ["../etc", "a/b", ""] {
        assert!(matches!(
            store.remove_orphan(bad).await,
            Err(StorageError::InvalidUploadId)
        ));
    }
}
