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

/// Decoded text as CPython stores a `str`, borrowed from a [`NarrowBuffer`]:
/// code points below U+10000 as UTF-16 units (one per code point, lone
/// surrogates included) with the top of CPython's storage bucket that holds
/// them all (0x7F, 0xFF or 0xFFFF: 1 or 2 bytes per character); otherwise 4
/// bytes per code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NarrowText<'a> {
    Ucs2 { units: &'a [u16], bucket: u16 },
    Ucs4(&'a [u32]),
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
        NarrowBuffer::reusing(Vec::new(), n)
    }

    /// An empty buffer that stores its UCS-2 in `storage` (cleared), so a
    /// caller can reuse the memory of earlier buffers (see [`recycle`](Self::recycle)).
    pub fn reusing(mut storage: Vec<u16>, n: usize) -> Self {
        storage.clear();
        storage.reserve(n);
        NarrowBuffer { ucs2: storage, ucs4: None, bits: 0 }
    }

    /// The UCS-2 storage, for [`reusing`](Self::reusing) in another buffer.
    pub fn recycle(self) -> Vec<u16> {
        self.ucs2
    }

    #[cold]
    fn widen(&mut self) -> &mut Vec<u32> {
        let wide = self.ucs2.iter().map(|&u| u32::from(u)).collect();
        self.ucs2.clear();
        self.ucs4.insert(wide)
    }

    /// The text decoded so far.
    pub fn text(&self) -> NarrowText<'_> {
        match &self.ucs4 {
            Some(wide) => NarrowText::Ucs4(wide),
            None => NarrowText::Ucs2 { units: &self.ucs2, bucket: bucket(self.bits) },
        }
    }
}

/// CPython's storage bucket for code points whose bitwise OR is `bits`:
/// all below 0x80 exactly when the OR is, all below 0x100 likewise.
fn bucket(bits: u32) -> u16 {
    match bits {
        0..0x80 => 0x7F,
        0x80..0x100 => 0xFF,
        _ => 0xFFFF,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Sink;

    fn filled(storage: Vec<u16>, cps: &[u32]) -> NarrowBuffer {
        let mut b = NarrowBuffer::reusing(storage, 4);
        cps.iter().for_each(|&cp| b.push(cp));
        b
    }

    #[test]
    fn text_has_cpythons_bucket_and_reused_storage_starts_empty() {
        let ascii = filled(Vec::new(), &[0x41, 0x7F]);
        assert_eq!(ascii.text(), NarrowText::Ucs2 { units: &[0x41, 0x7F], bucket: 0x7F });
        // The earlier contents of reused storage never show.
        let latin1 = filled(ascii.recycle(), &[0x80]);
        assert_eq!(latin1.text(), NarrowText::Ucs2 { units: &[0x80], bucket: 0xFF });
        let bmp = filled(latin1.recycle(), &[0x41, 0x3042, 0xD800]);
        assert_eq!(bmp.text(), NarrowText::Ucs2 { units: &[0x41, 0x3042, 0xD800], bucket: 0xFFFF });
        let astral = filled(bmp.recycle(), &[0x3042, 0x1_F600, 0x41]);
        assert_eq!(astral.text(), NarrowText::Ucs4(&[0x3042, 0x1_F600, 0x41]));
        assert!(astral.recycle().is_empty());
    }
}
