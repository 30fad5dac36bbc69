//! Error answers that a proxy can deliver. When a handler refuses a request before reading
//! its body (a manifest too large, a chunk out of order, an unknown upload), the client, or
//! the load balancer streaming the body through (nginx with `proxy_request_buffering off`),
//! is still sending. If the server then closes, unread bytes make the kernel reset the
//! connection and the proxy reports its own 502 instead of the answer (and marks a healthy
//! replica down). So before an error answer goes out, this layer reads and discards the
//! rest of the body, up to [`DrainLimits`]; a longer rest, or one that takes too long, is
//! not read and the answer says `Connection: close` instead.
//!
//! The handler's body and the layer's view of it are one stream behind a shared handle: an
//! uncontended lock per frame on the way to the handler, nothing copied. When the handler
//! drops its handle unfinished, the layer goes on polling the same stream.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Version, header};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// How much of an unread request body an error answer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainLimits {
    /// Bytes read and discarded at most; a longer rest gets `Connection: close`.
    pub max_bytes: u64,
    /// Time spent reading at most; then `Connection: close`.
    pub timeout: Duration,
}

impl Default for DrainLimits {
    fn default() -> DrainLimits {
        DrainLimits {
            max_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The drain layer, for every route (`Router::layer`).
pub fn layer(limits: DrainLimits) -> DrainLayer {
    DrainLayer { limits }
}

#[derive(Debug, Clone, Copy)]
pub struct DrainLayer {
    limits: DrainLimits,
}

impl<S> tower::Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Drain<S> {
        Drain {
            inner,
            limits: self.limits,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Drain<S> {
    inner: S,
    limits: DrainLimits,
}

impl<S> tower::Service<Request> for Drain<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (parts, body) = request.into_parts();
        if body.is_end_stream() {
            // No body (most GETs and HEADs): nothing to wrap.
            return Box::pin(self.inner.call(Request::from_parts(parts, body)));
        }
        // A client waiting for `100 Continue` sends nothing unless the body is polled.
        let expects_continue = parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let http1 = parts.version <= Version::HTTP_11;
        let (handler_body, rest) = SharedBody::new(body);
        let answer = self
            .inner
            .call(Request::from_parts(parts, Body::new(handler_body)));
        let limits = self.limits;
        Box::pin(async move {
            let mut response = answer.await?;
            if response.status().as_u16() >= 400
                && !rest.drain(limits, expects_continue).await
                && http1
            {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        })
    }
}

struct Shared {
    body: Body,
    /// Some frame has been asked for (so a `100 Continue` went out, if one was expected).
    polled: bool,
    /// Reading failed (the client went away): the connection is done for.
    failed: bool,
}

/// One handle on a request body shared by the handler and the layer.
struct SharedBody {
    shared: Arc<Mutex<Shared>>,
    /// The body's end was seen, kept here so that `is_end_stream` takes no lock.
    ended: bool,
}

impl SharedBody {
    /// The handler's handle and the layer's.
    fn new(body: Body) -> (SharedBody, SharedBody) {
        let shared = Arc::new(Mutex::new(Shared {
            body,
            polled: false,
            failed: false,
        }));
        let handle = |shared| SharedBody {
            shared,
            ended: false,
        };
        (handle(shared.clone()), handle(shared))
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A handler that panicked while polling leaves the body as usable as it was.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads and discards the rest of the body within `limits`. True when the body is
    /// now read to its end (the connection can carry the next request).
    async fn drain(mut self, limits: DrainLimits, expects_continue: bool) -> bool {
        let hint = {
            let shared = self.lock();
            if shared.body.is_end_stream() {
                return true;
            }
            if shared.failed || (expects_continue && !shared.polled) {
                // Broken, or never sent: nothing to wait for.
                return false;
            }
            shared.body.size_hint()
        };
        if hint.lower() > limits.max_bytes {
            tracing::debug!(
                rest = hint.lower(),
                "not reading a request body past the bound"
            );
            return false;
        }
        let mut discarded = 0u64;
        let read = async {
            while let Some(frame) = self.frame().await {
                let Ok(frame) = frame else {
                    return false;
                };
                if let Some(data) = frame.data_ref() {
                    discarded += data.len() as u64;
                    if discarded > limits.max_bytes {
                        return false;
                    }
                }
            }
            true
        };
        let drained = tokio::time::timeout(limits.timeout, read)
            .await
            .unwrap_or(false);
        tracing::debug!(
            discarded,
            drained,
            "read the rest of a refused request's body"
        );
        drained
    }
}

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let mut shared = this
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.polled = true;
        let polled = Pin::new(&mut shared.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.ended = true,
            Poll::Ready(Some(Err(_))) => shared.failed = true,
            Poll::Ready(Some(Ok(_))) => this.ended = shared.body.is_end_stream(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.lock().body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::Router;
    use axum::routing::{get, post};
    use futures::StreamExt as _;
    use tower::ServiceExt;

    use super::*;
    use http::StatusCode;

    const KIB: usize = 1024;

    /// A streamed body (no length known) of `frames` frames of 64 KiB, counting what is
    /// pulled from it; `stall` makes it hang after them instead of ending.
    fn counted_body(frames: usize, stall: bool) -> (Body, Arc<AtomicU64>) {
        let pulled = Arc::new(AtomicU64::new(0));
        let counter = pulled.clone();
        let chunks = futures::stream::iter(0..frames).map(move |_| {
            counter.fetch_add(64 * KIB as u64, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 64 * KIB]))
        });
        let body = if stall {
            Body::from_stream(chunks.chain(futures::stream::pending()))
        } else {
            Body::from_stream(chunks)
        };
        (body, pulled)
    }

    fn app(limits: DrainLimits) -> Router {
        Router::new()
            // Refuses without reading.
            .route(
                "/refuse",
                post(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "too large") }),
            )
            // Reads one frame, then refuses.
            .route(
                "/partly",
                post(|body: Body| async move {
                    let mut stream = body.into_data_stream();
                    let _ = stream.next().await;
                    (StatusCode::RANGE_NOT_SATISFIABLE, "out of order")
                }),
            )
            // Reads everything, then refuses.
            .route(
                "/fully",
                post(|body: Body| async move {
                    let _ = body.collect().await;
                    StatusCode::BAD_REQUEST
                }),
            )
            // Succeeds without reading: not this layer's business.
            .route("/accept", post(|| async { StatusCode::ACCEPTED }))
            .route("/get", get(|| async { StatusCode::NOT_FOUND }))
            .layer(layer(limits))
    }

    async fn post_to(limits: DrainLimits, path: &str, body: Body) -> Response {
        let request = Request::post(path).body(body).unwrap();
        app(limits).oneshot(request).await.unwrap()
    }

    fn closes(response: &Response) -> bool {
        response.headers().get(header::CONNECTION) == Some(&HeaderValue::from_static("close"))
    }

    #[tokio::test]
    async fn the_rest_of_a_refused_body_is_read_before_the_answer() {
        for path in ["/refuse", "/partly", "/fully"] {
            let (body, pulled) = counted_body(40, false);
            let response = post_to(DrainLimits::default(), path, body).await;
            assert!(response.status().as_u16() >= 400, "{path}");
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                40 * 64 * KIB as u64,
                "{path}"
            );
            assert!(!closes(&response), "{path}: the connection stays usable");
        }
    }

    #[tokio::test]
    async fn a_rest_beyond_the_bound_is_not_read_and_the_connection_closes() {
        let limits = DrainLimits {
            max_bytes: 256 * KIB as u64,
            ..DrainLimits::default()
        };
        // Length unknown: read up to the bound, then give up.
        let (body, pulled) = counted_body(40, false);
        let response = post_to(limits, "/refuse", body).await;
        assert!(closes(&response));
        assert!(pulled.load(Ordering::SeqCst) <= 320 * KIB as u64);
        // Length known: not read at all.
        let response = post_to(limits, "/refuse", Body::from(vec![0u8; 512 * KIB])).await;
        assert!(closes(&response));
        // Under the bound: read.
        let response = post_to(limits, "/refuse", Body::from(vec![0u8; 100 * KIB])).await;
        assert!(!closes(&response));
    }

    #[tokio::test]
    async fn a_stalled_body_is_given_up_after_the_timeout() {
        let limits = DrainLimits {
            timeout: Duration::from_millis(100),
            ..DrainLimits::default()
        };
        let (body, pulled) = counted_body(3, true);
        let started = std::time::Instant::now();
        let response = post_to(limits, "/partly", body).await;
        assert!(closes(&response));
        assert_eq!(pulled.load(Ordering::SeqCst), 3 * 64 * KIB as u64);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn successes_and_bodiless_requests_are_left_alone() {
        let (body, pulled) = counted_body(10, false);
        let response = post_to(DrainLimits::default(), "/accept", body).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(pulled.load(Ordering::SeqCst), 0);
        assert!(!closes(&response));
        let request = Request::get("/get").body(Body::empty()).unwrap();
        let response = app(DrainLimits::default()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(!closes(&response));
    }

    #[tokio::test]
    async fn a_client_waiting_for_100_continue_is_not_asked_for_its_body() {
        let (body, pulled) = counted_body(10, false);
        let request = Request::post("/refuse")
            .header(header::EXPECT, "100-continue")
            .body(body)
            .unwrap();
        let response = app(DrainLimits::default()).oneshot(request).await.unwrap();
        assert_eq!(pulled.load(Ordering::SeqCst), 0);
        assert!(closes(&response));
    }
}
