//! The audit log: who did what, when, from where, and how it ended (administrators).

use axum::Json;
use axum::extract::State;
use berth_service::{AuditQuery, AuditRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{Listing, time};
use super::error::NativeError;
use super::extract::{Params, page};
use super::{ErrorResponses, NativeResult};
use crate::{AppState, Authenticated};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    /// A user name, `anonymous`, or the name a failed login tried.
    pub actor: String,
    /// `login`, `push`, `delete`, `namespace.create`, `member.put`, `token.create`, …
    pub action: String,
    /// A repository, namespace, user or token.
    pub resource: String,
    /// The client's address.
    pub source: String,
    /// `ok`, `denied` or `failed`.
    pub result: String,
    pub detail: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        let e = r.entry;
        AuditEvent {
            id: r.id,
            at: time(e.at),
            actor: e.actor,
            action: e.action,
            resource: e.resource,
            source: e.source,
            result: e.result,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
    /// Only this actor.
    actor: Option<String>,
    /// Only this action.
    action: Option<String>,
    /// Only resources starting with this.
    resource: Option<String>,
    /// Only events at or after this time (RFC 3339).
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    until: Option<String>,
}

fn instant(field: &str, text: Option<String>) -> Result<Option<i64>, NativeError> {
    text.map(|t| {
        berth_core::time::parse_rfc3339(&t).ok_or_else(|| {
            NativeError::invalid(
                field,
                format!("{field} must be an RFC 3339 time (2024-05-01T12:00:00Z)"),
            )
        })
    })
    .transpose()
}

/// The audit log, newest first (administrators).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditListQuery),
    responses((status = 200, body = Listing<AuditEvent>), ErrorResponses))]
pub async fn list_audit(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    Params(q): Params<AuditListQuery>,
) -> NativeResult<Json<Listing<AuditEvent>>> {
    let page = page(q.limit, q.offset)?;
    let query = AuditQuery {
        actor: q.actor,
        action: q.action,
        resource: q.resource,
        since: instant("since", q.since)?,
        until: instant("until", q.until)?,
        page,
    };
    let services = &state.services;
    let admin = services.access.is_admin(&auth.0);
    let listed = services.audit.list(&auth.0, admin, &query).await?;
    Ok(Json(Listing::of(listed, page, AuditEvent::from)))
}
