//! Publishing a list: the lease, folding pending changes, signing, uploading, and recording the
//! outcome.

use serde_json::json;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ListFormat, ListType, Purpose, Record, StatusConfig, StatusList};
use trustfn_domain::ports::{Expect, RegistryError};
use trustfn_domain::repo::{Op, RepoError, Repository, MAX_TX_ITEMS};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;
use trustfn_signer::Signer;
use trustfn_statuslist::{token, Claims, StatusArray, W3cKind};

use crate::config::{load_config, signing_key, status_service};
use crate::list::{chunk_writes, commit_chunks, load_statuses, migrate, Layout, WriteError};
use crate::{grace_secs, lease_secs, now, rfc3339, StatusDeps};

/// Pending changes folded per commit: with the list record, one `TransactWriteItems`.
pub(crate) const FOLD_CHUNK: usize = trustfn_domain::repo::MAX_TX_ITEMS - 1;

/// Most chunks folded before a publish: under a steady stream of updates the publisher still
/// publishes every few hundred changes instead of folding for ever.
pub(crate) const MAX_FOLD_CHUNKS: usize = 10;

/// What a successful upload published: when it was issued and until when it is valid.
struct Published {
    iat: i64,
    exp: i64,
    ttl: i64,
    /// The registry's version of the uploaded object.
    version: String,
}

/// Signs and uploads the newest statuses of one list, serialized by a lease and coalesced.
/// Returns when the published version is at least the status version seen at the start, or
/// when another publisher holds the lease (it will publish what we wrote).
pub async fn publish(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list_id: &Target,
) -> Result<(), ApiError> {
    publish_inner(repo, deps, list_id, false).await
}

/// [`publish`]; with `force`, also republishes a list that is up to date (the refresh).
pub(crate) async fn publish_inner(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list_id: &Target,
    mut force: bool,
) -> Result<(), ApiError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let mut fenced = 0;
    loop {
        let Some(leased) = acquire_lease(repo, list_id, &owner, force).await? else {
            return Ok(());
        };
        force = false;
        let Some(folded) = fold_pending(repo, list_id, leased, &owner).await? else {
            tracing::info!(list = %list_id, "another publisher took the list over");
            return Ok(());
        };
        // A long fold (a big batch over a big list) leaves a full lease for signing and upload.
        let Some(folded) = renew_lease(repo, folded, &owner).await? else {
            tracing::info!(list = %list_id, "another publisher took the list over");
            return Ok(());
        };
        let version = folded.doc.status_version;
        let outcome = sign_and_upload(repo, deps, &folded, &owner).await;
        if release(repo, list_id, &owner, version, &outcome).await? == Released::Fenced {
            // Our lease ran out during the upload and another publisher took over: ours may have
            // landed after a newer one. The list is marked for a republish; do it (a bounded
            // number of times), or leave it to the publisher holding the lease now.
            tracing::warn!(list = %list_id, version, "publish lease lost during the upload; republishing");
            fenced += 1;
            if fenced > 2 {
                return Err(ApiError::upstream(
                    "the status list registry (uploads outlast the publish lease)",
                ));
            }
            force = true;
            continue;
        }
        outcome?;
        tracing::info!(list = %list_id, version, "status list published");
        // Loop: changes that arrived while we published are published now (coalesced).
    }
}

