//! The audit log: who did what, when, from where, and how it ended, for logins, pushes,
//! deletes, permission, token and key changes. Entries are collected in memory and written in
//! batches (every second and at shutdown), so auditing costs a request no database trip.

use std::sync::Mutex;

use berth_core::Caller;
use berth_meta::{AuditEntry, AuditQuery, AuditRow, Listed, Meta, now_ms};

use crate::{Result, ServiceError};

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

pub struct AuditService {
    meta: Meta,
    pending: Mutex<Vec<AuditEntry>>,
}

impl AuditService {
    pub fn new(meta: Meta) -> AuditService {
        AuditService {
            meta,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Records an action by `caller`. `actor` overrides the caller's name (a failed login
    /// records the name it tried).
    pub fn record(
        &self,
        caller: &Caller,
        actor: Option<&str>,
        action: &str,
        resource: &str,
        outcome: Outcome,
        detail: &str,
    ) {
        let entry = AuditEntry {
            at: now_ms(),
            actor: actor.unwrap_or(caller.display_name()).to_owned(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            source: caller.source_text(),
            result: outcome.as_str().to_owned(),
            detail: detail.to_owned(),
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    /// Writes what was recorded; on failure keeps it for the next try.
    pub async fn flush(&self) -> Result<u64> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.meta.audit.append_audit(&taken).await {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let newer = std::mem::replace(&mut *pending, taken);
            pending.extend(newer);
            return Err(e.into());
        }
        Ok(taken.len() as u64)
    }

    /// The log, newest first: for administrators.
    pub async fn list(
        &self,
        caller: &Caller,
        admin: bool,
        query: &AuditQuery,
    ) -> Result<Listed<AuditRow>> {
        if !admin {
            return Err(if caller.is_anonymous() {
                ServiceError::Unauthenticated
            } else {
                ServiceError::Forbidden("the audit log is for administrators".into())
            });
        }
        self.flush().await?;
        Ok(self.meta.audit.list_audit(query).await?)
    }
}
