//! Publishing the CRL each IACA of an x509-service signs, to the service's CRL target.
//!
//! The CRL state lives in the IACA's issued-certificate record. Publishes of one CRL are
//! serialized by a lease in that record and coalesced: a revocation bumps the record's revision,
//! and whoever holds the lease publishes until the published revision has caught up. Taking the
//! lease allocates the next cRLNumber in the same conditional write, so numbers are strictly
//! increasing and never reused (an attempt that fails leaves a gap, never a repeat); numbers are
//! seeded from the clock ([`next_number`]), so a record lost and recreated never goes back. Uploads are
//! conditional on the object version the last publisher stored, so a stale upload cannot land
//! after a newer CRL.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Value};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    CrlState, CrlTarget, IssuedCertificate, IssuedProfile, KeyDoc, Kind, Record, Service,
};
use trustfn_domain::ports::{Expect, RegistryError, Republisher};
use trustfn_domain::publishing::{grace_secs, lease_secs, retry_time, upload_within, PublishDeps};
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::{children_of_kind, load_as};
use trustfn_domain::target::Target;
use trustfn_x509::crl::{sign_crl, CrlData, Revoked, CRL_MEDIA_TYPE};

/// Longest a CRL may be cached (`Cache-Control: max-age`), and never past its nextUpdate: a
/// revocation reaches verifiers within the hour.
pub const CRL_MAX_AGE: i64 = 3600;

pub(crate) use trustfn_domain::publishing::{now, rfc3339};

fn unix(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp())
}

/// The registry object an IACA's CRL is published to: `crls/<x509 service>/<IACA serial>.crl`.
pub fn crl_object_key(service: &Target, iaca_serial: &str) -> String {
    format!("crls/{service}/{iaca_serial}.crl")
}

/// The public URL of an IACA's CRL: the registry's public base plus [`crl_object_key`]. This is
/// the CRL distribution point of every certificate the IACA signs here.
pub fn crl_url(target: &CrlTarget, service: &Target, iaca_serial: &str) -> String {
    format!(
        "{}/{}",
        target.registry.public_base(),
        crl_object_key(service, iaca_serial)
    )
}

/// The CRL state of a newly recorded IACA: nothing published, due for the refresh after the
/// grace period when the service has a CRL target (should its first publish not happen now).
pub(crate) fn new_state(target: Option<&CrlTarget>) -> CrlState {
    CrlState {
        refresh_at: target.map(|_| now() + grace_secs()),
        ..CrlState::unpublished()
    }
}

/// The cRLNumber after `last`: the publish time in Unix milliseconds, or one more than `last`
/// when that is larger. Strictly increasing within a record, and still larger than every number
/// published before should the record be lost and recreated (an x509-service deleted and created
/// again under the same path publishes to the same URL), as long as the clock runs forward.
pub fn next_number(last: u64) -> u64 {
    let ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    (last + 1).max(ms)
}

/// How a publish call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlOutcome {
    /// This call published the newest revocations.
    Published,
    /// Another publisher holds the lease; it publishes what was recorded before it releases.
    Coalesced,
    /// Nothing new to publish.
    UpToDate,
    /// The service has no CRL target (or the IACA has expired): nothing is published.
    NoTarget,
}

