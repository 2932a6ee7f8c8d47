//! A status list record decoded: its statuses and allocation bitmap, packed and unpacked.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Kind, Record};
use trustfn_statuslist::bits::{BitOrder, StatusArray};
use trustfn_statuslist::codec;

use crate::{now, DEFAULT_SIZE};

/// A list record's state, decoded.
pub(crate) struct ListState {
    pub(crate) rec: Record,
    pub(crate) statuses: StatusArray,
    pub(crate) allocated: StatusArray,
}

pub(crate) fn pack(a: &StatusArray) -> String {
    B64.encode(codec::zlib(a.bytes()))
}

pub(crate) fn unpack(s: &str, bits: u8, order: BitOrder) -> Result<StatusArray, ApiError> {
    let raw = B64.decode(s).map_err(|e| ApiError::internal(&e))?;
    StatusArray::from_bytes(
        bits,
        codec::unzlib(&raw).map_err(|e| ApiError::internal(&e))?,
        order,
    )
    .map_err(|e| ApiError::internal(&e))
}

pub(crate) fn order_of(config: &Value) -> BitOrder {
    if config["type"] == "TokenStatusList" {
        BitOrder::LsbFirst
    } else {
        BitOrder::MsbFirst
    }
}

/// A list's allocation bitmap (1 bit per entry), without unpacking its statuses.
pub(crate) fn allocation_of(rec: &Record) -> Result<StatusArray, ApiError> {
    unpack(
        rec.doc["_allocated"].as_str().unwrap_or_default(),
        1,
        BitOrder::LsbFirst,
    )
}

impl ListState {
    pub(crate) fn load(rec: Record, config: &Value) -> Result<ListState, ApiError> {
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
    pub(crate) fn store(&mut self) {
        self.rec.doc["_statuses"] = json!(pack(&self.statuses));
        self.rec.doc["_allocated"] = json!(pack(&self.allocated));
    }
    pub(crate) fn doc_i64(&self, k: &str) -> i64 {
        self.rec.doc.get(k).and_then(Value::as_i64).unwrap_or(0)
    }
}

pub(crate) fn new_list(config_rec: &Record, base_url: &str) -> Result<ListState, ApiError> {
    let cfg = &config_rec.doc["config"];
    let size = cfg["size"].as_u64().unwrap_or(DEFAULT_SIZE) as usize;
    let bits = cfg["statusSize"].as_u64().unwrap_or(1) as u8;
    let list_id = format!("l{:016x}", rand::rng().random::<u64>());
    let id = config_rec.id.child(&list_id)?;
    let object_key = format!("status-lists/{}/{}", config_rec.id, list_id);
    let uri = format!("{base_url}/{object_key}");
    let statuses =
        StatusArray::new(bits, size, order_of(cfg)).map_err(|e| ApiError::internal(&e))?;
    let allocated =
        StatusArray::new(1, size, BitOrder::LsbFirst).map_err(|e| ApiError::internal(&e))?;
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

pub(crate) fn entry_json(config_rec: &Record, list: &ListState, index: usize) -> Value {
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
