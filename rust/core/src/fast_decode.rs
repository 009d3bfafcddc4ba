//! The table-driven decoder's fast path: whole runs of blocks made only of 1-byte
//! codes, 2-byte codes and filler (nearly all Japanese text), decoded without
//! data-dependent branches.
//!
//! Japanese alternates 1- and 2-byte codes unpredictably, so a decoder that
//! branches on code length mispredicts on most characters. Here pass 1
//! ("staging") computes, for every byte, the code point it starts or [`DROP`],
//! with only arithmetic and table loads, and pass 2 compacts the staged values
//! into the output. Pass 1 vectorises well with AVX2, which is used when the
//! CPU has it (runtime detection; the portable build is the same code).

use crate::scheme::BLOCK;
use crate::tables::{Tables, ONE_BYTE_CODES, TABLE_LEAD};

/// Staged value of bytes that start no character (filler, second bytes).
/// U+FFFE is a noncharacter that no 1- or 2-byte code decodes to.
pub(crate) const DROP: u16 = 0xFFFE;
/// Staged value of a 2-byte code past the table's end (never a real value:
/// the tables never hold U+FFFF).
const INVALID: u16 = 0xFFFF;
pub(crate) const VALUES_LEN: usize = 1 << 14; // > 256 + 32 * 256
/// Bytes staged per call: small enough that a run which needs the slow path
/// (a rarer code, a special block, an error) costs little to redo.
pub(crate) const STAGE_BYTES: usize = 256;

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

/// Code point of every 1-byte code at `[byte]`, then of every 2-byte code at
/// `[256 + (lead - 0xE0) * 256 + second]` ([`INVALID`] past the table). One
/// table so each byte costs one load, its index picked arithmetically. Its
/// size is a power of two so the index is masked into bounds instead of
/// checked (a check would stop the loop from vectorising); indices computed
/// for bytes that turn out not to be leads land in the unused upper part.
pub(crate) const fn staging_values(one_byte: &[u16; ONE_BYTE_CODES], two_byte: &[u16]) -> [u16; VALUES_LEN] {
    let mut values = [INVALID; VALUES_LEN];
    let mut b = 0;
    while b < 256 {
        values[b] = if b < ONE_BYTE_CODES { one_byte[b] } else { DROP };
        b += 1;
    }
    let mut i = 0;
    while i < two_byte.len() {
        values[256 + i] = two_byte[i];
        i += 1;
    }
    values
}

/// Stages one block; false if it needs the slow path.
#[inline(always)]
fn stage_block(values: &[u16; VALUES_LEN], b: [u8; 4], out: &mut [u16]) -> bool {
    let c = [CLASS[b[0] as usize], CLASS[b[1] as usize], CLASS[b[2] as usize], CLASS[b[3] as usize]];
    // Which bytes start a code, and which of those are 2-byte leads.
    let lead0 = u32::from(c[0] == 2);
    let start1 = 1 - lead0;
    let lead1 = start1 & u32::from(c[1] == 2);
    let start2 = 1 - lead1;
    let lead2 = start2 & u32::from(c[2] == 2);
    let start3 = 1 - lead2;
    let lead3 = start3 & u32::from(c[3] == 2); // would cross the block
    let starts = [1, start1, start2, start3];
    let leads = [lead0, lead1, lead2, 0];
    let mut slow = lead3;
    for p in 0..BLOCK {
        slow |= starts[p] & u32::from(c[p] == 3);
        let byte = u32::from(b[p]);
        let next = u32::from(b[(p + 1) % BLOCK]);
        let two = 256 + ((byte.wrapping_sub(u32::from(TABLE_LEAD)) & 31) << 8 | next);
        let index = byte ^ ((byte ^ two) & 0u32.wrapping_sub(leads[p]));
        let value = values[index as usize & (VALUES_LEN - 1)];
        slow |= leads[p] & u32::from(value == INVALID);
        let keep = 0u16.wrapping_sub(starts[p] as u16);
        out[p] = (value & keep) | (DROP & !keep);
    }
    slow == 0
}

#[inline(always)]
fn stage_portable(values: &[u16; VALUES_LEN], data: &[u8], out: &mut [u16]) -> bool {
    let mut ok = true;
    for (b, o) in data.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
        ok &= stage_block(values, [b[0], b[1], b[2], b[3]], o);
    }
    ok
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2")]
fn stage_avx2(values: &[u16; VALUES_LEN], data: &[u8], out: &mut [u16]) -> bool {
    stage_portable(values, data, out)
}

/// Stages `data` (whole blocks, starting at a block boundary) into `out`
/// (same length). Returns false if any block needs the slow path; `out` is
/// then meaningless.
pub(crate) fn stage(tables: &Tables, data: &[u8], out: &mut [u16]) -> bool {
    debug_assert!(data.len() % BLOCK == 0 && out.len() == data.len());
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU has the features stage_avx2 is compiled for.
        return unsafe { stage_avx2(&tables.values, data, out) };
    }
    stage_portable(&tables.values, data, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::JPBLOCK;

    fn stage(data: &[u8], out: &mut [u16]) -> bool {
        super::stage(&JPBLOCK, data, out)
    }

    #[test]
    fn stages_blocks() {
        let mut out = [0u16; 8];
        // "aア" then filler, and "あ" + 2-byte code + "b".
        let (code, _) = JPBLOCK.code('ア' as u32);
        let kata = (((code & 0xFF) - 0xE0) << 8 | (code >> 8 & 0xFF)) as u16;
        let data = [
            b'a',
            0xE0 + (kata >> 8) as u8,
            kata as u8,
            0xFF,
            0x82,
            0xE0 + (kata >> 8) as u8,
            kata as u8,
            b'b',
        ];
        assert!(stage(&data, &mut out));
        assert_eq!(out, [u16::from(b'a'), 0x30A2, DROP, DROP, 0x3042, 0x30A2, DROP, u16::from(b'b')]);
        // A lead at offset 3, an FC code, an index past the table: slow path.
        assert!(!stage(&[b'a', b'b', b'c', 0xE0], &mut out[..4]));
        assert!(!stage(&[0xFC, 0x00, 0xA9, 0xFF], &mut out[..4]));
        assert!(!stage(&[0xFB, 0xFF, 0xFF, 0xFF], &mut out[..4]));
        // A second byte may be anything, 0xFC included.
        assert!(stage(&[0xE0, 0xFC, 0xFF, 0xFF], &mut out[..4]));
    }

    /// The dispatched (AVX2 where available) and portable builds agree.
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
            let data: Vec<u8> = (0..STAGE_BYTES).map(|_| byte()).collect();
            let (mut a, mut b) = (vec![0u16; data.len()], vec![0u16; data.len()]);
            let ok = stage(&data, &mut a);
            assert_eq!(ok, stage_portable(&JPBLOCK.values, &data, &mut b));
            if ok {
                assert_eq!(a, b);
            }
        }
    }
}
