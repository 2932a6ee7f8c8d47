//! A vical-service's registry copy (`config.registry`): every version it publishes also goes to
//! an S3, Azure or GCS registry, through the publishing engine like status lists and CRLs.
//!
//! The engine uploads the latest version to `vicals/<service>/latest.cbor`, conditional on the
//! object version it last stored, and then each version not yet in the registry to
//! `vicals/<service>/versions/<versionId>.cbor` (created only when absent: a version object is
//! never replaced). The copy's publish state lives in the service's record. A registry copy the
//! table did not write (a restored table, a service deleted and created again at the same path)
//! is read back and verified with the service's signing key: an older one is replaced; one that
//! is not older is never overwritten: the service's `vicalIssueID` series is raised above its id
//! and a new version is due at once (the refresh publishes it, and that one replaces the copy).
//! A copy that does not verify is left as it is and the publish fails.

use async_trait::async_trait;
use base64::Engine;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{KeyDoc, PublishState, Record, VicalServiceConfig, VicalVersion};
use trustfn_domain::ports::{Expect, Publisher, RegistryError};
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;
use trustfn_publish::lease::{commit_under_lease, Planned};
use trustfn_publish::{Absorbed, Artefact, Built, Cx, Issue, Outcome, PublishDeps};
use trustfn_signer::PublicKey;
use trustfn_statuslist::cbor::{sig_structure1, Value as Cbor};

use crate::payload::CBOR_MEDIA_TYPE;
use crate::publish::issue_series;

/// Versions a service may publish while its registry takes none of them: then publishing
/// stops with a 503 until the registry is fixed (the `VicalPublishFailing` alarm pages long
/// before).
pub const MAX_BACKLOG: usize = 256;
/// How long the registry's `latest` may be cached (a new version may come any time), and never
/// past its nextUpdate.
pub const LATEST_MAX_AGE: i64 = 300;
/// Seconds a copy without nextUpdate counts as valid for the engine's headroom (it is never
/// republished for its age: each new version replaces it).
const NO_EXPIRY_SECS: i64 = 100 * 365 * 86_400;

/// The registry object of a service's latest VICAL.
pub fn latest_key(service: &Target) -> String {
    format!("vicals/{service}/latest.cbor")
}

/// The registry object of one version.
pub fn version_key(service: &Target, version_id: &str) -> String {
    format!("vicals/{service}/versions/{version_id}.cbor")
}

/// The registry copies of vical-services, as the engine publishes them.
pub struct VicalCopies;

/// Version objects one round puts at most (the rest wait for the next round, which the round
/// makes due): a long backlog drains over several leases, never outlasting one.
pub const PUTS_PER_ROUND: usize = 16;
/// Seconds of lease a version upload needs left to start.
const PUT_MARGIN_SECS: i64 = 3;

/// What one round works with, loaded under the lease.
pub struct CopyWork {
    publisher: Box<dyn Publisher>,
    key: String,
    latest: VicalVersion,
    body: Vec<u8>,
    /// The backlogged versions this round puts (their records), oldest first.
    backlog: Vec<VicalVersion>,
    /// Keys a copy in the registry may be signed with: the signing key's, and the key of the
    /// latest version's signer certificate (the key before a change of signing key).
    keys: Vec<PublicKey>,
    /// The lease holder (the round's trims of the backlog are written under its lease).
    owner: String,
}

/// Publishes the registry copy of the vical-service `service` when it is behind (or always,
/// with `force`), until `deadline_ms`.
pub async fn publish_copy(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    service: &Target,
    force: bool,
    deadline_ms: i64,
) -> Result<Outcome, ApiError> {
    let cx = Cx { repo, deps };
    trustfn_publish::publish(&cx, &VicalCopies, service, force, deadline_ms).await
}

fn decode(v: &VicalVersion) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(&v.cbor)
        .map_err(|e| ApiError::internal_msg(format!("version {}: stored bytes: {e}", v.version_id)))
}

async fn version(
    repo: &dyn Repository,
    service: &Target,
    id: &str,
) -> Result<VicalVersion, ApiError> {
    repo.get(&service.child(id)?)
        .await?
        .and_then(|r| r.downcast::<VicalVersion>().ok())
        .map(|r| r.doc)
        .ok_or_else(|| ApiError::internal_msg(format!("{service}: version {id} is missing")))
}

/// The public key of the first `x5chain` certificate (the signer's) of a signed VICAL.
fn signer_key(bytes: &[u8]) -> Option<PublicKey> {
    let Cbor::Array(parts) = Cbor::decode(bytes).ok()? else {
        return None;
    };
    let der = match parts.get(1)?.get(&Cbor::Uint(33))? {
        Cbor::Array(chain) => chain.first()?.as_bytes()?,
        one => one.as_bytes()?,
    };
    trustfn_x509::describe::describe(der).ok()?.public_key
}

