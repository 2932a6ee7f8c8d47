//! The publish lease: taking it (with the artefact's next number), renewing it after a long
//! preparation, committing under it, and releasing it with the outcome, fenced by its owner.

use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Lease, PublishState, Record};
use trustfn_domain::repo::{Op, RepoError};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;
use trustfn_metrics::Emf;

use crate::artefact::{Artefact, Built, Cx};
use crate::timing::{lease_secs, left_ms, next_number, retry_time};

/// Times a write under the lease is tried again after losing a race to a write that left the
/// lease ours (a revocation bumping an IACA record, a fenced publisher's marker).
pub const RACES: u32 = 8;

/// The stored record when `owner` still holds its lease, else `None`.
pub async fn still_ours<A: Artefact>(
    cx: &Cx<'_>,
    id: &Target,
    owner: &str,
) -> Result<Option<Record<A::Doc>>, ApiError> {
    let cur = load_as::<A::Doc>(cx.repo, id).await?;
    let ours = A::state(&cur.doc).held_by(owner, cx.deps.now());
    Ok(ours.then_some(cur))
}

fn replace<D: trustfn_domain::model::DocKind>(rec: Record<D>, expected_version: u64) -> Op {
    Op::Replace {
        record: rec.upcast(),
        expected_version,
        children_delta: 0,
    }
}

/// A write under the lease: the record as read, changed; how many children the other writes
/// create under it; and the other writes.
pub struct Planned<D> {
    pub next: Record<D>,
    pub children_delta: i64,
    pub others: Vec<Op>,
}

impl<D> Planned<D> {
    /// Just the record.
    pub fn record(next: Record<D>) -> Planned<D> {
        Planned {
            next,
            children_delta: 0,
            others: Vec::new(),
        }
    }
}

