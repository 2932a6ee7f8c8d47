//! Publishing a list: the lease, folding pending changes, signing, uploading, and recording the
//! outcome.

use serde_json::{json, Value};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::Record;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::load;
use trustfn_domain::target::Target;
use trustfn_statuslist::{token, Claims, W3cKind};

use crate::config::{load_config, signing_key, status_service};
use crate::list::ListState;
use crate::{grace_secs, lease_secs, now, rfc3339, StatusDeps, DEFAULT_TTL, DEFAULT_VALIDITY};

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

pub(crate) async fn publish_inner(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list_id: &Target,
    force: bool,
) -> Result<(), ApiError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let mut force = force;
    loop {
        let rec = load(repo, list_id).await?;
        let sv = rec.doc["statusVersion"].as_i64().unwrap_or(0);
        let pv = rec.doc["publishedVersion"].as_i64().unwrap_or(-1);
        let failing = rec.doc.get("publishError").is_some_and(|e| !e.is_null());
        if rec.doc["_leaseUntil"].as_i64().unwrap_or(0) > now() {
            // The holder folds and publishes our changes too: it looks for pending changes
            // again after it releases the lease.
            return Ok(());
        }
        let waiting = !repo.pending(list_id, 1).await?.is_empty();
        if pv >= sv && !waiting && !force && !failing {
            return Ok(());
        }
        let mut leased = rec.clone();
        leased.doc["_leaseUntil"] = json!(now() + lease_secs());
        leased.doc["_leaseOwner"] = json!(owner);
        // Should we die before the release, the refresh takes over once the lease has expired.
        let retry_at = now() + grace_secs();
        let refresh_at = rec.doc["_refreshAt"].as_i64().unwrap_or(retry_at);
        leased.doc["_refreshAt"] = json!(refresh_at.min(retry_at));
        match repo
            .commit(vec![Op::Replace {
                record: leased.clone(),
                expected_version: rec.version,
                children_delta: 0,
            }])
            .await
        {
            Ok(()) => leased.version = rec.version + 1,
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
            Err(e) => return Err(ApiError::from(e)),
        }
        force = false;
        let folded = fold_pending(repo, list_id, leased).await?;
        let sv = folded.doc["statusVersion"].as_i64().unwrap_or(0);
        let outcome = sign_and_upload(repo, deps, &folded).await;
        // Record the outcome and release the lease, keeping statuses written meanwhile.
        loop {
            let cur = load(repo, list_id).await?;
            let mut next = cur.clone();
            next.doc.as_object_mut().expect("doc").remove("_leaseUntil");
            next.doc.as_object_mut().expect("doc").remove("_leaseOwner");
            match &outcome {
                Ok((iat, exp, ttl)) => {
                    next.doc["publishedVersion"] = json!(sv);
                    next.doc["_refreshAt"] = json!(refresh_time(*iat, *exp, *ttl));
                    next.doc["publishedAt"] = json!(rfc3339(*iat));
                    next.doc["exp"] = json!(rfc3339(*exp));
                    next.doc["_exp"] = json!(exp);
                    next.doc["publishError"] = Value::Null;
                    next.doc["publishes"] = json!(cur.doc["publishes"].as_i64().unwrap_or(0) + 1);
                }
                Err(e) => {
                    next.doc["publishError"] = json!(e.message);
                    next.doc["publishErrorAt"] = json!(rfc3339(now()));
                    next.doc["_refreshAt"] = json!(now());
                }
            }
            match repo
                .commit(vec![Op::Replace {
                    record: next,
                    expected_version: cur.version,
                    children_delta: 0,
                }])
                .await
            {
                Ok(()) => break,
                Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
                Err(e) => return Err(ApiError::from(e)),
            }
        }
        outcome?;
        tracing::info!(list = %list_id, version = sv, "status list published");
        // Loop: changes that arrived while we published are published now (coalesced).
    }
}

/// Pending changes folded per commit: with the list record, one `TransactWriteItems`.
pub(crate) const FOLD_CHUNK: usize = trustfn_domain::repo::MAX_TX_ITEMS - 1;

/// Most chunks folded before a publish: under a steady stream of updates the publisher still
/// publishes every few hundred changes instead of folding for ever.
const MAX_FOLD_CHUNKS: usize = 10;

