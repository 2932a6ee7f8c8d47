//! A status list's storage: its statuses in fixed-size chunk items, the permutation that
//! chooses its indices, lists written before either (migrated on first touch), and the entry a
//! credential embeds.
//!
//! The packed statuses (the bytes the published list encodes) are cut into [`CHUNK_BYTES`]
//! pieces; chunk `k` holds bytes `[k·CHUNK_BYTES, (k+1)·CHUNK_BYTES)`, zlib-compressed, and a
//! chunk never written is all zeros. Folding a batch of changes rewrites only the chunks it
//! touches, so no write grows with the list: a 2^24-entry, 8-bit list is 8,192 chunks of at most
//! about 2 KB each.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use crate::answer::Entry;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use serde_json::json;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    ListConfig, ListId, ListType, PublishState, Record, StatusConfig, StatusList, UriMode,
};
use trustfn_domain::ports::SecretBox;
use trustfn_domain::repo::{Op, RepoError, Repository, MAX_TX_ITEMS};
use trustfn_domain::secret::{Sealed, Secret};
use trustfn_domain::target::Target;
use trustfn_statuslist::bits::{BitOrder, StatusArray};
use trustfn_statuslist::codec;
use trustfn_statuslist::permutation::Permutation;

/// Bytes of packed statuses per chunk item.
pub const CHUNK_BYTES: usize = 2048;

/// Where a list's entries live in its chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) bits: u8,
    pub(crate) order: BitOrder,
    pub(crate) size: u64,
}

impl Layout {
    pub(crate) fn of(config: &ListConfig, list: &StatusList) -> Layout {
        Layout {
            bits: config.status_size,
            order: order_of(config),
            size: list.size,
        }
    }

    /// Bytes of the whole packed list.
    pub(crate) fn bytes(&self) -> usize {
        (self.size as usize).div_ceil(8 / self.bits as usize)
    }

    fn per_chunk(&self) -> u64 {
        (CHUNK_BYTES * 8 / self.bits as usize) as u64
    }

    pub(crate) fn chunk_of(&self, index: u32) -> u32 {
        (u64::from(index) / self.per_chunk()) as u32
    }

    /// Bytes of chunk `no` (the last one may be short).
    fn chunk_len(&self, no: u32) -> usize {
        (self.bytes() - no as usize * CHUNK_BYTES).min(CHUNK_BYTES)
    }
}

fn corrupt(list: &Target, what: &str, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal_msg(format!("status list {list}: {what} do not decode: {e}"))
}

