//! Registry tokens: JWTs signed with HMAC-SHA256 under a key every replica shares, with the
//! Docker token spec's `access` claim. berth issues and verifies its own tokens, so a shared
//! symmetric key is all it needs; clients never look inside.

use serde::{Deserialize, Serialize};

use super::crypto::{b64url, b64url_decode, constant_time_eq, hmac_sha256};

/// One entry of the `access` claim: `{"type":"repository","name":"ns/app","actions":["pull"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user the token was issued to; empty for an anonymous token.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<Access>,
    /// The credential the token was issued for (a token's id), if not a password: its
    /// revocation ends the token too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred: Option<String>,
    /// `iat` in milliseconds, to compare with credential changes exactly.
    #[serde(default)]
    pub iat_ms: i64,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn sign(key: &[u8], claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialize");
    let signing_input = format!("{}.{}", b64url(HEADER.as_bytes()), b64url(&payload));
    let signature = hmac_sha256(key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&signature))
}

/// The claims of a token signed with `key` that is valid at `now` (seconds); `None` for
/// anything else.
pub fn verify(key: &[u8], token: &str, now: i64) -> Option<Claims> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let signature = b64url_decode(signature)?;
    let expected = hmac_sha256(key, signing_input.as_bytes());
    if !constant_time_eq(&signature, &expected) {
        return None;
    }
    let header: serde_json::Value = serde_json::from_slice(&b64url_decode(header)?).ok()?;
    if header.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    (claims.nbf <= now + 60 && now < claims.exp).then_some(claims)
}

/// Whether `token` has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let key = b"0123456789abcdef0123456789abcdef";
        let claims = Claims {
            iss: "berth".into(),
            sub: "alice".into(),
            aud: "berth".into(),
            exp: 2000,
            nbf: 1000,
            iat: 1000,
            jti: "j1".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "ns/app".into(),
                actions: vec!["pull".into()],
            }],
            cred: None,
            iat_ms: 1_000_000,
        };
        let token = sign(key, &claims);
        assert!(looks_like_jwt(&token));
        assert_eq!(verify(key, &token, 1500), Some(claims.clone()));
        assert_eq!(verify(key, &token, 2000), None, "expired");
        assert_eq!(verify(b"another key", &token, 1500), None);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64url(br#"{"iss":"berth","sub":"root","aud":"berth","exp":9999,"nbf":0,"iat":0,"jti":"x","access":[]}"#);
        parts[1] = &forged;
        assert_eq!(verify(key, &parts.join("."), 1500), None);
        assert_eq!(verify(key, "a.b", 1500), None);
        assert_eq!(verify(key, "", 1500), None);
    }
}
