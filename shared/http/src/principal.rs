//! Who is calling: the administrator token, an API key, or a single sign-on access token acting
//! in the organization the request names.

use lambda_http::http::header;
use lambda_http::RequestExt;
use trustfn_domain::audit;
use trustfn_domain::auth::Principal;
use trustfn_domain::authn;
use trustfn_domain::{ApiError, Target};

use crate::{sso, App, Request};

impl App {
    /// Authenticates the request's bearer token: the administrator token, an API key, or
    /// (when an issuer is configured) a single sign-on access token, which acts in the
    /// organization the request names (its `{target}`, else its `organization` query).
    pub async fn principal(&self, req: &Request) -> Result<Principal, ApiError> {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let sso_token = match (&self.sso, trustfn_domain::auth::bearer(header)) {
            (Some(_), Ok(t)) if trustfn_oidc::looks_like_jwt(t) => Some(t),
            _ => None,
        };
        let p = match (sso_token, &self.sso) {
            (Some(token), Some(sso)) => {
                let user = sso.verify(token).await?;
                let org = request_org(req);
                authn::user_principal(self.repo().await, user, org.as_deref()).await?
            }
            _ => authn::authenticate(self.repo().await, &self.admin, header).await?,
        };
        let (actor, org) = p.audit_actor();
        audit::context::set_caller(actor, org);
        Ok(p)
    }

    /// The configured single sign-on issuer, if any.
    pub fn sso(&self) -> Option<&sso::Sso> {
        self.sso.as_ref()
    }
}

/// The organization a request names: its `{target}`'s first part, else `?organization=`, else
/// (the audit routes) the JSON body's `target`. Only which organization's mappings are read
/// depends on it: every action is still authorized on the target it is about.
fn request_org(req: &Request) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        target: String,
    }
    let named = if let Some(t) = req.path_parameters_ref().and_then(|p| p.first("target")) {
        t.to_owned()
    } else if let Some(o) = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("organization"))
    {
        o.to_owned()
    } else {
        serde_json::from_slice::<Named>(req.body().as_ref())
            .ok()?
            .target
    };
    Target::parse(&named).ok().map(|t| t.org().to_owned())
}
