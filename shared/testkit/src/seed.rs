//! Seeding the resource tree and the proofs a use case takes: targets, the administrator's
//! proof, API keys with chosen permissions.

use trustfn_domain::auth::{Authorized, Operation, Permission, Permitted, Principal};
use trustfn_domain::model::{Doc, Organization, Profile, Record, Tenant};
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::Target;

/// A target, parsed.
pub fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

static ADMIN: Principal = Principal::Admin;

/// The administrator's proof for `A` on `target`.
pub fn admin<A: Permitted>(target: &str) -> Authorized<'static, A> {
    ADMIN.authorize::<A>(&t(target)).unwrap()
}

/// An API key of organization `acme` holding exactly `permissions` (target, action, operation).
pub fn api_key(permissions: &[(&str, &str, Operation)]) -> Principal {
    Principal::ApiKey {
        key_id: t("acme.k"),
        permissions: permissions
            .iter()
            .map(|(target, action, operation)| Permission {
                target: target.to_string(),
                action: action.to_string(),
                operation: *operation,
            })
            .collect(),
        delegation: Default::default(),
    }
}

/// Creates `doc` at `id` and counts it as a child of its parent, as a use case would.
pub async fn seed(repo: &dyn Repository, id: &str, doc: impl Into<Doc>) {
    let rec = Record::new(t(id), doc);
    let mut ops = vec![Op::Create(rec)];
    if let Some(parent) = t(id).parent() {
        ops.push(Op::Count {
            id: parent,
            children: 1,
            dependants: 0,
        });
    }
    repo.commit(ops).await.unwrap();
}

/// An organization and a tenant under it (`tenant` is `org.tenant`).
pub async fn seed_tenant(repo: &dyn Repository, tenant: &str) {
    let org = t(tenant).parent().expect("org.tenant");
    let doc = Organization {
        profile: Profile {
            name: org.to_string(),
            extra: Default::default(),
        },
        billing: None,
        role_mappings: Vec::new(),
    };
    seed(repo, org.as_str(), doc).await;
    let doc = Tenant {
        name: tenant.to_owned(),
        configuration: None,
    };
    seed(repo, tenant, doc).await;
}

/// Attaches service `to` to service `from`.
pub async fn attach(repo: &dyn Repository, from: &str, to: &str) {
    repo.commit(vec![
        Op::AddEdge {
            from: t(from),
            to: t(to),
        },
        Op::Count {
            id: t(to),
            children: 0,
            dependants: 1,
        },
    ])
    .await
    .unwrap();
}

/// The status service the status tests and benchmarks run on: tenant `acme.t1`, a KMS service
/// `acme.t1.kms` with a P-256 key `acme.t1.kms.k` held by `kms`, and a credential-status service
/// `acme.t1.st` (registry: [`crate::registry_config`]) that depends on it. Returns the key's
/// public key.
pub async fn seed_status_service(
    repo: &dyn Repository,
    kms: &crate::FakeKms,
) -> trustfn_signer::PublicKey {
    use trustfn_domain::model::{KeyArn, KeyDoc, Service, StatusServiceConfig};
    seed_tenant(repo, "acme.t1").await;
    seed(repo, "acme.t1.kms", Service::Kms(Default::default())).await;
    let (arn, public) = kms.add_key(trustfn_signer::Curve::P256);
    let key = KeyDoc {
        key_type: trustfn_signer::Curve::P256,
        public_key: public.clone(),
        kms_key_arn: KeyArn::parse(&arn).unwrap(),
        imported: false,
    };
    seed(repo, "acme.t1.kms.k", key).await;
    let st = Service::CredentialStatus(StatusServiceConfig {
        registry: crate::registry_config(),
        extra: Default::default(),
    });
    seed(repo, "acme.t1.st", st).await;
    attach(repo, "acme.t1.st", "acme.t1.kms").await;
    public
}
