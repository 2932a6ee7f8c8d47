//! Documents of the Credential Status service: a status credential configuration and its lists.

use crate::secret::Sealed;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of list a configuration publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListType {
    /// IETF Token Status List (JWT or CWT), statuses LSB-first.
    TokenStatusList,
    /// W3C Bitstring Status List (VC-JWT), statuses MSB-first.
    BitstringStatusList,
    /// W3C StatusList2021 (VC-JWT), 1-bit statuses MSB-first.
    StatusList2021,
    /// W3C CCG RevocationList2020 (VC-JWT), the predecessor of StatusList2021: revocation only,
    /// 1-bit statuses, index 0 in the least significant bit of the first byte (as its reference
    /// implementations and test vectors have it).
    RevocationList2020,
}

impl ListType {
    pub fn is_w3c(self) -> bool {
        self != ListType::TokenStatusList
    }
}

/// How a list token is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListFormat {
    #[serde(rename = "JWT")]
    Jwt,
    #[serde(rename = "CWT")]
    Cwt,
}

/// The `statusPurpose` of a W3C list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Revocation,
    Suspension,
    Message,
    Refresh,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Revocation => "revocation",
            Purpose::Suspension => "suspension",
            Purpose::Message => "message",
            Purpose::Refresh => "refresh",
        }
    }
}

/// A status value, stored and shown as `0x<hex>`; `"1"` and `"0X1"` are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatusValue(pub u8);

impl StatusValue {
    /// Parses `"0x1"`, `"1"` (and `"0X1"`).
    pub fn parse(s: &str) -> Option<StatusValue> {
        let t = s.trim();
        match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) if !h.is_empty() => u8::from_str_radix(h, 16).ok(),
            Some(_) => None,
            None => t.parse().ok(),
        }
        .map(StatusValue)
    }
}

impl Serialize for StatusValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{:x}", self.0))
    }
}

impl<'de> Deserialize<'de> for StatusValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StatusValue, D::Error> {
        let s = String::deserialize(d)?;
        StatusValue::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a status value")))
    }
}

/// What a status value means, for multi-bit lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    pub status: StatusValue,
    pub message: String,
}

/// A configuration's validated list specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListConfig {
    #[serde(rename = "type")]
    pub list_type: ListType,
    pub format: ListFormat,
    /// Bits per status: 1, 2, 4 or 8.
    pub status_size: u8,
    /// Entries per list.
    pub size: u64,
    /// Seconds a consumer may cache a list.
    pub ttl: u64,
    /// Seconds a published list is valid.
    pub validity: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<StatusMessage>>,
}

impl ListConfig {
    /// The largest value a status can take.
    pub fn max_status(&self) -> u8 {
        if self.status_size >= 8 {
            u8::MAX
        } else {
            (1u8 << self.status_size) - 1
        }
    }
}

/// A status credential configuration: the signing key, the list specification, and its lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusConfig {
    /// The signing key's path (a key of a kms service attached to the status service).
    pub kid: String,
    pub config: ListConfig,
    /// Ids of the configuration's lists, oldest first.
    #[serde(default)]
    pub lists: Vec<String>,
    /// The list new entries are allocated from.
    pub current_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    #[serde(rename = "x5Chain", default, skip_serializing_if = "Option::is_none")]
    pub x5_chain: Option<Vec<String>>,
    /// The stored certificate the `x5Chain` was taken from, when it was named that way.
    #[serde(
        rename = "x5ChainFrom",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x5_chain_from: Option<String>,
}

/// One published status list of a configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusList {
    pub list_id: String,
    pub uri: String,
    pub object_key: String,
    pub size: u64,
    /// Entries handed out, for lists written before allocation counters; a list with a
    /// `_permKey` counts its allocations in its own counter item instead.
    #[serde(default)]
    pub allocated: u64,
    /// Bumped by every change folded into the statuses.
    pub status_version: i64,
    /// The status version last published; -1 before the first publish.
    pub published_version: i64,
    /// When the scheduled refresh takes the list up (Unix seconds): the refresh index's sort key.
    #[serde(rename = "_refreshAt")]
    pub refresh_at: i64,
    /// The sealed key of the permutation that maps the list's allocation counter to indices
    /// (see `trustfn_statuslist::permutation`). Lists written before it take no new entries.
    #[serde(rename = "_permKey", default, skip_serializing_if = "Option::is_none")]
    pub perm_key: Option<Sealed>,
    /// Lists written before statuses moved to chunk items: the statuses, zlib, base64. Moved
    /// into chunks (and cleared) by the list's next publisher.
    #[serde(rename = "_statuses", default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<String>,
    /// Lists written before allocation counters: the allocation bitmap (1 bit per entry),
    /// zlib, base64. Kept (it no longer changes) to tell which entries exist.
    #[serde(
        rename = "_allocated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allocation: Option<String>,
    /// The publish lease: until when (Unix seconds) and whose.
    #[serde(
        rename = "_leaseUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_until: Option<i64>,
    #[serde(
        rename = "_leaseOwner",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    /// The published token's `exp`, RFC 3339 and Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    #[serde(rename = "_exp", default, skip_serializing_if = "Option::is_none")]
    pub exp_unix: Option<i64>,
    /// The last publish's error: absent before any publish, `null` after a successful one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    pub publish_error: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_error_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishes: Option<i64>,
    /// The registry's version (ETag or generation) of the list's object as this list's last
    /// publisher stored it: the next upload expects it, so a stale upload cannot land after a
    /// newer one.
    #[serde(
        rename = "_objectVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub object_version: Option<String>,
    /// Publishes that failed in a row since the last success (the refresh backs off by it).
    #[serde(rename = "_failures", default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
}

impl StatusList {
    /// Whether the last publish failed.
    pub fn failing(&self) -> bool {
        matches!(self.publish_error, Some(Some(_)))
    }
}

/// `Option<Option<T>>` that tells an absent field (`None`) from `null` (`Some(None)`).
mod present_or_null {
    use super::*;
    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
