//! The table-driven decoder's fast path: runs of blocks made only of 1-byte
//! codes, 2-byte codes and filler (nearly all Japanese text), decoded one
//! block at a time without data-dependent branches.
//!
//! Japanese alternates 1- and 2-byte codes unpredictably, so a decoder that
//! branches on code length mispredicts on most characters. Here each block's
//! 4 bytes are classified (1-byte code, filler, 2-byte lead, other), the 4
//! classes index a table of block shapes (how many characters, and where
//! each starts), each character is one load from a table indexed by its first
//! two bytes, and the block's characters are stored 4 at a time, the output
//! advancing by the count: loads and arithmetic only. A block with anything
//! else (a 3- or 4-byte code, a special block, an error) stops the run and
//! goes through the general decoder.

use crate::scheme::BLOCK;
use crate::tables::{Tables, ONE_BYTE_CODES, TABLE_LEAD};

/// Looked-up value of a 2-byte code past the table's end (never a real
/// value: the tables never hold U+FFFF).
const INVALID: u16 = 0xFFFF;
/// Most bytes one run decodes (the caller's buffer holds `RUN_BYTES + 4` values).
pub(crate) const RUN_BYTES: usize = 256;
/// Number of byte pairs.
pub(crate) const PAIRS: usize = 1 << 16;

