//! `iso/vical-signers`: the certificate of a KMS key that signs VICALs (ISO/IEC 18013-5 Annex C,
//! extended key usage 1.0.18013.5.1.8), under an IACA of this x509-service.

use serde::Deserialize;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::IssuedProfile;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_publish::PublishDeps;

use super::issuer::Issuer;
use super::issuer::KeyDescriptor;
use super::under_iaca::{issue_under, signing_iaca, IacaSigner, VicalSignerData};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueVicalSigner {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub iaca_signer: IacaSigner,
    pub certificate_data: VicalSignerData,
    pub signer_key_descriptor: KeyDescriptor,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/vical-signers`: the certificate a
/// `vical-service` names as `signerCertificateId`, for a KMS key of an attached kms service,
/// written through to the attached stores like every certificate issued here.
pub async fn issue_vical_signer(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::VicalSignerIssue>,
    body: IssueVicalSigner,
) -> Result<Reply, ApiError> {
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let iaca = signing_iaca(&issuer, body.iaca_signer).await?;
    let KeyDescriptor::KmsHosted { key_id_path } = &body.signer_key_descriptor else {
        return Err(ApiError::validation(
            "signerKeyDescriptor: the VICAL signing key signs, so it must be a kms-hosted-key-descriptor",
        ));
    };
    let (key, path) = issuer.kms_key("signerKeyDescriptor", key_id_path).await?;
    let to = issuer.stores(body.stored_certificate_id)?;
    let leaf = (key.public_key, Some(path), IssuedProfile::VicalSigner);
    issue_under(&issuer, deps, iaca, to, body.certificate_data, leaf).await
}
