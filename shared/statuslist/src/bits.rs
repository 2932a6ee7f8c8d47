//! The packed status array. Entries never straddle bytes (bits ∈ {1, 2, 4, 8}).

use crate::StatusListError;

/// Where entry 0 sits inside a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOrder {
    /// IETF Token Status List: index 0 in the least significant bits ("right to left").
    LsbFirst,
    /// W3C Bitstring Status List and StatusList2021: index 0 in the most significant bits.
    MsbFirst,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusArray {
    bits: u8,
    order: BitOrder,
    bytes: Vec<u8>,
}

pub fn check_bits(bits: u8) -> Result<(), StatusListError> {
    match bits {
        1 | 2 | 4 | 8 => Ok(()),
        b => Err(StatusListError::Bits(b)),
    }
}

impl StatusArray {
    /// A list of `capacity` entries, all 0 (VALID), rounded up to whole bytes.
    pub fn new(bits: u8, capacity: usize, order: BitOrder) -> Result<StatusArray, StatusListError> {
        check_bits(bits)?;
        let per_byte = 8 / bits as usize;
        Ok(StatusArray {
            bits,
            order,
            bytes: vec![0u8; capacity.div_ceil(per_byte)],
        })
    }

    pub fn from_bytes(
        bits: u8,
        bytes: Vec<u8>,
        order: BitOrder,
    ) -> Result<StatusArray, StatusListError> {
        check_bits(bits)?;
        Ok(StatusArray { bits, order, bytes })
    }

    /// Packs one status per element of `values` (a whole list at once: no per-entry index
    /// arithmetic). Fails on a value that does not fit in `bits`.
    pub fn from_values(
        bits: u8,
        values: &[u8],
        order: BitOrder,
    ) -> Result<StatusArray, StatusListError> {
        check_bits(bits)?;
        let per_byte = 8 / bits as usize;
        let max = if bits == 8 { 0xFF } else { (1u8 << bits) - 1 };
        let mut bytes = Vec::with_capacity(values.len().div_ceil(per_byte));
        for chunk in values.chunks(per_byte) {
            let mut byte = 0u8;
            for (slot, &v) in chunk.iter().enumerate() {
                if v > max {
                    return Err(StatusListError::Value { value: v, bits });
                }
                let shift = match order {
                    BitOrder::LsbFirst => slot as u32 * bits as u32,
                    BitOrder::MsbFirst => 8 - bits as u32 * (slot as u32 + 1),
                };
                byte |= v << shift;
            }
            bytes.push(byte);
        }
        Ok(StatusArray { bits, order, bytes })
    }

    /// Every entry, one byte each (the whole list at once).
    pub fn values(&self) -> Vec<u8> {
        let bits = self.bits as u32;
        let per_byte = 8 / bits;
        let mask = if bits == 8 { 0xFF } else { (1u8 << bits) - 1 };
        let mut out = Vec::with_capacity(self.capacity());
        for &byte in &self.bytes {
            for slot in 0..per_byte {
                let shift = match self.order {
                    BitOrder::LsbFirst => slot * bits,
                    BitOrder::MsbFirst => 8 - bits * (slot + 1),
                };
                out.push((byte >> shift) & mask);
            }
        }
        out
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }

