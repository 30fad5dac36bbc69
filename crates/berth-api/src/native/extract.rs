//! Reading requests strictly: JSON bodies (size limit, `deny_unknown_fields`, the failing
//! field named), query strings (unknown parameters refused), path segments, and paging. Every
//! refusal is a [`NativeError`] in the one shape, before any service is called.

use axum::extract::{FromRequest, FromRequestParts, Request};
use berth_service::Page;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::error::{ErrorCode, NativeError};
use crate::AppState;

/// The largest request body read: every native request is a small JSON object.
pub const MAX_BODY: usize = 64 * 1024;
/// Page size when `limit` is not given, and the largest one allowed.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 1000;

/// The field a serde error names: its path, or the field of an unknown/missing-field message
/// at the top level; `fallback` when neither tells.
fn failing_field(path: &serde_path_to_error::Path, message: &str, fallback: &str) -> String {
    let path = path.to_string();
    // `.` is the top level, `?` a position serde_path_to_error could not name.
    if path != "." && path != "?" && !path.is_empty() {
        return path;
    }
    for lead in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(lead)
            && let Some((name, _)) = rest.split_once('`')
        {
            return name.to_owned();
        }
    }
    fallback.to_owned()
}

/// Parses a JSON object into `T`, naming the failing field. (Only an object: serde would
/// also fill a struct from an array, by position.)
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NativeError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(NativeError::invalid(
            "body",
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match parsed {
        Ok(value) => {
            de.end()
                .map_err(|e| NativeError::invalid("body", format!("invalid JSON body: {e}")))?;
            Ok(value)
        }
        Err(e) => {
            let inner = e.inner().to_string();
            let field = failing_field(e.path(), &inner, "body");
            Err(NativeError::invalid(
                field,
                format!("invalid JSON body: {inner}"),
            ))
        }
    }
}

/// Parses a JSON body that must be there.
pub fn required_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NativeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(NativeError::invalid("body", "a JSON body is required"));
    }
    parse_json(bytes)
}

/// Refuses a body that says it is something other than JSON (a missing type is taken as
/// JSON, so `curl -d` without a header works).
fn check_content_type(headers: &HeaderMap) -> Result<(), NativeError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(
        NativeError::new(ErrorCode::UnsupportedMediaType, "the body must be JSON")
            .with_target("content-type"),
    )
}

fn too_large() -> NativeError {
    NativeError::new(
        ErrorCode::TooLarge,
        format!("the request body is larger than the limit of {MAX_BODY} bytes"),
    )
    .with_target("body")
}

/// The body's bytes, at most [`MAX_BODY`].
pub async fn read_body(headers: &HeaderMap, body: axum::body::Body) -> Result<Bytes, NativeError> {
    check_content_type(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(NativeError::invalid(
            "body",
            format!("reading the request body failed: {e}"),
        )),
    }
}

/// A JSON body, strictly parsed.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = NativeError;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, NativeError> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts.headers, body).await?;
        required_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out (an empty body is `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = NativeError;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, NativeError> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts.headers, body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// Parses a query string into `T` (whose `deny_unknown_fields` refuses unknown parameters).
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, NativeError> {
    let query = query.unwrap_or("");
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner().to_string();
        let field = failing_field(e.path(), &inner, "query");
        NativeError::invalid(
            field.clone(),
            format!("invalid query parameter {field}: {inner}"),
        )
    })
}

/// The query string's parameters.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Params<T> {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, NativeError> {
        parse_query(parts.uri.query()).map(Params)
    }
}

/// Path parameters, with a refusal in the one shape.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for PathParams<T> {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NativeError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e| NativeError::invalid("path", e.body_text()))
    }
}

/// `limit` and `offset` of a listing, checked: `limit` from 1 to [`MAX_LIMIT`] (default
/// [`DEFAULT_LIMIT`]), `offset` not negative.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<Page, NativeError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => {
            return Err(NativeError::invalid(
                "limit",
                format!("limit must be from 1 to {MAX_LIMIT}"),
            ));
        }
    };
    let offset = match offset {
        None => 0,
        Some(n) if n >= 0 => n as u64,
        Some(_) => {
            return Err(NativeError::invalid(
                "offset",
                "offset must not be negative",
            ));
        }
    };
    Ok(Page { offset, limit })
}

/// A search term: refused when empty or longer than a name can be.
pub fn search(term: Option<String>) -> Result<Option<String>, NativeError> {
    match term {
        Some(t) if t.is_empty() || t.len() > 255 || t.chars().any(char::is_control) => Err(
            NativeError::invalid("search", "search must be 1 to 255 printable characters"),
        ),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"name": "a", "bogus": 1}"#).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("bogus"), "{e:?}");
        let e = parse_json::<Body>(br#"{"count": 1}"#).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("name"), "{e:?}");
        let e = parse_json::<Body>(br#"{"name": "a", "count": -1}"#).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("count"), "{e:?}");
        let e = parse_json::<Body>(br#"{"name": "a"} trailing"#).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("body"), "{e:?}");
        let e = parse_json::<Body>(b"[1,2]").unwrap_err();
        assert_eq!(e.target.as_deref(), Some("body"), "{e:?}");
        assert_eq!(
            parse_json::<Body>(br#"{"name": "a"}"#).unwrap(),
            Body {
                name: "a".into(),
                count: 0
            }
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        limit: Option<i64>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let e = parse_query::<Query>(Some("limit=x")).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("limit"), "{e:?}");
        let e = parse_query::<Query>(Some("limt=1")).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("limt"), "{e:?}");
        assert_eq!(parse_query::<Query>(None).unwrap().limit, None);
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(1001), None).is_err());
        assert!(page(None, Some(-1)).is_err());
        assert_eq!(page(None, None).unwrap().limit, DEFAULT_LIMIT);
    }
}
