//! The scheduled refresh: republishes every artefact due in the refresh index (expiring soon,
//! never published, failed and backing off, or left unpublished by a publisher that died), each
//! by the publisher of its kind, in turns across organizations, until the run's deadline.

use async_trait::async_trait;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::Kind;
use trustfn_domain::target::Target;

use crate::artefact::Cx;
use crate::engine::{Outcome, MIN_ROUND_MS};

/// Publishes the artefacts of some kinds of record for the refresh.
#[async_trait]
pub trait Republisher: Send + Sync {
    /// Whether records of `kind` are this publisher's.
    fn handles(&self, kind: Kind) -> bool;
    /// Publishes the due record `id` again, whether or not anything changed (it is due).
    async fn republish(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        deadline_ms: i64,
    ) -> Result<Outcome, ApiError>;
    /// `id` is due but has no record any more: removes what it left behind.
    async fn gone(&self, _cx: &Cx<'_>, _id: &Target) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Due artefacts in turns across organizations (keeping each organization's order), so one
/// organization's many lists or dead registry do not hold back another's.
pub fn round_robin(due: Vec<Target>) -> Vec<Target> {
    let mut queues: Vec<(String, std::collections::VecDeque<Target>)> = Vec::new();
    for id in due {
        match queues.iter_mut().find(|(org, _)| org == id.org()) {
            Some((_, q)) => q.push_back(id),
            None => queues.push((id.org().to_owned(), [id].into())),
        }
    }
    let mut out = Vec::new();
    while queues.iter().any(|(_, q)| !q.is_empty()) {
        for (_, q) in queues.iter_mut() {
            out.extend(q.pop_front());
        }
    }
    out
}

/// What one refresh run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RefreshReport {
    pub due: usize,
    pub republished: usize,
    pub failed: usize,
    /// Due, but another publisher held the lease (it publishes them).
    pub held: usize,
    /// True when the run stopped at its deadline with artefacts still due (the next run goes on).
    pub more: bool,
}

/// Republishes everything due within `lookahead` seconds, in pages of `page`, until
/// `deadline_ms`. Idempotent: an artefact republished here is not due again until its new
/// expiry approaches. Each artefact at most once per run.
pub async fn refresh(
    cx: &Cx<'_>,
    publishers: &[&dyn Republisher],
    lookahead: i64,
    page: usize,
    deadline_ms: i64,
) -> Result<RefreshReport, ApiError> {
    let mut report = RefreshReport::default();
    let mut skip = std::collections::HashSet::new();
    loop {
        let due: Vec<Target> = cx
            .repo
            .due(cx.deps.now() + lookahead, page + skip.len())
            .await?
            .into_iter()
            .filter(|id| !skip.contains(id))
            .collect();
        if due.is_empty() {
            return Ok(report);
        }
        for id in round_robin(due) {
            if deadline_ms - cx.deps.clock.now_ms() < MIN_ROUND_MS {
                report.more = true;
                return Ok(report);
            }
            report.due += 1;
            skip.insert(id.clone());
            let outcome = republish(cx, publishers, &id, deadline_ms).await;
            match outcome {
                Ok(Outcome::Coalesced) => report.held += 1,
                Ok(Outcome::OutOfTime) => {
                    report.more = true;
                    return Ok(report);
                }
                Ok(_) => report.republished += 1,
                Err(e) => {
                    tracing::error!(code = "REFRESH_PUBLISH_FAILED", id = %id, error = %e, "refresh could not republish; retrying with backoff");
                    report.failed += 1;
                }
            }
            tracing::info!(
                due = report.due,
                republished = report.republished,
                failed = report.failed,
                held = report.held,
                "refresh progress"
            );
        }
    }
}

async fn republish(
    cx: &Cx<'_>,
    publishers: &[&dyn Republisher],
    id: &Target,
    deadline_ms: i64,
) -> Result<Outcome, ApiError> {
    // A registry that never answers costs this artefact the rest of the run, not the whole
    // invocation (the adapters' own timeouts usually end it sooner).
    let left = deadline_ms - cx.deps.clock.now_ms();
    let work = async {
        let Some(rec) = cx.repo.get(id).await? else {
            for p in publishers {
                p.gone(cx, id).await?;
            }
            return Ok(Outcome::UpToDate);
        };
        let kind = rec.kind();
        match publishers.iter().find(|p| p.handles(kind)) {
            Some(p) => p.republish(cx, id, deadline_ms).await,
            None => Err(ApiError::internal_msg(format!(
                "{id} ({}) is in the refresh index but nothing publishes it",
                kind.as_str()
            ))),
        }
    };
    tokio::time::timeout(std::time::Duration::from_millis(left.max(1) as u64), work)
        .await
        .unwrap_or_else(|_| Err(ApiError::upstream("registry (timed out)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_artefacts_take_turns_across_organizations() {
        let t = |s: &str| Target::parse(s).unwrap();
        let due = [
            "a.t.s.c.1",
            "a.t.s.c.2",
            "a.t.s.c.3",
            "b.t.s.c.1",
            "c.t.s.c.1",
            "b.t.s.c.2",
        ];
        let order: Vec<String> = round_robin(due.iter().map(|s| t(s)).collect())
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "a.t.s.c.1",
                "b.t.s.c.1",
                "c.t.s.c.1",
                "a.t.s.c.2",
                "b.t.s.c.2",
                "a.t.s.c.3"
            ]
        );
    }
}
