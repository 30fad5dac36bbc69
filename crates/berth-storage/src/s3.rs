//! Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, s3s-fs, …), through
//! `object_store`.
//!
//! # Keys (under the optional prefix)
//!
//! - `paths::blob_key(digest)`: committed blobs, written once, complete or not at all.
//! - `uploads/<id>/seg-<nonce>`: a *segment*, bytes of an upload that do not yet fill a
//!   multipart part (S3 refuses parts under 5 MiB except the last, OCI chunks have any size).
//! - `uploads/<id>/mpu-<nonce>`: the target of the upload's S3 multipart upload. S3 fixes a
//!   multipart upload's key when it starts, before the digest is known, so commit completes
//!   it here and then copies it to the blob key.
//!
//! Every object an append creates gets a fresh random nonce, so an append never overwrites
//! what an earlier state refers to, and two replicas racing on one upload never share a
//! staging key. Multipart *part numbers* cannot be made unique per append (`object_store`
//! numbers parts by their position, and S3 wants them contiguous), so a racing loser may
//! replace a part the winner's state lists; commit detects that (S3 checks part ETags, and
//! we check the composite ETag against the MD5s we sent) and refuses to publish.
//!
//! # Orphans
//!
//! Staging objects of an upload the database does not know (a request killed before its
//! upload had a row, a racing replica's segment that no recorded state lists) are found by
//! listing `uploads/` ([`BlobStore::list_uploads`]) and removed by id
//! ([`BlobStore::remove_orphan`]). A multipart upload is no object until completed: it is
//! found with ListMultipartUploads where the server offers it (AWS, MinIO, Ceph do; s3s-fs
//! does not). Either way the bucket should have a lifecycle rule
//! `AbortIncompleteMultipartUpload` on `uploads/`, which also collects the multipart uploads
//! of servers that cannot list them.
//!
//! # Upload state
//!
//! A JSON object ([`UploadState`]) that the caller persists after every append: the size,
//! the multipart upload (id, nonce, part ETags in order), the segments in order and the
//! staging objects superseded by the last append (deleted by the next one, by commit or
//! abort: never earlier, since until the caller persists the new state, the old one is the
//! valid one). Invariant: `size = mpu.bytes + Σ segs.len`, and `Σ segs.len < MIN_PART`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use berth_core::{Digest, Secret};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest as _, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3CopyIfNotExists};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use serde::{Deserialize, Serialize};

use crate::{
    Appended, BlobStore, BodyStream, ByteStream, Result, StorageError, StoredUpload, paths,
};

/// S3's smallest part (except the last one).
const MIN_PART: u64 = 5 * 1024 * 1024;
/// Parts we cut while a body streams in; bounds the memory of one append.
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Segments an upload may have before an append merges them into one. Bounds the state's
/// size and the number of objects commit reads, while most small appends stay O(chunk).
const MAX_SEGMENTS: usize = 16;
/// Largest object S3 copies server-side in one request (CopyObject, UploadPartCopy).
const MAX_SERVER_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// Where and how to reach the bucket: the `[storage]` keys of `type = "s3"`. The secret
/// key is a [`Secret`], redacted wherever the config is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`); `None` means AWS.
    /// With `path_style = false` the bucket is put in front of the host.
    pub endpoint: Option<String>,
    /// Bucket name. It must exist.
    pub bucket: String,
    /// Region used for signing (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (better given as `BERTH__STORAGE__SECRET_ACCESS_KEY`).
    pub secret_access_key: Secret,
    /// Path-style requests (`endpoint/bucket/key`), which MinIO, Ceph and s3s-fs expect;
    /// otherwise virtual-hosted (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (test servers only).
    pub allow_http: bool,
    /// Key prefix, so several berth instances (or tests) can share a bucket.
    pub prefix: Option<String>,
    /// How many times a failed request is retried: connection errors, 5xx, 429 and 408
    /// answers, and timeouts of idempotent requests. 0 disables retries.
    pub max_retries: usize,
    /// No retry starts later than this many seconds after a request's first attempt.
    pub retry_timeout_secs: u64,
    /// Back-off before the first retry, in milliseconds; it doubles (with jitter) with each
    /// retry up to `retry_max_backoff_ms`.
    pub retry_initial_backoff_ms: u64,
    /// Longest back-off between two retries, in milliseconds.
    pub retry_max_backoff_ms: u64,
}

impl S3Config {
    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(self.retry_initial_backoff_ms),
                max_backoff: Duration::from_millis(
                    self.retry_max_backoff_ms.max(self.retry_initial_backoff_ms),
                ),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: Duration::from_secs(self.retry_timeout_secs),
        }
    }
}

impl Default for S3Config {
    fn default() -> S3Config {
        S3Config {
            endpoint: None,
            bucket: String::new(),
            region: "us-east-1".to_owned(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            path_style: false,
            allow_http: false,
            prefix: None,
            max_retries: 5,
            retry_timeout_secs: 30,
            retry_initial_backoff_ms: 100,
            retry_max_backoff_ms: 5000,
        }
    }
}

/// A [`BlobStore`] on one bucket (and optional prefix) of an S3-compatible store. Holds no
/// upload state of its own: any instance can continue any upload from its state string.
pub struct S3BlobStore {
    s3: AmazonS3,
    /// For the requests object_store does not make (listing multipart uploads and parts),
    /// sent as presigned URLs of `s3`.
    http: HttpClient,
    prefix: Option<String>,
    /// Objects above this size are committed by streaming them through berth instead of a
    /// server-side copy. S3's limit; lowered by tests to exercise that path.
    max_server_copy: u64,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("s3", &self.s3.to_string())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl S3BlobStore {
    /// Builds a client for `config`. Makes no request: a wrong bucket or credentials show at
    /// the first operation.
    pub fn new(config: &S3Config) -> Result<S3BlobStore> {
        let prefix = match config.prefix.as_deref().map(|p| p.trim_matches('/')) {
            None | Some("") => None,
            Some(p) => {
                let parsed = Path::parse(p)
                    .map_err(|e| StorageError::Backend(format!("invalid S3 prefix {p:?}: {e}")))?;
                Some(parsed.to_string())
            }
        };
        // No overall request timeout: a blob GET lasts as long as the client takes to read
        // it, and a server-side copy of GiBs takes a while. Stalls are caught by the read
        // timeout instead.
        let client = ClientOptions::new()
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(10))
            .with_read_timeout(Duration::from_secs(120))
            .with_allow_http(config.allow_http);
        let http = ReqwestConnector::default()
            .connect(&client)
            .map_err(|e| StorageError::Backend(format!("S3 HTTP client: {e}")))?;
        let mut builder = AmazonS3Builder::new()
            .with_client_options(client)
            .with_retry(config.retry())
            .with_http_connector(WarnOnFailure)
            .with_allow_http(config.allow_http)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(config.secret_access_key.expose())
            .with_virtual_hosted_style_request(!config.path_style)
            // A conditional copy: UploadPartCopy + CompleteMultipartUpload with
            // If-None-Match, the one S3 offers natively.
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
        if let Some(endpoint) = &config.endpoint {
            let endpoint = if config.path_style {
                endpoint.clone()
            } else {
                virtual_hosted_endpoint(endpoint, &config.bucket)?
            };
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder
            .build()
            .map_err(|e| StorageError::Backend(format!("S3 configuration: {e}")))?;
        Ok(S3BlobStore {
            s3,
            http,
            prefix,
            max_server_copy: MAX_SERVER_COPY,
        })
    }

    fn path(&self, key: &str) -> Path {
        match &self.prefix {
            Some(prefix) => Path::from(format!("{prefix}/{key}")),
            None => Path::from(key),
        }
    }

    /// The upload id of a staging key (`[prefix/]uploads/<id>/...`), if it is one.
    fn upload_id_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        let key = match &self.prefix {
            Some(prefix) => key.strip_prefix(prefix.as_str())?.strip_prefix('/')?,
            None => key,
        };
        let (id, _) = key.strip_prefix("uploads/")?.split_once('/')?;
        paths::upload_key(id).is_ok().then_some(id)
    }

