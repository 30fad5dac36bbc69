//! Huawei SWR's management API (seed 003) under `/v2/manage/` and `/v3/manage/`, as Huawei's
//! own SDK (`huaweicloudsdkswr`) speaks it: namespaces (组织) with their members' permissions,
//! repositories (镜像仓库) with summary, update, delete and their own permissions, the tags of
//! a repository, and the repository list across namespaces. Thin handlers over
//! `berth_service`.
//!
//! What the SDK needs, beyond the paths: requests signed `SDK-HMAC-SHA256` with an access key
//! berth issued (verified over the raw path, query and body, so the body is read before the
//! caller is known); bare JSON arrays for the repository and tag lists, with
//! `Content-Range: offset-count/total`; integers and booleans as JSON numbers and booleans
//! (the SDK casts, so a string would pass silently wrong); and every failure as SWR's
//! `{"error_code", "error_msg"}` (see [`error`]). A repository name's `/` arrives as `%2F`,
//! `%24` or `$` (see [`endpoint`]).

pub mod endpoint;
pub mod error;
mod namespaces;
mod repos;
mod tags;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_core::{Caller, RepoName};
use berth_service::auth::sdk_signature::SignedRequest;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::access_log::RouteTemplate;
use crate::{AppState, caller};
use endpoint::SwrPath;
pub use error::SwrError;

/// The largest request body read (the dialect's bodies are a few small JSON objects).
const MAX_BODY: usize = 64 * 1024;

/// The `/v3/manage/` routes; `/v2/manage/` is shared with OCI (the reserved namespace
/// `manage`), so the application router sends there only what [`SwrPath::parse`] accepts.
pub fn router() -> Router<AppState> {
    Router::new().route("/v3/manage/{*rest}", any(dispatch))
}

type SwrResult<T> = Result<T, SwrError>;

pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let route = SwrPath::parse(parts.uri.path());
    let template = route
        .as_ref()
        .map_or("/v2/manage/{*rest}", SwrPath::template);
    let mut response = match handle(&state, &parts, body, route).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// What every handler gets: the state, the caller, the parsed query and the body.
struct Ctx<'a> {
    state: &'a AppState,
    caller: Caller,
    parts: &'a Parts,
    query: Query,
    body: Bytes,
}

impl Ctx<'_> {
    /// The registry's address as image paths write it.
    fn host(&self) -> String {
        self.state.config.registry_host(&self.parts.headers)
    }

    /// The JSON body, strictly: malformed JSON or an unknown field is a 400.
    fn json<T: DeserializeOwned>(&self) -> SwrResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| SwrError::invalid("body", e))
    }
}

async fn handle(
    state: &AppState,
    parts: &Parts,
    body: Body,
    route: Option<SwrPath>,
) -> SwrResult<Response> {
    let route = route.ok_or_else(SwrError::no_endpoint)?;
    let body = read_body(parts, body).await?;
    let caller = authenticate(state, parts, &body).await?;
    let query = Query::parse(parts.uri.query())?;
    let cx = Ctx {
        state,
        caller,
        parts,
        query,
        body,
    };
    use SwrPath as P;
    let m = parts.method.clone();
    let get = m == Method::GET || m == Method::HEAD;
    match route {
        P::Namespaces if m == Method::POST => namespaces::create(&cx).await,
        P::Namespaces if get => namespaces::list(&cx).await,
        P::Namespace { namespace } if get => namespaces::show(&cx, &namespace).await,
        P::Namespace { namespace } if m == Method::DELETE => {
            namespaces::delete(&cx, &namespace).await
        }
        P::NamespaceAccess { namespace } if get => namespaces::show_access(&cx, &namespace).await,
        P::NamespaceAccess { namespace } if m == Method::POST || m == Method::PATCH => {
            namespaces::put_access(&cx, &namespace).await
        }
        P::NamespaceAccess { namespace } if m == Method::DELETE => {
            namespaces::delete_access(&cx, &namespace).await
        }
        P::Repos { namespace } if m == Method::POST => repos::create(&cx, &namespace).await,
        P::Repos { namespace } if get => repos::list(&cx, Some(&namespace)).await,
        P::AllRepos if get => repos::list(&cx, None).await,
        P::V3Repos if get => repos::list_v3(&cx).await,
        P::Repo {
            namespace,
            repository,
        } => {
            let name = repo_name(&namespace, &repository)?;
            match m {
                _ if get => repos::show(&cx, &name).await,
                Method::PATCH => repos::update(&cx, &name).await,
                Method::DELETE => repos::delete(&cx, &name).await,
                _ => Err(SwrError::method_not_allowed()),
            }
        }
        P::RepoAccess {
            namespace,
            repository,
        } => {
            let name = repo_name(&namespace, &repository)?;
            match m {
                _ if get => repos::show_access(&cx, &name).await,
                Method::POST | Method::PATCH => repos::put_access(&cx, &name).await,
                Method::DELETE => repos::delete_access(&cx, &name).await,
                _ => Err(SwrError::method_not_allowed()),
            }
        }
        P::Tags {
            namespace,
            repository,
        } => {
            let name = repo_name(&namespace, &repository)?;
            match m {
                _ if get => tags::list(&cx, &name).await,
                Method::POST => tags::retag(&cx, &name).await,
                _ => Err(SwrError::method_not_allowed()),
            }
        }
        P::Tag {
            namespace,
            repository,
            tag,
        } => {
            let name = repo_name(&namespace, &repository)?;
            match m {
                _ if get => tags::show(&cx, &name, &tag).await,
                Method::DELETE => tags::delete(&cx, &name, &tag).await,
                _ => Err(SwrError::method_not_allowed()),
            }
        }
        P::V3Tags {
            namespace,
            repository,
        } if get => tags::list_v3(&cx, &repo_name(&namespace, &repository)?).await,
        _ => Err(SwrError::method_not_allowed()),
    }
}

