//! Status lists as an artefact of the publishing engine: under the lease a list folds its pending
//! changes into its chunks, is signed as its configuration's token and uploaded with the
//! configuration's aggregation document. A registry copy the table did not write (a restored
//! table, a copy put back by hand) is read back, verified with the configuration's key, and every
//! non-zero status it holds that the table lacks is kept, unless a change folded under this lease
//! says otherwise: a published revocation or suspension is never cleared by a rollback.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::json;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    KeyDoc, ListFormat, ListType, PublishState, Purpose, Record, StatusConfig, StatusList,
};
use trustfn_domain::ports::{Expect, Publisher};
use trustfn_domain::repo::{Op, RepoError, MAX_TX_ITEMS};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;
use trustfn_publish::lease::{still_ours, RACES};
use trustfn_publish::{Absorbed, Artefact, Built, Cx, Issue, Outcome, PublishDeps, Settled};
use trustfn_signer::Signer;
use trustfn_statuslist::read::{read_token, TokenKind};
use trustfn_statuslist::{token, Claims, StatusArray, W3cKind};

use crate::config::{load_config, signing_key, status_service};
use crate::list::{chunk_writes, commit_chunks, load_statuses, migrate, Layout, WriteError};

/// Pending changes folded per commit: with the list record, one `TransactWriteItems`.
pub(crate) const FOLD_CHUNK: usize = MAX_TX_ITEMS - 1;

/// Most batches folded before a publish: under a steady stream of updates the publisher still
/// publishes every few hundred changes instead of folding for ever.
pub(crate) const MAX_FOLD_CHUNKS: usize = 10;

/// The status lists of credential-status services, as the engine publishes them.
pub struct StatusLists;

/// What one round works with: loaded once, under the lease.
pub struct ListWork {
    config: Record<StatusConfig>,
    key: KeyDoc,
    layout: Layout,
    publisher: Box<dyn Publisher>,
    /// The registry's public base URL (the aggregation document lists URLs under it).
    base: String,
    object_key: String,
    /// Indices changed by changes folded under this lease: a registry copy never overrides them.
    folded: HashSet<u32>,
}

fn config_of(list: &Target) -> Target {
    list.parent().expect("lists live in a configuration")
}

/// Publishes `list` (the caller's changes and anything else unpublished), within the deps'
/// deadline.
pub async fn publish(
    repo: &dyn trustfn_domain::repo::Repository,
    deps: &PublishDeps<'_>,
    list: &Target,
) -> Result<Outcome, ApiError> {
    let cx = Cx { repo, deps };
    trustfn_publish::publish(&cx, &StatusLists, list, false, deps.deadline_ms).await
}

/// Publishes `list` until the change stored as pending item `seq` is published, or the deps'
/// deadline comes: the truth for the caller's answer.
pub async fn publish_change(
    repo: &dyn trustfn_domain::repo::Repository,
    deps: &PublishDeps<'_>,
    list: &Target,
    seq: &str,
) -> Result<Settled, ApiError> {
    let cx = Cx { repo, deps };
    trustfn_publish::publish_and_wait(&cx, &StatusLists, list, seq, deps.deadline_ms).await
}

#[async_trait]
impl Artefact for StatusLists {
    type Doc = StatusList;
    type Work = ListWork;

