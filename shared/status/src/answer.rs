//! The answers of the status routes, as types: `status/update`, `entries`, `view` (docs/API.md,
//! infra/openapi.yaml).

use serde::Serialize;
use serde_json::{Map, Value};
use trustfn_domain::model::ListId;

/// `status/update`: how many entries changed and whether the change is in the published lists.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAnswer {
    pub updated: usize,
    pub published: bool,
    /// Change sets accepted but not yet folded into the lists (counted up to 1,001).
    pub pending_changes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<String>,
}

/// One allocated entry: its id, list and index, and what a credential embeds to point at it.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// `<listId>:<index>`.
    pub id: String,
    pub list: ListId,
    pub index: u64,
    pub uri: String,
    /// The credential's status claim, in the list type's own shape.
    pub embed: Value,
}

/// `entries` (201).
#[derive(Debug, Serialize)]
pub struct EntriesAnswer {
    pub entries: Vec<Entry>,
    /// Present (false) only when the lists holding the new entries are not all published yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
}

/// One list in `view`: fill level and publish state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListView {
    pub list_id: ListId,
    pub uri: String,
    pub size: u64,
    pub allocated: u64,
    pub fill: f64,
    pub status_version: i64,
    pub published_version: i64,
    pub pending_changes: usize,
    /// Every accepted change folded and published, and the last publish succeeded.
    pub up_to_date: bool,
    pub published_at: Option<String>,
    pub exp: Option<String>,
    pub publishes: Option<u64>,
    pub publish_error: Option<String>,
    pub consecutive_failures: u32,
}

/// `view`: the configuration's public document and its lists.
#[derive(Debug, Serialize)]
pub struct ConfigView {
    #[serde(flatten)]
    pub config: Map<String, Value>,
    pub lists: Vec<ListView>,
}
