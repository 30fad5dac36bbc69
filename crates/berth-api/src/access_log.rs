//! One access line per request, at `info` with target `berth::access`: method, route
//! template (never the raw path, which holds repository names and digests), status, bytes
//! sent, duration and request id. The line is written when the response body ends (or is
//! dropped: `aborted = true` when the client went away first), so bytes and duration are
//! those of the whole answer.
//!
//! Every request gets an id: the incoming `X-Request-Id` when it is short printable ASCII
//! (a proxy's or client's id, so lines join up across hops), a fresh one otherwise. It is
//! returned as `X-Request-Id`, put into the request's extensions as [`RequestId`] for
//! handlers, and carried by a `request` span around the handler, so whatever the handler
//! logs names it too.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body::{Frame, SizeHint};
use tracing::Instrument;

/// `X-Request-Id`, read from requests and set on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id taken as is.
const MAX_INCOMING_ID: usize = 64;

/// The route template a response answers, for the access log, when axum's [`MatchedPath`]
/// cannot tell: the OCI surface is one catch-all `/v2/{*rest}` dispatcher, which knows the
/// real route (`/v2/{name}/manifests/{reference}`) only once it has parsed the path. A
/// handler inserts it into the response's extensions; it wins over `MatchedPath`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTemplate(pub &'static str);

/// The request's id (see the module docs), in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The incoming id if it is sane, else a new one.
    fn for_request(headers: &HeaderMap) -> RequestId {
        match headers.get(&X_REQUEST_ID) {
            Some(id) if is_sane(id.as_bytes()) => RequestId(id.clone()),
            _ => RequestId::generate(),
        }
    }

    fn generate() -> RequestId {
        let id = uuid::Uuid::new_v4().simple().to_string();
        RequestId(HeaderValue::from_str(&id).expect("hex is a header value"))
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from visible ASCII.
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Short, and visible ASCII only: nothing that could forge a log line or a header.
fn is_sane(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_INCOMING_ID && id.iter().all(|b| b.is_ascii_graphic())
}

/// The access log and request ids, for `Router::layer` (so that `MatchedPath` is known).
pub fn layer() -> AccessLogLayer {
    AccessLogLayer
}

#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner }
    }
}

#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S> tower::Service<Request> for AccessLog<S>
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

    fn call(&mut self, mut request: Request) -> Self::Future {
        let start = Instant::now();
        let id = RequestId::for_request(request.headers());
        let method = request.method().clone();
        let matched = request.extensions().get::<MatchedPath>().cloned();
        request.extensions_mut().insert(id.clone());
        let span = tracing::info_span!("request", id = %id);
        let answer = self.inner.call(request).instrument(span);
        Box::pin(async move {
            let mut response = answer.await?;
            response.headers_mut().insert(X_REQUEST_ID, id.0.clone());
            let route = match (response.extensions().get::<RouteTemplate>(), matched) {
                (Some(template), _) => Cow::Borrowed(template.0),
                (None, Some(matched)) => Cow::Owned(matched.as_str().to_owned()),
                (None, None) => Cow::Borrowed("-"),
            };
            // HEAD answers and these statuses have no body for hyper to send.
            let no_body = method == Method::HEAD
                || matches!(
                    response.status(),
                    StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
                );
            // A streamed body that says its length is complete once that much went out
            // (hyper stops polling it then, before it could say it ended).
            let length = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let entry = Entry {
                no_body,
                length,
                method,
                route,
                status: response.status(),
                id,
                start,
            };
            Ok(response.map(|body| {
                Body::new(Logged {
                    body,
                    bytes: 0,
                    entry: Some(entry),
                })
            }))
        })
    }
}

/// What the access line says, but for the bytes, known at the end.
struct Entry {
    /// The answer has no body to send, so an unpolled one was not cut short.
    no_body: bool,
    /// The `Content-Length` the answer gave.
    length: Option<u64>,
    method: Method,
    route: Cow<'static, str>,
    status: StatusCode,
    id: RequestId,
    start: Instant,
}

impl Entry {
    fn write(self, bytes: u64, aborted: bool) {
        let micros = self.start.elapsed().as_micros() as f64;
        tracing::info!(
            target: "berth::access",
            method = %self.method,
            route = %self.route,
            status = self.status.as_u16(),
            bytes,
            duration_ms = micros / 1000.0,
            request_id = %self.id,
            aborted = aborted.then_some(true),
            "request"
        );
    }
}

/// The response body, counting what goes out and writing the access line at its end.
struct Logged {
    body: Body,
    bytes: u64,
    entry: Option<Entry>,
}

