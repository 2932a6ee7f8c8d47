//! Certificate serial numbers in one form: lower-case hex of the DER INTEGER's content bytes, as
//! the certificate carries them (a leading `00` stays). Parsed once, where a request or a record
//! names one; everything past that holds a [`SerialNumber`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A certificate serial number (at most 32 bytes: RFC 5280 allows 20 octets, a leading zero and
/// what other issuers write).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SerialNumber(String);

/// Why a text is not a serial number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a certificate serial number in hex (colons optional, at most 64 digits)")]
pub struct InvalidSerial;

impl SerialNumber {
    /// The serial whose content bytes are `bytes` (never empty in a certificate; an empty slice
    /// is the serial `00`).
    pub fn from_bytes(bytes: &[u8]) -> SerialNumber {
        if bytes.is_empty() {
            return SerialNumber("00".into());
        }
        SerialNumber(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A serial as people write it: hex digits in either case, colons optional (`0A:1b:...`);
    /// an odd number of digits gains a leading zero.
    pub fn parse(text: &str) -> Result<SerialNumber, InvalidSerial> {
        let hex: String = text
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if hex.is_empty() || hex.len() > 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(InvalidSerial);
        }
        Ok(SerialNumber(match hex.len() % 2 {
            1 => format!("0{hex}"),
            _ => hex,
        }))
    }

    /// The canonical hex text (a record's path segment, the API's `serialNumber`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The content bytes (what a CRL entry carries).
    pub fn to_bytes(&self) -> Vec<u8> {
        (0..self.0.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&self.0[i..i + 2], 16).expect("checked hex"))
            .collect()
    }
}

impl TryFrom<String> for SerialNumber {
    type Error = InvalidSerial;
    fn try_from(s: String) -> Result<Self, InvalidSerial> {
        SerialNumber::parse(&s)
    }
}

impl From<SerialNumber> for String {
    fn from(s: SerialNumber) -> String {
        s.0
    }
}

impl AsRef<str> for SerialNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_form_whatever_the_spelling() {
        let s = SerialNumber::parse("0A:1b:FF").unwrap();
        assert_eq!(s.as_str(), "0a1bff");
        assert_eq!(
            SerialNumber::parse("a1bff").unwrap(),
            s,
            "odd: a leading zero"
        );
        assert_eq!(s.to_bytes(), [0x0a, 0x1b, 0xff]);
        assert_eq!(SerialNumber::from_bytes(&s.to_bytes()), s);
        assert_eq!(
            SerialNumber::from_bytes(&[0, 0x80]).as_str(),
            "0080",
            "the leading 00 stays"
        );
        for bad in ["", ":", "xyz", "0x12", &"a".repeat(65)] {
            assert_eq!(SerialNumber::parse(bad), Err(InvalidSerial), "{bad:?}");
        }
    }

    #[test]
    fn a_stored_serial_that_is_not_one_does_not_parse() {
        let ok: SerialNumber = serde_json::from_value(serde_json::json!("00ab")).unwrap();
        assert_eq!(serde_json::to_value(&ok).unwrap(), "00ab");
        assert!(serde_json::from_value::<SerialNumber>(serde_json::json!("zz")).is_err());
    }
}
