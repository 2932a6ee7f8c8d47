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
