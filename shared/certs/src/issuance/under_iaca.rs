//! What an IACA signs (Document Signers, status-list signers): the signing IACA a request names,
//! its record here, the profile checks, one KMS Sign.

use serde::Deserialize;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    Certificate, CertificateType, IssuedCertificate, IssuedProfile, KeyDoc, Record, SerialNumber,
};
use trustfn_domain::reply::Reply;
use trustfn_domain::resource::named_certificate;
use trustfn_domain::target::Target;
use trustfn_publish::PublishDeps;
use trustfn_x509::parse::{self, ParsedIaca};
use trustfn_x509::{DsData, PublicKey, Signer, SignerPurpose, StatusListSignerData, X509Error};

use super::issuer::{now, KeyDescriptor};
use super::issuer::{signer_for, Issuer, WriteThrough};
use super::recording::{certificate_doc, store_and_reply, Recording};
use crate::error::x509_error;
use crate::inventory::issued_doc;

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum IacaSigner {
    #[serde(rename = "iaca-pem-cert-descriptor", rename_all = "camelCase")]
    Pem {
        iaca_pem_encoded_certificate: String,
        iaca_key_desc: KeyDescriptor,
    },
    #[serde(rename = "stored-certificate-descriptor", rename_all = "camelCase")]
    Stored {
        stored_certificate_path: String,
        iaca_key_desc: KeyDescriptor,
    },
}

/// The IACA a request names to sign with (`iacaSigner`): it passed the IACA profile and the
/// `iacaKeyDesc` key (a KMS key of an attached kms service the caller may use) is its key.
pub(crate) struct SigningIaca {
    pub(crate) parsed: ParsedIaca,
    /// Its facts (serial, subject, fingerprint ...) and PEM, as a store would keep them.
    pub(crate) cert: Certificate,
    pub(crate) key: KeyDoc,
    pub(crate) key_path: Target,
}

pub(crate) async fn signing_iaca(
    issuer: &Issuer<'_>,
    signer: IacaSigner,
) -> Result<SigningIaca, ApiError> {
    let (repo, p, target) = (issuer.repo, issuer.caller, issuer.target);
    let (iaca_pem, iaca_key_desc) = match signer {
        IacaSigner::Pem {
            iaca_pem_encoded_certificate,
            iaca_key_desc,
        } => (iaca_pem_encoded_certificate, iaca_key_desc),
        IacaSigner::Stored {
            stored_certificate_path,
            iaca_key_desc,
        } => {
            let field = "iacaSigner.storedCertificatePath";
            let (_, cert) =
                named_certificate(repo, p, target, field, &stored_certificate_path).await?;
            (cert.data.pem, iaca_key_desc)
        }
    };
    let der = trustfn_x509::pem::decode_one_certificate(&iaca_pem)
        .map_err(|e| ApiError::validation(format!("iacaSigner: {e}")))?;
    let parsed: ParsedIaca = parse::parse_iaca(&der, chrono::Utc::now()).map_err(x509_error)?;
    let (key, key_path) = issuer
        .iaca_key("iacaSigner.iacaKeyDesc", &iaca_key_desc)
        .await?;
    if key.public_key != parsed.public_key {
        return Err(ApiError::validation(
            "iacaSigner.iacaKeyDesc: the key is not the IACA certificate's key; certificates it signed would never verify",
        ));
    }
    let pem = trustfn_x509::pem::encode_certificate(&der);
    let cert = certificate_doc(&der, &pem, CertificateType::Base, None)?;
    Ok(SigningIaca {
        parsed,
        cert,
        key,
        key_path,
    })
}