/// A stored chunk's packed bytes.
fn open_chunk(list: &Target, layout: &Layout, no: u32, data: &[u8]) -> Result<Vec<u8>, ApiError> {
    let bytes = codec::unzlib(data).map_err(|e| corrupt(list, "statuses", &e))?;
    if bytes.len() != layout.chunk_len(no) {
        return Err(corrupt(
            list,
            "statuses",
            &format!("chunk {no} holds {} bytes", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// The whole status array of a list, read from its chunks (one query).
pub(crate) async fn load_statuses(
    repo: &dyn Repository,
    list: &Target,
    layout: &Layout,
) -> Result<StatusArray, ApiError> {
    let mut bytes = vec![0u8; layout.bytes()];
    for c in repo.all_chunks(list).await? {
        let start = c.no as usize * CHUNK_BYTES;
        if start >= bytes.len() {
            return Err(corrupt(
                list,
                "statuses",
                &format!("chunk {} is past the end", c.no),
            ));
        }
        let part = open_chunk(list, layout, c.no, &c.data)?;
        bytes[start..start + part.len()].copy_from_slice(&part);
    }
    StatusArray::from_bytes(layout.bits, bytes, layout.order)
        .map_err(|e| corrupt(list, "statuses", &e))
}

/// Why changes could not be written into the chunks.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// A chunk changed since it was read: another publisher is writing this list.
    Raced,
    Failed(ApiError),
}

impl From<ApiError> for WriteError {
    fn from(e: ApiError) -> Self {
        WriteError::Failed(e)
    }
}

/// Plans the writes that apply `changes` (in order: a later change of an index wins) to the
/// chunks they touch: one put per chunk, each conditional on the version read. Applying the same
/// changes twice gives the same statuses, so a publisher that dies after writing some chunks
/// leaves nothing its successor does not repair.
pub(crate) async fn chunk_writes(
    repo: &dyn Repository,
    list: &Target,
    layout: &Layout,
    changes: &[(u32, u8)],
) -> Result<Vec<Op>, ApiError> {
    let mut wanted: BTreeMap<u32, Vec<(u32, u8)>> = BTreeMap::new();
    for (idx, value) in changes {
        if u64::from(*idx) >= layout.size {
            tracing::warn!(list = %list, index = idx, "pending change outside the list ignored");
            continue;
        }
        wanted
            .entry(layout.chunk_of(*idx))
            .or_default()
            .push((*idx, *value));
    }
    let nos: Vec<u32> = wanted.keys().copied().collect();
    let mut stored: HashMap<u32, (u64, Vec<u8>)> = HashMap::new();
    for c in repo.chunks(list, &nos).await.map_err(ApiError::from)? {
        let bytes = open_chunk(list, layout, c.no, &c.data)?;
        stored.insert(c.no, (c.version, bytes));
    }
    let mut ops = Vec::with_capacity(nos.len());
    for (no, changes) in wanted {
        let (version, bytes) = stored
            .remove(&no)
            .unwrap_or_else(|| (0, vec![0u8; layout.chunk_len(no)]));
        let mut part = StatusArray::from_bytes(layout.bits, bytes, layout.order)
            .map_err(|e| corrupt(list, "statuses", &e))?;
        let first = u64::from(no) * layout.per_chunk();
        for (idx, value) in changes {
            part.set((u64::from(idx) - first) as usize, value)
                .map_err(|e| ApiError::internal(&e))?;
        }
        ops.push(Op::PutChunk {
            list: list.clone(),
            no,
            data: codec::zlib(part.bytes()),
            expected_version: version,
        });
    }
    Ok(ops)
}

/// Writes chunk puts in commits of at most [`MAX_TX_ITEMS`], each fenced by the list record
/// (`Op::Check` of the version the writer holds): a publisher whose lease was taken over (the
/// taker rewrote the record) writes no chunk, even one whose own version it read afterwards.
pub(crate) async fn commit_chunks(
    repo: &dyn Repository,
    ops: Vec<Op>,
    list: &Target,
    version: u64,
) -> Result<(), WriteError> {
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let mut batch: Vec<Op> = ops.by_ref().take(MAX_TX_ITEMS - 1).collect();
        batch.push(Op::Check {
            id: list.clone(),
            version,
        });
        match repo.commit(batch).await {
            Ok(()) => {}
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
                return Err(WriteError::Raced)
            }
            Err(e) => return Err(WriteError::Failed(ApiError::from(e))),
        }
    }
    Ok(())
}

/// Moves the statuses of a list written before chunks into chunk items (only chunks with a
/// status set), then clears them from the record (expecting its version: the caller holds the
/// lease). Returns the record as stored; a list already in chunks comes back unchanged.
pub(crate) async fn migrate(
    repo: &dyn Repository,
    rec: Record<StatusList>,
    config: &ListConfig,
) -> Result<Result<Record<StatusList>, WriteError>, ApiError> {
    let Some(packed) = rec.doc.statuses.as_deref() else {
        return Ok(Ok(rec));
    };
    let layout = Layout::of(config, &rec.doc);
    let old = unpack(&rec.id, "statuses", packed)?;
    let nos: Vec<u32> = (0..layout.bytes().div_ceil(CHUNK_BYTES) as u32).collect();
    let versions: HashMap<u32, u64> = repo
        .chunks(&rec.id, &nos)
        .await?
        .into_iter()
        .map(|c| (c.no, c.version))
        .collect();
    let mut ops = Vec::new();
    for no in nos {
        let start = no as usize * CHUNK_BYTES;
        let mut part = vec![0u8; layout.chunk_len(no)];
        let have = old.len().saturating_sub(start).min(part.len());
        part[..have].copy_from_slice(&old[start..start + have]);
        let version = versions.get(&no).copied().unwrap_or(0);
        if version == 0 && part.iter().all(|b| *b == 0) {
            continue;
        }
        ops.push(Op::PutChunk {
            list: rec.id.clone(),
            no,
            data: codec::zlib(&part),
            expected_version: version,
        });
    }
    let chunks = ops.len();
    if let Err(e) = commit_chunks(repo, ops, &rec.id, rec.version).await {
        return Ok(Err(e));
    }
    let mut next = rec.clone();
    next.doc.statuses = None;
    match repo
        .commit(vec![Op::Replace {
            record: next.clone().upcast(),
            expected_version: rec.version,
            children_delta: 0,
        }])
        .await
    {
        Ok(()) => {
            tracing::info!(list = %rec.id, chunks, "status list moved to chunk items");
            next.version = rec.version + 1;
            Ok(Ok(next))
        }
        Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
            Ok(Err(WriteError::Raced))
        }
        Err(e) => Err(ApiError::from(e)),
    }
}

/// A packed array of a list written before chunks.
fn unpack(list: &Target, what: &str, packed: &str) -> Result<Vec<u8>, ApiError> {
    let raw = B64.decode(packed).map_err(|e| corrupt(list, what, &e))?;
    codec::unzlib(&raw).map_err(|e| corrupt(list, what, &e))
}

pub(crate) fn order_of(config: &ListConfig) -> BitOrder {
    match config.list_type {
        ListType::TokenStatusList | ListType::RevocationList2020 => BitOrder::LsbFirst,
        ListType::BitstringStatusList | ListType::StatusList2021 => BitOrder::MsbFirst,
    }
}

/// Opened permutation keys by list and sealed value, so a warm function asks KMS once per list.
/// The list's path is part of the key: a value sealed for one list is opened for no other
/// without KMS checking its context.
fn key_cache() -> &'static Mutex<HashMap<String, [u8; 32]>> {
    static CACHE: OnceLock<Mutex<HashMap<String, [u8; 32]>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cache_key(list: &Target, sealed: &Sealed) -> String {
    format!("{list}\u{0}{}", sealed.ciphertext())
}

fn remember(list: &Target, sealed: &Sealed, key: [u8; 32]) {
    let mut cache = key_cache().lock().expect("cache lock");
    if cache.len() >= 4096 {
        cache.clear();
    }
    cache.insert(cache_key(list, sealed), key);
}

/// The permutation that chooses a list's indices; `None` for a list written before
/// permutations (it takes no new entries).
pub(crate) async fn permutation(
    secrets: &dyn SecretBox,
    list: &Record<StatusList>,
) -> Result<Option<Permutation>, ApiError> {
    let Some(sealed) = &list.doc.perm_key else {
        return Ok(None);
    };
    let cached = key_cache()
        .lock()
        .expect("cache lock")
        .get(&cache_key(&list.id, sealed))
        .copied();
    let key = match cached {
        Some(k) => k,
        None => {
            let opened = secrets.open(sealed, list.id.as_str()).await?;
            let mut key = [0u8; 32];
            let bytes = B64
                .decode(opened.expose())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    ApiError::internal_msg(format!(
                        "status list {}: its index key is not 32 bytes",
                        list.id
                    ))
                })?;
            key.copy_from_slice(&bytes);
            remember(&list.id, sealed, key);
            key
        }
    };
    Permutation::new(&key, list.doc.size)
        .map(Some)
        .map_err(|e| ApiError::internal(&e))
}

