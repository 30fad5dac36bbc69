//! Who is asking, and what for: the caller, permission levels and the resources they apply
//! to. Pure types; the policy that decides lives in berth-service's access service.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::name::{NamespaceName, RepoName};

/// A namespace member's level, with SWR's numbers (its `auth` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Pull and browse.
    Read = 1,
    /// Read, and push.
    Write = 3,
    /// Write, and delete, change settings and members.
    Manage = 7,
}

impl Level {
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// The level of a stored or wire number: exactly 1, 3 or 7.
    pub fn from_i64(n: i64) -> Option<Level> {
        match n {
            1 => Some(Level::Read),
            3 => Some(Level::Write),
            7 => Some(Level::Manage),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Manage => "manage",
        }
    }

    /// Parses `read|write|manage` or `1|3|7`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read" | "1" => Some(Level::Read),
            "write" | "3" => Some(Level::Write),
            "manage" | "7" => Some(Level::Manage),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a registry request wants to do to a repository, in Docker token scope terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    /// The name Docker token scopes use (`repository:<name>:<action>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// The namespace level the action needs.
    pub fn level(self) -> Level {
        match self {
            Action::Pull => Level::Read,
            Action::Push => Level::Write,
            Action::Delete => Level::Manage,
        }
    }
}

/// What a request touches. Every route of every API family resolves to one of these and a
/// [`Level`], which the access service decides on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The registry as a whole: `GET /v2/`, listings filtered per caller.
    Registry,
    /// A namespace and its settings and members (creating one is `Admin`-level unless
    /// configured otherwise).
    Namespace(NamespaceName),
    /// A repository and what it holds.
    Repository(RepoName),
    /// External registries and Helm repositories, globally or of one namespace.
    Remote(Option<NamespaceName>),
    /// Users, tokens, configuration.
    Admin,
}

impl Resource {
    /// The namespace the resource belongs to, if any.
    pub fn namespace(&self) -> Option<NamespaceName> {
        match self {
            Resource::Namespace(ns) => Some(ns.clone()),
            Resource::Repository(repo) => Some(NamespaceName::of(repo)),
            Resource::Remote(ns) => ns.clone(),
            Resource::Registry | Resource::Admin => None,
        }
    }
}

/// A resource and the level a request needs on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub resource: Resource,
    pub level: Level,
}

impl Scope {
    pub fn new(resource: Resource, level: Level) -> Scope {
        Scope { resource, level }
    }

    pub fn repository(name: RepoName, action: Action) -> Scope {
        Scope::new(Resource::Repository(name), action.level())
    }
}

/// One grant of a registry token: actions on a repository (or, for `registry:catalog:*`,
/// on the registry), as the Docker token spec's `access` claim lists them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    /// `None`: the registry itself (the catalog).
    pub repository: Option<RepoName>,
    pub actions: Vec<Action>,
}

impl Grant {
    /// Whether the grant covers `level` on `resource`.
    pub fn covers(&self, resource: &Resource, level: Level) -> bool {
        match (resource, &self.repository) {
            (Resource::Repository(name), Some(granted)) if name == granted => {
                self.actions.iter().any(|a| a.level() >= level)
            }
            (Resource::Registry, None) => true,
            _ => false,
        }
    }
}

/// Who is calling, as authentication established it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Identity {
    /// No credentials.
    #[default]
    Anonymous,
    /// A user that proved who it is (with a password, or a token of its own).
    User {
        name: String,
        admin: bool,
        /// What the credential it used is limited to (a token scoped to a namespace and
        /// level); `None` when it carries all of the user's rights.
        limit: Option<(NamespaceName, Level)>,
    },
    /// A robot account: `level` in `namespace`, nothing elsewhere (but what is public).
    Robot {
        name: String,
        namespace: NamespaceName,
        level: Level,
    },
    /// The bearer of a registry token: exactly what the token grants, decided when it was
    /// issued (`subject` is the user it was issued to, if any).
    Granted {
        subject: Option<String>,
        grants: Arc<[Grant]>,
    },
}

/// The caller of a request: who, and from where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub identity: Identity,
    /// The client's address, as far as berth can tell.
    pub source: Option<IpAddr>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    pub fn new(identity: Identity) -> Caller {
        Caller {
            identity,
            source: None,
        }
    }

    pub fn user(name: impl Into<String>) -> Caller {
        Caller::new(Identity::User {
            name: name.into(),
            admin: false,
            limit: None,
        })
    }

    pub fn admin(name: impl Into<String>) -> Caller {
        Caller::new(Identity::User {
            name: name.into(),
            admin: true,
            limit: None,
        })
    }

    pub fn with_source(mut self, source: Option<IpAddr>) -> Caller {
        self.source = source;
        self
    }

    /// The user's (or robot's) name; `None` when anonymous.
    pub fn name(&self) -> Option<&str> {
        match &self.identity {
            Identity::Anonymous => None,
            Identity::User { name, .. } | Identity::Robot { name, .. } => Some(name),
            Identity::Granted { subject, .. } => subject.as_deref(),
        }
    }

    /// The name recorded as creator or pusher: the user's, or `anonymous`.
    pub fn display_name(&self) -> &str {
        self.name().unwrap_or("anonymous")
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.identity, Identity::User { admin: true, .. })
    }

    pub fn is_anonymous(&self) -> bool {
        self.name().is_none()
    }

    /// The client's address for logs and the audit log.
    pub fn source_text(&self) -> String {
        self.source
            .map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_actions() {
        assert!(Level::Read < Level::Write && Level::Write < Level::Manage);
        for l in [Level::Read, Level::Write, Level::Manage] {
            assert_eq!(Level::from_i64(l.as_i64()), Some(l));
            assert_eq!(Level::parse(l.as_str()), Some(l));
        }
        assert_eq!(Level::from_i64(2), None);
        assert_eq!(Action::Push.level(), Level::Write);
        assert_eq!(Action::Delete.level(), Level::Manage);
        let repo: RepoName = "ns/app".parse().unwrap();
        assert_eq!(
            Resource::Repository(repo).namespace().unwrap().as_str(),
            "ns"
        );
        assert_eq!(Caller::default().display_name(), "anonymous");
        assert!(Caller::admin("root").is_admin());
        let repo: RepoName = "ns/app".parse().unwrap();
        let grant = Grant {
            repository: Some(repo.clone()),
            actions: vec![Action::Pull],
        };
        assert!(grant.covers(&Resource::Repository(repo.clone()), Level::Read));
        assert!(!grant.covers(&Resource::Repository(repo), Level::Write));
        assert!(!grant.covers(&Resource::Registry, Level::Read));
    }
}
