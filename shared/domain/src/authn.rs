//! Authentication: a bearer token becomes a [`Principal`] (the administrator, or an API key with
//! the union of its roles' permissions).

use crate::auth::{self, Creator, Delegation, Principal};
use crate::error::ApiError;
use crate::model::{ApiKey, Role};
use crate::repo::Repository;
use crate::target::Target;

/// Where the administrator's token is checked against: the SHA-256 of the token, hex.
#[derive(Clone)]
pub struct AdminToken {
    hash: Option<Vec<u8>>,
}

impl AdminToken {
    /// From a plain token (local use) or its SHA-256 in hex (deployments). Neither is required;
    /// without both, only API keys authenticate.
    pub fn new(plain: Option<&str>, sha256_hex: Option<&str>) -> Result<AdminToken, String> {
        if let Some(h) = sha256_hex.filter(|h| !h.trim().is_empty()) {
            let bytes =
                hex::decode(h.trim()).map_err(|_| "admin token hash is not hex".to_owned())?;
            if bytes.len() != 32 {
                return Err("admin token hash is not a SHA-256 (64 hex digits)".to_owned());
            }
            return Ok(AdminToken { hash: Some(bytes) });
        }
        if let Some(p) = plain.filter(|p| !p.is_empty()) {
            if p.len() < 16 {
                return Err("admin token must be at least 16 characters".to_owned());
            }
            return Ok(AdminToken {
                hash: Some(hex::decode(auth::token_hash(p)).expect("hex")),
            });
        }
        Ok(AdminToken { hash: None })
    }

    fn matches(&self, token: &str) -> bool {
        let h = hex::decode(auth::token_hash(token)).expect("hex");
        self.hash
            .as_deref()
            .is_some_and(|want| auth::constant_time_eq(want, &h))
    }
}

