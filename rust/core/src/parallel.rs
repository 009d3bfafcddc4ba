//! The one rule for when work is spread over threads, and how a long input is
//! cut into pieces for that.

use std::ops::Range;

use rayon::prelude::*;

/// Work of fewer units than this (bytes, or code points) stays on the calling
/// thread: spreading it over threads costs more than it saves. The same
/// figure decides, in the bindings, whether to release the GIL.
pub const PARALLEL_MIN: usize = 1 << 16;

/// `f` over `items`, on all cores when their total size, `units`, is at least
/// `min_units`; results in order.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    units: usize,
    min_units: usize,
    f: impl Fn(usize, &T) -> R + Sync + Send,
) -> Vec<R> {
    if units >= min_units && items.len() > 1 {
        items.par_iter().enumerate().map(|(k, t)| f(k, t)).collect()
    } else {
        items.iter().enumerate().map(|(k, t)| f(k, t)).collect()
    }
}

/// `f` on each of `items` in place, on all cores under the same rule as [`map`].
pub fn for_each_mut<T: Send>(
    items: &mut [T],
    units: usize,
    min_units: usize,
    f: impl Fn(usize, &mut T) + Sync + Send,
) {
    if units >= min_units && items.len() > 1 {
        items.par_iter_mut().enumerate().for_each(|(k, t)| f(k, t));
    } else {
        items.iter_mut().enumerate().for_each(|(k, t)| f(k, t));
    }
}

/// Cuts `0..len` into about 4 pieces per thread of at least `min_len` each
/// (one piece if `len < 2 * min_len`). Each cut is the first position at or
/// after its target, within `window`, that `ok` accepts; a cut with no such
/// position is dropped. The pieces cover `0..len` in order.
pub fn pieces(len: usize, min_len: usize, window: usize, ok: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let n = (4 * rayon::current_num_threads()).min(len / min_len.max(1)).max(1);
    let mut ranges = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (len as u128 * k as u128 / n as u128) as usize;
        if let Some(end) = (target.max(start + 1)..(target + window).min(len)).find(|&p| ok(p)) {
            ranges.push(start..end);
            start = end;
        }
    }
    ranges.push(start..len);
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_input() {
        let r = pieces(1000, 10, 8, |p| p % 7 == 0);
        assert_eq!(r.first().map(|r| r.start), Some(0));
        assert_eq!(r.last().map(|r| r.end), Some(1000));
        assert!(r.windows(2).all(|w| w[0].end == w[1].start && w[0].start < w[0].end));
        assert_eq!(pieces(1000, 10, 8, |_| false), [0..1000]);
        assert_eq!(pieces(0, 10, 8, |_| true), [0..0]);
        assert_eq!(pieces(15, 10, 8, |_| true), [0..15]);
    }

    #[test]
    fn map_keeps_order_both_ways() {
        let items: Vec<usize> = (0..100).collect();
        assert_eq!(map(&items, 0, 1, |k, &x| k + x), (0..100).map(|x| 2 * x).collect::<Vec<_>>());
        assert_eq!(map(&items, 0, usize::MAX, |_, &x| x), items);
    }
}
