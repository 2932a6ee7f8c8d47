//! Keeping VICALs current: the scheduled refresh publishes a new version of a VICAL whose
//! nextUpdate is within a quarter of its validity (same provider and validity, issued now, with
//! the stores' entries of now), and every publish leaves metrics an alarm can watch (dimension
//! `Kind=vical`): `Published`, `PublishFailed`, `ConsecutiveFailures`, `HeadroomSeconds`,
//! `HeadroomRatio`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trustfn_domain::auth::Principal;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::time::from_unix;
use trustfn_domain::model::{Kind, Service, VicalServiceConfig, VicalVersion};
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::target::Target;
use trustfn_publish::{Cx, Outcome, Republisher};

use crate::publish::{publish_as, PublishRequest, Published};
use crate::versions::load_vical_service;

/// The metrics dimension of VICALs.
pub const KIND: &str = "vical";
/// Longest wait between two failed refresh attempts.
pub const MAX_BACKOFF_SECS: i64 = 3600;

/// When a VICAL issued at `date` and valid until `next_update` is republished: three quarters
/// into its validity.
pub fn refresh_time(date: DateTime<Utc>, next_update: DateTime<Utc>) -> i64 {
    let (d, n) = (date.timestamp(), next_update.timestamp());
    n - (n - d) / 4
}

/// The metrics of one publish (a request's or the refresh's).
pub fn metrics(out: &Result<Published, ApiError>, now: i64) {
    let mut emf = trustfn_metrics::Emf::new()
        .dim("Kind", trustfn_metrics::kind(KIND))
        .count("Published", out.is_ok() as u64)
        .count("PublishFailed", out.is_err() as u64);
    if let Ok(p) = out {
        emf = emf.count("ConsecutiveFailures", 0);
        if let Some(n) = p.next_update_secs {
            let left = (n - now).max(0) as f64;
            emf = emf.secs("HeadroomSeconds", left);
            if n > p.date_secs {
                emf = emf.ratio(
                    "HeadroomRatio",
                    (left / (n - p.date_secs) as f64).clamp(0.0, 1.0),
                );
            }
        }
    }
    emf.emit();
}

/// The refresh's publisher of VICALs.
pub struct Vicals;

#[async_trait]
impl Republisher for Vicals {
    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Service
    }

    async fn republish(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        deadline_ms: i64,
    ) -> Result<Outcome, ApiError> {
        let (rec, cfg) = load_vical_service(cx.repo, id).await?;
        let now = cx.deps.now();
        // The registry copy first: behind, failing, or left by a publisher that died.
        let copy_due = cfg
            .registry_publish
            .as_ref()
            .is_some_and(|st| st.refresh_at.is_some_and(|at| at <= now));
        if copy_due {
            // A failing registry never holds back the VICAL itself: its error is recorded (and
            // backed off) by the engine, and the next version is still published on time.
            if let Err(e) =
                crate::registry::publish_copy(cx.repo, cx.deps, id, false, deadline_ms).await
            {
                tracing::warn!(service = %id, error = %e.message, "the VICAL registry copy failed; the VICAL is kept current regardless");
            }
        }
        if cfg.refresh_at.is_none_or(|at| at > now) {
            return Ok(if copy_due {
                Outcome::Published
            } else {
                Outcome::UpToDate
            });
        }
        // Read again: the copy's publish changed the record.
        let (rec, cfg) = match copy_due {
            true => load_vical_service(cx.repo, id).await?,
            false => (rec, cfg),
        };
        let latest = latest(cx.repo, id, &cfg).await?;
        let req = PublishRequest {
            vical_provider: Some(latest.vical_provider.clone()),
            next_update: latest
                .next_update
                .map(|n| from_unix(now + (n - latest.date).num_seconds().max(1))),
            issuance_date: Some(from_unix(now)),
            version_id: None,
            skip_invalid: Some(true),
        };
        // The refresh publishes as trustfn itself (its audit entry names the system as actor).
        let out = publish_as(cx.repo, cx.deps, &Principal::Admin, (rec, cfg.clone()), req).await;
        metrics(&out, now);
        match out {
            Ok(_) => Ok(Outcome::Published),
            Err(e) => {
                // What verifiers hold meanwhile: the latest version, running out.
                if let Some(n) = latest.next_update {
                    let left = (n.timestamp() - now).max(0) as f64;
                    let period = (n - latest.date).num_seconds().max(1) as f64;
                    trustfn_metrics::Emf::new()
                        .dim("Kind", trustfn_metrics::kind(KIND))
                        .secs("HeadroomSeconds", left)
                        .ratio("HeadroomRatio", (left / period).clamp(0.0, 1.0))
                        .emit();
                }
                back_off(cx.repo, id, now).await;
                Err(e)
            }
        }
    }
}

async fn latest(
    repo: &dyn Repository,
    id: &Target,
    cfg: &VicalServiceConfig,
) -> Result<VicalVersion, ApiError> {
    let version = cfg.latest.as_deref().ok_or_else(|| {
        ApiError::internal_msg(format!("{id} is due but has no published version"))
    })?;
    repo.get(&id.child(version)?)
        .await?
        .and_then(|r| r.downcast::<VicalVersion>().ok())
        .map(|r| r.doc)
        .ok_or_else(|| {
            ApiError::internal_msg(format!("{id}: its latest version {version} is missing"))
        })
}

/// After a failed refresh: due again after a wait that doubles with each failure (a minute, two,
/// ... at most an hour), and the failure counted (the `ConsecutiveFailures` metric).
async fn back_off(repo: &dyn Repository, id: &Target, now: i64) {
    let Ok((rec, cfg)) = load_vical_service(repo, id).await else {
        return;
    };
    let failures = cfg.failures.saturating_add(1);
    let wait = (60i64 << (failures - 1).min(10)).min(MAX_BACKOFF_SECS);
    let mut updated = rec.clone();
    updated.doc = Service::Vical(VicalServiceConfig {
        refresh_at: Some(now + wait),
        failures,
        ..cfg
    })
    .into();
    trustfn_metrics::Emf::new()
        .dim("Kind", trustfn_metrics::kind(KIND))
        .count("ConsecutiveFailures", failures as u64)
        .emit();
    let op = Op::Replace {
        record: updated,
        expected_version: rec.version,
        children_delta: 0,
    };
    if let Err(e) = repo.commit(vec![op]).await {
        tracing::warn!(service = %id, error = %e, "could not record the failed VICAL refresh; it is retried next run");
    }
}
