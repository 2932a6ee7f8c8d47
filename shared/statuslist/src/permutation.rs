//! The order in which a list hands out its indices: a keyed pseudo-random permutation of
//! `[0, size)`.
//!
//! A list counts its allocations (`0, 1, 2, ...`); allocation `n` gets index `P(n)`. `P` is a
//! balanced Feistel network over the smallest even number of bits that covers `size`, with
//! [`ROUNDS`] rounds whose round function is SHA-256 keyed by the list's secret (the key fills
//! the first 64-byte block, so the messages hashed after it have a fixed length and the keyed
//! hash is a PRF). Values that fall outside `[0, size)` are encrypted again until they fall
//! inside ("cycle walking"), which keeps `P` a bijection of `[0, size)`: indices are unique by
//! construction and never reused, and without the key the sequence is indistinguishable from
//! drawing indices uniformly at random without replacement (it reveals neither the issuance order
//! nor how many credentials a batch held). With at most 4 times as many values as `size` in the
//! Feistel domain, a walk takes fewer than 4 encryptions on average.

use sha2::{Digest, Sha256};

use crate::StatusListError;

/// Feistel rounds. Four make a strong pseudo-random permutation asymptotically; small domains
/// need more (NIST's FF1 uses ten for the same reason).
pub const ROUNDS: u8 = 10;

/// Largest list a permutation covers.
pub const MAX_SIZE: u64 = 1 << 32;

/// A keyed bijection of `[0, size)`.
#[derive(Clone)]
pub struct Permutation {
    size: u64,
    half_bits: u32,
    keyed: Sha256,
}

impl std::fmt::Debug for Permutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Permutation")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Permutation {
    /// The permutation of `[0, size)` under `key`.
    pub fn new(key: &[u8; 32], size: u64) -> Result<Permutation, StatusListError> {
        if size == 0 || size > MAX_SIZE {
            return Err(StatusListError::Decode(format!(
                "a permutation covers 1 to {MAX_SIZE} values (got {size})"
            )));
        }
        // The smallest 2h >= 2 with 2^(2h) >= size.
        let bits = 64 - (size - 1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(key);
        block[32..48].copy_from_slice(b"trustfn-perm-v1\0");
        block[48..56].copy_from_slice(&size.to_be_bytes());
        let mut keyed = Sha256::new();
        keyed.update(block);
        Ok(Permutation {
            size,
            half_bits,
            keyed,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut h = self.keyed.clone();
        h.update([round]);
        h.update((half as u32).to_be_bytes());
        let d = h.finalize();
        u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) & self.mask()
    }

    fn encrypt(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask());
        for i in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(i, r));
        }
        (l << self.half_bits) | r
    }

    fn decrypt(&self, y: u64) -> u64 {
        let (mut l, mut r) = (y >> self.half_bits, y & self.mask());
        for i in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(i, l), l);
        }
        (l << self.half_bits) | r
    }

    /// The index of allocation `n` (`n < size`).
    pub fn index(&self, n: u64) -> u64 {
        debug_assert!(n < self.size);
        let mut y = self.encrypt(n);
        while y >= self.size {
            y = self.encrypt(y);
        }
        y
    }

    /// Which allocation hands out `index` (`index < size`): the inverse of [`Self::index`].
    pub fn position(&self, index: u64) -> u64 {
        debug_assert!(index < self.size);
        let mut x = self.decrypt(index);
        while x >= self.size {
            x = self.decrypt(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn is_a_bijection_on_small_and_odd_sizes() {
        for size in [1u64, 2, 3, 5, 7, 16, 17, 100, 255, 1000, 4097, 65_537] {
            let p = Permutation::new(&key(7), size).unwrap();
            let mut seen = vec![false; size as usize];
            for n in 0..size {
                let i = p.index(n);
                assert!(i < size, "size {size}: {n} -> {i}");
                assert!(!seen[i as usize], "size {size}: index {i} handed out twice");
                seen[i as usize] = true;
                assert_eq!(p.position(i), n, "size {size}: position inverts index");
            }
        }
    }

    #[test]
    fn a_full_cycle_of_a_real_list_size_never_repeats() {
        let size = 1u64 << 17;
        let p = Permutation::new(&key(1), size).unwrap();
        let mut seen = vec![false; size as usize];
        for n in 0..size {
            let i = p.index(n) as usize;
            assert!(!std::mem::replace(&mut seen[i], true), "repeat at {n}");
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn depends_on_the_key_and_does_not_follow_issuance_order() {
        let size = 1u64 << 20;
        let a = Permutation::new(&key(1), size).unwrap();
        let b = Permutation::new(&key(2), size).unwrap();
        let first_a: Vec<u64> = (0..64).map(|n| a.index(n)).collect();
        let first_b: Vec<u64> = (0..64).map(|n| b.index(n)).collect();
        assert_ne!(first_a, first_b);
        // Consecutive allocations land far apart and spread over the whole list: of 64
        // consecutive allocations, each quarter of the list gets some (the chance that a uniform
        // draw misses a quarter is below 2^-24).
        for q in 0..4 {
            assert!(
                first_a.iter().any(|i| i * 4 / size == q),
                "no index in quarter {q}"
            );
        }
        let ascending = first_a.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(
            (16..48).contains(&ascending),
            "{ascending} of 63 steps ascend"
        );
    }

    #[test]
    fn refuses_empty_and_oversized_domains() {
        assert!(Permutation::new(&key(0), 0).is_err());
        assert!(Permutation::new(&key(0), MAX_SIZE + 1).is_err());
        assert!(format!("{:?}", Permutation::new(&key(9), 8).unwrap()).contains("size: 8"));
    }
}
