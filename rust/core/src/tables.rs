//! The code tables of the table-driven schemes (`jpblock`, `jpblock2`), and
//! the lead-byte layout they share:
//!
//! | first byte | bytes | meaning                                              |
//! |------------|-------|------------------------------------------------------|
//! | 00-DF      | 1     | the scheme's 1-byte code points ([`Tables::one_byte`]) |
//! | E0-FB      | 2     | entry `(lead-0xE0)*256 + second` of the 2-byte table |
//! | FC         | 3     | any other code point <= U+FFFF, big-endian           |
//! | FD         | 4     | a code point >= U+10000, big-endian 24 bits          |
//! | FE         | 4     | special token (24-bit id)                            |
//! | FF         | 1     | filler                                               |
//!
//! The 2-byte tables are committed data (`rust/core/data/*.txt`), compiled
//! in by `build.rs`; everything else here is derived from them at compile time.

use crate::fast_decode::{pair_values, PAIRS};
use crate::scheme::{FILLER, SPECIAL_LEAD};

mod data {
    include!(concat!(env!("OUT_DIR"), "/tables.rs"));
}

/// First lead byte of the 2-byte codes; the 1-byte codes are the bytes below it.
pub const TABLE_LEAD: u8 = 0xE0;
/// Lead byte of the 3-byte code for other BMP code points.
pub const BMP_LEAD: u8 = 0xFC;
/// Lead byte of the 4-byte code for supplementary code points.
pub const ASTRAL_LEAD: u8 = 0xFD;
/// Entries the 28 lead bytes 0xE0..=0xFB can address.
pub const TABLE_CAPACITY: usize = (BMP_LEAD - TABLE_LEAD) as usize * 256;
/// Number of 1-byte codes.
pub const ONE_BYTE_CODES: usize = TABLE_LEAD as usize;

/// Length of the code that starts with `lead` (filler counts as 1).
#[inline]
pub fn code_len(lead: u8) -> usize {
    match lead {
        0x00..=0xDF | FILLER => 1,
        0xE0..=0xFB => 2,
        BMP_LEAD => 3,
        ASTRAL_LEAD | SPECIAL_LEAD => 4,
    }
}

/// A table-driven scheme's codes, and lookup tables derived from them.
pub(crate) struct Tables {
    /// Code point of each 1-byte code `0x00..=0xDF`.
    pub one_byte: [u16; ONE_BYTE_CODES],
    /// The 2-byte table: entry `i` is the bytes `0xE0 + i / 256`, `i % 256`.
    pub two_byte: &'static [u16],
    /// The code of every BMP code point packed as `bytes | len << 24` (bytes
    /// little-endian), so encoding a character is one load.
    bmp: [u32; 0x10000],
    /// The decoder's fast path: the character starting with each byte pair.
    pub values: [u16; PAIRS],
}

impl Tables {
    const fn new(one_byte: [u16; ONE_BYTE_CODES], two_byte: &'static [u16]) -> Tables {
        assert!(two_byte.len() <= TABLE_CAPACITY, "the 2-byte table is over capacity");
        // Every BMP code point starts with its 3-byte code, then the 2-byte
        // and 1-byte assignments overwrite it: each gets exactly one code.
        let mut bmp = [0u32; 0x10000];
        let mut cp = 0;
        while cp < 0x10000 {
            bmp[cp] = BMP_LEAD as u32 | (cp as u32 >> 8) << 8 | (cp as u32 & 0xFF) << 16 | 3 << 24;
            cp += 1;
        }
        let mut i = 0;
        while i < two_byte.len() {
            let cp = two_byte[i] as usize;
            assert!(bmp[cp] >> 24 == 3, "a code point is in the 2-byte table twice");
            bmp[cp] = (TABLE_LEAD as u32 + (i as u32 >> 8)) | (i as u32 & 0xFF) << 8 | 2 << 24;
            i += 1;
        }
        let mut b = 0;
        while b < ONE_BYTE_CODES {
            let cp = one_byte[b] as usize;
            assert!(bmp[cp] >> 24 == 3, "a 1-byte code point has another code too");
            bmp[cp] = b as u32 | 1 << 24;
            b += 1;
        }
        Tables { one_byte, two_byte, bmp, values: pair_values(&one_byte, two_byte) }
    }

