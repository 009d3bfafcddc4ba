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

/// A decoding sink that stores UCS-2 (all of Japanese and the whole BMP) and
/// widens to UCS-4 at the first supplementary code point, so decoded text
/// becomes a [`NarrowText`] without an intermediate 4-byte copy.
#[derive(Clone, Debug, Default)]
pub struct NarrowBuffer {
    ucs2: Vec<u16>,
    /// Set once a code point above U+FFFF arrives; holds everything since.
    ucs4: Option<Vec<u32>>,
    /// Bitwise OR of all code points: below 0x100 exactly when all are.
    bits: u32,
}

impl NarrowBuffer {
    pub fn with_capacity(n: usize) -> Self {
        NarrowBuffer { ucs2: Vec::with_capacity(n), ucs4: None, bits: 0 }
    }

    #[cold]
    fn widen(&mut self) -> &mut Vec<u32> {
        let wide = self.ucs2.iter().map(|&u| u32::from(u)).collect();
        self.ucs2 = Vec::new();
        self.ucs4.insert(wide)
    }

    pub fn into_narrow(self) -> NarrowText {
        match self.ucs4 {
            Some(wide) => NarrowText::Ucs4(wide),
            None if self.bits < 0x100 => NarrowText::Latin1(self.ucs2.iter().map(|&u| u as u8).collect()),
            None => NarrowText::Ucs2(self.ucs2),
        }
    }
}

impl crate::decode::Sink for NarrowBuffer {
    #[inline(always)]
    fn push(&mut self, cp: u32) {
        self.bits |= cp;
        match (&mut self.ucs4, u16::try_from(cp)) {
            (None, Ok(unit)) => self.ucs2.push(unit),
            (Some(wide), _) => wide.push(cp),
            (None, Err(_)) => self.widen().push(cp),
        }
    }

    fn push_bmp(&mut self, cps: &[u16]) {
        let bits = cps.iter().fold(0, |b, &v| b | v);
        self.bits |= u32::from(bits);
        match &mut self.ucs4 {
            None => self.ucs2.extend_from_slice(cps),
            Some(wide) => wide.extend(cps.iter().map(|&v| u32::from(v))),
        }
    }
}

impl crate::decoder::Split for NarrowBuffer {
    fn part(&self, capacity: usize) -> Self {
        NarrowBuffer::with_capacity(capacity)
    }

    fn join(&mut self, part: Self) {
        self.bits |= part.bits;
        match (&mut self.ucs4, part.ucs4) {
            (None, None) => self.ucs2.extend_from_slice(&part.ucs2),
            (Some(wide), None) => wide.extend(part.ucs2.iter().map(|&u| u32::from(u))),
            (_, Some(theirs)) => {
                if self.ucs4.is_none() {
                    self.widen();
                }
                if let Some(mine) = &mut self.ucs4 {
                    mine.extend(part.ucs2.iter().map(|&u| u32::from(u)));
                    mine.extend_from_slice(&theirs);
                }
            }
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
