//! Single sign-on: access tokens (JWT) of the one OpenID Connect issuer a deployment trusts
//! (`TRUSTFN_OIDC_ISSUER`, `TRUSTFN_OIDC_AUDIENCE`, `TRUSTFN_OIDC_ROLES_CLAIM`). The issuer's
//! key set is found through its discovery document and kept for an hour per Lambda instance;
//! a token naming a key the kept set lacks fetches it again, at most once a minute (key
//! rotation without letting unknown `kid`s hammer the issuer). Both fetches go through the
//! outbound client the registries use (no redirects, bounded time and size, internal addresses
//! refused) with one exception of its own: the issuer's origin, which the deployment chose, is
//! reachable whatever its address (a provider on the local network). The registries'
//! `TRUSTFN_ALLOWED_ENDPOINTS` is not involved, so tenants' registries never reach it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trustfn_domain::authn::SsoUser;
use trustfn_domain::endpoint::Endpoints;
use trustfn_domain::ApiError;
use trustfn_oidc::{Expected, Jwks, Rejection};

/// How long a fetched key set is used without asking again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// At least this long between two fetches for an unknown `kid`.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 30;
/// Largest discovery document or key set read.
const MAX_DOCUMENT: usize = 256 * 1024;

/// The configured issuer.
pub struct Sso {
    pub issuer: String,
    pub audience: String,
    pub roles_claim: String,
    /// The claim naming the organizations a person belongs to, when people are bound to
    /// organizations by one (`TRUSTFN_OIDC_ORGANIZATION_CLAIM`).
    pub organizations_claim: Option<String>,
    endpoints: Endpoints,
    client: std::sync::OnceLock<reqwest::Client>,
    keys: tokio::sync::Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    keys: Option<Arc<Jwks>>,
    /// The last fetch that succeeded, and the last one tried.
    succeeded: Option<Instant>,
    tried: Option<Instant>,
}

impl Sso {
    /// From the environment; `None` when no issuer is configured (API keys only). A
    /// configuration that is not one stops the function at start.
    pub fn from_env() -> Result<Option<Sso>, String> {
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(issuer) = get("TRUSTFN_OIDC_ISSUER") else {
            return Ok(None);
        };
        let audience = get("TRUSTFN_OIDC_AUDIENCE")
            .ok_or("TRUSTFN_OIDC_ISSUER is set but TRUSTFN_OIDC_AUDIENCE is not")?;
        let url =
            url::Url::parse(&issuer).map_err(|e| format!("TRUSTFN_OIDC_ISSUER {issuer:?}: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") || url.query().is_some() {
            return Err(format!(
                "TRUSTFN_OIDC_ISSUER {issuer:?}: an http(s) URL without a query"
            ));
        }
        let endpoints = Endpoints::from_setting(&url.origin().ascii_serialization())?;
        Ok(Some(Sso {
            issuer,
            audience,
            roles_claim: get("TRUSTFN_OIDC_ROLES_CLAIM").unwrap_or_else(|| "groups".to_owned()),
            organizations_claim: get("TRUSTFN_OIDC_ORGANIZATION_CLAIM"),
            endpoints,
            client: std::sync::OnceLock::new(),
            keys: tokio::sync::Mutex::new(Kept::default()),
        }))
    }

    /// Checks a token; 401 with the reason (never the token) when it is not one of the
    /// issuer's valid access tokens for this API, 503 when the issuer's keys cannot be read.
    pub async fn verify(&self, token: &str) -> Result<SsoUser, ApiError> {
        let keys = self
            .keys_for(trustfn_oidc::header_kid(token).as_deref())
            .await?;
        let expected = Expected {
            issuer: &self.issuer,
            audience: &self.audience,
            roles_claim: &self.roles_claim,
            organizations_claim: self.organizations_claim.as_deref(),
            now: chrono::Utc::now().timestamp(),
            leeway: LEEWAY_SECONDS,
        };
        match trustfn_oidc::verify(token, &keys, &expected) {
            Ok(id) => Ok(SsoUser {
                issuer: id.issuer,
                subject: id.subject,
                verified_email: id.verified_email,
                groups: id.groups,
                organizations: id.organizations,
            }),
            Err(Rejection::Expired) => Err(trustfn_domain::authn::token_expired()),
            Err(why) => Err(ApiError::unauthorized(why.to_string())),
        }
    }

    /// The kept key set, fetched when there is none, it is older than [`KEYS_TTL`], or it
    /// lacks `kid` and the last fetch is older than [`REFETCH_INTERVAL`]. When the issuer
    /// cannot be read, the kept set serves until twice [`KEYS_TTL`] after it was fetched
    /// (asked again each [`REFETCH_INTERVAL`]); without one, 503.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<Jwks>, ApiError> {
        let mut kept = self.keys.lock().await;
        let since_success = kept.succeeded.map(|t| t.elapsed());
        let since_try = kept.tried.map(|t| t.elapsed());
        let stale = since_success.is_none_or(|a| a >= KEYS_TTL);
        let missing = kid.is_some_and(|k| kept.keys.as_ref().is_some_and(|s| !s.has_kid(k)));
        let may_ask = since_try.is_none_or(|a| a >= REFETCH_INTERVAL);
        if (stale || missing) && may_ask {
            kept.tried = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(keys = keys.len(), "fetched the identity provider's keys");
                    kept.keys = Some(Arc::new(keys));
                    kept.succeeded = kept.tried;
                }
                Err(why) => tracing::error!(
                    issuer = %self.issuer,
                    error = %trustfn_registry::outbound::redact(&why),
                    "the identity provider's keys could not be read"
                ),
            }
        }
        let usable = kept.succeeded.is_some_and(|t| t.elapsed() < 2 * KEYS_TTL);
        match (&kept.keys, usable) {
            (Some(keys), true) => Ok(keys.clone()),
            _ => Err(ApiError::upstream("the identity provider")),
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client
            .get_or_init(|| trustfn_registry::outbound::http_client(&self.endpoints))
    }

    async fn get_json(&self, url: &str) -> Result<Vec<u8>, String> {
        trustfn_registry::outbound::check_endpoint(&self.endpoints, url)?;
        let mut resp = self
            .client()
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
            }
        }
        Ok(body)
    }

    /// The discovery document (its `issuer` must be ours, OpenID Connect Discovery 1.0 §4.3),
    /// then the key set at its `jwks_uri`.
    async fn fetch(&self) -> Result<Jwks, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc: serde_json::Value = serde_json::from_slice(&self.get_json(&discovery).await?)
            .map_err(|e| format!("discovery document: {e}"))?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err("the discovery document names another issuer".to_owned());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("the discovery document has no jwks_uri")?;
        Jwks::parse(&self.get_json(jwks_uri).await?)
    }
}
