//! PEM armour for certificates and certification requests.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::X509Error;

pub fn encode_certificate(der: &[u8]) -> String {
    encode("CERTIFICATE", der)
}

/// One PEM block labelled `label` (RFC 7468: base64 lines of 64 characters).
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Exactly one `CERTIFICATE` block (surrounding whitespace allowed) to DER.
pub fn decode_one_certificate(pem: &str) -> Result<Vec<u8>, X509Error> {
    decode_one(pem, "CERTIFICATE")
}

/// Exactly one PEM block labelled `label` (surrounding whitespace allowed) to DER.
pub fn decode_one(pem: &str, label: &str) -> Result<Vec<u8>, X509Error> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let text = pem.trim();
    if text.matches(&begin).count() != 1 || text.matches(&end).count() != 1 {
        return Err(X509Error::Parse(format!(
            "expected exactly one PEM {label} block"
        )));
    }
    let body = text
        .strip_prefix(&begin)
        .and_then(|r| r.strip_suffix(&end))
        .ok_or_else(|| X509Error::Parse(format!("text outside the PEM {label} block")))?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| X509Error::Parse(format!("PEM body is not valid base64 ({e})")))?;
    if der.is_empty() {
        return Err(X509Error::Parse("PEM body is empty".into()));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        assert_eq!(
            decode_one_certificate(&encode_certificate(&der)).unwrap(),
            der
        );
        let two = format!("{}{}", encode_certificate(&der), encode_certificate(&der));
        assert!(decode_one_certificate(&two).is_err());
        assert!(decode_one_certificate("hello").is_err());
        assert!(decode_one_certificate(
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"
        )
        .is_err());
        assert!(decode_one_certificate(
            "x-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----"
        )
        .is_err());
    }
}
