//! The paths below `/api/v1/repositories/`, where the repository's name holds slashes:
//! `{name}` alone is the repository, and what it holds comes after a `-` segment:
//!
//! ```text
//! /api/v1/repositories/{name}
//! /api/v1/repositories/{name}/-/artifacts
//! /api/v1/repositories/{name}/-/artifacts/{digest}
//! /api/v1/repositories/{name}/-/artifacts/{digest}/layers
//! /api/v1/repositories/{name}/-/tags
//! /api/v1/repositories/{name}/-/tags/{tag}
//! ```
//!
//! `-` can never be a component of a repository name (a component starts and ends with a
//! letter or digit), so the first `/-/` ends the name, whatever the name is: `team/tags` and
//! `team/tags/tags/v1` are both repositories, and `team/tags/-/tags/v1` is a tag. (Matching
//! suffixes from the right, as `/v2` must, cannot tell `team/tags/tags/v1` the repository
//! from tag `v1` of `team/tags`.) Slashes may also be sent as `%2F`.

use berth_core::{Digest, RepoName, Tag};

use super::error::NativeError;

/// What a path below `/api/v1/repositories/` addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoRoute {
    Repository(RepoName),
    Artifacts(RepoName),
    Artifact(RepoName, Digest),
    ArtifactLayers(RepoName, Digest),
    Tags(RepoName),
    Tag(RepoName, Tag),
}

impl RepoRoute {
    /// The route template, for the access log and the OpenAPI document.
    pub fn template(&self) -> &'static str {
        match self {
            RepoRoute::Repository(_) => "/api/v1/repositories/{name}",
            RepoRoute::Artifacts(_) => "/api/v1/repositories/{name}/-/artifacts",
            RepoRoute::Artifact(..) => "/api/v1/repositories/{name}/-/artifacts/{digest}",
            RepoRoute::ArtifactLayers(..) => {
                "/api/v1/repositories/{name}/-/artifacts/{digest}/layers"
            }
            RepoRoute::Tags(_) => "/api/v1/repositories/{name}/-/tags",
            RepoRoute::Tag(..) => "/api/v1/repositories/{name}/-/tags/{tag}",
        }
    }

    /// Parses the path after `/api/v1/repositories/` (still percent-encoded).
    pub fn parse(rest: &str) -> Result<RepoRoute, NativeError> {
        let decoded = percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .map_err(|_| NativeError::invalid("name", "the path is not UTF-8"))?;
        let (name, sub) = match decoded.split_once("/-/") {
            Some((name, sub)) => (name, Some(sub)),
            None => (&*decoded, None),
        };
        let name: RepoName = name
            .parse()
            .map_err(|e: berth_core::NameError| NativeError::invalid("name", e.to_string()))?;
        let Some(sub) = sub else {
            return Ok(RepoRoute::Repository(name));
        };
        let parts: Vec<&str> = sub.split('/').collect();
        let digest = |s: &str| {
            s.parse::<Digest>()
                .map_err(|e| NativeError::invalid("digest", e.to_string()))
        };
        let tag = |s: &str| {
            s.parse::<Tag>()
                .map_err(|e: berth_core::NameError| NativeError::invalid("tag", e.to_string()))
        };
        Ok(match parts.as_slice() {
            ["artifacts"] | ["artifacts", ""] => RepoRoute::Artifacts(name),
            ["artifacts", d] => RepoRoute::Artifact(name, digest(d)?),
            ["artifacts", d, "layers"] => RepoRoute::ArtifactLayers(name, digest(d)?),
            ["tags"] | ["tags", ""] => RepoRoute::Tags(name),
            ["tags", t] => RepoRoute::Tag(name, tag(t)?),
            _ => return Err(NativeError::no_endpoint()),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn name(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    #[test]
    fn names_with_slashes_and_reserved_words() {
        let d = Digest::sha256(b"x");
        let cases = [
            ("team/app", RepoRoute::Repository(name("team/app"))),
            (
                "team/tags/tags/v1",
                RepoRoute::Repository(name("team/tags/tags/v1")),
            ),
            ("team%2Fapp", RepoRoute::Repository(name("team/app"))),
            ("team/app/-/tags", RepoRoute::Tags(name("team/app"))),
            ("team/app/-/tags/", RepoRoute::Tags(name("team/app"))),
            (
                "team/tags/-/tags/v1",
                RepoRoute::Tag(name("team/tags"), "v1".parse().unwrap()),
            ),
            ("a/b/c/-/artifacts", RepoRoute::Artifacts(name("a/b/c"))),
            (
                &format!("a/artifacts/-/artifacts/{d}"),
                RepoRoute::Artifact(name("a/artifacts"), d.clone()),
            ),
            (
                &format!("a/-/artifacts/{}/layers", d.as_str().replace(':', "%3A")),
                RepoRoute::ArtifactLayers(name("a"), d.clone()),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(RepoRoute::parse(path).unwrap(), want, "{path}");
        }
    }

    #[test]
    fn bad_paths_name_what_is_wrong() {
        let target = |p: &str| RepoRoute::parse(p).unwrap_err().target;
        assert_eq!(target("Team/App").as_deref(), Some("name"));
        assert_eq!(target("").as_deref(), Some("name"));
        assert_eq!(target("a//b").as_deref(), Some("name"));
        assert_eq!(target("a/-/tags/bad tag").as_deref(), Some("tag"));
        assert_eq!(target("a/-/artifacts/sha256:zz").as_deref(), Some("digest"));
        assert_eq!(target("a/-/other"), None);
        assert_eq!(target("a/-/tags/v1/more"), None);
        assert_eq!(target("a/%ff").as_deref(), Some("name"));
    }

    proptest! {
        /// Every valid name and tag comes back out of the path made from them.
        #[test]
        fn round_trips(
            components in proptest::collection::vec("[a-z0-9]{1,4}((\\.|_|__|-+)[a-z0-9]{1,4}){0,2}", 1..5),
            tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        ) {
            let repo = components.join("/");
            let Ok(parsed) = repo.parse::<RepoName>() else { return Ok(()); };
            prop_assert_eq!(RepoRoute::parse(&repo).unwrap(), RepoRoute::Repository(parsed.clone()));
            prop_assert_eq!(RepoRoute::parse(&format!("{repo}/-/tags")).unwrap(), RepoRoute::Tags(parsed.clone()));
            let t: Tag = tag.parse().unwrap();
            prop_assert_eq!(
                RepoRoute::parse(&format!("{repo}/-/tags/{tag}")).unwrap(),
                RepoRoute::Tag(parsed, t)
            );
        }
    }
}
