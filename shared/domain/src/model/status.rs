//! Documents of the Credential Status service: a status credential configuration and its lists.

use super::publish::{lease_of, rfc3339, unix_opt, PublishState};
use crate::secret::Sealed;
use crate::target::Target;
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

/// Where the credentials of a configuration point for their list: the registry object (a
/// CDN-friendly static file, the default) or trustfn's public status list endpoint (history with
/// `?time=`, content negotiation and ETags, one function call per fetch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriMode {
    #[default]
    Registry,
    Api,
}

impl UriMode {
    pub fn is_registry(&self) -> bool {
        *self == UriMode::Registry
    }
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
    #[serde(default, skip_serializing_if = "UriMode::is_registry")]
    pub uri_mode: UriMode,
    /// With `uriMode: api`: the API's public base URL the lists' URIs start with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
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

/// A status list's id: one path segment under its configuration (`l` and 16 hex digits for the
/// lists trustfn opens), checked where it arrives (a stored record, an entry id in a request).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ListId(String);

impl ListId {
    pub fn parse(text: &str) -> Result<ListId, String> {
        match Target::parse(text) {
            Ok(t) if t.depth() == 1 => Ok(ListId(text.to_owned())),
            _ => Err(format!(
                "{text:?} is not a status list id (one path segment)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ListId {
    type Error = String;
    fn try_from(s: String) -> Result<ListId, String> {
        ListId::parse(&s)
    }
}

impl From<ListId> for String {
    fn from(l: ListId) -> String {
        l.0
    }
}

impl std::fmt::Display for ListId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A status credential configuration: the signing key, the list specification, and its lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusConfig {
    /// The signing key's path (a key of a kms service attached to the status service).
    pub kid: Target,
    pub config: ListConfig,
    /// Ids of the configuration's lists, oldest first.
    #[serde(default)]
    pub lists: Vec<ListId>,
    /// The list new entries are allocated from.
    pub current_list: Option<ListId>,
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
#[serde(try_from = "StoredStatusList", into = "StoredStatusList")]
pub struct StatusList {
    pub list_id: ListId,
    pub uri: String,
    pub object_key: String,
    pub size: u64,
    /// Entries handed out, for lists written before allocation counters; a list with a
    /// `perm_key` counts its allocations in its own counter item instead.
    pub allocated: u64,
    /// The sealed key of the permutation that maps the list's allocation counter to indices
    /// (see `trustfn_statuslist::permutation`). Lists written before it take no new entries.
    pub perm_key: Option<Sealed>,
    /// Lists written before statuses moved to chunk items: the statuses, zlib, base64. Moved
    /// into chunks (and cleared) by the list's next publisher.
    pub statuses: Option<String>,
    /// Lists written before allocation counters: the allocation bitmap (1 bit per entry),
    /// zlib, base64. Kept (it no longer changes) to tell which entries exist.
    pub allocation: Option<String>,
    /// Publishing: `revision` is the status version (bumped by every change folded into the
    /// statuses), `expires_at` the published token's `exp`.
    pub publish: PublishState,
}

/// A status list as stored (the field names lists always had).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredStatusList {
    list_id: ListId,
    uri: String,
    object_key: String,
    size: u64,
    #[serde(default)]
    allocated: u64,
    status_version: i64,
    published_version: i64,
    #[serde(rename = "_refreshAt")]
    refresh_at: i64,
    #[serde(rename = "_permKey", default, skip_serializing_if = "Option::is_none")]
    perm_key: Option<Sealed>,
    #[serde(rename = "_statuses", default, skip_serializing_if = "Option::is_none")]
    statuses: Option<String>,
    #[serde(
        rename = "_allocated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    allocation: Option<String>,
    #[serde(
        rename = "_leaseUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    lease_until: Option<i64>,
    #[serde(
        rename = "_leaseOwner",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    lease_owner: Option<String>,
    #[serde(rename = "_leasedAt", default, skip_serializing_if = "Option::is_none")]
    leased_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published_at: Option<String>,
    /// The published token's `exp`, RFC 3339 and Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<String>,
    #[serde(rename = "_exp", default, skip_serializing_if = "Option::is_none")]
    exp_unix: Option<i64>,
    /// The last publish's error: absent before any publish, `null` after a successful one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_null"
    )]
    publish_error: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    publish_error_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    publishes: Option<i64>,
    #[serde(
        rename = "_objectVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    object_version: Option<String>,
    #[serde(rename = "_failures", default, skip_serializing_if = "Option::is_none")]
    failures: Option<u32>,
    #[serde(
        rename = "_knownThrough",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    known_through: Option<i64>,
}

impl TryFrom<StoredStatusList> for StatusList {
    type Error = String;
    fn try_from(s: StoredStatusList) -> Result<StatusList, String> {
        let expires_at = match s.exp_unix {
            Some(t) => Some(t),
            None => unix_opt("exp", s.exp.as_deref())?,
        };
        let publish = PublishState {
            revision: s.status_version,
            published_revision: s.published_version,
            number: None,
            published_number: None,
            lease: lease_of(s.lease_owner, s.lease_until, s.leased_at),
            issued_at: unix_opt("publishedAt", s.published_at.as_deref())?,
            expires_at,
            refresh_at: Some(s.refresh_at),
            object_version: s.object_version,
            failures: s.failures.unwrap_or(0),
            last_error: s.publish_error.flatten(),
            last_error_at: unix_opt("publishErrorAt", s.publish_error_at.as_deref())?,
            publishes: s.publishes.unwrap_or(0).max(0) as u64,
            known_through: s.known_through,
        };
        Ok(StatusList {
            list_id: s.list_id,
            uri: s.uri,
            object_key: s.object_key,
            size: s.size,
            allocated: s.allocated,
            perm_key: s.perm_key,
            statuses: s.statuses,
            allocation: s.allocation,
            publish,
        })
    }
}

impl From<StatusList> for StoredStatusList {
    fn from(l: StatusList) -> StoredStatusList {
        let p = l.publish;
        let tried = p.published_revision >= 0 || p.publishes > 0;
        StoredStatusList {
            list_id: l.list_id,
            uri: l.uri,
            object_key: l.object_key,
            size: l.size,
            allocated: l.allocated,
            status_version: p.revision,
            published_version: p.published_revision,
            // A list is always in the refresh index.
            refresh_at: p.refresh_at.unwrap_or(0),
            perm_key: l.perm_key,
            statuses: l.statuses,
            allocation: l.allocation,
            lease_until: p.lease.as_ref().map(|l| l.until),
            leased_at: p.lease.as_ref().map(|l| l.since),
            lease_owner: p.lease.map(|l| l.owner),
            published_at: p.issued_at.map(rfc3339),
            exp: p.expires_at.map(rfc3339),
            exp_unix: p.expires_at,
            publish_error: match p.last_error {
                Some(e) => Some(Some(e)),
                None if tried => Some(None),
                None => None,
            },
            publish_error_at: p.last_error_at.map(rfc3339),
            publishes: (p.publishes > 0).then_some(p.publishes as i64),
            object_version: p.object_version,
            failures: (p.failures > 0).then_some(p.failures),
            known_through: p.known_through,
        }
    }
}

impl StatusList {
    /// Whether the last publish failed.
    pub fn failing(&self) -> bool {
        self.publish.failing()
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