    /// A GET that object_store has no method for, as a presigned URL of `path` with
    /// `query` signed into it. Returns the status and the body.
    async fn signed_get(&self, path: &Path, query: &[(&str, &str)]) -> Result<(u16, Bytes)> {
        use object_store::signer::{SignedUrlOptions, Signer};
        let options = SignedUrlOptions::default().with_query(query.iter().copied());
        let url = self
            .s3
            .signed_url_opts(http::Method::GET, path, Duration::from_secs(600), &options)
            .await
            .map_err(|e| backend(e, "signing a listing request"))?;
        let request = http::Request::get(url.as_str())
            .body(object_store::client::HttpRequestBody::empty())
            .map_err(|e| StorageError::Backend(format!("building a listing request: {e}")))?;
        let failed = |e: HttpError| StorageError::Backend(format!("listing request: {e}"));
        let response = self.http.execute(request).await.map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.into_body().bytes().await.map_err(failed)?;
        Ok((status, body))
    }

    /// The multipart uploads in progress whose keys start with `key_prefix` (a full key
    /// prefix), or `None` when the server cannot list them (ListMultipartUploads is
    /// optional in S3-compatible servers; s3s-fs, for one, answers NotImplemented).
    async fn list_multipart_uploads(&self, key_prefix: &str) -> Result<Option<Vec<InProgress>>> {
        let mut found = Vec::new();
        let (mut key_marker, mut upload_id_marker) = (String::new(), String::new());
        loop {
            let mut query = vec![("uploads", ""), ("prefix", key_prefix)];
            if !key_marker.is_empty() {
                query.push(("key-marker", &key_marker));
                query.push(("upload-id-marker", &upload_id_marker));
            }
            let (status, body) = self.signed_get(&Path::default(), &query).await?;
            if status == 501 || (status >= 400 && s3_error_code(&body) == Some("NotImplemented")) {
                return Ok(None);
            }
            if status != 200 {
                return Err(listing_error("ListMultipartUploads", status, &body));
            }
            let page: ListMultipartUploadsResult = quick_xml::de::from_reader(body.as_ref())
                .map_err(|e| StorageError::Backend(format!("ListMultipartUploads answer: {e}")))?;
            for upload in page.uploads {
                found.push(InProgress {
                    initiated: parse_s3_time(&upload.initiated)?,
                    key: upload.key,
                    upload_id: upload.upload_id,
                });
            }
            let next = (
                page.next_key_marker.unwrap_or_default(),
                page.next_upload_id_marker.unwrap_or_default(),
            );
            // A server that repeats its markers would loop forever.
            if !page.is_truncated || next.0.is_empty() || next == (key_marker, upload_id_marker) {
                return Ok(Some(found));
            }
            (key_marker, upload_id_marker) = next;
        }
    }

    /// When the last part of a multipart upload was uploaded, if it has parts.
    async fn last_part_uploaded(&self, key: &str, upload_id: &str) -> Result<Option<SystemTime>> {
        let path = Path::parse(key)
            .map_err(|e| StorageError::Backend(format!("multipart upload key {key:?}: {e}")))?;
        let mut latest = None;
        let mut marker = String::new();
        loop {
            let mut query = vec![("uploadId", upload_id)];
            if !marker.is_empty() {
                query.push(("part-number-marker", &marker));
            }
            let (status, body) = self.signed_get(&path, &query).await?;
            if status == 404 {
                return Ok(latest); // completed or aborted meanwhile
            }
            if status != 200 {
                return Err(listing_error("ListParts", status, &body));
            }
            let page: ListPartsResult = quick_xml::de::from_reader(body.as_ref())
                .map_err(|e| StorageError::Backend(format!("ListParts answer: {e}")))?;
            for part in &page.parts {
                let at = parse_s3_time(&part.last_modified)?;
                latest = latest.max(Some(at));
            }
            match (page.is_truncated, page.next_part_number_marker) {
                (true, Some(next)) if next != marker => marker = next,
                _ => return Ok(latest),
            }
        }
    }

    /// Reads the segments, in order, checking each one's length.
    async fn read_segments(&self, keys: &UploadKeys, segs: &[Segment]) -> Result<Vec<Bytes>> {
        let reads = segs.iter().map(|seg| async move {
            let data = self
                .s3
                .get(&self.path(&keys.segment(&seg.nonce)))
                .await
                .map_err(|e| upload_error(e, "reading a staged segment"))?
                .bytes()
                .await
                .map_err(|e| backend(e, "reading a staged segment"))?;
            if data.len() as u64 != seg.len {
                return Err(StorageError::Backend(format!(
                    "staged segment has {} bytes, expected {}",
                    data.len(),
                    seg.len
                )));
            }
            Ok(data)
        });
        futures::future::try_join_all(reads).await
    }

    /// Deletes objects nobody refers to any more. Failure only leaks them (a lifecycle rule
    /// on `uploads/` collects leaks), so it is logged, not returned.
    async fn delete_quietly(&self, keys: Vec<String>) {
        let deletes = keys.into_iter().map(|key| async move {
            if let Err(e) = self.s3.delete(&self.path(&key)).await {
                tracing::warn!(key = %key, error = %e, "could not delete a staging object");
            }
        });
        futures::future::join_all(deletes).await;
    }

    /// Stores `part` as part `idx` of `mpu`, returning its ETag and whether that ETag is
    /// the MD5 of what we sent.
    async fn put_part(
        &self,
        keys: &UploadKeys,
        mpu: &Multipart,
        idx: usize,
        part: Vec<Bytes>,
    ) -> Result<(String, bool)> {
        let mut md5 = Md5::new();
        for chunk in &part {
            md5.update(chunk);
        }
        let md5 = hex::encode(md5.finalize());
        let payload: PutPayload = part.into_iter().collect();
        let id = self
            .s3
            .put_part(
                &self.path(&keys.multipart(&mpu.nonce)),
                &mpu.id,
                idx,
                payload,
            )
            .await
            .map_err(|e| upload_error(e, "uploading a part"))?;
        let is_md5 = unquote(&id.content_id).eq_ignore_ascii_case(&md5);
        Ok((id.content_id, is_md5))
    }

    /// Puts the segments as the last part and completes the multipart upload at its
    /// staging key. Checks the result is made of exactly the parts the state lists.
    async fn complete_multipart(
        &self,
        keys: &UploadKeys,
        st: &UploadState,
        mpu: &Multipart,
    ) -> Result<()> {
        let mut parts = mpu.parts.clone();
        let mut all_md5 = mpu.md5;
        if !st.segs.is_empty() {
            let last = self.read_segments(keys, &st.segs).await?;
            let (etag, is_md5) = self.put_part(keys, mpu, parts.len(), last).await?;
            parts.push(etag);
            all_md5 &= is_md5;
        }
        let target = self.path(&keys.multipart(&mpu.nonce));
        let ids = parts
            .iter()
            .map(|content_id| object_store::multipart::PartId {
                content_id: content_id.clone(),
            })
            .collect();
        let done = self
            .s3
            .complete_multipart(&target, &mpu.id, ids)
            .await
            .map_err(|e| upload_error(e, "completing the multipart upload"))?;
        if all_md5 {
            let expected = multipart_etag(&parts);
            let found = done.e_tag.as_deref().map(unquote);
            if expected.is_some() && found.is_some() && expected.as_deref() != found {
                // Another writer replaced a part (two replicas raced on this upload): the
                // object is not the bytes the caller hashed. Never publish it.
                let _ = self.s3.delete(&target).await;
                return Err(StorageError::Backend(format!(
                    "multipart object does not match the upload's parts \
                     (ETag {found:?}, expected {expected:?}); was the upload appended to concurrently?"
                )));
            }
        }
        Ok(())
    }