/// Byte classes: 0 a 1-byte code, 1 filler, 2 a 2-byte lead, 3 anything else.
static CLASS: [u8; 256] = {
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

/// Block shapes by their 4 classes (`class[p] << 2p`): bits 0-2 the number
/// of characters, bit 3 set when the block needs the general decoder, and
/// byte j + 1 (bits 8j + 8..) eight times the offset where character j
/// starts (a shift). Only the classes of bytes where a code may start matter
/// (a 2-byte code's second byte may be anything).
static SHAPES: [u64; 256] = {
    let mut shapes = [0u64; 256];
    let mut key = 0;
    while key < 256 {
        let (mut p, mut n, mut shape) = (0, 0, 0u64);
        while p < BLOCK {
            let start = (8 * p as u64) << (8 * n + 8);
            match (key >> (2 * p)) & 3 {
                0 => {
                    shape |= start;
                    n += 1;
                    p += 1;
                }
                1 => p += 1,
                2 if p + 2 <= BLOCK => {
                    shape |= start;
                    n += 1;
                    p += 2;
                }
                _ => {
                    shape |= 1 << 3;
                    p = BLOCK;
                }
            }
        }
        shapes[key] = shape | n as u64;
        key += 1;
    }
    shapes
};

/// The code point of the character starting with the bytes `first | second
/// << 8`, for every pair: a 1-byte code's value whatever follows it, a
/// 2-byte code's table entry ([`INVALID`] past the table's end). Pairs that
/// start no character hold 0 (no shape uses them as characters). One load
/// per character, indexed by the two bytes as they lie in memory.
pub(crate) const fn pair_values(one_byte: &[u16; ONE_BYTE_CODES], two_byte: &[u16]) -> [u16; PAIRS] {
    let mut values = [0u16; PAIRS];
    let mut pair = 0;
    while pair < PAIRS {
        let (first, second) = (pair & 0xFF, pair >> 8);
        values[pair] = if first < ONE_BYTE_CODES {
            one_byte[first]
        } else if first < TABLE_LEAD as usize + 28 {
            let index = (first - TABLE_LEAD as usize) << 8 | second;
            if index < two_byte.len() {
                two_byte[index]
            } else {
                INVALID
            }
        } else {
            0
        };
        pair += 1;
    }
    values
}

/// Decodes one block into `out[..4]` (all 4 written); the number of
/// characters, or `None` if the block needs the general decoder.
#[inline(always)]
fn block(values: &[u16; PAIRS], b: [u8; 4], out: &mut [u16; BLOCK]) -> Option<usize> {
    let key = CLASS[usize::from(b[0])]
        | CLASS[usize::from(b[1])] << 2
        | CLASS[usize::from(b[2])] << 4
        | CLASS[usize::from(b[3])] << 6;
    let shape = SHAPES[usize::from(key)];
    let n = (shape & 7) as usize;
    // The block's bytes with a zero after them, so every pair is in range.
    let w = u64::from(u32::from_le_bytes(b));
    // Characters past the count repeat the first (their shift is 0), so an
    // INVALID value is a real 2-byte code past the table.
    let mut invalid = 0;
    for (j, slot) in out.iter_mut().enumerate() {
        let shift = (shape >> (8 * j + 8)) & 0xFF;
        let v = values[(w >> shift) as usize & (PAIRS - 1)];
        invalid |= u32::from(v) + 1;
        *slot = v;
    }
    (shape & 8 == 0 && invalid & 0x1_0000 == 0).then_some(n)
}

/// Decodes the whole blocks at the start of `data` (which starts at a block
/// boundary) into `out`, until a block needs the general decoder or `data`
/// or [`RUN_BYTES`] end. Returns (bytes decoded, characters written); `out`
/// must hold `RUN_BYTES + 4` values.
#[inline(always)]
fn run_portable(values: &[u16; PAIRS], data: &[u8], out: &mut [u16]) -> (usize, usize) {
    let mut written = 0;
    let mut done = 0;
    for b in data.chunks_exact(BLOCK).take(RUN_BYTES / BLOCK) {
        let Some(slots) =
            out.get_mut(written..written + BLOCK).and_then(|s| <&mut [u16; BLOCK]>::try_from(s).ok())
        else {
            break;
        };
        let Some(n) = block(values, [b[0], b[1], b[2], b[3]], slots) else { break };
        written += n;
        done += BLOCK;
    }
    (done, written)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2")]
fn run_bmi2(values: &[u16; PAIRS], data: &[u8], out: &mut [u16]) -> (usize, usize) {
    run_portable(values, data, out)
}

/// See [`run_portable`]; uses BMI2's shifts where the CPU has them (runtime
/// detection; the portable build is the same code).
pub(crate) fn run(tables: &Tables, data: &[u8], out: &mut [u16]) -> (usize, usize) {
    debug_assert!(out.len() >= RUN_BYTES + BLOCK);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU has the features run_bmi2 is compiled for.
        return unsafe { run_bmi2(&tables.values, data, out) };
    }
    run_portable(&tables.values, data, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::JPBLOCK;

    fn run(data: &[u8]) -> (usize, Vec<u16>) {
        let mut out = [0u16; RUN_BYTES + BLOCK];
        let (done, n) = super::run(&JPBLOCK, data, &mut out);
        (done, out[..n].to_vec())
    }

    #[test]
    fn decodes_blocks_until_one_needs_the_general_decoder() {
        let (code, _) = JPBLOCK.code('ア' as u32);
        let (lead, second) = (code as u8, (code >> 8) as u8);
        // "aア" then filler; "あ" + 2-byte code + "b"; filler only; then an FC code.
        let data = [
            b'a', lead, second, 0xFF, 0x82, lead, second, b'b', 0xFF, 0xFF, 0xFF, 0xFF, 0xFC, 0x00, 0xA9,
            0xFF,
        ];
        assert_eq!(run(&data), (12, vec![u16::from(b'a'), 0x30A2, 0x3042, 0x30A2, u16::from(b'b')]));
        // A lead at offset 3, an index past the table: general decoder.
        assert_eq!(run(&[b'a', b'b', b'c', 0xE0]).0, 0);
        assert_eq!(run(&[0xFB, 0xFF, 0xFF, 0xFF]).0, 0);
        // A second byte may be anything, 0xFC and 0xFF included.
        assert_eq!(run(&[0xE0, 0xFC, 0xE0, 0xFF]).0, 4);
    }

    /// Every block of 1-byte, 2-byte and filler bytes against the general decoder.
    #[test]
    fn agrees_with_the_general_decoder() {
        use crate::{Codec, DecodeOptions, Scheme};
        let codec = Codec::new(Scheme::Jpblock);
        let bytes = [0x00, 0x41, 0x80, 0xDF, 0xE0, 0xE1, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF, 0x0A, 0x93];
        for &a in &bytes {
            for &b in &bytes {
                for &c in &bytes {
                    for &d in &bytes {
                        let block = [a, b, c, d];
                        let general = codec.decode_to_code_points(&block, &DecodeOptions::default());
                        let (done, fast) = run(&block);
                        if done == 4 {
                            let fast: Vec<u32> = fast.iter().map(|&v| u32::from(v)).collect();
                            assert_eq!(general, Ok(fast), "{block:02X?}");
                        }
                    }
                }
            }
        }
    }

    /// The dispatched (BMI2 where available) and portable builds agree.
    #[test]
    fn portable_and_dispatched_agree() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut byte = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mostly 1-byte codes, leads and filler; sometimes anything.
            match seed % 8 {
                0..=2 => (seed >> 8) as u8 % 0xE0,
                3..=5 => 0xE0 + (seed >> 8) as u8 % 28,
                6 => 0xFF,
                _ => (seed >> 8) as u8,
            }
        };
        for _ in 0..2000 {
            let data: Vec<u8> = (0..RUN_BYTES).map(|_| byte()).collect();
            let (mut a, mut b) = ([0u16; RUN_BYTES + BLOCK], [0u16; RUN_BYTES + BLOCK]);
            let fast = super::run(&JPBLOCK, &data, &mut a);
            assert_eq!(fast, run_portable(&JPBLOCK.values, &data, &mut b));
            assert_eq!(a[..fast.1], b[..fast.1]);
        }
    }
}
