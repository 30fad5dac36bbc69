//! Identities and the ways clients prove them: users with passwords (argon2id), personal
//! access tokens, robot accounts, SWR access keys (request signatures and docker login), and
//! the registry tokens (JWTs) of the Docker token flow. Verification costs the hot path
//! little: registry tokens are checked by signature alone, and passwords and tokens once per
//! minute, against a revocation view refreshed every second from the database, so a revoked
//! token or a changed password stops working within a second on every replica.

pub(crate) mod crypto;
pub mod jwt;
pub mod sdk_signature;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use berth_core::{
    Action, Caller, Grant, Identity, Level, NamespaceName, RepoName, Resource, Scope,
};
use berth_meta::{
    CredentialKind, CredentialRow, Listed, Meta, MetaError, NewCredential, NewUser, Page, UserKind,
    UserRow, UserUpdate, now_ms,
};

use crate::audit::{AuditService, Outcome};
use crate::repositories::RepositoryService;
use crate::{Entity, Field, Result, ServiceError};
use sdk_signature::{SdkAuthorization, SignedRequest};

/// How authentication behaves.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Whether credentials are required (and the access policy enforced). Off: everyone
    /// may do everything.
    pub enabled: bool,
    /// The administrator created on first start.
    pub admin_user: String,
    /// Its password; unset: one is generated, printed once, and stored hashed.
    pub admin_password: Option<berth_core::Secret>,
    /// The name in registry tokens (`aud`) and in the `WWW-Authenticate` challenge.
    pub service: String,
    /// How long a registry token lives.
    pub token_ttl: Duration,
    /// The key that seals secrets berth must read back (SWR secret keys).
    pub sealing_key: Option<[u8; 32]>,
    /// Failed logins allowed per user and per source address within `failure_window`.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// How far an SDK request's `X-Sdk-Date` may be from berth's clock.
    pub sdk_skew: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            admin_user: "admin".into(),
            admin_password: None,
            service: "berth".into(),
            token_ttl: Duration::from_secs(300),
            sealing_key: None,
            max_failures: 10,
            failure_window: Duration::from_secs(60),
            sdk_skew: Duration::from_secs(15 * 60),
        }
    }
}

/// A registry token as the token endpoint returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryToken {
    pub token: String,
    pub expires_in: u64,
    /// Seconds since the epoch.
    pub issued_at: i64,
}

/// A secret created now and shown once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSecret<T> {
    pub record: T,
    pub secret: String,
}

/// A change to a user; `None` keeps a field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    pub password: Option<String>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
}

/// How long a verified password or token is trusted before it is checked again (a change
/// or revocation ends it at once through the revocation view).
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How long after its first use an SDK signature may be seen again (see
/// `check_signature`): two identical requests within the second their `X-Sdk-Date` names.
pub const SDK_REPEAT_GRACE: Duration = Duration::from_secs(2);
/// Personal access tokens and robot secrets: `bth_<id>_<secret>`.
const TOKEN_PREFIX: &str = "bth_";
/// Names of robot accounts: `robot$<namespace>+<name>`.
const ROBOT_PREFIX: &str = "robot$";

/// What the revocation refresh knows.
#[derive(Default)]
struct Revocations {
    /// Credential id and when its revocation was seen.
    revoked: HashMap<String, i64>,
    /// User name and when its credentials last changed (ms).
    changed: HashMap<String, i64>,
    /// Up to when changes have been read (ms, database time as written by replicas).
    seen_until: i64,
}

/// Failed logins per key (a user name or a source address), in a sliding window.
#[derive(Default)]
struct Failures {
    by_key: HashMap<String, (u32, Instant)>,
}

/// A verified registry token: its identity, expiry (s), subject, credential, issue time (ms).
type KnownToken = (Identity, i64, String, Option<String>, i64);

struct Verified {
    identity: Identity,
    user: String,
    credential: Option<String>,
    at: Instant,
    at_ms: i64,
}

pub struct AuthService {
    meta: Meta,
    repositories: Arc<RepositoryService>,
    audit: Arc<AuditService>,
    config: AuthConfig,
    signing_key: Vec<u8>,
    revocations: RwLock<Revocations>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// Registry tokens already verified, by signature.
    tokens: Mutex<HashMap<String, KnownToken>>,
    failures: Mutex<Failures>,
    seen_signatures: Mutex<HashMap<String, i64>>,
}

fn unauthenticated() -> ServiceError {
    ServiceError::Unauthenticated
}

fn valid_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            Field::param("name"),
            "a user name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

fn valid_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ServiceError::invalid(
            Field::param("password"),
            "a password has 8 to 1024 characters",
        ));
    }
    Ok(())
}

