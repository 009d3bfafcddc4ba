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

/// Value of every 2-byte code `(lead - 0xE0) * 256 + second`, with
/// [`INVALID`] past the table's end, so the decoder's fast path needs no branch.
pub(crate) static TWO_BYTE_VALUES: [u32; 32 * 256] = build_two_byte_values();
pub(crate) const INVALID: u32 = u32::MAX;

const fn build_two_byte_values() -> [u32; 32 * 256] {
    // 32 leads, not 28: the fast path indexes with `(lead - 0xE0) & 31` before
    // it knows the byte is a lead, and must never read out of bounds.
    let mut values = [INVALID; 32 * 256];
    let mut i = 0;
    while i < TABLE.len() {
        values[i] = TABLE[i] as u32;
        i += 1;
    }
    values
}

/// Value of every 1-byte code (ASCII and Hiragana); 0 for other bytes.
pub(crate) static ONE_BYTE_VALUES: [u32; 256] = {
    let mut values = [0u32; 256];
    let mut b = 0;
    while b < 0xE0 {
        values[b] = if b < 0x80 { b as u32 } else { HIRAGANA_FIRST + b as u32 - 0x80 };
        b += 1;
    }
    values
};

/// How a block whose bytes fall in given classes splits into codes, for the
/// decoder's fast path. Classes, 2 bits per byte: 0 a 1-byte code, 1 filler,
/// 2 a 2-byte lead, 3 anything else (special or 3/4-byte code: slow path).
#[derive(Clone, Copy)]
pub(crate) struct BlockShape {
    /// False when the block needs the slow path (class 3, or a lead at offset 3).
    pub ok: bool,
    /// Characters in the block.
    pub chars: u8,
    /// Offset of each character's first byte.
    pub starts: [u8; 4],
    /// Bit k set: character k is a 2-byte code.
    pub two_byte: u8,
}

pub(crate) static BYTE_CLASS: [u8; 256] = {
    let mut classes = [0u8; 256];
    let mut b = 0xE0;
    while b < 256 {
        classes[b] = if b <= 0xFB {
            2
        } else if b == 0xFF {
            1
        } else {
            3
        };
        b += 1;
    }
    classes
};

pub(crate) static BLOCK_SHAPES: [BlockShape; 256] = {
    let mut shapes = [BlockShape { ok: true, chars: 0, starts: [0; 4], two_byte: 0 }; 256];
    let mut key = 0;
    while key < 256 {
        let mut shape = BlockShape { ok: true, chars: 0, starts: [0; 4], two_byte: 0 };
        let mut p = 0;
        while p < 4 {
            match (key >> (2 * p)) & 3 {
                0 => {
                    shape.starts[shape.chars as usize] = p as u8;
                    shape.chars += 1;
                    p += 1;
                }
                1 => p += 1,
                2 if p < 3 => {
                    shape.starts[shape.chars as usize] = p as u8;
                    shape.two_byte |= 1 << shape.chars;
                    shape.chars += 1;
                    p += 2;
                }
                _ => {
                    shape.ok = false;
                    p = 4;
                }
            }
        }
        shapes[key] = shape;
        key += 1;
    }
    shapes
};

/// Decodes one aligned block holding only 1-byte codes, 2-byte codes and
/// filler, without data-dependent branches. None sends it to the slow path
/// (which also reports any error).
#[inline(always)]
pub(crate) fn decode_block_fast(b: [u8; 4], out: &mut [u32; 4]) -> Option<usize> {
    let key = BYTE_CLASS[b[0] as usize]
        | BYTE_CLASS[b[1] as usize] << 2
        | BYTE_CLASS[b[2] as usize] << 4
        | BYTE_CLASS[b[3] as usize] << 6;
    let shape = BLOCK_SHAPES[key as usize];
    if !shape.ok {
        return None;
    }
    let mut bad = false;
    for (k, slot) in out.iter_mut().enumerate() {
        let s = shape.starts[k] as usize;
        let lead = b[s];
        let one = ONE_BYTE_VALUES[lead as usize];
        let two =
            TWO_BYTE_VALUES[((lead.wrapping_sub(TABLE_LEAD) & 31) as usize) << 8 | b[(s + 1) & 3] as usize];
        let is_two = shape.two_byte >> k & 1 != 0;
        bad |= is_two & (two == INVALID);
        *slot = if is_two { two } else { one };
    }
    if bad {
        None
    } else {
        Some(shape.chars as usize)
    }
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