impl Logged {
    fn finish(&mut self, aborted: bool) {
        if let Some(entry) = self.entry.take() {
            entry.write(self.bytes, aborted);
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                let all_sent = this
                    .entry
                    .as_ref()
                    .is_some_and(|e| e.length == Some(this.bytes));
                if all_sent || this.body.is_end_stream() {
                    this.finish(false);
                }
            }
            Poll::Ready(None) => this.finish(false),
            Poll::Ready(Some(Err(_))) => this.finish(true),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        // Not polled to its end: an answer without a body (complete), or a client that went
        // away mid-answer.
        let no_body = self.entry.as_ref().is_some_and(|e| e.no_body);
        let aborted = !no_body && !self.body.is_end_stream();
        self.finish(aborted);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// One access line's fields, in order.
    type Line = Vec<(String, String)>;

    /// The access lines written while a test runs.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<Line>>>);

    struct Fields(Line);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() == "berth::access" {
                let mut fields = Fields(Vec::new());
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.0);
            }
        }
    }

    impl Lines {
        fn field(&self, line: usize, name: &str) -> Option<String> {
            let lines = self.0.lock().unwrap();
            lines[line]
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }

        fn count(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    fn app() -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/v2/{*rest}",
                get(|| async {
                    let mut response = Response::new(Body::from("manifest bytes"));
                    response
                        .extensions_mut()
                        .insert(RouteTemplate("/v2/{name}/manifests/{reference}"));
                    response
                }),
            )
            .route(
                "/stream",
                get(|| async {
                    // A stream that never says it ended, with its length in the header.
                    use futures::StreamExt;
                    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(
                        Bytes::from_static(b"0123456789"),
                    )])
                    .chain(futures::stream::pending());
                    let mut response = Response::new(Body::from_stream(chunks));
                    response
                        .headers_mut()
                        .insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("10"));
                    response
                }),
            )
            .route(
                "/items/{id}",
                get(
                    |axum::Extension(id): axum::Extension<RequestId>| async move {
                        format!("handler saw {id}")
                    },
                ),
            )
            .layer(layer())
    }

    async fn send(lines: &Lines, request: Request) -> (Response, Bytes) {
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let response = app().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (Response::from_parts(parts, Body::empty()), bytes)
    }

    fn get_request(uri: &str) -> Request {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    /// hyper stops polling a body once its Content-Length went out: that is complete, and
    /// only fewer bytes than that is a client going away.
    #[tokio::test]
    async fn a_stream_that_sent_its_length_is_not_aborted() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let response = app().oneshot(get_request("/stream")).await.unwrap();
        let mut body = response.into_body();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap().as_ref(), b"0123456789");
        drop(body);
        assert_eq!(lines.count(), 1);
        assert_eq!(lines.field(0, "bytes").unwrap(), "10");
        assert_eq!(lines.field(0, "aborted"), None);

        // Dropped before its length went out: aborted.
        let response = app().oneshot(get_request("/stream")).await.unwrap();
        drop(response);
        assert_eq!(lines.field(1, "aborted").as_deref(), Some("true"));
    }

    #[tokio::test]
    async fn one_line_per_request_with_the_route_template() {
        let lines = Lines::default();
        let (response, body) = send(&lines, get_request("/v2/team/app/manifests/v1")).await;
        assert_eq!(lines.count(), 1);
        assert_eq!(body.as_ref(), b"manifest bytes");
        assert_eq!(
            lines.field(0, "route").unwrap(),
            "/v2/{name}/manifests/{reference}"
        );
        assert_eq!(lines.field(0, "method").unwrap(), "GET");
        assert_eq!(lines.field(0, "status").unwrap(), "200");
        assert_eq!(lines.field(0, "bytes").unwrap(), "14");
        assert!(lines.field(0, "duration_ms").is_some());
        assert_eq!(lines.field(0, "aborted"), None);
        let id = response.headers()[&X_REQUEST_ID]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32);
        assert_eq!(lines.field(0, "request_id").unwrap(), id);

        // Without a template: axum's matched route, never the raw path.
        let (_, body) = send(&lines, get_request("/items/secret-name")).await;
        assert_eq!(lines.field(1, "route").unwrap(), "/items/{id}");
        let id = lines.field(1, "request_id").unwrap();
        assert_eq!(body, format!("handler saw {id}"));
        let (response, _) = send(&lines, get_request("/nowhere")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(lines.count(), 3, "unmatched requests are logged too");
        assert_eq!(lines.field(2, "route").unwrap(), "-");
    }

    #[tokio::test]
    async fn a_sane_incoming_request_id_is_kept() {
        let lines = Lines::default();
        let with_id = |id: &[u8]| {
            Request::get("/healthz")
                .header(X_REQUEST_ID, HeaderValue::from_bytes(id).unwrap())
                .body(Body::empty())
                .unwrap()
        };
        let (response, _) = send(&lines, with_id(b"lb-7f3a/01")).await;
        assert_eq!(response.headers()[&X_REQUEST_ID], "lb-7f3a/01");
        assert_eq!(lines.field(0, "request_id").unwrap(), "lb-7f3a/01");
        for bad in [
            &b"has space"[..],
            &[b'x'; 65],
            b"tab\there",
            &[0xe2, 0x82, 0xac],
        ] {
            let (response, _) = send(&lines, with_id(bad)).await;
            let id = response.headers()[&X_REQUEST_ID].as_bytes();
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32, "a fresh id instead of {bad:?}");
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_sane(b"0af7651916cd43dd8448eb211c80319c"));
        assert!(is_sane(b"Root=1-67891233-abcdef012345678912345678"));
        assert!(!is_sane(b""));
        assert!(!is_sane(b"a\r\nSet-Cookie: x"));
        assert!(!is_sane(&[b'a'; MAX_INCOMING_ID + 1]));
    }
}
