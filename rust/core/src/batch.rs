//! Many rows at once: truncation to whole blocks and the padded `[rows,
//! width]` layout that models read, with every size checked and every
//! refusal an error value.

use std::fmt;

use crate::parallel::{self, PARALLEL_MIN};
use crate::scheme::{Scheme, BLOCK, FILLER, SPECIAL_LEAD};
use crate::utf8_input::is_continuation;

/// Which end of a row padding goes to, or truncation cuts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Side {
    #[default]
    Right,
    Left,
}

impl Side {
    /// `"right"` or `"left"`.
    pub fn from_name(name: &str) -> Option<Side> {
        match name {
            "right" => Some(Side::Right),
            "left" => Some(Side::Left),
            _ => None,
        }
    }
}

/// Rounds `n` down to whole blocks.
pub fn whole_blocks(n: usize) -> usize {
    n - n % BLOCK
}

/// Keeps the first (`Side::Right`) or last (`Side::Left`) `keep` bytes of an
/// encoded row, `keep` a whole number of blocks and the row starting at a
/// block. Under `utf8`, where characters may cross blocks, the bytes of a
/// character cut at the edge become filler, so what is kept decodes to a
/// prefix (or suffix) of the row's text; table-scheme codes never cross a
/// block, so whole blocks are always whole codes.
pub fn truncate_row(scheme: Scheme, row: &[u8], keep: usize, side: Side) -> Vec<u8> {
    debug_assert!(keep.is_multiple_of(BLOCK));
    let keep = keep.min(row.len());
    let codes_cross = scheme.tables().is_none();
    match side {
        Side::Right => {
            let mut out = row[..keep].to_vec();
            if codes_cross && keep < row.len() {
                // The last character is cut if the bytes after the cut continue it.
                let cut = row[keep..].iter().take_while(|&&b| is_continuation(b)).count();
                if cut > 0 {
                    let lead = out.iter().rposition(|&b| !is_continuation(b)).unwrap_or(0);
                    out[lead.max(keep.saturating_sub(BLOCK - 1))..].fill(FILLER);
                }
            }
            out
        }
        Side::Left => {
            let mut out = row[row.len() - keep..].to_vec();
            if codes_cross && keep < row.len() {
                let cut = out.iter().take(BLOCK - 1).take_while(|&&b| is_continuation(b)).count();
                out[..cut].fill(FILLER);
            }
            out
        }
    }
}

/// [`truncate_row`] for many rows given as any bytes: each is first completed
/// to whole blocks with filler, and `keep` is rounded down to whole blocks.
/// On all cores for large batches.
pub fn truncate_rows(scheme: Scheme, rows: &[&[u8]], keep: usize, side: Side) -> Vec<Vec<u8>> {
    let units = rows.iter().map(|r| r.len()).sum();
    parallel::map(rows, units, PARALLEL_MIN, |_, r| {
        let mut row = r.to_vec();
        row.resize(own_len(r), FILLER);
        truncate_row(scheme, &row, whole_blocks(keep), side)
    })
}

/// How rows are laid out in a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// `Some(n)`: every row is `n` bytes wide (`padding="max_length"`);
    /// `None`: as wide as the longest row.
    pub width: Option<usize>,
    /// Round the width up to a multiple of this (and of the block size).
    pub multiple_of: Option<usize>,
    /// A row longer than this is an error (cut rows first to allow it).
    pub max_len: Option<usize>,
    pub padding_side: Side,
    /// Write each value as a little-endian int64 (torch's id type) instead of a byte.
    pub int64: bool,
}