fn parse_action(a: &str) -> Vec<Action> {
    match a {
        "pull" => vec![Action::Pull],
        "push" => vec![Action::Push],
        "delete" => vec![Action::Delete],
        "*" => vec![Action::Pull, Action::Push, Action::Delete],
        _ => Vec::new(),
    }
}

/// `bth_<id>_<secret>` into its parts.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && secret.len() == 32).then_some((id, secret))
}

impl AuthService {
    /// Loads the signing key (creating it on first start, shared by every replica through
    /// the database) and creates the administrator if there is none. Returns the generated
    /// administrator password, to be shown once, when one was generated.
    pub(crate) async fn start(
        meta: Meta,
        repositories: Arc<RepositoryService>,
        audit: Arc<AuditService>,
        config: AuthConfig,
    ) -> Result<(AuthService, Option<String>)> {
        let signing_key = meta
            .users
            .setting_or_insert("registry-token-hs256-key", &crypto::random_bytes::<32>())
            .await?;
        let mut generated = None;
        if meta.users.get_user(&config.admin_user).await?.is_none() {
            let password = match &config.admin_password {
                Some(p) => p.expose().to_owned(),
                None => {
                    let p = crypto::random_token(24);
                    generated = Some(p.clone());
                    p
                }
            };
            let created = meta
                .users
                .create_user(&NewUser {
                    name: config.admin_user.clone(),
                    password_hash: Some(crypto::hash_password(&password)?),
                    admin: true,
                    kind: UserKind::User,
                    robot: None,
                    expires_at: None,
                })
                .await;
            match created {
                Ok(_) => {}
                // Another replica created it first (and showed its password).
                Err(MetaError::AlreadyExists { .. }) => generated = None,
                Err(e) => return Err(e.into()),
            }
        }
        let since = now_ms() - (config.token_ttl.max(VERIFIED_TTL).as_millis() as i64) - 60_000;
        let service = AuthService {
            meta,
            repositories,
            audit,
            signing_key,
            revocations: RwLock::new(Revocations {
                seen_until: since,
                ..Default::default()
            }),
            verified: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
            seen_signatures: Mutex::new(HashMap::new()),
            config,
        };
        service.refresh().await?;
        Ok((service, generated))
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn service_name(&self) -> &str {
        &self.config.service
    }

    // ---- the revocation view ----

    /// Reads revocations and credential changes since the last refresh (with a margin for
    /// clocks and late commits), and forgets old ones. Runs every second.
    pub async fn refresh(&self) -> Result<u64> {
        let since = self
            .revocations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .seen_until;
        let now = now_ms();
        let changes = self.meta.users.credential_changes(since - 5_000).await?;
        let mut r = self.revocations.write().unwrap_or_else(|e| e.into_inner());
        let mut new = 0;
        for id in changes.revoked {
            if r.revoked.insert(id, now).is_none() {
                new += 1;
            }
        }
        for (user, at) in changes.users {
            let entry = r.changed.entry(user).or_insert(0);
            if at > *entry {
                *entry = at;
                new += 1;
            }
        }
        let keep = (self.config.token_ttl.max(VERIFIED_TTL).as_millis() as i64) + 120_000;
        r.revoked.retain(|_, seen| now - *seen < keep);
        r.changed.retain(|_, at| now - *at < keep);
        r.seen_until = now;
        drop(r);
        if new > 0 {
            // Whatever was verified before a change is checked again.
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        let mut seen = self
            .seen_signatures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let window = self.config.sdk_skew.as_millis() as i64 * 2;
        seen.retain(|_, at| now - *at < window);
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_key
            .retain(|_, (_, at)| at.elapsed() < self.config.failure_window);
        Ok(new)
    }

    /// Whether a login token (issued at `issued_ms` for `user`, by `credential`) still stands.
    fn still_valid(&self, user: &str, credential: Option<&str>, issued_ms: i64) -> bool {
        let r = self.revocations.read().unwrap_or_else(|e| e.into_inner());
        if credential.is_some_and(|c| r.revoked.contains_key(c)) {
            return false;
        }
        r.changed
            .get(user)
            .is_none_or(|changed| *changed <= issued_ms)
    }

    // ---- failed logins ----

    fn locked_out(&self, keys: &[&str]) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|k| {
            failures.by_key.get(*k).is_some_and(|(n, since)| {
                *n >= self.config.max_failures && since.elapsed() < self.config.failure_window
            })
        })
    }

