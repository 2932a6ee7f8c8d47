//! The Credential Status service: status credential configurations, entry allocation, status
//! updates, and publishing signed lists to a registry (S3, Azure Blob, GCS) behind [`Registries`].
//!
//! A configuration `{service}.{configId}` owns lists `{service}.{configId}.{listId}`. A list
//! record holds its packed statuses and its allocation bitmap (both zlib-compressed, hidden
//! fields), a status version, and what was last published. An update never writes the list
//! record: it stores its changes as a pending item. Publishing is serialized per list with a lease
//! and coalesced: whoever holds the lease folds every pending change into the list, publishes,
//! and loops until nothing is pending, so a burst of updates costs a few publishes and none is
//! lost. Pending changes nobody folded (a crashed publisher) are due for the scheduled refresh.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_statuslist::bits::{BitOrder, StatusArray};
use trustfn_statuslist::{codec, token, Claims, W3cKind};

use crate::auth::{Action, Principal};
use crate::error::ApiError;
use crate::keys::{self, KeyManager, SecretBox};
use crate::model::{Kind, Record, ServiceType};
use crate::ops::{storage, Reply};
use crate::repo::{Op, Pending, RepoError, Repository};
use crate::target::Target;

/// Default entries per list (the W3C minimum).
pub const DEFAULT_SIZE: u64 = 131_072;
pub const MAX_SIZE: u64 = 1 << 24;
pub const DEFAULT_TTL: u64 = 12 * 3600;
pub const DEFAULT_VALIDITY: u64 = 24 * 3600;
/// Most entries one allocation call hands out.
pub const MAX_ALLOCATION: u64 = 1000;
/// Most updates in one batch.
pub const MAX_BATCH: usize = 1000;
/// How long a publisher may hold a list's lease.
pub const LEASE_SECS: i64 = 60;

/// The publish lease in seconds: `TRUSTFN_PUBLISH_LEASE_SECONDS` (1-900), else [`LEASE_SECS`].
/// It must outlast one sign-and-upload; the fault-injection tests shorten it.
fn lease_secs() -> i64 {
    static LEASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *LEASE.get_or_init(|| {
        std::env::var("TRUSTFN_PUBLISH_LEASE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| (1..=900).contains(v))
            .unwrap_or(LEASE_SECS)
    })
}

/// Seconds after which the scheduled refresh takes over pending changes nobody folded, or a list
/// whose publisher died holding the lease: twice the lease.
fn grace_secs() -> i64 {
    2 * lease_secs()
}

/// Exponential backoff with full jitter: a random pause up to 5 ms · 2^attempt, capped at 250 ms.
fn backoff(attempt: u32) -> std::time::Duration {
    let cap = (5u64 << attempt.min(6)).min(250);
    std::time::Duration::from_millis(rand::rng().random_range(1..=cap))
}

/// Writes one object to a registry.
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), String>;
}

/// Opens a publisher for a registry configuration (secrets already opened).
#[async_trait]
pub trait Registries: Send + Sync {
    async fn open(&self, registry: &Value) -> Result<Box<dyn Publisher>, String>;
}

/// Everything the status operations need besides the repository.
pub struct StatusDeps<'a> {
    pub kms: &'a dyn KeyManager,
    pub secrets: &'a dyn SecretBox,
    pub registries: &'a dyn Registries,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    pub status: String,
    pub message: String,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub status_size: Option<u8>,
    #[serde(default)]
    pub statuses: Option<Vec<StatusMessage>>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub ttl: Option<u64>,
    #[serde(default)]
    pub validity: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConfig {
    pub kid: String,
    #[serde(default)]
    pub did: Option<String>,
    #[serde(default, rename = "x5Chain")]
    pub x5_chain: Option<Vec<String>>,
    pub config: ListSpec,
}

/// Parses `"0x1"`, `"1"` (and `"0X1"`) status values.
pub fn parse_status(s: &str) -> Option<u8> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) if !h.is_empty() => u8::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None => t.parse().ok(),
    }
}