/// Writes what `plan` makes of the record in one commit expecting the version read; on a lost
/// race re-reads and, while `owner` holds the lease, plans again. Returns the record as stored,
/// or `None` when the lease was lost.
pub async fn commit_under_lease<A: Artefact>(
    cx: &Cx<'_>,
    mut rec: Record<A::Doc>,
    owner: &str,
    mut plan: impl FnMut(&Record<A::Doc>) -> Result<Planned<A::Doc>, ApiError>,
) -> Result<Option<Record<A::Doc>>, ApiError> {
    for _ in 0..RACES {
        let Planned {
            mut next,
            children_delta,
            others,
        } = plan(&rec)?;
        let mut ops = vec![Op::Replace {
            record: next.clone().upcast(),
            expected_version: rec.version,
            children_delta,
        }];
        ops.extend(others);
        match cx.repo.commit(ops).await {
            Ok(()) => {
                next.version = rec.version + 1;
                next.children = rec.children + children_delta;
                return Ok(Some(next));
            }
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
                match still_ours::<A>(cx, &rec.id, owner).await? {
                    Some(cur) => rec = cur,
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    }
    Err(ApiError::conflict(format!(
        "{} keeps changing under its publisher; the refresh will publish it",
        rec.id
    )))
}

/// Takes the lease of `rec` for `owner`: until a full lease from now, or the caller's deadline
/// if sooner (a lease never outlives its holder's invocation), with the artefact's next number,
/// due for the refresh when the lease ends (should the holder die). A lease left by a publisher
/// that never released it may have put an object in the registry: its issue time counts as one
/// of ours. One conditional write; `None` when another writer changed the record first. A take
/// whose answer was lost (the write may have landed) recognises its own lease.
pub(crate) async fn take<A: Artefact>(
    cx: &Cx<'_>,
    rec: &Record<A::Doc>,
    owner: &str,
    deadline_ms: i64,
    kind: &'static str,
) -> Result<Option<Record<A::Doc>>, ApiError> {
    let now_ms = cx.deps.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    let mut leased = rec.clone();
    let st = A::state_mut(&mut leased.doc);
    let took_over = st.lease.is_some();
    if let Some(prior) = st.lease.take() {
        // Never released: its upload may have landed.
        st.known_through = st.known_through.max(Some(prior.since));
    }
    let until = (now + lease_secs()).min(deadline_ms.div_euclid(1000));
    st.lease = Some(Lease {
        owner: owner.to_owned(),
        since: now,
        until,
    });
    st.number = st.number.map(|n| next_number(n, now_ms));
    st.refresh_at = Some(st.refresh_at.unwrap_or(i64::MAX).min(until));
    match cx
        .repo
        .commit(vec![replace(leased.clone(), rec.version)])
        .await
    {
        Ok(()) => {
            leased.version = rec.version + 1;
            if took_over {
                // A publisher died (or stalled) holding the lease, and this one took it over.
                Emf::new()
                    .dim("Kind", trustfn_metrics::kind(kind))
                    .count("LeaseTakeover", 1)
                    .emit();
            }
            Ok(Some(leased))
        }
        Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
            still_ours::<A>(cx, &rec.id, owner).await
        }
        Err(e) => match still_ours::<A>(cx, &rec.id, owner).await {
            Ok(Some(cur)) => Ok(Some(cur)),
            _ => Err(ApiError::from(e)),
        },
    }
}

/// Extends a held lease to a full period (within the deadline) when less than half of it is
/// left, keeping its start (the issue time) and number. `None` when the lease was lost.
pub(crate) async fn renew<A: Artefact>(
    cx: &Cx<'_>,
    rec: Record<A::Doc>,
    owner: &str,
    deadline_ms: i64,
) -> Result<Option<Record<A::Doc>>, ApiError> {
    let until = (cx.deps.now() + lease_secs()).min(deadline_ms.div_euclid(1000));
    let current = A::state(&rec.doc).lease.map(|l| l.until);
    let left = left_ms(current, i64::MAX, cx.deps.clock.now_ms());
    if left * 2 >= lease_secs() * 1000 || Some(until) <= current {
        return Ok(Some(rec));
    }
    let renewed = commit_under_lease::<A>(cx, rec, owner, |r| {
        let mut next = r.clone();
        let st = A::state_mut(&mut next.doc);
        if let Some(l) = st.lease.as_mut() {
            l.until = until;
        }
        st.refresh_at = Some(st.refresh_at.unwrap_or(i64::MAX).min(until));
        Ok(Planned::record(next))
    })
    .await?;
    if renewed.is_some() {
        tracing::info!(
            owner,
            until,
            "publish lease renewed after a long preparation"
        );
    }
    Ok(renewed)
}

/// What one round under a lease did, for its release.
pub(crate) struct Attempt<'a> {
    /// The artefact's name ([`crate::Artefact::name`]).
    pub kind: &'static str,
    /// When the round started (Unix milliseconds of the deps' clock).
    pub started_ms: i64,
    /// The lease's start: the issue time of what the round built.
    pub since: i64,
    /// An upload was sent that may have landed (anything but a refused condition).
    pub sent: bool,
    pub outcome: &'a Result<(Built, String), ApiError>,
}

/// How a release went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    Done,
    /// The lease was no longer ours: nothing of the outcome was recorded; the artefact was
    /// marked for a republish instead.
    Fenced,
}

/// Records the outcome of a round and releases the lease. Fenced by the lease's owner: when the
/// lease is no longer `owner`'s (it ran out and another publisher took it), nothing of the
/// outcome is recorded; the revision is bumped instead, so whoever publishes next publishes
/// again and the registry ends with the newest state even if our upload landed last.
pub(crate) async fn release<A: Artefact>(
    cx: &Cx<'_>,
    id: &Target,
    owner: &str,
    attempt: Attempt<'_>,
) -> Result<Released, ApiError> {
    if let Err(ApiError {
        cause: Some(cause),
        message,
        ..
    }) = &attempt.outcome
    {
        // A failure whose cause no one logged yet (a KMS or storage error under the build): the
        // record keeps only the message, the log the cause.
        tracing::error!(code = "PUBLISH_FAILED", id = %id, error = %message, cause = %cause, "publish failed");
    }
    for _ in 0..RACES {
        let cur = load_as::<A::Doc>(cx.repo, id).await?;
        let mut next = cur.clone();
        let now = cx.deps.now();
        let fenced = {
            let st = A::state_mut(&mut next.doc);
            let fenced = st.lease.as_ref().is_none_or(|l| l.owner != owner);
            if attempt.sent {
                st.known_through = st.known_through.max(Some(attempt.since));
            }
            if fenced {
                st.revision += 1;
                st.refresh_at = Some(st.refresh_at.unwrap_or(i64::MAX).min(now));
            } else {
                st.lease = None;
                match attempt.outcome {
                    Ok((built, version)) => record_success(st, built, version, now),
                    Err(e) => record_failure(st, &e.message, now),
                }
            }
            fenced
        };
        if let (false, Ok((built, _))) = (fenced, attempt.outcome) {
            A::published(&mut next.doc, built);
        }
        let state = A::state(&next.doc);
        let mut ops = vec![replace(next, cur.version)];
        if !fenced {
            // What verifiers now see (or why they do not): on the organization's audit log.
            ops.push(Op::Audit(vec![publish_fact(id, attempt.outcome)]));
            if let Ok((built, _)) = attempt.outcome {
                ops.extend(built.keep.iter().cloned());
            }
        }
        match cx.repo.commit(ops).await {
            Ok(()) if fenced => return Ok(Released::Fenced),
            Ok(()) => {
                publish_metrics(&attempt, &state, cx.deps.clock.now_ms());
                return Ok(Released::Done);
            }
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
            Err(e) => return Err(ApiError::from(e)),
        }
    }
    Err(ApiError::conflict(format!(
        "{id} keeps changing; its publish outcome could not be recorded"
    )))
}