    /// Writes a small blob with one conditional PUT (`If-None-Match: *`). A racing commit of
    /// the same blob makes ours fail, as a clean 412 or, when the server answers while the
    /// body is still going out and closes, as a broken send; either way the blob is then
    /// there, which is all a commit promises. A failure with no blob yet (a conflict with a
    /// write still in flight, a dropped connection) is retried a few times.
    async fn put_if_absent(&self, blob: &Path, payload: PutPayload, size: u64) -> Result<()> {
        const ATTEMPTS: u32 = 4;
        let mut attempt = 1;
        loop {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let error = match self.s3.put_opts(blob, payload.clone(), options).await {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => return Ok(()),
                Err(e) => e,
            };
            if self.holds(blob, size).await {
                tracing::debug!(key = %blob, error = %error,
                    "conditional PUT failed but the blob is there: a racing commit won");
                return Ok(());
            }
            if attempt == ATTEMPTS {
                return Err(backend(error, "writing a blob"));
            }
            let pause = Duration::from_millis(50 << attempt);
            tracing::warn!(key = %blob, error = %error, attempt, retry_in = ?pause,
                "conditional PUT of a blob failed and the blob is not there; retrying");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// Copies the completed staging object to the blob key, without replacing a blob that
    /// is already there where the server can tell. A failure that leaves the blob in place
    /// (a racing commit of the same blob) is a success.
    async fn publish(&self, from: &Path, to: &Path, size: u64) -> Result<()> {
        match self.publish_once(from, to, size).await {
            Err(e) if !matches!(e, StorageError::UploadNotFound) && self.holds(to, size).await => {
                tracing::debug!(key = %to, error = %e,
                    "publishing failed but the blob is there: a racing commit won");
                Ok(())
            }
            result => result,
        }
    }

    async fn publish_once(&self, from: &Path, to: &Path, size: u64) -> Result<()> {
        if size > self.max_server_copy {
            return self.publish_by_streaming(from, to).await;
        }
        match self.s3.copy_if_not_exists(from, to).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e @ object_store::Error::NotFound { .. }) => {
                Err(upload_error(e, "publishing the blob"))
            }
            Err(e) => {
                // The server lacks UploadPartCopy or conditional completion: a plain copy
                // replaces an identical blob atomically, which is still correct.
                tracing::debug!(error = %e, "conditional copy failed, copying plainly");
                self.s3
                    .copy(from, to)
                    .await
                    .map_err(|e| upload_error(e, "publishing the blob"))
            }
        }
    }

    /// Streams an object too large for a server-side copy into a new multipart upload at
    /// the blob key. Memory: one part being filled plus one in flight.
    async fn publish_by_streaming(&self, from: &Path, to: &Path) -> Result<()> {
        let mut source = self
            .s3
            .get(from)
            .await
            .map_err(|e| upload_error(e, "reading the staged object"))?
            .into_stream();
        let upload = self
            .s3
            .put_multipart(to)
            .await
            .map_err(|e| backend(e, "starting the blob copy"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE as usize);
        while let Some(chunk) = source.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(backend(e, "reading the staged object"));
                }
            };
            if let Err(e) = writer.wait_for_capacity(1).await {
                let _ = writer.abort().await;
                return Err(backend(e, "copying the blob"));
            }
            writer.put(chunk);
        }
        writer
            .finish()
            .await
            .map_err(|e| backend(e, "copying the blob"))?;
        Ok(())
    }

    /// Whether a blob of `size` bytes is at `blob`. Only for commit's recovery paths.
    async fn holds(&self, blob: &Path, size: u64) -> bool {
        matches!(self.s3.head(blob).await, Ok(meta) if meta.size == size)
    }

    /// Commit's recovery path: a previous commit of this very state may have completed the
    /// multipart upload and failed after. Publishes the completed object if it is there
    /// and is what the state describes.
    async fn publish_completed(
        &self,
        keys: &UploadKeys,
        st: &UploadState,
        mpu: &Multipart,
        blob: &Path,
        cause: StorageError,
    ) -> Result<()> {
        let target = self.path(&keys.multipart(&mpu.nonce));
        let meta = match self.s3.head(&target).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => {
                // Either never completed, or already published and cleaned up.
                return if self.holds(blob, st.size).await {
                    Ok(())
                } else {
                    Err(cause)
                };
            }
            Err(e) => return Err(backend(e, "checking the staged object")),
        };
        if meta.size != st.size {
            return Err(cause);
        }
        if mpu.md5 {
            let mut parts = mpu.parts.clone();
            if !st.segs.is_empty() {
                let last = self.read_segments(keys, &st.segs).await?;
                let mut md5 = Md5::new();
                for chunk in &last {
                    md5.update(chunk);
                }
                parts.push(hex::encode(md5.finalize()));
            }
            let expected = multipart_etag(&parts);
            let found = meta.e_tag.as_deref().map(unquote);
            if expected.is_some() && found.is_some() && expected.as_deref() != found {
                return Err(cause);
            }
        }
        self.publish(&target, blob, st.size).await
    }
}

/// object_store's HTTP client, with every failed attempt logged at `warn`: object_store
/// retries them (see [`S3Config::max_retries`]) but says so only at `info`, and an operator
/// wants to see a flaky store before it turns into errors.
#[derive(Debug)]
struct WarnOnFailure;

impl HttpConnector for WarnOnFailure {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(WarnOnFailureService(client)))
    }
}

#[derive(Debug)]
struct WarnOnFailureService(HttpClient);

#[async_trait]
impl HttpService for WarnOnFailureService {
    async fn call(&self, request: HttpRequest) -> std::result::Result<HttpResponse, HttpError> {
        // The path only: a query may hold a presigned signature.
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let result = self.0.execute(request).await;
        match &result {
            Ok(response) => {
                let status = response.status();
                if status.is_server_error()
                    || status == http::StatusCode::TOO_MANY_REQUESTS
                    || status == http::StatusCode::REQUEST_TIMEOUT
                {
                    tracing::warn!(%method, %path, status = status.as_u16(),
                        "S3 request failed; object_store retries it within storage.max_retries");
                }
            }
            Err(e) => {
                tracing::warn!(%method, %path, kind = ?e.kind(), error = %e,
                    "S3 request failed; object_store retries it within storage.max_retries \
                     unless it may have reached the server and is not idempotent");
            }
        }
        result
    }
}

/// `http://host:port/x` → `http://bucket.host:port/x`, as object_store wants for
/// virtual-hosted requests to a custom endpoint.
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> Result<String> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| StorageError::Backend(format!("S3 endpoint {endpoint:?} has no scheme")))?;
    if rest.starts_with(&format!("{bucket}.")) {
        return Ok(endpoint.to_owned());
    }
    Ok(format!("{scheme}://{bucket}.{rest}"))
}

fn unquote(etag: &str) -> &str {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"')
}

/// The ETag S3 gives a multipart object whose parts have MD5 ETags: the MD5 of the
/// concatenated binary part MD5s, then `-<parts>`.
fn multipart_etag(part_etags: &[String]) -> Option<String> {
    let mut md5 = Md5::new();
    for etag in part_etags {
        let raw = hex::decode(unquote(etag)).ok()?;
        if raw.len() != 16 {
            return None;
        }
        md5.update(&raw);
    }
    Some(format!(
        "{}-{}",
        hex::encode(md5.finalize()),
        part_etags.len()
    ))
}

fn backend(e: object_store::Error, doing: &str) -> StorageError {
    StorageError::Backend(format!("{doing}: {e}"))
}

/// Like [`backend`], but a missing object or multipart upload means the upload is gone
/// (aborted or committed).
fn upload_error(e: object_store::Error, doing: &str) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::UploadNotFound,
        e => backend(e, doing),
    }
}

fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The staging keys of one upload. Only nonces come from the state, and they are checked,
/// so a state can never address a key outside `uploads/<id>/`.
struct UploadKeys {
    dir: String,
}

impl UploadKeys {
    fn new(id: &str) -> Result<UploadKeys> {
        Ok(UploadKeys {
            dir: paths::upload_key(id)?,
        })
    }