/// The validated, normalised list specification stored on the configuration.
fn normalise(spec: ListSpec, has_did: bool, has_x5: bool) -> Result<Value, ApiError> {
    let v = |m: String| ApiError::validation(m);
    let kind = spec.kind.as_str();
    let (format, purpose, order_w3c) = match kind {
        "TokenStatusList" => {
            let f = spec.format.unwrap_or_else(|| "JWT".into());
            if f != "JWT" && f != "CWT" {
                return Err(v(format!("config.format {f:?}: use JWT or CWT")));
            }
            if spec.purpose.is_some() {
                return Err(v("config.purpose: only for W3C list types".into()));
            }
            (f, None, false)
        }
        "BitstringStatusList" | "StatusList2021" => {
            if let Some(f) = spec.format.as_deref().filter(|f| *f != "JWT") {
                return Err(v(format!(
                    "config.format {f:?}: W3C lists are published as JWT"
                )));
            }
            let p = spec.purpose.unwrap_or_else(|| "revocation".into());
            let allowed: &[&str] = if kind == "StatusList2021" {
                &["revocation", "suspension"]
            } else {
                &["revocation", "suspension", "message", "refresh"]
            };
            if !allowed.contains(&p.as_str()) {
                return Err(v(format!(
                    "config.purpose {p:?}: use one of {}",
                    allowed.join(", ")
                )));
            }
            if !has_did {
                return Err(v(
                    "did: W3C status list credentials need an issuer DID".into()
                ));
            }
            if has_x5 {
                return Err(v("x5Chain: only for TokenStatusList".into()));
            }
            ("JWT".to_owned(), Some(p), true)
        }
        other => {
            return Err(v(format!(
                "config.type {other:?}: use TokenStatusList, BitstringStatusList or StatusList2021"
            )))
        }
    };
    let bits = spec.status_size.unwrap_or(1);
    if ![1, 2, 4, 8].contains(&bits) {
        return Err(v("config.statusSize: use 1, 2, 4 or 8".into()));
    }
    if kind == "StatusList2021" && bits != 1 {
        return Err(v(
            "config.statusSize: StatusList2021 has 1-bit statuses".into()
        ));
    }
    let max = if bits == 8 {
        255u16
    } else {
        (1u16 << bits) - 1
    };
    let mut statuses = Vec::new();
    if let Some(list) = &spec.statuses {
        for (i, s) in list.iter().enumerate() {
            let val = parse_status(&s.status)
                .filter(|x| (*x as u16) <= max)
                .ok_or_else(|| {
                    v(format!(
                        "config.statuses[{i}].status {:?} does not fit in {bits} bit(s)",
                        s.status
                    ))
                })?;
            if statuses.iter().any(|(x, _)| *x == val) {
                return Err(v(format!(
                    "config.statuses[{i}]: status {} is listed twice",
                    s.status
                )));
            }
            statuses.push((val, s.message.clone()));
        }
    }
    if kind == "BitstringStatusList" && bits > 1 && statuses.len() != (1usize << bits) {
        return Err(v(format!(
            "config.statuses: a {bits}-bit BitstringStatusList needs exactly {} status messages",
            1 << bits
        )));
    }
    let size = spec.size.unwrap_or(DEFAULT_SIZE);
    let min = if order_w3c { DEFAULT_SIZE } else { 1024 };
    if size < min || size > MAX_SIZE || !size.is_multiple_of(8) {
        return Err(v(format!(
            "config.size: a multiple of 8 from {min} to {MAX_SIZE}"
        )));
    }
    let ttl = spec.ttl.unwrap_or(DEFAULT_TTL);
    let validity = spec.validity.unwrap_or(DEFAULT_VALIDITY);
    if !(300..=366 * 86400).contains(&validity) {
        return Err(v("config.validity: from 300 seconds to 366 days".into()));
    }
    if ttl < 60 || ttl > validity {
        return Err(v(
            "config.ttl: at least 60 seconds and at most the validity".into(),
        ));
    }
    let mut out = json!({"type": kind, "format": format, "statusSize": bits, "size": size, "ttl": ttl, "validity": validity});
    if let Some(p) = purpose {
        out["purpose"] = json!(p);
    }
    if !statuses.is_empty() {
        out["statuses"] = json!(statuses
            .iter()
            .map(|(s, m)| json!({"status": format!("0x{s:x}"), "message": m}))
            .collect::<Vec<_>>());
    }
    Ok(out)
}

/// The status service of a configuration path, checked to be a credential-status service.
async fn status_service(repo: &dyn Repository, id: &Target) -> Result<Record, ApiError> {
    let rec = repo
        .get(id)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("{id} not found")))?;
    if rec.service_type() != Some(ServiceType::CredentialStatus) {
        return Err(ApiError::validation(format!(
            "{id} is not a credential-status service"
        )));
    }
    Ok(rec)
}

/// The signing key named by `kid`: its kms service must be a dependency of the status service.
async fn signing_key(
    repo: &dyn Repository,
    service: &Target,
    kid: &str,
) -> Result<keys::StoredKey, ApiError> {
    let key_id =
        Target::parse(kid).map_err(|e| ApiError::validation(format!("kid: {}", e.message)))?;
    let kms_service = key_id
        .parent()
        .ok_or_else(|| ApiError::validation("kid: not a key path"))?;
    let deps = repo.dependencies(service).await.map_err(storage)?;
    if !deps.contains(&kms_service) {
        return Err(ApiError::validation(format!(
            "kid: the kms service {kms_service} is not an attached dependency of {service}"
        )));
    }
    let rec = repo.get(&key_id).await.map_err(storage)?;
    rec.as_ref()
        .and_then(keys::StoredKey::from_record)
        .ok_or_else(|| ApiError::validation(format!("kid: key {key_id} does not exist")))
}