/// The `vicalIssueID` of a signed VICAL whose COSE_Sign1 verifies with one of `keys`.
pub fn verified_issue_id(bytes: &[u8], keys: &[PublicKey]) -> Result<u64, String> {
    let Cbor::Array(parts) = Cbor::decode(bytes)? else {
        return Err("not a COSE_Sign1 array".into());
    };
    let [protected, _, payload, signature] = parts.as_slice() else {
        return Err("a COSE_Sign1 has four elements".into());
    };
    let (Some(protected), Some(payload), Some(signature)) = (
        protected.as_bytes(),
        payload.as_bytes(),
        signature.as_bytes(),
    ) else {
        return Err("protected header, payload and signature must be byte strings".into());
    };
    let to_verify = sig_structure1(protected, payload);
    if !keys.iter().any(|k| k.verifies(&to_verify, signature)) {
        return Err("its signature does not verify with the service's signing key".into());
    }
    match Cbor::decode(payload)?.get(&Cbor::text("vicalIssueID")) {
        Some(Cbor::Uint(n)) => Ok(*n),
        _ => Err("its payload has no vicalIssueID".into()),
    }
}

#[async_trait]
impl Artefact for VicalCopies {
    type Doc = VicalServiceConfig;
    type Work = CopyWork;

    fn name(&self) -> &'static str {
        "VICAL"
    }

    fn state(doc: &VicalServiceConfig) -> PublishState {
        doc.registry_publish.as_deref().cloned().unwrap_or_default()
    }

    fn state_mut(doc: &mut VicalServiceConfig) -> &mut PublishState {
        doc.registry_publish
            .get_or_insert_with(|| Box::new(PublishState::unpublished()))
    }

    async fn active(
        &self,
        _cx: &Cx<'_>,
        rec: &Record<VicalServiceConfig>,
    ) -> Result<bool, ApiError> {
        Ok(rec.doc.registry.is_some() && rec.doc.latest.is_some())
    }

    async fn prepare(
        &self,
        cx: &Cx<'_>,
        rec: Record<VicalServiceConfig>,
        owner: &str,
    ) -> Result<Option<(Record<VicalServiceConfig>, CopyWork)>, ApiError> {
        let service = rec.id.clone();
        let registry = rec
            .doc
            .registry
            .as_ref()
            .ok_or_else(|| ApiError::validation(format!("{service} has no registry")))?
            .open(cx.deps.secrets, &service)
            .await?;
        let publisher = cx.deps.registries.open(&registry).await.map_err(|e| {
            tracing::error!(code = "VICAL_PUBLISH_FAILED", service = %service, error = %e, "opening the VICAL registry failed");
            ApiError::upstream("the VICAL registry")
        })?;
        let latest_id = rec.doc.latest.clone().expect("active: a version exists");
        let latest = version(cx.repo, &service, &latest_id).await?;
        let mut backlog = Vec::new();
        for b in rec.doc.registry_backlog.iter().take(PUTS_PER_ROUND) {
            backlog.push(match b.version_id == latest_id {
                true => latest.clone(),
                false => version(cx.repo, &service, &b.version_id).await?,
            });
        }
        let key_path = Target::parse(&rec.doc.signing_key_id).map_err(|e| {
            ApiError::internal_msg(format!("{service}: signingKeyId: {}", e.message))
        })?;
        let mut keys = vec![load_as::<KeyDoc>(cx.repo, &key_path).await?.doc.public_key];
        let body = decode(&latest)?;
        if let Some(k) = signer_key(&body).filter(|k| !keys.contains(k)) {
            keys.push(k);
        }
        let work = CopyWork {
            publisher,
            key: latest_key(&service),
            body,
            latest,
            backlog,
            keys,
            owner: owner.to_owned(),
        };
        Ok(Some((rec, work)))
    }

    async fn build(
        &self,
        cx: &Cx<'_>,
        rec: &Record<VicalServiceConfig>,
        work: &CopyWork,
        _issue: Issue,
    ) -> Result<Built, ApiError> {
        // Signed when the version was published: the copy is its bytes.
        let v = &work.latest;
        let issued_at = v.date.timestamp();
        let expires_at = v
            .next_update
            .map_or(issued_at + NO_EXPIRY_SECS, |n| n.timestamp());
        let max_age = LATEST_MAX_AGE.min(expires_at - cx.deps.now()).max(0);
        Ok(Built {
            body: work.body.clone(),
            content_type: CBOR_MEDIA_TYPE,
            cache_control: format!("public, max-age={max_age}"),
            revision: Self::state(&rec.doc).revision,
            number: Some(v.vical_issue_id),
            issued_at,
            expires_at,
            // Never republished for its age: the refresh publishes a new version instead.
            refresh_at: issued_at + NO_EXPIRY_SECS,
            entries: v.entry_count as u64,
            keep: Vec::new(),
        })
    }

    fn destination<'w>(&self, work: &'w CopyWork) -> (&'w dyn Publisher, &'w str) {
        (work.publisher.as_ref(), &work.key)
    }

    async fn absorb(
        &self,
        cx: &Cx<'_>,
        rec: &Record<VicalServiceConfig>,
        work: &mut CopyWork,
        found: &[u8],
        owner: &str,
    ) -> Result<Absorbed<VicalServiceConfig>, ApiError> {
        if found == work.body.as_slice() {
            return Ok(Absorbed::Superseded);
        }
        let theirs = verified_issue_id(found, &work.keys).map_err(|e| {
            ApiError::conflict(format!(
                "the registry holds a VICAL at {} that this table did not write and that cannot be verified ({e}); it is left as it is",
                work.key
            ))
        })?;
        let ours = work.latest.vical_issue_id;
        if theirs < ours {
            return Ok(Absorbed::Superseded);
        }
        // The registry is ahead of the table: its id is a floor, and only a newer version may
        // replace it. A new version is due at once.
        cx.repo
            .raise_number(&issue_series(&rec.id), theirs)
            .await
            .map_err(ApiError::from)?;
        let now = cx.deps.now();
        commit_under_lease::<VicalCopies>(cx, rec.clone(), owner, |cur| {
            let mut next = cur.clone();
            next.doc.refresh_at = Some(now);
            Ok(Planned::record(next))
        })
        .await?;
        tracing::warn!(code = "VICAL_REGISTRY_AHEAD", service = %rec.id, registry_issue_id = theirs, table_issue_id = ours,
            "the registry holds a newer VICAL than this table's latest (a restore or a recreated service); issue ids continue above it");
        Err(ApiError::conflict(format!(
            "the registry holds VICAL issue {theirs} at {}, not older than this table's latest ({ours}); it is left as it is, \
             issue ids now continue above {theirs}, and the refresh publishes a new version at once",
            work.key
        )))
    }

    async fn after_upload(
        &self,
        cx: &Cx<'_>,
        rec: &Record<VicalServiceConfig>,
        work: &CopyWork,
        _built: &Built,
    ) -> Result<(), ApiError> {
        // Each version object while the lease has time for it; what was put leaves the backlog
        // under the lease, and what is left keeps the copy due (a revision not yet published).
        let until = Self::state(&rec.doc).lease.map_or(0, |l| l.until);
        let mut put = Vec::new();
        for v in &work.backlog {
            if until - cx.deps.now() < PUT_MARGIN_SECS {
                break;
            }
            put_version(&rec.id, work, v).await?;
            put.push(v.version_id.clone());
        }
        if put.is_empty() && work.backlog.is_empty() {
            return Ok(());
        }
        commit_under_lease::<VicalCopies>(cx, rec.clone(), &work.owner, |cur| {
            let mut next = cur.clone();
            next.doc
                .registry_backlog
                .retain(|b| !put.contains(&b.version_id));
            if !next.doc.registry_backlog.is_empty() {
                Self::state_mut(&mut next.doc).revision += 1;
            }
            Ok(Planned::record(next))
        })
        .await?;
        Ok(())
    }

    async fn covering(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        revision: &str,
    ) -> Result<(Option<i64>, PublishState), ApiError> {
        let st = Self::state(&load_as::<VicalServiceConfig>(cx.repo, id).await?.doc);
        Ok((revision.parse().ok(), st))
    }
}

/// Puts one version's object, only where there is none; one that is there already must hold
/// the same bytes (a version object is never replaced).
async fn put_version(service: &Target, work: &CopyWork, v: &VicalVersion) -> Result<(), ApiError> {
    let key = version_key(service, &v.version_id);
    let body = decode(v)?;
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!(code = "VICAL_PUBLISH_FAILED", service = %service, object = %key, error = %e, "uploading a VICAL version failed");
        ApiError::upstream("the VICAL registry")
    };
    let cache = format!("public, max-age={}", crate::versions::VERSION_MAX_AGE);
    match work
        .publisher
        .put(&key, body.clone(), CBOR_MEDIA_TYPE, &cache, Expect::Absent)
        .await
    {
        Ok(_) => Ok(()),
        Err(RegistryError::Changed) => match work.publisher.get(&key).await {
            Ok(Some(found)) if found.body == body => Ok(()),
            Ok(Some(_)) => Err(ApiError::conflict(format!(
                "the registry holds another object at {key}; a published version is never replaced"
            ))),
            Ok(None) => Err(failed(&"the object vanished while it was written")),
            Err(e) => Err(failed(&e)),
        },
        Err(e) => Err(failed(&e)),
    }
}