    fn segment(&self, nonce: &str) -> String {
        format!("{}/seg-{nonce}", self.dir)
    }

    fn multipart(&self, nonce: &str) -> String {
        format!("{}/mpu-{nonce}", self.dir)
    }
}

/// What the caller persists between appends. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadState {
    /// Format version.
    v: u32,
    /// Bytes in the upload.
    size: u64,
    /// The multipart upload, once the upload has reached a part's worth of bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mpu: Option<Multipart>,
    /// Bytes not in a part yet, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    segs: Vec<Segment>,
    /// Nonces of segments the previous state listed and this one does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    garbage: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Multipart {
    /// S3's multipart upload id.
    id: String,
    /// Nonce of the staging key the multipart upload targets.
    nonce: String,
    /// `PartId::content_id` (the ETag) of parts 1..=n, in order.
    parts: Vec<String>,
    /// Bytes in those parts.
    bytes: u64,
    /// Every part's ETag was the MD5 of the bytes we sent, so the composite ETag can be
    /// checked at commit.
    md5: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Segment {
    #[serde(rename = "n")]
    nonce: String,
    len: u64,
}

const STATE_VERSION: u32 = 1;

impl UploadState {
    fn new() -> UploadState {
        UploadState {
            v: STATE_VERSION,
            size: 0,
            mpu: None,
            segs: Vec::new(),
            garbage: Vec::new(),
        }
    }

    fn parse(state: &str) -> Result<UploadState> {
        let invalid =
            |why: String| StorageError::Backend(format!("invalid S3 upload state: {why}"));
        let st: UploadState = serde_json::from_str(state).map_err(|e| invalid(e.to_string()))?;
        if st.v != STATE_VERSION {
            return Err(invalid(format!("version {}", st.v)));
        }
        let nonces = st
            .segs
            .iter()
            .map(|s| &s.nonce)
            .chain(&st.garbage)
            .chain(st.mpu.as_ref().map(|m| &m.nonce));
        for nonce in nonces {
            if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!("bad nonce {nonce:?}")));
            }
        }
        let in_parts = st.mpu.as_ref().map_or(0, |m| m.bytes);
        let in_segs: u64 = st.segs.iter().map(|s| s.len).sum();
        if in_parts + in_segs != st.size || in_segs >= MIN_PART {
            return Err(invalid("sizes do not add up".to_owned()));
        }
        Ok(st)
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("upload state serializes")
    }
}

/// Body bytes waiting to become a part or a segment, kept as the frames they came in.
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    len: u64,
}

impl Pending {
    fn push_back(&mut self, chunk: Bytes) {
        self.len += chunk.len() as u64;
        self.chunks.push_back(chunk);
    }

    fn push_front(&mut self, chunks: Vec<Bytes>) {
        for chunk in chunks.into_iter().rev() {
            self.len += chunk.len() as u64;
            self.chunks.push_front(chunk);
        }
    }

    /// Takes the first `n` bytes (without copying).
    fn take(&mut self, n: u64) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut want = n;
        while want > 0 {
            let Some(mut chunk) = self.chunks.pop_front() else {
                break;
            };
            if chunk.len() as u64 > want {
                let head = chunk.split_to(want as usize);
                self.chunks.push_front(chunk);
                out.push(head);
                want = 0;
            } else {
                want -= chunk.len() as u64;
                out.push(chunk);
            }
        }
        self.len -= n - want;
        out
    }

    fn take_all(&mut self) -> Vec<Bytes> {
        self.len = 0;
        self.chunks.drain(..).collect()
    }
}

/// One append in progress: the state it builds and what it created (to undo on failure).
struct Append<'a> {
    store: &'a S3BlobStore,
    keys: UploadKeys,
    /// The new state. Its `segs` are the segments of the old state not yet folded into a
    /// part (they come first) followed by the segment this append writes.
    st: UploadState,
    pending: Pending,
    /// The old state's segments have been read into `pending`.
    segs_loaded: bool,
    created_mpu: bool,
    created_segment: Option<String>,
}