    pub fn order(&self) -> BitOrder {
        self.order
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Entries the array holds.
    pub fn capacity(&self) -> usize {
        self.bytes.len() * (8 / self.bits as usize)
    }

    fn locate(&self, index: usize) -> Result<(usize, u32, u8), StatusListError> {
        if index >= self.capacity() {
            return Err(StatusListError::Range {
                index,
                capacity: self.capacity(),
            });
        }
        let per_byte = 8 / self.bits as usize;
        let slot = (index % per_byte) as u32 * self.bits as u32;
        let shift = match self.order {
            BitOrder::LsbFirst => slot,
            BitOrder::MsbFirst => 8 - self.bits as u32 - slot,
        };
        let mask = if self.bits == 8 {
            0xFF
        } else {
            (1u8 << self.bits) - 1
        };
        Ok((index / per_byte, shift, mask))
    }

    pub fn get(&self, index: usize) -> Result<u8, StatusListError> {
        let (byte, shift, mask) = self.locate(index)?;
        Ok((self.bytes[byte] >> shift) & mask)
    }

    pub fn set(&mut self, index: usize, value: u8) -> Result<(), StatusListError> {
        let (byte, shift, mask) = self.locate(index)?;
        if value > mask {
            return Err(StatusListError::Value {
                value,
                bits: self.bits,
            });
        }
        self.bytes[byte] = (self.bytes[byte] & !(mask << shift)) | (value << shift);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_packing_matches_entry_by_entry() {
        for bits in [1u8, 2, 4, 8] {
            for order in [BitOrder::LsbFirst, BitOrder::MsbFirst] {
                let max = if bits == 8 {
                    255u32
                } else {
                    (1u32 << bits) - 1
                };
                let values: Vec<u8> = (0..1001u32)
                    .map(|i| ((i * 7 + i / 3) % (max + 1)) as u8)
                    .collect();
                let mut one = StatusArray::new(bits, values.len(), order).unwrap();
                for (i, v) in values.iter().enumerate() {
                    one.set(i, *v).unwrap();
                }
                let bulk = StatusArray::from_values(bits, &values, order).unwrap();
                assert_eq!(bulk, one, "bits {bits} {order:?}");
                assert_eq!(&bulk.values()[..values.len()], &values[..]);
                assert!(
                    bulk.values()[values.len()..].iter().all(|v| *v == 0),
                    "padding is 0"
                );
            }
        }
        assert!(StatusArray::from_values(2, &[4], BitOrder::LsbFirst).is_err());
    }

    #[test]
    fn spec_examples_pack_lsb_first() {
        // draft-ietf-oauth-status-list §4.1: 16 entries, 1 bit -> B9 A3
        let mut a = StatusArray::new(1, 16, BitOrder::LsbFirst).unwrap();
        for (i, v) in [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
            .into_iter()
            .enumerate()
        {
            a.set(i, v).unwrap();
        }
        assert_eq!(a.bytes(), [0xB9, 0xA3]);
        // 12 entries, 2 bits -> C9 44 F9
        let mut a = StatusArray::new(2, 12, BitOrder::LsbFirst).unwrap();
        for (i, v) in [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3].into_iter().enumerate() {
            a.set(i, v).unwrap();
        }
        assert_eq!(a.bytes(), [0xC9, 0x44, 0xF9]);
    }

    #[test]
    fn w3c_packs_msb_first() {
        // Derived vector: indices 0, 7, 8, 94567, 131071 of a 131,072-entry list.
        let mut a = StatusArray::new(1, 131_072, BitOrder::MsbFirst).unwrap();
        for i in [0, 7, 8, 94567, 131_071] {
            a.set(i, 1).unwrap();
        }
        assert_eq!(a.bytes().len(), 16_384);
        assert_eq!(
            (
                a.bytes()[0],
                a.bytes()[1],
                a.bytes()[11820],
                a.bytes()[16383]
            ),
            (0x81, 0x80, 0x01, 0x01)
        );
        assert_eq!(a.bytes().iter().filter(|b| **b != 0).count(), 4);
    }

    #[test]
    fn set_get_every_width_and_order() {
        for order in [BitOrder::LsbFirst, BitOrder::MsbFirst] {
            for bits in [1u8, 2, 4, 8] {
                let mut a = StatusArray::new(bits, 1000, order).unwrap();
                let max = if bits == 8 {
                    255
                } else {
                    (1u16 << bits) as u8 - 1
                };
                for i in 0..1000 {
                    a.set(i, (i as u8) & max).unwrap();
                }
                for i in 0..1000 {
                    assert_eq!(a.get(i).unwrap(), (i as u8) & max);
                }
                a.set(5, 0).unwrap();
                assert_eq!(a.get(5).unwrap(), 0);
                assert_eq!(a.get(4).unwrap(), 4 & max, "neighbours untouched");
                assert!(matches!(
                    a.get(a.capacity()),
                    Err(StatusListError::Range { .. })
                ));
                if bits < 8 {
                    assert!(matches!(
                        a.set(0, max + 1),
                        Err(StatusListError::Value { .. })
                    ));
                }
            }
        }
        assert_eq!(
            StatusArray::new(3, 8, BitOrder::LsbFirst).unwrap_err(),
            StatusListError::Bits(3)
        );
    }
}