    fn name(&self) -> &'static str {
        "status list"
    }

    fn state(doc: &StatusList) -> PublishState {
        doc.publish.clone()
    }

    fn state_mut(doc: &mut StatusList) -> &mut PublishState {
        &mut doc.publish
    }

    async fn waiting(&self, cx: &Cx<'_>, rec: &Record<StatusList>) -> Result<bool, ApiError> {
        Ok(!cx.repo.pending(&rec.id, 1).await?.is_empty())
    }

    async fn prepare(
        &self,
        cx: &Cx<'_>,
        rec: Record<StatusList>,
        owner: &str,
    ) -> Result<Option<(Record<StatusList>, ListWork)>, ApiError> {
        let config = load_config(cx.repo, &config_of(&rec.id)).await?;
        let Some((rec, folded)) = fold_pending(cx, rec, &config, owner).await? else {
            return Ok(None);
        };
        let service_id = config_of(&rec.id)
            .parent()
            .expect("configurations live in a service");
        let service = status_service(cx.repo, &service_id).await?;
        let key = signing_key(cx.repo, &service_id, &config.doc.kid).await?;
        let registry = service
            .doc
            .registry()
            .expect("a status service has a registry")
            .open(cx.deps.secrets, &service_id)
            .await?;
        let publisher = cx.deps.registries.open(&registry).await.map_err(|e| {
            tracing::error!(code = "PUBLISH_FAILED", list = %rec.id, error = %e, "opening the status list registry failed");
            ApiError::upstream("the status list registry")
        })?;
        let work = ListWork {
            layout: Layout::of(&config.doc.config, &rec.doc),
            config,
            key,
            publisher,
            base: registry.public_base(),
            object_key: rec.doc.object_key.clone(),
            folded,
        };
        Ok(Some((rec, work)))
    }

    async fn build(
        &self,
        cx: &Cx<'_>,
        rec: &Record<StatusList>,
        work: &ListWork,
        issue: Issue,
    ) -> Result<Built, ApiError> {
        let statuses = load_statuses(cx.repo, &rec.id, &work.layout).await?;
        let spec = &work.config.doc.config;
        let (iat, ttl) = (issue.at, spec.ttl as i64);
        let exp = iat + spec.validity as i64;
        let claims = Claims {
            uri: rec.doc.uri.clone(),
            iat,
            exp,
            ttl: spec.ttl,
        };
        let signer = cx
            .deps
            .kms
            .signer(work.key.kms_key_arn.as_str(), work.key.public_key.clone());
        let (body, content_type) =
            token_for(&work.config.doc, &statuses, &claims, signer.as_ref()).await?;
        let max_age = ttl.min(exp - cx.deps.now()).max(0);
        let keep = vec![crate::history::keep(
            &rec.id,
            &body,
            content_type,
            (iat, exp, spec.ttl),
            &work.base,
        )];
        Ok(Built {
            body,
            content_type,
            cache_control: format!("public, max-age={max_age}"),
            revision: rec.doc.publish.revision,
            number: None,
            issued_at: iat,
            expires_at: exp,
            refresh_at: refresh_time(iat, exp, ttl),
            entries: 0,
            keep,
        })
    }

    fn destination<'w>(&self, work: &'w ListWork) -> (&'w dyn Publisher, &'w str) {
        (work.publisher.as_ref(), &work.object_key)
    }

    async fn absorb(
        &self,
        cx: &Cx<'_>,
        rec: &Record<StatusList>,
        work: &mut ListWork,
        found: &[u8],
        owner: &str,
    ) -> Result<Absorbed<StatusList>, ApiError> {
        let spec = &work.config.doc.config;
        let theirs = read_token(found, token_kind(&work.config.doc), &work.key.public_key, spec.status_size)
            .map_err(|e| {
                ApiError::conflict(format!(
                    "the registry holds a status list at {} that this table did not write and that does not verify with the configuration's key ({e}); it is left as it is",
                    work.object_key
                ))
            })?;
        let st = &rec.doc.publish;
        if st.known_through.is_some_and(|k| theirs.iat <= k) {
            // Issued by one of this table's publishers: the table is newer.
            return Ok(Absorbed::Superseded);
        }
        let ours = load_statuses(cx.repo, &rec.id, &work.layout).await?;
        let changes = newer_statuses(&ours, &theirs.statuses, &work.folded);
        if changes.is_empty() {
            return Ok(Absorbed::Superseded);
        }
        tracing::warn!(code = "STATUS_LIST_MERGED_FROM_REGISTRY", list = %rec.id, statuses = changes.len(),
            "the registry's copy held statuses this table lacked (a restore or a copy behind its back); kept");
        let mut rec = rec.clone();
        for _ in 0..RACES {
            match write_changes(cx, &rec, &work.layout, &changes, Vec::new(), changes.len()).await?
            {
                Ok(merged) => return Ok(Absorbed::Merged(merged)),
                Err(WriteError::Raced) => {
                    match still_ours::<StatusLists>(cx, &rec.id, owner).await? {
                        Some(cur) => rec = cur,
                        None => return Ok(Absorbed::Lost),
                    }
                }
                Err(WriteError::Failed(e)) => return Err(e),
            }
        }
        Ok(Absorbed::Lost)
    }

    async fn after_upload(
        &self,
        cx: &Cx<'_>,
        rec: &Record<StatusList>,
        work: &ListWork,
        built: &Built,
    ) -> Result<(), ApiError> {
        if built.body.len() > trustfn_domain::repo::INLINE_VERSION_BYTES {
            // Too large for its version item: kept as a registry object the item names (the
            // release commits the item only after this succeeded).
            let key = crate::history::object_key(&rec.id, built.issued_at);
            let left = built.expires_at - cx.deps.now();
            work.publisher
                .put(&key, built.body.clone(), built.content_type, &format!("public, max-age={}", left.max(0)), Expect::Any)
                .await
                .map_err(|e| {
                    tracing::error!(code = "PUBLISH_FAILED", list = %rec.id, error = %e, "keeping the status list's version in the registry failed");
                    ApiError::upstream("the status list registry")
                })?;
        }
        write_aggregation(cx, &config_of(&rec.id), work).await
    }

    async fn covering(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        seq: &str,
    ) -> Result<(Option<i64>, PublishState), ApiError> {
        // The pending item first: once it is gone, the record read after it holds its fold.
        let waiting = cx.repo.has_pending(id, seq).await?;
        let list = load_as::<StatusList>(cx.repo, id).await?.doc.publish;
        Ok(((!waiting).then_some(list.revision), list))
    }
}