/// Signs and uploads the CRL of the IACA recorded at `iaca_id` when revocations are unpublished
/// (or always, with `force`), serialized by the record's lease and coalesced.
pub async fn publish_crl(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    iaca_id: &Target,
    mut force: bool,
) -> Result<CrlOutcome, ApiError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let service_id = iaca_id.parent().expect("IACAs live in a service");
    let mut published = false;
    let mut fenced = 0;
    loop {
        let rec = load_as::<IssuedCertificate>(repo, iaca_id).await?;
        let target = load_as::<Service>(repo, &service_id)
            .await?
            .doc
            .crl_target()
            .cloned();
        let crl = rec.doc.crl.clone().unwrap_or_else(CrlState::unpublished);
        if crl.lease_until.is_some_and(|u| u > now()) {
            return Ok(if published {
                CrlOutcome::Published
            } else {
                CrlOutcome::Coalesced
            });
        }
        let expired = unix(&rec.doc.not_after).is_some_and(|na| na <= now());
        let Some(target) = target.filter(|_| !expired) else {
            if crl.refresh_at.is_some() {
                // Out of the refresh index until a target is configured again.
                let mut off = rec.clone();
                off.doc
                    .crl
                    .get_or_insert_with(CrlState::unpublished)
                    .refresh_at = None;
                replace_unless_raced(repo, off.upcast(), rec.version).await?;
            }
            return Ok(CrlOutcome::NoTarget);
        };
        let behind = crl.published_revision < crl.revision as i64;
        if !force && !behind && crl.publish_error.is_none() {
            return Ok(if published {
                CrlOutcome::Published
            } else {
                CrlOutcome::UpToDate
            });
        }
        // Take the lease and the next cRLNumber in one conditional write; should we die before
        // the release, the refresh takes over once the lease has expired.
        let mut leased = rec.clone();
        let state = leased.doc.crl.get_or_insert_with(CrlState::unpublished);
        state.number = next_number(state.number);
        state.lease_until = Some(now() + lease_secs());
        state.lease_owner = Some(owner.clone());
        state.refresh_at = Some(
            state
                .refresh_at
                .unwrap_or(i64::MAX)
                .min(now() + grace_secs()),
        );
        let (number, revision) = (state.number, state.revision);
        let lease_until = state.lease_until.expect("set");
        match repo
            .commit(vec![Op::Replace {
                record: leased.clone().upcast(),
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
        let outcome =
            sign_and_upload(repo, deps, &leased, &target, number, lease_until, &owner).await;
        if !release(repo, iaca_id, &owner, revision, number, &outcome).await? {
            tracing::warn!(iaca = %iaca_id, number, "CRL publish lease lost during the upload; republishing");
            fenced += 1;
            if fenced > 2 {
                return Err(ApiError::upstream(
                    "the CRL registry (uploads outlast the publish lease)",
                ));
            }
            force = true;
            continue;
        }
        let up = outcome?;
        published = true;
        tracing::info!(iaca = %iaca_id, number, revoked = up.revoked, "CRL published");
        // Loop: revocations recorded while we published are published now (coalesced).
    }
}

/// Writes `record` expecting `version`; a lost race is not an error (whoever won it wrote a newer
/// record, and this write is tried again the next time the CRL comes up).
async fn replace_unless_raced(
    repo: &dyn Repository,
    record: Record,
    version: u64,
) -> Result<(), ApiError> {
    match repo
        .commit(vec![Op::Replace {
            record,
            expected_version: version,
            children_delta: 0,
        }])
        .await
    {
        Ok(()) | Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => Ok(()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// What an upload published.
struct Uploaded {
    this_update: i64,
    next_update: i64,
    revoked: u64,
    version: String,
}

/// Every revoked certificate the IACA at `iaca_id` signed, in serial order.
pub(crate) async fn revoked_of(
    repo: &dyn Repository,
    iaca_id: &Target,
) -> Result<Vec<Revoked>, ApiError> {
    let mut out = Vec::new();
    for rec in children_of_kind(repo, iaca_id, Kind::Issued).await? {
        let id = rec.id.clone();
        let Ok(c) = rec.downcast::<IssuedCertificate>() else {
            continue;
        };
        let Some(r) = &c.doc.revocation else { continue };
        let bad = |what: &str| {
            ApiError::internal_msg(format!("issued certificate {id}: {what} does not parse"))
        };
        let serial =
            trustfn_x509::parse::unhex(&c.doc.serial_number).ok_or_else(|| bad("serialNumber"))?;
        let revoked_at = DateTime::parse_from_rfc3339(&r.revocation_date)
            .map_err(|_| bad("revocationDate"))?
            .with_timezone(&Utc);
        out.push(Revoked { serial, revoked_at });
    }
    Ok(out)
}

/// Builds the IACA's CRL with `number`, signs it with the IACA's KMS key (one Sign) and uploads
/// it, conditional on the version the last publisher stored.
async fn sign_and_upload(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    iaca: &Record<IssuedCertificate>,
    target: &CrlTarget,
    number: u64,
    lease_until: i64,
    owner: &str,
) -> Result<Uploaded, ApiError> {
    let service_id = iaca.id.parent().expect("IACAs live in a service");
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!(code = "CRL_PUBLISH_FAILED", iaca = %iaca.id, error = %e, "{what} failed");
    };
    let der = trustfn_x509::pem::decode_one_certificate(&iaca.doc.pem)
        .map_err(|e| ApiError::internal_msg(format!("{}: stored IACA PEM: {e}", iaca.id)))?;
    let parsed = trustfn_x509::parse::parse_iaca(&der, Utc::now())
        .map_err(|e| ApiError::internal_msg(format!("{}: stored IACA: {e}", iaca.id)))?;
    // The IACA's key: the record it was issued with, still holding the same public key.
    let key_path = iaca
        .doc
        .key_path
        .as_deref()
        .ok_or_else(|| ApiError::internal_msg(format!("{}: no IACA key recorded", iaca.id)))?;
    let key_id = Target::parse(key_path)
        .map_err(|_| ApiError::internal_msg(format!("{}: bad key path", iaca.id)))?;
    let key = repo
        .get(&key_id)
        .await?
        .and_then(|r| r.downcast::<KeyDoc>().ok())
        .filter(|k| k.doc.public_key == parsed.public_key)
        .ok_or_else(|| {
            ApiError::new(
                409,
                "IacaKeyMissingException",
                format!("the IACA's key {key_path} no longer exists (or holds another key); the CRL cannot be signed"),
            )
        })?;
    let revoked = revoked_of(repo, &iaca.id).await?;
    let this = Utc::now().trunc_subsecs(0);
    let next = this + chrono::Duration::days(target.validity_days as i64);
    let signer = deps
        .kms
        .signer(&key.doc.kms_key_arn, key.doc.public_key.clone());
    let body = sign_crl(
        &CrlData {
            issuer: &parsed.subject,
            authority_key_id: &parsed.subject_key_identifier,
            number,
            this_update: this,
            next_update: next,
            revoked: &revoked,
        },
        signer.as_ref(),
    )
    .await
    .map_err(crate::issue::x509_error)?;
    let registry = target.registry.open(deps.secrets, &service_id).await?;
    let unavailable = |e: &dyn std::fmt::Display| {
        failed("uploading the CRL", e);
        ApiError::upstream("the CRL registry")
    };
    let publisher = deps.registries.open(&registry).await.map_err(|e| {
        failed("opening the CRL registry", &e);
        ApiError::upstream("the CRL registry")
    })?;
    let max_age = CRL_MAX_AGE.min(next.timestamp() - now()).max(0);
    let cache = format!("public, max-age={max_age}");
    let key = crl_object_key(&service_id, &iaca.doc.serial_number);
    let state = iaca.doc.crl.as_ref().expect("leased");
    let expect = match &state.object_version {
        Some(v) => Expect::Version(v),
        None => Expect::Absent,
    };
    // Within what is left of the lease: an upload still running when it ends is abandoned.
    let upload = |expect, until: i64| {
        let left = std::time::Duration::from_secs((until - now()).max(0) as u64);
        let (publisher, body) = (publisher.as_ref(), body.clone());
        upload_within(publisher, &key, body, CRL_MEDIA_TYPE, &cache, expect, left)
    };
    let version = match upload(expect, lease_until).await {
        Ok(v) => v,
        Err(RegistryError::Changed) => {
            // Written since our last publish (a publisher that lost its lease, or an object
            // older than versions): only the lease holder may overwrite it.
            let cur = load_as::<IssuedCertificate>(repo, &iaca.id).await?;
            let until = cur
                .doc
                .crl
                .as_ref()
                .filter(|c| c.lease_owner.as_deref() == Some(owner))
                .and_then(|c| c.lease_until)
                .filter(|u| *u > now())
                .ok_or_else(|| unavailable(&"the publish lease was taken over"))?;
            tracing::warn!(iaca = %iaca.id, "the registry's CRL changed since our last publish; overwriting it as the lease holder");
            upload(Expect::Any, until)
                .await
                .map_err(|e| unavailable(&e))?
        }
        Err(e) => return Err(unavailable(&e)),
    };
    Ok(Uploaded {
        this_update: this.timestamp(),
        next_update: next.timestamp(),
        revoked: revoked.len() as u64,
        version,
    })
}

/// Records the outcome of a publish and releases the lease. Fenced by the lease owner: when the
/// lease is no longer `owner`'s, nothing of the outcome is recorded; the revision is bumped
/// instead, so whoever publishes next publishes again. Returns false when fenced.
async fn release(
    repo: &dyn Repository,
    iaca_id: &Target,
    owner: &str,
    revision: u64,
    number: u64,
    outcome: &Result<Uploaded, ApiError>,
) -> Result<bool, ApiError> {
    loop {
        let cur = load_as::<IssuedCertificate>(repo, iaca_id).await?;
        let mut next = cur.clone();
        let crl = next.doc.crl.get_or_insert_with(CrlState::unpublished);
        let fenced = crl.lease_owner.as_deref() != Some(owner);
        if fenced {
            crl.revision += 1;
            crl.refresh_at = Some(crl.refresh_at.unwrap_or(i64::MAX).min(now()));
        } else {
            crl.lease_until = None;
            crl.lease_owner = None;
        }
        match outcome {
            _ if fenced => {}
            Ok(up) => {
                crl.published_revision = crl.published_revision.max(revision as i64);
                crl.published_number = Some(crl.published_number.unwrap_or(0).max(number));
                crl.this_update = Some(rfc3339(up.this_update));
                crl.next_update = Some(rfc3339(up.next_update));
                crl.revoked_count = up.revoked;
                crl.publish_error = None;
                crl.publish_error_at = None;
                crl.failures = None;
                crl.object_version = Some(up.version.clone());
                // Re-issued at half its validity; at once (by whoever comes next, the refresh at
                // the latest) when revocations arrived during this publish.
                let half = up.this_update + (up.next_update - up.this_update) / 2;
                crl.refresh_at = Some(if crl.revision > revision {
                    half.min(now() + grace_secs())
                } else {
                    half
                });
            }
            Err(e) => {
                let failures = crl.failures.unwrap_or(0).saturating_add(1);
                crl.publish_error = Some(e.message.clone());
                crl.publish_error_at = Some(rfc3339(now()));
                crl.failures = Some(failures);
                let exp = crl.next_update.as_deref().and_then(unix);
                crl.refresh_at = Some(retry_time(now(), failures, exp));
            }
        }
        match repo
            .commit(vec![Op::Replace {
                record: next.upcast(),
                expected_version: cur.version,
                children_delta: 0,
            }])
            .await
        {
            Ok(()) => return Ok(!fenced),
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

/// The public view of an IACA's CRL.
pub(crate) fn crl_view(iaca: &Record<IssuedCertificate>, target: Option<&CrlTarget>) -> Value {
    let service = iaca.id.parent().expect("IACAs live in a service");
    let empty = CrlState::default();
    let crl = iaca.doc.crl.as_ref().unwrap_or(&empty);
    json!({
        "iaca": iaca.id.to_string(),
        "iacaSerialNumber": iaca.doc.serial_number,
        "iacaSubject": iaca.doc.subject,
        "url": target.map(|t| crl_url(t, &service, &iaca.doc.serial_number)),
        "number": crl.published_number,
        "thisUpdate": crl.this_update,
        "nextUpdate": crl.next_update,
        "revokedCount": crl.revoked_count,
        "lastPublishError": crl.publish_error,
        "lastPublishErrorAt": crl.publish_error_at,
        "pending": crl.published_revision < crl.revision as i64,
    })
}

/// The scheduled refresh's publisher of CRLs: re-issues a due IACA's CRL.
pub struct CrlRepublisher<'a> {
    pub repo: &'a dyn Repository,
    pub deps: &'a PublishDeps<'a>,
}

#[async_trait::async_trait]
impl Republisher for CrlRepublisher<'_> {
    async fn republish(&self, record: &Record) -> Result<(), ApiError> {
        match record.get::<IssuedCertificate>() {
            Some(c) if c.profile == IssuedProfile::Iaca => {
                publish_crl(self.repo, self.deps, &record.id, true).await?;
                Ok(())
            }
            _ => Err(ApiError::internal_msg(format!(
                "{} is in the refresh index but publishes nothing",
                record.id
            ))),
        }
    }
}
