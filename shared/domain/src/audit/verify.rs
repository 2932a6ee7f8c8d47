//! `POST /v1/audit/verify`: recomputes a chain and says where it breaks. Tampering is reported,
//! never repaired.

use serde::{Deserialize, Serialize};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Walks the chain from its first entry: sequence numbers without gaps, each `prevEntryHash`
/// the previous `entryHash`, each `entryHash` recomputed, and the last entry the chain's head.
pub async fn verify_chain(repo: &dyn Repository, chain: &str) -> Result<Verification, ApiError> {
    let head = repo.audit_head(chain).await?;
    let mut expected = 1u64;
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    let broken = |seq: u64, count: u64, why: String| Verification {
        valid: false,
        entries: count,
        head: None,
        first_broken_sequence: Some(seq),
        reason: Some(why),
    };
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
            prev = entry.entry_hash;
            after = entry.sequence_number;
            expected += 1;
            count += 1;
        }
        if n < PAGE {
            break;
        }
    }
    match head {
        Some((seq, hash)) if seq != count || hash != prev => Ok(broken(
            count + 1,
            count,
            format!("the chain's head is entry {seq}, but the entries end at {count}"),
        )),
        None if count > 0 => Ok(broken(count, count, "entries without a head".into())),
        _ => Ok(Verification {
            valid: true,
            entries: count,
            head: (count > 0).then_some(Head {
                sequence_number: count,
                entry_hash: prev,
            }),
            first_broken_sequence: None,
            reason: None,
        }),
    }
}

/// `POST /v1/audit/verify` `{"target": "<org>"}` (`view-audit-log` on the organization).
pub async fn verify(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::AuditView>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    if target.depth() != 1 {
        return Err(ApiError::validation(
            "target: verify a whole chain: give the organization",
        ));
    }
    Ok(Reply::typed(200, &verify_chain(repo, target.org()).await?))
}
