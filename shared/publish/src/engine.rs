//! The bounded publish loop over an [`Artefact`], and the wait for a caller's change.

use trustfn_domain::error::ApiError;
use trustfn_domain::model::Record;
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;

use crate::artefact::{Artefact, Built, Cx};
use crate::lease::{release, renew, take, Attempt, Released};

/// How a publish call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This call published what was accepted before it (at least).
    Published,
    /// Another publisher holds the lease; it publishes what was accepted before it releases.
    Coalesced,
    /// Nothing new to publish.
    UpToDate,
    /// Not published at all now ([`Artefact::active`] said no).
    Inactive,
    /// The caller's deadline came first; the refresh publishes what is left.
    OutOfTime,
}

/// Least time a round needs (fold, one KMS Sign, one upload): none starts with less left.
pub const MIN_ROUND_MS: i64 = 2_000;

/// Rounds one call publishes at most before it leaves the rest to the refresh (a steady stream
/// of changes cannot keep one caller publishing for ever).
pub const MAX_ROUNDS: u32 = 8;

/// Publishes `id` when something is unpublished (or always, with `force`): serialized by the
/// lease, coalesced (changes that arrive during a round are published by the next round of the
/// same call), bounded by `deadline_ms` (Unix milliseconds of the deps' clock) and
/// [`MAX_ROUNDS`].
pub async fn publish<A: Artefact>(
    cx: &Cx<'_>,
    artefact: &A,
    id: &Target,
    mut force: bool,
    deadline_ms: i64,
) -> Result<Outcome, ApiError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let name = artefact.name();
    let mut published = false;
    let mut fenced = 0;
    let mut rounds = 0;
    let mut lost_takes = 0;
    loop {
        let done = if published {
            Outcome::Published
        } else {
            Outcome::UpToDate
        };
        if deadline_ms - cx.deps.clock.now_ms() < MIN_ROUND_MS || rounds == MAX_ROUNDS {
            return Ok(if published {
                Outcome::Published
            } else {
                Outcome::OutOfTime
            });
        }
        let rec = load_as::<A::Doc>(cx.repo, id).await?;
        let st = A::state(&rec.doc);
        if st.live_lease(cx.deps.now()).is_some() {
            return Ok(if published {
                Outcome::Published
            } else {
                Outcome::Coalesced
            });
        }
        if !artefact.active(cx, &rec).await? {
            retire::<A>(cx, rec).await?;
            return Ok(Outcome::Inactive);
        }
        let due = force || st.behind() || st.failing() || artefact.waiting(cx, &rec).await?;
        if !due {
            return Ok(done);
        }
        let Some(leased) = take::<A>(cx, &rec, &owner, deadline_ms, name).await? else {
            // Another writer changed the record first: look again, a bounded number of times.
            lost_takes += 1;
            if lost_takes > crate::lease::RACES {
                return Err(ApiError::conflict(format!(
                    "{id} keeps changing; its {name} could not be published now (the refresh retries it)"
                )));
            }
            continue;
        };
        force = false;
        rounds += 1;
        let lease = A::state(&leased.doc).lease.expect("just taken");
        let started_ms = cx.deps.clock.now_ms();
        let mut sent = false;
        let outcome = round(cx, artefact, leased, &owner, deadline_ms, &mut sent).await;
        let outcome = match outcome {
            Ok(None) => {
                tracing::info!(id = %id, "another publisher took the {name} over");
                return Ok(if published {
                    Outcome::Published
                } else {
                    Outcome::Coalesced
                });
            }
            Ok(Some(up)) => Ok(up),
            Err(e) => Err(e),
        };
        let attempt = Attempt {
            kind: name,
            started_ms,
            since: lease.since,
            sent,
            outcome: &outcome,
        };
        if release::<A>(cx, id, &owner, attempt).await? == Released::Fenced {
            // Our lease ran out and another publisher took over: our upload may have landed
            // after a newer one. The artefact is marked for a republish; do it (a bounded
            // number of times), or leave it to the publisher holding the lease now.
            tracing::warn!(id = %id, "{name} publish lease lost during the upload; republishing");
            fenced += 1;
            if fenced > 2 {
                return Err(ApiError::upstream(&format!(
                    "the {name} registry (uploads outlast the publish lease)"
                )));
            }
            force = true;
            continue;
        }
        let (built, _) = outcome?;
        published = true;
        tracing::info!(id = %id, revision = built.revision, number = ?built.number, entries = built.entries, "{name} published");
        // Loop: changes accepted meanwhile are published now (coalesced).
    }
}