/// The metrics of a recorded publish attempt (dimension `Kind`): `Published` or `PublishFailed`,
/// `ConsecutiveFailures`, `PublishDuration`, and what is left of the published artefact's
/// validity (`HeadroomSeconds`, `HeadroomRatio` of its whole validity; after a failure, of the
/// copy verifiers still read): the alarms page an operator before it runs out.
fn publish_metrics(attempt: &Attempt<'_>, st: &PublishState, now_ms: i64) {
    let ok = attempt.outcome.is_ok();
    let mut emf = Emf::new()
        .dim("Kind", trustfn_metrics::kind(attempt.kind))
        .count("Published", ok as u64)
        .count("PublishFailed", (!ok) as u64)
        .count("ConsecutiveFailures", st.failures as u64)
        .ms(
            "PublishDuration",
            (now_ms - attempt.started_ms).max(0) as f64,
        );
    if let (Some(issued), Some(expires)) = (st.issued_at, st.expires_at) {
        let left = expires as f64 - now_ms as f64 / 1000.0;
        emf = emf.secs("HeadroomSeconds", left.max(0.0));
        if expires > issued {
            emf = emf.ratio(
                "HeadroomRatio",
                (left / (expires - issued) as f64).clamp(0.0, 1.0),
            );
        }
    }
    emf.emit();
}

/// The audit log's record of a publish: what was published (its hash, number, validity), or
/// why nothing was.
fn publish_fact(
    id: &Target,
    outcome: &Result<(Built, String), ApiError>,
) -> serde_json::Map<String, serde_json::Value> {
    let v = match outcome {
        Ok((built, _)) => serde_json::json!({
            "op": "publish",
            "id": id.as_str(),
            "revision": built.revision,
            "number": built.number,
            "payloadSha256": trustfn_domain::audit::entry::hash_hex(&built.body),
            "issuedAt": built.issued_at,
            "expiresAt": built.expires_at,
        }),
        Err(e) => {
            serde_json::json!({"op": "publish-failed", "id": id.as_str(), "error": e.message})
        }
    };
    match v {
        serde_json::Value::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            m
        }
        _ => Default::default(),
    }
}

fn record_success(st: &mut PublishState, built: &Built, version: &str, now: i64) {
    // Never lower: what is published is published.
    st.published_revision = st.published_revision.max(built.revision);
    st.published_number = st.published_number.max(built.number);
    st.issued_at = Some(built.issued_at);
    st.expires_at = Some(built.expires_at);
    st.object_version = Some(version.to_owned());
    st.publishes += 1;
    st.failures = 0;
    st.last_error = None;
    st.last_error_at = None;
    // Changes accepted during the publish are published soon (by this publisher's next round,
    // the refresh at the latest).
    st.refresh_at = Some(match st.behind() {
        true => built.refresh_at.min(now + crate::grace_secs()),
        false => built.refresh_at,
    });
}

fn record_failure(st: &mut PublishState, message: &str, now: i64) {
    st.failures = st.failures.saturating_add(1);
    st.last_error = Some(message.to_owned());
    st.last_error_at = Some(now);
    st.refresh_at = Some(retry_time(now, st.failures, st.expires_at));
}
