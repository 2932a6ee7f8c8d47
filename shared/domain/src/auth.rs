//! Who is calling and what they may do.
//!
//! Two kinds of principals exist: the bootstrap admin (a token configured at deploy time, allowed
//! everything) and API keys (opaque tokens of one organization, allowed what their roles grant).
//! Roles hold permissions `{target, action, operation: ADD|REMOVE}`; a permission applies to its
//! target and everything below it, `REMOVE` beats `ADD`, and the action `all` stands for every action.

use std::marker::PhantomData;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::target::Target;

/// Declares [`Action`] (every action a permission can name, with its API name) and one marker
/// type per action in [`act`], from one table.
macro_rules! actions {
    ($($name:ident => $text:literal,)*) => {
        /// Every action a permission can name. The string forms are the API's permission names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($name,)*
        }

        impl Action {
            pub const ALL: [Action; [$(Action::$name),*].len()] = [$(Action::$name),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$name => $text,)*
                }
            }
        }

        /// One marker type per action, so a use case states the action it needs in its
        /// signature (`&Authorized<'_, act::StatusUpdate>`).
        pub mod act {
            use super::{Action, Permitted, Principal, Target};

            $(
                #[doc = concat!("The `", $text, "` action.")]
                pub struct $name;
                impl Permitted for $name {
                    const NAME: &'static str = $text;
                    fn allowed(p: &Principal, target: &Target) -> bool {
                        p.allows(target, Action::$name)
                    }
                }
            )*

            /// Creating an organization: the administrator only (no permission grants it).
            pub struct OrganizationCreate;
            impl Permitted for OrganizationCreate {
                const NAME: &'static str = "organization-create";
                fn allowed(p: &Principal, _: &Target) -> bool {
                    p.is_admin()
                }
            }
        }
    };
}

actions! {
    TenantCreate => "tenant-create",
    ServiceCreate => "service-create",
    ResourceList => "resource-list",
    ResourceDelete => "resource-delete",
    ConfigurationView => "service-configuration-view",
    ConfigurationUpdate => "service-configuration-update",
    RegistryUpdate => "registry-update",
    DependencyAdd => "service-dependency-add",
    DependencyRemove => "service-dependency-remove",
    DependencyList => "service-dependency-list",
    ApiKeyCreate => "apikey-create",
    ApiKeyList => "apikey-list",
    ApiKeyDelete => "apikey-delete",
    RoleCreate => "role-create",
    RoleList => "role-list",
    RoleAssign => "apikey-role-assign",
    RoleMappingUpdate => "role-external-mapping-update",
    KeyGenerate => "kms-key-generate",
    KeyImport => "kms-key-import",
    KeyList => "kms-key-list",
    KeyView => "kms-key-view",
    KeyDelete => "kms-key-delete",
    KeyUse => "kms-key-use",
    IacaIssue => "x509-iaca-issue",
    DocumentSignerIssue => "x509-document-signer-issue",
    StatusListSignerIssue => "x509-status-list-signer-issue",
    VicalSignerIssue => "x509-vical-signer-issue",
    CsrCreate => "x509-csr-create",
    CertificateRevoke => "x509-certificate-revoke",
    IssuedList => "x509-issued-certificate-list",
    CrlView => "x509-crl-view",
    CertificateAdd => "x509-store-certificate-add",
    CertificateView => "x509-store-certificate-view",
    CertificateUpdate => "x509-store-certificate-update",
    CertificateDelete => "x509-store-certificate-delete",
    StatusConfigCreate => "credential-status-config-create",
    StatusEntryAllocate => "credential-status-entry-allocate",
    StatusUpdate => "credential-status-update",
    StatusView => "credential-status-view",
    AuditView => "view-audit-log",
    VicalPublish => "vical-publish",
    VicalVersionList => "vical-version-list",
    DefaultRequestsUpdate => "update-default-requests",
}

/// The action of a kind's own list or view route, which the generic `resources/list` also needs
/// to show a resource of that kind (a role that REMOVEs `kms-key-list` hides keys there too).
pub fn view_action(kind: crate::model::Kind) -> Option<Action> {
    use crate::model::Kind;
    match kind {
        Kind::Key => Some(Action::KeyList),
        Kind::Certificate => Some(Action::CertificateView),
        Kind::Issued => Some(Action::IssuedList),
        Kind::ApiKey => Some(Action::ApiKeyList),
        Kind::Role => Some(Action::RoleList),
        Kind::StatusConfig | Kind::StatusList => Some(Action::StatusView),
        Kind::VicalVersion => Some(Action::VicalVersionList),
        Kind::Organization | Kind::Tenant | Kind::Service => None,
    }
}

