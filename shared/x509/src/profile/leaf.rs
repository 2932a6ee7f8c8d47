//! The leaf certificates an IACA signs: Document Signers (Annex B.1.4) and status-list signers,
//! signed under the IACA's subject, validity and keys.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::*;
use crate::der;
use crate::parse::ParsedIaca;
use crate::PublicKey;
use crate::{rule, Signer, X509Error};

/// The subject fields of a certificate an IACA signs (a Document Signer or a status-list
/// signer), checked in order: country (equal to the IACA's), commonName, stateOrProvinceName
/// (equal to the IACA's when `same_state`), organizationName, localityName.
pub(super) struct SubjectUnder<'a> {
    what: &'static str,
    country: &'a str,
    common_name: &'a str,
    state: Option<&'a str>,
    organization: Option<&'a str>,
    locality: Option<&'a str>,
}

impl SubjectUnder<'_> {
    fn check(&self, iaca: &ParsedIaca, same_state: bool) -> Result<(), X509Error> {
        check_country("certificateData.country", self.country)?;
        if self.country != iaca.country {
            return Err(rule(
                "certificateData.country",
                format!(
                    "the {} country {} must equal the IACA country {}",
                    self.what, self.country, iaca.country
                ),
            ));
        }
        check_text("certificateData.commonName", self.common_name, 64)?;
        if let Some(st) = self.state {
            check_text("certificateData.stateOrProvinceName", st, 128)?;
        }
        if same_state && self.state != iaca.state_or_province_name.as_deref() {
            return Err(rule(
                "certificateData.stateOrProvinceName",
                format!(
                    "must equal the IACA's stateOrProvinceName ({}); both present and equal, or both absent",
                    iaca.state_or_province_name.as_deref().unwrap_or("absent")
                ),
            ));
        }
        if let Some(o) = self.organization {
            check_text("certificateData.organizationName", o, 64)?;
        }
        if let Some(l) = self.locality {
            check_text("certificateData.localityName", l, 128)?;
        }
        Ok(())
    }

    fn name(&self) -> Vec<u8> {
        name(
            self.country,
            self.state,
            self.locality,
            self.organization,
            self.common_name,
        )
    }
}

/// The validity of a certificate an IACA signs: notBefore (default now), notAfter (default
/// notBefore + `max_days`, cut at the IACA's notAfter), at most `max_days`, inside the IACA's.
pub(super) fn validity_under(
    iaca: &ParsedIaca,
    what: &str,
    (not_before, not_after): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    max_days: i64,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), X509Error> {
    let nb = not_before.unwrap_or(now).trunc_subsecs(0);
    let na = match not_after {
        Some(na) => na.trunc_subsecs(0),
        None => (nb + Duration::days(max_days)).min(iaca.not_after),
    };
    check_validity(what, nb, na, max_days, now)?;
    if nb < iaca.not_before || na > iaca.not_after {
        return Err(rule(
            "certificateData.notBefore",
            format!(
                "the {what} validity must lie inside the IACA's ({} to {})",
                iaca.not_before.to_rfc3339(),
                iaca.not_after.to_rfc3339()
            ),
        ));
    }
    Ok((nb, na))
}

/// The IACA certificate's key must be the one that signs.
pub(super) fn iaca_signs(iaca: &ParsedIaca, signer: &dyn Signer) -> Result<(), X509Error> {
    if signer.public_key() != &iaca.public_key {
        return Err(rule(
            "iacaKeyDesc",
            "the key does not belong to the IACA certificate (its public key differs)",
        ));
    }
    Ok(())
}

/// What every certificate an IACA signs here carries first: AKI (= the IACA's SKI), SKI, and
/// keyUsage critical exactly digitalSignature.
pub(super) fn leaf_extensions(iaca: &ParsedIaca, key: &PublicKey) -> Vec<Vec<u8>> {
    vec![
        extension(
            OID_AKI,
            false,
            &der::seq(&[&der::context_primitive(0, &iaca.subject_key_identifier)]),
        ),
        extension(OID_SKI, false, &der::octets(&key.key_identifier())),
        extension(OID_KU, true, &der::named_bits(&[0])),
    ]
}

/// Signs a certificate for `key` with the IACA's key: issuer = the IACA subject.
pub(super) async fn sign_under<D>(
    serial: &[u8],
    iaca: &ParsedIaca,
    (subject, key, exts): (&[u8], &PublicKey, &[Vec<u8>]),
    (not_before, not_after): (DateTime<Utc>, DateTime<Utc>),
    data: D,
    signer: &dyn Signer,
) -> Result<Issued<D>, X509Error> {
    let der = sign_certificate(
        serial,
        &iaca.subject,
        not_before,
        not_after,
        subject,
        key,
        exts,
        signer,
    )
    .await?;
    Ok(Issued {
        pem: crate::pem::encode_certificate(&der),
        der,
        data,
    })
}