impl Append<'_> {
    fn segs_len(&self) -> u64 {
        if self.segs_loaded {
            0
        } else {
            self.st.segs.iter().map(|s| s.len).sum()
        }
    }

    /// Reads the old segments in front of the pending body bytes; they become garbage of
    /// the new state.
    async fn load_segments(&mut self) -> Result<()> {
        if self.segs_loaded {
            return Ok(());
        }
        let data = self.store.read_segments(&self.keys, &self.st.segs).await?;
        self.pending.push_front(data);
        let consumed = std::mem::take(&mut self.st.segs);
        self.st
            .garbage
            .extend(consumed.into_iter().map(|s| s.nonce));
        self.segs_loaded = true;
        Ok(())
    }

    /// Uploads the first `n` pending bytes (old segments first) as the next part.
    async fn flush_part(&mut self, n: u64) -> Result<()> {
        self.load_segments().await?;
        if self.st.mpu.is_none() {
            let nonce = new_nonce();
            let upload_id = self
                .store
                .s3
                .create_multipart(&self.store.path(&self.keys.multipart(&nonce)))
                .await
                .map_err(|e| backend(e, "starting a multipart upload"))?;
            self.st.mpu = Some(Multipart {
                id: upload_id,
                nonce,
                parts: Vec::new(),
                bytes: 0,
                md5: true,
            });
            self.created_mpu = true;
        }
        let part = self.pending.take(n);
        let mpu = self.st.mpu.as_ref().expect("created above");
        let (etag, is_md5) = self
            .store
            .put_part(&self.keys, mpu, mpu.parts.len(), part)
            .await?;
        let mpu = self.st.mpu.as_mut().expect("created above");
        mpu.parts.push(etag);
        mpu.md5 &= is_md5;
        mpu.bytes += n;
        Ok(())
    }

    async fn push(&mut self, chunk: Bytes) -> Result<()> {
        self.pending.push_back(chunk);
        while self.segs_len() + self.pending.len >= PART_SIZE {
            // Read the old segments first so the part is exactly PART_SIZE.
            self.load_segments().await?;
            self.flush_part(PART_SIZE).await?;
        }
        Ok(())
    }

    /// Stores what is left: a last part if it is big enough, else a segment.
    async fn finish(&mut self) -> Result<()> {
        let total = self.segs_len() + self.pending.len;
        if total >= MIN_PART {
            return self.flush_part(total).await;
        }
        if self.pending.len == 0 {
            return Ok(());
        }
        if self.st.segs.len() >= MAX_SEGMENTS {
            self.load_segments().await?;
        }
        let len = self.pending.len;
        let payload: PutPayload = self.pending.take_all().into_iter().collect();
        let nonce = new_nonce();
        self.store
            .s3
            .put(&self.store.path(&self.keys.segment(&nonce)), payload)
            .await
            .map_err(|e| backend(e, "staging a segment"))?;
        self.created_segment = Some(nonce.clone());
        self.st.segs.push(Segment { nonce, len });
        Ok(())
    }

    /// Removes what this failed append created. Nothing the old state refers to is
    /// touched; parts put into the old state's multipart upload are simply not listed and
    /// get replaced by the next append.
    async fn undo(self) {
        let mut keys = Vec::new();
        if let Some(nonce) = &self.created_segment {
            keys.push(self.keys.segment(nonce));
        }
        if let Some(mpu) = self.st.mpu.as_ref().filter(|_| self.created_mpu) {
            let path = self.store.path(&self.keys.multipart(&mpu.nonce));
            let _ = self.store.s3.abort_multipart(&path, &mpu.id).await;
        }
        self.store.delete_quietly(keys).await;
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn preferred_chunk_min(&self) -> Option<u64> {
        Some(MIN_PART)
    }

    async fn get(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        let path = self.path(&paths::blob_key(digest));
        if range.start >= range.end {
            // S3 cannot serve an empty range; only existence is left to check.
            return match self.s3.head(&path).await {
                Ok(_) => Ok(futures::stream::empty().boxed()),
                Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound),
                Err(e) => Err(backend(e, "reading a blob")),
            };
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let result = self
            .s3
            .get_opts(&path, options)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => StorageError::NotFound,
                e => backend(e, "reading a blob"),
            })?;
        Ok(result.into_stream().map_err(std::io::Error::other).boxed())
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        match self.s3.delete(&self.path(&paths::blob_key(digest))).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e, "deleting a blob")),
        }
    }

    async fn begin_upload(&self, id: &str) -> Result<String> {
        // Nothing to create: the first bytes make the first object.
        UploadKeys::new(id)?;
        Ok(UploadState::new().to_json())
    }

    async fn append(
        &self,
        id: &str,
        state: &str,
        offset: u64,
        body: BodyStream<'_>,
    ) -> Result<Appended> {
        let keys = UploadKeys::new(id)?;
        let mut st = UploadState::parse(state)?;
        if offset != st.size {
            return Err(StorageError::SizeMismatch {
                expected: offset,
                found: st.size,
            });
        }
        // The caller persisted `state`, so what it marked as superseded is unreferenced.
        let old_garbage = std::mem::take(&mut st.garbage);
        let mut append = Append {
            store: self,
            keys,
            st,
            pending: Pending::default(),
            segs_loaded: false,
            created_mpu: false,
            created_segment: None,
        };
        let mut written = 0u64;
        let outcome = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(StorageError::Body)?;
                written += chunk.len() as u64;
                append.push(chunk).await?;
            }
            append.finish().await
        }
        .await;
        if let Err(e) = outcome {
            append.undo().await;
            return Err(e);
        }
        let Append { keys, mut st, .. } = append;
        st.size = offset + written;
        let garbage = old_garbage.iter().map(|n| keys.segment(n)).collect();
        self.delete_quietly(garbage).await;
        Ok(Appended {
            state: st.to_json(),
            written,
        })
    }

    async fn commit(&self, id: &str, state: &str, size: u64, digest: &Digest) -> Result<()> {
        let keys = UploadKeys::new(id)?;
        let st = UploadState::parse(state)?;
        if st.size != size {
            return Err(StorageError::SizeMismatch {
                expected: size,
                found: st.size,
            });
        }
        let blob = self.path(&paths::blob_key(digest));
        let mut leftovers: Vec<String> = st.garbage.iter().map(|n| keys.segment(n)).collect();
        match &st.mpu {
            None => {
                // Under 5 MiB: one conditional PUT, no multipart upload at all.
                let data = match self.read_segments(&keys, &st.segs).await {
                    // A retried commit whose first attempt got through.
                    Err(StorageError::UploadNotFound) if self.holds(&blob, size).await => {
                        return Ok(());
                    }
                    read => read?,
                };
                self.put_if_absent(&blob, data.into_iter().collect(), size)
                    .await?;
            }
            Some(mpu) => {
                let staged = self.path(&keys.multipart(&mpu.nonce));
                match self.complete_multipart(&keys, &st, mpu).await {
                    Ok(()) => self.publish(&staged, &blob, size).await?,
                    Err(e) => self.publish_completed(&keys, &st, mpu, &blob, e).await?,
                }
                // The staged object goes first: while it exists, the segments that let
                // a retried commit check it must exist too.
                if let Err(e) = self.s3.delete(&staged).await {
                    tracing::warn!(key = %staged, error = %e, "could not delete a staged object");
                    return Ok(());
                }
            }
        }
        leftovers.extend(st.segs.iter().map(|s| keys.segment(&s.nonce)));
        self.delete_quietly(leftovers).await;
        Ok(())
    }

    async fn abort(&self, id: &str, state: &str) -> Result<()> {
        let keys = UploadKeys::new(id)?;
        let st = UploadState::parse(state)?;
        let mut leftovers: Vec<String> = st.garbage.iter().map(|n| keys.segment(n)).collect();
        leftovers.extend(st.segs.iter().map(|s| keys.segment(&s.nonce)));
        if let Some(mpu) = &st.mpu {
            let staged = keys.multipart(&mpu.nonce);
            match self.s3.abort_multipart(&self.path(&staged), &mpu.id).await {
                // AWS says NoSuchUpload for an upload already gone; s3s-fs says AccessDenied.
                Ok(())
                | Err(object_store::Error::NotFound { .. })
                | Err(object_store::Error::PermissionDenied { .. }) => {}
                Err(e) => return Err(backend(e, "aborting the multipart upload")),
            }
            // A commit that failed half-way may have left the completed object.
            leftovers.push(staged);
        }
        self.delete_quietly(leftovers).await;
        Ok(())
    }

    async fn list_uploads(&self, modified_before: SystemTime) -> Result<Vec<StoredUpload>> {
        let root = self.path("uploads");
        // Segments and completed staging objects, by upload id, at their newest.
        let mut latest: HashMap<String, SystemTime> = HashMap::new();
        let mut objects = self.s3.list(Some(&root));
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|e| backend(e, "listing upload objects"))?;
            if let Some(id) = self.upload_id_of(meta.location.as_ref()) {
                let modified = SystemTime::from(meta.last_modified);
                let at = latest.entry(id.to_owned()).or_insert(modified);
                *at = (*at).max(modified);
            }
        }
        // Multipart uploads hold bytes too, and are not objects until completed.
        let in_progress = self
            .list_multipart_uploads(&format!("{root}/"))
            .await?
            .unwrap_or_default();
        for upload in in_progress {
            let Some(id) = self.upload_id_of(&upload.key) else {
                continue;
            };
            let mut modified = upload.initiated;
            if modified < modified_before {
                // Started long ago, perhaps still growing: its parts tell.
                if let Some(part) = self
                    .last_part_uploaded(&upload.key, &upload.upload_id)
                    .await?
                {
                    modified = modified.max(part);
                }
            }
            let at = latest.entry(id.to_owned()).or_insert(modified);
            *at = (*at).max(modified);
        }
        Ok(latest
            .into_iter()
            .filter(|(_, modified)| *modified < modified_before)
            .map(|(id, modified)| StoredUpload { id, modified })
            .collect())
    }

    async fn remove_orphan(&self, id: &str) -> Result<()> {
        let dir = self.path(&paths::upload_key(id)?);
        // Multipart uploads first: an aborted one cannot be completed into a new object.
        // A server that cannot list them leaves them to the bucket's lifecycle rule
        // (AbortIncompleteMultipartUpload), as docs/deploy.md asks for.
        let in_progress = self
            .list_multipart_uploads(&format!("{dir}/"))
            .await?
            .unwrap_or_default();
        for upload in in_progress {
            let Ok(path) = Path::parse(&upload.key) else {
                continue;
            };
            match self.s3.abort_multipart(&path, &upload.upload_id).await {
                Ok(())
                | Err(object_store::Error::NotFound { .. })
                | Err(object_store::Error::PermissionDenied { .. }) => {}
                Err(e) => return Err(backend(e, "aborting an orphaned multipart upload")),
            }
        }
        let objects = self
            .s3
            .list(Some(&dir))
            .map_ok(|meta| meta.location)
            .boxed();
        let deleted: Vec<Path> = self
            .s3
            .delete_stream(objects)
            .try_collect()
            .await
            .map_err(|e| backend(e, "deleting orphaned upload objects"))?;
        if !deleted.is_empty() {
            tracing::debug!(
                upload = id,
                objects = deleted.len(),
                "removed an orphaned upload"
            );
        }
        Ok(())
    }
}

/// A multipart upload in progress, as ListMultipartUploads names it.
struct InProgress {
    key: String,
    upload_id: String,
    initiated: SystemTime,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<ListedUpload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    key: String,
    upload_id: String,
    initiated: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsResult {
    #[serde(default)]
    is_truncated: bool,
    next_part_number_marker: Option<String>,
    #[serde(default, rename = "Part")]
    parts: Vec<ListedPart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedPart {
    last_modified: String,
}

/// An S3 timestamp (`2024-05-01T12:00:00.000Z`).
fn parse_s3_time(text: &str) -> Result<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(SystemTime::from)
        .map_err(|e| StorageError::Backend(format!("S3 timestamp {text:?}: {e}")))
}

/// The `<Code>` of an S3 error document.
fn s3_error_code(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].trim())
}

