//! A list's publish lease: taking it, renewing it after a long fold, and releasing it with the
//! outcome of the publish, fenced by its owner. Publishes of one list are serialized by it.

use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Record, StatusList};
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;

use crate::{grace_secs, lease_secs, now, rfc3339};

/// What a successful upload published: when it was issued and until when it is valid.
pub(crate) struct Published {
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) ttl: i64,
    /// The registry's version of the uploaded object.
    pub(crate) version: String,
}

/// Times a publisher goes on after a write of its own failed while its lease still held (the
/// record was rewritten by a stale publisher's republish marker).
pub(crate) const RACES: u32 = 5;

/// The stored list when its lease is still `owner`'s, else `None` (another publisher took it).
pub(crate) async fn still_ours(
    repo: &dyn Repository,
    list_id: &Target,
    owner: &str,
) -> Result<Option<Record<StatusList>>, ApiError> {
    let cur = load_as::<StatusList>(repo, list_id).await?;
    let ours = cur.doc.lease_owner.as_deref() == Some(owner)
        && cur.doc.lease_until.is_some_and(|u| u > now());
    Ok(ours.then_some(cur))
}

/// Writes a lease for `owner` until a full period from now into `rec` (expecting its version),
/// making the list due for the refresh should the holder die before its release. `None` when
/// the record changed meanwhile.
async fn take_lease(
    repo: &dyn Repository,
    rec: &Record<StatusList>,
    owner: &str,
) -> Result<Option<Record<StatusList>>, ApiError> {
    let mut leased = rec.clone();
    leased.doc.lease_until = Some(now() + lease_secs());
    leased.doc.lease_owner = Some(owner.to_owned());
    leased.doc.refresh_at = rec.doc.refresh_at.min(now() + grace_secs());
    let op = Op::Replace {
        record: leased.clone().upcast(),
        expected_version: rec.version,
        children_delta: 0,
    };
    match repo.commit(vec![op]).await {
        Ok(()) => {
            leased.version = rec.version + 1;
            Ok(Some(leased))
        }
        Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => Ok(None),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Extends a held lease to a full period when less than half of it is left (one conditional
/// write, expecting the record as we hold it). `None` when another publisher took the lease.
pub(crate) async fn renew_lease(
    repo: &dyn Repository,
    mut list: Record<StatusList>,
    owner: &str,
) -> Result<Option<Record<StatusList>>, ApiError> {
    for _ in 0..RACES {
        let left = list.doc.lease_until.map_or(0, |u| u - now());
        if left * 2 >= lease_secs() {
            return Ok(Some(list));
        }
        if let Some(renewed) = take_lease(repo, &list, owner).await? {
            tracing::info!(list = %list.id, "publish lease renewed after a long fold");
            return Ok(Some(renewed));
        }
        match still_ours(repo, &list.id, owner).await? {
            Some(cur) => list = cur,
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// How a release went: the lease was still ours, or another publisher had taken it over.
#[derive(Debug, PartialEq)]
pub(crate) enum Released {
    Done,
    Fenced,
}

/// Takes the list's publish lease when there is something to publish (or `force`). `None` when
/// nothing is to be done, or another publisher holds the lease (it looks for pending changes
/// again after it releases it, so it publishes ours too).
pub(crate) async fn acquire_lease(
    repo: &dyn Repository,
    list_id: &Target,
    owner: &str,
    force: bool,
) -> Result<Option<Record<StatusList>>, ApiError> {
    loop {
        let rec = load_as::<StatusList>(repo, list_id).await?;
        let list = &rec.doc;
        if list.lease_until.is_some_and(|until| until > now()) {
            return Ok(None);
        }
        let waiting = !repo.pending(list_id, 1).await?.is_empty();
        if list.published_version >= list.status_version && !waiting && !force && !list.failing() {
            return Ok(None);
        }
        // Should we die before the release, the refresh takes over once the lease has expired.
        if let Some(leased) = take_lease(repo, &rec, owner).await? {
            return Ok(Some(leased));
        }
    }
}

/// Records the outcome of a publish of `version` and releases the lease, keeping statuses
/// written meanwhile. Fenced by the lease owner: when the lease is no longer `owner`'s (it
/// expired and another publisher took it), nothing of the outcome is recorded; instead the list
/// gets a status version nobody has published, so whoever publishes next publishes again and the
/// registry ends with the newest statuses even if our upload landed last.
pub(crate) async fn release(
    repo: &dyn Repository,
    list_id: &Target,
    owner: &str,
    version: i64,
    outcome: &Result<Published, ApiError>,
) -> Result<Released, ApiError> {
    loop {
        let cur = load_as::<StatusList>(repo, list_id).await?;
        let mut next = cur.clone();
        let list = &mut next.doc;
        let fenced = list.lease_owner.as_deref() != Some(owner);
        if fenced {
            list.status_version += 1;
            list.refresh_at = list.refresh_at.min(now());
        } else {
            list.lease_until = None;
            list.lease_owner = None;
        }
        match outcome {
            _ if fenced => {}
            Ok(p) => {
                // Never lower: a version published is published.
                list.published_version = list.published_version.max(version);
                list.refresh_at = refresh_time(p.iat, p.exp, p.ttl);
                list.published_at = Some(rfc3339(p.iat));
                list.exp = Some(rfc3339(p.exp));
                list.exp_unix = Some(p.exp);
                list.publish_error = Some(None);
                list.object_version = Some(p.version.clone());
                list.publishes = Some(cur.doc.publishes.unwrap_or(0) + 1);
                list.failures = None;
            }
            Err(e) => {
                let failures = cur.doc.failures.unwrap_or(0).saturating_add(1);
                list.publish_error = Some(Some(e.message.clone()));
                list.publish_error_at = Some(rfc3339(now()));
                list.failures = Some(failures);
                list.refresh_at = retry_time(now(), failures, cur.doc.exp_unix);
            }
        }
        let op = Op::Replace {
            record: next.upcast(),
            expected_version: cur.version,
            children_delta: 0,
        };
        match repo.commit(vec![op]).await {
            Ok(()) if fenced => return Ok(Released::Fenced),
            Ok(()) => return Ok(Released::Done),
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

pub(crate) use trustfn_domain::publishing::retry_time;

/// When the scheduled refresh republishes a list: `ttl` plus five minutes before `exp` (so no
/// consumer ever holds an expired list), and not sooner than a minute after `iat`.
pub(crate) fn refresh_time(iat: i64, exp: i64, ttl: i64) -> i64 {
    (exp - ttl - 300).max(iat + 60)
}

#[cfg(test)]
mod fence_tests {
    use super::*;
    use serde_json::json;
    use trustfn_domain::memory::MemoryRepo;
    use trustfn_testkit::t;

    async fn leased_list(repo: &MemoryRepo, owner: &str, published: i64, status: i64) -> Target {
        let id = t("acme.t1.st.c.l1");
        let list: StatusList = serde_json::from_value(json!({
            "listId": "l1", "uri": "https://x/l1", "objectKey": "status-lists/acme.t1.st.c/l1",
            "size": 1024, "allocated": 3, "statusVersion": status, "publishedVersion": published,
            "_refreshAt": 1_700_000_000, "_statuses": "eJw=", "_allocated": "eJw=",
            "_leaseUntil": now() + 60, "_leaseOwner": owner
        }))
        .unwrap();
        repo.commit(vec![Op::Create(Record::new(id.clone(), list))])
            .await
            .unwrap();
        id
    }

    fn published() -> Result<Published, ApiError> {
        Ok(Published {
            iat: now(),
            exp: now() + 3600,
            ttl: 600,
            version: "1".into(),
        })
    }

    #[tokio::test]
    async fn a_release_by_a_publisher_that_lost_its_lease_changes_only_a_republish_marker() {
        let repo = MemoryRepo::new();
        // B holds the lease and has published version 7; A's late upload was of version 5.
        let id = leased_list(&repo, "B", 7, 7).await;
        let out = release(&repo, &id, "A", 5, &published()).await.unwrap();
        assert_eq!(out, Released::Fenced);
        let list = load_as::<StatusList>(&repo, &id).await.unwrap().doc;
        assert_eq!(list.published_version, 7, "never lowered");
        assert_eq!(
            list.lease_owner.as_deref(),
            Some("B"),
            "B's lease stays B's"
        );
        assert_eq!(
            list.status_version, 8,
            "whoever publishes next publishes again"
        );
        assert!(list.refresh_at <= now());
    }

    #[tokio::test]
    async fn a_lease_half_spent_by_a_long_fold_is_renewed_unless_lost() {
        let repo = MemoryRepo::new();
        let id = leased_list(&repo, "A", 1, 2).await;
        let mut held = load_as::<StatusList>(&repo, &id).await.unwrap();
        // Plenty left: nothing written.
        let same = renew_lease(&repo, held.clone(), "A")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(same.version, held.version);
        // Less than half left: a full lease again.
        held.doc.lease_until = Some(now() + 1);
        let v = held.version;
        repo.commit(vec![Op::Replace {
            record: held.clone().upcast(),
            expected_version: v,
            children_delta: 0,
        }])
        .await
        .unwrap();
        held.version = v + 1;
        let renewed = renew_lease(&repo, held.clone(), "A")
            .await
            .unwrap()
            .unwrap();
        assert!(renewed.doc.lease_until.unwrap() >= now() + lease_secs() - 1);
        assert_eq!(
            load_as::<StatusList>(&repo, &id)
                .await
                .unwrap()
                .doc
                .lease_until,
            renewed.doc.lease_until
        );
        // Another publisher took the lease over since: not renewed.
        let mut taken = load_as::<StatusList>(&repo, &id).await.unwrap();
        let v = taken.version;
        taken.doc.lease_owner = Some("B".into());
        repo.commit(vec![Op::Replace {
            record: taken.upcast(),
            expected_version: v,
            children_delta: 0,
        }])
        .await
        .unwrap();
        assert!(renew_lease(&repo, held, "A").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn chunk_writes_of_a_publisher_that_lost_its_lease_are_refused() {
        use crate::list::{commit_chunks, WriteError};
        let repo = MemoryRepo::new();
        let id = leased_list(&repo, "A", 1, 1).await;
        let held = load_as::<StatusList>(&repo, &id).await.unwrap();
        // B takes the lease over (rewriting the record).
        let mut taken = held.clone();
        taken.doc.lease_owner = Some("B".into());
        repo.commit(vec![Op::Replace {
            record: taken.upcast(),
            expected_version: held.version,
            children_delta: 0,
        }])
        .await
        .unwrap();
        // A, stalled, now writes a chunk whose own version it read just now: refused.
        let put = Op::PutChunk {
            list: id.clone(),
            no: 0,
            data: trustfn_statuslist::codec::zlib(&[1u8; 8]),
            expected_version: 0,
        };
        let stale = commit_chunks(&repo, vec![put.clone()], &id, held.version).await;
        assert!(matches!(stale, Err(WriteError::Raced)));
        assert_eq!(repo.chunk_stats().await.1, 0);
        // The holder of the current record writes it.
        assert!(commit_chunks(&repo, vec![put], &id, held.version + 1)
            .await
            .is_ok());
        assert_eq!(repo.chunk_stats().await.1, 1);
    }

    #[tokio::test]
    async fn a_release_never_lowers_the_published_version() {
        let repo = MemoryRepo::new();
        let id = leased_list(&repo, "A", 9, 9).await;
        let out = release(&repo, &id, "A", 6, &published()).await.unwrap();
        assert_eq!(out, Released::Done);
        let list = load_as::<StatusList>(&repo, &id).await.unwrap().doc;
        assert_eq!(list.published_version, 9);
        assert!(list.lease_owner.is_none() && list.lease_until.is_none());
    }
}
