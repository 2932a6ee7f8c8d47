//! The X.509 Store: certificate records under an `x509-store` service.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Certificate, CertificateType, Kind, Record, ServiceType};
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::children_page;
use trustfn_domain::target::Target;
use trustfn_x509::parse;

use crate::issuance::certificate_doc;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreCertificate {
    #[serde(rename = "type")]
    pub kind: String,
    pub certificate_pem: String,
    #[serde(default)]
    pub complementary_metadata: Option<Map<String, Value>>,
}

fn store_doc(body: &StoreCertificate) -> Result<Certificate, ApiError> {
    let kind = match body.kind.as_str() {
        "base" if body.complementary_metadata.is_some() => {
            return Err(ApiError::validation(
                "complementaryMetadata: only for type vical-entry",
            ))
        }
        "base" => CertificateType::Base,
        "vical-entry" => CertificateType::VicalEntry,
        other => {
            return Err(ApiError::validation(format!(
                "type {other:?}: use base or vical-entry"
            )))
        }
    };
    let der = trustfn_x509::pem::decode_one_certificate(&body.certificate_pem)
        .map_err(|e| ApiError::validation(format!("certificatePem: {e}")))?;
    parse::facts(&der).map_err(|e| ApiError::validation(format!("certificatePem: {e}")))?;
    let pem = trustfn_x509::pem::encode_certificate(&der);
    certificate_doc(&der, &pem, kind, body.complementary_metadata.clone())
}

fn cert_view(r: &Record) -> Value {
    let mut v = r.to_public();
    if let Some(o) = v.as_object_mut() {
        o.remove("type");
    }
    v
}

/// What a store path names: the store itself or one certificate in it.
enum StorePath {
    Store(Record),
    Certificate {
        store: Target,
        record: Option<Record>,
    },
}

async fn resolve(repo: &dyn Repository, target: &Target) -> Result<StorePath, ApiError> {
    if let Some(rec) = repo.get(target).await? {
        if rec.service_type() == Some(ServiceType::X509Store) {
            return Ok(StorePath::Store(rec));
        }
        if rec.kind() == Kind::Certificate {
            let store = target.parent().expect("certificates have a parent");
            return Ok(StorePath::Certificate {
                store,
                record: Some(rec),
            });
        }
        return Err(ApiError::validation(format!(
            "{target} is neither an x509-store nor a stored certificate"
        )));
    }
    let parent = target
        .parent()
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))?;
    match repo.get(&parent).await? {
        Some(p) if p.service_type() == Some(ServiceType::X509Store) => Ok(StorePath::Certificate {
            store: parent,
            record: None,
        }),
        _ => Err(ApiError::not_found(format!("{target} not found"))),
    }
}

/// `POST /v1/{store}[.{certId}]/x509-store-api/certificates`
pub async fn add(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::CertificateAdd>,
    body: StoreCertificate,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let doc = store_doc(&body)?;
    let (store, id) = match resolve(repo, target).await? {
        StorePath::Store(s) => {
            let id = s.id.child(&uuid::Uuid::new_v4().to_string())?;
            (s.id, id)
        }
        StorePath::Certificate {
            record: Some(_), ..
        } => return Err(ApiError::duplicate(target.as_str())),
        StorePath::Certificate {
            store,
            record: None,
        } => (store, target.clone()),
    };
    let rec = Record::new(id.clone(), doc);
    let ops = vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: store.clone(),
            children: 1,
            dependants: 0,
        },
    ];
    repo.commit(ops).await.map_err(|e| match e {
        RepoError::ConditionFailed { index: Some(1) } => {
            ApiError::not_found(format!("{store} not found"))
        }
        RepoError::ConditionFailed { .. } => ApiError::duplicate(id.as_str()),
        other => ApiError::from(other),
    })?;
    tracing::info!(certificate = %id, "certificate stored");
    Ok(Reply::json(201, cert_view(&rec)))
}

/// One page of a store's certificates, each shown by `view`; the next cursor in `x-next-cursor`.
async fn certificate_page(
    repo: &dyn Repository,
    store: &Target,
    page: &PageParams,
    view: impl Fn(&Record) -> Value,
) -> Result<Reply, ApiError> {
    let out = children_page(repo, store, page).await?;
    let items = out
        .items
        .iter()
        .filter(|r| r.kind() == Kind::Certificate)
        .map(view)
        .collect();
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(n) = out.next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}

/// `GET /v1/{store}/x509-store-api/certificates` (a page of records) or
/// `GET /v1/{store}.{certId}/x509-store-api/certificates` (one record).
pub async fn get(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::CertificateView>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    match resolve(repo, target).await? {
        StorePath::Certificate {
            record: Some(r), ..
        } => Ok(Reply::json(200, cert_view(&r))),
        StorePath::Certificate { record: None, .. } => {
            Err(ApiError::not_found(format!("{target} not found")))
        }
        StorePath::Store(_) => certificate_page(repo, target, page, cert_view).await,
    }
}

/// `GET /v1/{store}/x509-store-api/certificates/ids`
pub async fn ids(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::CertificateView>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    match resolve(repo, target).await? {
        StorePath::Store(_) => certificate_page(repo, target, page, |r| json!(r.id.as_str())).await,
        _ => Err(ApiError::validation(format!(
            "{target} is not an x509-store"
        ))),
    }
}

/// `PUT /v1/{store}.{certId}/x509-store-api/certificates`: replaces the record's certificate.
pub async fn update(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::CertificateUpdate>,
    body: StoreCertificate,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let doc = store_doc(&body)?;
    let rec = match resolve(repo, target).await? {
        StorePath::Certificate {
            record: Some(r), ..
        } => r,
        StorePath::Certificate { record: None, .. } => {
            return Err(ApiError::not_found(format!("{target} not found")))
        }
        StorePath::Store(_) => {
            return Err(ApiError::validation(
                "update a certificate: the target is '<store>.<certId>'",
            ))
        }
    };
    let mut updated = rec.clone();
    updated.doc = doc.into();
    trustfn_domain::resource::replace(repo, updated.clone(), rec.version).await?;
    updated.version = rec.version + 1;
    Ok(Reply::json(200, cert_view(&updated)))
}

/// `DELETE /v1/{store}.{certId}/x509-store-api/certificates`
pub async fn remove(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::CertificateDelete>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let (store, rec) = match resolve(repo, target).await? {
        StorePath::Certificate {
            store,
            record: Some(r),
        } => (store, r),
        StorePath::Certificate { record: None, .. } => {
            return Err(ApiError::not_found(format!("{target} not found")))
        }
        StorePath::Store(_) => {
            return Err(ApiError::validation(
                "delete a certificate: the target is '<store>.<certId>'",
            ))
        }
    };
    let ops = vec![
        Op::Delete {
            id: rec.id.clone(),
            children: rec.children,
            dependants: rec.dependants,
            version: Some(rec.version),
        },
        Op::Count {
            id: store,
            children: -1,
            dependants: 0,
        },
    ];
    repo.commit(ops).await.map_err(|e| match e {
        RepoError::ConditionFailed { .. } => ApiError::not_found(format!("{target} not found")),
        other => ApiError::from(other),
    })?;
    Ok(Reply::json(
        202,
        json!({"_id": target.as_str(), "deleted": 1}),
    ))
}