/// `POST /v1/{statusService}.{configId}/credential-status-service-api/status-credential/create`
pub async fn create_config(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    body: CreateConfig,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::StatusConfigCreate)?;
    let service = target
        .parent()
        .filter(|_| target.depth() >= 4)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidTarget",
                "the target of a new configuration is '<status service>.<configId>'",
            )
        })?;
    status_service(repo, &service).await?;
    let x5 = body.x5_chain.clone().unwrap_or_default();
    for (i, pem) in x5.iter().enumerate() {
        let der = trustfn_x509::pem::decode_one_certificate(pem)
            .map_err(|e| ApiError::validation(format!("x5Chain[{i}]: {e}")))?;
        trustfn_x509::parse::facts(&der)
            .map_err(|e| ApiError::validation(format!("x5Chain[{i}]: {e}")))?;
    }
    if let Some(d) = &body.did {
        if !d.starts_with("did:") || d.len() > 2048 {
            return Err(ApiError::validation("did: must be a DID (did:...)"));
        }
    }
    let spec = normalise(body.config, body.did.is_some(), !x5.is_empty())?;
    signing_key(repo, &service, &body.kid).await?;
    let mut doc = json!({"kid": body.kid, "config": spec, "lists": [], "currentList": null});
    if let Some(d) = body.did {
        doc["did"] = json!(d);
    }
    if !x5.is_empty() {
        doc["x5Chain"] = json!(x5);
    }
    let rec = Record::new(target.clone(), Kind::StatusConfig, doc);
    repo.commit(vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: service.clone(),
            children: 1,
            dependants: 0,
        },
    ])
    .await
    .map_err(|e| match e {
        RepoError::ConditionFailed { index: Some(1) } => {
            ApiError::not_found(format!("{service} not found"))
        }
        RepoError::ConditionFailed { .. } => ApiError::duplicate(target.as_str()),
        other => storage(other),
    })?;
    tracing::info!(config = %target, "status credential configuration created");
    Ok(Reply::json(201, rec.to_public()))
}

/// A list record's state, decoded.
struct ListState {
    rec: Record,
    statuses: StatusArray,
    allocated: StatusArray,
}

fn pack(a: &StatusArray) -> String {
    B64.encode(codec::zlib(a.bytes()))
}

fn unpack(s: &str, bits: u8, order: BitOrder) -> Result<StatusArray, ApiError> {
    let raw = B64.decode(s).map_err(|_| ApiError::internal())?;
    StatusArray::from_bytes(
        bits,
        codec::unzlib(&raw).map_err(|_| ApiError::internal())?,
        order,
    )
    .map_err(|_| ApiError::internal())
}

fn order_of(config: &Value) -> BitOrder {
    if config["type"] == "TokenStatusList" {
        BitOrder::LsbFirst
    } else {
        BitOrder::MsbFirst
    }
}

/// A list's allocation bitmap (1 bit per entry), without unpacking its statuses.
fn allocation_of(rec: &Record) -> Result<StatusArray, ApiError> {
    unpack(
        rec.doc["_allocated"].as_str().unwrap_or_default(),
        1,
        BitOrder::LsbFirst,
    )
}

impl ListState {
    fn load(rec: Record, config: &Value) -> Result<ListState, ApiError> {
        let bits = config["statusSize"].as_u64().unwrap_or(1) as u8;
        let statuses = unpack(
            rec.doc["_statuses"].as_str().unwrap_or_default(),
            bits,
            order_of(config),
        )?;
        let allocated = allocation_of(&rec)?;
        Ok(ListState {
            rec,
            statuses,
            allocated,
        })
    }
    fn store(&mut self) {
        self.rec.doc["_statuses"] = json!(pack(&self.statuses));
        self.rec.doc["_allocated"] = json!(pack(&self.allocated));
    }
    fn doc_i64(&self, k: &str) -> i64 {
        self.rec.doc.get(k).and_then(Value::as_i64).unwrap_or(0)
    }
}

