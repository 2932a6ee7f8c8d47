//! What a use case answers: a status, an optional JSON body and extra headers; and the page
//! parameters of list endpoints.

use serde_json::Value;

use crate::error::ApiError;

/// Default and largest page size of list endpoints.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

/// A successful answer: status, optional JSON body (or a text body of its own media type),
/// extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    /// A body that is not JSON: its `Content-Type` and text (then `body` is `None`).
    pub text: Option<(&'static str, String)>,
    /// A binary body: its `Content-Type` and bytes (then `body` and `text` are `None`).
    pub binary: Option<(&'static str, Vec<u8>)>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            text: None,
            binary: None,
            headers: Vec::new(),
        }
    }
    /// An answer whose shape is a type: `body` serialized (every answer type serializes).
    pub fn typed<T: serde::Serialize>(status: u16, body: &T) -> Reply {
        Reply::json(
            status,
            serde_json::to_value(body).expect("an answer type serializes"),
        )
    }
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            text: None,
            binary: None,
            headers: Vec::new(),
        }
    }
    /// A text answer of media type `content_type`, sent as given.
    pub fn text(status: u16, content_type: &'static str, text: String) -> Reply {
        Reply {
            status,
            body: None,
            text: Some((content_type, text)),
            binary: None,
            headers: Vec::new(),
        }
    }
    /// A binary answer of media type `content_type`.
    pub fn bytes(status: u16, content_type: &'static str, bytes: Vec<u8>) -> Reply {
        Reply {
            status,
            body: None,
            text: None,
            binary: Some((content_type, bytes)),
            headers: Vec::new(),
        }
    }
}

/// Page parameters of list endpoints.
#[derive(Debug, Clone, Default)]
pub struct PageParams {
    pub limit: Option<String>,
    /// Items to skip (the Enterprise API's offset paging); not together with `cursor`.
    pub offset: Option<String>,
    pub cursor: Option<String>,
}

/// Largest `offset` accepted: skipping reads every item skipped, so deep pages use the cursor.
pub const MAX_OFFSET: usize = 10_000;

/// The `offset` of a page (0 without one).
pub fn page_offset(p: &PageParams) -> Result<usize, ApiError> {
    let offset = match &p.offset {
        None => return Ok(0),
        Some(s) => s.parse::<usize>().ok().filter(|n| *n <= MAX_OFFSET).ok_or_else(|| {
            ApiError::validation(format!(
                "offset must be an integer from 0 to {MAX_OFFSET} (use the x-next-cursor for deeper pages)"
            ))
        })?,
    };
    if p.cursor.is_some() && offset > 0 {
        return Err(ApiError::validation("give cursor or offset, not both"));
    }
    Ok(offset)
}

pub fn page_limit(p: &PageParams) -> Result<usize, ApiError> {
    match &p.limit {
        None => Ok(DEFAULT_PAGE),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(format!(
                "limit must be an integer from 1 to {MAX_PAGE}"
            ))),
        },
    }
}
