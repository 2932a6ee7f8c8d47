//! Certificate revocation lists (RFC 5280 §5, version 2) as ISO/IEC 18013-5 profiles them: issued
//! by an IACA (issuer = the IACA's subject, byte for byte), signed with the IACA's key, with
//! exactly two non-critical extensions (authorityKeyIdentifier = the IACA's SKI, cRLNumber), and
//! entries that carry a serial number and a revocation date only.

use chrono::{DateTime, Utc};
use x509_parser::prelude::FromDer;

use crate::{der, rule, Signer, X509Error};

/// Media type of a DER CRL (RFC 5280 §4.2.1.13, RFC 2585).
pub const CRL_MEDIA_TYPE: &str = "application/pkix-crl";

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Revoked {
    /// The certificate's serial number, big-endian magnitude (as issued: at most 20 octets).
    pub serial: Vec<u8>,
    pub revoked_at: DateTime<Utc>,
}

/// What one CRL of an IACA states.
#[derive(Debug, Clone)]
pub struct CrlData<'a> {
    /// The IACA's subject Name, DER.
    pub issuer: &'a [u8],
    /// The IACA's subjectKeyIdentifier.
    pub authority_key_id: &'a [u8],
    /// cRLNumber: strictly increasing per IACA, never reused.
    pub number: u64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub revoked: &'a [Revoked],
}

/// Builds the CRL, has `signer` (the IACA's key) sign it, and checks the signature.
pub async fn sign_crl(data: &CrlData<'_>, signer: &dyn Signer) -> Result<Vec<u8>, X509Error> {
    if data.next_update <= data.this_update {
        return Err(rule("crl.nextUpdate", "must be after thisUpdate"));
    }
    for r in data.revoked {
        let magnitude = r.serial.iter().skip_while(|b| **b == 0).count();
        if magnitude == 0 || r.serial.len() > 20 {
            return Err(rule(
                "crl.serialNumber",
                "a positive serial number of at most 20 octets",
            ));
        }
    }
    let alg = der::seq(&[&der::oid(signer.public_key().curve.signature_oid())]);
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
    let aki = der::seq(&[
        &der::oid(&[2, 5, 29, 35]),
        &der::octets(&der::seq(&[&der::context_primitive(
            0,
            data.authority_key_id,
        )])),
    ]);
    let number = der::seq(&[
        &der::oid(&[2, 5, 29, 20]),
        &der::octets(&der::uint(&data.number.to_be_bytes())),
    ]);
    let extensions = der::context(0, &der::seq(&[&aki, &number]));
    let entries: Vec<Vec<u8>> = data
        .revoked
        .iter()
        .map(|r| der::seq(&[&der::uint(&r.serial), &der::time(r.revoked_at)]))
        .collect();
    let mut tbs_parts: Vec<Vec<u8>> = vec![
        der::uint(&[1]), // v2
        alg.clone(),
        data.issuer.to_vec(),
        der::time(data.this_update),
        der::time(data.next_update),
    ];
    // revokedCertificates is absent, not empty, when nothing is revoked (RFC 5280 §5.1.2.6).
    if !entries.is_empty() {
        tbs_parts.push(der::seq(
            &entries.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        ));
    }
    tbs_parts.push(extensions);
    let tbs = der::seq(&tbs_parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let sig = signer.sign(&tbs).await?;
    let crl = der::seq(&[&tbs, &alg, &der::bits(&sig)]);
    verify_crl_signed_by(&crl, signer.public_key())?;
    Ok(crl)
}

/// Verifies that `crl_der` is signed by `key` (every curve, see [`crate::signature`]).
pub fn verify_crl_signed_by(crl_der: &[u8], key: &crate::PublicKey) -> Result<(), X509Error> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
        .map_err(|e| X509Error::Parse(format!("the CRL does not parse: {e}")))?;
    let tbs = crl.tbs_cert_list.as_ref();
    match crate::signature::signed_by(key, &crl.signature_algorithm, &crl.signature_value, tbs) {
        true => Ok(()),
        false => Err(X509Error::BadSignature),
    }
}