fn new_list(config_rec: &Record, base_url: &str) -> Result<ListState, ApiError> {
    let cfg = &config_rec.doc["config"];
    let size = cfg["size"].as_u64().unwrap_or(DEFAULT_SIZE) as usize;
    let bits = cfg["statusSize"].as_u64().unwrap_or(1) as u8;
    let list_id = format!("l{:016x}", rand::rng().random::<u64>());
    let id = config_rec.id.child(&list_id)?;
    let object_key = format!("status-lists/{}/{}", config_rec.id, list_id);
    let uri = format!("{base_url}/{object_key}");
    let statuses = StatusArray::new(bits, size, order_of(cfg)).map_err(|_| ApiError::internal())?;
    let allocated =
        StatusArray::new(1, size, BitOrder::LsbFirst).map_err(|_| ApiError::internal())?;
    let doc = json!({"listId": list_id, "uri": uri, "objectKey": object_key, "size": size, "allocated": 0,
                     "statusVersion": 0, "publishedVersion": -1, "_refreshAt": now()});
    let mut st = ListState {
        rec: Record::new(id, Kind::StatusList, doc),
        statuses,
        allocated,
    };
    st.store();
    Ok(st)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocate {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub initial_status: Option<String>,
}

fn check_status(config: &Value, s: &str, field: &str) -> Result<u8, ApiError> {
    let bits = config["statusSize"].as_u64().unwrap_or(1) as u32;
    let max = (1u32 << bits) - 1;
    let v = parse_status(s)
        .filter(|v| (*v as u32) <= max)
        .ok_or_else(|| {
            ApiError::validation(format!("{field} {s:?} does not fit in {bits} bit(s)"))
        })?;
    if let Some(list) = config.get("statuses").and_then(Value::as_array) {
        if !list
            .iter()
            .any(|m| m["status"].as_str().and_then(parse_status) == Some(v))
        {
            return Err(ApiError::validation(format!(
                "{field} {s:?} is not one of the configured statuses"
            )));
        }
    }
    Ok(v)
}

fn entry_json(config_rec: &Record, list: &ListState, index: usize) -> Value {
    let cfg = &config_rec.doc["config"];
    let uri = list.rec.doc["uri"].as_str().unwrap_or_default();
    let list_id = list.rec.doc["listId"].as_str().unwrap_or_default();
    let embed = match cfg["type"].as_str() {
        Some("TokenStatusList") => json!({"status": {"status_list": {"idx": index, "uri": uri}}}),
        Some(t) => {
            let ty = if t == "StatusList2021" {
                "StatusList2021Entry"
            } else {
                "BitstringStatusListEntry"
            };
            let mut e = json!({"id": format!("{uri}#{index}"), "type": ty, "statusPurpose": cfg["purpose"],
                               "statusListIndex": index.to_string(), "statusListCredential": uri});
            if cfg["statusSize"].as_u64().unwrap_or(1) > 1 {
                e["statusSize"] = cfg["statusSize"].clone();
                e["statusMessage"] = cfg["statuses"].clone();
            }
            json!({"credentialStatus": e})
        }
        None => Value::Null,
    };
    json!({"id": format!("{list_id}:{index}"), "list": list_id, "index": index, "uri": uri, "embed": embed})
}

/// `POST .../status-credential/entries`: allocates `count` random, never reused indices; a full
/// list rolls over to a new one. The first allocation of a list publishes it.
pub async fn allocate(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    p: &Principal,
    target: &Target,
    body: Allocate,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::StatusEntryAllocate)?;
    let count = body.count.unwrap_or(1);
    if !(1..=MAX_ALLOCATION).contains(&count) {
        return Err(ApiError::validation(format!(
            "count: from 1 to {MAX_ALLOCATION}"
        )));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let cfg_rec = load_config(repo, target).await?;
        let cfg = cfg_rec.doc["config"].clone();
        let initial = match &body.initial_status {
            Some(s) => check_status(&cfg, s, "initialStatus")?,
            None => 0,
        };
        let service = status_service(repo, &target.parent().expect("config has a parent")).await?;
        let base = crate::registry::public_base(&service.doc["config"]["registry"]);
        // Lists touched, in order; the last is the (possibly new) current list.
        let mut lists: Vec<(ListState, bool)> = Vec::new();
        match cfg_rec.doc["currentList"].as_str() {
            Some(cur) => {
                let id = target.child(cur)?;
                let rec = repo
                    .get(&id)
                    .await
                    .map_err(storage)?
                    .ok_or_else(ApiError::internal)?;
                lists.push((ListState::load(rec, &cfg)?, false));
            }
            None => lists.push((new_list(&cfg_rec, &base)?, true)),
        }
        let mut entries = Vec::new();
        let mut left = count as usize;
        while left > 0 {
            let (list, _) = lists.last_mut().expect("one list");
            let size = list
                .statuses
                .capacity()
                .min(cfg["size"].as_u64().unwrap_or(DEFAULT_SIZE) as usize);
            let used = list.doc_i64("allocated") as usize;
            if used >= size {
                lists.push((new_list(&cfg_rec, &base)?, true));
                continue;
            }
            let mut rng = rand::rng();
            let idx = loop {
                let i = rng.random_range(0..size);
                if list.allocated.get(i).unwrap_or(1) == 0 {
                    break i;
                }
                if used * 10 > size * 9 {
                    // Nearly full: take the first free index after a random start.
                    let start = rng.random_range(0..size);
                    break (0..size)
                        .map(|k| (start + k) % size)
                        .find(|i| list.allocated.get(*i) == Ok(0))
                        .expect("not full");
                }
            };
            list.allocated
                .set(idx, 1)
                .map_err(|_| ApiError::internal())?;
            if initial != 0 {
                list.statuses
                    .set(idx, initial)
                    .map_err(|_| ApiError::internal())?;
            }
            list.rec.doc["allocated"] = json!(used + 1);
            entries.push(entry_json(&cfg_rec, list, idx));
            left -= 1;
        }
        let mut ops = Vec::new();
        let mut new_cfg = cfg_rec.clone();
        for (list, is_new) in lists.iter_mut() {
            if initial != 0 {
                let sv = list.doc_i64("statusVersion") + 1;
                list.rec.doc["statusVersion"] = json!(sv);
            }
            list.store();
            if *is_new {
                ops.push(Op::Create(list.rec.clone()));
                let lid = list.rec.doc["listId"].clone();
                new_cfg.doc["lists"]
                    .as_array_mut()
                    .expect("lists")
                    .push(lid.clone());
                new_cfg.doc["currentList"] = lid;
            } else {
                ops.push(Op::Replace {
                    record: list.rec.clone(),
                    expected_version: list.rec.version,
                    children_delta: 0,
                });
            }
        }
        let added = lists.iter().filter(|(_, n)| *n).count() as i64;
        if added > 0 {
            ops.push(Op::Replace {
                record: new_cfg.clone(),
                expected_version: cfg_rec.version,
                children_delta: added,
            });
        }
        match repo.commit(ops).await {
            Ok(()) => {}
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict)
                if attempt < 8 =>
            {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(RepoError::ConditionFailed { .. }) => {
                return Err(ApiError::conflict(
                    "the list is changing too fast; nothing was allocated, retry",
                ))
            }
            Err(e) => return Err(storage(e)),
        }
        tracing::info!(config = %target, entries = entries.len(), new_lists = added, "entries allocated");
        // Publish lists that were never published or whose statuses changed.
        let mut publish_failed = false;
        for (list, _) in &lists {
            let never = list.doc_i64("publishedVersion") < 0;
            if never || initial != 0 {
                if let Err(e) = publish(repo, deps, &list.rec.id).await {
                    tracing::warn!(list = %list.rec.id, error = %e, "publish after allocation failed; the refresh will retry");
                    publish_failed = true;
                }
            }
        }
        let mut out = json!({"entries": entries});
        if publish_failed {
            out["published"] = json!(false);
        }
        return Ok(Reply::json(201, out));
    }
}