    fn failed(&self, keys: &[&str]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys.iter().filter(|k| !k.is_empty()) {
            let entry = failures
                .by_key
                .entry((*key).to_owned())
                .or_insert((0, Instant::now()));
            if entry.1.elapsed() >= self.config.failure_window {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    /// The keys failed logins count against: the user, and the source address when known
    /// (an unknown source, as in-process, counts nowhere).
    fn lockout_keys(user: &str, source: Option<IpAddr>) -> [String; 2] {
        [
            format!("user:{user}"),
            source.map_or_else(String::new, |s| format!("addr:{s}")),
        ]
    }

    // ---- proving who one is ----

    /// HTTP Basic: a password, a personal access token or robot secret (`bth_…`), or SWR's
    /// long-term docker login (`<region>@<AK>` with the hex HMAC of the AK under the SK).
    pub async fn basic(
        &self,
        user: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Identity> {
        let keys = Self::lockout_keys(user, source);
        let keys: [&str; 2] = [&keys[0], &keys[1]];
        if self.locked_out(&keys) {
            return Err(ServiceError::Busy(
                "too many failed logins: try again in a minute".into(),
            ));
        }
        let cache_key = crypto::sha256(format!("{user}\0{password}").as_bytes());
        if let Some(identity) = self.cached(&cache_key) {
            return Ok(identity);
        }
        let verified = if split_token(password).is_some() {
            self.verify_token(password, Some(user)).await?
        } else if let Some((_, ak)) = user.split_once('@') {
            self.verify_swr_login(ak, password).await?
        } else {
            self.verify_password(user, password).await?
        };
        match verified {
            Some((identity, credential, _)) => {
                let caller = Caller::new(identity.clone()).with_source(source);
                if credential.is_none() {
                    self.audit
                        .record(&caller, None, "login", "registry", Outcome::Ok, "password");
                }
                self.remember(cache_key, &identity, user, credential);
                Ok(identity)
            }
            None => {
                self.failed(&keys);
                let caller = Caller::anonymous().with_source(source);
                self.audit.record(
                    &caller,
                    Some(user),
                    "login",
                    "registry",
                    Outcome::Failed,
                    "",
                );
                Err(unauthenticated())
            }
        }
    }

    /// `Authorization: Bearer`: a registry token this berth issued, or a personal access
    /// token or robot secret.
    pub async fn bearer(&self, token: &str, source: Option<IpAddr>) -> Result<Identity> {
        if jwt::looks_like_jwt(token) {
            return self.registry_token(token);
        }
        if split_token(token).is_some() {
            let cache_key = crypto::sha256(format!("\0bearer\0{token}").as_bytes());
            if let Some(identity) = self.cached(&cache_key) {
                return Ok(identity);
            }
            let keys = Self::lockout_keys("-", source);
            if self.locked_out(&[&keys[1]]) {
                return Err(ServiceError::Busy(
                    "too many failed logins: try again in a minute".into(),
                ));
            }
            if let Some((identity, credential, _)) = self.verify_token(token, None).await? {
                let user = Caller::new(identity.clone()).display_name().to_owned();
                self.remember(cache_key, &identity, &user, credential);
                return Ok(identity);
            }
            self.failed(&[&keys[1]]);
        }
        Err(unauthenticated())
    }

    /// A registry token this berth signed: its grants, checked by signature once and then
    /// remembered until it expires (a revocation or credential change still ends it).
    fn registry_token(&self, token: &str) -> Result<Identity> {
        let now = now_ms();
        let signature = token.rsplit('.').next().unwrap_or("");
        if let Some(known) = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(signature)
            .cloned()
        {
            let (identity, exp, sub, cred, iat_ms) = known;
            if exp > now / 1000
                && (sub.is_empty() || self.still_valid(&sub, cred.as_deref(), iat_ms))
            {
                return Ok(identity);
            }
            return Err(unauthenticated());
        }
        let claims = jwt::verify(&self.signing_key, token, now / 1000)
            .filter(|c| c.aud == self.config.service)
            .ok_or_else(unauthenticated)?;
        if !claims.sub.is_empty()
            && !self.still_valid(&claims.sub, claims.cred.as_deref(), claims.iat_ms)
        {
            return Err(unauthenticated());
        }
        let grants: Vec<Grant> = claims
            .access
            .iter()
            .filter_map(|a| match a.kind.as_str() {
                "repository" => Some(Grant {
                    repository: Some(a.name.parse().ok()?),
                    actions: a.actions.iter().flat_map(|x| parse_action(x)).collect(),
                }),
                "registry" if a.name == "catalog" => Some(Grant {
                    repository: None,
                    actions: vec![Action::Pull],
                }),
                _ => None,
            })
            .collect();
        let identity = Identity::Granted {
            subject: (!claims.sub.is_empty()).then(|| claims.sub.clone()),
            grants: grants.into(),
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() > 10_000 {
            tokens.retain(|_, (_, exp, ..)| *exp > now / 1000);
            if tokens.len() > 10_000 {
                tokens.clear();
            }
        }
        tokens.insert(
            signature.to_owned(),
            (
                identity.clone(),
                claims.exp,
                claims.sub,
                claims.cred,
                claims.iat_ms,
            ),
        );
        Ok(identity)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Identity> {
        let cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let v = cache.get(key)?;
        (v.at.elapsed() < VERIFIED_TTL
            && self.still_valid(&v.user, v.credential.as_deref(), v.at_ms))
        .then(|| v.identity.clone())
    }

    fn remember(&self, key: [u8; 32], identity: &Identity, user: &str, credential: Option<String>) {
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(
            key,
            Verified {
                identity: identity.clone(),
                user: user.to_owned(),
                credential,
                at: Instant::now(),
                at_ms: now_ms(),
            },
        );
    }

    /// A live, unexpired user; `None` otherwise.
    fn usable(user: &UserRow) -> bool {
        !user.disabled && user.expires_at.is_none_or(|at| at > now_ms())
    }

    fn identity_of(user: &UserRow, limit: Option<(String, Level)>) -> Option<Identity> {
        match (user.kind, &user.robot) {
            (UserKind::Robot, Some((ns, level))) => Some(Identity::Robot {
                name: user.name.clone(),
                namespace: ns.parse().ok()?,
                level: *level,
            }),
            (UserKind::Robot, None) => None,
            (UserKind::User, _) => Some(Identity::User {
                name: user.name.clone(),
                admin: user.admin,
                limit: match limit {
                    Some((ns, level)) => Some((ns.parse().ok()?, level)),
                    None => None,
                },
            }),
        }
    }

    /// (identity, credential used, when the user's credentials changed)
    async fn verify_password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<(Identity, Option<String>, i64)>> {
        let row = self.meta.users.get_user(user).await?;
        let hash = row
            .as_ref()
            .filter(|u| Self::usable(u) && u.kind == UserKind::User)
            .and_then(|u| u.password_hash.clone());
        let Some(hash) = hash else {
            // As long as a real check, so that timing does not tell who exists.
            let password = password.to_owned();
            let _ = tokio::task::spawn_blocking(move || {
                crypto::verify_password(&password, crypto::DUMMY_HASH)
            })
            .await;
            return Ok(None);
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || crypto::verify_password(&password, &hash))
            .await
            .map_err(ServiceError::internal)?;
        let row = row.expect("a hash came from a user");
        Ok(ok
            .then(|| Self::identity_of(&row, None))
            .flatten()
            .map(|i| (i, None, row.credentials_changed_at)))
    }

    async fn verify_token(
        &self,
        token: &str,
        user: Option<&str>,
    ) -> Result<Option<(Identity, Option<String>, i64)>> {
        let Some((id, secret)) = split_token(token) else {
            return Ok(None);
        };
        let Some(credential) = self.meta.users.get_credential(id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let expected = credential.secret_hash.as_deref().unwrap_or("");
        let live = credential.revoked_at.is_none()
            && credential.expires_at.is_none_or(|at| at > now)
            && matches!(
                credential.kind,
                CredentialKind::Token | CredentialKind::Robot
            )
            && crypto::constant_time_eq(
                crypto::sha256_hex(secret.as_bytes()).as_bytes(),
                expected.as_bytes(),
            )
            && user.is_none_or(|u| u == credential.user_name);
        if !live {
            return Ok(None);
        }
        let Some(owner) = self.meta.users.get_user(&credential.user_name).await? else {
            return Ok(None);
        };
        if !Self::usable(&owner) {
            return Ok(None);
        }
        self.touch(&credential);
        Ok(Self::identity_of(&owner, credential.limit.clone())
            .map(|i| (i, Some(credential.id.clone()), owner.credentials_changed_at)))
    }

    /// Records a credential's use, at most once a minute.
    fn touch(&self, credential: &CredentialRow) {
        let now = now_ms();
        if credential.last_used_at.is_some_and(|at| now - at < 60_000) {
            return;
        }
        let (users, id) = (self.meta.users.clone(), credential.id.clone());
        tokio::spawn(async move {
            let _ = users.touch_credential(&id, now).await;
        });
    }

    async fn access_key(&self, ak: &str) -> Result<Option<(CredentialRow, Vec<u8>)>> {
        let Some(key) = self.config.sealing_key else {
            return Ok(None);
        };
        let Some(credential) = self.meta.users.get_credential(ak).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if credential.kind != CredentialKind::AccessKey
            || credential.revoked_at.is_some()
            || credential.expires_at.is_some_and(|at| at <= now)
        {
            return Ok(None);
        }
        let Some(sk) = credential
            .secret_sealed
            .as_deref()
            .and_then(|s| crypto::unseal(&key, s))
        else {
            return Ok(None);
        };
        Ok(Some((credential, sk)))
    }

    async fn access_key_identity(
        &self,
        credential: &CredentialRow,
    ) -> Result<Option<(Identity, i64)>> {
        let Some(owner) = self.meta.users.get_user(&credential.user_name).await? else {
            return Ok(None);
        };
        if !Self::usable(&owner) {
            return Ok(None);
        }
        Ok(Self::identity_of(&owner, credential.limit.clone())
            .map(|i| (i, owner.credentials_changed_at)))
    }

    async fn verify_swr_login(
        &self,
        ak: &str,
        password: &str,
    ) -> Result<Option<(Identity, Option<String>, i64)>> {
        let Some((credential, sk)) = self.access_key(ak).await? else {
            return Ok(None);
        };
        let expected = hex::encode(crypto::hmac_sha256(&sk, ak.as_bytes()));
        if !crypto::constant_time_eq(
            expected.as_bytes(),
            password.to_ascii_lowercase().as_bytes(),
        ) {
            return Ok(None);
        }
        self.touch(&credential);
        Ok(self
            .access_key_identity(&credential)
            .await?
            .map(|(i, changed)| (i, Some(credential.id.clone()), changed)))
    }

    /// A request signed by Huawei's SDK with an access key berth issued.
    pub async fn sdk_signature(
        &self,
        request: &SignedRequest<'_>,
        authorization: &str,
        source: Option<IpAddr>,
    ) -> Result<Identity> {
        let auth = SdkAuthorization::parse(authorization).ok_or_else(unauthenticated)?;
        let keys = Self::lockout_keys(&auth.access_key, source);
        let keys: [&str; 2] = [&keys[0], &keys[1]];
        if self.locked_out(&keys) {
            return Err(ServiceError::Busy(
                "too many failed logins: try again in a minute".into(),
            ));
        }
        let result = self.check_signature(request, &auth).await?;
        match result {
            Some(identity) => Ok(identity),
            None => {
                self.failed(&keys);
                let caller = Caller::anonymous().with_source(source);
                self.audit.record(
                    &caller,
                    Some(&auth.access_key),
                    "login",
                    "registry",
                    Outcome::Failed,
                    "SDK signature",
                );
                Err(unauthenticated())
            }
        }
    }

    async fn check_signature(
        &self,
        request: &SignedRequest<'_>,
        auth: &SdkAuthorization,
    ) -> Result<Option<Identity>> {
        let Some(string_to_sign) = sdk_signature::string_to_sign(request, auth) else {
            return Ok(None);
        };
        if !["host", "x-sdk-date"]
            .iter()
            .all(|h| auth.signed_headers.iter().any(|s| s == h))
        {
            return Ok(None);
        }
        let date = string_to_sign.lines().nth(1).unwrap_or("");
        let Some(signed_at) = sdk_signature::parse_sdk_date(date) else {
            return Ok(None);
        };
        let skew = self.config.sdk_skew.as_secs() as i64;
        if (now_ms() / 1000 - signed_at).abs() > skew {
            return Ok(None);
        }
        let Some((credential, sk)) = self.access_key(&auth.access_key).await? else {
            return Ok(None);
        };
        let expected = sdk_signature::signature(&sk, &string_to_sign);
        if !crypto::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Ok(None);
        }
        // A signature is good for the moment it was made: a replay later is refused (per
        // replica: a replay sent to another replica within the skew window is not caught).
        // The date has whole seconds, so a client that sends the same request twice within
        // one second (a show before and after a change, a delete repeated to see its 404)
        // signs both the same: a repeat within SDK_REPEAT_GRACE of the first is that client,
        // not a replay.
        {
            let mut seen = self
                .seen_signatures
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = now_ms();
            let first = *seen.entry(auth.signature.clone()).or_insert(now);
            if now - first > SDK_REPEAT_GRACE.as_millis() as i64 {
                return Ok(None);
            }
        }
        self.touch(&credential);
        Ok(self.access_key_identity(&credential).await?.map(|(i, _)| i))
    }

    // ---- registry tokens ----

    /// A registry token for `caller` holding what it may do of each requested scope
    /// (`repository:<name>:<actions>`, `registry:catalog:*`); what it may not is left out, as
    /// the Docker token spec says.
    pub async fn issue_registry_token(
        &self,
        caller: &Caller,
        credential: Option<&str>,
        scopes: &[String],
    ) -> Result<RegistryToken> {
        let mut access: Vec<jwt::Access> = Vec::new();
        for scope in scopes {
            for one in scope.split(' ') {
                let mut parts = one.splitn(3, ':');
                let (Some(kind), Some(rest)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let (name, actions) = match parts.next() {
                    Some(actions) => (rest, actions),
                    None => continue,
                };
                match kind {
                    "repository" => {
                        let Ok(repo) = name.parse::<RepoName>() else {
                            continue;
                        };
                        let mut granted = Vec::new();
                        for action in actions.split(',').flat_map(parse_action) {
                            if granted.contains(&action) {
                                continue;
                            }
                            let allowed = !self.config.enabled
                                || self.repositories.open(caller, &repo, action).await.is_ok();
                            if allowed {
                                granted.push(action);
                            }
                        }
                        if !granted.is_empty() {
                            access.push(jwt::Access {
                                kind: "repository".into(),
                                name: repo.to_string(),
                                actions: granted.iter().map(|a| a.as_str().to_owned()).collect(),
                            });
                        }
                    }
                    "registry" if name == "catalog" => access.push(jwt::Access {
                        kind: "registry".into(),
                        name: "catalog".into(),
                        actions: vec!["*".into()],
                    }),
                    _ => {}
                }
            }
        }
        let now_ms = now_ms();
        let now = now_ms / 1000;
        let ttl = self.config.token_ttl.as_secs() as i64;
        let claims = jwt::Claims {
            iss: self.config.service.clone(),
            sub: caller.name().unwrap_or("").to_owned(),
            aud: self.config.service.clone(),
            exp: now + ttl,
            nbf: now - 5,
            iat: now,
            jti: crypto::random_token(16),
            access,
            cred: credential.map(str::to_owned),
            iat_ms: now_ms,
        };
        if !caller.is_anonymous() {
            self.audit.record(
                caller,
                None,
                "token.issue",
                "registry",
                Outcome::Ok,
                &scopes.join(" "),
            );
        }
        Ok(RegistryToken {
            token: jwt::sign(&self.signing_key, &claims),
            expires_in: ttl as u64,
            issued_at: now,
        })
    }

    // ---- users ----

    fn require_admin(&self, caller: &Caller) -> Result<()> {
        if !self.config.enabled || caller.is_admin() {
            return Ok(());
        }
        Err(if caller.is_anonymous() {
            ServiceError::Unauthenticated
        } else {
            ServiceError::Forbidden("administrators only".into())
        })
    }

    /// The caller itself, or an administrator.
    fn require_self_or_admin(&self, caller: &Caller, user: &str) -> Result<()> {
        if caller.name() == Some(user)
            && matches!(caller.identity, Identity::User { limit: None, .. })
        {
            return Ok(());
        }
        self.require_admin(caller)
    }

    pub async fn create_user(
        &self,
        caller: &Caller,
        name: &str,
        password: &str,
        admin: bool,
    ) -> Result<UserRow> {
        self.require_admin(caller)?;
        valid_user_name(name)?;
        valid_password(password)?;
        let hash = crypto::hash_password(password)?;
        let row = self
            .meta
            .users
            .create_user(&NewUser {
                name: name.to_owned(),
                password_hash: Some(hash),
                admin,
                kind: UserKind::User,
                robot: None,
                expires_at: None,
            })
            .await
            .map_err(|e| match e {
                MetaError::AlreadyExists { .. } => {
                    ServiceError::AlreadyExists(Entity::User(name.to_owned()))
                }
                e => e.into(),
            })?;
        self.audit
            .record(caller, None, "user.create", name, Outcome::Ok, "");
        Ok(row)
    }

    pub async fn list_users(&self, caller: &Caller, page: Page) -> Result<Listed<UserRow>> {
        self.require_admin(caller)?;
        Ok(self
            .meta
            .users
            .list_users(Some(UserKind::User), page)
            .await?)
    }

    pub async fn get_user(&self, caller: &Caller, name: &str) -> Result<UserRow> {
        self.require_self_or_admin(caller, name)?;
        self.meta
            .users
            .get_user(name)
            .await?
            .filter(|u| u.kind == UserKind::User)
            .ok_or_else(|| ServiceError::NotFound(Entity::User(name.to_owned())))
    }

    pub async fn update_user(
        &self,
        caller: &Caller,
        name: &str,
        change: &UserChange,
    ) -> Result<UserRow> {
        if change.admin.is_some() || change.disabled.is_some() {
            self.require_admin(caller)?;
        } else {
            self.require_self_or_admin(caller, name)?;
        }
        let password_hash = match &change.password {
            Some(p) => {
                valid_password(p)?;
                Some(crypto::hash_password(p)?)
            }
            None => None,
        };
        let row = self
            .meta
            .users
            .update_user(
                name,
                &UserUpdate {
                    password_hash,
                    admin: change.admin,
                    disabled: change.disabled,
                },
            )
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::User(name.to_owned())))?;
        self.refresh().await?;
        self.audit
            .record(caller, None, "user.update", name, Outcome::Ok, "");
        Ok(row)
    }

    pub async fn delete_user(&self, caller: &Caller, name: &str) -> Result<()> {
        self.require_admin(caller)?;
        if name == self.config.admin_user {
            return Err(ServiceError::Conflict(format!(
                "{name} is the configured administrator ([auth] admin_user) and cannot be deleted"
            )));
        }
        // Deleting ends its logins: mark the change first, so every replica sees it.
        self.meta
            .users
            .update_user(
                name,
                &UserUpdate {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        if !self.meta.users.delete_user(name).await? {
            return Err(ServiceError::NotFound(Entity::User(name.to_owned())));
        }
        self.refresh().await?;
        self.audit
            .record(caller, None, "user.delete", name, Outcome::Ok, "");
        Ok(())
    }

    // ---- tokens, robots, access keys ----

    async fn owner(&self, caller: &Caller) -> Result<UserRow> {
        let name = match &caller.identity {
            Identity::User {
                name, limit: None, ..
            } => name,
            Identity::Anonymous => return Err(ServiceError::Unauthenticated),
            _ => {
                return Err(ServiceError::Forbidden(
                    "log in as a user (not with a token or robot) to manage credentials".into(),
                ));
            }
        };
        self.meta
            .users
            .get_user(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::User(name.clone())))
    }

    fn expiry(expires_in: Option<Duration>) -> Option<i64> {
        expires_in.map(|d| now_ms() + d.as_millis() as i64)
    }

    /// A personal access token of the caller, limited to `limit` if given, shown once.
    pub async fn create_token(
        &self,
        caller: &Caller,
        name: &str,
        limit: Option<(NamespaceName, Level)>,
        expires_in: Option<Duration>,
    ) -> Result<NewSecret<CredentialRow>> {
        if name.is_empty() || name.len() > 128 {
            return Err(ServiceError::invalid(
                Field::param("name"),
                "a token name has 1 to 128 characters",
            ));
        }
        let owner = self.owner(caller).await?;
        let (id, secret) = (crypto::random_token(16), crypto::random_token(32));
        let record = self
            .meta
            .users
            .create_credential(&NewCredential {
                id: id.clone(),
                user_id: owner.id,
                kind: CredentialKind::Token,
                name: name.to_owned(),
                secret_hash: Some(crypto::sha256_hex(secret.as_bytes())),
                secret_sealed: None,
                limit: limit.map(|(ns, l)| (ns.to_string(), l)),
                expires_at: Self::expiry(expires_in),
            })
            .await?;
        self.audit
            .record(caller, None, "token.create", &id, Outcome::Ok, name);
        Ok(NewSecret {
            record,
            secret: format!("{TOKEN_PREFIX}{id}_{secret}"),
        })
    }

    /// The caller's tokens and access keys (an administrator may name another user).
    pub async fn list_credentials(
        &self,
        caller: &Caller,
        user: Option<&str>,
    ) -> Result<Vec<CredentialRow>> {
        let row = match user {
            Some(user) => {
                self.require_self_or_admin(caller, user)?;
                self.meta
                    .users
                    .get_user(user)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(Entity::User(user.to_owned())))?
            }
            None => self.owner(caller).await?,
        };
        Ok(self.meta.users.list_credentials(row.id).await?)
    }

    /// Revokes a token or access key: at once, on every replica (within a second).
    pub async fn revoke_credential(&self, caller: &Caller, id: &str) -> Result<()> {
        let credential = self
            .meta
            .users
            .get_credential(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Token(id.to_owned())))?;
        if self
            .require_self_or_admin(caller, &credential.user_name)
            .is_err()
        {
            return Err(ServiceError::NotFound(Entity::Token(id.to_owned())));
        }
        self.meta.users.revoke_credential(id, now_ms()).await?;
        self.refresh().await?;
        self.audit
            .record(caller, None, "token.revoke", id, Outcome::Ok, "");
        Ok(())
    }

    /// A robot account acting with `level` in `namespace` (the caller must manage it).
    pub async fn create_robot(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        level: Level,
        expires_in: Option<Duration>,
    ) -> Result<NewSecret<UserRow>> {
        valid_user_name(name)?;
        let ns: NamespaceName = namespace.parse().map_err(|e: berth_core::NameError| {
            ServiceError::invalid(Field::Namespace, e.to_string())
        })?;
        self.require_namespace_manager(caller, &ns).await?;
        let robot_name = format!("{ROBOT_PREFIX}{ns}+{name}");
        let expires_at = Self::expiry(expires_in);
        let user = self
            .meta
            .users
            .create_user(&NewUser {
                name: robot_name.clone(),
                password_hash: None,
                admin: false,
                kind: UserKind::Robot,
                robot: Some((ns.to_string(), level)),
                expires_at,
            })
            .await
            .map_err(|e| match e {
                MetaError::AlreadyExists { .. } => {
                    ServiceError::AlreadyExists(Entity::User(robot_name.clone()))
                }
                e => e.into(),
            })?;
        let (id, secret) = (crypto::random_token(16), crypto::random_token(32));
        self.meta
            .users
            .create_credential(&NewCredential {
                id,
                user_id: user.id,
                kind: CredentialKind::Robot,
                name: name.to_owned(),
                secret_hash: Some(crypto::sha256_hex(secret.as_bytes())),
                secret_sealed: None,
                limit: None,
                expires_at,
            })
            .await?;
        self.audit.record(
            caller,
            None,
            "robot.create",
            &robot_name,
            Outcome::Ok,
            level.as_str(),
        );
        let id = self.meta.users.list_credentials(user.id).await?[0]
            .id
            .clone();
        Ok(NewSecret {
            record: user,
            secret: format!("{TOKEN_PREFIX}{id}_{secret}"),
        })
    }

    async fn require_namespace_manager(&self, caller: &Caller, ns: &NamespaceName) -> Result<()> {
        let scope = Scope::new(Resource::Namespace(ns.clone()), Level::Manage);
        let view = self.repositories.get_namespace(caller, ns.as_str()).await?;
        self.repositories
            .access()
            .check(
                caller,
                &scope,
                crate::Target::Namespace(Some(&view.namespace)),
            )
            .await
    }

    /// The robot accounts of a namespace.
    pub async fn list_robots(&self, caller: &Caller, namespace: &str) -> Result<Vec<UserRow>> {
        let ns: NamespaceName = namespace
            .parse()
            .map_err(|_| ServiceError::NotFound(Entity::Namespace(namespace.to_owned())))?;
        self.require_namespace_manager(caller, &ns).await?;
        let prefix = format!("{ROBOT_PREFIX}{ns}+");
        let all = self
            .meta
            .users
            .list_users(
                Some(UserKind::Robot),
                Page {
                    offset: 0,
                    limit: 10_000,
                },
            )
            .await?;
        Ok(all
            .items
            .into_iter()
            .filter(|u| u.name.starts_with(&prefix))
            .collect())
    }

    pub async fn delete_robot(&self, caller: &Caller, namespace: &str, name: &str) -> Result<()> {
        let ns: NamespaceName = namespace
            .parse()
            .map_err(|_| ServiceError::NotFound(Entity::Namespace(namespace.to_owned())))?;
        self.require_namespace_manager(caller, &ns).await?;
        let robot_name = format!("{ROBOT_PREFIX}{ns}+{name}");
        self.meta
            .users
            .update_user(
                &robot_name,
                &UserUpdate {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        if !self.meta.users.delete_user(&robot_name).await? {
            return Err(ServiceError::NotFound(Entity::User(robot_name)));
        }
        self.refresh().await?;
        self.audit
            .record(caller, None, "robot.delete", &robot_name, Outcome::Ok, "");
        Ok(())
    }

    /// An SWR access key (AK/SK) of the caller; the SK is shown once and kept sealed.
    pub async fn create_access_key(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<NewSecret<CredentialRow>> {
        let Some(key) = self.config.sealing_key else {
            return Err(ServiceError::Unsupported(
                "access keys need [auth] encryption_key (the same on every replica)".into(),
            ));
        };
        let owner = self.owner(caller).await?;
        let ak = crypto::random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        let sk = crypto::random_token(40);
        let record = self
            .meta
            .users
            .create_credential(&NewCredential {
                id: ak.clone(),
                user_id: owner.id,
                kind: CredentialKind::AccessKey,
                name: name.to_owned(),
                secret_hash: None,
                secret_sealed: Some(crypto::seal(&key, sk.as_bytes())),
                limit: None,
                expires_at: None,
            })
            .await?;
        self.audit
            .record(caller, None, "key.create", &ak, Outcome::Ok, name);
        Ok(NewSecret { record, secret: sk })
    }
}

/// 32 random bytes: a new sealing key.
pub fn random_key() -> [u8; 32] {
    crypto::random_bytes::<32>()
}

/// The credential a login names, for tying registry tokens to it (its revocation ends them):
/// a token's id, or for SWR's login the access key. `None` for a password.
pub fn credential_of(user: &str, password: &str) -> Option<String> {
    if let Some((id, _)) = split_token(password) {
        return Some(id.to_owned());
    }
    user.split_once('@').map(|(_, ak)| ak.to_owned())
}

/// [`credential_of`] for an `Authorization: Basic` value.
pub fn credential_of_authorization(value: &str) -> Option<String> {
    let (user, password) = parse_basic(value)?;
    credential_of(&user, &password)
}

/// The `user` and `password` of an `Authorization: Basic` value.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = crypto::b64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
