//! Signed-in users: what an organization's external role mappings give, and when they stop.
use trustfn_domain::auth::{Action, Creator, Operation, Permission, Principal};
use trustfn_domain::authn::{user_principal, SsoUser};
use trustfn_domain::model::{ApiKey, Organization, Profile, Record, Role, RoleMapping};
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::Target;
use trustfn_testkit::MemoryRepo;

const ISS: &str = "https://idp.example.org";

fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

fn mapping(external: &str, role: &str, uid: &str, givers: &[Creator]) -> RoleMapping {
    let mut m = RoleMapping {
        external_role: external.into(),
        role_id: role.into(),
        enabled: true,
        provider_id: None,
        conditions: None,
        role_uid: Some(uid.into()),
        given_by: vec![],
    };
    m.set_givers(givers);
    m
}

fn org(id: &str, mappings: Vec<RoleMapping>) -> Op {
    Op::Create(Record::new(
        t(id),
        Organization {
            profile: Profile {
                name: id.into(),
                extra: Default::default(),
            },
            billing: None,
            role_mappings: mappings,
        },
    ))
}

fn admin_role(id: &str, uid: &str) -> Op {
    let org = id.split('.').next().unwrap();
    Op::Create(Record::new(
        t(id),
        Role {
            name: "admin".into(),
            permissions: vec![Permission {
                target: org.into(),
                action: "all".into(),
                operation: Operation::Add,
            }],
            uid: Some(uid.into()),
        },
    ))
}

fn key(id: &str, hash: &str) -> Op {
    Op::Create(Record::new(
        t(id),
        ApiKey {
            name: id.into(),
            roles: vec![],
            token_hash: hash.into(),
            expires_at: None,
            created_by: None,
        },
    ))
}

fn user(groups: &[&str], organizations: Option<&[&str]>) -> SsoUser {
    SsoUser {
        issuer: ISS.into(),
        subject: "alice".into(),
        verified_email: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        organizations: organizations.map(|o| o.iter().map(|s| s.to_string()).collect()),
    }
}

async fn may_create_tenant(repo: &MemoryRepo, u: SsoUser, acting_in: &str, target: &str) -> bool {
    let p = user_principal(repo, u, Some(acting_in)).await.unwrap();
    p.allows(&t(target), Action::TenantCreate)
}

#[tokio::test]
async fn a_user_acts_with_the_mapped_roles_of_the_named_organization_only() {
    let repo = MemoryRepo::new();
    repo.commit(vec![
        org("acme", vec![mapping("pki", "acme.admin", "u1", &[])]),
        admin_role("acme.admin", "u1"),
        org("other", vec![]),
    ])
    .await
    .unwrap();
    assert!(may_create_tenant(&repo, user(&["pki"], None), "acme", "acme.t1").await);
    assert!(!may_create_tenant(&repo, user(&["staff"], None), "acme", "acme.t1").await);
    // Acting in one organization never reaches another, whatever the target says.
    assert!(!may_create_tenant(&repo, user(&["pki"], None), "acme", "other.t1").await);
    assert!(!may_create_tenant(&repo, user(&["pki"], None), "other", "other.t1").await);
    let p = user_principal(&repo, user(&["pki"], None), None)
        .await
        .unwrap();
    assert!(
        !p.allows(&t("acme.t1"), Action::TenantCreate),
        "a request naming no organization"
    );
    // Refusals of a person without a role in the named organization go to the administrator's chain.
    let none = user_principal(&repo, user(&["staff"], None), Some("acme"))
        .await
        .unwrap();
    assert_eq!(none.audit_actor().1, None);
    let some = user_principal(&repo, user(&["pki"], None), Some("acme"))
        .await
        .unwrap();
    assert_eq!(some.audit_actor().1.as_deref(), Some("acme"));
}

#[tokio::test]
async fn with_an_organization_claim_mappings_apply_only_in_the_organizations_it_names() {
    let repo = MemoryRepo::new();
    repo.commit(vec![
        org("acme", vec![mapping("admins", "acme.admin", "u1", &[])]),
        admin_role("acme.admin", "u1"),
    ])
    .await
    .unwrap();
    // Another organization's person in a group of the same name.
    assert!(
        !may_create_tenant(
            &repo,
            user(&["admins"], Some(&["globex"])),
            "acme",
            "acme.t1"
        )
        .await
    );
    assert!(!may_create_tenant(&repo, user(&["admins"], Some(&[])), "acme", "acme.t1").await);
    assert!(
        may_create_tenant(
            &repo,
            user(&["admins"], Some(&["globex", "acme"])),
            "acme",
            "acme.t1"
        )
        .await
    );
}

#[tokio::test]
async fn a_mapping_stops_with_the_api_key_that_made_it_and_with_its_role() {
    let giver = Creator {
        key_id: t("acme.k1"),
        token_hash: "h1".into(),
    };
    let repo = MemoryRepo::new();
    repo.commit(vec![
        org(
            "acme",
            vec![mapping(
                "pki",
                "acme.admin",
                "u1",
                std::slice::from_ref(&giver),
            )],
        ),
        admin_role("acme.admin", "u1"),
        key("acme.k1", "h1"),
    ])
    .await
    .unwrap();
    assert!(may_create_tenant(&repo, user(&["pki"], None), "acme", "acme.t1").await);
    // The key is deleted and another takes its id: the mapping gives nothing any more.
    repo.commit(vec![Op::Delete {
        id: t("acme.k1"),
        children: 0,
        dependants: 0,
        version: None,
    }])
    .await
    .unwrap();
    assert!(!may_create_tenant(&repo, user(&["pki"], None), "acme", "acme.t1").await);
    repo.commit(vec![key("acme.k1", "h2")]).await.unwrap();
    assert!(!may_create_tenant(&repo, user(&["pki"], None), "acme", "acme.t1").await);
    // A role deleted and created again under the same id is another role.
    let repo = MemoryRepo::new();
    repo.commit(vec![
        org("acme", vec![mapping("pki", "acme.admin", "u1", &[])]),
        admin_role("acme.admin", "u2"),
    ])
    .await
    .unwrap();
    assert!(!may_create_tenant(&repo, user(&["pki"], None), "acme", "acme.t1").await);
    let p = user_principal(&repo, user(&["pki"], None), Some("acme"))
        .await
        .unwrap();
    assert!(matches!(p, Principal::User { ref roles, .. } if roles.is_empty()));
}
