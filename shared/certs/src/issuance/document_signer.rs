//! `iso/document-signers`: a Document Signer under an IACA, for a KMS key, a JWK or a PKCS#10
//! request.

use serde::Deserialize;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::IssuedProfile;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_domain::target::Target;
use trustfn_publish::PublishDeps;
use trustfn_x509::{DsData, PublicKey};

use super::issuer::Issuer;
use super::issuer::KeyDescriptor;
use super::under_iaca::{issue_under, signing_iaca, IacaSigner};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueDs {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub iaca_signer: IacaSigner,
    pub certificate_data: DsData,
    pub ds_key_descriptor: KeyDescriptor,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/document-signers`
pub async fn issue_document_signer(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::DocumentSignerIssue>,
    body: IssueDs,
) -> Result<Reply, ApiError> {
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let iaca = signing_iaca(&issuer, body.iaca_signer).await?;
    let (ds_key, key_path): (PublicKey, Option<Target>) = match &body.ds_key_descriptor {
        KeyDescriptor::KmsHosted { key_id_path } => {
            let (key, path) = issuer.kms_key("dsKeyDescriptor", key_id_path).await?;
            (key.public_key, Some(path))
        }
        KeyDescriptor::JwkEncoded { jwk } => (
            PublicKey::from_jwk(jwk)
                .map_err(|e| ApiError::validation(format!("dsKeyDescriptor.jwk: {e}")))?,
            None,
        ),
        KeyDescriptor::Pkcs10Csr { csr_pem } => (
            trustfn_x509::csr::csr_public_key(csr_pem)
                .map_err(|e| ApiError::validation(format!("dsKeyDescriptor.csrPem: {e}")))?,
            None,
        ),
    };
    let to = issuer.stores(body.stored_certificate_id)?;
    let leaf = (ds_key, key_path, IssuedProfile::DocumentSigner);
    issue_under(&issuer, deps, iaca, to, body.certificate_data, leaf).await
}