    /// The shortest (only valid) code of `cp` as little-endian packed bytes, and its length.
    #[inline(always)]
    pub fn code(&self, cp: u32) -> (u32, usize) {
        match self.bmp.get(cp as usize) {
            Some(&p) => (p & 0xFF_FFFF, (p >> 24) as usize),
            None => {
                (ASTRAL_LEAD as u32 | (cp >> 16 & 0xFF) << 8 | (cp >> 8 & 0xFF) << 16 | (cp & 0xFF) << 24, 4)
            }
        }
    }

    /// Is the 3-byte (`FC`) code the shortest code of this BMP code point?
    #[inline]
    pub fn needs_bmp_code(&self, cp: u32) -> bool {
        self.code(cp).1 == 3
    }
}

/// jpblock's 1-byte codes: ASCII, then the Hiragana block U+3040..U+309F.
const fn jpblock_one_byte() -> [u16; ONE_BYTE_CODES] {
    let mut t = [0u16; ONE_BYTE_CODES];
    let mut b = 0;
    while b < ONE_BYTE_CODES {
        t[b] = if b < 0x80 { b as u16 } else { 0x3040 + (b - 0x80) as u16 };
        b += 1;
    }
    t
}

pub(crate) static JPBLOCK: Tables = Tables::new(jpblock_one_byte(), &data::JPBLOCK_TWO_BYTE);

/// jpblock2: jpblock's layout with frequency-ranked 1-byte codes (docs/spec.md).
pub(crate) static JPBLOCK2: Tables = Tables::new(data::JPBLOCK2_ONE_BYTE, &data::JPBLOCK2_TWO_BYTE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpblock_table_is_sorted_and_fits() {
        let t = JPBLOCK.two_byte;
        assert_eq!(t.len(), 7060);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        assert!(t.iter().all(|&cp| cp >= 0x80 && !(0x3040..=0x309F).contains(&cp)));
    }

    #[test]
    fn every_bmp_code_point_has_one_code() {
        for t in [&JPBLOCK, &JPBLOCK2] {
            let mut seen = std::collections::HashSet::new();
            for cp in 0..0x10000u32 {
                let (code, len) = t.code(cp);
                assert!(seen.insert((code, len)), "U+{cp:04X}");
                assert_eq!(code_len(code as u8), len);
            }
        }
    }

    #[test]
    fn jpblock2_gives_short_codes_to_frequent_characters() {
        let len = |c: char| JPBLOCK2.code(u32::from(c)).1;
        assert_eq!((len('、'), len('。'), len('ー'), len('人'), len('年')), (1, 1, 1, 1, 1));
        assert_eq!((len('\0'), len('\u{7F}'), len('\n'), len('a'), len('あ')), (2, 2, 1, 1, 1));
        assert_eq!(JPBLOCK2.code(u32::from('、')), (0, 1));
        // The same code points have 1- or 2-byte codes as under jpblock.
        for cp in 0..0x10000u32 {
            assert_eq!(JPBLOCK.code(cp).1 <= 2, JPBLOCK2.code(cp).1 <= 2, "U+{cp:04X}");
        }
    }

    #[test]
    fn code_lengths() {
        let len = |c: char| JPBLOCK.code(u32::from(c)).1;
        assert_eq!(JPBLOCK.code(u32::from('a')), (u32::from(b'a'), 1));
        assert_eq!((len('あ'), len('ア'), len('漢'), len('、')), (1, 2, 2, 2));
        assert_eq!(JPBLOCK.code(0xAC00).1, 3); // Hangul is not in the table
        assert_eq!(JPBLOCK.code(0xD800).1, 3); // lone surrogate
        assert_eq!(JPBLOCK.code(0x1F600), (u32::from_le_bytes([0xFD, 0x01, 0xF6, 0x00]), 4));
        for lead in 0..=255u8 {
            assert!((1..=4).contains(&code_len(lead)));
        }
    }
}
