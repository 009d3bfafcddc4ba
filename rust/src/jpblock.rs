//! The jpblock code table and the code of each code point.
//!
//! | first byte | bytes | meaning                                              |
//! |------------|-------|------------------------------------------------------|
//! | 00-7F      | 1     | ASCII                                                |
//! | 80-DF      | 1     | Hiragana U+3040..U+309F                              |
//! | E0-FB      | 2     | entry `(lead-0xE0)*256 + second` of [`TABLE`]        |
//! | FC         | 3     | any other code point <= U+FFFF, big-endian           |
//! | FD         | 4     | a code point >= U+10000, big-endian 24 bits          |
//! | FE         | 4     | special token (24-bit id)                            |
//! | FF         | 1     | filler                                               |

pub use crate::jp_table::JP_TABLE as TABLE;

/// First and last code point of the 1-byte Hiragana range.
pub const HIRAGANA_FIRST: u32 = 0x3040;
pub const HIRAGANA_LAST: u32 = 0x309F;
/// First lead byte of the 2-byte codes.
pub const TABLE_LEAD: u8 = 0xE0;
/// Lead byte of the 3-byte code for other BMP code points.
pub const BMP_LEAD: u8 = 0xFC;
/// Lead byte of the 4-byte code for supplementary code points.
pub const ASTRAL_LEAD: u8 = 0xFD;

const NO_INDEX: u16 = u16::MAX;

/// Reverse of [`TABLE`] over the BMP, built at compile time (128 KiB).
static TABLE_INDEX: [u16; 0x10000] = build_index();

const fn build_index() -> [u16; 0x10000] {
    let mut index = [NO_INDEX; 0x10000];
    let mut i = 0;
    while i < TABLE.len() {
        index[TABLE[i] as usize] = i as u16;
        i += 1;
    }
    index
}

/// The code of every BMP code point packed as `bytes | len << 24` (bytes in
/// little-endian order), so the encoder's inner loop is one load.
pub(crate) static BMP_CODES: [u32; 0x10000] = build_bmp_codes();

const fn build_bmp_codes() -> [u32; 0x10000] {
    let mut codes = [0u32; 0x10000];
    let mut cp = 0;
    while cp < 0x10000 {
        codes[cp] = if cp < 0x80 {
            cp as u32 | 1 << 24
        } else if cp >= HIRAGANA_FIRST as usize && cp <= HIRAGANA_LAST as usize {
            (0x80 + cp as u32 - HIRAGANA_FIRST) | 1 << 24
        } else if TABLE_INDEX[cp] != NO_INDEX {
            let i = TABLE_INDEX[cp] as u32;
            (TABLE_LEAD as u32 + (i >> 8)) | (i & 0xFF) << 8 | 2 << 24
        } else {
            BMP_LEAD as u32 | (cp as u32 >> 8) << 8 | (cp as u32 & 0xFF) << 16 | 3 << 24
        };
        cp += 1;
    }
    codes
}

/// The table index of a BMP code point, if it has a 2-byte code.
#[inline]
pub fn table_index(cp: u32) -> Option<u16> {
    match TABLE_INDEX.get(cp as usize) {
        Some(&i) if i != NO_INDEX => Some(i),
        _ => None,
    }
}

/// Is `cp` in the 1-byte Hiragana range?
#[inline]
pub fn is_hiragana(cp: u32) -> bool {
    (HIRAGANA_FIRST..=HIRAGANA_LAST).contains(&cp)
}

/// The shortest code of `cp` as little-endian packed bytes, and its length.
#[inline(always)]
pub(crate) fn packed_code(cp: u32) -> (u32, usize) {
    match BMP_CODES.get(cp as usize) {
        Some(&p) => (p & 0xFF_FFFF, (p >> 24) as usize),
        None => (ASTRAL_LEAD as u32 | (cp >> 16 & 0xFF) << 8 | (cp >> 8 & 0xFF) << 16 | (cp & 0xFF) << 24, 4),
    }
}

/// The shortest (and only valid) code of `cp`: its bytes and length.
#[inline]
pub fn code_of(cp: u32) -> ([u8; 4], usize) {
    if cp < 0x80 {
        ([cp as u8, 0, 0, 0], 1)
    } else if is_hiragana(cp) {
        ([(0x80 + cp - HIRAGANA_FIRST) as u8, 0, 0, 0], 1)
    } else if cp <= 0xFFFF {
        match table_index(cp) {
            Some(i) => ([TABLE_LEAD + (i >> 8) as u8, i as u8, 0, 0], 2),
            None => ([BMP_LEAD, (cp >> 8) as u8, cp as u8, 0], 3),
        }
    } else {
        ([ASTRAL_LEAD, (cp >> 16) as u8, (cp >> 8) as u8, cp as u8], 4)
    }
}

/// Length of the code that starts with `lead` (filler counts as 1).
#[inline]
pub fn code_len(lead: u8) -> usize {
    match lead {
        0x00..=0xDF | 0xFF => 1,
        0xE0..=0xFB => 2,
        0xFC => 3,
        0xFD | 0xFE => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_fits() {
        assert_eq!(TABLE.len(), 7060);
        assert!(TABLE.len() <= 28 * 256);
        assert!(TABLE.windows(2).all(|w| w[0] < w[1]));
        assert!(TABLE.iter().all(|&cp| cp >= 0x80 && !is_hiragana(cp as u32)));
    }

    #[test]
    fn index_inverts_table() {
        for (i, &cp) in TABLE.iter().enumerate() {
            assert_eq!(table_index(cp as u32), Some(i as u16));
        }
        let members = (0..=0xFFFFu32).filter(|&cp| table_index(cp).is_some()).count();
        assert_eq!(members, TABLE.len());
        assert_eq!(table_index(0x10000), None);
    }

    #[test]
    fn packed_codes_match_code_of() {
        for cp in (0..0x11_0000).step_by(13).chain(0x3000..0x3100) {
            let (bytes, len) = code_of(cp);
            let (packed, plen) = packed_code(cp);
            assert_eq!((&packed.to_le_bytes()[..len], plen), (&bytes[..len], len), "U+{cp:04X}");
        }
    }

    #[test]
    fn code_lengths() {
        assert_eq!(code_of('a' as u32), ([b'a', 0, 0, 0], 1));
        assert_eq!(code_of('あ' as u32).1, 1);
        assert_eq!(code_of('ア' as u32).1, 2);
        assert_eq!(code_of('漢' as u32).1, 2);
        assert_eq!(code_of('、' as u32).1, 2);
        assert_eq!(code_of(0xAC00).1, 3); // Hangul is not in the table
        assert_eq!(code_of(0xD800).1, 3); // lone surrogate
        assert_eq!(code_of(0x1F600), ([0xFD, 0x01, 0xF6, 0x00], 4));
        for lead in 0..=255u8 {
            assert!((1..=4).contains(&code_len(lead)));
        }
    }
}