/// The changes that bring `theirs`' non-zero statuses into `ours`: every entry where the
/// registry's copy holds a non-zero status the table does not, unless a change folded under this
/// lease set it.
fn newer_statuses(
    ours: &StatusArray,
    theirs: &StatusArray,
    folded: &HashSet<u32>,
) -> Vec<(u32, u8)> {
    let n = ours.capacity().min(theirs.capacity());
    let mut out = Vec::new();
    // Whole bytes first: most of a list is equal.
    let (a, b) = (ours.bytes(), theirs.bytes());
    let per = 8 / ours.bits() as usize;
    for byte in 0..a.len().min(b.len()) {
        if a[byte] == b[byte] || b[byte] == 0 {
            continue;
        }
        for i in byte * per..((byte + 1) * per).min(n) {
            let (o, t) = (ours.get(i).unwrap_or(0), theirs.get(i).unwrap_or(0));
            if t != 0 && t != o && !folded.contains(&(i as u32)) {
                out.push((i as u32, t));
            }
        }
    }
    out
}

/// The token kind a configuration publishes.
fn token_kind(cfg: &StatusConfig) -> TokenKind {
    match (cfg.config.list_type, cfg.config.format) {
        (ListType::TokenStatusList, ListFormat::Cwt) => TokenKind::TslCwt,
        (ListType::TokenStatusList, ListFormat::Jwt) => TokenKind::TslJwt,
        (t, _) => TokenKind::W3c(w3c_kind(t)),
    }
}

fn w3c_kind(t: ListType) -> W3cKind {
    match t {
        ListType::StatusList2021 => W3cKind::StatusList2021,
        ListType::RevocationList2020 => W3cKind::RevocationList2020,
        _ => W3cKind::BitstringStatusList,
    }
}

/// When the scheduled refresh republishes a list: `ttl` plus five minutes before `exp` (so no
/// consumer ever holds an expired list), and not sooner than a minute after `iat`.
pub(crate) fn refresh_time(iat: i64, exp: i64, ttl: i64) -> i64 {
    (exp - ttl - 300).max(iat + 60)
}

