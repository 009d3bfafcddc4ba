//! The schemes, the framing they share, and the code of one character.
//!
//! This module and [`tables`](crate::tables) are where the format is defined:
//! the code of a code point ([`Codes::code`]), the block rule
//! ([`fill_before`]) and the lead-byte layout ([`code_len`]). Encoder,
//! decoder, statistics and the automaton are all written against them.

use std::fmt;

use crate::tables::{Tables, JPBLOCK, JPBLOCK2};

/// Bytes per block: the model merges each block into one position.
pub const BLOCK: usize = 4;
/// Filler byte: carries nothing; decoders skip it wherever a code may start.
pub const FILLER: u8 = 0xFF;
/// First byte of a 4-byte special-token block.
pub const SPECIAL_LEAD: u8 = 0xFE;

/// How characters become bytes. All schemes share the filler and special-block framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Japanese-friendly codes of 1-4 bytes that never cross a 4-byte block.
    Jpblock,
    /// Plain UTF-8 (lone surrogates as CPython's `surrogatepass` writes them).
    Utf8,
    /// jpblock's layout with 1-byte codes for the most frequent Japanese
    /// characters (a frequency-ranked version; jpblock stays as it is).
    Jpblock2,
}

impl Scheme {
    /// Every scheme, in the order the Python API lists them.
    pub const ALL: [Scheme; 3] = [Scheme::Jpblock, Scheme::Utf8, Scheme::Jpblock2];

