//! DynamoDB adapter of [`trustfn_domain::repo::Repository`]: one table, keys `pk`/`sk`.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | resource | `R#<parent>` (`R#` for organizations) | `<_id>` |
//! | dependency edge | `D#<from>` | `<to>` |
//! | reverse edge | `U#<to>` | `<from>` |
//! | API-key token | `T#<sha256>` | `T` |
//! | pending status changes | `P#<list>` | `<seq>` |
//! | claimed name (an adopted KMS key's ARN, an organization id ever used) | `C#<name>` | `C` |
//! | audit entry (canonical JSON `e`; `ttl` when the retention ends) | `L#<chain>` | `<sequence number, 20 digits>` |
//! | audit chain head (`seq`, `hash`; `rpk`/`rat` while due for a checkpoint) | `H#<chain>` | `H` |
//! | signed checkpoint of a chain head (`jws`) | `K#<chain>` | `<sequence number, 20 digits>` |
//! | revoked set of an IACA (serial and CRL date of each revocation, attribute `rd`) | `V#<IACA record>` | `<serial>` |
//! | chunk of a status list's statuses | `S#<list>` | `<chunk number, 8 digits>` |
//! | allocation counter of a status list | `A#<list>` | `A` |
//! | change-sequence counter of a status list | `Q#<list>` | `Q` |
//! | remembered idempotent request (expires by TTL) | `I#<scope>` | `<Idempotency-Key>` |
//!
//! Status lists and pending changes carry `rpk`/`rat`, which puts them in the sparse `refresh`
//! index the scheduled refresh queries; `rpk` is one of 16 shards (`LIST#00`..`LIST#15`, by a
//! hash of the list's path), so no single partition takes every tenant's writes.
//!
//! Children and edges are read with `Query` on the partition key, never `Scan`. Every commit is
//! one `TransactWriteItems` with a condition on every item.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{Delete, KeysAndAttributes, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use trustfn_domain::model::Record;
use trustfn_domain::repo::{
    Chunk, ListVersion, Op, Page, Pending, Remembered, RepoError, Repository, RevokedEntry,
    TokenRecord, MAX_TX_ITEMS,
};
use trustfn_domain::Target;

mod counters;
mod items;
mod plan;
mod versions;

use items::*;

fn unavailable<E: std::error::Error + 'static>(what: &str, e: E) -> RepoError {
    RepoError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

pub struct DynamoRepo {
    client: Client,
    table: String,
}

fn encode_cursor(sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)
}
fn decode_cursor(c: &str) -> Result<String, RepoError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| RepoError::InvalidCursor)?;
    let sk = String::from_utf8(bytes).map_err(|_| RepoError::InvalidCursor)?;
    Target::parse(&sk).map_err(|_| RepoError::InvalidCursor)?;
    Ok(sk)
}

impl DynamoRepo {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRepo {
            client,
            table: table.into(),
        }
    }

    /// Items by key (BatchGetItem, 100 keys a call, unprocessed keys retried); missing ones are
    /// left out, in no particular order.
    async fn batch_get(&self, mut all: Vec<Item>) -> Result<Vec<Item>, RepoError> {
        all.dedup();
        let mut out = Vec::new();
        for chunk in all.chunks(100) {
            let mut keys: Vec<Item> = chunk.to_vec();
            let mut attempts = 0;
            while !keys.is_empty() {
                attempts += 1;
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .expect("keys");
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| unavailable("batch get", e))?;
                out.extend(
                    resp.responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                keys = resp
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    if attempts >= 5 {
                        return Err(RepoError::Unavailable(
                            "batch get: unprocessed keys after retries".into(),
                        ));
                    }
                    tokio_sleep(attempts).await;
                }
            }
        }
        Ok(out)
    }

    /// Every item of partition `pk` (all pages), optionally projected.
    async fn query_items(
        &self,
        pk: String,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, RepoError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_projection_expression(projection.map(str::to_owned))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("query", e))?;
            out.extend(resp.items.unwrap_or_default());
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    async fn query_all_sk(&self, pk: String) -> Result<Vec<String>, RepoError> {
        Ok(self
            .query_items(pk, Some("sk"))
            .await?
            .iter()
            .filter_map(|i| get_s(i, "sk").map(str::to_owned))
            .collect())
    }
}