/// Turns an `Authorization` header into a principal, or 401.
pub async fn authenticate(
    repo: &dyn Repository,
    admin: &AdminToken,
    header: Option<&str>,
) -> Result<Principal, ApiError> {
    let token = auth::bearer(header)?;
    if admin.matches(token) {
        return Ok(Principal::Admin);
    }
    if !token.starts_with(auth::TOKEN_PREFIX) || token.len() > 128 {
        return Err(ApiError::unauthorized("invalid token"));
    }
    let rec = repo
        .token(&auth::token_hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid token"))?;
    if rec
        .expires_at
        .is_some_and(|at| at <= chrono::Utc::now().timestamp())
    {
        return Err(ApiError::new(401, "ExpiredTokenException", "token expired"));
    }
    // One read for the roles and the keys that created this one.
    let bindings: Vec<(Target, Option<&str>)> = rec
        .roles
        .iter()
        .filter_map(|r| {
            let (id, uid) = match r.split_once('#') {
                Some((id, uid)) => (id, Some(uid)),
                None => (r.as_str(), None),
            };
            Target::parse(id).ok().map(|t| (t, uid))
        })
        .collect();
    let ids: Vec<Target> = bindings
        .iter()
        .map(|(t, _)| t.clone())
        .chain(rec.lineage.iter().map(|c| c.key_id.clone()))
        .collect();
    let found = repo.get_many(&ids).await?;
    let creator_alive = |c: &Creator| {
        found.iter().any(|r| {
            r.id == c.key_id
                && r.get::<ApiKey>()
                    .is_some_and(|k| k.token_hash == c.token_hash)
        })
    };
    if !rec.lineage.iter().all(creator_alive) {
        return Err(ApiError::unauthorized(
            "token revoked: an API key that created it was deleted",
        ));
    }
    let mut permissions = Vec::new();
    for (id, uid) in &bindings {
        let Some(role) = found
            .iter()
            .find(|r| &r.id == id)
            .and_then(|r| r.get::<Role>())
        else {
            continue;
        };
        if role.uid.as_deref() != *uid {
            tracing::warn!(key = %rec.key_id, role = %id, "role was recreated since the key got it; not applied");
            continue;
        }
        permissions.extend(role.permissions.iter().cloned());
    }
    Ok(Principal::ApiKey {
        key_id: rec.key_id,
        permissions,
        delegation: Delegation {
            token_hash: rec.hash,
            expires_at: rec.expires_at,
            lineage: rec.lineage,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Action, Operation, Permission};
    use crate::memory::MemoryRepo;
    use crate::model::Record;
    use crate::repo::{Op, TokenRecord};

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    fn role(id: &str, perms: &[(&str, &str, Operation)]) -> Op {
        let permissions = perms
            .iter()
            .map(|(target, action, operation)| Permission {
                target: target.to_string(),
                action: action.to_string(),
                operation: *operation,
            })
            .collect();
        Op::Create(Record::new(
            t(id),
            Role {
                name: id.into(),
                permissions,
                uid: None,
            },
        ))
    }

    async fn key_with(repo: &MemoryRepo, token: &str, roles: &[&str], expires_at: Option<i64>) {
        repo.commit(vec![Op::AddToken(TokenRecord {
            hash: auth::token_hash(token),
            key_id: t("acme.k"),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            expires_at,
            lineage: vec![],
        })])
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_remove_in_one_role_beats_an_add_in_another_whatever_their_order() {
        let repo = MemoryRepo::new();
        repo.commit(vec![
            role("acme.grant", &[("acme", "all", Operation::Add)]),
            role(
                "acme.deny",
                &[("acme.t1.kms", "resource-delete", Operation::Remove)],
            ),
        ])
        .await
        .unwrap();
        let admin = AdminToken::new(None, None).unwrap();
        for (token, roles) in [
            ("tfk_order_a", ["acme.grant", "acme.deny"]),
            ("tfk_order_b", ["acme.deny", "acme.grant"]),
        ] {
            key_with(&repo, token, &roles, None).await;
            let header = format!("Bearer {token}");
            let p = authenticate(&repo, &admin, Some(&header)).await.unwrap();
            assert!(
                !p.allows(&t("acme.t1.kms"), Action::ResourceDelete),
                "{roles:?}"
            );
            assert!(
                p.allows(&t("acme.t1.kms"), Action::ResourceList),
                "{roles:?}"
            );
            assert!(p.allows(&t("acme.t1"), Action::ResourceDelete), "{roles:?}");
        }
    }

    #[tokio::test]
    async fn unknown_expired_and_malformed_tokens_are_refused() {
        let repo = MemoryRepo::new();
        let admin = AdminToken::new(Some("an-admin-token-of-16+"), None).unwrap();
        key_with(&repo, "tfk_expired", &[], Some(1)).await;
        let auth = |h: &'static str| authenticate(&repo, &admin, Some(h));
        assert_eq!(
            auth("Bearer tfk_expired").await.unwrap_err().id,
            "ExpiredTokenException"
        );
        assert_eq!(auth("Bearer tfk_unknown").await.unwrap_err().status, 401);
        assert_eq!(auth("Bearer not-a-key").await.unwrap_err().status, 401);
        assert!(auth("Bearer an-admin-token-of-16+")
            .await
            .unwrap()
            .is_admin());
        assert!(AdminToken::new(Some("short"), None).is_err());
    }

    #[tokio::test]
    async fn only_prefixed_tokens_of_at_most_128_characters_are_looked_up() {
        let repo = MemoryRepo::new();
        repo.commit(vec![role("acme.r", &[("acme", "all", Operation::Add)])])
            .await
            .unwrap();
        let admin = AdminToken::new(None, None).unwrap();
        let longest = format!("tfk_{}", "a".repeat(124));
        let too_long = format!("tfk_{}", "a".repeat(125));
        for token in [longest.as_str(), too_long.as_str(), "not-prefixed-token"] {
            key_with(&repo, token, &["acme.r"], None).await;
        }
        let auth = |token: &str| {
            let header = format!("Bearer {token}");
            let repo = &repo;
            let admin = &admin;
            async move { authenticate(repo, admin, Some(&header)).await }
        };
        assert!(auth(&longest).await.is_ok());
        assert_eq!(auth(&too_long).await.unwrap_err().status, 401);
        assert_eq!(auth("not-prefixed-token").await.unwrap_err().status, 401);
    }
}