/// The action of a kind's own delete route, which the generic `resources/delete` also needs
/// for a resource of that kind.
pub fn delete_action(kind: crate::model::Kind) -> Option<Action> {
    use crate::model::Kind;
    match kind {
        Kind::Key => Some(Action::KeyDelete),
        Kind::Certificate => Some(Action::CertificateDelete),
        Kind::ApiKey => Some(Action::ApiKeyDelete),
        _ => None,
    }
}

/// Every action [`delete_action`] can name.
pub const KIND_DELETE_ACTIONS: [Action; 3] = [
    Action::KeyDelete,
    Action::CertificateDelete,
    Action::ApiKeyDelete,
];

/// The wildcard action.
pub const ACTION_ALL: &str = "all";

/// walt.id permission names that mean one of our actions (documented in the README); a role
/// created with one stores and shows our name.
pub const WALTID_ALIASES: &[(&str, Action)] = &[
    ("list-keys", Action::KeyList),
    ("create-apikey", Action::ApiKeyCreate),
];

/// Validates a permission's action name (case-insensitive for `all`, as walt.id accepts `ALL`)
/// and returns our name for it (a walt.id alias becomes the action it means).
pub fn parse_action_name(s: &str) -> Result<String, ApiError> {
    if s.eq_ignore_ascii_case(ACTION_ALL) {
        return Ok(ACTION_ALL.to_owned());
    }
    if Action::ALL.iter().any(|a| a.as_str() == s) {
        return Ok(s.to_owned());
    }
    if let Some((_, a)) = WALTID_ALIASES.iter().find(|(alias, _)| *alias == s) {
        return Ok(a.as_str().to_owned());
    }
    Err(ApiError::validation(format!(
        "unknown action {s:?}; known actions: all, {}",
        Action::ALL.map(|a| a.as_str()).join(", ")
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    pub target: String,
    pub action: String,
    pub operation: Operation,
}

/// Whether `rules` allow `action` on `target`: some ADD covers it and no REMOVE does (a rule
/// covers its target and everything below it; `all` covers every action).
fn rules_allow(rules: &[Permission], target: &Target, action: Action) -> bool {
    let mut granted = false;
    for p in rules {
        let applies = (p.action == ACTION_ALL || p.action == action.as_str())
            && Target::parse(&p.target).is_ok_and(|scope| target.is_within(&scope));
        if applies {
            match p.operation {
                Operation::Remove => return false,
                Operation::Add => granted = true,
            }
        }
    }
    granted
}

/// Keys created by an API key hold at most what it holds and live at most as long: a new key's
/// lineage is its creator's plus the creator, each bound by token hash, and it stops working as
/// soon as any of them is deleted.
pub const MAX_LINEAGE: usize = 8;

/// An API key that created another one: its id and the hash of its token (an id can be reused
/// after a delete, a token never).
#[derive(Debug, Clone, PartialEq)]
pub struct Creator {
    pub key_id: Target,
    pub token_hash: String,
}

/// Where an authenticated API key stands in the chain of keys that created it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delegation {
    /// The SHA-256 of the key's own token.
    pub token_hash: String,
    /// Unix seconds when the key stops working; `None` never.
    pub expires_at: Option<i64>,
    /// The keys that created it, the first one created by the administrator.
    pub lineage: Vec<Creator>,
    /// The roles it holds in force (`<role>#<uid>`), for the audit log.
    pub roles: Vec<String>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The bootstrap administrator.
    Admin,
    /// An API key of one organization with the union of its roles' permissions.
    ApiKey {
        key_id: Target,
        permissions: Vec<Permission>,
        delegation: Delegation,
    },
    /// A person signed in with the configured OpenID Connect issuer, acting in one
    /// organization (the one the request names) with the roles that organization's mapping
    /// gives the token's roles claim.
    User {
        issuer: String,
        subject: String,
        /// The organization the request names, `None` when it names none (then nothing is
        /// allowed).
        org: Option<String>,
        permissions: Vec<Permission>,
        /// The roles in force (`<role>#<uid>`), for the audit log.
        roles: Vec<String>,
    },
}

impl Principal {
    /// Whether the principal may perform `action` on `target`.
    pub fn allows(&self, target: &Target, action: Action) -> bool {
        match self {
            Principal::Admin => true,
            Principal::ApiKey {
                key_id,
                permissions,
                ..
            } => target.org() == key_id.org() && rules_allow(permissions, target, action),
            Principal::User {
                org, permissions, ..
            } => org.as_deref() == Some(target.org()) && rules_allow(permissions, target, action),
        }
    }

    /// The rules an API key or a user holds (`None` for the administrator, who holds all).
    fn rules(&self) -> Option<&[Permission]> {
        match self {
            Principal::Admin => None,
            Principal::ApiKey { permissions, .. } | Principal::User { permissions, .. } => {
                Some(permissions)
            }
        }
    }

    /// API keys are created and given roles, and roles mapped to the identity provider's
    /// groups, by the administrator or by API keys only: what a key gives lasts while the keys
    /// that gave it are alive, and a signed-in user is no key that can be deleted (losing a
    /// group at the identity provider would not take back what the user gave). 403 for users.
    pub fn can_delegate(&self) -> Result<(), ApiError> {
        match self {
            Principal::User { .. } => Err(ApiError::forbidden(
                "not permitted: single sign-on users cannot create API keys, change their roles \
                 or map roles to the identity provider's groups; use an API key (or the \
                 administrator token)",
            )),
            _ => Ok(()),
        }
    }

    /// Whether every right `grants` give (their ADDs less their REMOVEs, over whole subtrees) is
    /// one this principal holds, its own REMOVEs included: delegated rights never exceed the
    /// delegator's. Rights only change at the targets of rules, so it suffices to compare at
    /// the targets of the grants' ADDs and of this principal's REMOVEs, for every action.
    pub fn implies(&self, grants: &[Permission]) -> bool {
        let Some(permissions) = self.rules() else {
            return true;
        };
        let points: Vec<Target> = grants
            .iter()
            .filter(|g| g.operation == Operation::Add)
            .chain(
                permissions
                    .iter()
                    .filter(|p| p.operation == Operation::Remove),
            )
            .filter_map(|p| Target::parse(&p.target).ok())
            .collect();
        points.iter().all(|t| {
            Action::ALL
                .iter()
                .all(|a| !rules_allow(grants, t, *a) || self.allows(t, *a))
        })
    }

    /// The proof that this principal may perform `A` on `target`, or 403. The message names the
    /// action, never whether the target exists. Use cases take the proof instead of a principal,
    /// so an operation cannot run unauthorized or be authorized for another action.
    pub fn authorize<A: Permitted>(&self, target: &Target) -> Result<Authorized<'_, A>, ApiError> {
        if A::allowed(self, target) {
            crate::audit::context::note_authorized(A::NAME, target);
            Ok(Authorized {
                principal: self,
                target: target.clone(),
                action: PhantomData,
            })
        } else {
            crate::audit::context::note_denied(A::NAME, target);
            Err(ApiError::forbidden(format!(
                "not permitted: {} on {}",
                A::NAME,
                target
            )))
        }
    }

    /// [`Principal::authorize`] for an action known only at run time (a default request's
    /// operation): `Ok` or the same 403.
    pub fn require(&self, target: &Target, action: Action) -> Result<(), ApiError> {
        if self.allows(target, action) {
            crate::audit::context::note_authorized(action.as_str(), target);
            Ok(())
        } else {
            crate::audit::context::note_denied(action.as_str(), target);
            Err(ApiError::forbidden(format!(
                "not permitted: {} on {}",
                action.as_str(),
                target
            )))
        }
    }

    /// The expiry and lineage of a key this principal creates: never later than the
    /// principal's own expiry (the requested one, or the principal's when none is asked), and
    /// at most [`MAX_LINEAGE`] keys deep.
    pub fn delegate(
        &self,
        requested_expiry: Option<i64>,
    ) -> Result<(Option<i64>, Vec<Creator>), ApiError> {
        self.can_delegate()?;
        let Principal::ApiKey { delegation, .. } = self else {
            return Ok((requested_expiry, Vec::new()));
        };
        if delegation.lineage.len() >= MAX_LINEAGE {
            return Err(ApiError::validation(format!(
                "this key was created by a chain of {} keys; keys may be delegated at most {MAX_LINEAGE} deep",
                delegation.lineage.len()
            )));
        }
        let expires_at = match (requested_expiry, delegation.expires_at) {
            (Some(r), Some(own)) => Some(r.min(own)),
            (r, own) => r.or(own),
        };
        Ok((expires_at, self.chain()))
    }

    /// The keys this principal acts through: the keys that created it, then itself (none for
    /// the administrator). What it gives lasts only while all of them are alive.
    pub fn chain(&self) -> Vec<Creator> {
        match self {
            Principal::Admin | Principal::User { .. } => Vec::new(),
            Principal::ApiKey {
                key_id, delegation, ..
            } => {
                let mut chain = delegation.lineage.clone();
                chain.push(Creator {
                    key_id: key_id.clone(),
                    token_hash: delegation.token_hash.clone(),
                });
                chain
            }
        }
    }

    /// The role bindings in force (none for the administrator).
    pub fn role_bindings(&self) -> &[String] {
        match self {
            Principal::Admin => &[],
            Principal::ApiKey { delegation, .. } => &delegation.roles,
            Principal::User { roles, .. } => roles,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin)
    }

    /// A short, secret-free description for logs.
    pub fn describe(&self) -> String {
        match self {
            Principal::Admin => "admin".to_owned(),
            Principal::ApiKey { key_id, .. } => format!("api-key:{key_id}"),
            Principal::User { subject, .. } => format!("user:{subject}"),
        }
    }
}

/// What an action marker of [`act`] permits: the type parameter of [`Authorized`].
pub trait Permitted {
    /// The permission name, for messages.
    const NAME: &'static str;
    fn allowed(p: &Principal, target: &Target) -> bool;
}

/// Proof that `principal` may perform `A` on `target`. Only [`Principal::authorize`] makes one.
pub struct Authorized<'a, A> {
    principal: &'a Principal,
    target: Target,
    action: PhantomData<A>,
}

