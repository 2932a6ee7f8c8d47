//! The scheduled refresh: republishes lists that expire soon, were never published, failed, or
//! have pending changes nobody folded; and hands other due records (IACAs' CRLs at half their
//! validity) to their own publisher.

use trustfn_domain::error::ApiError;
use trustfn_domain::model::Kind;
use trustfn_domain::ports::Republisher;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::target::Target;

use crate::publish::{publish_inner, FOLD_CHUNK};
use crate::{now, PublishDeps};

/// Due lists in turns across organizations (keeping each organization's order), so one
/// organization's many lists or dead registry do not hold back another's.
pub(crate) fn round_robin(due: Vec<Target>) -> Vec<Target> {
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
    /// True when the run stopped at its time budget with lists still due (the next run goes on).
    pub more: bool,
}

/// The scheduled refresh: re-signs and republishes every list due within `lookahead` seconds
/// (expiring soon, never published, or whose last publish failed), in pages of `page`, until
/// `budget` runs out. Idempotent: a list republished here is not due again until its new `exp`
/// approaches.
pub async fn refresh(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    others: &dyn Republisher,
    lookahead: i64,
    page: usize,
    budget: std::time::Duration,
) -> Result<RefreshReport, ApiError> {
    let started = std::time::Instant::now();
    let mut report = RefreshReport::default();
    let mut skip = std::collections::HashSet::new();
    loop {
        let due: Vec<Target> = repo
            .due(now() + lookahead, page + skip.len())
            .await?
            .into_iter()
            .filter(|id| !skip.contains(id))
            .collect();
        if due.is_empty() {
            return Ok(report);
        }
        for id in round_robin(due) {
            let Some(left) = budget.checked_sub(started.elapsed()) else {
                report.more = true;
                return Ok(report);
            };
            report.due += 1;
            // A registry that never answers costs this list the rest of the run, not the
            // Lambda's whole timeout (the adapters' own timeouts usually end it sooner).
            let outcome = tokio::time::timeout(left, async {
                match repo.get(&id).await? {
                    // Due records that are not status lists (IACAs' CRLs) go to their publisher.
                    Some(rec) if rec.kind() != Kind::StatusList => others.republish(&rec).await,
                    _ => publish_inner(repo, deps, &id, true).await,
                }
            })
            .await
            .unwrap_or_else(|_| Err(ApiError::upstream("registry (timed out)")));
            match outcome {
                Ok(()) => report.republished += 1,
                Err(e) if e.status == 404 => {
                    // The list was deleted: its pending changes have nothing left to change.
                    for p in repo.pending(&id, FOLD_CHUNK).await? {
                        let op = Op::RemovePending {
                            list: id.clone(),
                            seq: p.seq,
                        };
                        repo.commit(vec![op]).await?;
                    }
                    tracing::info!(list = %id, "dropped pending changes of a deleted list");
                }
                Err(e) => {
                    tracing::error!(code = "STATUS_LIST_PUBLISH_FAILED", list = %id, error = %e, "refresh could not republish; retrying with backoff");
                    report.failed += 1;
                }
            }
            skip.insert(id); // each list at most once per run
            tracing::info!(
                due = report.due,
                republished = report.republished,
                failed = report.failed,
                "refresh progress"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_lists_take_turns_across_organizations() {
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
