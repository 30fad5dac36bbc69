//! The one `multipart/form-data` field helm-registry's uploads carry (`chartfile`), over a
//! body already read whole (bounded by the chart size limit).

use bytes::Bytes;

/// The boundary of a `multipart/form-data` Content-Type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// The content of the form field `name`: `Err(())` if the body is not a well-formed form,
/// `Ok(None)` if the form has no such field.
#[allow(clippy::result_unit_err)]
pub fn field(body: &Bytes, boundary: &str, name: &str) -> Result<Option<Bytes>, ()> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut at = find(body, d, 0).ok_or(())? + d.len();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(None);
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(());
        }
        at += 2;
        let headers_end = find(body, b"\r\n\r\n", at).ok_or(())?;
        let headers = std::str::from_utf8(&body[at..headers_end]).map_err(|_| ())?;
        let start = headers_end + 4;
        let next = find(body, d, start).ok_or(())?;
        let end = next.checked_sub(2).filter(|&e| e >= start).ok_or(())?;
        if &body[end..next] != b"\r\n" {
            return Err(());
        }
        if field_name(headers).as_deref() == Some(name) {
            return Ok(Some(body.slice(start..end)));
        }
        at = next + d.len();
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() || needle.is_empty() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The `name` of a part's `Content-Disposition: form-data; name="…"`.
fn field_name(headers: &str) -> Option<String> {
    headers.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        value.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k.trim() == "name").then(|| v.trim().trim_matches('"').to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field() {
        let body = Bytes::from_static(
            b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nno\r\n--XX\r\nContent-Disposition: form-data; name=\"chartfile\"; filename=\"a.tgz\"\r\nContent-Type: application/gzip\r\n\r\n\x1f\x8b\r\ndata\r\n--XX--\r\n",
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XX\"").as_deref(),
            Some("XX")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(
            field(&body, "XX", "chartfile").unwrap().unwrap(),
            Bytes::from_static(b"\x1f\x8b\r\ndata")
        );
        assert_eq!(field(&body, "XX", "missing").unwrap(), None);
        assert!(field(&Bytes::from_static(b"garbage"), "XX", "chartfile").is_err());
    }
}
