//! How an upstream wants to be logged in to: its `WWW-Authenticate` challenge (Basic, or a
//! Bearer challenge naming a token endpoint), remembered per registry and user so later
//! requests authenticate at once, and the tokens of the Docker token flow, cached per scope
//! until shortly before they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry asked for (none for `/v2/`).
        scope: Option<String>,
    },
}

/// Parses the first challenge Berth can answer from a `WWW-Authenticate` value: `Basic
/// realm="..."` or `Bearer realm="...",service="...",scope="..."` (quoted values may hold
/// commas: `scope="repository:a:pull,push"`).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (value, ""),
    };
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm").filter(|r| !r.is_empty())?,
        service: get("service"),
        scope: get("scope").filter(|s| !s.is_empty()),
    })
}

/// `key=value` or `key="quoted, \"value\""` pairs separated by commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_owned();
            }
        }
        out.push((key.trim().to_owned(), value));
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// What berth remembers about how to log in to a registry as a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct TokenKey {
    /// The registry's base URL and the user (empty: anonymous).
    login: String,
    scope: String,
}

/// Login schemes by registry and user, and tokens by scope. Both are plain maps behind a
/// mutex that is never held across an await: a slow token endpoint blocks nobody else.
#[derive(Default)]
pub struct AuthCache {
    schemes: Mutex<HashMap<String, Scheme>>,
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

/// Tokens are used until this share of their life is left.
const EXPIRY_MARGIN: f64 = 0.1;
/// At most this many tokens are kept (the oldest expiring go first when full).
const MAX_TOKENS: usize = 4096;

impl AuthCache {
    pub fn scheme(&self, login: &str) -> Option<Scheme> {
        self.schemes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(login)
            .cloned()
    }

    pub fn set_scheme(&self, login: &str, scheme: Scheme) {
        let mut schemes = self.schemes.lock().unwrap_or_else(|e| e.into_inner());
        if schemes.len() >= MAX_TOKENS {
            schemes.clear();
        }
        schemes.insert(login.to_owned(), scheme);
    }

    pub fn token(&self, login: &str, scope: &str) -> Option<String> {
        let key = TokenKey {
            login: login.to_owned(),
            scope: scope.to_owned(),
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        match tokens.get(&key) {
            Some((token, until)) if *until > Instant::now() => Some(token.clone()),
            Some(_) => {
                tokens.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps a token for `expires_in` less the margin (not at all when that leaves nothing).
    pub fn put_token(&self, login: &str, scope: &str, token: String, expires_in: Duration) {
        let keep = expires_in.mul_f64(1.0 - EXPIRY_MARGIN);
        if keep < Duration::from_secs(1) {
            return;
        }
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, (_, until)| *until > now);
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(
            TokenKey {
                login: login.to_owned(),
                scope: scope.to_owned(),
            },
            (token, now + keep),
        );
    }

    pub fn forget_token(&self, login: &str, scope: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&TokenKey {
                login: login.to_owned(),
                scope: scope.to_owned(),
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry Realm\""),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("basic"), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",\
                 scope=\"repository:library/nginx:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge("Bearer realm=http://h/t, service=berth"),
            Some(Challenge::Bearer {
                realm: "http://h/t".into(),
                service: Some("berth".into()),
                scope: None,
            })
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="http://h/\"q\"",error="insufficient_scope""#),
            Some(Challenge::Bearer {
                realm: "http://h/\"q\"".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn tokens_expire_early() {
        let cache = AuthCache::default();
        cache.put_token("r u", "s", "t1".into(), Duration::from_secs(60));
        assert_eq!(cache.token("r u", "s").as_deref(), Some("t1"));
        assert_eq!(cache.token("r u", "other"), None);
        assert_eq!(cache.token("r v", "s"), None);
        cache.put_token("r u", "short", "t2".into(), Duration::from_millis(900));
        assert_eq!(cache.token("r u", "short"), None);
        cache.forget_token("r u", "s");
        assert_eq!(cache.token("r u", "s"), None);
        cache.set_scheme("r u", Scheme::Basic);
        assert_eq!(cache.scheme("r u"), Some(Scheme::Basic));
    }
}