/// Folds the pending changes of a leased list into its statuses, oldest first, each chunk in one
/// atomic commit with the removal of the folded items, until it has caught up (a short chunk) or
/// folded [`MAX_FOLD_CHUNKS`] chunks; the publish loop takes the rest. Returns the list as stored.
async fn fold_pending(
    repo: &dyn Repository,
    list_id: &Target,
    mut list: Record,
) -> Result<Record, ApiError> {
    let mut config = None; // read once, when there is something to fold
    let mut chunks = 0;
    loop {
        if chunks == MAX_FOLD_CHUNKS {
            return Ok(list);
        }
        let batch = repo.pending(list_id, FOLD_CHUNK).await?;
        if batch.is_empty() {
            return Ok(list);
        }
        let caught_up = batch.len() < FOLD_CHUNK;
        let cfg_rec = match &config {
            Some(c) => c,
            None => {
                let config_id = list_id.parent().expect("lists live in a configuration");
                config.insert(load_config(repo, &config_id).await?)
            }
        };
        let mut st = ListState::load(list.clone(), &cfg_rec.doc["config"])?;
        let mut ops = Vec::with_capacity(batch.len() + 1);
        for p in &batch {
            for (idx, value) in &p.changes {
                if st.statuses.set(*idx as usize, *value).is_err() {
                    tracing::warn!(list = %list_id, index = idx, "pending change outside the list ignored");
                }
            }
            ops.push(Op::RemovePending {
                list: list_id.clone(),
                seq: p.seq.clone(),
            });
        }
        let sv = st.doc_i64("statusVersion") + batch.len() as i64;
        st.rec.doc["statusVersion"] = json!(sv);
        st.store();
        let expected = st.rec.version;
        ops.insert(
            0,
            Op::Replace {
                record: st.rec.clone(),
                expected_version: expected,
                children_delta: 0,
            },
        );
        match repo.commit(ops).await {
            Ok(()) => {
                list = st.rec;
                list.version = expected + 1;
                chunks += 1;
                if caught_up {
                    return Ok(list);
                }
            }
            // An allocation changed the list meanwhile: read it again and fold onto that.
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
                list = load(repo, list_id).await?;
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

/// When the scheduled refresh republishes a list: `ttl` plus five minutes before `exp` (so no
/// consumer ever holds an expired list), and not sooner than a minute after `iat`.
fn refresh_time(iat: i64, exp: i64, ttl: i64) -> i64 {
    (exp - ttl - 300).max(iat + 60)
}

/// Builds the token for the list's current statuses, signs it with KMS, uploads it.
async fn sign_and_upload(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list: &Record,
) -> Result<(i64, i64, i64), ApiError> {
    let config_id = list.id.parent().expect("lists live in a configuration");
    let cfg_rec = load_config(repo, &config_id).await?;
    let service_id = config_id
        .parent()
        .expect("configurations live in a service");
    let service = status_service(repo, &service_id).await?;
    let cfg = &cfg_rec.doc["config"];
    let kid = cfg_rec.doc["kid"].as_str().unwrap_or_default();
    let key = signing_key(repo, &service_id, kid).await?;
    let signer = deps.kms.signer(&key.arn, key.public.clone());
    let st = ListState::load(list.clone(), cfg)?;
    let iat = now();
    let validity = cfg["validity"].as_u64().unwrap_or(DEFAULT_VALIDITY) as i64;
    let exp = iat + validity;
    let ttl = cfg["ttl"].as_u64().unwrap_or(DEFAULT_TTL);
    let claims = Claims {
        uri: list.doc["uri"].as_str().unwrap_or_default().to_owned(),
        iat,
        exp,
        ttl,
    };
    let fail = |e: trustfn_statuslist::StatusListError| {
        tracing::error!(error = %e, "signing the status list failed");
        ApiError::upstream("KMS")
    };
    let (body, content_type) = match (cfg["type"].as_str(), cfg["format"].as_str()) {
        (Some("TokenStatusList"), Some("CWT")) => {
            let chain = x5_chain_der(&cfg_rec)?;
            (
                token::tsl_cwt(&st.statuses, &claims, kid, &chain, signer.as_ref())
                    .await
                    .map_err(fail)?,
                token::TSL_CWT_MEDIA_TYPE,
            )
        }
        (Some("TokenStatusList"), _) => {
            let chain = x5_chain_der(&cfg_rec)?;
            let jwt = token::tsl_jwt(&st.statuses, &claims, kid, &chain, signer.as_ref())
                .await
                .map_err(fail)?;
            (jwt.into_bytes(), token::TSL_JWT_MEDIA_TYPE)
        }
        (Some(t), _) => {
            let kind = if t == "StatusList2021" {
                W3cKind::StatusList2021
            } else {
                W3cKind::BitstringStatusList
            };
            let did = cfg_rec.doc["did"].as_str().unwrap_or_default();
            let purpose = cfg["purpose"].as_str().unwrap_or("revocation");
            let jwt = token::w3c_jwt(
                &st.statuses,
                kind,
                &claims,
                did,
                purpose,
                kid,
                signer.as_ref(),
            )
            .await
            .map_err(fail)?;
            (jwt.into_bytes(), token::VC_JWT_MEDIA_TYPE)
        }
        _ => {
            return Err(ApiError::internal_msg(format!(
                "configuration {config_id} has no list type"
            )))
        }
    };
    let registry = trustfn_domain::registry::open_registry(
        deps.secrets,
        &service_id,
        &service.doc["config"]["registry"],
    )
    .await?;
    let publisher = deps.registries.open(&registry).await.map_err(|e| {
        tracing::error!(error = %e, "opening the registry failed");
        ApiError::upstream("the status list registry")
    })?;
    let max_age = (ttl as i64).min(exp - now()).max(0);
    let cache = format!("public, max-age={max_age}");
    let object_key = list.doc["objectKey"].as_str().unwrap_or_default();
    publisher
        .put(object_key, body, content_type, &cache)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, list = %list.id, "uploading the status list failed");
            ApiError::upstream("the status list registry")
        })?;
    // The aggregation document lists every list of the configuration.
    let base = trustfn_domain::registry::public_base(&registry);
    let uris: Vec<String> = cfg_rec.doc["lists"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(|id| format!("{base}/status-lists/{config_id}/{id}"))
                .collect()
        })
        .unwrap_or_default();
    let agg = json!({"status_lists": uris}).to_string().into_bytes();
    publisher
        .put(
            &format!("status-lists/{config_id}/aggregation"),
            agg,
            "application/json",
            &cache,
        )
        .await
        .map_err(|_| ApiError::upstream("the status list registry"))?;
    Ok((iat, exp, ttl as i64))
}

fn x5_chain_der(cfg_rec: &Record) -> Result<Vec<Vec<u8>>, ApiError> {
    cfg_rec.doc["x5Chain"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|p| {
                    trustfn_x509::pem::decode_one_certificate(p).map_err(|e| ApiError::internal(&e))
                })
                .collect()
        })
        .unwrap_or(Ok(Vec::new()))
}