/// The whole body, up to [`MAX_BODY`]: the signature covers it.
async fn read_body(parts: &Parts, body: Body) -> SwrResult<Bytes> {
    let too_large = || {
        SwrError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            error::TOO_LARGE,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let inner = e.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            too_large()
        } else {
            SwrError::invalid("body", format!("reading the request body failed: {inner}"))
        }
    })
}

/// The caller: a request signed by Huawei's SDK with an access key berth issued, or the
/// credentials every family takes (HTTP Basic, a Bearer token, SWR's `region@AK` login).
async fn authenticate(state: &AppState, parts: &Parts, body: &[u8]) -> SwrResult<Caller> {
    let auth = &state.services.auth;
    let signed = parts
        .headers
        .get(header::AUTHORIZATION)
        .filter(|v| auth.enabled() && v.as_bytes().starts_with(b"SDK-HMAC-SHA256"));
    let Some(value) = signed else {
        return caller::authenticate(state, parts)
            .await
            .map_err(SwrError::from);
    };
    let value = value
        .to_str()
        .map_err(|_| SwrError::from(caller::AuthError::Invalid("unreadable Authorization")))?;
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    let request = SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &headers,
        body,
    };
    let source = caller::source_of(state, parts);
    let identity = auth
        .sdk_signature(&request, value, source)
        .await
        .map_err(|e| SwrError::from(caller::AuthError::from(e)))?;
    Ok(Caller::new(identity).with_source(source))
}

/// `{namespace}/{repository}` as an OCI name.
fn repo_name(namespace: &str, repository: &str) -> SwrResult<RepoName> {
    format!("{namespace}/{repository}")
        .parse()
        .map_err(|e: berth_core::NameError| SwrError::invalid("repository", e))
}

/// The name of a repository inside its namespace (`team/app` of `group/team/app`).
fn short_name(name: &RepoName) -> &str {
    name.as_str()
        .split_once('/')
        .map_or(name.as_str(), |(_, rest)| rest)
}

/// SWR's time stamps: RFC 3339 in UTC with microseconds (`2020-10-30T11:35:02.939134Z`).
fn time(ms: i64) -> String {
    berth_core::time::rfc3339_micros(ms)
}

// ---- answers ----

/// A JSON answer with SWR's content type.
fn json(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(error::CONTENT_TYPE),
        )],
        value.to_string(),
    )
        .into_response()
}

/// What SWR answers to a create or update: `{}`.
fn created() -> Response {
    json(StatusCode::CREATED, &Value::Object(Default::default()))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A bare JSON array with `Content-Range: offset-count/total`.
fn ranged_list(items: Vec<Value>, offset: u64, total: u64) -> Response {
    let range = format!("{offset}-{}/{total}", items.len());
    let mut response = json(StatusCode::OK, &Value::Array(items));
    if let Ok(value) = HeaderValue::from_str(&range) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

// ---- query parameters ----

/// A query string as SWR's clients send it: `%XX` decoded (a `+` stays a `+`), every key at
/// most once, and `filter=key::value|key::value`, whose keys win over the parameters of the
/// same name.
#[derive(Debug, Default)]
struct Query {
    params: BTreeMap<String, String>,
    filter: BTreeMap<String, String>,
}

fn decode(raw: &str, what: &str) -> SwrResult<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SwrError::invalid(what, "not UTF-8"))
}

