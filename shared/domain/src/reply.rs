//! What a use case answers: a status, an optional JSON body and extra headers; and the page
//! parameters of list endpoints.

use serde_json::Value;

use crate::error::ApiError;

/// Default and largest page size of list endpoints.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

/// A successful answer: status, optional JSON body, extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }
}

/// Page parameters of list endpoints.
#[derive(Debug, Clone, Default)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
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
