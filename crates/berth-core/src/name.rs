//! Repository names, tags and references, validated against the OCI distribution grammar.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The longest repository name berth accepts (distribution's limit).
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("invalid repository name {0:?}")]
    InvalidName(String),
    #[error("invalid namespace name {0:?}")]
    InvalidNamespace(String),
    #[error("invalid upload id {0:?}")]
    InvalidUploadId(String),
    #[error("invalid tag {0:?}")]
    InvalidTag(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

fn truncated(s: &str) -> String {
    s.chars().take(300).collect()
}

/// A repository name: `path-component(/path-component)*`, where a component is
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component: the namespace the repository lives in.
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The name below the namespace (`team/app` of `ns/team/app`); empty for a name of one
    /// component.
    pub fn path_in_namespace(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, rest)| rest)
    }

    /// `namespace/rest`, validated.
    pub fn join(namespace: &NamespaceName, rest: &str) -> Result<RepoName, NameError> {
        format!("{namespace}/{rest}").parse()
    }
}

/// A namespace: the first component of every repository name inside it, with the same
/// grammar as one path component, at most 64 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceName(String);

/// The longest namespace name berth accepts.
pub const MAX_NAMESPACE_LEN: usize = 64;

impl NamespaceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace of a repository (always valid: the first component of a valid name).
    pub fn of(repo: &RepoName) -> NamespaceName {
        NamespaceName(repo.namespace().to_owned())
    }
}

impl FromStr for NamespaceName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        if s.len() > MAX_NAMESPACE_LEN || !valid_component(s) {
            return Err(NameError::InvalidNamespace(truncated(s)));
        }
        Ok(NamespaceName(s.to_owned()))
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamespaceName({})", self.0)
    }
}

/// An upload session id: `[A-Za-z0-9-]{1,64}`, the grammar storage keys accept, so that an
/// id can never address another key or break a header it is written into.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UploadId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(NameError::InvalidUploadId(truncated(s)));
        }
        Ok(UploadId(s.to_owned()))
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadId({})", self.0)
    }
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", then an alnum must follow.
        let run_start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == run_start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

impl FromStr for RepoName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > MAX_NAME_LEN || !s.split('/').all(valid_component) {
            return Err(NameError::InvalidName(truncated(s)));
        }
        Ok(RepoName(s.to_owned()))
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoName({})", self.0)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b[1..]
                .iter()
                .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
        if !ok {
            return Err(NameError::InvalidTag(truncated(s)));
        }
        Ok(Tag(s.to_owned()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

/// What follows `/manifests/`: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        for good in [
            "a",
            "library/ubuntu",
            "a/b/c/d",
            "my-app",
            "my--app",
            "my_app",
            "my__app",
            "my.app",
            "team/blobs",
            "x/manifests/y",
            "0",
        ] {
            assert!(good.parse::<RepoName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "A",
            "a//b",
            "/a",
            "a/",
            "-a",
            "a-",
            "a___b",
            "a..b",
            "a._b",
            "a b",
            "ä",
            &"a".repeat(256),
        ] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
        assert_eq!(
            "team/app/x".parse::<RepoName>().unwrap().namespace(),
            "team"
        );
    }

    #[test]
    fn tags_and_references() {
        assert!("latest".parse::<Tag>().is_ok());
        assert!("_v1.0-rc.1".parse::<Tag>().is_ok());
        assert!("V1".parse::<Tag>().is_ok());
        assert!(".hidden".parse::<Tag>().is_err());
        assert!("-x".parse::<Tag>().is_err());
        assert!("a/b".parse::<Tag>().is_err());
        assert!("x".repeat(129).parse::<Tag>().is_err());
        assert!("x".repeat(128).parse::<Tag>().is_ok());
        assert!(matches!(
            "latest".parse::<Reference>(),
            Ok(Reference::Tag(_))
        ));
        assert!(matches!(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse::<Reference>(),
            Ok(Reference::Digest(_))
        ));
        assert!("sha256:zz".parse::<Reference>().is_err());
    }

    #[test]
    fn namespaces_and_upload_ids() {
        assert!("team".parse::<NamespaceName>().is_ok());
        assert!("a/b".parse::<NamespaceName>().is_err());
        assert!("Team".parse::<NamespaceName>().is_err());
        assert!("x".repeat(65).parse::<NamespaceName>().is_err());
        let repo: RepoName = "ns/team/app".parse().unwrap();
        assert_eq!(NamespaceName::of(&repo).as_str(), "ns");
        assert_eq!(repo.path_in_namespace(), "team/app");
        assert!("0a-1".parse::<UploadId>().is_ok());
        for bad in ["", "\n", "a/b", "a b", "%0A", "\u{e9}"] {
            assert!(bad.parse::<UploadId>().is_err(), "{bad:?}");
        }
        assert!("x".repeat(65).parse::<UploadId>().is_err());
    }

    proptest! {
        #[test]
        fn generated_names_parse(parts in proptest::collection::vec("[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,2}", 1..5)) {
            let name = parts.join("/");
            prop_assume!(name.len() <= MAX_NAME_LEN);
            prop_assert!(name.parse::<RepoName>().is_ok(), "{}", name);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<RepoName>();
            let _ = s.parse::<Reference>();
        }
    }
}
