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
use crate::lease::{acquire_lease, release, renew_lease, still_ours, Published, Released, RACES};
use crate::list::{chunk_writes, commit_chunks, load_statuses, migrate, Layout, WriteError};
use crate::{now, PublishDeps};
use trustfn_domain::publishing::upload_within;

/// Pending changes folded per commit: with the list record, one `TransactWriteItems`.
pub(crate) const FOLD_CHUNK: usize = trustfn_domain::repo::MAX_TX_ITEMS - 1;

/// Most chunks folded before a publish: under a steady stream of updates the publisher still
/// publishes every few hundred changes instead of folding for ever.
pub(crate) const MAX_FOLD_CHUNKS: usize = 10;

/// Signs and uploads the newest statuses of one list, serialized by a lease and coalesced.
/// Returns when the published version is at least the status version seen at the start, or
/// when another publisher holds the lease (it will publish what we wrote).
pub async fn publish(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    list_id: &Target,
) -> Result<(), ApiError> {
    publish_inner(repo, deps, list_id, false).await
}

/// [`publish`]; with `force`, also republishes a list that is up to date (the refresh).
pub(crate) async fn publish_inner(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
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
    deps: &PublishDeps<'_>,
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