    /// The scheme's name as used by the Python API, the CLI and saved files.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Jpblock => "jpblock",
            Scheme::Utf8 => "utf8",
            Scheme::Jpblock2 => "jpblock2",
        }
    }

    /// The scheme with this name, if any.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The number that stands for the scheme in binary files (shard headers).
    pub fn id(self) -> u32 {
        match self {
            Scheme::Jpblock => 1,
            Scheme::Utf8 => 2,
            Scheme::Jpblock2 => 3,
        }
    }

    /// The scheme with this file id, if any.
    pub fn from_id(id: u32) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The code tables of a table-driven scheme (all but `utf8`).
    pub(crate) fn tables(self) -> Option<&'static Tables> {
        match self {
            Scheme::Jpblock => Some(&JPBLOCK),
            Scheme::Jpblock2 => Some(&JPBLOCK2),
            Scheme::Utf8 => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The block rule, the one place it is written: how many filler bytes go
/// before a code of `len` bytes at block offset `q`. With `rule` (every
/// table-driven scheme) a code that would cross into the next block starts
/// that block instead; special blocks (`len` = [`BLOCK`]) thereby always
/// start a block, and `fill_before(q, BLOCK, true)` is also the padding that
/// completes the last block.
#[inline(always)]
pub(crate) fn fill_before(q: usize, len: usize, rule: bool) -> usize {
    if !rule {
        return 0;
    }
    // A conditional move, not a branch: whether a code crosses is
    // unpredictable in Japanese text (a branch mispredicts), and the block
    // offset is a dependency chain through every character (a table lookup
    // would add a load's latency to each).
    let room = BLOCK - (q & (BLOCK - 1));
    std::hint::select_unpredictable(len > room, room, 0)
}

/// Does a code of `len` bytes at offset `q` cross a block boundary (with no
/// block rule, under `utf8`)?
#[inline(always)]
pub(crate) fn crosses(q: usize, len: usize) -> bool {
    q + len > BLOCK
}

/// The code of one code point under a scheme, as little-endian packed bytes
/// and a length. Zero-sized implementors keep the encoder's inner loop
/// monomorphised per scheme.
pub(crate) trait Codes: Copy + Send + Sync {
    /// Whether the block rule applies.
    const BLOCK_RULE: bool;
    /// The shortest (only valid) code of `cp`: `(bytes, len)`, bytes little-endian.
    fn code(self, cp: u32) -> (u32, usize);
}

/// Codes of a table-driven scheme.
#[derive(Clone, Copy)]
pub(crate) struct TableCodes(pub &'static Tables);

impl Codes for TableCodes {
    const BLOCK_RULE: bool = true;
    #[inline(always)]
    fn code(self, cp: u32) -> (u32, usize) {
        self.0.code(cp)
    }
}

/// UTF-8 codes.
#[derive(Clone, Copy)]
pub(crate) struct Utf8Codes;

impl Codes for Utf8Codes {
    const BLOCK_RULE: bool = false;
    #[inline(always)]
    fn code(self, cp: u32) -> (u32, usize) {
        let (bytes, len) = utf8_code(cp);
        (u32::from_le_bytes(bytes), len)
    }
}

/// Calls `$body` with `$codes` bound to the scheme's [`Codes`], monomorphised per kind.
macro_rules! with_codes {
    ($scheme:expr, |$codes:ident| $body:expr) => {
        match $scheme.tables() {
            Some(t) => {
                let $codes = $crate::scheme::TableCodes(t);
                $body
            }
            None => {
                let $codes = $crate::scheme::Utf8Codes;
                $body
            }
        }
    };
}
pub(crate) use with_codes;

/// UTF-8 bytes of a code point; lone surrogates as CPython's `surrogatepass`.
/// The one UTF-8 writer: the `utf8` scheme's codes and decoded UTF-8 output.
#[inline(always)]
pub fn utf8_code(cp: u32) -> ([u8; 4], usize) {
    if cp < 0x80 {
        ([cp as u8, 0, 0, 0], 1)
    } else if cp < 0x800 {
        ([0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8, 0, 0], 2)
    } else if cp < 0x10000 {
        ([0xE0 | (cp >> 12) as u8, 0x80 | ((cp >> 6) & 0x3F) as u8, 0x80 | (cp & 0x3F) as u8, 0], 3)
    } else {
        (
            [
                0xF0 | (cp >> 18) as u8,
                0x80 | ((cp >> 12) & 0x3F) as u8,
                0x80 | ((cp >> 6) & 0x3F) as u8,
                0x80 | (cp & 0x3F) as u8,
            ],
            4,
        )
    }
}

impl Scheme {
    /// The 2-byte table of a table-driven scheme, in index order.
    pub fn two_byte_table(self) -> Option<&'static [u16]> {
        self.tables().map(|t| t.two_byte)
    }

    /// The code points of the 1-byte codes `0x00..=0xDF` of a table-driven scheme.
    pub fn one_byte_table(self) -> Option<&'static [u16]> {
        self.tables().map(|t| &t.one_byte[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        for s in Scheme::ALL {
            assert_eq!(Scheme::from_name(s.name()), Some(s));
            assert_eq!(Scheme::from_id(s.id()), Some(s));
        }
        assert_eq!(Scheme::from_name("utf-16"), None);
        assert_eq!(Scheme::from_id(0), None);
    }

    #[test]
    fn block_rule() {
        assert_eq!(fill_before(3, 2, true), 1);
        assert_eq!(fill_before(2, 2, true), 0);
        assert_eq!(fill_before(3, 2, false), 0);
        // Special blocks and final padding: fill to the block end.
        assert_eq!((0..4).map(|q| fill_before(q, BLOCK, true)).collect::<Vec<_>>(), [0, 3, 2, 1]);
        assert!(crosses(3, 2) && !crosses(2, 2));
    }

    #[test]
    fn utf8_codes_match_std() {
        for cp in (0..0x11_0000).step_by(7).filter(|c| !(0xD800..0xE000).contains(c)) {
            let c = char::from_u32(cp).unwrap();
            let (bytes, len) = utf8_code(cp);
            assert_eq!(&bytes[..len], c.to_string().as_bytes());
        }
        assert_eq!(utf8_code(0xD800), ([0xED, 0xA0, 0x80, 0], 3));
    }
}
