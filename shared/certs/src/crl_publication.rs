//! The CRL each IACA of an x509-service signs, as an artefact of the publishing engine, published
//! to the service's CRL target.
//!
//! The CRL's publish state lives in the IACA's issued-certificate record: a revocation bumps its
//! revision (in the same transaction as the certificate's record), each lease allocates the next
//! cRLNumber (seeded from the clock, so a record lost and recreated never goes back). A CRL the
//! registry holds that the table did not write (the service deleted and created again at the
//! same path, a restored table) is read back and verified with the IACA's key; every serial it
//! lists is recorded as revoked here and the new CRL's number is set above its number before it
//! is replaced: a revocation, once published, is never dropped.

use crate::answer::CrlView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::time::{from_unix, whole_seconds};
use trustfn_domain::model::SerialNumber;
use trustfn_domain::model::{
    CrlState, CrlTarget, IssuedCertificate, IssuedProfile, KeyDoc, Kind, PublishState, Record,
    Revocation, RevocationReason, Service,
};
use trustfn_domain::ports::Publisher;
use trustfn_domain::repo::{Op, Repository, RevokedEntry, MAX_TX_ITEMS};
use trustfn_domain::resource::{children_of_kind, load_as};
use trustfn_domain::target::Target;
use trustfn_publish::lease::{commit_under_lease, Planned};
use trustfn_publish::{
    rfc3339, Absorbed, Artefact, Built, Cx, Issue, Outcome, PublishDeps, Republisher, Settled,
};
use trustfn_x509::crl::{read_crl, sign_crl, CrlData, Revoked, CRL_MEDIA_TYPE};

/// Longest a CRL may be cached (`Cache-Control: max-age`), and never past its nextUpdate: a
/// revocation reaches verifiers within the hour.
pub const CRL_MAX_AGE: i64 = 3600;

/// The registry object an IACA's CRL is published to: `crls/<x509 service>/<IACA serial>.crl`.
pub fn crl_object_key(service: &Target, iaca_serial: &SerialNumber) -> String {
    format!("crls/{service}/{iaca_serial}.crl")
}

/// The public URL of an IACA's CRL: the registry's public base plus [`crl_object_key`]. This is
/// the CRL distribution point of every certificate the IACA signs here.
pub fn crl_url(target: &CrlTarget, service: &Target, iaca_serial: &SerialNumber) -> String {
    format!(
        "{}/{}",
        target.registry.public_base(),
        crl_object_key(service, iaca_serial)
    )
}

/// The CRL state of a newly recorded IACA: nothing published, due for the refresh after one
/// lease when the service has a CRL target (should its first publish not happen now).
pub(crate) fn new_state(target: Option<&CrlTarget>, now: i64) -> CrlState {
    let mut state = CrlState::unpublished();
    state.publish.refresh_at = target.map(|_| now + trustfn_publish::grace_secs());
    state
}

/// The CRLs of x509-services' IACAs, as the engine publishes them.
pub struct Crls;

/// What one round works with: loaded once, under the lease.
pub struct CrlWork {
    target: CrlTarget,
    /// The IACA's subject Name (DER): the CRL's issuer.
    issuer: Vec<u8>,
    ski: Vec<u8>,
    key: KeyDoc,
    publisher: Box<dyn Publisher>,
    object_key: String,
}

fn service_of(iaca: &Target) -> Target {
    iaca.parent().expect("IACAs live in a service")
}

/// Publishes the CRL of the IACA recorded at `iaca` if revocations are unpublished (or always,
/// with `force`), within the deps' deadline.
pub async fn publish_crl(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    iaca: &Target,
    force: bool,
) -> Result<Outcome, ApiError> {
    let cx = Cx { repo, deps };
    trustfn_publish::publish(&cx, &Crls, iaca, force, deps.deadline_ms).await
}

