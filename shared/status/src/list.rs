//! A status list record decoded: its statuses and allocation bitmap, packed and unpacked, and the
//! entry a credential embeds.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ListConfig, ListType, Record, StatusConfig, StatusList};
use trustfn_statuslist::bits::{BitOrder, StatusArray};
use trustfn_statuslist::codec;

use crate::now;

/// A list record with its statuses and allocation bitmap unpacked.
pub(crate) struct ListState {
    pub(crate) rec: Record<StatusList>,
    pub(crate) statuses: StatusArray,
    pub(crate) allocated: StatusArray,
}

pub(crate) fn pack(a: &StatusArray) -> String {
    B64.encode(codec::zlib(a.bytes()))
}

/// Unpacks a packed array of `list`; what does not decode is a logged 500 naming the list.
fn unpack(
    list: &str,
    what: &str,
    packed: &str,
    bits: u8,
    order: BitOrder,
) -> Result<StatusArray, ApiError> {
    let corrupt = |e: &dyn std::fmt::Display| {
        ApiError::internal_msg(format!("status list {list}: {what} do not decode: {e}"))
    };
    let raw = B64.decode(packed).map_err(|e| corrupt(&e))?;
    let bytes = codec::unzlib(&raw).map_err(|e| corrupt(&e))?;
    StatusArray::from_bytes(bits, bytes, order).map_err(|e| corrupt(&e))
}

pub(crate) fn order_of(config: &ListConfig) -> BitOrder {
    match config.list_type {
        ListType::TokenStatusList | ListType::RevocationList2020 => BitOrder::LsbFirst,
        ListType::BitstringStatusList | ListType::StatusList2021 => BitOrder::MsbFirst,
    }
}

/// A list's allocation bitmap (1 bit per entry), without unpacking its statuses.
pub(crate) fn allocation_of(list: &Record<StatusList>) -> Result<StatusArray, ApiError> {
    unpack(
        list.id.as_str(),
        "allocations",
        &list.doc.allocation,
        1,
        BitOrder::LsbFirst,
    )
}

impl ListState {
    pub(crate) fn load(
        rec: Record<StatusList>,
        config: &ListConfig,
    ) -> Result<ListState, ApiError> {
        let statuses = unpack(
            rec.id.as_str(),
            "statuses",
            &rec.doc.statuses,
            config.status_size,
            order_of(config),
        )?;
        let allocated = allocation_of(&rec)?;
        Ok(ListState {
            rec,
            statuses,
            allocated,
        })
    }

    /// Packs the arrays back into the record.
    pub(crate) fn store(&mut self) {
        self.rec.doc.statuses = pack(&self.statuses);
        self.rec.doc.allocation = pack(&self.allocated);
    }
}

/// A new, empty list of `config`, served under `base_url`.
pub(crate) fn new_list(
    config: &Record<StatusConfig>,
    base_url: &str,
) -> Result<ListState, ApiError> {
    let spec = &config.doc.config;
    let size = spec.size as usize;
    let list_id = format!("l{:016x}", rand::rng().random::<u64>());
    let id = config.id.child(&list_id)?;
    let object_key = format!("status-lists/{}/{}", config.id, list_id);
    let uri = format!("{base_url}/{object_key}");
    let statuses = StatusArray::new(spec.status_size, size, order_of(spec))
        .map_err(|e| ApiError::internal(&e))?;
    let allocated =
        StatusArray::new(1, size, BitOrder::LsbFirst).map_err(|e| ApiError::internal(&e))?;
    let doc = StatusList {
        list_id,
        uri,
        object_key,
        size: spec.size,
        allocated: 0,
        status_version: 0,
        published_version: -1,
        refresh_at: now(),
        statuses: String::new(),
        allocation: String::new(),
        lease_until: None,
        lease_owner: None,
        published_at: None,
        exp: None,
        exp_unix: None,
        publish_error: None,
        publish_error_at: None,
        publishes: None,
        failures: None,
    };
    let mut st = ListState {
        rec: Record::with_doc(id, doc),
        statuses,
        allocated,
    };
    st.store();
    Ok(st)
}

/// An allocated entry: its id, list, index, and what a credential embeds to point at it.
pub(crate) fn entry_json(config: &StatusConfig, list: &StatusList, index: usize) -> Value {
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
    json!({"id": format!("{}:{index}", list.list_id), "list": list.list_id, "index": index, "uri": uri, "embed": embed})
}
