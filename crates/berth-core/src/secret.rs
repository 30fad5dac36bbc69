//! A configuration value that must never reach a log: keys, passwords, URLs with passwords.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What `Debug`, `Display` and `Serialize` write instead of a secret that is set.
pub const REDACTED: &str = "***";

/// A secret string. `Debug`, `Display` and `Serialize` show [`REDACTED`] (or nothing when it
/// is empty, so that "not set" stays visible); only [`Secret::expose`] gives the value, so
/// every use of it can be found by that name. It deserializes from a plain string.
///
/// Not `secrecy::SecretString`: configuration structs need `Clone`, `PartialEq` and a
/// redacted `Serialize` (the effective configuration is shown from its serialized form),
/// which `SecretString` does not offer for strings, and zeroing memory on drop buys
/// nothing here: the same values sit in the environment and in the S3 client's own
/// `String`s for the life of the process.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a client, a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.0.is_empty() { "" } else { REDACTED }
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.shown())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

/// Serialized redacted: a serialized configuration is for showing, never for reading back.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown_except_by_expose() {
        let secret: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "Secret(\"***\")");
        assert!(!format!("{secret:#?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        let unset = Secret::default();
        assert!(unset.is_empty());
        assert_eq!(format!("{unset}"), "");
        assert_eq!(serde_json::to_string(&unset).unwrap(), "\"\"");
        assert_eq!(Secret::from("a"), Secret::new("a".to_owned()));
    }
}