/// Which entries of a list were handed out.
pub(crate) enum Allocations {
    /// Positions `[0, reserved)` of the permutation.
    Counted {
        perm: Permutation,
        reserved: u64,
    },
    /// A list written before counters: its bitmap.
    Bitmap(StatusArray),
    None,
}

impl Allocations {
    /// Reads them once (one counter read, or the record's bitmap) for any number of checks.
    pub(crate) async fn of(
        repo: &dyn Repository,
        secrets: &dyn SecretBox,
        list: &Record<StatusList>,
    ) -> Result<Allocations, ApiError> {
        if let Some(perm) = permutation(secrets, list).await? {
            let reserved = repo.reserved(&list.id).await?;
            return Ok(Allocations::Counted { perm, reserved });
        }
        Ok(match &list.doc.allocation {
            Some(packed) => {
                let bitmap = unpack(&list.id, "allocations", packed)?;
                Allocations::Bitmap(
                    StatusArray::from_bytes(1, bitmap, BitOrder::LsbFirst)
                        .map_err(|e| corrupt(&list.id, "allocations", &e))?,
                )
            }
            None => Allocations::None,
        })
    }

    /// Whether `index` was handed out.
    pub(crate) fn contains(&self, index: u64) -> bool {
        match self {
            Allocations::Counted { perm, reserved } => {
                index < perm.size() && perm.position(index) < *reserved
            }
            Allocations::Bitmap(bits) => bits.get(index as usize).unwrap_or(0) == 1,
            Allocations::None => false,
        }
    }
}

/// Entries handed out of a list.
pub(crate) async fn allocated(
    repo: &dyn Repository,
    list: &Record<StatusList>,
) -> Result<u64, ApiError> {
    Ok(if list.doc.perm_key.is_some() {
        repo.reserved(&list.id).await?
    } else {
        list.doc.allocated
    })
}