/// One round under the lease: prepare, renew if the preparation was long, build, upload.
/// `Ok(None)` when the lease was lost before the upload.
async fn round<A: Artefact>(
    cx: &Cx<'_>,
    artefact: &A,
    leased: Record<A::Doc>,
    owner: &str,
    deadline_ms: i64,
    sent: &mut bool,
) -> Result<Option<(Built, String)>, ApiError> {
    let Some((rec, mut work)) = artefact.prepare(cx, leased, owner).await? else {
        return Ok(None);
    };
    let Some(rec) = renew::<A>(cx, rec, owner, deadline_ms).await? else {
        return Ok(None);
    };
    crate::upload::upload(cx, artefact, rec, &mut work, owner, deadline_ms, sent).await
}

/// Takes an inactive artefact out of the refresh index (until it is active again).
async fn retire<A: Artefact>(cx: &Cx<'_>, rec: Record<A::Doc>) -> Result<(), ApiError> {
    if A::state(&rec.doc).refresh_at.is_none() {
        return Ok(());
    }
    let mut off = rec.clone();
    A::state_mut(&mut off.doc).refresh_at = None;
    let op = trustfn_domain::repo::Op::Replace {
        record: off.upcast(),
        expected_version: rec.version,
        children_delta: 0,
    };
    match cx.repo.commit(vec![op]).await {
        // A lost race: whoever won wrote a newer record; this comes up again.
        Ok(())
        | Err(
            trustfn_domain::repo::RepoError::ConditionFailed { .. }
            | trustfn_domain::repo::RepoError::TransactionConflict,
        ) => Ok(()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Whether a change was published by the time a caller stopped waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    Published,
    /// Not yet: it stays due; the refresh publishes it. The error, when a publish failed.
    Unpublished(Option<String>),
}

/// Whether the change `mark` names is in a published revision (two reads at most: what a
/// waiting caller costs per look, besides the publish call's own read of the record).
async fn published<A: Artefact>(
    cx: &Cx<'_>,
    artefact: &A,
    id: &Target,
    mark: &str,
) -> Result<bool, ApiError> {
    let (covering, st) = artefact.covering(cx, id, mark).await?;
    Ok(covering.is_some_and(|rev| st.published_revision >= rev))
}

/// How often a caller waiting for another publisher looks again.
const POLL_MS: u64 = 250;

/// Publishes `id` until the change `mark` names is published: itself, or by waiting for the
/// publisher holding the lease (each look is a publish call: it takes the lease over once it
/// lapses), until `deadline_ms`. The answer tells the caller the truth: published, or not yet
/// (the change stays due and the refresh publishes it).
pub async fn publish_and_wait<A: Artefact>(
    cx: &Cx<'_>,
    artefact: &A,
    id: &Target,
    mark: &str,
    deadline_ms: i64,
) -> Result<Settled, ApiError> {
    loop {
        let outcome = match publish(cx, artefact, id, false, deadline_ms).await {
            Ok(o) => o,
            Err(e) => return Ok(Settled::Unpublished(Some(e.message))),
        };
        if published(cx, artefact, id, mark).await? {
            return Ok(Settled::Published);
        }
        if matches!(outcome, Outcome::Inactive | Outcome::OutOfTime) {
            return Ok(Settled::Unpublished(None));
        }
        cx.deps.clock.sleep(POLL_MS).await;
    }
}
