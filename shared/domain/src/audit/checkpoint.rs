//! Signed checkpoints: the scheduled refresh signs each changed chain's head (sequence number,
//! entry hash, time) with the stack's checkpoint key in KMS, as a compact JWS (ES256). Someone
//! able to rewrite the table can recompute every hash after an entry they change, and the head
//! with them; they cannot sign: a chain that no longer leads to a signed head was rewritten.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use trustfn_signer::{PublicKey, Signer};

use crate::repo::{CheckpointItem, Op, RepoError, Repository};

/// The JWS `typ` of a checkpoint.
pub const TYP: &str = "trustfn-audit-checkpoint+jwt";

/// What a checkpoint says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Claims {
    pub organization: String,
    pub sequence_number: u64,
    pub entry_hash: String,
    /// Unix milliseconds.
    pub timestamp: i64,
}

/// Signs `claims` as a compact JWS.
pub async fn sign(signer: &dyn Signer, claims: &Claims) -> Result<String, String> {
    let header = json!({"alg": signer.public_key().curve.jose_alg(), "typ": TYP});
    let payload = serde_json::to_string(claims).map_err(|e| e.to_string())?;
    trustfn_signer::compact_jws(&header.to_string(), &payload, signer)
        .await
        .map_err(|e| e.to_string())
}

/// The claims of `jws` if its signature verifies with `key`.
pub fn open(jws: &str, key: &PublicKey) -> Result<Claims, String> {
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS".into());
    };
    let header: serde_json::Value = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the header does not parse")?;
    if header["alg"] != key.curve.jose_alg() || header["typ"] != TYP {
        return Err("not a checkpoint of this key's algorithm".into());
    }
    let sig = B64
        .decode(s)
        .map_err(|_| "the signature is not base64url")?;
    if !key.verifies(format!("{h}.{p}").as_bytes(), &sig) {
        return Err("the signature does not verify".into());
    }
    let payload = B64.decode(p).map_err(|_| "the payload is not base64url")?;
    serde_json::from_slice(&payload).map_err(|e| format!("the payload does not parse: {e}"))
}

/// What one checkpoint run did.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub due: usize,
    pub signed: usize,
    pub failed: usize,
}

/// Most chains one run checkpoints (the next run takes the rest).
pub const MAX_PER_RUN: usize = 1000;

/// Signs the head of every chain due for a checkpoint at `now_ms`, until `deadline_ms`.
pub async fn run(
    repo: &dyn Repository,
    signer: &dyn Signer,
    now_ms: i64,
    deadline_ms: i64,
    retention_days: i64,
) -> Result<Report, RepoError> {
    let due = repo.audit_due(now_ms / 1000, MAX_PER_RUN).await?;
    let mut report = Report {
        due: due.len(),
        ..Report::default()
    };
    for chain in due {
        if chrono::Utc::now().timestamp_millis() >= deadline_ms {
            break;
        }
        match one(repo, signer, &chain, now_ms, retention_days).await {
            Ok(()) => report.signed += 1,
            Err(e) => {
                report.failed += 1;
                tracing::error!(code = "AUDIT_CHECKPOINT_FAILED", chain = %chain, error = %e, "audit checkpoint failed");
            }
        }
    }
    Ok(report)
}

async fn one(
    repo: &dyn Repository,
    signer: &dyn Signer,
    chain: &str,
    now_ms: i64,
    retention_days: i64,
) -> Result<(), String> {
    let Some((seq, hash)) = repo.audit_head(chain).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let latest = repo
        .audit_checkpoints(chain, None, 1)
        .await
        .map_err(|e| e.to_string())?;
    if latest.first().map(|c| c.0) != Some(seq) {
        let claims = Claims {
            organization: chain.to_owned(),
            sequence_number: seq,
            entry_hash: hash,
            timestamp: now_ms,
        };
        let jws = sign(signer, &claims).await?;
        // Checkpoints outlive the entries by a year: they anchor what is left after expiry.
        let expires_at = Some(now_ms / 1000 + (retention_days + 366) * 86_400);
        let put = Op::PutCheckpoint(CheckpointItem {
            chain: chain.to_owned(),
            seq,
            jws,
            expires_at,
        });
        match repo.commit(vec![put]).await {
            Ok(()) | Err(RepoError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    // A later entry (the head moved) keeps the chain due: signed at the next run.
    match repo
        .commit(vec![Op::CheckpointTaken {
            chain: chain.to_owned(),
            seq,
        }])
        .await
    {
        Ok(()) | Err(RepoError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
