//! What the audit log knows about the request being served: its id, who is calling, and the
//! action it was authorized (or refused) for. Set by the HTTP edge and by
//! [`crate::auth::Principal::authorize`]; outside a request (the scheduled refresh) there is
//! none and trustfn itself is the actor.

use std::sync::Mutex;

use super::entry::Actor;
use crate::auth::Principal;
use crate::target::Target;

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub actor: Option<Actor>,
    /// The caller's own organization (`None` for the administrator).
    pub caller_org: Option<String>,
    /// The first action the request was authorized for, and its target: what it is about.
    pub authorized: Option<(&'static str, Target)>,
    /// The first refusal, if the request was refused.
    pub denied: Option<(&'static str, Target)>,
}

tokio::task_local! {
    static CONTEXT: Mutex<RequestContext>;
}

/// Runs `f` as one request with id `request_id`.
pub async fn scope<F: std::future::Future>(request_id: Option<String>, f: F) -> F::Output {
    let ctx = RequestContext {
        request_id,
        ..Default::default()
    };
    CONTEXT.scope(Mutex::new(ctx), f).await
}

fn with(f: impl FnOnce(&mut RequestContext)) {
    let _ = CONTEXT.try_with(|c| {
        if let Ok(mut c) = c.lock() {
            f(&mut c)
        }
    });
}

/// The request's context (none outside a request).
pub fn current() -> Option<RequestContext> {
    CONTEXT
        .try_with(|c| c.lock().ok().map(|c| c.clone()))
        .ok()
        .flatten()
}

/// Who is acting in the current request and in which request, in one short string
/// (`<API key id | admin> <request id>`): what stored changes keep for the audit entry that
/// records them later.
pub fn acting() -> Option<String> {
    let c = current()?;
    let who = match c.actor? {
        Actor::Admin => "admin".to_owned(),
        Actor::ApiKey { key_id, .. } => key_id,
        Actor::User { subject, .. } => format!("user:{subject}"),
        Actor::System => "system".to_owned(),
    };
    Some(match c.request_id {
        Some(r) => format!("{who} {r}"),
        None => who,
    })
}

impl Principal {
    /// Who the audit log records as acting, and the organization whose chain receives its
    /// refusals (none, the administrator's chain, for the administrator and for a user holding
    /// no role in the organization the request names).
    pub fn audit_actor(&self) -> (crate::audit::Actor, Option<String>) {
        match self {
            Principal::Admin => (Actor::Admin, None),
            Principal::ApiKey { key_id, .. } => (
                Actor::ApiKey {
                    key_id: key_id.to_string(),
                    roles: self.role_bindings().to_vec(),
                },
                Some(key_id.org().to_owned()),
            ),
            // A person holding no role in the organization the request names is recorded in
            // the administrator's chain: anyone the issuer knows must not be able to fill (and
            // contend for) any organization's chain with refusals.
            Principal::User {
                issuer,
                subject,
                org,
                roles,
                ..
            } => (
                Actor::User {
                    issuer: issuer.clone(),
                    subject: subject.clone(),
                    roles: roles.clone(),
                },
                org.clone().filter(|_| !roles.is_empty()),
            ),
        }
    }
}

pub fn set_caller(actor: Actor, caller_org: Option<String>) {
    with(|c| {
        c.actor = Some(actor);
        c.caller_org = caller_org;
    });
}

/// Says what the request is about when its authorization could not name it (an organization's
/// creation is authorized on `admin`; the new organization's id comes in the body): its entry
/// then goes to that organization's chain.
pub fn about(target: &Target) {
    with(|c| {
        if let Some((_, t)) = &mut c.authorized {
            *t = target.clone();
        }
    });
}

pub(crate) fn note_authorized(action: &'static str, target: &Target) {
    with(|c| {
        if c.authorized.is_none() {
            c.authorized = Some((action, target.clone()));
        }
    });
}

pub(crate) fn note_denied(action: &'static str, target: &Target) {
    with(|c| {
        if c.denied.is_none() {
            c.denied = Some((action, target.clone()));
        }
    });
}
