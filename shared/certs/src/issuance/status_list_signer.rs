//! `iso/status-list-signers`: the certificate of a KMS key that signs status lists, under an
//! IACA.

use serde::Deserialize;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::IssuedProfile;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_publish::PublishDeps;
use trustfn_x509::StatusListSignerData;

use super::issuer::Issuer;
use super::issuer::KeyDescriptor;
use super::under_iaca::{issue_under, signing_iaca, IacaSigner};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueStatusListSigner {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub iaca_signer: IacaSigner,
    pub certificate_data: StatusListSignerData,
    pub signer_key_descriptor: KeyDescriptor,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/status-list-signers`: the certificate of a key
/// that signs status lists, under an IACA (ISO/IEC 18013-5 2nd edition, MSO revocation list
/// signer), so the lists share the credentials' trust anchor.
pub async fn issue_status_list_signer(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::StatusListSignerIssue>,
    body: IssueStatusListSigner,
) -> Result<Reply, ApiError> {
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let iaca = signing_iaca(&issuer, body.iaca_signer).await?;
    // The key signs status lists, so it must be a KMS key here.
    let KeyDescriptor::KmsHosted { key_id_path } = &body.signer_key_descriptor else {
        return Err(ApiError::validation(
            "signerKeyDescriptor: the status-list signing key signs, so it must be a kms-hosted-key-descriptor",
        ));
    };
    let (key, path) = issuer.kms_key("signerKeyDescriptor", key_id_path).await?;
    let to = issuer.stores(body.stored_certificate_id)?;
    let leaf = (key.public_key, Some(path), IssuedProfile::StatusListSigner);
    issue_under(&issuer, deps, iaca, to, body.certificate_data, leaf).await
}
