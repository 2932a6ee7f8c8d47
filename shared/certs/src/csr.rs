//! `POST /v1/{x509Service}/x509-service-api/csrs`: a PKCS#10 request for a KMS key of an
//! attached kms service (walt.id's generic CSR), signed by that key, for an external CA to
//! certify. Nothing is stored: the request is the answer.

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::ports::KeyManager;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Repository};
use trustfn_x509::csr::{build_csr, AltNames, CsrSubject};

use crate::error::x509_error;
use crate::issuance::issuer::{signer_for, Issuer, KeyDescriptor};

/// The body: walt.id's generic CSR request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCsr {
    #[serde(rename = "type")]
    pub kind: String,
    pub subject_key_descriptor: KeyDescriptor,
    pub subject_name: CsrSubject,
    #[serde(default)]
    pub subject_alternative_names: AltNames,
}

/// `POST /v1/{x509Service}/x509-service-api/csrs`: `x509-csr-create` on the service (checked
/// by the caller) and `kms-key-use` on the subject key, whose kms service must be attached.
pub async fn create_csr(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    auth: &Authorized<'_, act::CsrCreate>,
    body: CreateCsr,
) -> Result<Reply, ApiError> {
    if body.kind != "generic" {
        return Err(ApiError::validation(format!(
            "type {:?}: trustfn creates \"generic\" requests; a Document Signer for a key of an \
             attached kms service is issued directly with iso/document-signers",
            body.kind
        )));
    }
    let KeyDescriptor::KmsHosted { key_id_path } = &body.subject_key_descriptor else {
        return Err(ApiError::validation(
            "subjectKeyDescriptor: the subject key signs its request, so it must be a \
             kms-hosted-key-descriptor (private keys never leave AWS KMS)",
        ));
    };
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let (key, key_path) = issuer.kms_key("subjectKeyDescriptor", key_id_path).await?;
    let signer = signer_for(kms, &key);
    let (der, pem) = build_csr(
        &body.subject_name,
        &body.subject_alternative_names,
        signer.as_ref(),
    )
    .await
    .map_err(x509_error)?;
    // The key signed something: on the audit log before the request leaves.
    let fact = json!({
        "op": "csr",
        "id": auth.target().as_str(),
        "key": key_path.as_str(),
        "csrSha256": hex::encode(Sha256::digest(&der)),
    });
    repo.commit(vec![Op::Audit(vec![fact
        .as_object()
        .cloned()
        .unwrap_or_default()])])
        .await?;
    tracing::info!(service = %auth.target(), key = %key_path, "certification request created");
    Ok(Reply::json(
        201,
        json!({"csrPem": pem, "subjectKeyIdPath": key_path.as_str()}),
    ))
}