/// Extends a held lease to a full period when less than half of it is left (one conditional
/// write, expecting the record as we hold it). `None` when another publisher took the lease.
async fn renew_lease(
    repo: &dyn Repository,
    mut list: Record<StatusList>,
    owner: &str,
) -> Result<Option<Record<StatusList>>, ApiError> {
    for _ in 0..RACES {
        let left = list.doc.lease_until.map_or(0, |u| u - now());
        if left * 2 >= lease_secs() {
            return Ok(Some(list));
        }
        let mut renewed = list.clone();
        renewed.doc.lease_until = Some(now() + lease_secs());
        renewed.doc.refresh_at = renewed.doc.refresh_at.min(now() + grace_secs());
        let op = Op::Replace {
            record: renewed.clone().upcast(),
            expected_version: list.version,
            children_delta: 0,
        };
        match repo.commit(vec![op]).await {
            Ok(()) => {
                renewed.version = list.version + 1;
                tracing::info!(list = %list.id, "publish lease renewed after a long fold");
                return Ok(Some(renewed));
            }
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
                match still_ours(repo, &list.id, owner).await? {
                    Some(cur) => list = cur,
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    }
    Ok(None)
}

/// How a release went: the lease was still ours, or another publisher had taken it over.
#[derive(Debug, PartialEq)]
enum Released {
    Done,
    Fenced,
}

/// Takes the list's publish lease when there is something to publish (or `force`). `None` when
/// nothing is to be done, or another publisher holds the lease (it looks for pending changes
/// again after it releases it, so it publishes ours too).
async fn acquire_lease(
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
        let mut leased = rec.clone();
        leased.doc.lease_until = Some(now() + lease_secs());
        leased.doc.lease_owner = Some(owner.to_owned());
        // Should we die before the release, the refresh takes over once the lease has expired.
        leased.doc.refresh_at = list.refresh_at.min(now() + grace_secs());
        let op = Op::Replace {
            record: leased.clone().upcast(),
            expected_version: rec.version,
            children_delta: 0,
        };
        match repo.commit(vec![op]).await {
            Ok(()) => {
                leased.version = rec.version + 1;
                return Ok(Some(leased));
            }
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

/// Records the outcome of a publish of `version` and releases the lease, keeping statuses
/// written meanwhile. Fenced by the lease owner: when the lease is no longer `owner`'s (it
/// expired and another publisher took it), nothing of the outcome is recorded; instead the list
/// gets a status version nobody has published, so whoever publishes next publishes again and the
/// registry ends with the newest statuses even if our upload landed last.
async fn release(
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

/// Times a publisher goes on after a write of its own failed while its lease still held (the
/// record was rewritten by a stale publisher's republish marker).
const RACES: u32 = 5;

/// The stored list when its lease is still `owner`'s, else `None` (another publisher took it).
async fn still_ours(
    repo: &dyn Repository,
    list_id: &Target,
    owner: &str,
) -> Result<Option<Record<StatusList>>, ApiError> {
    let cur = load_as::<StatusList>(repo, list_id).await?;
    let ours = cur.doc.lease_owner.as_deref() == Some(owner)
        && cur.doc.lease_until.is_some_and(|u| u > now());
    Ok(ours.then_some(cur))
}

/// Folds the pending changes of a leased list into its chunks, oldest first: per batch, the
/// chunks the changes touch are rewritten (each conditional on its version), then one commit
/// bumps the status version (expecting the leased record) and removes the folded items; the two
/// are one transaction when they fit in 100 items, and chunk writes on their own are fenced by
/// the record's version. A publisher that dies in between leaves the items, and folding them
/// again gives the same statuses. Stops when it has caught up (a short batch) or folded
/// [`MAX_FOLD_CHUNKS`] batches; the publish loop takes the rest. A list written before chunks is
/// migrated first. Returns the list as stored, or `None` when another publisher took the list
/// over (it folds and publishes).
async fn fold_pending(
    repo: &dyn Repository,
    list_id: &Target,
    mut list: Record<StatusList>,
    owner: &str,
) -> Result<Option<Record<StatusList>>, ApiError> {
    let mut config = None; // read once, when there is something to do
    let config_id = list_id.parent().expect("lists live in a configuration");
    let mut races = 0;
    // Our write failed: go on with the stored record if the lease is still ours.
    macro_rules! raced {
        () => {{
            races += 1;
            match still_ours(repo, list_id, owner).await? {
                Some(cur) if races <= RACES => {
                    list = cur;
                    continue;
                }
                Some(_) => {
                    return Err(ApiError::conflict(
                        "the status list keeps changing under its publisher; the refresh will publish it",
                    ))
                }
                None => return Ok(None),
            }
        }};
    }
    while list.doc.statuses.is_some() {
        let cfg = match &config {
            Some(c) => c,
            None => config.insert(load_config(repo, &config_id).await?),
        };
        match migrate(repo, list.clone(), &cfg.doc.config).await? {
            Ok(l) => list = l,
            Err(WriteError::Raced) => raced!(),
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    let mut chunks = 0;
    loop {
        if chunks == MAX_FOLD_CHUNKS {
            return Ok(Some(list));
        }
        let batch = repo.pending(list_id, FOLD_CHUNK).await?;
        if batch.is_empty() {
            return Ok(Some(list));
        }
        let caught_up = batch.len() < FOLD_CHUNK;
        let cfg = match &config {
            Some(c) => c,
            None => config.insert(load_config(repo, &config_id).await?),
        };
        let layout = Layout::of(&cfg.doc.config, &list.doc);
        let changes: Vec<(u32, u8)> = batch
            .iter()
            .flat_map(|p| p.changes.iter().copied())
            .collect();
        let mut chunk_ops = chunk_writes(repo, list_id, &layout, &changes).await?;
        // Usually the chunks fit in the commit that records the fold (one atomic write); a batch
        // touching more goes first, in fenced commits of their own (folding again is harmless).
        if chunk_ops.len() + batch.len() + 1 > MAX_TX_ITEMS {
            let ops = std::mem::take(&mut chunk_ops);
            match commit_chunks(repo, ops, list_id, list.version).await {
                Ok(()) => {}
                Err(WriteError::Raced) => raced!(),
                Err(WriteError::Failed(e)) => return Err(e),
            }
        }
        let mut next = list.clone();
        next.doc.status_version += batch.len() as i64;
        let mut ops = chunk_ops;
        ops.reserve(batch.len() + 1);
        ops.push(Op::Replace {
            record: next.clone().upcast(),
            expected_version: list.version,
            children_delta: 0,
        });
        ops.extend(batch.iter().map(|p| Op::RemovePending {
            list: list_id.clone(),
            seq: p.seq.clone(),
        }));
        match repo.commit(ops).await {
            Ok(()) => {
                next.version = list.version + 1;
                list = next;
                chunks += 1;
                if caught_up {
                    return Ok(Some(list));
                }
            }
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => raced!(),
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

/// When the scheduled refresh retries a list whose publish failed `failures` times in a row:
/// after 1, 2, 4 ... minutes (at most an hour), so a dead registry does not take every run's
/// time, but never later than five minutes before the published list expires.
pub(crate) fn retry_time(now: i64, failures: u32, exp: Option<i64>) -> i64 {
    let backoff = 60i64
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(3600);
    let at = now + backoff;
    match exp {
        Some(exp) => at.min(exp - 300).max(now),
        None => at,
    }
}

/// When the scheduled refresh republishes a list: `ttl` plus five minutes before `exp` (so no
/// consumer ever holds an expired list), and not sooner than a minute after `iat`.
pub(crate) fn refresh_time(iat: i64, exp: i64, ttl: i64) -> i64 {
    (exp - ttl - 300).max(iat + 60)
}

/// The signed token of a list's statuses and its media type.
async fn token_for(
    cfg: &StatusConfig,
    statuses: &StatusArray,
    claims: &Claims,
    signer: &dyn Signer,
) -> Result<(Vec<u8>, &'static str), ApiError> {
    let fail = |e: trustfn_statuslist::StatusListError| {
        tracing::error!(error = %e, "signing the status list failed");
        ApiError::upstream("KMS")
    };
    let kid = cfg.kid.as_str();
    let spec = &cfg.config;
    Ok(match (spec.list_type, spec.format) {
        (ListType::TokenStatusList, ListFormat::Cwt) => (
            token::tsl_cwt(statuses, claims, kid, &x5_chain_der(cfg)?, signer)
                .await
                .map_err(fail)?,
            token::TSL_CWT_MEDIA_TYPE,
        ),
        (ListType::TokenStatusList, ListFormat::Jwt) => (
            token::tsl_jwt(statuses, claims, kid, &x5_chain_der(cfg)?, signer)
                .await
                .map_err(fail)?
                .into_bytes(),
            token::TSL_JWT_MEDIA_TYPE,
        ),
        (t, _) => {
            let kind = match t {
                ListType::StatusList2021 => W3cKind::StatusList2021,
                ListType::RevocationList2020 => W3cKind::RevocationList2020,
                _ => W3cKind::BitstringStatusList,
            };
            let did = cfg.did.as_deref().ok_or_else(|| {
                ApiError::internal_msg("a W3C status list configuration without a DID")
            })?;
            let purpose = spec.purpose.unwrap_or(Purpose::Revocation).as_str();
            let jwt = token::w3c_jwt(statuses, kind, claims, did, purpose, kid, signer)
                .await
                .map_err(fail)?;
            (jwt.into_bytes(), token::VC_JWT_MEDIA_TYPE)
        }
    })
}

/// Builds the token for the list's current statuses, signs it with KMS, uploads it with the
/// configuration's aggregation document.
async fn sign_and_upload(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list: &Record<StatusList>,
    owner: &str,
) -> Result<Published, ApiError> {
    let config_id = list.id.parent().expect("lists live in a configuration");
    let cfg = load_config(repo, &config_id).await?;
    let service_id = config_id
        .parent()
        .expect("configurations live in a service");
    let service = status_service(repo, &service_id).await?;
    let key = signing_key(repo, &service_id, &cfg.doc.kid).await?;
    let signer = deps.kms.signer(&key.kms_key_arn, key.public_key.clone());
    let statuses = load_statuses(repo, &list.id, &Layout::of(&cfg.doc.config, &list.doc)).await?;
    let iat = now();
    let exp = iat + cfg.doc.config.validity as i64;
    let ttl = cfg.doc.config.ttl;
    let claims = Claims {
        uri: list.doc.uri.clone(),
        iat,
        exp,
        ttl,
    };
    let (body, content_type) = token_for(&cfg.doc, &statuses, &claims, signer.as_ref()).await?;
    let registry = service
        .doc
        .registry()
        .expect("a status service has a registry")
        .open(deps.secrets, &service_id)
        .await?;
    let unavailable = |e: &dyn std::fmt::Display, what: &str| {
        tracing::error!(error = %e, list = %list.id, "{what} failed");
        ApiError::upstream("the status list registry")
    };
    let publisher = deps
        .registries
        .open(&registry)
        .await
        .map_err(|e| unavailable(&e, "opening the registry"))?;
    let max_age = (ttl as i64).min(exp - now()).max(0);
    let cache = format!("public, max-age={max_age}");
    // An upload may only run while we hold the lease: none starts without lease left, and one
    // still running when the lease ends is abandoned (the release's fence covers one that lands
    // anyway).
    let lease_left = list.doc.lease_until.map_or(0, |until| until - now());
    if lease_left < 1 {
        return Err(unavailable(
            &"no publish lease left",
            "uploading the status list",
        ));
    }
    // Conditional on the version the last publisher stored: an upload that lost the race to a
    // newer one fails instead of landing after it.
    let expect = match &list.doc.object_version {
        Some(v) => Expect::Version(v),
        None => Expect::Absent,
    };
    let deadline = std::time::Duration::from_secs(lease_left as u64);
    let upload = |body: Vec<u8>, expect| {
        upload_within(
            publisher.as_ref(),
            &list.doc.object_key,
            body,
            content_type,
            &cache,
            expect,
            deadline,
        )
    };
    let version = match upload(body.clone(), expect).await {
        Ok(v) => v,
        Err(RegistryError::Changed) => {
            // Someone wrote the object since: a publisher that had lost its lease, a restore, or
            // the first publish of a list that existed before versions were kept. Only the
            // lease holder may overwrite it, and its statuses are the newest.
            let cur = load_as::<StatusList>(repo, &list.id).await?;
            let ours = cur.doc.lease_owner.as_deref() == Some(owner)
                && cur.doc.lease_until.is_some_and(|u| u > now());
            if !ours {
                return Err(unavailable(
                    &"the publish lease was taken over",
                    "uploading the status list",
                ));
            }
            tracing::warn!(list = %list.id, "the registry's copy changed since our last publish; overwriting it as the lease holder");
            // Within what is left of the lease, not a second full upload time.
            let left = cur.doc.lease_until.map_or(0, |u| u - now()).max(0) as u64;
            upload_within(
                publisher.as_ref(),
                &list.doc.object_key,
                body,
                content_type,
                &cache,
                Expect::Any,
                std::time::Duration::from_secs(left),
            )
            .await
            .map_err(|e| unavailable(&e, "uploading the status list"))?
        }
        Err(e) => return Err(unavailable(&e, "uploading the status list")),
    };
    // The aggregation document lists every list of the configuration.
    let base = registry.public_base();
    let uris: Vec<String> = cfg
        .doc
        .lists
        .iter()
        .map(|id| format!("{base}/status-lists/{config_id}/{id}"))
        .collect();
    let agg = json!({"status_lists": uris}).to_string().into_bytes();
    publisher
        .put(
            &format!("status-lists/{config_id}/aggregation"),
            agg,
            "application/json",
            &cache,
            Expect::Any,
        )
        .await
        .map_err(|e| unavailable(&e, "uploading the aggregation document"))?;
    Ok(Published {
        iat,
        exp,
        ttl: ttl as i64,
        version,
    })
}

/// One upload, abandoned when `deadline` passes (the publish lease ran out).
async fn upload_within(
    publisher: &dyn trustfn_domain::ports::Publisher,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    cache: &str,
    expect: Expect<'_>,
    deadline: std::time::Duration,
) -> Result<String, RegistryError> {
    tokio::time::timeout(
        deadline,
        publisher.put(key, body, content_type, cache, expect),
    )
    .await
    .map_err(|_| RegistryError::Unavailable("the publish lease ran out".into()))?
}

/// The configuration's `x5Chain` in DER; a stored PEM that does not decode is a logged 500.
fn x5_chain_der(cfg: &StatusConfig) -> Result<Vec<Vec<u8>>, ApiError> {
    cfg.x5_chain
        .iter()
        .flatten()
        .map(|p| {
            trustfn_x509::pem::decode_one_certificate(p).map_err(|e| {
                ApiError::internal_msg(format!("a stored x5Chain certificate does not decode: {e}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod retry_tests {
    use super::retry_time;

    #[test]
    fn failing_lists_back_off_but_never_past_their_expiry() {
        let now = 1_000_000;
        let delays: Vec<i64> = (1..=9).map(|n| retry_time(now, n, None) - now).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        // Five minutes before the published list expires at the latest, and never in the past.
        assert_eq!(retry_time(now, 5, Some(now + 900)), now + 600);
        assert_eq!(retry_time(now, 5, Some(now + 100)), now);
    }
}

#[cfg(test)]
mod fence_tests {
    use super::*;
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
