//! The one place DynamoDB items become typed records, tokens and pending changes, and back.
//! An item that does not parse is [`RepoError::Corrupt`] naming it (a logged 500), never a
//! default.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use trustfn_domain::auth::Creator;
use trustfn_domain::model::{Doc, Kind, Record};
use trustfn_domain::repo::{
    Chunk, ListVersion, Pending, Remembered, RepoError, RevokedEntry, TokenRecord, VersionBody,
};
use trustfn_domain::Target;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// What an item parser reports when `id`'s item does not parse: [`RepoError::Corrupt`] naming it
/// and why.
pub(crate) fn corrupt(id: String) -> impl Fn(&str) -> RepoError {
    move |what: &str| RepoError::Corrupt {
        id: id.clone(),
        reason: what.to_owned(),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn resource_pk(id: &Target) -> String {
    match id.parent() {
        Some(p) => format!("R#{p}"),
        None => "R#".to_owned(),
    }
}

pub(crate) fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(crate) fn resource_key(id: &Target) -> Item {
    key(resource_pk(id), id.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}
pub(crate) fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The one place a stored item becomes a typed record. An item that does not parse is
/// [`RepoError::Corrupt`] naming it (a logged 500), never a default.
pub(crate) fn to_record(item: &Item) -> Result<Record, RepoError> {
    let id_text = get_s(item, "_id").unwrap_or("?");
    let bad = |what: String| RepoError::Corrupt {
        id: id_text.to_owned(),
        reason: what,
    };
    let id = Target::parse(get_s(item, "_id").ok_or_else(|| bad("no _id".into()))?)
        .map_err(|e| bad(format!("_id is not a target ({})", e.message)))?;
    let kind = get_s(item, "type").ok_or_else(|| bad("no type".into()))?;
    let kind = Kind::parse(kind).ok_or_else(|| bad(format!("unknown type {kind:?}")))?;
    let doc: serde_json::Value =
        serde_json::from_str(get_s(item, "doc").ok_or_else(|| bad("no doc".into()))?)
            .map_err(|e| bad(format!("doc is not JSON: {e}")))?;
    let doc = Doc::from_stored(kind, doc)
        .map_err(|e| bad(format!("doc is not a {}: {e}", kind.as_str())))?;
    let num = |k: &str| get_n(item, k).ok_or_else(|| bad(format!("no {k}")));
    Ok(Record {
        id,
        doc,
        version: num("version")? as u64,
        children: num("children")?,
        dependants: num("dependants")?,
        created_at: get_s(item, "createdAt")
            .ok_or_else(|| bad("no createdAt".into()))?
            .to_owned(),
    })
}

pub(crate) fn to_item(r: &Record) -> Item {
    let mut item = resource_key(&r.id);
    item.insert("_id".into(), s(r.id.as_str()));
    if let Some(p) = r.id.parent() {
        item.insert("parent".into(), s(p.as_str()));
    }
    item.insert("type".into(), s(r.kind().as_str()));
    item.insert("doc".into(), s(r.doc.to_stored().to_string()));
    item.insert("version".into(), n(r.version as i64));
    item.insert("children".into(), n(r.children));
    item.insert("dependants".into(), n(r.dependants));
    item.insert("createdAt".into(), s(r.created_at.clone()));
    if let Some(at) = r.refresh_at() {
        item.insert("rpk".into(), s(refresh_partition(&r.id)));
        item.insert("rat".into(), n(at));
    }
    item
}

pub(crate) fn token_item(t: &TokenRecord) -> Item {
    let mut item = key(format!("T#{}", t.hash), "T".into());
    item.insert("keyId".into(), s(t.key_id.as_str()));
    item.insert(
        "roles".into(),
        AttributeValue::L(t.roles.iter().map(|r| s(r.as_str())).collect()),
    );
    if let Some(at) = t.expires_at {
        item.insert("expiresAt".into(), n(at));
    }
    if !t.lineage.is_empty() {
        // Each creator as "<token hash> <key id>".
        let lineage = t
            .lineage
            .iter()
            .map(|c| s(format!("{} {}", c.token_hash, c.key_id)))
            .collect();
        item.insert("lineage".into(), AttributeValue::L(lineage));
    }
    item
}

pub(crate) fn to_token(hash: &str, item: &Item) -> Result<TokenRecord, RepoError> {
    let bad = corrupt(format!("token {}…", &hash[..hash.len().min(8)]));
    let key_id = get_s(item, "keyId")
        .and_then(|k| Target::parse(k).ok())
        .ok_or_else(|| bad("no keyId"))?;
    let roles = item
        .get("roles")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| bad("no roles"))?
        .iter()
        .map(|r| r.as_s().cloned().map_err(|_| bad("a role is not a string")))
        .collect::<Result<_, _>>()?;
    let lineage = match item.get("lineage") {
        None => Vec::new(),
        Some(v) => v
            .as_l()
            .map_err(|_| bad("lineage is not a list"))?
            .iter()
            .map(|c| {
                c.as_s()
                    .ok()
                    .and_then(|c| c.split_once(' '))
                    .and_then(|(h, id)| {
                        Some(Creator {
                            key_id: Target::parse(id).ok()?,
                            token_hash: h.to_owned(),
                        })
                    })
                    .ok_or_else(|| bad("a lineage entry is not '<hash> <key id>'"))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(TokenRecord {
        hash: hash.to_owned(),
        key_id,
        roles,
        expires_at: get_n(item, "expiresAt"),
        lineage,
    })
}

pub(crate) fn pending_item(p: &Pending) -> Item {
    let mut item = key(format!("P#{}", p.list), p.seq.clone());
    let changes: Vec<String> = p.changes.iter().map(|(i, v)| format!("{i}:{v}")).collect();
    item.insert("changes".into(), s(changes.join(",")));
    item.insert("rpk".into(), s(refresh_partition(&p.list)));
    item.insert("rat".into(), n(p.due_at));
    if let Some(by) = &p.by {
        item.insert("by".into(), s(by.as_str()));
    }
    item
}

pub(crate) fn to_pending(list: &Target, item: &Item) -> Result<Pending, RepoError> {
    let bad = corrupt(format!("pending change of {list}"));
    let changes = get_s(item, "changes")
        .ok_or_else(|| bad("no changes"))?
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| {
            let (idx, v) = c
                .split_once(':')
                .ok_or_else(|| bad("a change is not index:value"))?;
            Ok((
                idx.parse().map_err(|_| bad("an index is not a number"))?,
                v.parse().map_err(|_| bad("a value is not a number"))?,
            ))
        })
        .collect::<Result<Vec<_>, RepoError>>()?;
    Ok(Pending {
        list: list.clone(),
        seq: get_s(item, "sk").ok_or_else(|| bad("no sk"))?.to_owned(),
        changes,
        due_at: get_n(item, "rat").ok_or_else(|| bad("no rat"))?,
        by: get_s(item, "by").map(str::to_owned),
    })
}

pub(crate) fn remembered_key(scope: &Target, key: &str) -> Item {
    self::key(format!("I#{scope}"), key.to_owned())
}

/// DynamoDB's time-to-live attribute (Unix seconds): the table's TTL removes expired items.
pub(crate) const TTL_ATTRIBUTE: &str = "ttl";

pub(crate) fn remembered_item(r: &Remembered) -> Item {
    let mut item = remembered_key(&r.scope, &r.key);
    item.insert("request".into(), s(r.request.clone()));
    item.insert("outcome".into(), s(r.outcome.clone()));
    item.insert(TTL_ATTRIBUTE.into(), n(r.expires_at));
    item
}

pub(crate) fn to_remembered(scope: &Target, item: &Item) -> Result<Remembered, RepoError> {
    let bad = corrupt(format!("idempotency key of {scope}"));
    Ok(Remembered {
        scope: scope.clone(),
        key: get_s(item, "sk").ok_or_else(|| bad("no sk"))?.to_owned(),
        request: get_s(item, "request")
            .ok_or_else(|| bad("no request"))?
            .to_owned(),
        outcome: get_s(item, "outcome")
            .ok_or_else(|| bad("no outcome"))?
            .to_owned(),
        expires_at: get_n(item, TTL_ATTRIBUTE).ok_or_else(|| bad("no ttl"))?,
    })
}

/// A kept status list version: `pk` `LV#<list>`, `sk` its `iat` (12 digits, so they sort),
/// `exp`, `tl` (the token's ttl), `ct`, the bytes (`b`) or a registry URL (`url`, `tag`), and
/// the table's TTL attribute at the end of the history's retention.
pub(crate) fn version_pk(list: &Target) -> String {
    format!("LV#{list}")
}

pub(crate) fn version_sk(iat: i64) -> String {
    format!("{:012}", iat.max(0))
}

pub(crate) fn version_item(v: &ListVersion) -> Item {
    let mut item = key(version_pk(&v.list), version_sk(v.issued_at));
    item.insert("exp".into(), n(v.expires_at));
    item.insert("tl".into(), n(v.ttl as i64));
    item.insert("ct".into(), s(v.content_type.as_str()));
    item.insert(TTL_ATTRIBUTE.into(), n(v.keep_until));
    match &v.body {
        VersionBody::Inline(b) => {
            item.insert("b".into(), AttributeValue::B(b.clone().into()));
        }
        VersionBody::Object { url, sha256 } => {
            item.insert("url".into(), s(url.as_str()));
            item.insert("tag".into(), s(sha256.as_str()));
        }
    }
    item
}

pub(crate) fn to_version(list: &Target, item: &Item) -> Result<ListVersion, RepoError> {
    let bad = corrupt(format!("kept version of {list}"));
    let body = match (item.get("b"), get_s(item, "url"), get_s(item, "tag")) {
        (Some(AttributeValue::B(b)), None, None) => VersionBody::Inline(b.clone().into_inner()),
        (None, Some(url), Some(tag)) => VersionBody::Object {
            url: url.to_owned(),
            sha256: tag.to_owned(),
        },
        _ => return Err(bad("neither bytes nor a registry URL")),
    };
    Ok(ListVersion {
        list: list.clone(),
        issued_at: get_s(item, "sk")
            .and_then(|sk| sk.parse().ok())
            .ok_or_else(|| bad("sk is not an iat"))?,
        expires_at: get_n(item, "exp").ok_or_else(|| bad("no exp"))?,
        ttl: get_n(item, "tl")
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| bad("no ttl"))?,
        content_type: get_s(item, "ct").ok_or_else(|| bad("no ct"))?.to_owned(),
        body,
        keep_until: get_n(item, TTL_ATTRIBUTE).ok_or_else(|| bad("no ttl attribute"))?,
    })
}

pub(crate) fn chunk_key(list: &Target, no: u32) -> Item {
    key(format!("S#{list}"), format!("{no:08}"))
}

/// The change-sequence counter of a status list (`Q#<list>`, `Q`).
pub(crate) fn sequence_key(list: &Target) -> Item {
    key(format!("Q#{list}"), "Q".into())
}

/// A number series kept for good (`Repository::next_number`): `N#<series>`.
pub(crate) fn number_key(series: &str) -> Item {
    key(format!("N#{series}"), "N".into())
}

pub(crate) fn counter_key(list: &Target) -> Item {
    key(format!("A#{list}"), "A".into())
}

pub(crate) fn chunk_item(list: &Target, no: u32, data: Vec<u8>, version: u64) -> Item {
    let mut item = chunk_key(list, no);
    item.insert("b".into(), AttributeValue::B(data.into()));
    item.insert("v".into(), n(version as i64));
    item
}

pub(crate) fn to_chunk(list: &Target, item: &Item) -> Result<Chunk, RepoError> {
    let bad = corrupt(format!("status chunk of {list}"));
    Ok(Chunk {
        no: get_s(item, "sk")
            .and_then(|sk| sk.parse().ok())
            .ok_or_else(|| bad("sk is not a chunk number"))?,
        data: item
            .get("b")
            .and_then(|b| b.as_b().ok())
            .ok_or_else(|| bad("no b"))?
            .as_ref()
            .to_vec(),
        version: get_n(item, "v").ok_or_else(|| bad("no v"))? as u64,
    })
}

/// The sort key of audit entry `seq`: zero-padded, so the chain reads in order.
pub(crate) fn audit_sk(seq: u64) -> String {
    format!("{seq:020}")
}

/// An entry of an IACA's revoked set: `pk` `V#<iaca>`, `sk` the serial, `rd` the CRL date.
pub(crate) fn revoked_item(iaca: &Target, entry: &RevokedEntry) -> Item {
    let mut item = key(format!("V#{iaca}"), entry.serial.clone());
    item.insert("rd".into(), n(entry.revoked_at));
    item
}

pub(crate) fn to_revoked(iaca: &Target, item: &Item) -> Result<RevokedEntry, RepoError> {
    let bad = corrupt(format!("revoked set of {iaca}"));
    let serial = get_s(item, "sk").ok_or_else(|| bad("no sk"))?;
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("sk is not a serial number"));
    }
    Ok(RevokedEntry {
        serial: serial.to_owned(),
        revoked_at: get_n(item, "rd").ok_or_else(|| bad("no rd"))?,
    })
}

/// The sparse `refresh` index (partition `rpk`, sort `rat`) holds only status lists and pending changes.
pub(crate) const REFRESH_INDEX: &str = "refresh";
/// The partition every list used before the index was sharded; still read, never written.
pub(crate) const LEGACY_REFRESH_PARTITION: &str = "LIST";
/// Partitions of the refresh index: a list and its pending changes always go to the same one
/// (by a hash of the list's path), so no single partition takes every tenant's writes.
pub(crate) const REFRESH_SHARDS: u32 = 16;

/// The refresh-index partition of a list: `LIST#00` to `LIST#15`.
pub(crate) fn refresh_partition(list: &Target) -> String {
    format!("LIST#{:02}", shard(list.as_str()))
}

/// The refresh-index shard of a key: FNV-1a, stable across processes and releases (a std
/// hasher is not).
fn shard(key: &str) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % REFRESH_SHARDS
}

