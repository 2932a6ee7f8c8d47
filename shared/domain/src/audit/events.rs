//! `POST /v1/events/query?organization=<org>[&groupBy=<dotted path>]`: walt.id's "Events and
//! Metrics" shape, derived from the audit log: issuance, revocation, status changes and
//! publishes as operational events. The body is a filter (`{}`: all; field -> accepted values);
//! with `groupBy`, the answer is `[{"_id": <value>, "count": n}]`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::entry::{Actor, Entry, Outcome};
use crate::auth::{act, Authorized};
use crate::error::ApiError;
use crate::reply::Reply;
use crate::repo::Repository;

/// Entries an events query reads: the organization's most recent ones.
pub const WINDOW: u64 = 10_000;

/// The operational events one audit entry stands for (none for most entries).
pub fn events_of(e: &Entry) -> Vec<Value> {
    let originator = match &e.actor {
        Actor::Admin => "admin".to_owned(),
        Actor::ApiKey { key_id, .. } => key_id.clone(),
        Actor::User { subject, .. } => format!("user:{subject}"),
        Actor::System => "system".to_owned(),
    };
    let status = match e.outcome {
        Outcome::Success => "Success",
        Outcome::Denied => "Failure",
    };
    let base = |i: usize, kind: &str, action: &str, target: &str, status: &str| {
        json!({
            "_id": format!("{}:{}:{i}", e.organization, e.sequence_number),
            "type": kind,
            "organization": e.organization,
            "target": target,
            "timestamp": e.timestamp,
            "originator": originator,
            "callId": e.request_id,
            "action": {"type": action},
            "status": {"type": status},
        })
    };
    let mut out = Vec::new();
    let issuance = e.action.ends_with("-issue");
    if issuance || e.action == "x509-certificate-revoke" {
        // The request itself, refused or not.
        let kind = if issuance {
            "IssuanceEvent"
        } else {
            "RevocationEvent"
        };
        let mut ev = base(0, kind, &e.action, &e.target, status);
        if let Some(c) = e.changes.iter().find(|c| c.contains_key("serialNumber")) {
            ev["serialNumber"] = c["serialNumber"].clone();
            if let Some(p) = c.get("profile") {
                ev["profile"] = p.clone();
            }
        }
        out.push(ev);
    }
    for (i, c) in e.changes.iter().enumerate() {
        let id = c.get("id").and_then(Value::as_str).unwrap_or(&e.target);
        match c.get("op").and_then(Value::as_str) {
            Some("status-changes") => {
                let mut ev = base(i + 1, "StatusUpdateEvent", "status-changes", id, "Success");
                ev["changes"] = c.get("changes").cloned().unwrap_or(Value::Null);
                out.push(ev);
            }
            Some("publish") => {
                let mut ev = base(i + 1, "PublishEvent", "publish", id, "Success");
                ev["number"] = c.get("number").cloned().unwrap_or(Value::Null);
                out.push(ev);
            }
            Some("publish-failed") => {
                let mut ev = base(i + 1, "PublishEvent", "publish", id, "Failure");
                ev["error"] = c.get("error").cloned().unwrap_or(Value::Null);
                out.push(ev);
            }
            _ => {}
        }
    }
    out
}

/// The value at a dotted path (`status.type`).
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Fields a filter or `groupBy` may name.
const FIELDS: &[&str] = &[
    "_id",
    "type",
    "organization",
    "target",
    "timestamp",
    "originator",
    "callId",
    "action.type",
    "status.type",
    "serialNumber",
    "profile",
    "number",
    "changes",
    "error",
];

pub async fn query(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::AuditView>,
    filter: Map<String, Value>,
    group_by: Option<&str>,
) -> Result<Reply, ApiError> {
    let org = auth.target();
    for (k, v) in &filter {
        if !FIELDS.contains(&k.as_str()) {
            return Err(ApiError::validation(format!(
                "{k}: not an event field ({})",
                FIELDS.join(", ")
            )));
        }
        if !v.is_array() {
            return Err(ApiError::validation(format!(
                "{k}: give the accepted values as an array"
            )));
        }
    }
    if let Some(g) = group_by.filter(|g| !FIELDS.contains(g)) {
        return Err(ApiError::validation(format!(
            "groupBy {g:?}: not an event field ({})",
            FIELDS.join(", ")
        )));
    }
    let head = repo.audit_head(org.org()).await?.map_or(0, |h| h.0);
    let mut after = head.saturating_sub(WINDOW);
    let mut events = Vec::new();
    loop {
        let page = repo.audit_entries(org.org(), after, 1000).await?;
        let n = page.len();
        for text in page {
            let e: Entry = serde_json::from_str(&text).map_err(|err| {
                ApiError::internal_msg(format!(
                    "audit entry after {after} of {org} does not parse: {err}"
                ))
            })?;
            after = e.sequence_number;
            events.extend(events_of(&e).into_iter().filter(|ev| {
                filter.iter().all(|(k, accepted)| {
                    let v = at(ev, k).cloned().unwrap_or(Value::Null);
                    accepted.as_array().is_some_and(|a| a.contains(&v))
                })
            }));
        }
        if n < 1000 {
            break;
        }
    }
    let Some(g) = group_by else {
        return Ok(Reply::json(200, Value::Array(events)));
    };
    let mut counts: BTreeMap<String, (Value, u64)> = BTreeMap::new();
    for ev in &events {
        let v = at(ev, g).cloned().unwrap_or(Value::Null);
        counts.entry(v.to_string()).or_insert((v, 0)).1 += 1;
    }
    Ok(Reply::json(
        200,
        Value::Array(
            counts
                .into_values()
                .map(|(v, n)| json!({"_id": v, "count": n}))
                .collect(),
        ),
    ))
}