impl DsData {
    fn subject(&self) -> SubjectUnder<'_> {
        SubjectUnder {
            what: "Document Signer",
            country: &self.country,
            common_name: &self.common_name,
            state: self.state_or_province_name.as_deref(),
            organization: self.organization_name.as_deref(),
            locality: self.locality_name.as_deref(),
        }
    }

    /// Checks every Document Signer rule against the request and the IACA; fills in defaults
    /// (notBefore now, notAfter notBefore + 457 days but not past the IACA's notAfter).
    pub fn validate(mut self, iaca: &ParsedIaca, now: DateTime<Utc>) -> Result<DsData, X509Error> {
        self.subject().check(iaca, true)?;
        let Some(dp) = &self.crl_distribution_point_uri else {
            return Err(rule(
                "certificateData.crlDistributionPointUri",
                "is required: a Document Signer names the CRL of its IACA (an x509-service with \
                 config.crl fills it in)",
            ));
        };
        check_http_uri("certificateData.crlDistributionPointUri", dp)?;
        let times = (self.not_before, self.not_after);
        let (nb, na) = validity_under(iaca, "Document Signer", times, DS_MAX_DAYS, now)?;
        self.not_before = Some(nb);
        self.not_after = Some(na);
        Ok(self)
    }

    /// Builds a Document Signer certificate for `ds_key`, signed by the IACA key `signer`.
    /// `iaca` must have passed [`parse::parse_iaca`] and its key must be `signer`'s.
    pub async fn issue(
        self,
        iaca: &ParsedIaca,
        ds_key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<DsData>, X509Error> {
        self.issue_with_serial(&iso_serial(), iaca, ds_key, signer)
            .await
    }

    /// [`DsData::issue`] with a serial chosen beforehand (see [`iso_serial`]).
    pub async fn issue_with_serial(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        ds_key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<DsData>, X509Error> {
        iaca_signs(iaca, signer)?;
        let data = self.validate(iaca, now_secs())?;
        let subject = data.subject().name();
        let dp = data
            .crl_distribution_point_uri
            .as_deref()
            .expect("validated");
        let mut exts = leaf_extensions(iaca, ds_key);
        exts.extend([
            extension(OID_IAN, false, &iaca.issuer_alternative_name),
            extension(OID_EKU, true, &der::seq(&[&der::oid(MDL_DS_EKU)])),
            extension(OID_CRLDP, false, &crl_distribution_points(dp)),
        ]);
        let times = (
            data.not_before.expect("validated"),
            data.not_after.expect("validated"),
        );
        sign_under(serial, iaca, (&subject, ds_key, &exts), times, data, signer).await
    }
}

impl StatusListSignerData {
    fn subject(&self, purpose: SignerPurpose) -> SubjectUnder<'_> {
        SubjectUnder {
            what: purpose.what(),
            country: &self.country,
            common_name: &self.common_name,
            state: self.state_or_province_name.as_deref(),
            organization: self.organization_name.as_deref(),
            locality: self.locality_name.as_deref(),
        }
    }

    /// Checks the status-list signer rules against the request and the IACA; fills in defaults
    /// (notBefore now, notAfter notBefore + 1,187 days but not past the IACA's notAfter).
    pub fn validate(
        self,
        iaca: &ParsedIaca,
        now: DateTime<Utc>,
    ) -> Result<StatusListSignerData, X509Error> {
        self.validate_for(SignerPurpose::StatusList, iaca, now)
    }

    /// Checks the rules of a signer for `purpose` against the request and the IACA; fills in
    /// defaults (notBefore now, notAfter notBefore + 1,187 days but not past the IACA's notAfter).
    pub fn validate_for(
        mut self,
        purpose: SignerPurpose,
        iaca: &ParsedIaca,
        now: DateTime<Utc>,
    ) -> Result<StatusListSignerData, X509Error> {
        self.subject(purpose).check(iaca, false)?;
        if let Some(u) = &self.crl_distribution_point_uri {
            check_http_uri("certificateData.crlDistributionPointUri", u)?;
        }
        let times = (self.not_before, self.not_after);
        let (nb, na) = validity_under(iaca, purpose.what(), times, purpose.max_days(), now)?;
        self.not_before = Some(nb);
        self.not_after = Some(na);
        Ok(self)
    }

    /// Builds a status-list signer certificate for `key`, signed by the IACA key `signer`:
    /// issuer = the IACA subject, AKI = the IACA's SKI, SKI, keyUsage critical exactly
    /// digitalSignature, the CRL distribution point when given. No extended key usage: the one
    /// the IETF draft defines has no assigned OID yet.
    pub async fn issue_with_serial(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<StatusListSignerData>, X509Error> {
        self.issue_for(SignerPurpose::StatusList, serial, iaca, key, signer)
            .await
    }

    /// Builds a signer certificate for `purpose`. A status-list signer is described at
    /// [`StatusListSignerData::issue_with_serial`]. A VICAL signer (Annex C Table C.1, as the
    /// AAMVA and Austroads VICAL signers and isomdl's checks have it) carries keyUsage critical
    /// exactly nonRepudiation and extendedKeyUsage critical 1.0.18013.5.1.8, the rest alike.
    pub async fn issue_for(
        self,
        purpose: SignerPurpose,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<StatusListSignerData>, X509Error> {
        iaca_signs(iaca, signer)?;
        let data = self.validate_for(purpose, iaca, now_secs())?;
        let subject = data.subject(purpose).name();
        let mut exts = leaf_extensions(iaca, key);
        if purpose == SignerPurpose::Vical {
            exts[2] = extension(OID_KU, true, &der::named_bits(&[1]));
            exts.push(extension(
                OID_EKU,
                true,
                &der::seq(&[&der::oid(VICAL_SIGNER_EKU)]),
            ));
        }
        if let Some(u) = &data.crl_distribution_point_uri {
            exts.push(extension(OID_CRLDP, false, &crl_distribution_points(u)));
        }
        let times = (
            data.not_before.expect("validated"),
            data.not_after.expect("validated"),
        );
        sign_under(serial, iaca, (&subject, key, &exts), times, data, signer).await
    }
}