/// The refresh-index partition of an audit chain's head while it is due for a checkpoint:
/// `AUDIT#00` to `AUDIT#15`.
pub(crate) fn audit_partition(chain: &str) -> String {
    format!("AUDIT#{:02}", shard(chain))
}

/// Every partition `due` reads: the shards and the partition of lists written before sharding.
pub(crate) fn refresh_partitions() -> Vec<String> {
    (0..REFRESH_SHARDS)
        .map(|i| format!("LIST#{i:02}"))
        .chain([LEGACY_REFRESH_PARTITION.to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustfn_domain::model::{ApiKey, Doc, StatusList, Tenant};

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    fn list_doc() -> StatusList {
        serde_json::from_value(serde_json::json!({
            "listId": "l1", "uri": "https://x/l1", "objectKey": "status-lists/a/l1", "size": 1024,
            "allocated": 3, "statusVersion": 2, "publishedVersion": 2, "_refreshAt": 1700000000,
            "_statuses": "eJw=", "_allocated": "eJw=", "publishError": null
        }))
        .unwrap()
    }

    #[test]
    fn records_round_trip_through_items() {
        for rec in [
            Record::new(
                t("acme.t1"),
                Tenant {
                    name: "T".into(),
                    configuration: None,
                },
            ),
            Record::new(
                t("acme.k"),
                ApiKey {
                    name: "k".into(),
                    roles: vec!["acme.admin".into()],
                    token_hash: "ab".repeat(32),
                    expires_at: None,
                    created_by: Some("acme.root".into()),
                },
            ),
            Record::new(t("acme.t1.st.c.l1"), list_doc()),
        ] {
            let item = to_item(&rec);
            assert_eq!(to_record(&item).unwrap(), rec);
            assert_eq!(get_s(&item, "pk"), Some(resource_pk(&rec.id).as_str()));
            // Only status lists are in the refresh index, at their refresh time.
            let indexed = matches!(rec.doc, Doc::StatusList(_));
            assert_eq!(item.contains_key("rpk"), indexed);
            if indexed {
                assert_eq!(get_n(&item, "rat"), Some(1_700_000_000));
            }
        }
    }

    #[test]
    fn the_refresh_index_spreads_lists_over_every_shard() {
        let mut per_shard = std::collections::HashMap::new();
        for i in 0..1600 {
            let p = refresh_partition(&t(&format!("org{i}.t1.st.c.l{i:x}")));
            assert!(refresh_partitions().contains(&p), "{p}");
            *per_shard.entry(p).or_insert(0) += 1;
        }
        assert_eq!(per_shard.len(), REFRESH_SHARDS as usize);
        assert!(
            per_shard.values().all(|n| (50..150).contains(n)),
            "{per_shard:?}"
        );
        assert_eq!(
            refresh_partition(&t("acme.t1.st.c.l1")),
            refresh_partition(&t("acme.t1.st.c.l1")),
            "stable"
        );
    }

    #[test]
    fn an_item_that_does_not_parse_is_corrupt_and_named() {
        let rec = Record::new(t("acme.t1.st.c.l1"), list_doc());
        let mut item = to_item(&rec);
        item.insert("doc".into(), s(r#"{"listId": "l1"}"#));
        match to_record(&item).unwrap_err() {
            RepoError::Corrupt { id, reason } => {
                assert_eq!(id, "acme.t1.st.c.l1");
                assert!(reason.contains("status-list"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut item = to_item(&rec);
        item.remove("version");
        assert!(matches!(to_record(&item), Err(RepoError::Corrupt { .. })));
        let mut item = to_item(&rec);
        item.insert("type".into(), s("spaceship"));
        assert!(matches!(to_record(&item), Err(RepoError::Corrupt { .. })));
    }

    #[test]
    fn tokens_and_pending_changes_round_trip() {
        let tok = TokenRecord {
            hash: "cd".repeat(32),
            key_id: t("acme.k"),
            roles: vec!["acme.admin#0a1b".into(), "acme.ops".into()],
            expires_at: Some(1_800_000_000),
            lineage: vec![
                Creator {
                    key_id: t("acme.root"),
                    token_hash: "ab".repeat(32),
                },
                Creator {
                    key_id: t("acme.ci"),
                    token_hash: "ef".repeat(32),
                },
            ],
        };
        assert_eq!(to_token(&tok.hash, &token_item(&tok)).unwrap(), tok);
        let legacy = TokenRecord {
            lineage: vec![],
            ..tok.clone()
        };
        let item = token_item(&legacy);
        assert!(
            !item.contains_key("lineage"),
            "tokens without creators stay as they were"
        );
        assert_eq!(to_token(&tok.hash, &item).unwrap(), legacy);
        let mut bad = token_item(&tok);
        bad.remove("roles");
        assert!(matches!(
            to_token(&tok.hash, &bad),
            Err(RepoError::Corrupt { .. })
        ));
        let p = Pending {
            list: t("acme.t1.st.c.l1"),
            seq: "0001".into(),
            changes: vec![(5, 1), (1023, 3)],
            due_at: 1_700_000_100,
            by: None,
        };
        let item = pending_item(&p);
        assert_eq!(to_pending(&p.list, &item).unwrap(), p);
        assert_eq!(
            get_s(&item, "rpk"),
            get_s(&to_item(&Record::new(p.list.clone(), list_doc())), "rpk"),
            "a list's pending changes share its refresh partition"
        );
        let r = Remembered {
            scope: t("acme.t1.st.c"),
            key: "retry-1".into(),
            request: "count=3".into(),
            outcome: "[]".into(),
            expires_at: 1_700_000_000,
        };
        assert_eq!(to_remembered(&r.scope, &remembered_item(&r)).unwrap(), r);
        let chunk = chunk_item(&p.list, 7, vec![1, 2, 3], 4);
        assert_eq!(
            to_chunk(&p.list, &chunk).unwrap(),
            Chunk {
                no: 7,
                data: vec![1, 2, 3],
                version: 4
            }
        );
        assert_eq!(get_s(&chunk, "sk"), Some("00000007"));
        let mut bad = item.clone();
        bad.insert("changes".into(), s("5:x"));
        assert!(matches!(
            to_pending(&p.list, &bad),
            Err(RepoError::Corrupt { .. })
        ));
    }
}