/// What a CRL read back from a registry states.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadCrl {
    pub number: u64,
    pub this_update: DateTime<Utc>,
    /// Serials as the CRL encodes them (the certificates' own DER INTEGER contents).
    pub revoked: Vec<Revoked>,
}

/// Reads a CRL that must be `issuer`'s (its Name, DER, byte for byte) and signed by `key`: its
/// number, thisUpdate and entries. A CRL without a cRLNumber, of another issuer or whose
/// signature does not verify is refused.
pub fn read_crl(
    crl_der: &[u8],
    issuer: &[u8],
    key: &crate::PublicKey,
) -> Result<ReadCrl, X509Error> {
    let (rest, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
        .map_err(|e| X509Error::Parse(format!("the CRL does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(X509Error::Parse("trailing data after the CRL".into()));
    }
    if crl.tbs_cert_list.issuer.as_raw() != issuer {
        return Err(X509Error::Parse("the CRL is another issuer's".into()));
    }
    verify_crl_signed_by(crl_der, key)?;
    let number = crl
        .crl_number()
        .and_then(|n| u64::try_from(n.clone()).ok())
        .ok_or_else(|| X509Error::Parse("the CRL has no cRLNumber that fits 64 bits".into()))?;
    let at = |t: x509_parser::time::ASN1Time| DateTime::from_timestamp(t.timestamp(), 0);
    let this_update = at(crl.last_update())
        .ok_or_else(|| X509Error::Parse("thisUpdate is out of range".into()))?;
    let mut revoked = Vec::new();
    for e in crl.iter_revoked_certificates() {
        revoked.push(Revoked {
            serial: e.raw_serial().to_vec(),
            revoked_at: at(e.revocation_date)
                .ok_or_else(|| X509Error::Parse("a revocationDate is out of range".into()))?,
        });
    }
    Ok(ReadCrl {
        number,
        this_update,
        revoked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use trustfn_signer::{Curve, PublicKey, SignError};
    use x509_parser::extensions::ParsedExtension;
    use x509_parser::revocation_list::CertificateRevocationList;

    /// A P-256 key held here.
    struct Local {
        pair: ring::signature::EcdsaKeyPair,
        public: PublicKey,
    }

    #[async_trait::async_trait]
    impl Signer for Local {
        fn public_key(&self) -> &PublicKey {
            &self.public
        }
        async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
            let rng = ring::rand::SystemRandom::new();
            Ok(self.pair.sign(&rng, message).unwrap().as_ref().to_vec())
        }
    }

    fn local() -> Local {
        let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let public = PublicKey::new(
            Curve::P256,
            ring::signature::KeyPair::public_key(&pair)
                .as_ref()
                .to_vec(),
        )
        .unwrap();
        Local { pair, public }
    }

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).unwrap()
    }

    fn issuer() -> Vec<u8> {
        // Name: C=US, CN=Example IACA
        let rdn = |oid: &[u64], tag: u8, v: &str| {
            der::set(&[&der::seq(&[&der::oid(oid), &der::tlv(tag, v.as_bytes())])])
        };
        der::seq(&[
            &rdn(&[2, 5, 4, 6], der::PRINTABLE_STRING, "US"),
            &rdn(&[2, 5, 4, 3], der::UTF8_STRING, "Example IACA"),
        ])
    }

    #[tokio::test]
    async fn dates_outside_1950_to_2049_are_generalized_times_read_back_as_written() {
        use chrono::TimeZone;
        let key = local();
        let issuer = issuer();
        let old = Utc.with_ymd_and_hms(1949, 12, 31, 23, 59, 59).unwrap();
        let late = Utc.with_ymd_and_hms(2051, 1, 1, 0, 0, 0).unwrap();
        let revoked = [
            Revoked {
                serial: vec![0x41],
                revoked_at: old,
            },
            Revoked {
                serial: vec![0x42],
                revoked_at: late,
            },
        ];
        let data = CrlData {
            issuer: &issuer,
            authority_key_id: &[7u8; 20],
            number: 1,
            this_update: t(4),
            next_update: t(11),
            revoked: &revoked,
        };
        let der = sign_crl(&data, &key).await.unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        let dates: Vec<i64> = crl
            .iter_revoked_certificates()
            .map(|e| e.revocation_date.timestamp())
            .collect();
        assert_eq!(
            dates,
            [old.timestamp(), late.timestamp()],
            "not a century off"
        );
    }

    #[tokio::test]
    async fn a_crl_has_the_profile_and_verifies_with_the_iaca_key() {
        let key = local();
        let issuer = issuer();
        let ski = [7u8; 20];
        let revoked = [
            Revoked {
                serial: vec![0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9],
                revoked_at: t(2),
            },
            Revoked {
                serial: vec![0xC0, 9, 9, 9, 9, 9, 9, 9],
                revoked_at: t(3),
            },
        ];
        let data = CrlData {
            issuer: &issuer,
            authority_key_id: &ski,
            number: 300,
            this_update: t(4),
            next_update: t(11),
            revoked: &revoked,
        };
        let der = sign_crl(&data, &key).await.unwrap();
        let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(crl.version().map(|v| v.0), Some(1), "v2");
        assert_eq!(crl.tbs_cert_list.issuer.as_raw(), issuer.as_slice());
        assert_eq!(crl.last_update().timestamp(), t(4).timestamp());
        assert_eq!(crl.next_update().unwrap().timestamp(), t(11).timestamp());
        assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("300".into()));
        let exts = crl.extensions();
        assert_eq!(
            exts.len(),
            2,
            "authorityKeyIdentifier and cRLNumber, nothing else"
        );
        assert!(exts.iter().all(|e| !e.critical));
        let aki = exts
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref(),
                _ => None,
            })
            .unwrap();
        assert_eq!(aki.0, &ski[..]);
        let entries: Vec<_> = crl.iter_revoked_certificates().collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].raw_serial(), &revoked[0].serial[..]);
        // A serial with the top bit set is encoded positive (a leading zero octet).
        assert_eq!(entries[1].raw_serial()[0], 0);
        assert_eq!(entries[1].revocation_date.timestamp(), t(3).timestamp());
        assert!(
            entries.iter().all(|e| e.extensions().is_empty()),
            "no reason codes"
        );
        verify_crl_signed_by(&der, key.public_key()).unwrap();
        assert_eq!(
            verify_crl_signed_by(&der, local().public_key()),
            Err(X509Error::BadSignature),
            "another key's signature does not verify"
        );
        // Read back: what was signed, from the right issuer and key only.
        let read = read_crl(&der, &issuer, key.public_key()).unwrap();
        assert_eq!(read.number, 300);
        assert_eq!(read.this_update, t(4));
        assert_eq!(read.revoked[0], revoked[0]);
        assert_eq!(
            read.revoked[1].serial,
            [&[0u8][..], &revoked[1].serial].concat()
        );
        assert_eq!(
            read_crl(&der, &issuer, local().public_key()),
            Err(X509Error::BadSignature)
        );
        assert!(read_crl(&der, &issuer[..issuer.len() - 1], key.public_key()).is_err());
        assert!(read_crl(&der[..der.len() - 3], &issuer, key.public_key()).is_err());
    }

    #[tokio::test]
    async fn an_empty_crl_leaves_out_the_revoked_list_and_bad_input_is_refused() {
        let key = local();
        let issuer = issuer();
        let mut data = CrlData {
            issuer: &issuer,
            authority_key_id: &[1; 20],
            number: 1,
            this_update: t(4),
            next_update: t(11),
            revoked: &[],
        };
        let der = sign_crl(&data, &key).await.unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
        data.next_update = t(4);
        assert!(sign_crl(&data, &key).await.is_err());
        let zero = [Revoked {
            serial: vec![0, 0],
            revoked_at: t(1),
        }];
        data.next_update = t(11);
        data.revoked = &zero;
        assert!(sign_crl(&data, &key).await.is_err());
    }
}