impl<'a, A> Authorized<'a, A> {
    /// The target the action was authorized on.
    pub fn target(&self) -> &Target {
        &self.target
    }
    /// Who was authorized: for resources a request names besides its target, which need
    /// their own proof.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }
}

/// Prefix of every API-key token, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "tfk_";

/// A role's identity for the keys that hold it (16 random bytes, hex): a role deleted and
/// created again under the same id gets a new one, so existing keys do not gain its rights.
pub fn new_role_uid() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new random API-key token: the prefix and 32 random bytes, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The lowercase hex SHA-256 of a token: what is stored and compared.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Extracts the token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, ApiError> {
    let value = header.ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("Authorization header must be 'Bearer <token>'"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "Authorization header must be 'Bearer <token>'",
        ));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(perms: &[(&str, &str, Operation)]) -> Principal {
        Principal::ApiKey {
            key_id: Target::parse("acme.k1").unwrap(),
            permissions: perms
                .iter()
                .map(|(t, a, o)| Permission {
                    target: t.to_string(),
                    action: a.to_string(),
                    operation: *o,
                })
                .collect(),
            delegation: Delegation::default(),
        }
    }
    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[test]
    fn grants_propagate_down_not_up_or_sideways() {
        let p = key(&[("acme.t1", "resource-list", Operation::Add)]);
        assert!(p.allows(&t("acme.t1"), Action::ResourceList));
        assert!(p.allows(&t("acme.t1.kms.k"), Action::ResourceList));
        assert!(!p.allows(&t("acme"), Action::ResourceList));
        assert!(!p.allows(&t("acme.t2"), Action::ResourceList));
        assert!(!p.allows(&t("acme.t10"), Action::ResourceList));
        assert!(!p.allows(&t("acme.t1"), Action::ResourceDelete));
    }

    #[test]
    fn a_remove_listed_before_the_add_it_overrides_still_wins() {
        let p = key(&[
            ("acme.t1.secret", "resource-delete", Operation::Remove),
            ("acme", "all", Operation::Add),
        ]);
        assert!(!p.allows(&t("acme.t1.secret"), Action::ResourceDelete));
        assert!(!p.allows(&t("acme.t1.secret.k"), Action::ResourceDelete));
        assert!(p.allows(&t("acme.t1.secret"), Action::ResourceList));
        assert!(p.allows(&t("acme.t1"), Action::ResourceDelete));
        let all_removed = key(&[
            ("acme.t1", "all", Operation::Remove),
            ("acme.t1", "resource-list", Operation::Add),
        ]);
        assert!(!all_removed.allows(&t("acme.t1"), Action::ResourceList));
    }

    #[test]
    fn proofs_carry_their_target_and_are_refused_with_403() {
        let p = key(&[("acme.t1", "kms-key-view", Operation::Add)]);
        let proof = p.authorize::<act::KeyView>(&t("acme.t1.kms.k")).unwrap();
        assert_eq!(proof.target(), &t("acme.t1.kms.k"));
        let e = p
            .authorize::<act::KeyDelete>(&t("acme.t1.kms.k"))
            .err()
            .unwrap();
        assert_eq!(e.status, 403);
        assert!(e.message.contains("kms-key-delete"), "{}", e.message);
        assert!(p.authorize::<act::OrganizationCreate>(&t("x")).is_err());
        assert!(Principal::Admin
            .authorize::<act::OrganizationCreate>(&t("x"))
            .is_ok());
    }

    #[test]
    fn remove_beats_add_and_all_is_wildcard() {
        let p = key(&[
            ("acme", "all", Operation::Add),
            ("acme.t1.secret", "resource-delete", Operation::Remove),
        ]);
        assert!(p.allows(&t("acme.t1.secret"), Action::ResourceList));
        assert!(!p.allows(&t("acme.t1.secret.x"), Action::ResourceDelete));
        assert!(p.allows(&t("acme.t1"), Action::ResourceDelete));
        let deny_all = key(&[
            ("acme", "all", Operation::Add),
            ("acme.t1", "all", Operation::Remove),
        ]);
        assert!(!deny_all.allows(&t("acme.t1"), Action::TenantCreate));
    }

    #[test]
    fn delegated_rights_are_compared_as_effective_rights_not_scopes() {
        let p = key(&[
            ("acme", "all", Operation::Add),
            ("acme.reg", "all", Operation::Remove),
        ]);
        let grant = |rules: &[(&str, &str, Operation)]| -> Vec<Permission> {
            rules
                .iter()
                .map(|(t, a, o)| Permission {
                    target: t.to_string(),
                    action: a.to_string(),
                    operation: *o,
                })
                .collect()
        };
        // `all` on acme reaches into acme.reg, which the delegator may not touch.
        assert!(!p.implies(&grant(&[("acme", "all", Operation::Add)])));
        assert!(!p.implies(&grant(&[("acme.reg.x", "resource-list", Operation::Add)])));
        // The same grant with the delegator's REMOVE repeated is within its rights.
        assert!(p.implies(&grant(&[
            ("acme", "all", Operation::Add),
            ("acme.reg", "all", Operation::Remove),
        ])));
        assert!(p.implies(&grant(&[("acme.t1", "all", Operation::Add)])));
        assert!(!p.implies(&grant(&[("other", "resource-list", Operation::Add)])));
        let narrow = key(&[("acme.t1", "resource-list", Operation::Add)]);
        assert!(!narrow.implies(&grant(&[("acme.t1", "all", Operation::Add)])));
        assert!(narrow.implies(&grant(&[("acme.t1.kms", "resource-list", Operation::Add)])));
        assert!(Principal::Admin.implies(&grant(&[("any", "all", Operation::Add)])));
    }

    #[test]
    fn keys_never_reach_other_orgs() {
        let p = key(&[("other", "all", Operation::Add)]);
        assert!(!p.allows(&t("other.t1"), Action::ResourceList));
        assert!(Principal::Admin.allows(&t("other.t1"), Action::ResourceList));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_ne!(a, new_token());
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn compares_in_constant_time_and_correctly() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(
            !constant_time_eq(b"ab", b"ba"),
            "differences must not cancel out"
        );
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(Some("bearer  abc ")).unwrap(), "abc");
        for bad in [
            None,
            Some(""),
            Some("Basic abc"),
            Some("Bearer"),
            Some("Bearer   "),
        ] {
            assert_eq!(bearer(bad).unwrap_err().status, 401);
        }
    }

    #[test]
    fn validates_action_names() {
        assert_eq!(parse_action_name("ALL").unwrap(), "all");
        assert!(parse_action_name("resource-list").is_ok());
        assert_eq!(parse_action_name("rm-rf").unwrap_err().status, 400);
        assert_eq!(parse_action_name("list-keys").unwrap(), "kms-key-list");
        assert_eq!(parse_action_name("create-apikey").unwrap(), "apikey-create");
        assert_eq!(
            parse_action_name("issuer-credential-issue")
                .unwrap_err()
                .status,
            400
        );
    }
}