/// Writes `changes` into the list's chunks and bumps its revision by `bump`, with `others` (the
/// folded pending items' removal) in the same commit when it fits in one transaction; otherwise
/// the chunks go first, each commit fenced by the record's version. `Err(Raced)` when the
/// record changed meanwhile (writing the same changes again gives the same statuses).
async fn write_changes(
    cx: &Cx<'_>,
    list: &Record<StatusList>,
    layout: &Layout,
    changes: &[(u32, u8)],
    others: Vec<Op>,
    bump: usize,
) -> Result<Result<Record<StatusList>, WriteError>, ApiError> {
    let mut chunk_ops = chunk_writes(cx.repo, &list.id, layout, changes).await?;
    if chunk_ops.len() + others.len() + 1 > MAX_TX_ITEMS {
        let ops = std::mem::take(&mut chunk_ops);
        if let Err(e) = commit_chunks(cx.repo, ops, &list.id, list.version).await {
            return Ok(Err(e));
        }
    }
    let mut next = list.clone();
    next.doc.publish.revision += bump as i64;
    let mut ops = chunk_ops;
    ops.push(Op::Replace {
        record: next.clone().upcast(),
        expected_version: list.version,
        children_delta: 0,
    });
    ops.extend(others);
    match cx.repo.commit(ops).await {
        Ok(()) => {
            next.version = list.version + 1;
            Ok(Ok(next))
        }
        Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
            Ok(Err(WriteError::Raced))
        }
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Folds the pending changes of a leased list into its chunks, oldest first (in the order of
/// their sequence numbers): per batch one commit writes the chunks the changes touch, bumps the
/// revision and removes the folded items (see [`write_changes`]). A publisher that dies in
/// between leaves the items, and folding them again gives the same statuses. Stops when it has
/// caught up (a short batch) or folded [`MAX_FOLD_CHUNKS`] batches; the publish loop takes the
/// rest. A list written before chunks is migrated first. Returns the list as stored and the
/// indices folded, or `None` when another publisher took the list over.
async fn fold_pending(
    cx: &Cx<'_>,
    mut list: Record<StatusList>,
    config: &Record<StatusConfig>,
    owner: &str,
) -> Result<Option<(Record<StatusList>, HashSet<u32>)>, ApiError> {
    let mut folded = HashSet::new();
    let mut races = 0;
    // Our write failed: go on with the stored record if the lease is still ours.
    macro_rules! raced {
        () => {{
            races += 1;
            match still_ours::<StatusLists>(cx, &list.id, owner).await? {
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
        match migrate(cx.repo, list.clone(), &config.doc.config).await? {
            Ok(l) => list = l,
            Err(WriteError::Raced) => raced!(),
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    let layout = Layout::of(&config.doc.config, &list.doc);
    let mut batches = 0;
    loop {
        if batches == MAX_FOLD_CHUNKS {
            return Ok(Some((list, folded)));
        }
        let batch = cx.repo.pending(&list.id, FOLD_CHUNK).await?;
        if batch.is_empty() {
            return Ok(Some((list, folded)));
        }
        let caught_up = batch.len() < FOLD_CHUNK;
        let changes: Vec<(u32, u8)> = batch
            .iter()
            .flat_map(|p| p.changes.iter().copied())
            .collect();
        let mut removals: Vec<Op> = batch
            .iter()
            .map(|p| Op::RemovePending {
                list: list.id.clone(),
                seq: p.seq.clone(),
            })
            .collect();
        // One audit entry per fold, not per update (a chain head per status change would make
        // every update of an organization contend on one item): which accepted updates went
        // into the list, and a hash of the changes ([[index, status], ...] in fold order,
        // JSON), never the indices themselves.
        let fact = serde_json::json!({
            "op": "status-changes",
            "id": list.id.as_str(),
            "pending": batch
                .iter()
                .map(|p| serde_json::json!({"seq": p.seq, "by": p.by}))
                .collect::<Vec<_>>(),
            "changes": changes.len(),
            "changesSha256": trustfn_domain::audit::entry::hash_hex(
                serde_json::to_string(&changes).unwrap_or_default().as_bytes()
            ),
        });
        if let serde_json::Value::Object(m) = fact {
            removals.push(Op::Audit(vec![m]));
        }
        match write_changes(cx, &list, &layout, &changes, removals, batch.len()).await? {
            Ok(next) => {
                list = next;
                folded.extend(changes.iter().map(|(i, _)| *i));
                batches += 1;
                if caught_up {
                    return Ok(Some((list, folded)));
                }
            }
            Err(WriteError::Raced) => raced!(),
            Err(WriteError::Failed(e)) => return Err(e),
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
        ApiError::upstream("KMS").with_cause(format!("signing the status list failed: {e}"))
    };
    let kid = cfg.kid.as_str();
    let spec = &cfg.config;
    Ok(match token_kind(cfg) {
        TokenKind::TslCwt => (
            token::tsl_cwt(statuses, claims, kid, &x5_chain_der(cfg)?, signer)
                .await
                .map_err(fail)?,
            token::TSL_CWT_MEDIA_TYPE,
        ),
        TokenKind::TslJwt => (
            token::tsl_jwt(statuses, claims, kid, &x5_chain_der(cfg)?, signer)
                .await
                .map_err(fail)?
                .into_bytes(),
            token::TSL_JWT_MEDIA_TYPE,
        ),
        TokenKind::W3c(kind) => {
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

/// Writes the configuration's aggregation document (every list's URL) from the configuration
/// as stored now, and again while a list opened meanwhile is missing from what was written:
/// whoever writes last has checked its copy against the configuration after writing.
async fn write_aggregation(
    cx: &Cx<'_>,
    config_id: &Target,
    work: &ListWork,
) -> Result<(), ApiError> {
    let key = format!("status-lists/{config_id}/aggregation");
    let mut lists = load_config(cx.repo, config_id).await?.doc.lists;
    for _ in 0..3 {
        let uris: Vec<String> = lists
            .iter()
            .map(|id| format!("{}/status-lists/{config_id}/{id}", work.base))
            .collect();
        let body = json!({"status_lists": uris}).to_string().into_bytes();
        work.publisher
            .put(&key, body, "application/json", "public, max-age=300", Expect::Any)
            .await
            .map_err(|e| {
                tracing::error!(code = "PUBLISH_FAILED", config = %config_id, error = %e, "uploading the aggregation document failed");
                ApiError::upstream("the status list registry")
            })?;
        let now = load_config(cx.repo, config_id).await?.doc.lists;
        if now == lists {
            return Ok(());
        }
        lists = now;
    }
    Ok(())
}
