//! The self-signed IACA root (ISO/IEC 18013-5 Annex B.1.2).

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::*;
use crate::der;
use crate::{rule, Signer, X509Error};

impl IacaData {
    /// Checks every IACA rule that depends on the request; fills in defaults.
    pub fn validate(mut self, now: DateTime<Utc>) -> Result<IacaData, X509Error> {
        check_country("certificateData.country", &self.country)?;
        check_text("certificateData.commonName", &self.common_name, 64)?;
        if let Some(st) = &self.state_or_province_name {
            check_text("certificateData.stateOrProvinceName", st, 128)?;
        }
        if let Some(o) = &self.organization_name {
            check_text("certificateData.organizationName", o, 64)?;
        }
        let ian = &self.issuer_alternative_name_conf;
        if ian.uri.is_none() && ian.email.is_none() {
            return Err(rule(
                "certificateData.issuerAlternativeNameConf",
                "give at least one of uri or email",
            ));
        }
        if let Some(u) = &ian.uri {
            check_uri("certificateData.issuerAlternativeNameConf.uri", u)?;
        }
        if let Some(e) = &ian.email {
            check_email("certificateData.issuerAlternativeNameConf.email", e)?;
        }
        if let Some(u) = &self.crl_distribution_point_uri {
            check_http_uri("certificateData.crlDistributionPointUri", u)?;
        }
        let nb = self.not_before.unwrap_or(now).trunc_subsecs(0);
        let na = self
            .not_after
            .unwrap_or(nb + Duration::days(IACA_MAX_DAYS))
            .trunc_subsecs(0);
        check_validity("IACA", nb, na, IACA_MAX_DAYS, now)?;
        self.not_before = Some(nb);
        self.not_after = Some(na);
        Ok(self)
    }

    /// Builds and signs a self-signed IACA root with `signer`.
    pub async fn issue(self, signer: &dyn Signer) -> Result<Issued<IacaData>, X509Error> {
        self.issue_with_serial(&iso_serial(), signer).await
    }

    /// [`IacaData::issue`] with a serial chosen beforehand (see [`iso_serial`]).
    pub async fn issue_with_serial(
        self,
        serial: &[u8],
        signer: &dyn Signer,
    ) -> Result<Issued<IacaData>, X509Error> {
        let data = self.validate(now_secs())?;
        let key = signer.public_key().clone();
        let dn = name(
            &data.country,
            data.state_or_province_name.as_deref(),
            None,
            data.organization_name.as_deref(),
            &data.common_name,
        );
        let ian = &data.issuer_alternative_name_conf;
        let mut exts = vec![
            extension(OID_SKI, false, &der::octets(&key.key_identifier())),
            extension(
                OID_BC,
                true,
                &der::seq(&[&der::boolean(true), &der::uint(&[0])]),
            ),
            extension(OID_KU, true, &der::named_bits(&[5, 6])),
            extension(
                OID_IAN,
                false,
                &general_names(ian.email.as_deref(), ian.uri.as_deref()),
            ),
        ];
        if let Some(u) = &data.crl_distribution_point_uri {
            exts.push(extension(OID_CRLDP, false, &crl_distribution_points(u)));
        }
        let der = sign_certificate(
            serial,
            &dn,
            data.not_before.expect("validated"),
            data.not_after.expect("validated"),
            &dn,
            &key,
            &exts,
            signer,
        )
        .await?;
        Ok(Issued {
            pem: crate::pem::encode_certificate(&der),
            der,
            data,
        })
    }
}
