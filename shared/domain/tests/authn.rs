//! Authentication against a repository: roles combine, tokens are looked up only in their form.
use trustfn_domain::auth::{self, Action, Operation, Permission};
use trustfn_domain::authn::{authenticate, AdminToken};
use trustfn_domain::model::Record;
use trustfn_domain::model::Role;
use trustfn_domain::repo::Repository;
use trustfn_domain::repo::{Op, TokenRecord};
use trustfn_domain::Target;
use trustfn_testkit::MemoryRepo;

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
