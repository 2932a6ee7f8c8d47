//! The one error type every endpoint answers with, in the walt.id error shape:
//! `{"exception": true, "id": "<StableName>", "status": "<reason phrase>", "code": "<status>", "message": "..."}`.

use serde::Serialize;
use std::fmt;

/// An error that becomes an HTTP answer. `id` is a stable machine-readable name; `message` is for
/// humans and never carries secrets or upstream internals. `cause` keeps what went wrong below
/// (a storage, KMS or parser error and its chain) for the log line the answer is written with
/// (`trustfn_http::respond`): an error is logged once, there, and only if it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub id: &'static str,
    pub message: String,
    pub cause: Option<String>,
}

/// The JSON body of an error answer.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub exception: bool,
    pub id: &'a str,
    pub status: &'a str,
    pub code: String,
    pub message: &'a str,
}

impl ApiError {
    pub fn new(status: u16, id: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            id,
            message: message.into(),
            cause: None,
        }
    }
    /// The same answer, keeping `cause` (never shown to the client, logged with the answer; it
    /// must not carry a secret).
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }
    pub fn bad_request(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, id, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "IllegalArgumentException", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "UnauthorizedException", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "ForbiddenException", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NotFoundException", message)
    }
    pub fn duplicate(target: &str) -> Self {
        Self::new(
            409,
            "DuplicateTarget",
            format!(
                "Duplicate target for this operation - {target} already exists. The old resource at the target must be removed first."
            ),
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "ConflictException", message)
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "PayloadTooLargeException",
            format!("request body is larger than {limit} bytes"),
        )
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaTypeException", message)
    }
    /// An upstream (storage, KMS, ...) failure. The detail is logged by the caller, never returned.
    pub fn upstream(what: &str) -> Self {
        Self::new(
            503,
            "UpstreamUnavailableException",
            format!("{what} is unavailable, try again later"),
        )
    }
    /// An internal failure: the client sees an opaque 500, the answer's log line keeps `cause`
    /// and its chain (the request id comes with the Lambda runtime's span). `cause` must not
    /// carry a secret.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(500, "InternalServerError", "internal error").with_cause(error_chain(cause))
    }

    /// [`ApiError::internal`] for a cause that is only a message.
    pub fn internal_msg(cause: impl fmt::Display) -> Self {
        Self::new(500, "InternalServerError", "internal error").with_cause(cause)
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            exception: true,
            id: self.id,
            status: reason_phrase(self.status),
            code: self.status.to_string(),
            message: &self.message,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            r#"{"exception":true,"id":"InternalServerError","status":"Internal Server Error","code":"500","message":"internal error"}"#.to_owned()
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.id, self.message)?;
        match &self.cause {
            Some(cause) => write!(f, " ({cause})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

/// An error and every cause under it, on one line: `outer: inner: innermost`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// The HTTP reason phrase of the status codes trustfn answers with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_waltid_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&ApiError::duplicate("a.b").to_json()).unwrap();
        assert_eq!(v["exception"], true);
        assert_eq!(v["id"], "DuplicateTarget");
        assert_eq!(v["status"], "Conflict");
        assert_eq!(v["code"], "409");
        assert!(v["message"].as_str().unwrap().contains("a.b"));
    }

    #[test]
    fn internal_errors_hide_their_cause_from_the_client() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(error_chain(&e), "outer: disk on fire");
        let api = ApiError::internal(&e);
        assert_eq!((api.status, api.message.as_str()), (500, "internal error"));
        assert!(!api.to_json().contains("disk"));
        assert_eq!(
            api.cause.as_deref(),
            Some("outer: disk on fire"),
            "kept for the log"
        );
    }
}