async fn load_config(repo: &dyn Repository, target: &Target) -> Result<Record, ApiError> {
    let rec = repo
        .get(target)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))?;
    if rec.kind != Kind::StatusConfig {
        return Err(ApiError::validation(format!(
            "{target} is not a status credential configuration"
        )));
    }
    Ok(rec)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OneUpdate {
    #[serde(default)]
    pub entry: Option<String>,
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub list: Option<String>,
    pub status: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum UpdateBody {
    Batch { updates: Vec<OneUpdate> },
    One(OneUpdate),
}

/// `PUT .../status-credential/status/update`: one update or `{"updates": [...]}`. One write per
/// list touched, then a (coalesced) publish of each.
pub async fn update(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    p: &Principal,
    target: &Target,
    body: UpdateBody,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::StatusUpdate)?;
    let updates = match body {
        UpdateBody::Batch { updates } => updates,
        UpdateBody::One(u) => vec![u],
    };
    if updates.is_empty() || updates.len() > MAX_BATCH {
        return Err(ApiError::validation(format!(
            "updates: from 1 to {MAX_BATCH}"
        )));
    }
    let cfg_rec = load_config(repo, target).await?;
    let cfg = cfg_rec.doc["config"].clone();
    // (list id, index, value), validated before anything is read or written.
    let mut wanted: Vec<(String, usize, u8)> = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let value = check_status(&cfg, &u.status, &format!("updates[{i}].status"))?;
        let (list, index) = match (u.entry.as_ref().or(u.session.as_ref()), u.index, &u.list) {
            (Some(e), None, None) => {
                let (l, idx) = e
                    .split_once(':')
                    .ok_or_else(|| ApiError::not_found(format!("entry {e:?} not found")))?;
                let idx: usize = idx
                    .parse()
                    .map_err(|_| ApiError::not_found(format!("entry {e:?} not found")))?;
                (l.to_owned(), idx)
            }
            (None, Some(idx), Some(l)) => (l.clone(), idx as usize),
            _ => {
                return Err(ApiError::validation(format!(
                    "updates[{i}]: give entry (or session), or index and list"
                )))
            }
        };
        wanted.push((list, index, value));
    }
    let mut list_ids: Vec<String> = wanted.iter().map(|w| w.0.clone()).collect();
    list_ids.sort();
    list_ids.dedup();
    // Check every entry exists, then write the changes as pending items (one per list, in one
    // transaction): updates never contend for the list record; its publisher folds them in.
    let mut touched = Vec::new();
    let mut ops = Vec::new();
    let seq = pending_seq();
    for lid in &list_ids {
        let id = Target::parse(lid)
            .ok()
            .and_then(|l| target.child(l.as_str()).ok())
            .ok_or_else(|| ApiError::not_found(format!("list {lid:?} not found")))?;
        let rec = repo
            .get(&id)
            .await
            .map_err(storage)?
            .filter(|r| r.kind == Kind::StatusList)
            .ok_or_else(|| ApiError::not_found(format!("list {lid:?} not found")))?;
        let allocated = allocation_of(&rec)?;
        let mut changes = Vec::new();
        for (_, idx, value) in wanted.iter().filter(|w| &w.0 == lid) {
            if allocated.get(*idx).unwrap_or(0) == 0 {
                return Err(ApiError::not_found(format!("entry {lid}:{idx} not found")));
            }
            changes.push((*idx as u32, *value));
        }
        ops.push(Op::AddPending(Pending {
            list: id.clone(),
            seq: seq.clone(),
            changes,
            due_at: now() + grace_secs(),
        }));
        touched.push(id);
    }
    repo.commit(ops).await.map_err(storage)?;
    tracing::info!(config = %target, updates = wanted.len(), lists = touched.len(), "statuses updated");
    let mut published = true;
    for id in &touched {
        if let Err(e) = publish(repo, deps, id).await {
            tracing::warn!(list = %id, error = %e, "publish after update failed; the refresh will retry");
            published = false;
        }
    }
    let mut out = json!({"updated": wanted.len()});
    if !published {
        out["published"] = json!(false);
    }
    Ok(Reply::json(200, out))
}

