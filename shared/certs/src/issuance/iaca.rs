//! `iso/iacas`: a self-signed IACA root whose key is a KMS key of an attached kms service.

use serde::Deserialize;
use serde_json::{Map, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::SerialNumber;
use trustfn_domain::model::{CertificateType, IssuedProfile};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_publish::PublishDeps;
use trustfn_x509::IacaData;

use super::issuer::KeyDescriptor;
use super::issuer::{signer_for, Issuer};
use super::recording::{first_crl, store_and_reply, Recording};
use crate::error::x509_error;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueIaca {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub certificate_data: IacaData,
    pub iaca_key_desc: KeyDescriptor,
    #[serde(default)]
    pub vical_entry_complementary_metadata: Option<Map<String, Value>>,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/iacas`
pub async fn issue_iaca(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::IacaIssue>,
    body: IssueIaca,
) -> Result<Reply, ApiError> {
    let kms = deps.kms;
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let (key, key_path) = issuer.iaca_key("iacaKeyDesc", &body.iaca_key_desc).await?;
    let to = issuer.stores(body.stored_certificate_id)?;
    let serial = trustfn_x509::profile::iso_serial();
    let serial_hex = SerialNumber::from_bytes(&serial);
    // The record's path is checked before anything is signed (a service too deep for it
    // signed with KMS and then answered 400).
    issuer.target.child(serial_hex.as_str())?;
    let mut data = body.certificate_data;
    data.crl_distribution_point_uri =
        issuer.distribution_point(&serial_hex, data.crl_distribution_point_uri)?;
    // `issue` checks every profile rule before the one KMS Sign.
    let signer = signer_for(kms, &key);
    let issued = data
        .issue_with_serial(&serial, signer.as_ref())
        .await
        .map_err(x509_error)?;
    let metadata = body.vical_entry_complementary_metadata;
    let kind = if metadata.is_some() {
        CertificateType::VicalEntry
    } else {
        CertificateType::Base
    };
    let rec = Recording {
        profile: IssuedProfile::Iaca,
        parent: issuer.target.clone(),
        key_path: Some(key_path),
        adopt: None,
        parent_unpublished: false,
    };
    let mut answer = store_and_reply(&issuer, None, to, issued, (kind, metadata), rec).await?;
    // The distribution point answers from day one: the empty CRL is published now.
    if issuer.crl.is_some() {
        let id = issuer.target.child(serial_hex.as_str())?;
        answer.crl_published = Some(first_crl(repo, Some(deps), &id).await);
    }
    Ok(Reply::typed(201, &answer))
}