/// Why rows cannot be laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// A row is longer than `max_len`.
    RowTooLong { row: usize, len: usize, max: usize },
    /// A width that is not a whole number of blocks (or zero multiple).
    NotWholeBlocks { what: &'static str, value: usize },
    /// The batch would not fit in memory (or in `usize`).
    TooLarge { rows: usize, width: usize },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RowTooLong { row, len, max } => write!(
                f,
                "row {row} encodes to {len} bytes, over max_length {max}; pass truncation=True to cut it"
            ),
            Self::NotWholeBlocks { what, value } => {
                write!(f, "{what} must be a positive multiple of {BLOCK} (whole blocks), not {value}")
            }
            Self::TooLarge { rows, width } => {
                write!(f, "a batch of {rows} rows x {width} bytes is too large")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// The largest buffer a batch may need (as `isize::MAX`, Rust's allocation limit).
const MAX_BUFFER: usize = isize::MAX as usize;

/// A checked plan: `rows` rows of `width` values of `elem` bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub rows: usize,
    pub width: usize,
    pub elem: usize,
    /// Bytes of one buffer (ids, mask or special mask): `rows * width * elem`.
    pub bytes: usize,
}

/// A row's own length: its bytes completed to a whole block with filler.
fn own_len(row: &[u8]) -> usize {
    row.len().div_ceil(BLOCK) * BLOCK
}

impl Layout {
    /// Checks the rows against the layout and sizes the buffers.
    pub fn plan<R: AsRef<[u8]>>(&self, rows: &[R]) -> Result<Plan, LayoutError> {
        if let Some(w) = self.width.filter(|w| w % BLOCK != 0) {
            return Err(LayoutError::NotWholeBlocks { what: "max_length", value: w });
        }
        let multiple = match self.multiple_of {
            Some(0) => return Err(LayoutError::NotWholeBlocks { what: "pad_to_multiple_of", value: 0 }),
            Some(m) => lcm(m, BLOCK),
            None => BLOCK,
        };
        let mut longest = 0;
        for (k, r) in rows.iter().enumerate() {
            let len = own_len(r.as_ref());
            if let Some(max) = self.max_len.filter(|&m| len > m) {
                return Err(LayoutError::RowTooLong { row: k, len, max });
            }
            longest = longest.max(len);
        }
        let width = self.width.unwrap_or(0).max(longest);
        let too_large = || LayoutError::TooLarge { rows: rows.len(), width };
        let width = width.checked_next_multiple_of(multiple).ok_or_else(too_large)?;
        let elem = if self.int64 { 8 } else { 1 };
        let bytes = rows
            .len()
            .checked_mul(width)
            .and_then(|n| n.checked_mul(elem))
            .filter(|&n| n <= MAX_BUFFER)
            .ok_or_else(too_large)?;
        Ok(Plan { rows: rows.len(), width, elem, bytes })
    }

    /// Writes the planned batch: `ids` (fill 0xFF), `mask` (1 over each
    /// row's own bytes, its completing filler included; 0 over padding) and,
    /// if given, `special` (1 over special blocks and over padding, as
    /// transformers' special-tokens masks mark padding). Each buffer is
    /// `plan.bytes` long. Large batches are written on all cores.
    pub fn fill<R: AsRef<[u8]> + Sync>(
        &self,
        plan: &Plan,
        rows: &[R],
        ids: &mut [u8],
        mask: &mut [u8],
        special: Option<&mut [u8]>,
    ) {
        assert_eq!((ids.len(), mask.len()), (plan.bytes, plan.bytes), "buffers must be plan.bytes long");
        let row_bytes = plan.width * plan.elem;
        if row_bytes == 0 {
            return;
        }
        let mut jobs: Vec<RowJob<'_, R>> = Vec::with_capacity(rows.len());
        let mut specials = special.map(|s| s.chunks_mut(row_bytes));
        for ((r, i), m) in rows.iter().zip(ids.chunks_mut(row_bytes)).zip(mask.chunks_mut(row_bytes)) {
            jobs.push((r, i, m, specials.as_mut().and_then(Iterator::next)));
        }
        let side = self.padding_side;
        let width = plan.width;
        let fill_one = |_: usize, job: &mut RowJob<'_, R>| {
            let (row, ids, mask, special) = job;
            match plan.elem {
                8 => fill_row::<8>(row.as_ref(), width, side, ids, mask, special.as_deref_mut()),
                _ => fill_row::<1>(row.as_ref(), width, side, ids, mask, special.as_deref_mut()),
            }
        };
        parallel::for_each_mut(&mut jobs, plan.bytes, PARALLEL_MIN, fill_one);
    }
}

/// One row and its slices of the ids, mask and special-mask buffers.
type RowJob<'a, R> = (&'a R, &'a mut [u8], &'a mut [u8], Option<&'a mut [u8]>);

/// One row at `width` values of `W` bytes (little-endian).
fn fill_row<const W: usize>(
    row: &[u8],
    width: usize,
    side: Side,
    ids: &mut [u8],
    mask: &mut [u8],
    special: Option<&mut [u8]>,
) {
    let own = own_len(row);
    let start = match side {
        Side::Right => 0,
        Side::Left => width - own,
    };
    let end = start + own;
    // Each value written once: padding, the row, its completing filler.
    set::<W>(ids, 0..start, FILLER);
    copy::<W>(ids, start, row);
    set::<W>(ids, start + row.len()..width, FILLER);
    set::<W>(mask, 0..start, 0);
    set::<W>(mask, start..end, 1);
    set::<W>(mask, end..width, 0);
    if let Some(special) = special {
        set::<W>(special, 0..width, 1);
        set::<W>(special, start..end, 0);
        for b in (0..own).step_by(BLOCK) {
            if row.get(b) == Some(&SPECIAL_LEAD) {
                set::<W>(special, start + b..start + b + BLOCK, 1);
            }
        }
    }
}

/// Sets values `range` of `buf` (values of `W` bytes) to `v`.
#[inline(always)]
fn set<const W: usize>(buf: &mut [u8], range: std::ops::Range<usize>, v: u8) {
    if W == 1 {
        buf[range].fill(v);
    } else {
        for value in buf[range.start * W..range.end * W].chunks_exact_mut(W) {
            value.copy_from_slice(&u64::from(v).to_le_bytes()[..W]);
        }
    }
}