/// Signs and uploads the newest statuses of one list, serialized by a lease and coalesced.
/// Returns when the published version is at least the status version seen at the start, or
/// when another publisher holds the lease (it will publish what we wrote).
pub async fn publish(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list_id: &Target,
) -> Result<(), ApiError> {
    publish_inner(repo, deps, list_id, false).await
}

async fn publish_inner(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list_id: &Target,
    force: bool,
) -> Result<(), ApiError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let mut force = force;
    loop {
        let rec = repo
            .get(list_id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found(format!("{list_id} not found")))?;
        let sv = rec.doc["statusVersion"].as_i64().unwrap_or(0);
        let pv = rec.doc["publishedVersion"].as_i64().unwrap_or(-1);
        let failing = rec.doc.get("publishError").is_some_and(|e| !e.is_null());
        if rec.doc["_leaseUntil"].as_i64().unwrap_or(0) > now() {
            // The holder folds and publishes our changes too: it looks for pending changes
            // again after it releases the lease.
            return Ok(());
        }
        let waiting = !repo.pending(list_id, 1).await.map_err(storage)?.is_empty();
        if pv >= sv && !waiting && !force && !failing {
            return Ok(());
        }
        let mut leased = rec.clone();
        leased.doc["_leaseUntil"] = json!(now() + lease_secs());
        leased.doc["_leaseOwner"] = json!(owner);
        // Should we die before the release, the refresh takes over once the lease has expired.
        let retry_at = now() + grace_secs();
        let refresh_at = rec.doc["_refreshAt"].as_i64().unwrap_or(retry_at);
        leased.doc["_refreshAt"] = json!(refresh_at.min(retry_at));
        match repo
            .commit(vec![Op::Replace {
                record: leased.clone(),
                expected_version: rec.version,
                children_delta: 0,
            }])
            .await
        {
            Ok(()) => leased.version = rec.version + 1,
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
            Err(e) => return Err(storage(e)),
        }
        force = false;
        let folded = fold_pending(repo, list_id, leased).await?;
        let sv = folded.doc["statusVersion"].as_i64().unwrap_or(0);
        let outcome = sign_and_upload(repo, deps, &folded).await;
        // Record the outcome and release the lease, keeping statuses written meanwhile.
        loop {
            let cur = repo
                .get(list_id)
                .await
                .map_err(storage)?
                .ok_or_else(|| ApiError::not_found(format!("{list_id} not found")))?;
            let mut next = cur.clone();
            next.doc.as_object_mut().expect("doc").remove("_leaseUntil");
            next.doc.as_object_mut().expect("doc").remove("_leaseOwner");
            match &outcome {
                Ok((iat, exp, ttl)) => {
                    next.doc["publishedVersion"] = json!(sv);
                    next.doc["_refreshAt"] = json!(refresh_time(*iat, *exp, *ttl));
                    next.doc["publishedAt"] = json!(rfc3339(*iat));
                    next.doc["exp"] = json!(rfc3339(*exp));
                    next.doc["_exp"] = json!(exp);
                    next.doc["publishError"] = Value::Null;
                    next.doc["publishes"] = json!(cur.doc["publishes"].as_i64().unwrap_or(0) + 1);
                }
                Err(e) => {
                    next.doc["publishError"] = json!(e.message);
                    next.doc["publishErrorAt"] = json!(rfc3339(now()));
                    next.doc["_refreshAt"] = json!(now());
                }
            }
            match repo
                .commit(vec![Op::Replace {
                    record: next,
                    expected_version: cur.version,
                    children_delta: 0,
                }])
                .await
            {
                Ok(()) => break,
                Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        outcome?;
        tracing::info!(list = %list_id, version = sv, "status list published");
        // Loop: changes that arrived while we published are published now (coalesced).
    }
}

/// Pending changes folded per commit: with the list record, one `TransactWriteItems`.
const FOLD_CHUNK: usize = crate::repo::MAX_TX_ITEMS - 1;

/// Most chunks folded before a publish: under a steady stream of updates the publisher still
/// publishes every few hundred changes instead of folding for ever.
const MAX_FOLD_CHUNKS: usize = 10;

/// Folds the pending changes of a leased list into its statuses, oldest first, each chunk in one
/// atomic commit with the removal of the folded items, until it has caught up (a short chunk) or
/// folded [`MAX_FOLD_CHUNKS`] chunks; the publish loop takes the rest. Returns the list as stored.
async fn fold_pending(
    repo: &dyn Repository,
    list_id: &Target,
    mut list: Record,
) -> Result<Record, ApiError> {
    let mut config = None; // read once, when there is something to fold
    let mut chunks = 0;
    loop {
        if chunks == MAX_FOLD_CHUNKS {
            return Ok(list);
        }
        let batch = repo.pending(list_id, FOLD_CHUNK).await.map_err(storage)?;
        if batch.is_empty() {
            return Ok(list);
        }
        let caught_up = batch.len() < FOLD_CHUNK;
        let cfg_rec = match &config {
            Some(c) => c,
            None => {
                let config_id = list_id.parent().expect("lists live in a configuration");
                config.insert(load_config(repo, &config_id).await?)
            }
        };
        let mut st = ListState::load(list.clone(), &cfg_rec.doc["config"])?;
        let mut ops = Vec::with_capacity(batch.len() + 1);
        for p in &batch {
            for (idx, value) in &p.changes {
                if st.statuses.set(*idx as usize, *value).is_err() {
                    tracing::warn!(list = %list_id, index = idx, "pending change outside the list ignored");
                }
            }
            ops.push(Op::RemovePending {
                list: list_id.clone(),
                seq: p.seq.clone(),
            });
        }
        let sv = st.doc_i64("statusVersion") + batch.len() as i64;
        st.rec.doc["statusVersion"] = json!(sv);
        st.store();
        let expected = st.rec.version;
        ops.insert(
            0,
            Op::Replace {
                record: st.rec.clone(),
                expected_version: expected,
                children_delta: 0,
            },
        );
        match repo.commit(ops).await {
            Ok(()) => {
                list = st.rec;
                list.version = expected + 1;
                chunks += 1;
                if caught_up {
                    return Ok(list);
                }
            }
            // An allocation changed the list meanwhile: read it again and fold onto that.
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
                list = repo
                    .get(list_id)
                    .await
                    .map_err(storage)?
                    .ok_or_else(|| ApiError::not_found(format!("{list_id} not found")))?;
            }
            Err(e) => return Err(storage(e)),
        }
    }
}