impl Query {
    fn parse(raw: Option<&str>) -> SwrResult<Query> {
        let mut query = Query::default();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key, "query")?;
            let value = decode(value, &key)?;
            if query.params.insert(key.clone(), value).is_some() {
                return Err(SwrError::invalid(&key, "given more than once"));
            }
        }
        if let Some(filter) = query.params.get("filter") {
            for part in filter.split('|').filter(|p| !p.is_empty()) {
                let (key, value) = part.split_once("::").ok_or_else(|| {
                    SwrError::invalid("filter", format!("{part:?} is not key::value"))
                })?;
                if query
                    .filter
                    .insert(key.to_owned(), value.to_owned())
                    .is_some()
                {
                    return Err(SwrError::invalid(
                        "filter",
                        format!("{key} given more than once"),
                    ));
                }
            }
        }
        Ok(query)
    }

    /// Refuses parameters (and filter keys) the endpoint does not know.
    fn allow(&self, params: &[&str], filter: &[&str]) -> SwrResult<()> {
        if let Some(key) = self
            .params
            .keys()
            .find(|k| k.as_str() != "filter" && !params.contains(&k.as_str()))
        {
            return Err(SwrError::invalid(key, "unknown query parameter"));
        }
        if self.params.contains_key("filter") && filter.is_empty() {
            return Err(SwrError::invalid("filter", "unknown query parameter"));
        }
        if let Some(key) = self.filter.keys().find(|k| !filter.contains(&k.as_str())) {
            return Err(SwrError::invalid("filter", format!("unknown key {key}")));
        }
        Ok(())
    }

    /// A parameter, the filter's value first; empty counts as absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.filter
            .get(key)
            .or_else(|| self.params.get(key))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A whole number parameter within `range`, else `default`.
    fn number(&self, key: &str, default: u64, max: u64) -> SwrResult<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(SwrError::invalid(
                    key,
                    format!("{v:?} is not a whole number from 0 to {max}"),
                )),
            },
        }
    }

    /// `order_type`: `desc` (the default) or `asc`.
    fn direction(&self) -> SwrResult<berth_service::Direction> {
        match self.get("order_type") {
            None | Some("desc") => Ok(berth_service::Direction::Desc),
            Some("asc") => Ok(berth_service::Direction::Asc),
            Some(v) => Err(SwrError::invalid(
                "order_type",
                format!("{v:?} is not desc or asc"),
            )),
        }
    }

    /// A boolean parameter (`true`/`false`).
    fn boolean(&self, key: &str) -> SwrResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(SwrError::invalid(
                key,
                format!("{v:?} is not true or false"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_like_the_sdk_encodes() {
        let q = Query::parse(Some(
            "filter=namespace%3A%3Aswrtest%7Cname%3A%3Aa%20b&limit=10&name=team%24app&x=a+b",
        ))
        .unwrap();
        assert_eq!(q.get("namespace"), Some("swrtest"));
        assert_eq!(q.get("name"), Some("a b"), "the filter wins");
        assert_eq!(q.get("limit"), Some("10"));
        assert_eq!(q.get("x"), Some("a+b"), "a + is not a space");
        assert!(q.allow(&["limit", "name"], &["namespace", "name"]).is_err());
        assert!(
            q.allow(&["limit", "name", "x"], &["namespace", "name"])
                .is_ok()
        );
        assert!(q.allow(&["limit", "name", "x"], &["namespace"]).is_err());
        assert!(Query::parse(Some("a=1&a=2")).is_err());
        assert!(Query::parse(Some("filter=oops")).is_err());
        assert!(Query::parse(Some("a=%ff")).is_err());
        let q = Query::parse(Some("limit=1001&offset=x&order_type=up")).unwrap();
        assert!(q.number("limit", 100, 1000).is_err());
        assert!(q.number("offset", 0, u64::MAX).is_err());
        assert!(q.direction().is_err());
        assert_eq!(q.number("other", 7, 10).unwrap(), 7);
    }

    #[test]
    fn short_names() {
        let name: RepoName = "group/team/app".parse().unwrap();
        assert_eq!(short_name(&name), "team/app");
    }
}
