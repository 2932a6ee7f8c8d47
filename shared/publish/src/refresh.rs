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
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RefreshReport {
    pub due: usize,
    pub republished: usize,
    pub failed: usize,
    /// Due, but another publisher held the lease (it publishes them).
    pub held: usize,
    /// Due, but left for the next run: their organization failed [`FAILS_PER_ORG`] times in
    /// this one (a dead registry), so the others' share of the run is kept.
    pub deferred: usize,
    /// True when the run stopped at its deadline with artefacts still due (the next run goes on).
    pub more: bool,
}

impl RefreshReport {
    /// The run's metrics (no dimension): `RefreshRun` (1 per run: its absence pages), what was
    /// due, republished, failed, held and deferred, and how long the run took.
    pub fn emit_metrics(&self, duration_ms: i64) {
        trustfn_metrics::Emf::new()
            .count("RefreshRun", 1)
            .count("RefreshDue", self.due as u64)
            .count("RefreshRepublished", self.republished as u64)
            .count("RefreshFailed", self.failed as u64)
            .count("RefreshHeld", self.held as u64)
            .count("RefreshDeferred", self.deferred as u64)
            .ms("RefreshDuration", duration_ms.max(0) as f64)
            .emit();
    }
}

/// Most artefacts one run reads from the refresh index at once (before turns are taken).
pub const MAX_DUE: usize = 2000;
/// Artefacts republished at the same time: a registry that never answers holds one slot, not
/// the run.
pub const CONCURRENCY: usize = 4;
/// Failures of one organization in a run after which its other due artefacts wait for the next
/// run (they back off anyway): one tenant's dead registries cannot take everyone's time.
pub const FAILS_PER_ORG: usize = 3;
/// Longest one artefact may take in a run.
pub const ITEM_MS: i64 = 20_000;

/// Republishes everything due within `lookahead` seconds until `deadline_ms`. Idempotent: an
/// artefact republished here is not due again until its new expiry approaches. Each artefact at
/// most once per run.
///
/// Fair across organizations: every due artefact (up to `page` or [`MAX_DUE`] at a time,
/// whichever is more) is ordered in turns across organizations before any is published, [`CONCURRENCY`] are
/// published at once, each within [`ITEM_MS`], and an organization that failed [`FAILS_PER_ORG`]
/// times in the run has the rest of its artefacts deferred to the next.
pub async fn refresh(
    cx: &Cx<'_>,
    publishers: &[&dyn Republisher],
    lookahead: i64,
    page: usize,
    deadline_ms: i64,
) -> Result<RefreshReport, ApiError> {
    use futures::stream::{self, StreamExt};
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    let report = Mutex::new(RefreshReport::default());
    let fails: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    let mut skip = HashSet::new();
    loop {
        // Everything due (what this run already took is still listed while it backs off or is
        // held, so it is read past and left out).
        let due: Vec<Target> = cx
            .repo
            .due(cx.deps.now() + lookahead, page.max(MAX_DUE) + skip.len())
            .await?
            .into_iter()
            .filter(|id| !skip.contains(id))
            .collect();
        if due.is_empty() {
            break;
        }
        skip.extend(due.iter().cloned());
        let out_of_time = std::sync::atomic::AtomicBool::new(false);
        stream::iter(round_robin(due))
            .for_each_concurrent(CONCURRENCY, |id| {
                let (report, fails, out_of_time) = (&report, &fails, &out_of_time);
                async move {
                    let now = cx.deps.clock.now_ms();
                    if out_of_time.load(std::sync::atomic::Ordering::SeqCst)
                        || deadline_ms - now < MIN_ROUND_MS
                    {
                        out_of_time.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    let org = id.org().to_owned();
                    if fails.lock().expect("lock").get(&org).copied().unwrap_or(0)
                        >= FAILS_PER_ORG
                    {
                        report.lock().expect("lock").deferred += 1;
                        return;
                    }
                    report.lock().expect("lock").due += 1;
                    let item_deadline = deadline_ms.min(now + ITEM_MS);
                    let outcome = republish(cx, publishers, &id, item_deadline).await;
                    let mut r = report.lock().expect("lock");
                    match outcome {
                        Ok(Outcome::Coalesced) => r.held += 1,
                        Ok(Outcome::OutOfTime) => out_of_time.store(true, std::sync::atomic::Ordering::SeqCst),
                        Ok(_) => r.republished += 1,
                        Err(e) => {
                            tracing::error!(code = "REFRESH_PUBLISH_FAILED", id = %id, org = %org, error = %e, "refresh could not republish; retrying with backoff");
                            r.failed += 1;
                            *fails.lock().expect("lock").entry(org).or_default() += 1;
                        }
                    }
                    tracing::info!(
                        due = r.due,
                        republished = r.republished,
                        failed = r.failed,
                        held = r.held,
                        deferred = r.deferred,
                        "refresh progress"
                    );
                }
            })
            .await;
        if out_of_time.load(std::sync::atomic::Ordering::SeqCst) {
            let mut r = report.into_inner().expect("lock");
            r.more = true;
            return Ok(r);
        }
    }
    let mut r = report.into_inner().expect("lock");
    r.more = r.deferred > 0;
    Ok(r)
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
