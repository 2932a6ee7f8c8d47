//! One upload under the lease: conditional on the object version the last publisher stored; when
//! the registry holds something else, read back, verified and merged before anything replaces
//! it. Never blind.

use trustfn_domain::error::ApiError;
use trustfn_domain::model::Record;
use trustfn_domain::ports::{Expect, Publisher, RegistryError};

use crate::artefact::{Absorbed, Artefact, Built, Cx, Issue};
use crate::lease::still_ours;
use crate::timing::left_ms;

/// Times one round reads a registry copy back and tries again: a registry that keeps changing
/// under the lease holder is someone else writing it, and the round fails rather than loops.
pub const MERGES: u32 = 3;

/// Builds the artefact of `rec` and uploads it. The upload expects the version the last
/// publisher stored (`If-Match`, `ifGenerationMatch`; none yet: `If-None-Match: *`). When the
/// condition fails the registry's object is read back; the artefact verifies it with its own key
/// and merges into the table what it holds that the table lacks; the upload is then built again
/// if anything was merged and sent expecting exactly the version read. An object that cannot be
/// read or verified is left as it is and the round fails. `sent` tells whether an upload was
/// sent that may have landed.
pub(crate) async fn upload<A: Artefact>(
    cx: &Cx<'_>,
    artefact: &A,
    mut rec: Record<A::Doc>,
    work: &mut A::Work,
    owner: &str,
    deadline_ms: i64,
    sent: &mut bool,
) -> Result<Option<(Built, String)>, ApiError> {
    let name = artefact.name();
    let id = rec.id.clone();
    let issue = |r: &Record<A::Doc>| {
        let st = A::state(&r.doc);
        Issue {
            at: st.lease.map_or(0, |l| l.since),
            number: st.number,
        }
    };
    let mut built = artefact.build(cx, &rec, work, issue(&rec)).await?;
    let mut expect = A::state(&rec.doc).object_version;
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!(code = "PUBLISH_FAILED", id = %id, error = %e, "{name}: {what} failed");
        ApiError::upstream(&format!("the {name} registry"))
    };
    for _ in 0..=MERGES {
        // Only while the lease holds (and the caller waits): none starts without time left, and
        // one still running when it ends is abandoned (the release's fence covers one that
        // lands anyway).
        let until = A::state(&rec.doc).lease.map(|l| l.until);
        let left = left_ms(until, deadline_ms, cx.deps.clock.now_ms());
        if left < 1 {
            return Err(unavailable("the upload", &"no publish lease left"));
        }
        let (publisher, key) = artefact.destination(work);
        let condition = expect.as_deref().map_or(Expect::Absent, Expect::Version);
        let put = publisher.put(
            key,
            built.body.clone(),
            built.content_type,
            &built.cache_control,
            condition,
        );
        let result = tokio::time::timeout(std::time::Duration::from_millis(left as u64), put)
            .await
            .unwrap_or_else(|_| {
                Err(RegistryError::Unavailable(
                    "the publish lease ran out".into(),
                ))
            });
        match result {
            Ok(version) => {
                *sent = true;
                artefact.after_upload(cx, &rec, work, &built).await?;
                return Ok(Some((built, version)));
            }
            Err(RegistryError::Changed) => {}
            Err(e) => {
                *sent = true;
                return Err(unavailable("the upload", &e));
            }
        }
        // The registry holds something this lease did not write. Only the lease holder may
        // replace it: a publisher whose lease was taken over leaves it to the new holder.
        let Some(cur) = still_ours::<A>(cx, &id, owner).await? else {
            return Ok(None);
        };
        let until = A::state(&cur.doc).lease.map(|l| l.until);
        let left = left_ms(until, deadline_ms, cx.deps.clock.now_ms());
        // Read it back; merge first.
        let found = read_back(publisher, key, left)
            .await
            .map_err(|e| unavailable("reading the registry's copy back", &e))?;
        let Some(found) = found else {
            expect = None; // gone meanwhile: create it
            continue;
        };
        let absorbed = artefact.absorb(cx, &rec, work, &found.body, owner).await;
        let absorbed = absorbed.inspect_err(|e| {
            tracing::error!(code = "PUBLISH_REGISTRY_CONFLICT", id = %id, error = %e.message, "{name}: the registry holds a copy this table did not write that cannot be verified; it is not overwritten");
        })?;
        match absorbed {
            Absorbed::Superseded => {}
            Absorbed::Merged(merged) => {
                rec = merged;
                built = artefact.build(cx, &rec, work, issue(&rec)).await?;
            }
            Absorbed::Lost => return Ok(None),
        }
        tracing::warn!(id = %id, "{name}: the registry's copy changed behind this table; replacing it after reading it back");
        expect = Some(found.version);
    }
    Err(unavailable(
        "the upload",
        &"the registry's copy keeps changing under the lease holder",
    ))
}

async fn read_back(
    publisher: &dyn Publisher,
    key: &str,
    left_ms: i64,
) -> Result<Option<trustfn_domain::ports::Found>, RegistryError> {
    let left = std::time::Duration::from_millis(left_ms.max(1) as u64);
    tokio::time::timeout(left, publisher.get(key))
        .await
        .unwrap_or_else(|_| Err(RegistryError::Unavailable("reading back timed out".into())))
}