/// A new, empty list of `config`, served under `base_url`, with a fresh sealed index key.
pub(crate) async fn new_list(
    secrets: &dyn SecretBox,
    config: &Record<StatusConfig>,
    base_url: &str,
    now: i64,
) -> Result<Record<StatusList>, ApiError> {
    let spec = &config.doc.config;
    let list_id = ListId::parse(&format!("l{:016x}", rand::rng().random::<u64>()))
        .expect("l and 16 hex digits is a list id");
    let id = config.id.child(list_id.as_str())?;
    let object_key = format!("status-lists/{}/{}", config.id, list_id);
    let uri = match (spec.uri_mode, &spec.api_url) {
        (UriMode::Api, Some(api)) => format!(
            "{api}/v1/{}/credential-status-service-api/status-lists/{list_id}",
            config.id
        ),
        _ => format!("{base_url}/{object_key}"),
    };
    let key: [u8; 32] = rand::rng().random();
    let perm_key: Sealed = secrets
        .seal(&Secret::new(B64.encode(key)), id.as_str())
        .await?;
    remember(&id, &perm_key, key);
    let doc = StatusList {
        list_id,
        uri,
        object_key,
        size: spec.size,
        allocated: 0,
        perm_key: Some(perm_key),
        statuses: None,
        allocation: None,
        // Due at once: published by its opener, by the refresh should that fail.
        publish: PublishState {
            refresh_at: Some(now),
            ..PublishState::unpublished()
        },
    };
    Ok(Record::with_doc(id, doc))
}

/// An allocated entry: its id, list, index, and what a credential embeds to point at it.
pub(crate) fn entry_json(config: &StatusConfig, list: &StatusList, index: u64) -> Entry {
    let spec = &config.config;
    let uri = &list.uri;
    let embed = match spec.list_type {
        ListType::TokenStatusList => json!({"status": {"status_list": {"idx": index, "uri": uri}}}),
        ListType::RevocationList2020 => json!({"credentialStatus": {
            "id": format!("{uri}#{index}"), "type": "RevocationList2020Status",
            "revocationListIndex": index.to_string(), "revocationListCredential": uri}}),
        t => {
            let ty = if t == ListType::StatusList2021 {
                "StatusList2021Entry"
            } else {
                "BitstringStatusListEntry"
            };
            let mut e = json!({"id": format!("{uri}#{index}"), "type": ty, "statusPurpose": spec.purpose,
                               "statusListIndex": index.to_string(), "statusListCredential": uri});
            if spec.status_size > 1 {
                e["statusSize"] = json!(spec.status_size);
                e["statusMessage"] = json!(spec.statuses);
            }
            json!({"credentialStatus": e})
        }
    };
    Entry {
        id: format!("{}:{index}", list.list_id),
        list: list.list_id.clone(),
        index,
        uri: uri.clone(),
        embed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cached_index_key_is_only_ever_handed_to_its_own_list() {
        // The cache was keyed by the sealed value alone: another list record holding the same
        // value got the key without KMS checking it was sealed for that list.
        let config: StatusConfig = serde_json::from_value(serde_json::json!({
            "kid": "acme.t1.kms.k", "currentList": null,
            "config": {"type": "TokenStatusList", "format": "JWT", "statusSize": 1, "size": 1024,
                       "ttl": 300, "validity": 86400}}))
        .unwrap();
        let config = Record::with_doc(Target::parse("acme.t1.st.cfg").unwrap(), config);
        let secrets = trustfn_testkit::FakeSecrets;
        let a = new_list(&secrets, &config, "https://r.example", 0)
            .await
            .unwrap();
        assert!(permutation(&secrets, &a).await.unwrap().is_some());
        let b = Record {
            id: config.id.child("lother").unwrap(),
            ..a.clone()
        };
        assert!(
            permutation(&secrets, &b).await.is_err(),
            "opened for another list"
        );
    }

    #[test]
    fn chunks_cover_the_list_exactly() {
        let l = Layout {
            bits: 2,
            order: BitOrder::LsbFirst,
            size: 1 << 17,
        };
        assert_eq!(l.bytes(), 32_768);
        assert_eq!(l.chunk_of(0), 0);
        assert_eq!(l.chunk_of(8_191), 0);
        assert_eq!(l.chunk_of(8_192), 1);
        assert_eq!(l.chunk_of((1 << 17) - 1), 15);
        assert_eq!(l.chunk_len(7), CHUNK_BYTES);
        let odd = Layout {
            bits: 1,
            order: BitOrder::MsbFirst,
            size: 40_000,
        };
        assert_eq!(odd.bytes(), 5_000);
        assert_eq!(odd.chunk_len(1), CHUNK_BYTES);
        assert_eq!(odd.chunk_len(2), 5_000 - 2 * CHUNK_BYTES);
        // 2^24 entries of 8 bits: 8,192 chunks.
        let big = Layout {
            bits: 8,
            order: BitOrder::LsbFirst,
            size: 1 << 24,
        };
        assert_eq!(big.chunk_of((1 << 24) - 1), 8191);
    }
}
