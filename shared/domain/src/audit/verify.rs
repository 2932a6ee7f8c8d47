//! `POST /v1/audit/verify`: recomputes a chain and says where it breaks. Tampering is reported,
//! never repaired.

use serde::{Deserialize, Serialize};

use trustfn_signer::PublicKey;

use super::checkpoint;
use super::entry::{Entry, GENESIS};
use crate::auth::{act, Authorized};
use crate::error::ApiError;
use crate::reply::Reply;
use crate::repo::Repository;

/// Entries read per storage call while verifying.
const PAGE: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub target: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    pub sequence_number: u64,
    pub entry_hash: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub valid: bool,
    pub entries: u64,
    pub head: Option<Head>,
    pub first_broken_sequence: Option<u64>,
    /// The newest signed checkpoint the chain was checked against (its signature verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Anchor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The entries below this sequence number are gone at the end of their retention period;
    /// a signed checkpoint old enough to be past it shows they expired rather than were cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_before: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    pub sequence_number: u64,
    pub timestamp: i64,
}

/// How much later than the entries it signs a checkpoint may be taken (the refresh signs every
/// minute; this covers a refresh that failed for hours) and DynamoDB's TTL may lag.
const EXPIRY_SLACK_MS: i64 = 86_400_000;

/// How entries leave a chain: at the end of `retention_days` after their timestamp, seen `now_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub retention_days: i64,
    pub now_ms: i64,
}