/// Orders pending changes: microseconds since the epoch, then random bits against collisions.
fn pending_seq() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    format!("{micros:016x}{:08x}", rand::rng().random::<u32>())
}

/// When the scheduled refresh republishes a list: `ttl` plus five minutes before `exp` (so no
/// consumer ever holds an expired list), and not sooner than a minute after `iat`.
fn refresh_time(iat: i64, exp: i64, ttl: i64) -> i64 {
    (exp - ttl - 300).max(iat + 60)
}

/// What one refresh run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RefreshReport {
    pub due: usize,
    pub republished: usize,
    pub failed: usize,
    /// True when the run stopped at its time budget with lists still due (the next run goes on).
    pub more: bool,
}

/// The scheduled refresh: re-signs and republishes every list due within `lookahead` seconds
/// (expiring soon, never published, or whose last publish failed), in pages of `page`, until
/// `budget` runs out. Idempotent: a list republished here is not due again until its new `exp`
/// approaches.
pub async fn refresh(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    lookahead: i64,
    page: usize,
    budget: std::time::Duration,
) -> Result<RefreshReport, ApiError> {
    let started = std::time::Instant::now();
    let mut report = RefreshReport::default();
    let mut skip = std::collections::HashSet::new();
    loop {
        let due: Vec<Target> = repo
            .due(now() + lookahead, page + skip.len())
            .await
            .map_err(storage)?
            .into_iter()
            .filter(|id| !skip.contains(id))
            .collect();
        if due.is_empty() {
            return Ok(report);
        }
        for id in due {
            if started.elapsed() > budget {
                report.more = true;
                return Ok(report);
            }
            report.due += 1;
            match publish_inner(repo, deps, &id, true).await {
                Ok(()) => report.republished += 1,
                Err(e) if e.status == 404 => {
                    // The list was deleted: its pending changes have nothing left to change.
                    for p in repo.pending(&id, FOLD_CHUNK).await.map_err(storage)? {
                        let op = Op::RemovePending {
                            list: id.clone(),
                            seq: p.seq,
                        };
                        repo.commit(vec![op]).await.map_err(storage)?;
                    }
                    tracing::info!(list = %id, "dropped pending changes of a deleted list");
                }
                Err(e) => {
                    tracing::warn!(list = %id, error = %e, "refresh could not republish; retrying next run");
                    report.failed += 1;
                }
            }
            skip.insert(id); // each list at most once per run
            tracing::info!(
                due = report.due,
                republished = report.republished,
                failed = report.failed,
                "refresh progress"
            );
        }
    }
}