/// The record of the IACA that signs here: its id, the record to create with what it signs when
/// this service has not recorded it yet (an IACA issued elsewhere, or before issued certificates
/// were recorded: `adopted`), and whether its CRL was never published. What it signs is recorded
/// under it, and its CRL is published from it.
pub(crate) async fn iaca_record(
    issuer: &Issuer<'_>,
    iaca: &SigningIaca,
) -> Result<(Target, Option<Record>, bool), ApiError> {
    let key_path = Some(iaca.key_path.clone());
    let mut doc = issued_doc(IssuedProfile::Iaca, &iaca.cert, key_path, vec![]);
    let id = issuer.target.child(doc.serial_number.as_str())?;
    if let Some(rec) = issuer.repo.get(&id).await? {
        // The same serial must be the same IACA: another certificate posing under a recorded
        // IACA's serial would file its certificates (and revocations) under the wrong CRL.
        let recorded = rec.get::<IssuedCertificate>();
        if recorded.is_none_or(|c| c.sha256_fingerprint != doc.sha256_fingerprint) {
            return Err(ApiError::conflict(format!(
                "iacaSigner: {id} records another certificate with this IACA's serial number; \
                 nothing was issued"
            )));
        }
        let unpublished = recorded
            .and_then(|c| c.crl.as_ref())
            .is_none_or(|c| c.publish.published_number.is_none());
        return Ok((id, None, unpublished));
    }
    doc.adopted = true;
    doc.crl = Some(crate::crl_publication::new_state(
        issuer.crl.as_ref(),
        now(),
    ));
    Ok((id.clone(), Some(Record::new(id, doc)), true))
}

/// The certificate data of what an IACA signs (a Document Signer, a status-list signer).
pub(crate) trait UnderIaca: Clone + serde::Serialize + Sized {
    fn distribution_point(&mut self) -> &mut Option<String>;
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error>;
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error>;
}

impl UnderIaca for DsData {
    fn distribution_point(&mut self) -> &mut Option<String> {
        &mut self.crl_distribution_point_uri
    }
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error> {
        DsData::validate(self, iaca, now)
    }
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error> {
        self.issue_with_serial(serial, iaca, key, signer).await
    }
}

impl UnderIaca for StatusListSignerData {
    fn distribution_point(&mut self) -> &mut Option<String> {
        &mut self.crl_distribution_point_uri
    }
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error> {
        StatusListSignerData::validate(self, iaca, now)
    }
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error> {
        self.issue_with_serial(serial, iaca, key, signer).await
    }
}

/// The data of a VICAL signer certificate: a status-list signer's fields, another profile.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct VicalSignerData(pub StatusListSignerData);

impl UnderIaca for VicalSignerData {
    fn distribution_point(&mut self) -> &mut Option<String> {
        &mut self.0.crl_distribution_point_uri
    }
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error> {
        Ok(VicalSignerData(self.0.validate_for(
            SignerPurpose::Vical,
            iaca,
            now,
        )?))
    }
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error> {
        let issued = self
            .0
            .issue_for(SignerPurpose::Vical, serial, iaca, key, signer)
            .await?;
        Ok(trustfn_x509::Issued {
            der: issued.der,
            pem: issued.pem,
            data: VicalSignerData(issued.data),
        })
    }
}

/// Issues `data` for `key` under the signing IACA: the distribution point filled in (or checked)
/// from the CRL target, every profile rule checked before the IACA is recorded or anything is
/// signed, one KMS Sign, then the write-through and the record (with the IACA's, if new).
pub(crate) async fn issue_under<D: UnderIaca>(
    issuer: &Issuer<'_>,
    deps: &PublishDeps<'_>,
    iaca: SigningIaca,
    to: Option<WriteThrough>,
    mut data: D,
    (key, key_path, profile): (PublicKey, Option<Target>, IssuedProfile),
) -> Result<Reply, ApiError> {
    let dp = data.distribution_point().take();
    *data.distribution_point() = issuer.distribution_point(&iaca.cert.serial_number, dp)?;
    data.clone()
        .validate(&iaca.parsed, chrono::Utc::now())
        .map_err(x509_error)?;
    let (parent, adopt, parent_unpublished) = iaca_record(issuer, &iaca).await?;
    let serial = trustfn_x509::profile::iso_serial();
    // The record's path is checked before anything is signed (a service too deep for it
    // signed with KMS and then answered 400).
    parent.child(SerialNumber::from_bytes(&serial).as_str())?;
    let signer = signer_for(deps.kms, &iaca.key);
    let issued = data
        .issue(&serial, &iaca.parsed, &key, signer.as_ref())
        .await
        .map_err(x509_error)?;
    let rec = Recording {
        profile,
        parent,
        key_path,
        adopt,
        parent_unpublished,
    };
    let kind = (CertificateType::Base, None);
    let answer = store_and_reply(issuer, Some(deps), to, issued, kind, rec).await?;
    Ok(Reply::typed(201, &answer))
}
