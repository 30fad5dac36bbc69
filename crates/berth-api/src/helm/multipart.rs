//! Just enough `multipart/form-data` for chart uploads (fields `chart` and `prov`), over a
//! body already read whole (it is bounded by the chart size limit).

use bytes::Bytes;

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let essence = parts.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
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

/// The form's fields, by name, in order. `None` if the body is not well-formed.
pub fn fields(body: &Bytes, boundary: &str) -> Option<Vec<(String, Bytes)>> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut at = find(body, d, 0)? + d.len();
    let mut out = Vec::new();
    loop {
        // After a delimiter: `--` ends the form, else CRLF and a part.
        if body[at..].starts_with(b"--") {
            return Some(out);
        }
        at = skip_crlf(body, at)?;
        let headers_end = find(body, b"\r\n\r\n", at)?;
        let headers = std::str::from_utf8(&body[at..headers_end]).ok()?;
        let content_start = headers_end + 4;
        let next = find(body, d, content_start)?;
        // The part's content ends before the CRLF that precedes the delimiter.
        let content_end = next.checked_sub(2).filter(|&e| e >= content_start)?;
        if &body[content_end..next] != b"\r\n" {
            return None;
        }
        if let Some(name) = field_name(headers) {
            out.push((name, body.slice(content_start..content_end)));
        }
        at = next + d.len();
    }
}

fn skip_crlf(body: &[u8], at: usize) -> Option<usize> {
    body[at..].starts_with(b"\r\n").then_some(at + 2)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// `name="…"` of a part's Content-Disposition.
fn field_name(headers: &str) -> Option<String> {
    let disposition = headers.split("\r\n").find(|h| {
        h.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    disposition.split(';').find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_curl_forms() {
        let ct = "multipart/form-data; boundary=------------------------abc123";
        let b = boundary(ct).unwrap();
        let body = Bytes::from(format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"chart\"; filename=\"c.tgz\"\r\nContent-Type: application/octet-stream\r\n\r\nTGZ\r\nBYTES\r\n--{b}\r\nContent-Disposition: form-data; name=\"prov\"; filename=\"c.tgz.prov\"\r\n\r\nPROV\r\n--{b}--\r\n"
        ));
        let got = fields(&body, &b).unwrap();
        assert_eq!(got[0].0, "chart");
        assert_eq!(&got[0].1[..], b"TGZ\r\nBYTES");
        assert_eq!(got[1].0, "prov");
        assert_eq!(&got[1].1[..], b"PROV");
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(fields(&Bytes::from_static(b"garbage"), &b), None);
    }
}
