//! Compressed encodings: TSL `lst` (ZLIB, base64url without padding) and W3C `encodedList`
//! (GZIP, multibase base64url `u...`; StatusList2021 without the `u`).

use std::io::{Read, Write};

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

use crate::bits::{BitOrder, StatusArray};
use crate::StatusListError;

/// Largest decompressed list a decoder accepts (16 MiB = 134 million 1-bit entries).
pub const MAX_INFLATED: usize = 16 * 1024 * 1024;

/// ZLIB (RFC 1950) at the highest level, as the TSL draft recommends.
pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 64 + 64),
        Compression::best(),
    );
    e.write_all(bytes).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// GZIP (RFC 1952) at the highest level, no file name, mtime 0.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 64 + 64),
        Compression::best(),
    );
    e.write_all(bytes).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

fn bounded(mut r: impl Read) -> Result<Vec<u8>, StatusListError> {
    let mut out = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| StatusListError::Decode(format!("inflate: {e}")))?;
    if n > MAX_INFLATED {
        return Err(StatusListError::Decode(format!(
            "inflates to more than {MAX_INFLATED} bytes"
        )));
    }
    Ok(out)
}

pub fn unzlib(bytes: &[u8]) -> Result<Vec<u8>, StatusListError> {
    bounded(ZlibDecoder::new(bytes))
}

pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, StatusListError> {
    bounded(GzDecoder::new(bytes))
}

/// TSL `lst` for the JSON/JWT form: base64url (no padding) of the ZLIB bytes.
pub fn tsl_lst(list: &StatusArray) -> String {
    URL_SAFE_NO_PAD.encode(zlib(list.bytes()))
}

/// Decodes a TSL `lst` (JSON form) into an LSB-first array.
pub fn tsl_decode(bits: u8, lst: &str) -> Result<StatusArray, StatusListError> {
    let z = URL_SAFE_NO_PAD
        .decode(lst.trim_end_matches('='))
        .map_err(|e| StatusListError::Decode(format!("lst is not base64url ({e})")))?;
    StatusArray::from_bytes(bits, unzlib(&z)?, BitOrder::LsbFirst)
}

/// W3C `encodedList`: `u` + base64url(GZIP(bits)) for BitstringStatusList; without the `u` for
/// StatusList2021.
pub fn w3c_encoded_list(list: &StatusArray, multibase: bool) -> String {
    let b64 = URL_SAFE_NO_PAD.encode(gzip(list.bytes()));
    if multibase {
        format!("u{b64}")
    } else {
        b64
    }
}

/// Decodes a W3C `encodedList` (with or without the multibase `u`, either base64 alphabet).
pub fn w3c_decode(status_size: u8, encoded: &str) -> Result<StatusArray, StatusListError> {
    let s = encoded
        .strip_prefix('u')
        .unwrap_or(encoded)
        .trim_end_matches('=');
    let g = URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .map_err(|e| StatusListError::Decode(format!("encodedList is not base64 ({e})")))?;
    StatusArray::from_bytes(status_size, gunzip(&g)?, BitOrder::MsbFirst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_list_2020_vectors_are_lsb_first() {
        // The 100,000-entry lists of the RevocationList2020 reference implementation's tests
        // (digitalbazaar/vc-revocation-list): empty, and with entry 50,000 revoked.
        let empty = w3c_decode(
            1,
            "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQsvoAAAAAAAAAAAAAAAAP4GcwM92tQwAAA",
        )
        .unwrap();
        assert_eq!(empty.capacity(), 100_000);
        assert!(empty.bytes().iter().all(|b| *b == 0));
        let one = w3c_decode(
            1,
            "H4sIAAAAAAAAA-3OMQ0AAAgDsOHfNB72EJJWQRMAAAAAAIDWXAcAAAAAAIDHFrc4zDzUMAAA",
        )
        .unwrap();
        let lsb = StatusArray::from_bytes(1, one.bytes().to_vec(), BitOrder::LsbFirst).unwrap();
        let set: Vec<usize> = (0..lsb.capacity())
            .filter(|i| lsb.get(*i).unwrap() == 1)
            .collect();
        assert_eq!(set, [50_000]);
        // Our encoding of that list decodes to the same bits.
        let mut ours = StatusArray::new(1, 100_000, BitOrder::LsbFirst).unwrap();
        ours.set(50_000, 1).unwrap();
        let back = w3c_decode(1, &w3c_encoded_list(&ours, false)).unwrap();
        assert_eq!(back.bytes(), one.bytes());
    }

    #[test]
    fn decodes_the_spec_examples() {
        let a = tsl_decode(1, "eNrbuRgAAhcBXQ").unwrap();
        assert_eq!(a.bytes(), [0xB9, 0xA3]);
        let a = tsl_decode(2, "eNo76fITAAPfAgc").unwrap();
        assert_eq!(a.bytes(), [0xC9, 0x44, 0xF9]);
        // W3C REC example 3: 16 KiB of zeros
        let a = w3c_decode(
            1,
            "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",
        )
        .unwrap();
        assert_eq!(a.capacity(), 131_072);
        assert!(a.bytes().iter().all(|b| *b == 0));
    }

    #[test]
    fn round_trips_and_bounds() {
        let mut a = StatusArray::new(2, 131_072, BitOrder::MsbFirst).unwrap();
        a.set(94_567, 3).unwrap();
        assert_eq!(w3c_decode(2, &w3c_encoded_list(&a, true)).unwrap(), a);
        assert_eq!(w3c_decode(2, &w3c_encoded_list(&a, false)).unwrap(), a);
        let bomb = zlib(&vec![0u8; MAX_INFLATED + 1]);
        assert!(unzlib(&bomb).is_err());
        assert!(tsl_decode(1, "!!").is_err());
        assert!(tsl_decode(1, "AAAA").is_err());
    }
}