#[async_trait]
impl Repository for DynamoRepo {
    async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(resource_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get", e))?;
        resp.item.as_ref().map(to_record).transpose()
    }

    async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError> {
        let mut found: HashMap<String, Record> = HashMap::new();
        for item in self
            .batch_get(ids.iter().map(resource_key).collect())
            .await?
        {
            let r = to_record(&item)?;
            found.insert(r.id.to_string(), r);
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.get(id.as_str()).cloned())
            .collect())
    }

    async fn remembered(&self, scope: &Target, key: &str) -> Result<Option<Remembered>, RepoError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(remembered_key(scope, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get idempotency key", e))?;
        let Some(item) = resp.item else {
            return Ok(None);
        };
        let r = to_remembered(scope, &item)?;
        // TTL deletes expired items within days, not at once.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok((r.expires_at > now).then_some(r))
    }

    async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError> {
        let keys = nos.iter().map(|no| chunk_key(list, *no)).collect();
        let mut found: HashMap<u32, Chunk> = HashMap::new();
        for item in self.batch_get(keys).await? {
            let c = to_chunk(list, &item)?;
            found.insert(c.no, c);
        }
        Ok(nos.iter().filter_map(|no| found.remove(no)).collect())
    }

    async fn revoked(&self, iaca: &Target) -> Result<Vec<RevokedEntry>, RepoError> {
        self.query_items(format!("V#{iaca}"), None)
            .await?
            .iter()
            .map(|i| items::to_revoked(iaca, i))
            .collect()
    }

    async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError> {
        self.query_items(format!("S#{list}"), None)
            .await?
            .iter()
            .map(|i| to_chunk(list, i))
            .collect()
    }

    async fn reserve(
        &self,
        list: &Target,
        count: u64,
        limit: u64,
    ) -> Result<Option<u64>, RepoError> {
        if count > limit {
            return Ok(None);
        }
        let resp = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(list)))
            .update_expression("ADD #n :c")
            .condition_expression("attribute_not_exists(#n) OR #n <= :max")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":c", n(count as i64))
            .expression_attribute_values(":max", n((limit - count) as i64))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match resp {
            Ok(out) => {
                let after = out
                    .attributes
                    .as_ref()
                    .and_then(|a| get_n(a, "n"))
                    .ok_or_else(|| RepoError::Corrupt {
                        id: format!("allocation counter of {list}"),
                        reason: "no n after the update".into(),
                    })?;
                Ok(Some(after as u64 - count))
            }
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable("reserve", e)),
        }
    }

    async fn next_seq(&self, list: &Target) -> Result<u64, RepoError> {
        self.add_one(sequence_key(list), || format!("change sequence of {list}"))
            .await
    }

    async fn next_number(&self, series: &str) -> Result<u64, RepoError> {
        self.add_one(number_key(series), || format!("number series {series}"))
            .await
    }

    async fn raise_number(&self, series: &str, at_least: u64) -> Result<(), RepoError> {
        self.raise_to(number_key(series), at_least, || {
            format!("number series {series}")
        })
        .await
    }

    async fn reserved(&self, list: &Target) -> Result<u64, RepoError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(list)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get counter", e))?;
        Ok(resp.item.as_ref().and_then(|i| get_n(i, "n")).unwrap_or(0) as u64)
    }

    async fn purge_list(&self, list: &Target) -> Result<usize, RepoError> {
        let mut keys: Vec<Item> = Vec::new();
        for pk in [format!("S#{list}"), format!("P#{list}"), version_pk(list)] {
            for sk in self.query_all_sk(pk.clone()).await? {
                keys.push(key(pk.clone(), sk));
            }
        }
        keys.push(counter_key(list));
        keys.push(sequence_key(list));
        let total = keys.len();
        for batch in keys.chunks(MAX_TX_ITEMS) {
            let deletes = batch
                .iter()
                .map(|k| {
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .set_key(Some(k.clone()))
                                .table_name(&self.table)
                                .build()
                                .expect("delete"),
                        )
                        .build()
                })
                .collect();
            self.client
                .transact_write_items()
                .set_transact_items(Some(deletes))
                .client_request_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await
                .map_err(|e| unavailable("purge list", e))?;
        }
        Ok(total)
    }

    async fn children(
        &self,
        parent: Option<&Target>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, RepoError> {
        let pk = match parent {
            Some(p) => format!("R#{p}"),
            None => "R#".to_owned(),
        };
        let mut start = match cursor {
            Some(c) => Some(key(pk.clone(), decode_cursor(c)?)),
            None => None,
        };
        let mut items = Vec::new();
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .limit((limit + 1 - items.len()) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("query", e))?;
            for i in resp.items() {
                items.push(to_record(i)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() && items.len() <= limit => start = Some(k),
                _ => break,
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| encode_cursor(r.id.as_str()))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError> {
        Ok(self
            .query_all_sk(format!("D#{from}"))
            .await?
            .iter()
            .filter_map(|t| Target::parse(t).ok())
            .collect())
    }

    async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError> {
        Ok(self
            .query_all_sk(format!("U#{to}"))
            .await?
            .iter()
            .filter_map(|t| Target::parse(t).ok())
            .collect())
    }

    async fn audit_head(&self, chain: &str) -> Result<Option<(u64, String)>, RepoError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("H#{chain}"), "H".into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get audit head", e))?;
        let Some(item) = resp.item else {
            return Ok(None);
        };
        let bad = corrupt(format!("audit head of {chain}"));
        let seq = get_n(&item, "seq").ok_or_else(|| bad("no seq"))?;
        let hash = get_s(&item, "hash").ok_or_else(|| bad("no hash"))?;
        Ok(Some((seq as u64, hash.to_owned())))
    }

    async fn audit_due(&self, before: i64, limit: usize) -> Result<Vec<String>, RepoError> {
        let queries = (0..REFRESH_SHARDS).map(|i| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(REFRESH_INDEX)
                .key_condition_expression("rpk = :p AND rat <= :b")
                .expression_attribute_values(":p", s(format!("AUDIT#{i:02}")))
                .expression_attribute_values(":b", n(before))
                .limit(limit as i32)
                .send()
        });
        let mut due: Vec<(i64, String)> = Vec::new();
        for resp in futures::future::join_all(queries).await {
            let resp = resp.map_err(|e| unavailable("query refresh index (audit)", e))?;
            due.extend(resp.items().iter().filter_map(|i| {
                let chain = get_s(i, "pk")?.strip_prefix("H#")?;
                Some((get_n(i, "rat")?, chain.to_owned()))
            }));
        }
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, c)| c).collect())
    }

    async fn audit_checkpoints(
        &self,
        chain: &str,
        below: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, RepoError> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk < :below")
            .expression_attribute_values(":pk", s(format!("K#{chain}")))
            .expression_attribute_values(":below", s(audit_sk(below.unwrap_or(u64::MAX))))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit.min(1000) as i32)
            .send()
            .await
            .map_err(|e| unavailable("query audit checkpoints", e))?;
        resp.items()
            .iter()
            .map(|i| {
                let bad = corrupt(format!("audit checkpoint of {chain}"));
                let seq = get_s(i, "sk")
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| bad("sk is not a sequence number"))?;
                let jws = get_s(i, "jws").ok_or_else(|| bad("no jws"))?;
                Ok((seq, jws.to_owned()))
            })
            .collect()
    }

    async fn audit_entries(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", s(format!("L#{chain}")))
                .expression_attribute_values(":after", s(audit_sk(after)))
                .consistent_read(true)
                .limit((limit - out.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("query audit entries", e))?;
            for item in resp.items.unwrap_or_default() {
                let text = get_s(&item, "e").ok_or_else(|| RepoError::Corrupt {
                    id: format!(
                        "audit entry {} of {chain}",
                        get_s(&item, "sk").unwrap_or("?")
                    ),
                    reason: "no e".into(),
                })?;
                out.push(text.to_owned());
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("T#{hash}"), "T".into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get token", e))?;
        let Some(item) = resp.item else {
            return Ok(None);
        };
        to_token(hash, &item).map(Some)
    }

    async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError> {
        // The soonest `limit` of each shard, merged: the soonest `limit` of all.
        let queries = refresh_partitions().into_iter().map(|p| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(REFRESH_INDEX)
                .key_condition_expression("rpk = :p AND rat <= :b")
                .expression_attribute_values(":p", s(p))
                .expression_attribute_values(":b", n(before))
                .limit(limit as i32)
                .send()
        });
        let mut due: Vec<(i64, String)> = Vec::new();
        for resp in futures::future::join_all(queries).await {
            let resp = resp.map_err(|e| unavailable("query refresh index", e))?;
            due.extend(resp.items().iter().filter_map(|i| {
                let id = match get_s(i, "pk")?.strip_prefix("P#") {
                    Some(list) => list,
                    None => get_s(i, "sk")?,
                };
                Some((get_n(i, "rat")?, id.to_owned()))
            }));
        }
        due.sort();
        let mut seen = std::collections::HashSet::new();
        Ok(due
            .into_iter()
            .filter_map(|(_, id)| Target::parse(&id).ok())
            .filter(|id| seen.insert(id.clone()))
            .take(limit)
            .collect())
    }

    async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("P#{list}"), seq.to_owned())))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get pending", e))?;
        Ok(resp.item.is_some())
    }

    async fn list_version(
        &self,
        list: &Target,
        at: Option<i64>,
    ) -> Result<Option<ListVersion>, RepoError> {
        versions::newest(&self.client, &self.table, list, at).await
    }

    async fn pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("P#{list}")))
            .consistent_read(true)
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| unavailable("query pending", e))?;
        resp.items().iter().map(|i| to_pending(list, i)).collect()
    }

    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (items, owner) = plan::plan(&self.table, ops);
        // One token per commit: the SDK sends it again with every retry of this call, so a
        // retry of a transaction that committed (its answer lost) is recognised by DynamoDB and
        // answered as the success it was, not as a failed condition.
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) => match se.err() {
                TransactWriteItemsError::TransactionCanceledException(tce) => {
                    let reasons = tce.cancellation_reasons();
                    if let Some(i) = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        return Err(RepoError::ConditionFailed {
                            index: owner.get(i).copied(),
                        });
                    }
                    if reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        return Err(RepoError::TransactionConflict);
                    }
                    if reasons.is_empty() {
                        // Some emulators omit the reasons; the condition is the only cause we write.
                        return Err(RepoError::ConditionFailed { index: None });
                    }
                    let codes: Vec<_> = reasons
                        .iter()
                        .map(|r| r.code().unwrap_or("-").to_owned())
                        .collect();
                    Err(RepoError::Unavailable(format!(
                        "transaction cancelled: {codes:?}"
                    )))
                }
                other => Err(RepoError::Unavailable(format!(
                    "transact write: {}",
                    DisplayErrorContext(other)
                ))),
            },
            Err(e) => Err(unavailable("transact write", e)),
        }
    }
}

async fn tokio_sleep(attempt: u32) {
    let ms = 20u64 << attempt.min(6);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}
