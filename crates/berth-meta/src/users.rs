//! Users, their credentials, settings every replica shares, and the audit log: the records
//! and the two traits ([`UserStore`], [`AuditStore`]).

use async_trait::async_trait;
use berth_core::Level;

use crate::{Listed, Page, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UserKind {
    #[default]
    User,
    /// Acts in one namespace with one level, with a secret instead of a password.
    Robot,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::User => "user",
            UserKind::Robot => "robot",
        }
    }

    pub fn parse(s: &str) -> Option<UserKind> {
        match s {
            "user" => Some(UserKind::User),
            "robot" => Some(UserKind::Robot),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub kind: UserKind,
    /// A robot's namespace and level.
    pub robot: Option<(String, Level)>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub kind: UserKind,
    pub robot: Option<(String, Level)>,
    pub expires_at: Option<i64>,
    pub disabled: bool,
    pub credentials_changed_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Changes to a user; `None` keeps a field. A new password, disabling the user or taking
/// administration away also moves `credentials_changed_at`, which ends the login tokens
/// issued before (and what replicas verified before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub password_hash: Option<String>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A personal access token (also a Docker Cloud API key).
    Token,
    /// A robot account's secret.
    Robot,
    /// An AK/SK pair for SWR's request signatures and docker login.
    AccessKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Token => "token",
            CredentialKind::Robot => "robot",
            CredentialKind::AccessKey => "access_key",
        }
    }

    pub fn parse(s: &str) -> Option<CredentialKind> {
        match s {
            "token" => Some(CredentialKind::Token),
            "robot" => Some(CredentialKind::Robot),
            "access_key" => Some(CredentialKind::AccessKey),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// The public part (a token's id, an access key's AK).
    pub id: String,
    pub user_id: i64,
    pub kind: CredentialKind,
    pub name: String,
    pub secret_hash: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    /// What it is limited to; `None` carries all of its user's rights.
    pub limit: Option<(String, Level)>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub id: String,
    pub user_id: i64,
    pub user_name: String,
    pub kind: CredentialKind,
    pub name: String,
    pub secret_hash: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    pub limit: Option<(String, Level)>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

/// Changes since a moment that end login tokens at once on every replica: credentials
/// revoked, and users whose credentials changed (or who were deleted: they are gone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialChanges {
    pub revoked: Vec<String>,
    /// User name and when its credentials changed.
    pub users: Vec<(String, i64)>,
}

/// Users, credentials and shared settings.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates a user; [`crate::MetaError::AlreadyExists`] if the name is taken.
    async fn create_user(&self, user: &NewUser) -> Result<UserRow>;

    async fn get_user(&self, name: &str) -> Result<Option<UserRow>>;

    /// Users (and robots) by name, with the total.
    async fn list_users(&self, kind: Option<UserKind>, page: Page) -> Result<Listed<UserRow>>;

    async fn update_user(&self, name: &str, update: &UserUpdate) -> Result<Option<UserRow>>;

    /// Deletes a user and its credentials. Returns whether it existed.
    async fn delete_user(&self, name: &str) -> Result<bool>;

    async fn create_credential(&self, credential: &NewCredential) -> Result<CredentialRow>;

    async fn get_credential(&self, id: &str) -> Result<Option<CredentialRow>>;

    async fn list_credentials(&self, user_id: i64) -> Result<Vec<CredentialRow>>;

    /// Marks a credential revoked (once). Returns whether it was live.
    async fn revoke_credential(&self, id: &str, at: i64) -> Result<bool>;

    /// Records a use (at most once a minute is enough; callers throttle).
    async fn touch_credential(&self, id: &str, at: i64) -> Result<()>;

    /// Revocations and credential changes at or after `since` (ms).
    async fn credential_changes(&self, since: i64) -> Result<CredentialChanges>;

    /// The setting `name`, set to `value` first if it has none; replicas racing to set it
    /// all get the one that won.
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>>;
}

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    /// Who: a user name, `anonymous`, or the name a failed login tried.
    pub actor: String,
    /// What: `login`, `push`, `delete`, `member.put`, `token.create`, ...
    pub action: String,
    /// On what: a repository, namespace, user or token.
    pub resource: String,
    /// From where: the client's address.
    pub source: String,
    /// `ok`, `denied`, `failed`.
    pub result: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub entry: AuditEntry,
}

/// Which audit entries a listing shows, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Entries whose resource starts with this.
    pub resource: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub page: Page,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;

    async fn list_audit(&self, query: &AuditQuery) -> Result<Listed<AuditRow>>;
}
