//! The scheduled refresh: republishes lists that expire soon, were never published, failed, or
//! have pending changes nobody folded.

use trustfn_domain::error::ApiError;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::target::Target;

use crate::publish::{publish_inner, FOLD_CHUNK};
use crate::{now, StatusDeps};

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
    deps: &StatusDeps<'_>,
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
        for id in due {
            if started.elapsed() > budget {
                report.more = true;
                return Ok(report);
            }
            report.due += 1;
            match publish_inner(repo, deps, &id, true).await {
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
                    tracing::warn!(list = %id, error = %e, "refresh could not republish; retrying next run");
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
