//! Borrowed text in any of the layouts the codec reads without copying.

/// Text to encode. The Latin-1/UCS-2/UCS-4 variants are the storage layouts of
/// a CPython `str` (one code point per unit, lone surrogates allowed), so the
/// bindings read a `str` in place instead of re-encoding it first.
#[derive(Clone, Copy, Debug)]
pub enum TextRef<'a> {
    Str(&'a str),
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

impl<'a> TextRef<'a> {
    /// Number of code points.
    pub fn char_len(&self) -> usize {
        match self {
            TextRef::Str(s) => s.chars().count(),
            TextRef::Latin1(s) => s.len(),
            TextRef::Ucs2(s) => s.len(),
            TextRef::Ucs4(s) => s.len(),
        }
    }

    /// A cheap size estimate for scheduling parallel work (storage units).
    pub fn units(&self) -> usize {
        match self {
            TextRef::Str(s) => s.len(),
            TextRef::Latin1(s) => s.len(),
            TextRef::Ucs2(s) => s.len(),
            TextRef::Ucs4(s) => s.len(),
        }
    }
}

impl<'a> From<&'a str> for TextRef<'a> {
    fn from(s: &'a str) -> Self {
        TextRef::Str(s)
    }
}

/// Decoded text stored the way CPython stores a `str`: 1, 2 or 4 bytes per
/// code point, the narrowest that holds its largest one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NarrowText {
    Latin1(Vec<u8>),
    Ucs2(Vec<u16>),
    Ucs4(Vec<u32>),
}

impl From<Vec<u32>> for NarrowText {
    fn from(cps: Vec<u32>) -> Self {
        let max = cps.iter().fold(0, |m, &c| m.max(c));
        if max < 0x100 {
            NarrowText::Latin1(cps.iter().map(|&c| c as u8).collect())
        } else if max < 0x1_0000 {
            NarrowText::Ucs2(cps.iter().map(|&c| c as u16).collect())
        } else {
            NarrowText::Ucs4(cps)
        }
    }
}

/// Calls `$body` with `$it` bound to a code-point iterator over `$text`,
/// monomorphised per layout so each inner loop is tight.
macro_rules! with_code_points {
    ($text:expr, |$it:ident| $body:expr) => {
        match $text {
            $crate::text::TextRef::Str(s) => {
                let $it = s.chars().map(u32::from);
                $body
            }
            $crate::text::TextRef::Latin1(s) => {
                let $it = s.iter().map(|&u| u32::from(u));
                $body
            }
            $crate::text::TextRef::Ucs2(s) => {
                let $it = s.iter().map(|&u| u32::from(u));
                $body
            }
            $crate::text::TextRef::Ucs4(s) => {
                let $it = s.iter().copied();
                $body
            }
        }
    };
}
pub(crate) use with_code_points;
