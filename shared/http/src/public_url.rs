//! The API's own public URL, for what points back at it (`uriMode: api` status lists).

use lambda_http::RequestExt;
use trustfn_domain::ApiError;

use crate::Request;

/// The API's public base URL, without a trailing slash: `TRUSTFN_PUBLIC_API_URL` (a custom
/// domain, or the local stack's address) or else `https://` and the domain API Gateway received
/// the request on (set by API Gateway, not by the client).
pub fn public_api_url(req: &Request) -> Result<String, ApiError> {
    if let Some(url) = std::env::var("TRUSTFN_PUBLIC_API_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok(url.trim().trim_end_matches('/').to_owned());
    }
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx
            .domain_name
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| format!("https://{d}")),
        _ => None,
    }
    .ok_or_else(|| ApiError::internal_msg("no public API URL: set TRUSTFN_PUBLIC_API_URL"))
}