/// Publishes the CRL of the IACA recorded at `iaca` until it holds `revision` (waiting for a
/// publisher holding the lease), or the deps' deadline comes.
pub async fn publish_revision(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    iaca: &Target,
    revision: i64,
) -> Result<Settled, ApiError> {
    let cx = Cx { repo, deps };
    let mark = revision.to_string();
    trustfn_publish::publish_and_wait(&cx, &Crls, iaca, &mark, deps.deadline_ms).await
}

#[async_trait]
impl Artefact for Crls {
    type Doc = IssuedCertificate;
    type Work = CrlWork;

    fn name(&self) -> &'static str {
        "CRL"
    }

    fn state(doc: &IssuedCertificate) -> PublishState {
        doc.crl
            .as_ref()
            .map_or_else(|| CrlState::unpublished().publish, |c| c.publish.clone())
    }

    fn state_mut(doc: &mut IssuedCertificate) -> &mut PublishState {
        &mut doc.crl.get_or_insert_with(CrlState::unpublished).publish
    }

    async fn active(&self, cx: &Cx<'_>, rec: &Record<IssuedCertificate>) -> Result<bool, ApiError> {
        if rec.doc.profile != IssuedProfile::Iaca {
            return Err(ApiError::internal_msg(format!(
                "{} is not an IACA: it publishes no CRL",
                rec.id
            )));
        }
        let expired = match rec.doc.not_after {
            Some(t) => t.timestamp() <= cx.deps.now(),
            None => true,
        };
        Ok(!expired && crl_target(cx.repo, &service_of(&rec.id)).await?.is_some())
    }

    async fn prepare(
        &self,
        cx: &Cx<'_>,
        rec: Record<IssuedCertificate>,
        _owner: &str,
    ) -> Result<Option<(Record<IssuedCertificate>, CrlWork)>, ApiError> {
        let service = service_of(&rec.id);
        let target = crl_target(cx.repo, &service)
            .await?
            .ok_or_else(|| ApiError::validation(format!("{service} has no CRL target")))?;
        let der = trustfn_x509::pem::decode_one_certificate(rec.doc.pem_of(&rec.id)?)
            .map_err(|e| ApiError::internal_msg(format!("{}: stored IACA PEM: {e}", rec.id)))?;
        let parsed = trustfn_x509::parse::parse_iaca(&der, Utc::now())
            .map_err(|e| ApiError::internal_msg(format!("{}: stored IACA: {e}", rec.id)))?;
        let key = iaca_key(cx.repo, &rec, &parsed.public_key).await?;
        hold_key_edge(cx.repo, &rec.id, &key.0).await?;
        let registry = target.registry.open(cx.deps.secrets, &service).await?;
        let publisher = cx.deps.registries.open(&registry).await.map_err(|e| {
            tracing::error!(code = "CRL_PUBLISH_FAILED", iaca = %rec.id, error = %e, "opening the CRL registry failed");
            ApiError::upstream("the CRL registry")
        })?;
        let work = CrlWork {
            object_key: crl_object_key(&service, &rec.doc.serial_number),
            target,
            issuer: parsed.subject.clone(),
            ski: parsed.subject_key_identifier.clone(),
            key: key.1,
            publisher,
        };
        Ok(Some((rec, work)))
    }

    async fn build(
        &self,
        cx: &Cx<'_>,
        rec: &Record<IssuedCertificate>,
        work: &CrlWork,
        issue: Issue,
    ) -> Result<Built, ApiError> {
        // The revision first, then the revoked records: every revocation of that revision is in
        // (a revocation writes its certificate's record with the revision).
        let now = load_as::<IssuedCertificate>(cx.repo, &rec.id).await?.doc;
        let revision = Self::state(&now).revision;
        let revoked_set = now.crl.as_ref().is_some_and(|c| c.revoked_set);
        let revoked = revoked_of(cx.repo, &rec.id, revoked_set).await?;
        let number = issue
            .number
            .ok_or_else(|| ApiError::internal_msg(format!("{}: no cRLNumber allocated", rec.id)))?;
        let this = DateTime::from_timestamp(issue.at, 0).unwrap_or_default();
        let next = this + chrono::Duration::days(work.target.validity_days as i64);
        let signer = cx
            .deps
            .kms
            .signer(work.key.kms_key_arn.as_str(), work.key.public_key.clone());
        let body = sign_crl(
            &CrlData {
                issuer: &work.issuer,
                authority_key_id: &work.ski,
                number,
                this_update: this,
                next_update: next,
                revoked: &revoked,
            },
            signer.as_ref(),
        )
        .await
        .map_err(crate::error::x509_error)?;
        let (this, next) = (this.timestamp(), next.timestamp());
        let max_age = CRL_MAX_AGE.min(next - cx.deps.now()).max(0);
        Ok(Built {
            body,
            content_type: CRL_MEDIA_TYPE,
            cache_control: format!("public, max-age={max_age}"),
            revision,
            number: Some(number),
            issued_at: this,
            expires_at: next,
            // Re-issued at half its validity.
            refresh_at: this + (next - this) / 2,
            entries: revoked.len() as u64,
            keep: Vec::new(),
        })
    }

    fn destination<'w>(&self, work: &'w CrlWork) -> (&'w dyn Publisher, &'w str) {
        (work.publisher.as_ref(), &work.object_key)
    }

    async fn absorb(
        &self,
        cx: &Cx<'_>,
        rec: &Record<IssuedCertificate>,
        work: &mut CrlWork,
        found: &[u8],
        owner: &str,
    ) -> Result<Absorbed<IssuedCertificate>, ApiError> {
        let theirs = read_crl(found, &work.issuer, &work.key.public_key).map_err(|e| {
            ApiError::conflict(format!(
                "the registry holds a CRL at {} that this table did not write and that is not the IACA's ({e}); it is left as it is",
                work.object_key
            ))
        })?;
        // Revocations are final: whatever the copy lists and the table lacks is recorded, and
        // the number goes above the copy's.
        // The records the copy names, not every certificate the IACA issued.
        let serials: Vec<SerialNumber> = theirs
            .revoked
            .iter()
            .map(|r| SerialNumber::from_bytes(&r.serial))
            .collect();
        let ids = serials
            .iter()
            .map(|s| rec.id.child(s.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let children = cx.repo.get_many(&ids).await?;
        let mut missing = Vec::new();
        for (r, serial) in theirs.revoked.iter().zip(serials) {
            let known = children.iter().find(|c| c.id.leaf() == serial.as_str());
            match known.and_then(|c| c.get::<IssuedCertificate>()) {
                Some(c) if c.revocation.is_some() => {}
                _ => missing.push((serial, r.revoked_at, known.cloned())),
            }
        }
        let number_ok = Self::state(&rec.doc)
            .number
            .is_some_and(|n| n > theirs.number);
        if missing.is_empty() && number_ok {
            return Ok(Absorbed::Superseded);
        }
        tracing::warn!(code = "CRL_MERGED_FROM_REGISTRY", iaca = %rec.id, revocations = missing.len(), number = theirs.number,
            "the registry's CRL listed revocations this table lacked (a recreated service or a restore); recorded");
        let now = from_unix(cx.deps.now());
        let mut rec = rec.clone();
        // Batches that fit in one transaction with the IACA's record, each under the lease.
        let mut batches: Vec<Vec<(SerialNumber, DateTime<Utc>, Option<Record>)>> = missing
            .chunks((MAX_TX_ITEMS - 1) / 2)
            .map(<[_]>::to_vec)
            .collect();
        if batches.is_empty() {
            batches.push(Vec::new());
        }
        for batch in batches {
            let merged = commit_under_lease::<Crls>(cx, rec.clone(), owner, |cur| {
                let mut next = cur.clone();
                let st = Self::state_mut(&mut next.doc);
                st.number = st.number.max(Some(theirs.number + 1));
                st.revision += batch.len() as i64;
                let mut ops = Vec::with_capacity(batch.len());
                for (serial, at, known) in &batch {
                    let revocation = Revocation {
                        reason: RevocationReason::Unspecified,
                        revocation_date: whole_seconds(*at),
                        revoked_at: now,
                    };
                    ops.push(match known {
                        Some(k) => {
                            let mut doc =
                                k.get::<IssuedCertificate>().cloned().ok_or_else(|| {
                                    ApiError::internal_msg(format!(
                                        "{} is not an issued certificate",
                                        k.id
                                    ))
                                })?;
                            doc.revocation = Some(revocation);
                            Op::Replace {
                                record: Record {
                                    doc: doc.into(),
                                    ..k.clone()
                                },
                                expected_version: k.version,
                                children_delta: 0,
                            }
                        }
                        None => Op::Create(Record::new(
                            cur.id.child(serial.as_str())?,
                            known_from_crl(serial, &cur.doc, revocation),
                        )),
                    });
                    ops.push(Op::AddRevoked {
                        iaca: cur.id.clone(),
                        entry: RevokedEntry {
                            serial: serial.as_str().to_owned(),
                            revoked_at: whole_seconds(*at).timestamp(),
                        },
                    });
                }
                Ok(Planned {
                    next,
                    children_delta: batch.iter().filter(|b| b.2.is_none()).count() as i64,
                    others: ops,
                })
            })
            .await?;
            match merged {
                Some(r) => rec = r,
                None => return Ok(Absorbed::Lost),
            }
        }
        Ok(Absorbed::Merged(rec))
    }

    fn published(doc: &mut IssuedCertificate, built: &Built) {
        doc.crl
            .get_or_insert_with(CrlState::unpublished)
            .revoked_count = built.entries;
    }

    async fn covering(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        revision: &str,
    ) -> Result<(Option<i64>, PublishState), ApiError> {
        let st = Self::state(&load_as::<IssuedCertificate>(cx.repo, id).await?.doc);
        Ok((revision.parse().ok(), st))
    }
}

/// The record of a certificate known only from the CRL that revoked it.
fn known_from_crl(
    serial: &SerialNumber,
    iaca: &IssuedCertificate,
    revocation: Revocation,
) -> IssuedCertificate {
    IssuedCertificate {
        profile: IssuedProfile::Unknown,
        serial_number: serial.clone(),
        subject: None,
        issuer: iaca.subject.clone().unwrap_or_default(),
        not_before: None,
        not_after: None,
        sha256_fingerprint: None,
        key_path: None,
        stored_certificate_paths: Vec::new(),
        adopted: true,
        pem: None,
        revocation: Some(revocation),
        crl: None,
    }
}

/// The CRL target of the x509-service at `service`.
async fn crl_target(
    repo: &dyn Repository,
    service: &Target,
) -> Result<Option<CrlTarget>, ApiError> {
    Ok(load_as::<Service>(repo, service)
        .await?
        .doc
        .crl_target()
        .cloned())
}

/// The IACA's key: the record it was issued with (its path and document), still holding the
/// certificate's public key.
async fn iaca_key(
    repo: &dyn Repository,
    iaca: &Record<IssuedCertificate>,
    public: &trustfn_x509::PublicKey,
) -> Result<(Target, KeyDoc), ApiError> {
    let key_id = iaca
        .doc
        .key_path
        .clone()
        .ok_or_else(|| ApiError::internal_msg(format!("{}: no IACA key recorded", iaca.id)))?;
    let path = &key_id;
    let key = repo
        .get(&key_id)
        .await?
        .and_then(|r| r.downcast::<KeyDoc>().ok())
        .filter(|k| &k.doc.public_key == public)
        .ok_or_else(|| {
            ApiError::new(
                409,
                "IacaKeyMissingException",
                format!("the IACA's key {path} no longer exists (or holds another key); the CRL cannot be signed"),
            )
        })?;
    Ok((key_id, key.doc))
}

/// An IACA record refers to its key by an edge (as a status configuration to its `kid`), so the
/// key cannot be deleted while the IACA's CRL is published from this service. Records made
/// before these edges get theirs here.
async fn hold_key_edge(repo: &dyn Repository, iaca: &Target, key: &Target) -> Result<(), ApiError> {
    if repo.dependencies(iaca).await?.contains(key) {
        return Ok(());
    }
    match repo.commit(key_edge(iaca, key)).await {
        // A concurrent publisher added it first, or the key went (the publish fails on it).
        Ok(()) | Err(trustfn_domain::repo::RepoError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// The ops of the edge from an IACA record to its key.
pub(crate) fn key_edge(iaca: &Target, key: &Target) -> Vec<Op> {
    vec![
        Op::AddEdge {
            from: iaca.clone(),
            to: key.clone(),
        },
        Op::Count {
            id: key.clone(),
            children: 0,
            dependants: 1,
        },
    ]
}

/// Every revoked certificate the IACA at `iaca_id` signed, in serial order: from its revoked set
/// (one small item per revocation), or, for an IACA that recorded revocations before the set
/// existed (`revoked_set` false), from every certificate it issued.
pub(crate) async fn revoked_of(
    repo: &dyn Repository,
    iaca_id: &Target,
    revoked_set: bool,
) -> Result<Vec<Revoked>, ApiError> {
    if revoked_set {
        let mut out = Vec::new();
        for e in repo.revoked(iaca_id).await? {
            let serial = SerialNumber::parse(&e.serial).map_err(|_| {
                ApiError::internal_msg(format!(
                    "revoked set of {iaca_id}: serial {:?} does not parse",
                    e.serial
                ))
            })?;
            out.push(Revoked {
                serial: serial.to_bytes(),
                revoked_at: from_unix(e.revoked_at),
            });
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for rec in children_of_kind(repo, iaca_id, Kind::Issued).await? {
        let id = rec.id.clone();
        let Ok(c) = rec.downcast::<IssuedCertificate>() else {
            continue;
        };
        let Some(r) = &c.doc.revocation else { continue };
        let _bad = |what: &str| {
            ApiError::internal_msg(format!("issued certificate {id}: {what} does not parse"))
        };
        let serial = c.doc.serial_number.to_bytes();
        out.push(Revoked {
            serial,
            revoked_at: r.revocation_date,
        });
    }
    Ok(out)
}

/// The public view of an IACA's CRL.
pub(crate) fn crl_view(iaca: &Record<IssuedCertificate>, target: Option<&CrlTarget>) -> CrlView {
    let service = service_of(&iaca.id);
    let empty = CrlState::default();
    let crl = iaca.doc.crl.as_ref().unwrap_or(&empty);
    let p = &crl.publish;
    CrlView {
        iaca: iaca.id.to_string(),
        iaca_serial_number: iaca.doc.serial_number.clone(),
        iaca_subject: iaca.doc.subject.clone(),
        url: target.map(|t| crl_url(t, &service, &iaca.doc.serial_number)),
        number: p.published_number,
        this_update: p.issued_at.map(rfc3339),
        next_update: p.expires_at.map(rfc3339),
        revoked_count: crl.revoked_count,
        last_publish_error: p.last_error.clone(),
        last_publish_error_at: p.last_error_at.map(rfc3339),
        pending: p.behind(),
        consecutive_failures: p.failures,
    }
}

#[async_trait]
impl Republisher for Crls {
    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Issued
    }

    async fn republish(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        deadline_ms: i64,
    ) -> Result<Outcome, ApiError> {
        trustfn_publish::publish(cx, self, id, true, deadline_ms).await
    }
}
