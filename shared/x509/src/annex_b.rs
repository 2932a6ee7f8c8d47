//! The ISO/IEC 18013-5 limits and identifiers that both building certificates (the profile
//! module) and reading them (the parse module) apply: one place, so neither needs the other.

/// Longest IACA validity (20 years of 365 days, as walt.id enforces).
pub const IACA_MAX_DAYS: i64 = 7300;
/// Longest Document Signer validity.
pub const DS_MAX_DAYS: i64 = 457;
/// Longest validity of a status-list signer certificate (ISO/IEC 18013-5 2nd edition, the MSO
/// revocation list signer).
pub const STATUS_LIST_SIGNER_MAX_DAYS: i64 = 1187;
/// The mdlDS extended key usage.
pub const MDL_DS_EKU: &[u64] = &[1, 0, 18013, 5, 1, 2];
/// The extended key usage of a VICAL signer (`id-mdl-kp-mdlVICAL`, Annex C Table C.1).
pub const VICAL_SIGNER_EKU: &[u64] = &[1, 0, 18013, 5, 1, 8];
/// Longest validity of a VICAL signer certificate issued here (as a status-list signer's).
pub const VICAL_SIGNER_MAX_DAYS: i64 = 1187;
