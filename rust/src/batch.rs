//! Many documents at once: parallel encode/decode and padding to one width.

use rayon::prelude::*;

use crate::scheme::FILLER;

/// Below this many input units in total a batch runs on the calling thread:
/// spreading tiny batches over threads costs more than it saves.
pub(crate) const PARALLEL_MIN_UNITS: usize = 1 << 15;

/// Which side of a row the fill goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaddingSide {
    #[default]
    Right,
    Left,
}

/// Rows padded to one width: row-major `ids` and `mask`, `rows * width` each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Padded {
    pub ids: Vec<u8>,
    pub mask: Vec<u8>,
    pub rows: usize,
    pub width: usize,
}

/// Lays `rows` out at `width` bytes each (rows longer than `width` must have
/// been truncated already). Fill is 0xFF with mask 0; each row's own bytes
/// have mask 1.
pub fn pad_rows(rows: &[Vec<u8>], width: usize, side: PaddingSide) -> Padded {
    let mut padded = Padded {
        ids: vec![0; rows.len() * width],
        mask: vec![0; rows.len() * width],
        rows: rows.len(),
        width,
    };
    fill_padded(rows, width, side, &mut padded.ids, &mut padded.mask);
    padded
}

/// Writes padded `rows` into caller-provided `ids` and `mask` buffers
/// (`rows.len() * width` bytes each), in parallel for large batches.
pub fn fill_padded(rows: &[Vec<u8>], width: usize, side: PaddingSide, ids: &mut [u8], mask: &mut [u8]) {
    assert!(ids.len() == rows.len() * width && mask.len() == ids.len(), "buffer sizes must be rows * width");
    assert!(rows.iter().all(|r| r.len() <= width), "rows must fit the width");
    if width == 0 {
        return;
    }
    let fill_one = |((row, ids), mask): ((&Vec<u8>, &mut [u8]), &mut [u8])| {
        let fill = width - row.len();
        let (own, pad) = match side {
            PaddingSide::Right => (0..row.len(), row.len()..width),
            PaddingSide::Left => (fill..width, 0..fill),
        };
        ids[own.clone()].copy_from_slice(row);
        ids[pad.clone()].fill(FILLER);
        mask[own].fill(1);
        mask[pad].fill(0);
    };
    let total: usize = ids.len();
    let zipped = rows.par_iter().zip(ids.par_chunks_mut(width)).zip(mask.par_chunks_mut(width));
    if total >= PARALLEL_MIN_UNITS {
        zipped.for_each(fill_one);
    } else {
        rows.iter().zip(ids.chunks_mut(width)).zip(mask.chunks_mut(width)).for_each(fill_one);
    }
}

/// Like [`fill_padded`], but writes each id and mask value as a little-endian
/// int64 (8 bytes), the layout torch's embedding layers and masks want:
/// one parallel pass instead of a uint8 batch then two widening copies.
/// `ids` and `mask` are `rows.len() * width * 8` bytes each.
pub fn fill_padded_i64(rows: &[Vec<u8>], width: usize, side: PaddingSide, ids: &mut [u8], mask: &mut [u8]) {
    const W: usize = 8;
    assert!(
        ids.len() == rows.len() * width * W && mask.len() == ids.len(),
        "buffer sizes must be rows * width * 8"
    );
    assert!(rows.iter().all(|r| r.len() <= width), "rows must fit the width");
    if width == 0 {
        return;
    }
    let fill_one = |((row, ids), mask): ((&Vec<u8>, &mut [u8]), &mut [u8])| {
        let fill = width - row.len();
        let start = match side {
            PaddingSide::Right => 0,
            PaddingSide::Left => fill,
        };
        for (k, (id, m)) in ids.chunks_exact_mut(W).zip(mask.chunks_exact_mut(W)).enumerate() {
            let own = k >= start && k < start + row.len();
            let byte = if own { row[k - start] } else { FILLER };
            id.copy_from_slice(&u64::from(byte).to_le_bytes());
            m.copy_from_slice(&u64::from(own).to_le_bytes());
        }
    };
    let parallel = ids.len() >= PARALLEL_MIN_UNITS;
    let zipped = rows.par_iter().zip(ids.par_chunks_mut(width * W)).zip(mask.par_chunks_mut(width * W));
    if parallel {
        zipped.for_each(fill_one);
    } else {
        rows.iter().zip(ids.chunks_mut(width * W)).zip(mask.chunks_mut(width * W)).for_each(fill_one);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_fill_matches_narrow_fill() {
        let rows = vec![vec![1, 2, 3, 4], vec![], vec![9, 9, 9, 9, 9, 9, 9, 9]];
        for side in [PaddingSide::Left, PaddingSide::Right] {
            let narrow = pad_rows(&rows, 8, side);
            let (mut ids, mut mask) = (vec![0u8; 3 * 8 * 8], vec![0u8; 3 * 8 * 8]);
            fill_padded_i64(&rows, 8, side, &mut ids, &mut mask);
            let wide_ids: Vec<u8> =
                ids.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as u8).collect();
            let wide_mask: Vec<u8> =
                mask.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as u8).collect();
            assert_eq!((wide_ids, wide_mask), (narrow.ids, narrow.mask));
        }
    }
}
