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