impl Retention {
    /// The deployment's retention, now.
    pub fn now(retention_days: i64) -> Retention {
        Retention {
            retention_days,
            now_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

/// Whether entries `1..first` may be missing because they expired: only when a signed
/// checkpoint below `first` shows the entries up to it were older than the retention period
/// (an entry is never younger than the checkpoint that signs it). `Err` says why not.
async fn expired_start(
    repo: &dyn Repository,
    chain: &str,
    first: &Entry,
    key: Option<&PublicKey>,
    retention: Retention,
) -> Result<Result<(), String>, ApiError> {
    let missing = format!("entries 1 to {} are missing", first.sequence_number - 1);
    let Some(key) = key else {
        return Ok(Err(format!(
            "{missing}, and no checkpoint key is configured to show they expired"
        )));
    };
    let Some((seq, jws)) = repo
        .audit_checkpoints(chain, Some(first.sequence_number), 1)
        .await?
        .pop()
    else {
        return Ok(Err(format!(
            "{missing}, and no signed checkpoint below them shows they expired"
        )));
    };
    let c = match checkpoint::open(&jws, key) {
        Ok(c) if c.sequence_number == seq && c.organization == chain => c,
        Ok(_) => {
            return Ok(Err(format!(
                "the checkpoint stored at {seq} signs another entry"
            )))
        }
        Err(e) => return Ok(Err(format!("the checkpoint stored at {seq}: {e}"))),
    };
    let expired_by = c.timestamp + retention.retention_days * 86_400_000;
    if expired_by > retention.now_ms + EXPIRY_SLACK_MS {
        return Ok(Err(format!(
            "{missing}, but entry {seq} was signed at {} and is not past its retention period: the chain was cut",
            c.timestamp
        )));
    }
    if seq + 1 == first.sequence_number && first.prev_entry_hash != c.entry_hash {
        return Ok(Err(format!(
            "the first remaining entry does not follow the entry checkpoint {seq} signed"
        )));
    }
    Ok(Ok(()))
}

/// Walks the chain from its first entry: sequence numbers without gaps, each `prevEntryHash`
/// the previous `entryHash`, each `entryHash` recomputed, the last entry the chain's head, and,
/// with the checkpoint key, the entry the newest signed checkpoint names the one it signed (so a
/// chain rewritten with every later hash and its head recomputed is found too). A chain whose
/// oldest entries expired starts at its oldest remaining entry when a signed checkpoint shows
/// they did ([`expired_start`]).
pub async fn verify_chain(
    repo: &dyn Repository,
    chain: &str,
    checkpoint_key: Option<&PublicKey>,
    retention: Retention,
) -> Result<Verification, ApiError> {
    let head = repo.audit_head(chain).await?;
    let anchor = match (
        checkpoint_key,
        repo.audit_checkpoints(chain, None, 1).await?.pop(),
    ) {
        (Some(key), Some((seq, jws))) => match checkpoint::open(&jws, key) {
            Ok(c) if c.sequence_number == seq && c.organization == chain => Some(c),
            Ok(_) => {
                return Ok(Verification {
                    valid: false,
                    entries: 0,
                    head: None,
                    first_broken_sequence: Some(seq),
                    checkpoint: None,
                    reason: Some(format!(
                        "the checkpoint stored at {seq} signs another entry"
                    )),
                    expired_before: None,
                })
            }
            Err(e) => {
                return Ok(Verification {
                    valid: false,
                    entries: 0,
                    head: None,
                    first_broken_sequence: Some(seq),
                    checkpoint: None,
                    reason: Some(format!("the checkpoint stored at {seq}: {e}")),
                    expired_before: None,
                })
            }
        },
        _ => None,
    };
    let mut expected = 1u64;
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    let broken = |seq: u64, count: u64, why: String| Verification {
        valid: false,
        entries: count,
        head: None,
        first_broken_sequence: Some(seq),
        checkpoint: None,
        reason: Some(why),
        expired_before: None,
    };
    let mut expired_before = None;
    let mut after = 0u64;
    loop {
        let page = repo.audit_entries(chain, after, PAGE).await?;
        let n = page.len();
        for text in page {
            let entry: Entry = match serde_json::from_str(&text) {
                Ok(e) => e,
                Err(e) => {
                    return Ok(broken(
                        expected,
                        count,
                        format!("entry does not parse: {e}"),
                    ))
                }
            };
            if count == 0 && entry.sequence_number > expected {
                match expired_start(repo, chain, &entry, checkpoint_key, retention).await? {
                    Ok(()) => {
                        expected = entry.sequence_number;
                        prev = entry.prev_entry_hash.clone();
                        expired_before = Some(expected);
                    }
                    Err(why) => return Ok(broken(expected, count, why)),
                }
            }
            if entry.sequence_number != expected {
                return Ok(broken(
                    expected,
                    count,
                    format!(
                        "sequence number {} where {expected} was due",
                        entry.sequence_number
                    ),
                ));
            }
            if entry.organization != chain {
                return Ok(broken(expected, count, "entry of another chain".into()));
            }
            if entry.prev_entry_hash != prev {
                return Ok(broken(
                    expected,
                    count,
                    "prevEntryHash is not the previous entry's hash".into(),
                ));
            }
            match entry.computed_hash() {
                Ok(h) if h == entry.entry_hash => {}
                _ => {
                    return Ok(broken(
                        expected,
                        count,
                        "entryHash does not match the entry".into(),
                    ))
                }
            }
            if let Some(a) = anchor.as_ref().filter(|a| a.sequence_number == expected) {
                if a.entry_hash != entry.entry_hash {
                    return Ok(broken(
                        expected,
                        count,
                        "the entry is not the one its signed checkpoint names: the chain was rewritten".into(),
                    ));
                }
            }
            prev = entry.entry_hash;
            after = entry.sequence_number;
            expected += 1;
            count += 1;
        }
        if n < PAGE {
            break;
        }
    }
    // The last entry's sequence number (entries below an expiry are not counted).
    let last = after;
    if let Some(a) = anchor.as_ref().filter(|a| a.sequence_number > last) {
        return Ok(broken(
            last + 1,
            count,
            format!(
                "the entries end at {last}, but a signed checkpoint names entry {}",
                a.sequence_number
            ),
        ));
    }
    match head {
        Some((seq, hash)) if seq != last || hash != prev => Ok(broken(
            last + 1,
            count,
            format!("the chain's head is entry {seq}, but the entries end at {last}"),
        )),
        None if count > 0 => Ok(broken(last, count, "entries without a head".into())),
        _ => Ok(Verification {
            valid: true,
            entries: count,
            head: (count > 0).then_some(Head {
                sequence_number: last,
                entry_hash: prev,
            }),
            first_broken_sequence: None,
            checkpoint: anchor.map(|a| Anchor {
                sequence_number: a.sequence_number,
                timestamp: a.timestamp,
            }),
            reason: None,
            expired_before,
        }),
    }
}

/// `POST /v1/audit/verify` `{"target": "<org>"}` (`view-audit-log` on the organization), with
/// the checkpoint key's public key when the deployment has one.
pub async fn verify(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::AuditView>,
    checkpoint_key: Option<&PublicKey>,
    retention: Retention,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    if target.depth() != 1 {
        return Err(ApiError::validation(
            "target: verify a whole chain: give the organization",
        ));
    }
    Ok(Reply::typed(
        200,
        &verify_chain(repo, target.org(), checkpoint_key, retention).await?,
    ))
}
