//! A minimal DER writer: exactly the constructs a certificate needs, nothing more.

use chrono::{DateTime, Datelike, Utc};

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0C;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const IA5_STRING: u8 = 0x16;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// Tag, length, value.
pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

pub fn set(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SET, &parts.concat())
}

/// Context-specific constructed tag `[n]` (EXPLICIT, or IMPLICIT over a constructed type).
pub fn context(n: u8, body: &[u8]) -> Vec<u8> {
    tlv(0xA0 | n, body)
}

/// Context-specific primitive tag `[n]` (IMPLICIT over a primitive type).
pub fn context_primitive(n: u8, body: &[u8]) -> Vec<u8> {
    tlv(0x80 | n, body)
}

pub fn oid(arcs: &[u64]) -> Vec<u8> {
    assert!(arcs.len() >= 2 && arcs[0] <= 2, "invalid OID");
    let mut body = Vec::new();
    base128(&mut body, arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        base128(&mut body, *a);
    }
    tlv(OID, &body)
}

fn base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = vec![(v & 0x7F) as u8];
    v >>= 7;
    while v > 0 {
        tmp.push(0x80 | (v & 0x7F) as u8);
        v >>= 7;
    }
    tmp.reverse();
    out.extend(tmp);
}

pub fn boolean(b: bool) -> Vec<u8> {
    tlv(BOOLEAN, &[if b { 0xFF } else { 0x00 }])
}

/// A non-negative INTEGER from big-endian magnitude bytes (minimal encoding).
pub fn uint(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(bytes.len().saturating_sub(1));
    let mut body = Vec::new();
    let rest = if bytes.is_empty() {
        &[0u8][..]
    } else {
        &bytes[skip..]
    };
    if rest[0] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(rest);
    tlv(INTEGER, &body)
}

pub fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, bytes)
}

/// A BIT STRING of whole bytes (no unused bits).
pub fn bits(bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend_from_slice(bytes);
    tlv(BIT_STRING, &body)
}

/// A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte;
/// trailing zero bits are removed as DER requires.
pub fn named_bits(set_bits: &[u8]) -> Vec<u8> {
    let highest = set_bits.iter().copied().max().unwrap_or(0) as usize;
    let mut bytes = vec![0u8; highest / 8 + 1];
    for b in set_bits {
        bytes[*b as usize / 8] |= 0x80 >> (b % 8);
    }
    let unused = 7 - (highest % 8) as u8;
    let mut body = vec![unused];
    body.extend(bytes);
    tlv(BIT_STRING, &body)
}

/// RFC 5280 time: UTCTime through 2049, GeneralizedTime from 2050.
/// A time as RFC 5280 §4.1.2.5 wants it: UTCTime for 1950 through 2049 (two-digit years, read
/// back in that window), GeneralizedTime outside it. A date before 1950 as UTCTime would be read
/// as a century later, and a revocation, once published, cannot be corrected.
pub fn time(t: DateTime<Utc>) -> Vec<u8> {
    if (1950..2050).contains(&t.year()) {
        tlv(UTC_TIME, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        tlv(
            GENERALIZED_TIME,
            t.format("%Y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_values() {
        assert_eq!(
            oid(&[1, 0, 18013, 5, 1, 2]),
            [0x06, 0x07, 0x28, 0x81, 0x8C, 0x5D, 0x05, 0x01, 0x02]
        );
        assert_eq!(
            oid(&[1, 2, 840, 10045, 4, 3, 2]),
            [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
        );
        assert_eq!(uint(&[0x00, 0x00, 0x7F]), [0x02, 0x01, 0x7F]);
        assert_eq!(uint(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0]), [0x02, 0x01, 0x00]);
        assert_eq!(named_bits(&[5, 6]), [0x03, 0x02, 0x01, 0x06]); // keyCertSign + cRLSign
        assert_eq!(named_bits(&[0]), [0x03, 0x02, 0x07, 0x80]); // digitalSignature
        assert_eq!(tlv(0x04, &[0u8; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0u8; 300])[..4], [0x04, 0x82, 0x01, 0x2C]);
    }
}