fn listing_error(operation: &str, status: u16, body: &[u8]) -> StorageError {
    let code = s3_error_code(body).unwrap_or("no error code");
    StorageError::Backend(format!("{operation} answered {status} ({code})"))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::TryStreamExt;
    use md5::Digest as _;

    use super::*;
    use crate::testsuite::pattern;

    const MIB: usize = 1024 * 1024;

    fn unique_id(tag: &str) -> String {
        format!("{tag}-{}", &new_nonce()[..16])
    }

    /// Appends `data` as one request body made of 64 KiB frames.
    async fn append(
        store: &S3BlobStore,
        id: &str,
        state: &str,
        offset: usize,
        data: &[u8],
    ) -> String {
        let frames: Vec<io::Result<Bytes>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let appended = store
            .append(id, state, offset as u64, &mut futures::stream::iter(frames))
            .await
            .expect("append");
        assert_eq!(appended.written, data.len() as u64);
        appended.state
    }

    /// Appends `good` and then fails as a dropped connection would.
    async fn broken_append(store: &S3BlobStore, id: &str, state: &str, offset: usize, good: &[u8]) {
        let mut frames: Vec<io::Result<Bytes>> = good
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        frames.push(Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )));
        let err = store
            .append(id, state, offset as u64, &mut futures::stream::iter(frames))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Body(_)), "{err:?}");
    }

    async fn read_all(store: &S3BlobStore, digest: &Digest, len: usize) -> Vec<u8> {
        let parts: Vec<Bytes> = store
            .get(digest, 0..len as u64)
            .await
            .expect("get")
            .try_collect()
            .await
            .expect("read");
        parts.concat()
    }

    fn parsed(state: &str) -> UploadState {
        UploadState::parse(state).expect("valid state")
    }

    #[tokio::test]
    async fn shared_suite() {
        let Some(config) = crate::testing::s3_config("suite") else {
            return;
        };
        let store = S3BlobStore::new(&config).unwrap();
        crate::testsuite::run(&store).await;
    }

    #[tokio::test]
    async fn many_tiny_appends_then_a_big_one() {
        let Some(config) = crate::testing::s3_config("tiny") else {
            return;
        };
        let store = S3BlobStore::new(&config).unwrap();
        let piece = 7 * 1024;
        let data = pattern(300 * piece + 6 * MIB, 10);
        let id = unique_id("tiny");
        let mut state = store.begin_upload(&id).await.unwrap();
        for i in 0..300 {
            state = append(
                &store,
                &id,
                &state,
                i * piece,
                &data[i * piece..(i + 1) * piece],
            )
            .await;
            let st = parsed(&state);
            assert!(st.mpu.is_none(), "no multipart upload below 5 MiB");
            assert!(st.segs.len() <= MAX_SEGMENTS);
        }
        assert!(
            state.len() < 4096,
            "state stays small: {} bytes",
            state.len()
        );
        state = append(&store, &id, &state, 300 * piece, &data[300 * piece..]).await;
        let st = parsed(&state);
        assert_eq!(st.mpu.as_ref().unwrap().parts.len(), 1);
        assert_eq!(st.size, data.len() as u64);
        let digest = Digest::sha256(&data);
        store
            .commit(&id, &state, data.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(read_all(&store, &digest, data.len()).await, data);

        // Only tiny appends: committed with one PUT, no multipart upload at all.
        let small = pattern(40 * piece + 3, 11);
        let id = unique_id("small");
        let mut state = store.begin_upload(&id).await.unwrap();
        for (i, chunk) in small.chunks(piece).enumerate() {
            state = append(&store, &id, &state, i * piece, chunk).await;
        }
        assert!(parsed(&state).mpu.is_none());
        let digest = Digest::sha256(&small);
        store
            .commit(&id, &state, small.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(read_all(&store, &digest, small.len()).await, small);
    }

    #[tokio::test]
    async fn another_replica_resumes_the_upload() {
        let Some(config) = crate::testing::s3_config("replica") else {
            return;
        };
        let data = pattern(11 * MIB + 5, 12);
        let id = unique_id("replica");
        let state = {
            let first = S3BlobStore::new(&config).unwrap();
            let state = first.begin_upload(&id).await.unwrap();
            let state = append(&first, &id, &state, 0, &data[..3 * MIB]).await;
            append(&first, &id, &state, 3 * MIB, &data[3 * MIB..9 * MIB]).await
        };
        let st = parsed(&state);
        assert_eq!(st.mpu.as_ref().unwrap().parts.len(), 1);
        assert_eq!(st.segs.len(), 1, "1 MiB left staged");
        // Only the state string crosses over, as through the database.
        let second = S3BlobStore::new(&config).unwrap();
        let state = append(&second, &id, &state, 9 * MIB, &data[9 * MIB..]).await;
        let third = S3BlobStore::new(&config).unwrap();
        let digest = Digest::sha256(&data);
        third
            .commit(&id, &state, data.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(read_all(&second, &digest, data.len()).await, data);
    }

    #[tokio::test]
    async fn failed_appends_leave_the_multipart_upload_committable() {
        let Some(config) = crate::testing::s3_config("failed") else {
            return;
        };
        let store = S3BlobStore::new(&config).unwrap();
        let data = pattern(16 * MIB + 3, 13);
        let id = unique_id("failed");
        let begun = store.begin_upload(&id).await.unwrap();
        // Fails after a part went out of a multipart upload this very append created.
        broken_append(&store, &id, &begun, 0, &pattern(9 * MIB, 99)).await;
        let state = append(&store, &id, &begun, 0, &data[..6 * MIB]).await;
        assert_eq!(parsed(&state).mpu.as_ref().unwrap().parts.len(), 1);
        let state = append(&store, &id, &state, 6 * MIB, &data[6 * MIB..7 * MIB]).await;
        assert_eq!(parsed(&state).segs.len(), 1);
        // Fails after its first part (the staged MiB and 7 MiB of garbage) was uploaded.
        broken_append(&store, &id, &state, 7 * MIB, &pattern(9 * MIB, 98)).await;
        // The same state again, with the right bytes: replaces that part.
        let state = append(&store, &id, &state, 7 * MIB, &data[7 * MIB..]).await;
        let st = parsed(&state);
        assert_eq!(st.mpu.as_ref().unwrap().parts.len(), 2);
        assert_eq!(st.size, data.len() as u64);
        let digest = Digest::sha256(&data);
        store
            .commit(&id, &state, data.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(read_all(&store, &digest, data.len()).await, data);
    }

    #[tokio::test]
    async fn racing_appends_never_publish_mixed_content() {
        let Some(config) = crate::testing::s3_config("race") else {
            return;
        };
        let (winner, loser) = (
            S3BlobStore::new(&config).unwrap(),
            S3BlobStore::new(&config).unwrap(),
        );
        let head = pattern(6 * MIB, 14);
        let ours = pattern(9 * MIB, 15);
        let theirs = pattern(9 * MIB, 16);

        // Different bytes at the same offset from the same state: the loser's part replaces
        // the winner's part 2. Commit must refuse rather than publish the mix.
        let id = unique_id("race");
        let state = winner.begin_upload(&id).await.unwrap();
        let base = append(&winner, &id, &state, 0, &head).await;
        let won = append(&winner, &id, &base, head.len(), &ours).await;
        let _lost = append(&loser, &id, &base, head.len(), &theirs).await;
        let data = [head.as_slice(), ours.as_slice()].concat();
        let digest = Digest::sha256(&data);
        let err = winner
            .commit(&id, &won, data.len() as u64, &digest)
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Backend(_)), "{err:?}");
        eprintln!("commit refused, as it should: {err}");
        assert!(matches!(
            winner.get(&digest, 0..1).await.err(),
            Some(StorageError::NotFound)
        ));
        winner.abort(&id, &won).await.unwrap();

        // A retry with the same bytes (the usual race) replaces a part with itself: fine.
        let id = unique_id("retry");
        let state = winner.begin_upload(&id).await.unwrap();
        let base = append(&winner, &id, &state, 0, &head).await;
        let won = append(&winner, &id, &base, head.len(), &ours).await;
        let _lost = append(&loser, &id, &base, head.len(), &ours).await;
        winner
            .commit(&id, &won, data.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(read_all(&winner, &digest, data.len()).await, data);
    }

    #[tokio::test]
    async fn a_retried_commit_succeeds() {
        let Some(config) = crate::testing::s3_config("retry-commit") else {
            return;
        };
        let store = S3BlobStore::new(&config).unwrap();
        let data = pattern(7 * MIB, 17);
        let id = unique_id("recommit");
        let state = store.begin_upload(&id).await.unwrap();
        let state = append(&store, &id, &state, 0, &data[..6 * MIB]).await;
        let state = append(&store, &id, &state, 6 * MIB, &data[6 * MIB..]).await;
        let st = parsed(&state);
        let keys = UploadKeys::new(&id).unwrap();
        // A first commit that died right after completing the multipart upload.
        store
            .complete_multipart(&keys, &st, st.mpu.as_ref().unwrap())
            .await
            .unwrap();
        let digest = Digest::sha256(&data);
        store
            .commit(&id, &state, data.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(read_all(&store, &digest, data.len()).await, data);
        // And once more, as after a crash before the caller recorded the first success.
        store
            .commit(&id, &state, data.len() as u64, &digest)
            .await
            .unwrap();

        // The same for a small upload.
        let small = pattern(1000, 19);
        let id = unique_id("recommit");
        let state = store.begin_upload(&id).await.unwrap();
        let state = append(&store, &id, &state, 0, &small).await;
        let digest = Digest::sha256(&small);
        for _ in 0..2 {
            store
                .commit(&id, &state, small.len() as u64, &digest)
                .await
                .unwrap();
        }
        assert_eq!(read_all(&store, &digest, small.len()).await, small);
    }

    #[tokio::test]
    async fn too_large_for_a_server_copy_is_streamed() {
        let Some(config) = crate::testing::s3_config("stream") else {
            return;
        };
        let mut store = S3BlobStore::new(&config).unwrap();
        store.max_server_copy = MIB as u64;
        let data = pattern(17 * MIB + 1, 18);
        let digest = crate::testsuite::upload(&store, &data, &[9 * MIB]).await;
        assert_eq!(read_all(&store, &digest, data.len()).await, data);
    }

    /// The same small blob (one conditional PUT each) committed at once by several replicas:
    /// the losers' `If-None-Match: *` fails, often as a broken send rather than a clean 412
    /// (the server answers and closes while the body is still going out). Every racer must
    /// succeed, since the blob is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_commits_of_one_small_blob_all_succeed() {
        let Some(config) = crate::testing::s3_config("racecommit") else {
            return;
        };
        const RACERS: usize = 6;
        for round in 0..4 {
            let data = pattern(4 * MIB + round * 1001, 40 + round as u8);
            let digest = Digest::sha256(&data);
            let mut racers = Vec::new();
            for _ in 0..RACERS {
                let store = S3BlobStore::new(&config).unwrap();
                let id = unique_id("racecommit");
                let state = store.begin_upload(&id).await.unwrap();
                let state = append(&store, &id, &state, 0, &data).await;
                assert!(parsed(&state).mpu.is_none(), "one PUT, no multipart upload");
                racers.push((store, id, state));
            }
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
            let commits: Vec<_> = racers
                .into_iter()
                .map(|(store, id, state)| {
                    let (start, digest, len) = (start.clone(), digest.clone(), data.len() as u64);
                    tokio::spawn(async move {
                        start.wait().await;
                        store.commit(&id, &state, len, &digest).await
                    })
                })
                .collect();
            let mut failures = Vec::new();
            for commit in commits {
                if let Err(e) = commit.await.unwrap() {
                    failures.push(e.to_string());
                }
            }
            assert!(
                failures.is_empty(),
                "round {round}: {} of {RACERS} racers failed: {failures:?}",
                failures.len()
            );
            let store = S3BlobStore::new(&config).unwrap();
            assert_eq!(read_all(&store, &digest, data.len()).await, data);
        }
    }

    /// Keys under `uploads/<id>/`, as the bucket holds them.
    async fn staging_keys(store: &S3BlobStore, id: &str) -> Vec<String> {
        let dir = store.path(&paths::upload_key(id).unwrap());
        store
            .s3
            .list(Some(&dir))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn orphans_of_racers_and_killed_uploads_are_swept() {
        let Some(config) = crate::testing::s3_config("orphans") else {
            return;
        };
        let (winner, loser) = (
            S3BlobStore::new(&config).unwrap(),
            S3BlobStore::new(&config).unwrap(),
        );
        let future = SystemTime::now() + Duration::from_secs(3600);
        // Two replicas append the same chunk from the same state; the winner's state is
        // the one recorded and committed, the loser's segment stays behind.
        let data = pattern(200_000, 30);
        let id = unique_id("orphan-race");
        let base = winner.begin_upload(&id).await.unwrap();
        let won = append(&winner, &id, &base, 0, &data).await;
        let _lost = append(&loser, &id, &base, 0, &data).await;
        let digest = Digest::sha256(&data);
        winner
            .commit(&id, &won, data.len() as u64, &digest)
            .await
            .unwrap();
        assert_eq!(
            staging_keys(&winner, &id).await.len(),
            1,
            "the loser's segment"
        );
        let listed = winner.list_uploads(future).await.unwrap();
        assert!(listed.iter().any(|u| u.id == id), "{listed:?}");
        winner.remove_orphan(&id).await.unwrap();
        assert!(staging_keys(&winner, &id).await.is_empty());
        assert_eq!(read_all(&winner, &digest, data.len()).await, data);

        // A request killed after its first part went out: a multipart upload and no object
        // at all, visible only to servers that list multipart uploads.
        let id = unique_id("orphan-mpu");
        let state = winner.begin_upload(&id).await.unwrap();
        let state = append(&winner, &id, &state, 0, &pattern(6 * MIB, 31)).await;
        assert!(parsed(&state).mpu.is_some());
        assert!(staging_keys(&winner, &id).await.is_empty());
        let dir = format!("{}/", winner.path(&paths::upload_key(&id).unwrap()));
        match winner.list_multipart_uploads(&dir).await.unwrap() {
            None => eprintln!(
                "this S3 server cannot list multipart uploads: a bucket lifecycle rule \
                 (AbortIncompleteMultipartUpload) must collect them"
            ),
            Some(found) => {
                assert_eq!(found.len(), 1, "the killed upload's multipart upload");
                let listed = winner.list_uploads(future).await.unwrap();
                assert!(listed.iter().any(|u| u.id == id), "{listed:?}");
                winner.remove_orphan(&id).await.unwrap();
                let left = winner.list_multipart_uploads(&dir).await.unwrap();
                assert!(left.unwrap_or_default().is_empty(), "aborted");
            }
        }
        // Either way removing it succeeds.
        winner.remove_orphan(&id).await.unwrap();
    }

    #[test]
    fn listings_are_parsed_and_keys_mapped_to_uploads() {
        let uploads = r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
              <NextKeyMarker>p/uploads/u2/mpu-x</NextKeyMarker>
              <NextUploadIdMarker>id-2</NextUploadIdMarker>
              <MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
              <Upload><Key>p/uploads/u1/mpu-x</Key><UploadId>id-1</UploadId>
                <Initiator><ID>i</ID></Initiator><StorageClass>STANDARD</StorageClass>
                <Initiated>2024-05-01T12:00:00.000Z</Initiated></Upload>
              <Upload><Key>p/uploads/u2/mpu-x</Key><UploadId>id-2</UploadId>
                <Initiated>2024-05-01T12:00:01Z</Initiated></Upload>
            </ListMultipartUploadsResult>"#;
        let page: ListMultipartUploadsResult = quick_xml::de::from_str(uploads).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[1].upload_id, "id-2");
        assert_eq!(page.next_key_marker.as_deref(), Some("p/uploads/u2/mpu-x"));
        let t = parse_s3_time(&page.uploads[0].initiated).unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_714_564_800
        );
        let empty = r#"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        let page: ListMultipartUploadsResult = quick_xml::de::from_str(empty).unwrap();
        assert!(page.uploads.is_empty() && !page.is_truncated);
        let parts = r#"<ListPartsResult><IsTruncated>false</IsTruncated>
              <Part><PartNumber>1</PartNumber><LastModified>2024-05-01T12:00:00.000Z</LastModified>
                <ETag>"e"</ETag><Size>5242880</Size></Part>
              <Part><PartNumber>2</PartNumber><LastModified>2024-05-01T13:00:00.000Z</LastModified>
                <ETag>"f"</ETag><Size>1</Size></Part></ListPartsResult>"#;
        let page: ListPartsResult = quick_xml::de::from_str(parts).unwrap();
        assert_eq!(page.parts.len(), 2);
        let error = b"<Error><Code>NotImplemented</Code><Message>m</Message></Error>";
        assert_eq!(s3_error_code(error), Some("NotImplemented"));

        let bucket = |prefix: Option<&str>| {
            S3BlobStore::new(&S3Config {
                bucket: "b".to_owned(),
                prefix: prefix.map(str::to_owned),
                ..S3Config::default()
            })
            .unwrap()
        };
        let store = bucket(Some("reg/one"));
        assert_eq!(store.upload_id_of("reg/one/uploads/u-1/seg-x"), Some("u-1"));
        assert_eq!(store.upload_id_of("reg/one/blobs/sha256/aa/aa"), None);
        assert_eq!(store.upload_id_of("reg/other/uploads/u-1/seg-x"), None);
        assert_eq!(store.upload_id_of("reg/one/uploads/u-1"), None);
        let store = bucket(None);
        assert_eq!(store.upload_id_of("uploads/u-2/mpu-y"), Some("u-2"));
        assert_eq!(store.upload_id_of("uploads/bad.id/mpu-y"), None);
    }

    /// A fake S3 endpoint that answers 503 to the first `failures` requests and 404 to the
    /// rest; returns its URL and the count of requests it saw.
    async fn flaky_endpoint(failures: usize) -> (String, std::sync::Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // HEAD requests have no body: each header block is one request.
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let answer = if counter.fetch_add(1, Ordering::SeqCst) < failures {
                                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                            } else {
                                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
                            };
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    /// Counts the warnings berth-storage logs.
    #[derive(Clone, Default)]
    struct WarnCount(std::sync::Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnCount {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let meta = event.metadata();
            if *meta.level() == tracing::Level::WARN && meta.target().starts_with("berth_storage") {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[tokio::test]
    async fn server_errors_are_retried_as_configured() {
        let config = |endpoint: String, max_retries| S3Config {
            endpoint: Some(endpoint),
            bucket: "b".to_owned(),
            access_key_id: "k".to_owned(),
            secret_access_key: "s".into(),
            path_style: true,
            allow_http: true,
            max_retries,
            retry_initial_backoff_ms: 1,
            retry_max_backoff_ms: 5,
            ..S3Config::default()
        };
        let digest = Digest::sha256(b"retried");
        // Two 503s, then the answer: seen through, after three requests, each failed
        // attempt logged at warn.
        let warnings = WarnCount::default();
        let _log =
            tracing::subscriber::set_default(tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::registry(),
                warnings.clone(),
            ));
        let (url, seen) = flaky_endpoint(2).await;
        let store = S3BlobStore::new(&config(url, 3)).unwrap();
        let got = store.get(&digest, 0..0).await.err();
        assert!(matches!(got, Some(StorageError::NotFound)), "{got:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(warnings.0.load(Ordering::SeqCst), 2);
        // Retries off: the first 503 is the answer.
        let (url, seen) = flaky_endpoint(2).await;
        let store = S3BlobStore::new(&config(url, 0)).unwrap();
        let got = store.get(&digest, 0..0).await.err();
        assert!(matches!(got, Some(StorageError::Backend(_))), "{got:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    /// What commit relies on to never replace a blob. A server without it still works
    /// (commit falls back to a plain copy, which replaces identical bytes), but should fail
    /// here so that we know.
    #[tokio::test]
    async fn server_honours_conditional_writes() {
        let Some(config) = crate::testing::s3_config("cond") else {
            return;
        };
        let store = S3BlobStore::new(&config).unwrap();
        let (a, b) = (store.path("cond/a"), store.path("cond/b"));
        let create = || PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let put = |data: &'static [u8]| {
            store
                .s3
                .put_opts(&a, PutPayload::from_static(data), create())
        };
        put(b"one").await.unwrap();
        assert!(matches!(
            put(b"two").await,
            Err(object_store::Error::AlreadyExists { .. })
        ));
        store.s3.copy_if_not_exists(&a, &b).await.unwrap();
        assert!(matches!(
            store.s3.copy_if_not_exists(&a, &b).await,
            Err(object_store::Error::AlreadyExists { .. })
        ));
        let kept = store.s3.get(&a).await.unwrap().bytes().await.unwrap();
        assert_eq!(kept.as_ref(), b"one");
    }

    #[test]
    fn states_that_could_escape_the_upload_are_refused() {
        let good = format!(
            r#"{{"v":1,"size":3,"segs":[{{"n":"{}","len":3}}]}}"#,
            "a".repeat(32)
        );
        assert_eq!(parsed(&good).size, 3);
        for bad in [
            r#"{"v":1,"size":3,"segs":[{"n":"../../blobs/x","len":3}]}"#.to_owned(),
            format!(
                r#"{{"v":1,"size":4,"segs":[{{"n":"{}","len":3}}]}}"#,
                "a".repeat(32)
            ),
            r#"{"v":2,"size":0}"#.to_owned(),
            r#"{"v":1,"size":0,"extra":1}"#.to_owned(),
            String::new(),
        ] {
            assert!(UploadState::parse(&bad).is_err(), "{bad}");
        }
        let fresh = UploadState::new().to_json();
        assert_eq!(parsed(&fresh), UploadState::new());
    }

    #[test]
    fn pending_takes_exact_prefixes_without_copying() {
        let mut pending = Pending::default();
        pending.push_back(Bytes::from_static(b"hello "));
        pending.push_back(Bytes::from_static(b"world"));
        pending.push_front(vec![Bytes::from_static(b">> ")]);
        assert_eq!(pending.len, 14);
        assert_eq!(pending.take(5).concat(), b">> he");
        assert_eq!(pending.len, 9);
        assert_eq!(pending.take_all().concat(), b"llo world");
        assert_eq!(pending.len, 0);
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        let md5 = |data: &[u8]| hex::encode(Md5::digest(data));
        let parts = vec![format!("\"{}\"", md5(b"a")), md5(b"b")];
        let mut raw = hex::decode(md5(b"a")).unwrap();
        raw.extend(hex::decode(md5(b"b")).unwrap());
        assert_eq!(multipart_etag(&parts), Some(format!("{}-2", md5(&raw))));
        assert_eq!(multipart_etag(&["not-md5".to_owned()]), None);
    }

    #[test]
    fn config_debug_hides_the_secret_and_endpoints_are_built() {
        let config = S3Config {
            secret_access_key: "very-secret".into(),
            ..S3Config::default()
        };
        assert!(!format!("{config:?}").contains("very-secret"));
        assert_eq!(
            virtual_hosted_endpoint("https://minio.local:9000", "b").unwrap(),
            "https://b.minio.local:9000"
        );
        assert!(virtual_hosted_endpoint("minio.local", "b").is_err());
        assert!(
            S3BlobStore::new(&S3Config {
                prefix: Some("a/../b".to_owned()),
                bucket: "b".to_owned(),
                ..S3Config::default()
            })
            .is_err()
        );
    }
}