/// Writes `src` as values of `W` bytes from value index `at`.
#[inline(always)]
fn copy<const W: usize>(buf: &mut [u8], at: usize, src: &[u8]) {
    if W == 1 {
        buf[at..at + src.len()].copy_from_slice(src);
    } else {
        for (value, &b) in buf[at * W..(at + src.len()) * W].chunks_exact_mut(W).zip(src) {
            value.copy_from_slice(&u64::from(b).to_le_bytes()[..W]);
        }
    }
}

/// 1 over every special block (`0xFE` at a block start) of `row`, 0 elsewhere.
pub fn special_tokens_mask(row: &[u8]) -> Vec<u8> {
    let mut mask = vec![0u8; row.len()];
    for b in (0..row.len()).step_by(BLOCK) {
        if row[b] == SPECIAL_LEAD {
            let end = (b + BLOCK).min(row.len());
            mask[b..end].fill(1);
        }
    }
    mask
}

fn lcm(a: usize, b: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lay(rows: &[&[u8]], layout: Layout) -> (Plan, Vec<u8>, Vec<u8>, Vec<u8>) {
        let plan = layout.plan(rows).unwrap();
        let (mut ids, mut mask, mut special) =
            (vec![7; plan.bytes], vec![7; plan.bytes], vec![7; plan.bytes]);
        layout.fill(&plan, rows, &mut ids, &mut mask, Some(&mut special));
        (plan, ids, mask, special)
    }

    #[test]
    fn pads_and_masks() {
        let rows: [&[u8]; 3] = [b"abcd", b"", b"\xfe\x00\x00\x01xy"];
        let (plan, ids, mask, special) =
            lay(&rows, Layout { padding_side: Side::Left, ..Default::default() });
        assert_eq!((plan.rows, plan.width), (3, 8));
        assert_eq!(&ids[..8], b"\xff\xff\xff\xffabcd");
        assert_eq!(&ids[16..], b"\xfe\x00\x00\x01xy\xff\xff");
        assert_eq!(&mask[..8], [0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!(&mask[16..], [1; 8]);
        assert_eq!(&special[..8], [1, 1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(&special[8..16], [1; 8]);
        assert_eq!(&special[16..], [1, 1, 1, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn int64_matches_bytes() {
        let rows: [&[u8]; 2] = [b"\x01\x02\x03", b"\xff\xfe\x00\x00\x02"];
        for side in [Side::Left, Side::Right] {
            let narrow =
                lay(&rows, Layout { padding_side: side, multiple_of: Some(3), ..Default::default() });
            let wide = lay(
                &rows,
                Layout { padding_side: side, multiple_of: Some(3), int64: true, ..Default::default() },
            );
            assert_eq!(narrow.0.width, 12);
            let unwide = |v: &[u8]| {
                v.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as u8).collect::<Vec<_>>()
            };
            assert_eq!((unwide(&wide.1), unwide(&wide.2), unwide(&wide.3)), (narrow.1, narrow.2, narrow.3));
        }
    }

    #[test]
    fn refusals_are_values() {
        let rows: [&[u8]; 2] = [b"abcdefgh", b"ab"];
        let e = Layout { max_len: Some(4), ..Default::default() }.plan(&rows).unwrap_err();
        assert_eq!(e, LayoutError::RowTooLong { row: 0, len: 8, max: 4 });
        let huge = Layout { width: Some(1 << 61), int64: true, ..Default::default() };
        assert!(matches!(huge.plan(&rows), Err(LayoutError::TooLarge { .. })));
        let odd = Layout { width: Some(6), ..Default::default() };
        assert!(matches!(odd.plan(&rows), Err(LayoutError::NotWholeBlocks { .. })));
        let near_max = Layout { width: Some(usize::MAX - 3), ..Default::default() };
        assert!(matches!(near_max.plan(&rows), Err(LayoutError::TooLarge { .. })));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        // "aあい" in UTF-8: 61 E3 81 82 | E3 81 84 FF
        let row = b"a\xe3\x81\x82\xe3\x81\x84\xff";
        assert_eq!(truncate_row(Scheme::Utf8, row, 4, Side::Right), b"a\xe3\x81\x82");
        assert_eq!(truncate_row(Scheme::Utf8, row, 4, Side::Left), b"\xe3\x81\x84\xff");
        let row = b"ab\xe3\x81\x82cd\xff";
        assert_eq!(truncate_row(Scheme::Utf8, row, 4, Side::Right), b"ab\xff\xff");
        assert_eq!(truncate_row(Scheme::Utf8, row, 4, Side::Left), b"\xffcd\xff");
        assert_eq!(truncate_row(Scheme::Jpblock, row, 4, Side::Left), b"\x82cd\xff");
        assert_eq!(truncate_row(Scheme::Utf8, row, 12, Side::Left), row);
    }
}