/// Builds the token for the list's current statuses, signs it with KMS, uploads it.
async fn sign_and_upload(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
    list: &Record,
) -> Result<(i64, i64, i64), ApiError> {
    let config_id = list.id.parent().expect("lists live in a configuration");
    let cfg_rec = load_config(repo, &config_id).await?;
    let service_id = config_id
        .parent()
        .expect("configurations live in a service");
    let service = status_service(repo, &service_id).await?;
    let cfg = &cfg_rec.doc["config"];
    let kid = cfg_rec.doc["kid"].as_str().unwrap_or_default();
    let key = signing_key(repo, &service_id, kid).await?;
    let signer = deps.kms.signer(&key.arn, key.public.clone());
    let st = ListState::load(list.clone(), cfg)?;
    let iat = now();
    let validity = cfg["validity"].as_u64().unwrap_or(DEFAULT_VALIDITY) as i64;
    let exp = iat + validity;
    let ttl = cfg["ttl"].as_u64().unwrap_or(DEFAULT_TTL);
    let claims = Claims {
        uri: list.doc["uri"].as_str().unwrap_or_default().to_owned(),
        iat,
        exp,
        ttl,
    };
    let fail = |e: trustfn_statuslist::StatusListError| {
        tracing::error!(error = %e, "signing the status list failed");
        ApiError::upstream("KMS")
    };
    let (body, content_type) = match (cfg["type"].as_str(), cfg["format"].as_str()) {
        (Some("TokenStatusList"), Some("CWT")) => {
            let chain = x5_chain_der(&cfg_rec)?;
            (
                token::tsl_cwt(&st.statuses, &claims, kid, &chain, signer.as_ref())
                    .await
                    .map_err(fail)?,
                token::TSL_CWT_MEDIA_TYPE,
            )
        }
        (Some("TokenStatusList"), _) => {
            let chain = x5_chain_der(&cfg_rec)?;
            let jwt = token::tsl_jwt(&st.statuses, &claims, kid, &chain, signer.as_ref())
                .await
                .map_err(fail)?;
            (jwt.into_bytes(), token::TSL_JWT_MEDIA_TYPE)
        }
        (Some(t), _) => {
            let kind = if t == "StatusList2021" {
                W3cKind::StatusList2021
            } else {
                W3cKind::BitstringStatusList
            };
            let did = cfg_rec.doc["did"].as_str().unwrap_or_default();
            let purpose = cfg["purpose"].as_str().unwrap_or("revocation");
            let jwt = token::w3c_jwt(
                &st.statuses,
                kind,
                &claims,
                did,
                purpose,
                kid,
                signer.as_ref(),
            )
            .await
            .map_err(fail)?;
            (jwt.into_bytes(), token::VC_JWT_MEDIA_TYPE)
        }
        _ => return Err(ApiError::internal()),
    };
    let registry = keys::open_registry(
        deps.secrets,
        &service_id,
        &service.doc["config"]["registry"],
    )
    .await?;
    let publisher = deps.registries.open(&registry).await.map_err(|e| {
        tracing::error!(error = %e, "opening the registry failed");
        ApiError::upstream("the status list registry")
    })?;
    let max_age = (ttl as i64).min(exp - now()).max(0);
    let cache = format!("public, max-age={max_age}");
    let object_key = list.doc["objectKey"].as_str().unwrap_or_default();
    publisher
        .put(object_key, body, content_type, &cache)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, list = %list.id, "uploading the status list failed");
            ApiError::upstream("the status list registry")
        })?;
    // The aggregation document lists every list of the configuration.
    let base = crate::registry::public_base(&registry);
    let uris: Vec<String> = cfg_rec.doc["lists"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(|id| format!("{base}/status-lists/{config_id}/{id}"))
                .collect()
        })
        .unwrap_or_default();
    let agg = json!({"status_lists": uris}).to_string().into_bytes();
    publisher
        .put(
            &format!("status-lists/{config_id}/aggregation"),
            agg,
            "application/json",
            &cache,
        )
        .await
        .map_err(|_| ApiError::upstream("the status list registry"))?;
    Ok((iat, exp, ttl as i64))
}

fn x5_chain_der(cfg_rec: &Record) -> Result<Vec<Vec<u8>>, ApiError> {
    cfg_rec.doc["x5Chain"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|p| {
                    trustfn_x509::pem::decode_one_certificate(p).map_err(|_| ApiError::internal())
                })
                .collect()
        })
        .unwrap_or(Ok(Vec::new()))
}

/// `GET .../status-credential/view`: the configuration, its lists, fill levels, publish state.
pub async fn view(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::StatusView)?;
    let cfg_rec = load_config(repo, target).await?;
    let ids: Vec<Target> = cfg_rec.doc["lists"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .filter_map(|id| target.child(id).ok())
                .collect()
        })
        .unwrap_or_default();
    let lists = repo.get_many(&ids).await.map_err(storage)?;
    let mut out = cfg_rec.to_public();
    out["lists"] = json!(lists
        .iter()
        .map(|l| {
            let d = &l.doc;
            let size = d["size"].as_u64().unwrap_or(1).max(1);
            let used = d["allocated"].as_u64().unwrap_or(0);
            json!({"listId": d["listId"], "uri": d["uri"], "size": size, "allocated": used,
                   "fill": (used as f64) / (size as f64), "statusVersion": d["statusVersion"],
                   "publishedVersion": d["publishedVersion"], "publishedAt": d["publishedAt"], "exp": d["exp"],
                   "publishes": d["publishes"], "publishError": d["publishError"]})
        })
        .collect::<Vec<_>>());
    Ok(Reply::json(200, out))
}
