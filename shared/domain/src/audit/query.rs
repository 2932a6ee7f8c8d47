//! `POST /v1/audit/query`: a page of a chain's entries, in sequence order.

use serde::Deserialize;
use serde_json::Value;

use super::entry::Entry;
use crate::auth::{act, Authorized};
use crate::error::ApiError;
use crate::reply::{Reply, DEFAULT_PAGE, MAX_PAGE};
use crate::repo::Repository;
use crate::target::Target;

/// Most entries one query reads (matching or not) before it answers with a cursor.
const MAX_SCANNED: usize = 10_000;

/// The body: `target` is the organization or any path below it (only entries about that
/// subtree are shown; the organization itself shows its whole chain, refusals included).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    pub target: String,
    /// Unix milliseconds, inclusive.
    #[serde(default)]
    pub from: Option<i64>,
    /// Unix milliseconds, inclusive.
    #[serde(default)]
    pub to: Option<i64>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// The `x-next-cursor` of the previous page (a sequence number).
    #[serde(default)]
    pub cursor: Option<String>,
}

impl AuditQuery {
    /// The query's target, checked; the route authorizes `view-audit-log` on it before
    /// anything is read.
    pub fn target(&self) -> Result<Target, ApiError> {
        Target::parse(&self.target)
            .map_err(|e| ApiError::validation(format!("target: {}", e.message)))
    }
}

pub async fn query(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::AuditView>,
    q: AuditQuery,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f > t {
            return Err(ApiError::validation("from is after to"));
        }
    }
    if let Some(a) = &q.action {
        let known = crate::auth::Action::ALL.iter().any(|x| x.as_str() == a)
            || ["organization-create", "publish", "status-changes"].contains(&a.as_str());
        if !known {
            return Err(ApiError::validation(format!(
                "action {a:?} is not an action trustfn records"
            )));
        }
    }
    let mut after: u64 = match &q.cursor {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            ApiError::validation("cursor: give the x-next-cursor of a previous page")
        })?,
    };
    let whole = target.depth() == 1;
    let mut out: Vec<Value> = Vec::new();
    let mut scanned = 0usize;
    let mut next = None;
    'pages: loop {
        let page = repo.audit_entries(target.org(), after, MAX_PAGE).await?;
        let n = page.len();
        for text in page {
            let entry: Entry = serde_json::from_str(&text).map_err(|e| {
                ApiError::internal_msg(format!(
                    "audit entry after {after} of {} does not parse: {e}",
                    target.org()
                ))
            })?;
            after = entry.sequence_number;
            scanned += 1;
            let about = whole || Target::parse(&entry.target).is_ok_and(|t| t.is_within(target));
            let timely = q.from.is_none_or(|f| entry.timestamp >= f)
                && q.to.is_none_or(|t| entry.timestamp <= t);
            let action = q.action.as_ref().is_none_or(|a| &entry.action == a);
            if about && timely && action {
                out.push(
                    serde_json::from_str(&text)
                        .map_err(|e| ApiError::internal_msg(e.to_string()))?,
                );
                if out.len() == limit {
                    next = Some(after);
                    break 'pages;
                }
            }
            if scanned >= MAX_SCANNED {
                next = Some(after);
                break 'pages;
            }
        }
        if n < MAX_PAGE {
            break;
        }
    }
    // A full page says where the next starts unless the chain ends right there.
    if let Some(at) = next {
        if repo.audit_entries(target.org(), at, 1).await?.is_empty() {
            next = None;
        }
    }
    let mut reply = Reply::json(200, Value::Array(out));
    if let Some(at) = next {
        reply.headers.push(("x-next-cursor", at.to_string()));
    }
    Ok(reply)
}
