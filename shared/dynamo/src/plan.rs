//! Ops as DynamoDB transaction items: every write carries its condition, so a commit applies all
//! of its ops or none.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use trustfn_domain::repo::Op;

use crate::items::*;

/// A put that creates: fails if the item exists.
fn put(table: &str, item: Item) -> TransactWriteItem {
    put_if(table, item, "attribute_not_exists(pk)")
}

fn put_if(table: &str, item: Item, condition: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .set_item(Some(item))
                .condition_expression(condition)
                .table_name(table)
                .build()
                .expect("put has item and table"),
        )
        .build()
}

fn delete_existing(table: &str, k: Item) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .set_key(Some(k))
                .condition_expression("attribute_exists(pk)")
                .table_name(table)
                .build()
                .expect("delete has key and table"),
        )
        .build()
}

/// Translates ops into transaction items; returns them with the op index of each item.
pub(crate) fn plan(table: &str, ops: Vec<Op>) -> (Vec<TransactWriteItem>, Vec<usize>) {
    let mut items = Vec::new();
    let mut owner = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        let ws: Vec<TransactWriteItem> = match op {
            Op::Create(r) => vec![put(table, to_item(&r))],
            Op::Replace {
                record,
                expected_version,
                children_delta,
            } => {
                let mut u = Update::builder()
                    .set_key(Some(resource_key(&record.id)))
                    .condition_expression("#v = :v")
                    .expression_attribute_names("#doc", "doc")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_names("#c", "children")
                    .expression_attribute_values(":c", n(children_delta))
                    .expression_attribute_values(":doc", s(record.doc.to_stored().to_string()))
                    .expression_attribute_values(":v", n(expected_version as i64))
                    .expression_attribute_values(":nv", n(expected_version as i64 + 1))
                    .table_name(table);
                u = match record.refresh_at() {
                    Some(at) => u
                        .update_expression(
                            "SET #doc = :doc, #v = :nv, rpk = :rpk, rat = :rat ADD #c :c",
                        )
                        .expression_attribute_values(":rpk", s(refresh_partition(&record.id)))
                        .expression_attribute_values(":rat", n(at)),
                    None => {
                        u.update_expression("SET #doc = :doc, #v = :nv ADD #c :c REMOVE rpk, rat")
                    }
                };
                vec![TransactWriteItem::builder()
                    .update(u.build().expect("update"))
                    .build()]
            }
            Op::Delete {
                id,
                children,
                dependants,
                version,
            } => {
                let mut d = Delete::builder()
                    .set_key(Some(resource_key(&id)))
                    .condition_expression("#c = :c AND #d = :d")
                    .expression_attribute_names("#c", "children")
                    .expression_attribute_names("#d", "dependants")
                    .expression_attribute_values(":c", n(children))
                    .expression_attribute_values(":d", n(dependants))
                    .table_name(table);
                if let Some(v) = version {
                    d = d
                        .condition_expression("#c = :c AND #d = :d AND #v = :v")
                        .expression_attribute_names("#v", "version")
                        .expression_attribute_values(":v", n(v as i64));
                }
                vec![TransactWriteItem::builder()
                    .delete(d.build().expect("delete"))
                    .build()]
            }
            Op::Count {
                id,
                children,
                dependants,
            } => vec![TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .set_key(Some(resource_key(&id)))
                        .update_expression("ADD #c :c, #d :d")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_names("#c", "children")
                        .expression_attribute_names("#d", "dependants")
                        .expression_attribute_values(":c", n(children))
                        .expression_attribute_values(":d", n(dependants))
                        .table_name(table)
                        .build()
                        .expect("update"),
                )
                .build()],
            Op::Check { id, version } => vec![TransactWriteItem::builder()
                .condition_check(
                    aws_sdk_dynamodb::types::ConditionCheck::builder()
                        .set_key(Some(resource_key(&id)))
                        .condition_expression("#v = :v")
                        .expression_attribute_names("#v", "version")
                        .expression_attribute_values(":v", n(version as i64))
                        .table_name(table)
                        .build()
                        .expect("condition check"),
                )
                .build()],
            Op::Touch { id } => vec![TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .set_key(Some(resource_key(&id)))
                        .update_expression("ADD #v :one")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_names("#v", "version")
                        .expression_attribute_values(":one", n(1))
                        .table_name(table)
                        .build()
                        .expect("update"),
                )
                .build()],
            Op::AddEdge { from, to } => {
                let mut fwd = key(format!("D#{from}"), to.to_string());
                fwd.insert("from".into(), s(from.as_str()));
                fwd.insert("to".into(), s(to.as_str()));
                let mut rev = key(format!("U#{to}"), from.to_string());
                rev.insert("from".into(), s(from.as_str()));
                rev.insert("to".into(), s(to.as_str()));
                vec![put(table, fwd), put(table, rev)]
            }
            Op::RemoveEdge { from, to } => vec![
                delete_existing(table, key(format!("D#{from}"), to.to_string())),
                delete_existing(table, key(format!("U#{to}"), from.to_string())),
            ],
            Op::AddToken(t) => vec![put(table, token_item(&t))],
            Op::ReplaceToken(t) => {
                vec![put_if(table, token_item(&t), "attribute_exists(pk)")]
            }
            Op::RemoveToken { hash } => {
                vec![delete_existing(table, key(format!("T#{hash}"), "T".into()))]
            }
            Op::AddPending(p) => vec![put(table, pending_item(&p))],
            Op::RemovePending { list, seq } => {
                vec![delete_existing(table, key(format!("P#{list}"), seq))]
            }
            Op::PutChunk {
                list,
                no,
                data,
                expected_version,
            } => {
                let item = chunk_item(&list, no, data, expected_version + 1);
                if expected_version == 0 {
                    vec![put(table, item)]
                } else {
                    vec![TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .set_item(Some(item))
                                .condition_expression("#v = :v")
                                .expression_attribute_names("#v", "v")
                                .expression_attribute_values(":v", n(expected_version as i64))
                                .table_name(table)
                                .build()
                                .expect("put"),
                        )
                        .build()]
                }
            }
            // A key whose time is up (TTL deletes it within days) may be taken again.
            Op::Remember(r) => vec![TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .set_item(Some(remembered_item(&r)))
                        .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
                        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                        .expression_attribute_values(
                            ":now",
                            n(std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs() as i64)),
                        )
                        .table_name(table)
                        .build()
                        .expect("put"),
                )
                .build()],
            Op::Settle(r) => vec![TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .set_item(Some(remembered_item(&r)))
                        .condition_expression(
                            "attribute_exists(pk) AND #outcome = :claimed AND #request = :request",
                        )
                        .expression_attribute_names("#outcome", "outcome")
                        .expression_attribute_names("#request", "request")
                        .expression_attribute_values(
                            ":claimed",
                            s(trustfn_domain::repo::CLAIMED.to_owned()),
                        )
                        .expression_attribute_values(":request", s(r.request.clone()))
                        .table_name(table)
                        .build()
                        .expect("put"),
                )
                .build()],
            Op::Claim { name, owner } => {
                let mut item = key(format!("C#{name}"), "C".into());
                item.insert("owner".into(), s(owner.as_str()));
                vec![put(table, item)]
            }
            Op::Release { name, owner } => vec![TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .set_key(Some(key(format!("C#{name}"), "C".into())))
                        .condition_expression("attribute_not_exists(pk) OR #o = :o")
                        .expression_attribute_names("#o", "owner")
                        .expression_attribute_values(":o", s(owner.as_str()))
                        .table_name(table)
                        .build()
                        .expect("delete"),
                )
                .build()],
            Op::AppendAudit(a) => {
                let mut entry = key(format!("L#{}", a.chain), audit_sk(a.seq));
                entry.insert("e".into(), s(a.text.as_str()));
                if let Some(at) = a.expires_at {
                    entry.insert("ttl".into(), n(at));
                }
                let mut head = key(format!("H#{}", a.chain), "H".into());
                head.insert("seq".into(), n(a.seq as i64));
                head.insert("hash".into(), s(a.hash.as_str()));
                // Due for a signed checkpoint: in the refresh index, under its own partitions.
                head.insert("rpk".into(), s(audit_partition(&a.chain)));
                head.insert("rat".into(), n(a.checkpoint_at));
                let head = if a.seq == 1 {
                    put(table, head)
                } else {
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .set_item(Some(head))
                                .condition_expression("#seq = :prev")
                                .expression_attribute_names("#seq", "seq")
                                .expression_attribute_values(":prev", n(a.seq as i64 - 1))
                                .table_name(table)
                                .build()
                                .expect("put"),
                        )
                        .build()
                };
                vec![put(table, entry), head]
            }
            Op::PutCheckpoint(c) => {
                let mut item = key(format!("K#{}", c.chain), audit_sk(c.seq));
                item.insert("jws".into(), s(c.jws.as_str()));
                if let Some(at) = c.expires_at {
                    item.insert("ttl".into(), n(at));
                }
                vec![put(table, item)]
            }
            Op::CheckpointTaken { chain, seq } => vec![TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .set_key(Some(key(format!("H#{chain}"), "H".into())))
                        .update_expression("REMOVE rpk, rat")
                        .condition_expression("#seq = :seq")
                        .expression_attribute_names("#seq", "seq")
                        .expression_attribute_values(":seq", n(seq as i64))
                        .table_name(table)
                        .build()
                        .expect("update"),
                )
                .build()],
            Op::Audit(_) => vec![],
            // The same iat again (a republish within the second) keeps the later token.
            Op::KeepVersion(v) => vec![TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .set_item(Some(version_item(&v)))
                        .table_name(table)
                        .build()
                        .expect("put has item and table"),
                )
                .build()],
            Op::AddRevoked { iaca, entry } => vec![put(table, revoked_item(&iaca, &entry))],
            // The entry is derived from the certificate's record, whose own delete in the same
            // transaction carries the conditions; revocations recorded before the set existed
            // have no entry to drop.
            Op::DropRevoked { iaca, serial } => vec![TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .set_key(Some(key(format!("V#{iaca}"), serial.clone())))
                        .table_name(table)
                        .build()
                        .expect("delete"),
                )
                .build()],
        };
        for w in ws {
            items.push(w);
            owner.push(i);
        }
    }
    (items, owner)
}
